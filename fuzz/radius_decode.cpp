// Fuzz target: the RADIUS decoder and authenticator checks on arbitrary
// bytes (adapters/radius/protocol/packet.*).
//
// Input format: the input is one datagram as received (so captured packets
// are seeds as they are). It is decoded with the default vendor format and
// with a mix of formats (fuzz/radius_formats.hpp), and checked with
// verify_request / verify_response; a User-Password is unhidden.
//
// Properties checked besides "no crash, no leak, no UB":
// - decoding accepts exactly the well-framed datagrams (20..4096 bytes
//   declared, attributes tiling the declared length);
// - a decoded packet re-encodes (encode_raw) unless it grows past 4096
//   bytes, and decodes again to the same packet;
// - without vendor attributes the re-encoding is the datagram itself (up
//   to its Length field).

#include "adapters/radius/protocol/packet.hpp"
#include "fuzz/fuzz_check.hpp"
#include "fuzz/radius_formats.hpp"

#include <algorithm>
#include <span>
#include <vector>

namespace {

using namespace ispflow::adapters::radius;

// Independent of the codec: the header declares 20..4096 bytes, no more than
// received, and the attributes tile the declared length.
bool well_framed(std::span<const uint8_t> wire) {
  if (wire.size() < 20)
    return false;
  size_t len = (size_t{wire[2]} << 8) | wire[3];
  if (len < 20 || len > 4096 || len > wire.size())
    return false;
  size_t pos = 20;
  while (pos < len) {
    if (len - pos < 2 || wire[pos + 1] < 2 || wire[pos + 1] > len - pos)
      return false;
    pos += wire[pos + 1];
  }
  return true;
}

void check_decode(std::span<const uint8_t> wire,
                  const vendor_format_fn& formats) {
  auto p = decode(wire, formats);
  FUZZ_CHECK(static_cast<bool>(p) == well_framed(wire));
  if (!p)
    return;
  size_t len = (size_t{wire[2]} << 8) | wire[3];
  auto again = encode_raw(*p, formats);
  if (!again) {
    // Only a Vendor-Specific attribute split into several may grow it.
    bool has_vendor
      = std::any_of(p->attributes.begin(), p->attributes.end(),
                    [](const attribute& a) { return a.vendor != 0; });
    FUZZ_CHECK(has_vendor);
    return;
  }
  auto q = decode(*again, formats);
  FUZZ_CHECK(q);
  FUZZ_CHECK(q->code == p->code && q->identifier == p->identifier);
  FUZZ_CHECK(q->auth == p->auth);
  FUZZ_CHECK(q->attributes == p->attributes);
  bool plain = std::none_of(p->attributes.begin(), p->attributes.end(),
                            [](const attribute& a) { return a.vendor != 0; });
  if (plain)
    FUZZ_CHECK(std::equal(again->begin(), again->end(), wire.begin(),
                          wire.begin() + static_cast<ptrdiff_t>(len)));
  if (auto* pw = p->find(attr::user_password))
    (void) unhide_password(pw->value, "testing123", p->auth);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> wire{data, size};
  check_decode(wire, {});
  check_decode(wire, ispflow_fuzz::mixed_formats());
  authenticator request_auth{};
  request_auth.fill(0x5a);
  for (bool require : {false, true}) {
    auto r = verify_request(wire, "testing123", require);
    if (r != verify_result::malformed)
      FUZZ_CHECK(well_framed(wire) && wire.size() <= 4096);
    (void) verify_response(wire, request_auth, "testing123", require, true);
  }
  return 0;
}
