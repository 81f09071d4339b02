#pragma once

#include <string_view>

/// Stable, machine-readable reasons why intake refuses a record. They appear
/// in `dead_letter::error`, in the `ispflow_error` header of dead-letter
/// records and in the `dead_letters` table; never rename one.
namespace ispflow::events::intake_errors {

/// A CloudEvents attribute is missing, invalid or longer than its limit
/// (events::intake_limits), the specversion is not "1.0", the content type
/// is unsupported or `ce_time` is not RFC 3339.
inline constexpr std::string_view malformed_envelope = "malformed_envelope";

/// The payload is not valid UTF-8 JSON, not a JSON object, or over the
/// limits of events::json::json_limits (4 MiB, 64 levels of nesting).
inline constexpr std::string_view malformed_json = "malformed_json";

/// `ce_type` names no billing input type.
inline constexpr std::string_view unknown_type = "unknown_type";

/// The payload does not satisfy the JSON Schema of its type.
inline constexpr std::string_view schema_violation = "schema_violation";

/// `ce_tenantid` or `ce_subject` contradicts the payload's `tenant_id` or
/// `subscriber_id`.
inline constexpr std::string_view envelope_mismatch = "envelope_mismatch";

/// The tenant is not configured.
inline constexpr std::string_view unknown_tenant = "unknown_tenant";

/// `ce_source` may not speak for `ce_tenantid` (configuration key
/// `intake.sources`).
inline constexpr std::string_view tenant_not_allowed = "tenant_not_allowed";

/// `ce_source` signs its events (`intake.sources[].signing_key_file`) and
/// the record's `ispflow-signature` header is missing, malformed or matches
/// none of the source's keys; the detail says which.
inline constexpr std::string_view signature_invalid = "signature_invalid";

/// The event passed every check but PostgreSQL refused to store it (a data
/// error, SQLSTATE class 22, 23 or 54); the detail holds the SQLSTATE and
/// the server's message. The rest of its batch is recorded.
inline constexpr std::string_view unstorable = "unstorable";

} // namespace ispflow::events::intake_errors
