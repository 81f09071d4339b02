#include "common/hex.hpp"

#include <gtest/gtest.h>
#include <string>

// Hex text of bytes and back (common/hex.hpp).

using namespace ispflow::common;

TEST(common_hex, encodes_every_byte_as_two_lower_case_digits) {
  EXPECT_EQ(hex_encode(""), "");
  EXPECT_EQ(hex_encode(std::string{"\x00\x0f\xa0\xff", 4}), "000fa0ff");
  EXPECT_EQ(hex_encode("Az"), "417a");
}

TEST(common_hex, decodes_either_case_back_to_the_same_bytes) {
  std::string all;
  for (int c = 0; c < 256; ++c)
    all += static_cast<char>(c);
  auto text = hex_encode(all);
  EXPECT_EQ(text.size(), 512u);
  EXPECT_EQ(hex_decode(text), all);
  std::string upper = text;
  for (auto& c : upper)
    if (c >= 'a' && c <= 'f')
      c = static_cast<char>(c - 'a' + 'A');
  EXPECT_EQ(hex_decode(upper), all);
  EXPECT_EQ(hex_decode(""), std::string{});
}

TEST(common_hex, refuses_an_odd_length_or_a_character_that_is_not_hex) {
  EXPECT_EQ(hex_decode("abc"), std::nullopt);
  for (const char* bad : {"0g", "g0", " 0", "0x", "-1", "zz00"})
    EXPECT_EQ(hex_decode(bad), std::nullopt) << bad;
  EXPECT_EQ(hex_digit('/'), -1);
  EXPECT_EQ(hex_digit(':'), -1);
  EXPECT_EQ(hex_digit('@'), -1);
  EXPECT_EQ(hex_digit('G'), -1);
  EXPECT_EQ(hex_digit('`'), -1);
  EXPECT_EQ(hex_digit('g'), -1);
  EXPECT_EQ(hex_digit('9'), 9);
  EXPECT_EQ(hex_digit('F'), 15);
}
