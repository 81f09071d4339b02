// Fuzz target: RADIUS encoding, then decoding and verification, of packets
// built from the fuzz input (adapters/radius/protocol/packet.*).
//
// Input format (a byte reader; missing bytes read as 0):
//   code selector, identifier, 16 authenticator bytes, secret length (0..31)
//   and secret bytes, then attributes until the input ends, each:
//   vendor selector (0-127: standard; else one of fuzz_vendors or, for 255,
//   a 4-byte vendor id), type (1 byte; 2 bytes for vendor selector 254),
//   value length, value bytes.
//
// Properties checked besides "no crash, no leak, no UB":
// - encode_raw fails exactly when an independent size/format check says the
//   packet cannot be represented, and otherwise decodes to the same packet;
// - encode_request of a request verifies with verify_request (with the
//   Message-Authenticator required), does not verify with another secret,
//   decodes to the packet it reports as sent, and its User-Password
//   unhides to the password given;
// - encode_response verifies with verify_response against the request
//   authenticator used.

#include "adapters/radius/protocol/packet.hpp"
#include "fuzz/fuzz_check.hpp"
#include "fuzz/radius_formats.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace {

using namespace ispflow::adapters::radius;

class reader {
public:
  reader(const uint8_t* data, size_t size) : data_(data), size_(size) {
    // nop
  }

  bool done() const {
    return pos_ >= size_;
  }

  uint8_t byte() {
    return pos_ < size_ ? data_[pos_++] : 0;
  }

  uint32_t be(size_t n) {
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i)
      v = (v << 8) | byte();
    return v;
  }

  std::vector<uint8_t> bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    std::vector<uint8_t> out(data_ + pos_, data_ + pos_ + n);
    pos_ += n;
    return out;
  }

private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

constexpr code codes[] = {
  code::access_request,
  code::access_accept,
  code::access_reject,
  code::accounting_request,
  code::accounting_response,
  code::access_challenge,
  code::disconnect_request,
  code::disconnect_ack,
  code::disconnect_nak,
  code::coa_request,
  code::coa_ack,
  code::coa_nak,
};

// Independent of the codec: can `p` be put on the wire as it is?
bool representable(const packet& p) {
  size_t size = 20;
  for (auto& a : p.attributes) {
    if (a.vendor == 0) {
      if (a.type > 255 || a.value.size() > 253)
        return false;
      size += 2 + a.value.size();
      continue;
    }
    auto f = ispflow_fuzz::mixed_format(a.vendor);
    if (f.type_size != 1 && f.type_size != 2 && f.type_size != 4)
      return false;
    if (f.length_size > 2)
      return false;
    size_t hdr = size_t{f.type_size} + f.length_size;
    if (a.value.size() + hdr + 6 > 255)
      return false;
    if (f.type_size < 4 && a.type >= (1u << (8 * f.type_size)))
      return false;
    size += 6 + hdr + a.value.size();
  }
  return size <= 4096;
}

// A standard Vendor-Specific attribute whose value happens to parse as
// vendor attributes decodes as those: the packet then differs from the one
// encoded, legitimately.
bool has_raw_vsa(const packet& p) {
  return std::any_of(p.attributes.begin(), p.attributes.end(),
                     [](const attribute& a) {
                       return a.vendor == 0 && a.type == attr::vendor_specific;
                     });
}

packet build(reader& in, std::string& secret) {
  packet p;
  auto sel = in.byte();
  p.code = sel < 240 ? codes[sel % std::size(codes)] : static_cast<code>(sel);
  p.identifier = in.byte();
  for (auto& b : p.auth)
    b = in.byte();
  auto secret_len = in.byte() % 32;
  auto s = in.bytes(secret_len);
  secret.assign(s.begin(), s.end());
  while (!in.done()) {
    attribute a;
    auto v = in.byte();
    if (v < 128) {
      a.vendor = 0;
      a.type = in.byte();
    } else if (v == 255) {
      a.vendor = in.be(4);
      a.type = in.byte();
    } else if (v == 254) {
      a.vendor = ispflow_fuzz::fuzz_vendors[1];
      a.type = in.be(2);
    } else {
      a.vendor
        = ispflow_fuzz::fuzz_vendors[v % std::size(ispflow_fuzz::fuzz_vendors)];
      a.type = in.byte();
    }
    a.value = in.bytes(in.byte());
    p.attributes.push_back(std::move(a));
  }
  return p;
}

void check_raw(const packet& p) {
  const auto& formats = ispflow_fuzz::mixed_formats();
  auto wire = encode_raw(p, formats);
  FUZZ_CHECK(static_cast<bool>(wire) == representable(p));
  if (!wire)
    return;
  FUZZ_CHECK(wire->size() >= 20 && wire->size() <= max_packet_size);
  auto q = decode(*wire, formats);
  FUZZ_CHECK(q);
  FUZZ_CHECK(q->code == p.code && q->identifier == p.identifier);
  FUZZ_CHECK(q->auth == p.auth);
  if (!has_raw_vsa(p))
    FUZZ_CHECK(q->attributes == p.attributes);
}

void check_request(const packet& original, const std::string& secret) {
  const auto& formats = ispflow_fuzz::mixed_formats();
  packet p = original;
  auto wire = encode_request(p, secret, formats);
  if (!wire)
    return;
  FUZZ_CHECK(!secret.empty() && is_request(original.code));
  FUZZ_CHECK(verify_request(*wire, secret, true) == verify_result::ok);
  FUZZ_CHECK(verify_request(*wire, secret + "x", false) != verify_result::ok);
  FUZZ_CHECK(p.attributes.front().type == attr::message_authenticator);
  auto q = decode(*wire, formats);
  FUZZ_CHECK(q);
  FUZZ_CHECK(q->auth == p.auth);
  if (!has_raw_vsa(p))
    FUZZ_CHECK(q->attributes == p.attributes);
  if (original.code != code::access_request)
    return;
  auto given = original.find(attr::user_password);
  auto sent = q->find(attr::user_password);
  FUZZ_CHECK((given == nullptr) == (sent == nullptr));
  if (given == nullptr)
    return;
  auto clear = unhide_password(sent->value, secret, q->auth);
  FUZZ_CHECK(clear);
  auto expected = given->as_text();
  while (!expected.empty() && expected.back() == '\0')
    expected.pop_back();
  FUZZ_CHECK(*clear == expected);
}

void check_response(const packet& original, const std::string& secret) {
  const auto& formats = ispflow_fuzz::mixed_formats();
  packet p = original;
  authenticator request_auth = original.auth;
  request_auth[0] ^= 0xa5;
  auto wire = encode_response(p, request_auth, secret, formats);
  if (!wire)
    return;
  FUZZ_CHECK(!secret.empty());
  FUZZ_CHECK(verify_response(*wire, request_auth, secret, true, false)
             == verify_result::ok);
  auto q = decode(*wire, formats);
  FUZZ_CHECK(q);
  if (!has_raw_vsa(p))
    FUZZ_CHECK(q->attributes == p.attributes);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  reader in{data, size};
  std::string secret;
  auto p = build(in, secret);
  check_raw(p);
  check_request(p, secret);
  check_response(p, secret);
  return 0;
}
