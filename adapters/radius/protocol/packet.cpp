#include "adapters/radius/protocol/packet.hpp"

#include "events/errc.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/random.h>

namespace ispflow::adapters::radius {

namespace {

constexpr size_t header_size = 20;

caf::error invalid(std::string detail) {
  return caf::make_error(errc::invalid_input, std::move(detail));
}

uint32_t read_be(const uint8_t* p, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v = (v << 8) | p[i];
  return v;
}

void write_be(std::vector<uint8_t>& out, uint32_t v, size_t n) {
  for (size_t i = n; i > 0; --i)
    out.push_back(static_cast<uint8_t>(v >> (8 * (i - 1))));
}

vendor_format format_for(const vendor_format_fn& formats, uint32_t vendor) {
  if (formats)
    return formats(vendor);
  return vendor_format{};
}

bool valid_format(vendor_format f) {
  return (f.type_size == 1 || f.type_size == 2 || f.type_size == 4)
         && f.length_size <= 2;
}

// Splits a Vendor-Specific value into vendor attributes; false when the
// content does not follow the vendor's format.
bool split_vsa(std::span<const uint8_t> v, const vendor_format_fn& formats,
               std::vector<attribute>& out) {
  if (v.size() < 5)
    return false;
  uint32_t vendor = read_be(v.data(), 4);
  if (vendor == 0)
    return false;
  auto fmt = format_for(formats, vendor);
  if (!valid_format(fmt))
    return false;
  size_t hdr = size_t{fmt.type_size} + fmt.length_size;
  std::vector<attribute> parts;
  size_t pos = 4;
  while (pos < v.size()) {
    size_t left = v.size() - pos;
    if (left < hdr || left < 1)
      return false;
    uint32_t type = read_be(v.data() + pos, fmt.type_size);
    size_t len = fmt.length_size == 0
                   ? left
                   : read_be(v.data() + pos + fmt.type_size, fmt.length_size);
    if (len < hdr || len > left)
      return false;
    attribute a;
    a.vendor = vendor;
    a.type = type;
    a.value.assign(v.begin() + static_cast<ptrdiff_t>(pos + hdr),
                   v.begin() + static_cast<ptrdiff_t>(pos + len));
    parts.push_back(std::move(a));
    pos += len;
  }
  if (parts.empty())
    return false;
  for (auto& a : parts)
    out.push_back(std::move(a));
  return true;
}

// Walks the attributes of a structurally valid packet and returns the
// offset of the first Message-Authenticator's value, -1 if none, -2 if
// present with a wrong length.
long find_message_authenticator(std::span<const uint8_t> wire) {
  size_t pos = header_size;
  while (pos + 2 <= wire.size()) {
    uint8_t type = wire[pos];
    uint8_t len = wire[pos + 1];
    if (len < 2 || pos + len > wire.size())
      return -2;
    if (type == attr::message_authenticator)
      return len == 18 ? static_cast<long>(pos + 2) : -2;
    pos += len;
  }
  return -1;
}

// Header and attribute framing only (no vendor parsing).
bool well_framed(std::span<const uint8_t> wire) {
  if (wire.size() < header_size || wire.size() > max_packet_size)
    return false;
  size_t len = read_be(wire.data() + 2, 2);
  if (len != wire.size())
    return false;
  size_t pos = header_size;
  while (pos < len) {
    if (len - pos < 2)
      return false;
    uint8_t alen = wire[pos + 1];
    if (alen < 2 || alen > len - pos)
      return false;
    pos += alen;
  }
  return true;
}

bool uses_request_authenticator(code c) {
  return c == code::accounting_request || c == code::coa_request
         || c == code::disconnect_request;
}

authenticator md5_with_secret(std::span<const uint8_t> wire,
                              std::string_view secret) {
  authenticator out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr)
    return out;
  unsigned int n = 0;
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  EVP_DigestUpdate(ctx, wire.data(), wire.size());
  EVP_DigestUpdate(ctx, secret.data(), secret.size());
  EVP_DigestFinal_ex(ctx, out.data(), &n);
  EVP_MD_CTX_free(ctx);
  return out;
}

bool equal_ct(const uint8_t* a, const uint8_t* b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

// Puts a zeroed Message-Authenticator first and drops any other one.
// A copy of `p` whose first attribute is a zeroed Message-Authenticator
// (any other one dropped); the attributes are copied once. Every field is
// named: a new field of packet fails the build here until it is copied.
packet with_blank_ma(const packet& p) {
  packet out{p.code, p.identifier, p.auth, {}};
  out.attributes.reserve(p.attributes.size() + 1);
  attribute ma;
  ma.type = attr::message_authenticator;
  ma.value.assign(16, 0);
  out.attributes.push_back(std::move(ma));
  for (auto& a : p.attributes)
    if (!(a.vendor == 0 && a.type == attr::message_authenticator))
      out.attributes.push_back(a);
  return out;
}

} // namespace

std::string_view to_string(code x) {
  switch (x) {
    case code::access_request:
      return "Access-Request";
    case code::access_accept:
      return "Access-Accept";
    case code::access_reject:
      return "Access-Reject";
    case code::accounting_request:
      return "Accounting-Request";
    case code::accounting_response:
      return "Accounting-Response";
    case code::access_challenge:
      return "Access-Challenge";
    case code::disconnect_request:
      return "Disconnect-Request";
    case code::disconnect_ack:
      return "Disconnect-ACK";
    case code::disconnect_nak:
      return "Disconnect-NAK";
    case code::coa_request:
      return "CoA-Request";
    case code::coa_ack:
      return "CoA-ACK";
    case code::coa_nak:
      return "CoA-NAK";
  }
  return "Unknown-Code";
}

bool is_request(code x) {
  return x == code::access_request || x == code::accounting_request
         || x == code::coa_request || x == code::disconnect_request;
}

std::string_view to_string(verify_result x) {
  switch (x) {
    case verify_result::ok:
      return "ok";
    case verify_result::malformed:
      return "malformed";
    case verify_result::bad_authenticator:
      return "bad_authenticator";
    case verify_result::missing_message_authenticator:
      return "missing_message_authenticator";
    case verify_result::bad_message_authenticator:
      return "bad_message_authenticator";
  }
  return "unknown";
}

attribute attribute::text(uint32_t type, std::string_view value,
                          uint32_t vendor) {
  attribute a;
  a.vendor = vendor;
  a.type = type;
  a.value.assign(value.begin(), value.end());
  return a;
}

attribute attribute::u32(uint32_t type, uint32_t value, uint32_t vendor) {
  attribute a;
  a.vendor = vendor;
  a.type = type;
  write_be(a.value, value, 4);
  return a;
}

std::optional<attribute> attribute::ipv4(uint32_t type, std::string_view dotted,
                                         uint32_t vendor) {
  std::string s{dotted};
  in_addr addr{};
  if (inet_pton(AF_INET, s.c_str(), &addr) != 1)
    return std::nullopt;
  attribute a;
  a.vendor = vendor;
  a.type = type;
  auto* b = reinterpret_cast<const uint8_t*>(&addr.s_addr);
  a.value.assign(b, b + 4);
  return a;
}

std::string attribute::as_text() const {
  return std::string{value.begin(), value.end()};
}

std::optional<uint32_t> attribute::as_u32() const {
  if (value.size() != 4)
    return std::nullopt;
  return read_be(value.data(), 4);
}

std::optional<std::string> attribute::as_ipv4() const {
  if (value.size() != 4)
    return std::nullopt;
  char buf[INET_ADDRSTRLEN] = {};
  if (inet_ntop(AF_INET, value.data(), buf, sizeof(buf)) == nullptr)
    return std::nullopt;
  return std::string{buf};
}

const attribute* packet::find(uint32_t type, uint32_t vendor) const {
  for (auto& a : attributes)
    if (a.type == type && a.vendor == vendor)
      return &a;
  return nullptr;
}

std::vector<const attribute*> packet::find_all(uint32_t type,
                                               uint32_t vendor) const {
  std::vector<const attribute*> out;
  for (auto& a : attributes)
    if (a.type == type && a.vendor == vendor)
      out.push_back(&a);
  return out;
}

void packet::add(attribute a) {
  attributes.push_back(std::move(a));
}

void packet::remove(uint32_t type, uint32_t vendor) {
  std::erase_if(attributes, [&](const attribute& a) {
    return a.type == type && a.vendor == vendor;
  });
}

caf::expected<packet> decode(std::span<const uint8_t> wire,
                             const vendor_format_fn& formats) {
  if (wire.size() < header_size)
    return invalid("radius: packet shorter than the 20-byte header ("
                   + std::to_string(wire.size()) + " bytes)");
  size_t len = read_be(wire.data() + 2, 2);
  if (len < header_size || len > max_packet_size)
    return invalid("radius: length field " + std::to_string(len)
                   + " outside 20..4096");
  if (len > wire.size())
    return invalid("radius: length field " + std::to_string(len)
                   + " exceeds the " + std::to_string(wire.size())
                   + " bytes received");
  packet p;
  p.code = static_cast<code>(wire[0]);
  p.identifier = wire[1];
  std::copy_n(wire.data() + 4, 16, p.auth.begin());
  // Octets beyond Length are padding and ignored (RFC 2865 §3).
  size_t pos = header_size;
  while (pos < len) {
    if (len - pos < 2)
      return invalid("radius: truncated attribute header at offset "
                     + std::to_string(pos));
    uint8_t type = wire[pos];
    uint8_t alen = wire[pos + 1];
    if (alen < 2)
      return invalid("radius: attribute " + std::to_string(type)
                     + " has length " + std::to_string(alen)
                     + " (minimum 2) at offset " + std::to_string(pos));
    if (alen > len - pos)
      return invalid("radius: attribute " + std::to_string(type) + " of length "
                     + std::to_string(alen) + " runs past the packet at offset "
                     + std::to_string(pos));
    auto value = wire.subspan(pos + 2, alen - 2u);
    if (type != attr::vendor_specific
        || !split_vsa(value, formats, p.attributes)) {
      attribute a;
      a.type = type;
      a.value.assign(value.begin(), value.end());
      p.attributes.push_back(std::move(a));
    }
    pos += alen;
  }
  return p;
}

caf::expected<std::vector<uint8_t>>
encode_raw(const packet& p, const vendor_format_fn& formats) {
  std::vector<uint8_t> out;
  out.reserve(256);
  out.push_back(static_cast<uint8_t>(p.code));
  out.push_back(p.identifier);
  out.push_back(0);
  out.push_back(0);
  out.insert(out.end(), p.auth.begin(), p.auth.end());
  for (auto& a : p.attributes) {
    if (a.vendor == 0) {
      if (a.type > 255)
        return invalid("radius: attribute type " + std::to_string(a.type)
                       + " does not fit one octet");
      if (a.value.size() > 253)
        return invalid("radius: value of attribute " + std::to_string(a.type)
                       + " longer than 253 bytes");
      out.push_back(static_cast<uint8_t>(a.type));
      out.push_back(static_cast<uint8_t>(a.value.size() + 2));
      out.insert(out.end(), a.value.begin(), a.value.end());
      continue;
    }
    auto fmt = format_for(formats, a.vendor);
    if (!valid_format(fmt))
      return invalid("radius: vendor " + std::to_string(a.vendor)
                     + " has an unsupported format");
    size_t hdr = size_t{fmt.type_size} + fmt.length_size;
    size_t max_value = 255 - 2 - 4 - hdr;
    if (a.value.size() > max_value)
      return invalid("radius: value of vendor attribute "
                     + std::to_string(a.vendor) + ":" + std::to_string(a.type)
                     + " longer than " + std::to_string(max_value) + " bytes");
    if (fmt.type_size < 4 && a.type >= (1u << (8 * fmt.type_size)))
      return invalid("radius: vendor attribute type " + std::to_string(a.type)
                     + " does not fit the vendor's type field");
    size_t sub_len = hdr + a.value.size();
    out.push_back(attr::vendor_specific);
    out.push_back(static_cast<uint8_t>(2 + 4 + sub_len));
    write_be(out, a.vendor, 4);
    write_be(out, a.type, fmt.type_size);
    if (fmt.length_size > 0)
      write_be(out, static_cast<uint32_t>(sub_len), fmt.length_size);
    out.insert(out.end(), a.value.begin(), a.value.end());
  }
  if (out.size() > max_packet_size)
    return invalid("radius: packet of " + std::to_string(out.size())
                   + " bytes exceeds 4096");
  out[2] = static_cast<uint8_t>(out.size() >> 8);
  out[3] = static_cast<uint8_t>(out.size() & 0xff);
  return out;
}

caf::expected<std::vector<uint8_t>>
encode_request(packet& p, std::string_view secret,
               const vendor_format_fn& formats) {
  if (secret.empty())
    return invalid("radius: empty shared secret");
  packet out = with_blank_ma(p);
  if (out.code == code::access_request) {
    if (std::all_of(out.auth.begin(), out.auth.end(),
                    [](uint8_t b) { return b == 0; }))
      out.auth = random_authenticator();
    for (auto& a : out.attributes) {
      if (a.vendor == 0 && a.type == attr::user_password) {
        auto hidden = hide_password(a.as_text(), secret, out.auth);
        if (!hidden)
          return hidden.error();
        a.value = std::move(*hidden);
      }
    }
  } else if (uses_request_authenticator(out.code)) {
    out.auth.fill(0);
  } else {
    return invalid("radius: encode_request with non-request code "
                   + std::to_string(static_cast<int>(out.code)));
  }
  auto wire = encode_raw(out, formats);
  if (!wire)
    return wire.error();
  auto& w = *wire;
  // Message-Authenticator is the first attribute: its value starts at 22.
  auto mac = hmac_md5(secret, w);
  std::copy(mac.begin(), mac.end(), w.begin() + header_size + 2);
  if (uses_request_authenticator(out.code)) {
    out.auth = md5_with_secret(w, secret);
    std::copy(out.auth.begin(), out.auth.end(), w.begin() + 4);
  }
  std::copy(mac.begin(), mac.end(), out.attributes.front().value.begin());
  p = std::move(out);
  return wire;
}

caf::expected<std::vector<uint8_t>>
encode_response(packet& p, const authenticator& request_auth,
                std::string_view secret, const vendor_format_fn& formats) {
  if (secret.empty())
    return invalid("radius: empty shared secret");
  packet out = with_blank_ma(p);
  out.auth = request_auth;
  auto wire = encode_raw(out, formats);
  if (!wire)
    return wire.error();
  auto& w = *wire;
  auto mac = hmac_md5(secret, w);
  std::copy(mac.begin(), mac.end(), w.begin() + header_size + 2);
  out.auth = md5_with_secret(w, secret);
  std::copy(out.auth.begin(), out.auth.end(), w.begin() + 4);
  std::copy(mac.begin(), mac.end(), out.attributes.front().value.begin());
  p = std::move(out);
  return wire;
}

verify_result verify_request(std::span<const uint8_t> wire,
                             std::string_view secret,
                             bool require_message_authenticator) {
  if (!well_framed(wire))
    return verify_result::malformed;
  auto c = static_cast<code>(wire[0]);
  std::vector<uint8_t> buf(wire.begin(), wire.end());
  if (uses_request_authenticator(c)) {
    std::fill(buf.begin() + 4, buf.begin() + 20, 0);
    auto expect = md5_with_secret(buf, secret);
    if (!equal_ct(expect.data(), wire.data() + 4, 16))
      return verify_result::bad_authenticator;
  }
  long ma = find_message_authenticator(wire);
  if (ma == -2)
    return verify_result::bad_message_authenticator;
  if (ma == -1)
    return require_message_authenticator
             ? verify_result::missing_message_authenticator
             : verify_result::ok;
  auto off = static_cast<size_t>(ma);
  std::fill(buf.begin() + static_cast<ptrdiff_t>(off),
            buf.begin() + static_cast<ptrdiff_t>(off + 16), 0);
  auto mac = hmac_md5(secret, buf);
  if (!equal_ct(mac.data(), wire.data() + off, 16))
    return verify_result::bad_message_authenticator;
  return verify_result::ok;
}

verify_result verify_response(std::span<const uint8_t> wire,
                              const authenticator& request_auth,
                              std::string_view secret,
                              bool require_message_authenticator,
                              bool accept_zeroed_variant) {
  if (!well_framed(wire))
    return verify_result::malformed;
  std::vector<uint8_t> buf(wire.begin(), wire.end());
  std::copy(request_auth.begin(), request_auth.end(), buf.begin() + 4);
  auto expect = md5_with_secret(buf, secret);
  if (!equal_ct(expect.data(), wire.data() + 4, 16))
    return verify_result::bad_authenticator;
  long ma = find_message_authenticator(wire);
  if (ma == -2)
    return verify_result::bad_message_authenticator;
  if (ma == -1)
    return require_message_authenticator
             ? verify_result::missing_message_authenticator
             : verify_result::ok;
  auto off = static_cast<size_t>(ma);
  std::fill(buf.begin() + static_cast<ptrdiff_t>(off),
            buf.begin() + static_cast<ptrdiff_t>(off + 16), 0);
  auto mac = hmac_md5(secret, buf);
  if (equal_ct(mac.data(), wire.data() + off, 16))
    return verify_result::ok;
  auto c = static_cast<code>(wire[0]);
  bool zeroed_codes = c == code::coa_ack || c == code::coa_nak
                      || c == code::disconnect_ack || c == code::disconnect_nak
                      || c == code::accounting_response;
  if (accept_zeroed_variant && zeroed_codes) {
    std::fill(buf.begin() + 4, buf.begin() + 20, 0);
    auto zmac = hmac_md5(secret, buf);
    if (equal_ct(zmac.data(), wire.data() + off, 16))
      return verify_result::ok;
  }
  return verify_result::bad_message_authenticator;
}

caf::expected<std::vector<uint8_t>>
hide_password(std::string_view password, std::string_view secret,
              const authenticator& request_auth) {
  if (password.size() > 128)
    return invalid("radius: User-Password longer than 128 bytes");
  size_t n = std::max<size_t>(16, (password.size() + 15) / 16 * 16);
  std::vector<uint8_t> out(n, 0);
  std::copy(password.begin(), password.end(), out.begin());
  std::vector<uint8_t> seed(secret.begin(), secret.end());
  seed.insert(seed.end(), request_auth.begin(), request_auth.end());
  for (size_t block = 0; block < n; block += 16) {
    auto b = md5(seed);
    for (size_t i = 0; i < 16; ++i)
      out[block + i] ^= b[i];
    seed.resize(secret.size());
    seed.insert(seed.end(), out.begin() + static_cast<ptrdiff_t>(block),
                out.begin() + static_cast<ptrdiff_t>(block + 16));
  }
  return out;
}

caf::expected<std::string> unhide_password(std::span<const uint8_t> hidden,
                                           std::string_view secret,
                                           const authenticator& request_auth) {
  if (hidden.empty() || hidden.size() % 16 != 0 || hidden.size() > 128)
    return invalid("radius: hidden User-Password length "
                   + std::to_string(hidden.size())
                   + " is not a multiple of 16 up to 128");
  std::string out(hidden.size(), '\0');
  std::vector<uint8_t> seed(secret.begin(), secret.end());
  seed.insert(seed.end(), request_auth.begin(), request_auth.end());
  for (size_t block = 0; block < hidden.size(); block += 16) {
    auto b = md5(seed);
    for (size_t i = 0; i < 16; ++i)
      out[block + i] = static_cast<char>(hidden[block + i] ^ b[i]);
    seed.resize(secret.size());
    seed.insert(seed.end(), hidden.begin() + static_cast<ptrdiff_t>(block),
                hidden.begin() + static_cast<ptrdiff_t>(block + 16));
  }
  while (!out.empty() && out.back() == '\0')
    out.pop_back();
  return out;
}

authenticator random_authenticator() {
  authenticator a{};
  if (RAND_bytes(a.data(), static_cast<int>(a.size())) != 1) {
    // RAND_bytes fails only when the DRBG cannot be seeded; fall back to the
    // kernel directly rather than send a predictable value.
    if (getrandom(a.data(), a.size(), 0) != static_cast<ssize_t>(a.size()))
      a = md5(a);
  }
  return a;
}

authenticator md5(std::span<const uint8_t> data) {
  authenticator out{};
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_md5(), nullptr);
  return out;
}

authenticator hmac_md5(std::string_view key, std::span<const uint8_t> data) {
  authenticator out{};
  unsigned int n = 0;
  HMAC(EVP_md5(), key.data(), static_cast<int>(key.size()), data.data(),
       data.size(), out.data(), &n);
  return out;
}

} // namespace ispflow::adapters::radius
