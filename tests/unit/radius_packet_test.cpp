#include "adapters/radius/protocol/error_cause.hpp"
#include "adapters/radius/protocol/packet.hpp"

#include <gtest/gtest.h>
#include <string>
#include <vector>

using namespace ispflow::adapters::radius;

namespace {

std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(
      std::stoul(std::string{hex.substr(i, 2)}, nullptr, 16)));
  return out;
}

authenticator auth_of(const std::vector<uint8_t>& wire) {
  authenticator a{};
  std::copy_n(wire.begin() + 4, 16, a.begin());
  return a;
}

// RFC 2865 §7.1: Access-Request from NAS 192.168.1.16 for user nemo,
// password "arctangent", shared secret "xyzzy5461", and its Access-Accept.
const char* rfc2865_request
  = "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413"
    "ce3196e43f782a0aee0406c0a8011005060000000300";
const char* rfc2865_accept
  = "0200002686fe220e7624ba2a1005f6bf9b55e0b2060600000001"
    "0f06000000000e06c0a80103";

// Computed independently with Python's hashlib/hmac (secret "testing123"):
// Disconnect-Request Id 7 with Message-Authenticator first, User-Name
// "alice", Acct-Session-Id "sess-1", NAS-IP-Address 10.0.0.1; an ACK and a
// NAK (Error-Cause 503) to it.
const char* py_disconnect
  = "2807003b159f82442bdc325b733de2c502f635af5012507840226ad9b965f769ca541f"
    "549baf0107616c6963652c08736573732d3104060a000001";
const char* py_ack = "2907002666bebbc587a73c310071cc8a4956902f50127d5af36c22"
                     "30f63420411c6f765c1654";
const char* py_nak = "2a07002c0c706050e5bedab857397147eda5e329501214ad7cdde8"
                     "9a132893d3fdd7d5f222816506000001f7";

} // namespace

TEST(radius_packet,
     decodes_the_rfc2865_access_request_and_unhides_the_password) {
  auto wire = from_hex(rfc2865_request);
  wire.pop_back();
  auto p = decode(wire);
  ASSERT_TRUE(p) << to_string(p.error());
  EXPECT_EQ(p->code, code::access_request);
  EXPECT_EQ(p->identifier, 0);
  ASSERT_EQ(p->attributes.size(), 4u);
  EXPECT_EQ(p->find(attr::user_name)->as_text(), "nemo");
  EXPECT_EQ(p->find(attr::nas_ip_address)->as_ipv4(), "192.168.1.16");
  EXPECT_EQ(p->find(attr::nas_port)->as_u32(), 3u);
  auto pw = unhide_password(p->find(attr::user_password)->value, "xyzzy5461",
                            p->auth);
  ASSERT_TRUE(pw);
  EXPECT_EQ(*pw, "arctangent");
}

TEST(radius_packet, hides_the_rfc2865_password_to_the_same_bytes) {
  auto wire = from_hex(rfc2865_request);
  auto p = decode(wire);
  ASSERT_TRUE(p);
  auto hidden = hide_password("arctangent", "xyzzy5461", p->auth);
  ASSERT_TRUE(hidden);
  EXPECT_EQ(*hidden, p->find(attr::user_password)->value);
}

TEST(radius_packet, verifies_the_rfc2865_response_authenticator) {
  auto req = from_hex(rfc2865_request);
  req.pop_back();
  auto accept = from_hex(rfc2865_accept);
  EXPECT_EQ(verify_response(accept, auth_of(req), "xyzzy5461", false),
            verify_result::ok);
  EXPECT_EQ(verify_response(accept, auth_of(req), "wrong", false),
            verify_result::bad_authenticator);
  EXPECT_EQ(verify_response(accept, auth_of(req), "xyzzy5461", true),
            verify_result::missing_message_authenticator);
  accept.back() ^= 1;
  EXPECT_EQ(verify_response(accept, auth_of(req), "xyzzy5461", false),
            verify_result::bad_authenticator);
}

TEST(
  radius_packet,
  encodes_a_disconnect_request_byte_for_byte_like_an_independent_implementation) {
  packet p;
  p.code = code::disconnect_request;
  p.identifier = 7;
  p.add(attribute::text(attr::user_name, "alice"));
  p.add(attribute::text(attr::acct_session_id, "sess-1"));
  p.add(*attribute::ipv4(attr::nas_ip_address, "10.0.0.1"));
  auto wire = encode_request(p, "testing123");
  ASSERT_TRUE(wire);
  EXPECT_EQ(*wire, from_hex(py_disconnect));
  EXPECT_EQ(p.attributes.front().type, attr::message_authenticator);
  EXPECT_EQ(p.auth, auth_of(*wire));
  EXPECT_EQ(verify_request(*wire, "testing123", true), verify_result::ok);
}

TEST(radius_packet, encodes_ack_and_nak_like_an_independent_implementation) {
  auto req = from_hex(py_disconnect);
  packet ack;
  ack.code = code::disconnect_ack;
  ack.identifier = 7;
  auto a = encode_response(ack, auth_of(req), "testing123");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, from_hex(py_ack));
  packet nak;
  nak.code = code::disconnect_nak;
  nak.identifier = 7;
  nak.add(attribute::u32(attr::error_cause, 503));
  auto n = encode_response(nak, auth_of(req), "testing123");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, from_hex(py_nak));
  EXPECT_EQ(verify_response(*n, auth_of(req), "testing123"), verify_result::ok);
}

TEST(radius_packet, rejects_a_reply_whose_message_authenticator_was_tampered) {
  auto req = from_hex(py_disconnect);
  auto ack = from_hex(py_ack);
  ack[25] ^= 0x40;
  // The Response Authenticator covers the attributes too, so recompute it the
  // way an attacker with an MD5 collision would and leave only the HMAC bad.
  auto forged = ack;
  std::copy(req.begin() + 4, req.begin() + 20, forged.begin() + 4);
  forged.insert(forged.end(),
                {'t', 'e', 's', 't', 'i', 'n', 'g', '1', '2', '3'});
  auto ra = md5(forged);
  std::copy(ra.begin(), ra.end(), ack.begin() + 4);
  EXPECT_EQ(verify_response(ack, auth_of(req), "testing123"),
            verify_result::bad_message_authenticator);
}

TEST(radius_packet, rejects_a_request_with_a_bad_authenticator_or_hmac) {
  auto req = from_hex(py_disconnect);
  EXPECT_EQ(verify_request(req, "other", false),
            verify_result::bad_authenticator);
  auto bad = req;
  bad[30] ^= 1;
  EXPECT_EQ(verify_request(bad, "testing123", false),
            verify_result::bad_authenticator);
  EXPECT_EQ(verify_request(std::span{req}.first(19), "testing123", false),
            verify_result::malformed);
}

TEST(radius_packet, checks_message_authenticator_of_an_access_request) {
  packet p;
  p.code = code::access_request;
  p.identifier = 1;
  p.add(attribute::text(attr::user_name, "alice"));
  p.add(attribute::text(attr::user_password, "s3cret"));
  auto wire = encode_request(p, "testing123");
  ASSERT_TRUE(wire);
  EXPECT_EQ(verify_request(*wire, "testing123", true), verify_result::ok);
  EXPECT_EQ(verify_request(*wire, "nope", true),
            verify_result::bad_message_authenticator);
  auto back = decode(*wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->attributes.front().type, attr::message_authenticator);
  auto pw = unhide_password(back->find(attr::user_password)->value,
                            "testing123", back->auth);
  ASSERT_TRUE(pw);
  EXPECT_EQ(*pw, "s3cret");
  EXPECT_NE(back->auth, authenticator{});
}

TEST(radius_packet, encoding_puts_one_message_authenticator_first) {
  // A caller's own Message-Authenticator, anywhere, is replaced by the one
  // computed: first, alone; the header fields and the other attributes are
  // sent as given, in order.
  attribute stale;
  stale.type = attr::message_authenticator;
  stale.value.assign(16, 0xaa);
  packet req;
  req.code = code::coa_request;
  req.identifier = 200;
  req.add(attribute::text(attr::user_name, "alice"));
  req.add(stale);
  req.add(attribute::text(26, "x", 14988));
  req.add(attribute::u32(attr::error_cause, 503));
  auto given = req;
  auto wire = encode_request(req, "testing123");
  ASSERT_TRUE(wire);
  EXPECT_EQ(verify_request(*wire, "testing123", true), verify_result::ok);
  auto back = decode(*wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->code, code::coa_request);
  EXPECT_EQ(back->identifier, 200);
  EXPECT_EQ(back->attributes, req.attributes);
  ASSERT_EQ(req.attributes.size(), 4u);
  EXPECT_EQ(req.attributes[0].type, attr::message_authenticator);
  EXPECT_NE(req.attributes[0].value, stale.value);
  EXPECT_EQ(req.attributes[1], given.attributes[0]);
  EXPECT_EQ(req.attributes[2], given.attributes[2]);
  EXPECT_EQ(req.attributes[3], given.attributes[3]);

  packet ack;
  ack.code = code::coa_ack;
  ack.identifier = 200;
  ack.add(stale);
  ack.add(attribute::u32(attr::error_cause, 201));
  auto a = encode_response(ack, auth_of(*wire), "testing123");
  ASSERT_TRUE(a);
  EXPECT_EQ(verify_response(*a, auth_of(*wire), "testing123", true),
            verify_result::ok);
  auto ack_back = decode(*a);
  ASSERT_TRUE(ack_back);
  EXPECT_EQ(ack_back->code, code::coa_ack);
  EXPECT_EQ(ack_back->identifier, 200);
  EXPECT_EQ(ack_back->attributes, ack.attributes);
  ASSERT_EQ(ack.attributes.size(), 2u);
  EXPECT_EQ(ack.attributes[0].type, attr::message_authenticator);
  EXPECT_EQ(ack.attributes[1].as_u32(), 201u);
}

TEST(radius_packet, round_trips_vendor_attributes_with_vendor_formats) {
  packet p;
  p.code = code::coa_request;
  p.identifier = 200;
  p.add(attribute::text(8, "10M/25M", 14988));
  p.add(attribute::text(1, "ip:sub-qos-policy-in=gold", 9));
  p.add(attribute::u32(300, 7, 8164));
  vendor_format_fn formats = [](uint32_t v) {
    return v == 8164 ? vendor_format{2, 2} : vendor_format{};
  };
  auto wire = encode_request(p, "s", formats);
  ASSERT_TRUE(wire);
  auto back = decode(*wire, formats);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->attributes, p.attributes);
  EXPECT_EQ(back->find(8, 14988)->as_text(), "10M/25M");
  // Without the format, the 2,2 vendor's VSA does not parse as 1,1 and is
  // kept whole as a Vendor-Specific attribute.
  auto raw = decode(*wire);
  ASSERT_TRUE(raw);
  EXPECT_NE(raw->find(attr::vendor_specific), nullptr);
}

TEST(radius_packet, decodes_several_sub_attributes_of_one_vendor_specific) {
  std::vector<uint8_t> wire = {43, 1, 0, 0};
  wire.resize(20, 0);
  std::vector<uint8_t> vsa = {26,  16,  0,   0, 0x3a, 0x8c, 8,   5,
                              'a', 'b', 'c', 1, 5,    'x',  'y', 'z'};
  wire.insert(wire.end(), vsa.begin(), vsa.end());
  wire[3] = static_cast<uint8_t>(wire.size());
  auto p = decode(wire);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->attributes.size(), 2u);
  EXPECT_EQ(p->attributes[0].vendor, 14988u);
  EXPECT_EQ(p->attributes[0].as_text(), "abc");
  EXPECT_EQ(p->attributes[1].type, 1u);
}

TEST(radius_packet, rejects_bad_lengths_with_a_clear_error) {
  std::vector<uint8_t> wire(20, 0);
  wire[0] = 40;
  wire[3] = 20;
  EXPECT_TRUE(decode(wire));
  wire[3] = 19;
  auto short_len = decode(wire);
  ASSERT_FALSE(short_len);
  EXPECT_NE(to_string(short_len.error()).find("outside 20..4096"),
            std::string::npos);
  wire[3] = 30;
  auto long_len = decode(wire);
  ASSERT_FALSE(long_len);
  EXPECT_NE(to_string(long_len.error()).find("exceeds"), std::string::npos);
  wire.insert(wire.end(), {1, 1});
  wire[3] = 22;
  auto zero = decode(wire);
  ASSERT_FALSE(zero);
  EXPECT_NE(to_string(zero.error()).find("minimum 2"), std::string::npos);
  wire[21] = 9;
  auto past = decode(wire);
  ASSERT_FALSE(past);
  EXPECT_NE(to_string(past.error()).find("runs past"), std::string::npos);
  EXPECT_FALSE(decode(std::span{wire}.first(5)));
}

TEST(radius_packet, refuses_to_encode_oversized_values_and_packets) {
  packet p;
  p.code = code::coa_request;
  p.add(attribute::text(attr::user_name, std::string(254, 'a')));
  EXPECT_FALSE(encode_raw(p));
  p.attributes.clear();
  for (int i = 0; i < 20; ++i)
    p.add(attribute::text(attr::class_, std::string(250, 'a')));
  EXPECT_FALSE(encode_raw(p));
  packet v;
  v.add(attribute::text(1, std::string(248, 'a'), 14988));
  EXPECT_FALSE(encode_raw(v));
  EXPECT_FALSE(hide_password(std::string(129, 'p'), "s", authenticator{}));
}

TEST(radius_packet, ignores_octets_past_the_length_field) {
  auto wire = from_hex(rfc2865_request);
  auto p = decode(wire);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->attributes.size(), 4u);
}

TEST(radius_packet, names_error_causes) {
  EXPECT_EQ(to_string(error_cause::session_context_not_found),
            "Session-Context-Not-Found");
  EXPECT_EQ(error_cause_from(401), error_cause::unsupported_attribute);
  EXPECT_EQ(error_cause_from(999), std::nullopt);
  EXPECT_TRUE(is_success(error_cause::residual_context_removed));
  EXPECT_FALSE(is_success(error_cause::invalid_request));
}

TEST(radius_packet,
     hides_a_two_block_password_like_an_independent_implementation) {
  auto req = from_hex(rfc2865_request);
  auto hidden = hide_password("a-password-longer-than-16", "xyzzy5461",
                              auth_of(req));
  ASSERT_TRUE(hidden);
  EXPECT_EQ(*hidden, from_hex("0de1639881c903c42d86c95317446d8b556b52523cc043"
                              "1b2684567f9e0ef732"));
  auto back = unhide_password(*hidden, "xyzzy5461", auth_of(req));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, "a-password-longer-than-16");
}

TEST(radius_packet, verifies_a_disconnect_ack_captured_from_freeradius_3_2_1) {
  // Request built like py_disconnect but with Id 9 and NAS-IP 127.0.0.1;
  // the ACK is what FreeRADIUS 3.2.1's coa listener returned for it. Its
  // Message-Authenticator is computed over a zeroed authenticator.
  packet p;
  p.code = code::disconnect_request;
  p.identifier = 9;
  p.add(attribute::text(attr::user_name, "alice"));
  p.add(attribute::text(attr::acct_session_id, "sess-1"));
  p.add(*attribute::ipv4(attr::nas_ip_address, "127.0.0.1"));
  ASSERT_TRUE(encode_request(p, "testing123"));
  auto ack = from_hex("29090026a6a932b3415b6ede387f482f90a23f87501268c68d2b"
                      "e841465ce1627917a7c8f700");
  EXPECT_EQ(verify_response(ack, p.auth, "testing123"), verify_result::ok);
  EXPECT_EQ(verify_response(ack, p.auth, "testing123", true, false),
            verify_result::bad_message_authenticator);
  auto other = p.auth;
  other[0] ^= 1;
  EXPECT_EQ(verify_response(ack, other, "testing123"),
            verify_result::bad_authenticator);
}
