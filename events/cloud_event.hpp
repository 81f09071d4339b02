#pragma once

#include "events/records.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

namespace ispflow::events {

/// The longest CloudEvents attributes accepted, in bytes. Longer ones
/// are refused as `malformed_envelope` naming the attribute: identifiers end
/// up in PostgreSQL btree indexes (inbox, sagas, subscribers), whose rows
/// cannot exceed about 2.7 kB, and no billing system needs more.
namespace intake_limits {
/// `ce_id`.
inline constexpr size_t id_bytes = 256;
/// `ce_source`.
inline constexpr size_t source_bytes = 256;
/// `ce_type`.
inline constexpr size_t type_bytes = 128;
/// `ce_subject` (the subscriber id, also the payload's `subscriber_id`).
inline constexpr size_t subject_bytes = 256;
/// `ce_tenantid`: a tenant id of the configuration is at most 63 bytes.
inline constexpr size_t tenant_bytes = 63;
/// `ce_time`.
inline constexpr size_t time_bytes = 64;
/// `traceparent` and `tracestate` (W3C Trace Context: 512 for tracestate).
inline constexpr size_t trace_bytes = 512;
} // namespace intake_limits

/// A CloudEvents 1.0 event with ispflow's `tenantid` extension and W3C trace
/// context. Empty optional attributes mean "absent".
struct cloud_event {
  std::string specversion = "1.0";
  std::string id;
  std::string source;
  std::string type;
  std::string time;    ///< RFC 3339, may be empty
  std::string subject; ///< the subscriber id for ispflow's events
  std::string tenant_id;
  std::string datacontenttype = "application/json";
  std::string traceparent;
  std::string tracestate;
  /// Compact JSON text of the payload (always a JSON object once decoded).
  std::string data;

  friend bool operator==(const cloud_event&, const cloud_event&) = default;
};

/// Prints the attributes and the payload size, for test failures and logs.
std::ostream& operator<<(std::ostream& os, const cloud_event& x);

/// Why a record was refused: a code of events/intake_errors.hpp and a human
/// detail naming the attribute or JSON pointer, e.g. "ce_id: missing".
struct intake_error {
  std::string code;
  std::string detail;

  friend bool operator==(const intake_error&, const intake_error&) = default;
};

/// Prints "code: detail".
std::ostream& operator<<(std::ostream& os, const intake_error& x);

/// Either the decoded event or why the record is not a valid one.
/// `std::holds_alternative<cloud_event>(r)` means success.
using decode_result = std::variant<cloud_event, intake_error>;

/// Decodes a Kafka record carrying a CloudEvent in binary mode (attributes in
/// `ce_*` headers, the JSON payload as value) or structured mode
/// (`content-type: application/cloudevents+json`, the whole event as a JSON
/// object in the value). Checks the envelope (specversion "1.0", non-empty
/// id, source and type within `intake_limits`, RFC 3339 time, JSON content
/// type) and that the
/// payload is a UTF-8 JSON object, which it stores compacted in `data`. It
/// does not look at the type or the schema. A missing `content-type` header in
/// binary mode is taken as `application/json`.
decode_result decode_cloud_event(const kafka_record& rec);

/// Encodes `ev` in Kafka binary mode for `topic`: key = subject, headers
/// `ce_specversion`, `ce_id`, `ce_source`, `ce_type`, then `ce_time`,
/// `ce_subject`, `ce_tenantid`, `traceparent`, `tracestate` when set, and
/// `content-type` = datacontenttype; value = data. Partition and offset are
/// -1; an empty subject gives a null key.
kafka_record encode_binary(const cloud_event& ev, std::string topic);

/// True if `text` is an RFC 3339 date-time, e.g. "2024-05-01T12:00:00.5Z" or
/// "2024-05-01T14:00:00+02:00" (field ranges are checked, leap seconds kept).
bool is_rfc3339(std::string_view text);

/// The instant an RFC 3339 date-time names, in milliseconds since the Unix
/// epoch (its offset applied, digits past milliseconds dropped, a leap
/// second read as the next second's start), or nothing when `text` is not
/// one (`is_rfc3339`).
std::optional<int64_t> rfc3339_to_unix_ms(std::string_view text);

/// The current time as RFC 3339 UTC with milliseconds,
/// e.g. "2024-05-01T12:00:00.123Z".
std::string rfc3339_now();

} // namespace ispflow::events
