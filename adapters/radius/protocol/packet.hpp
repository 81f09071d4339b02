#pragma once

#include <array>
#include <caf/expected.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ispflow::adapters::radius {

/// RADIUS packet codes (RFC 2865, 2866, 5176).
enum class code : uint8_t {
  access_request = 1,
  access_accept = 2,
  access_reject = 3,
  accounting_request = 4,
  accounting_response = 5,
  access_challenge = 11,
  disconnect_request = 40,
  disconnect_ack = 41,
  disconnect_nak = 42,
  coa_request = 43,
  coa_ack = 44,
  coa_nak = 45,
};

/// Packet name as FreeRADIUS prints it, e.g. "Disconnect-ACK".
std::string_view to_string(code x);

/// True for codes a client sends (requests).
bool is_request(code x);

/// Standard attribute numbers this project uses by number.
namespace attr {
inline constexpr uint32_t user_name = 1;
inline constexpr uint32_t user_password = 2;
inline constexpr uint32_t nas_ip_address = 4;
inline constexpr uint32_t nas_port = 5;
inline constexpr uint32_t service_type = 6;
inline constexpr uint32_t framed_ip_address = 8;
inline constexpr uint32_t reply_message = 18;
inline constexpr uint32_t state = 24;
inline constexpr uint32_t class_ = 25;
inline constexpr uint32_t vendor_specific = 26;
inline constexpr uint32_t session_timeout = 27;
inline constexpr uint32_t called_station_id = 30;
inline constexpr uint32_t calling_station_id = 31;
inline constexpr uint32_t nas_identifier = 32;
inline constexpr uint32_t proxy_state = 33;
inline constexpr uint32_t acct_status_type = 40;
inline constexpr uint32_t acct_delay_time = 41;
inline constexpr uint32_t acct_input_octets = 42;
inline constexpr uint32_t acct_output_octets = 43;
inline constexpr uint32_t acct_session_id = 44;
inline constexpr uint32_t acct_session_time = 46;
inline constexpr uint32_t acct_terminate_cause = 49;
inline constexpr uint32_t acct_multi_session_id = 50;
inline constexpr uint32_t event_timestamp = 55;
inline constexpr uint32_t nas_port_type = 61;
inline constexpr uint32_t message_authenticator = 80;
inline constexpr uint32_t nas_port_id = 87;
inline constexpr uint32_t chargeable_user_identity = 89;
inline constexpr uint32_t nas_ipv6_address = 95;
inline constexpr uint32_t framed_ipv6_prefix = 97;
inline constexpr uint32_t error_cause = 101;
} // namespace attr

/// The 16-byte Authenticator field.
using authenticator = std::array<uint8_t, 16>;

/// Sizes of the type and length fields inside a vendor's Vendor-Specific
/// attribute (dictionary `format=t,l`); RFC 2865 §5.26 suggests 1,1.
struct vendor_format {
  /// 1, 2 or 4.
  uint8_t type_size = 1;
  /// 0, 1 or 2.
  uint8_t length_size = 1;
};

/// Resolves a vendor's format; the default is 1,1 for every vendor.
using vendor_format_fn = std::function<vendor_format(uint32_t vendor)>;

/// One attribute. A vendor attribute (vendor != 0) is one sub-attribute of a
/// Vendor-Specific (26) attribute on the wire. `value` is the raw value.
struct attribute {
  /// 0 for the standard space, else the vendor id.
  uint32_t vendor = 0;
  /// Attribute number within the vendor space.
  uint32_t type = 0;
  /// Raw value bytes.
  std::vector<uint8_t> value;

  /// Field-wise equality.
  friend bool operator==(const attribute&, const attribute&) = default;

  /// A standard or vendor attribute holding text.
  static attribute text(uint32_t type, std::string_view value,
                        uint32_t vendor = 0);
  /// A 32-bit big-endian integer attribute.
  static attribute u32(uint32_t type, uint32_t value, uint32_t vendor = 0);
  /// An IPv4 address attribute from dotted text; nullopt if not an address.
  static std::optional<attribute> ipv4(uint32_t type, std::string_view dotted,
                                       uint32_t vendor = 0);
  /// The value as text (bytes copied as-is).
  std::string as_text() const;
  /// The value as a 32-bit integer, if it is 4 bytes long.
  std::optional<uint32_t> as_u32() const;
  /// The value as dotted IPv4, if it is 4 bytes long.
  std::optional<std::string> as_ipv4() const;
};

/// A decoded or to-be-encoded packet.
struct packet {
  /// Packet code.
  radius::code code = radius::code::access_request;
  /// Identifier (matches replies to requests).
  uint8_t identifier = 0;
  /// Authenticator field as on the wire.
  authenticator auth{};
  /// Attributes in wire order.
  std::vector<attribute> attributes;

  /// First attribute of that number, or nullptr.
  const attribute* find(uint32_t type, uint32_t vendor = 0) const;
  /// All attributes of that number.
  std::vector<const attribute*> find_all(uint32_t type,
                                         uint32_t vendor = 0) const;
  /// Appends an attribute.
  void add(attribute a);
  /// Removes every attribute of that number.
  void remove(uint32_t type, uint32_t vendor = 0);
};

/// Largest RADIUS packet (RFC 2865 §3).
inline constexpr size_t max_packet_size = 4096;

/// Decodes one packet. Never reads outside `wire`; a length field that
/// disagrees with the buffer, a truncated or zero-length attribute, or a
/// malformed Vendor-Specific sub-attribute is an error (errc::invalid_input).
/// A Vendor-Specific attribute is split into vendor attributes when its
/// content parses with the vendor's format, else it is kept as type 26.
caf::expected<packet> decode(std::span<const uint8_t> wire,
                             const vendor_format_fn& formats = {});

/// Encodes a packet as-is: header, `auth` and attributes, with no
/// authenticator computation. Fails when the packet would exceed 4096 bytes
/// or a value is too long for one attribute.
caf::expected<std::vector<uint8_t>>
encode_raw(const packet& p, const vendor_format_fn& formats = {});

/// Encodes a request and signs it:
/// - removes any Message-Authenticator and inserts a new one as the FIRST
///   attribute (RFC 3579, Blast-RADIUS mitigation);
/// - Access-Request: keeps a non-zero `p.auth` or draws a random one, hides
///   User-Password (RFC 2865 §5.2; the attribute holds the plain password on
///   input), then computes Message-Authenticator over the packet;
/// - Accounting/CoA/Disconnect-Request: computes Message-Authenticator with
///   the authenticator field zeroed, then the Request Authenticator
///   MD5(Code|Id|Length|16 zero bytes|Attributes|Secret) (RFC 2866, 5176).
/// `p.auth` is updated to the authenticator sent.
caf::expected<std::vector<uint8_t>>
encode_request(packet& p, std::string_view secret,
               const vendor_format_fn& formats = {});

/// Encodes a reply to a request whose authenticator was `request_auth`:
/// Message-Authenticator first (computed with `request_auth` in the
/// authenticator field), then the Response Authenticator
/// MD5(Code|Id|Length|RequestAuth|Attributes|Secret).
caf::expected<std::vector<uint8_t>>
encode_response(packet& p, const authenticator& request_auth,
                std::string_view secret, const vendor_format_fn& formats = {});

/// Outcome of an authenticator check.
enum class verify_result : uint8_t {
  ok,
  malformed,
  bad_authenticator,
  missing_message_authenticator,
  bad_message_authenticator,
};

/// Stable name of a verify_result, e.g. "bad_authenticator".
std::string_view to_string(verify_result x);

/// Verifies a received request. For Accounting/CoA/Disconnect-Request it
/// checks the Request Authenticator; for every code a present
/// Message-Authenticator must verify, and an absent one fails when
/// `require_message_authenticator` (always required on Access-Request with
/// EAP is not checked here).
verify_result verify_request(std::span<const uint8_t> wire,
                             std::string_view secret,
                             bool require_message_authenticator);

/// Verifies a received reply against the request's authenticator: Response
/// Authenticator and Message-Authenticator (required unless told otherwise).
/// Message-Authenticator is checked as RFC 3579 defines it for replies (HMAC
/// with the request's authenticator in the header). FreeRADIUS 3.2.1 signs
/// CoA/Disconnect ACK/NAK and Accounting-Response with a zeroed
/// authenticator instead (measured; its own radclient rejects that), so for
/// those codes `accept_zeroed_variant` also accepts that form. Either way the
/// HMAC covers every reply attribute and the Response Authenticator binds
/// the reply to the request.
verify_result verify_response(std::span<const uint8_t> wire,
                              const authenticator& request_auth,
                              std::string_view secret,
                              bool require_message_authenticator = true,
                              bool accept_zeroed_variant = true);

/// User-Password hiding (RFC 2865 §5.2). Passwords longer than 128 bytes
/// are rejected.
caf::expected<std::vector<uint8_t>>
hide_password(std::string_view password, std::string_view secret,
              const authenticator& request_auth);

/// Reverses hide_password; trailing NUL padding is stripped.
caf::expected<std::string> unhide_password(std::span<const uint8_t> hidden,
                                           std::string_view secret,
                                           const authenticator& request_auth);

/// 16 bytes from a cryptographic random source.
authenticator random_authenticator();

/// MD5 digest (exposed for tests and the NAS simulator).
authenticator md5(std::span<const uint8_t> data);

/// HMAC-MD5 with `key` (exposed for tests).
authenticator hmac_md5(std::string_view key, std::span<const uint8_t> data);

} // namespace ispflow::adapters::radius
