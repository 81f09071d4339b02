// Sealed credentials (common/seal.hpp): AES-256-GCM bound to (tenant,
// subscriber, username), key ids for rotation, key file parsing.

#include "common/seal.hpp"
#include "events/errc.hpp"

#include <caf/error.hpp>
#include <gtest/gtest.h>

namespace {

using ispflow::common::keyring;
using ispflow::common::seal_binding;

const std::string key_a(32, 'a');
const std::string key_b(32, 'b');
const seal_binding alice{"demo", "s01", "s01@demo.example"};

std::shared_ptr<const keyring> ring(std::vector<std::string> keys) {
  auto r = keyring::make(std::move(keys));
  EXPECT_TRUE(r) << to_string(r.error());
  return r ? *r : nullptr;
}

TEST(common_seal, a_sealed_password_opens_to_itself) {
  auto r = ring({key_a});
  auto sealed = r->seal("pa55:word", alice);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->rfind("v1:" + r->sealing_key_id() + ":", 0), 0u);
  EXPECT_EQ(sealed->find("pa55"), std::string::npos);
  EXPECT_EQ(ispflow::common::sealed_key_id(*sealed), r->sealing_key_id());
  EXPECT_TRUE(r->has_key_for(*sealed));
  auto opened = r->open(*sealed, alice);
  ASSERT_TRUE(opened) << to_string(opened.error());
  EXPECT_EQ(*opened, "pa55:word");
}

TEST(common_seal, each_seal_takes_a_fresh_nonce) {
  auto r = ring({key_a});
  auto one = r->seal("secret", alice);
  auto two = r->seal("secret", alice);
  ASSERT_TRUE(one && two);
  EXPECT_NE(*one, *two);
}

TEST(common_seal, the_key_id_is_the_first_8_bytes_of_sha256_of_the_key) {
  // SHA-256 of 32 'a' bytes starts 3ba3f5f43b926026.
  EXPECT_EQ(ring({key_a})->sealing_key_id(), "3ba3f5f43b926026");
}

TEST(common_seal, a_blob_of_an_unknown_key_does_not_open) {
  auto sealed = ring({key_a})->seal("secret", alice);
  ASSERT_TRUE(sealed);
  auto other = ring({key_b});
  EXPECT_FALSE(other->has_key_for(*sealed));
  auto opened = other->open(*sealed, alice);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), ispflow::errc::invalid_input);
  EXPECT_NE(to_string(opened.error()).find("not configured"),
            std::string::npos);
}

TEST(common_seal, a_blob_naming_another_key_id_does_not_open) {
  auto r = ring({key_a, key_b});
  auto sealed = r->seal("secret", alice);
  ASSERT_TRUE(sealed);
  // The id of key b on a blob sealed with key a.
  auto ids = r->key_ids();
  ASSERT_EQ(ids.size(), 2u);
  auto forged = *sealed;
  forged.replace(3, 16, ids[1]);
  EXPECT_TRUE(r->has_key_for(forged));
  EXPECT_FALSE(r->open(forged, alice));
}

TEST(common_seal, a_tampered_blob_does_not_open) {
  auto r = ring({key_a});
  auto sealed = r->seal("secret", alice);
  ASSERT_TRUE(sealed);
  auto body = sealed->rfind(':') + 1;
  auto flipped = *sealed;
  flipped[body] = flipped[body] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(r->open(flipped, alice));
  auto nonce = *sealed;
  nonce[3 + 16 + 1] = nonce[3 + 16 + 1] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(r->open(nonce, alice));
  for (const std::string& bad : std::vector<std::string>{
         "", "v1", "v2:" + sealed->substr(3), sealed->substr(0, body),
         *sealed + ":x", *sealed + "=", "v1:0011:AAAA:AAAA"})
    EXPECT_FALSE(r->open(bad, alice)) << bad;
}

TEST(common_seal, a_blob_opens_only_for_the_account_it_was_sealed_for) {
  auto r = ring({key_a});
  auto sealed = r->seal("secret", alice);
  ASSERT_TRUE(sealed);
  EXPECT_FALSE(r->open(*sealed, {"demo", "s02", "s01@demo.example"}));
  EXPECT_FALSE(r->open(*sealed, {"acme", "s01", "s01@demo.example"}));
  EXPECT_FALSE(r->open(*sealed, {"demo", "s01", "s02@demo.example"}));
  // The fields are length-prefixed: moving a character across does not
  // match.
  EXPECT_FALSE(r->open(*sealed, {"demos", "01", "s01@demo.example"}));
}

TEST(common_seal, after_a_rotation_the_old_key_still_opens_when_listed_second) {
  auto old_ring = ring({key_a});
  auto sealed = old_ring->seal("secret", alice);
  ASSERT_TRUE(sealed);
  auto rotated = ring({key_b, key_a});
  EXPECT_NE(rotated->sealing_key_id(), old_ring->sealing_key_id());
  auto opened = rotated->open(*sealed, alice);
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, "secret");
  // New seals use the new key, which the old ring cannot open.
  auto fresh = rotated->seal("secret", alice);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(ispflow::common::sealed_key_id(*fresh), rotated->sealing_key_id());
  EXPECT_FALSE(old_ring->open(*fresh, alice));
}

TEST(common_seal, key_files_hold_hex_or_base64_of_32_bytes) {
  auto hex = keyring::parse_key(
    "6161616161616161616161616161616161616161616161616161616161616161");
  ASSERT_TRUE(hex);
  EXPECT_EQ(*hex, key_a);
  auto b64 = keyring::parse_key("YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=");
  ASSERT_TRUE(b64);
  EXPECT_EQ(*b64, key_a);
  auto short_b64 = keyring::parse_key("YWFhYQ==");
  ASSERT_FALSE(short_b64);
  EXPECT_NE(to_string(short_b64.error()).find("4 bytes"), std::string::npos);
  auto junk = keyring::parse_key("correct horse battery staple");
  ASSERT_FALSE(junk);
  EXPECT_EQ(to_string(junk.error()).find("horse"), std::string::npos);
  EXPECT_FALSE(keyring::parse_key("616161"));
}

TEST(common_seal, a_keyring_needs_distinct_32_byte_keys) {
  EXPECT_FALSE(keyring::make({}));
  EXPECT_FALSE(keyring::make({std::string(16, 'a')}));
  auto twice = keyring::make({key_a, key_b, key_a});
  ASSERT_FALSE(twice);
  EXPECT_NE(to_string(twice.error()).find("key 3 is the same key as key 1"),
            std::string::npos);
}

} // namespace
