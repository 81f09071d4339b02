#pragma once

#include "events/intake.hpp"
#include "events/records.hpp"
#include "events/source_signature.hpp"

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ispflow::events {

/// Which sources may speak for which tenants: the `intake.sources` of the
/// configuration. A producer names its tenant in `ce_tenantid`; this binds
/// that claim to the producer's `ce_source`. Sources starting with
/// "ispflow/" are reserved for operator-made events (admin re-drive and
/// replay) and allowed for no producer.
class source_policy {
public:
  /// The policy of `intake.allow_any_source: true`: every source may speak
  /// for every tenant (except the reserved sources).
  static source_policy allow_any();

  /// Lets `source` speak for `tenants`; "*" stands for every tenant.
  void allow(const std::string& source,
             const std::vector<std::string>& tenants);

  /// True if `source` may speak for `tenant`.
  bool allows(std::string_view source, std::string_view tenant) const;

  /// Makes `source` sign its events with one of `keys` (HMAC-SHA256 keys:
  /// the current one and, during a rotation, the previous one); see
  /// events/source_signature.hpp. No keys: the source's events are not
  /// signed (the claim `ce_source` alone binds them).
  void require_signature(const std::string& source,
                         std::vector<std::string> keys);

  /// The signing keys of `source`, or nullptr if it signs nothing.
  const std::vector<std::string>* signing_keys(std::string_view source) const;

private:
  bool any_ = false;
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>>
    tenants_;
  std::map<std::string, std::vector<std::string>, std::less<>> keys_;
};

/// The header names of the record that a dead-letter copy renames: those
/// starting with this prefix (in any letter case) are ispflow's own.
inline constexpr std::string_view dead_letter_reserved_header_prefix
  = "ispflow_";
/// What a dead-letter copy puts before such a header's name.
inline constexpr std::string_view dead_letter_renamed_header_prefix
  = "x-original-";

/// What `check_billing_record` needs besides the record.
struct intake_settings {
  /// Where the `intake.accepted` saga event goes.
  std::string saga_topic = "saga.events.v1";
  /// Where the copy of a refused record goes.
  std::string dead_letter_topic = "billing.events.v1.dlq";
  /// True if the tenant is configured; when empty, every tenant is known.
  std::function<bool(std::string_view)> known_tenant;
  /// True if the source (`ce_source`, first argument) may speak for the
  /// tenant (`ce_tenantid`, second); e.g. `source_policy::allows`. When
  /// empty, every source may speak for every tenant (the admin API's
  /// re-drives, made by an operator, leave it empty).
  std::function<bool(std::string_view, std::string_view)> source_allows;
  /// The signing keys of a source (`ce_source`), or nullptr when it signs
  /// nothing; e.g. `source_policy::signing_keys`. A source with keys must
  /// sign each record (`ispflow-signature`, events/source_signature.hpp)
  /// or it is refused (`signature_invalid`). When empty, no signature is
  /// checked.
  std::function<const std::vector<std::string>*(std::string_view)> signing_keys;
  /// How far from now a signed event's `time` may be (its signature's
  /// replay window); checked for the records of sources with keys only.
  signed_time_window signed_window;
  /// Milliseconds since the Unix epoch for `signed_window`; when empty, the
  /// system clock. Tests set it.
  std::function<int64_t()> now_ms;
  /// The `ce_time` of emitted events (RFC 3339); when empty, the current
  /// UTC time. Tests set it to get reproducible records.
  std::function<std::string()> clock;
};

/// The verdict on one consumed record.
using intake_decision = std::variant<accepted_event, dead_letter>;

/// Decides about one record of the billing topic. Checks, in this order: the
/// CloudEvents envelope (`malformed_envelope`; `ce_tenantid` and `ce_subject`
/// are required, every attribute within `intake_limits`), the signature of a
/// source with signing keys (`signature_invalid`), that `ce_type` is
/// a billing input type (`unknown_type`), that the payload is a UTF-8 JSON
/// object within json::json_limits (`malformed_json`), its JSON Schema
/// (`schema_violation`), that `known_tenant(ce_tenantid)` holds
/// (`unknown_tenant`), that `source_allows(ce_source, ce_tenantid)` holds
/// (`tenant_not_allowed`), and that `ce_tenantid` and `ce_subject` equal the
/// payload's `tenant_id` and `subscriber_id` (`envelope_mismatch`).
///
/// An accepted event carries the envelope, the compact payload, the record
/// as `origin`, and in `emits` one binary-mode
/// `intake.accepted` CloudEvent for `saga_topic`. A dead letter carries the
/// record untouched and in `emits` its byte-faithful copy for
/// `dead_letter_topic` with the extra headers `ispflow_error`,
/// `ispflow_error_detail`, `ispflow_source_topic`,
/// `ispflow_source_partition` and `ispflow_source_offset`; a header of the
/// record named `ispflow_*` (any letter case) is kept, value and position,
/// under the name `x-original-` + its name, so that every `ispflow_*`
/// header of the copy is ispflow's own.
/// Never throws (except std::bad_alloc).
intake_decision check_billing_record(const kafka_record& rec,
                                     const intake_settings& settings);

/// The dead letter for `rec` with reason `code` and `detail`, exactly as
/// `check_billing_record` makes it (the copy for `dead_letter_topic` in
/// `emits`). Used as well for an accepted event that the database refused.
dead_letter refuse_record(const kafka_record& rec,
                          std::string_view dead_letter_topic,
                          std::string_view code, std::string detail);

} // namespace ispflow::events
