#pragma once

#include "events/intake.hpp"
#include "events/records.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <variant>

namespace ispflow::events {

/// What `check_billing_record` needs besides the record.
struct intake_settings {
  /// Where the `intake.accepted` saga event goes.
  std::string saga_topic = "saga.events.v1";
  /// Where the copy of a refused record goes.
  std::string dead_letter_topic = "billing.events.v1.dlq";
  /// True if the tenant is configured; when empty, every tenant is known.
  std::function<bool(std::string_view)> known_tenant;
  /// The `ce_time` of emitted events (RFC 3339); when empty, the current
  /// UTC time. Tests set it to get reproducible records.
  std::function<std::string()> clock;
};

/// The verdict on one consumed record.
using intake_decision = std::variant<accepted_event, dead_letter>;

/// Decides about one record of the billing topic. Checks, in this order: the
/// CloudEvents envelope (`malformed_envelope`; `ce_tenantid` and `ce_subject`
/// are required), that `ce_type` is a billing input type (`unknown_type`),
/// that the payload is a UTF-8 JSON object (`malformed_json`), its JSON
/// Schema (`schema_violation`), that `known_tenant(ce_tenantid)` holds
/// (`unknown_tenant`), and that `ce_tenantid` and `ce_subject` equal the
/// payload's `tenant_id` and `subscriber_id` (`envelope_mismatch`).
///
/// An accepted event carries the envelope, the compact payload, the record
/// without its value as `origin`, and in `emits` one binary-mode
/// `intake.accepted` CloudEvent for `saga_topic`. A dead letter carries the
/// record untouched and in `emits` its byte-faithful copy for
/// `dead_letter_topic` with the extra headers `ispflow_error`,
/// `ispflow_error_detail`, `ispflow_source_topic`,
/// `ispflow_source_partition` and `ispflow_source_offset`.
/// Never throws (except std::bad_alloc).
intake_decision check_billing_record(const kafka_record& rec,
                                     const intake_settings& settings);

} // namespace ispflow::events
