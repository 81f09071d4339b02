#pragma once

#include "events/cloud_event.hpp"
#include "events/records.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ispflow::events {

/// The Kafka header that carries a billing event's signature:
/// `ispflow-signature: v1=<64 lower-case hex digits>`. Several signatures
/// may be given, separated by commas (`v1=<hex>,v1=<hex>`), e.g. while a
/// producer moves to a new key; one matching a configured key suffices.
inline constexpr std::string_view signature_header = "ispflow-signature";

/// The shortest signing key accepted, in bytes.
inline constexpr size_t min_signing_key_bytes = 32;

/// The text a producer signs (HMAC-SHA256 with the source's key), version
/// v1: seven lines, each ended by a line feed, then the record value as it
/// is on the wire, byte for byte:
///
///   ispflow-signature-v1\n
///   <id>\n <source>\n <type>\n <tenantid>\n <subject>\n <time>\n
///   <record value>
///
/// The attributes are the CloudEvents ones as ispflow decodes them (the
/// `ce_*` headers in binary mode, the JSON members in structured mode);
/// `time` is empty when absent. An attribute holding a line feed or a
/// carriage return cannot be signed (the lines would be ambiguous).
std::string signature_base(const cloud_event& ev, std::string_view value);

/// "v1=" and the lower-case hex HMAC-SHA256 of `base` with `key`.
std::string sign_v1(std::string_view key, std::string_view base);

/// Checks the `ispflow-signature` header of `rec` (decoded as `ev`)
/// against `keys` (any one may match: the current key and, during a
/// rotation, the previous one). Returns why it does not verify, or nothing
/// when one signature matches one key. Compares in constant time; the
/// reason never contains a key or the expected signature.
std::optional<std::string>
verify_signature(const cloud_event& ev, const kafka_record& rec,
                 const std::vector<std::string>& keys);

/// How far from now the `time` of a signed event may be. A signature covers
/// the time, so a record replayed later still names its first time; once it
/// is older than `max_age` it is refused, which closes the replay of a
/// genuinely signed record whose inbox row retention has removed (as long
/// as `max_age + max_skew` stays within the inbox retention).
struct signed_time_window {
  /// The oldest accepted; zero: no window (any time, or none, is taken).
  std::chrono::seconds max_age{0};
  /// How far in the future (the producer's clock ahead of ours).
  std::chrono::seconds max_skew{0};
};

/// Checks the `time` attribute of a signed event against `window` at
/// `now_ms` (milliseconds since the Unix epoch). Returns why it is outside
/// (missing, not RFC 3339, too old, too far ahead), or nothing.
std::optional<std::string> check_signed_time(std::string_view time,
                                             int64_t now_ms,
                                             const signed_time_window& window);

} // namespace ispflow::events
