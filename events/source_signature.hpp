#pragma once

#include "events/cloud_event.hpp"
#include "events/records.hpp"

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

} // namespace ispflow::events
