// The text the saga store and the intake store send to PostgreSQL: JSON
// strings, COPY text fields and base64 (adapters/postgres/codec.hpp). The
// encoders copy runs of plain bytes in one piece; these cases put every
// kind of byte that is not plain at the start, in the middle and at the
// end of a run.
#include "adapters/postgres/codec.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <string>

namespace {

namespace pg = ispflow::adapters::postgres::detail;
using namespace std::string_literals;

const std::string replacement = "\xEF\xBF\xBD"; // U+FFFD

std::string json_text(std::string_view s) {
  std::string out = "prefix:";
  pg::append_json_text(out, s);
  return out;
}

std::string copy_text(std::string_view s) {
  std::string out = "prefix:";
  pg::append_copy_text(out, s);
  return out;
}

TEST(postgres_codec, json_text_escapes_what_json_requires_and_keeps_the_rest) {
  EXPECT_EQ(json_text(""), R"(prefix:"")");
  EXPECT_EQ(json_text("plain text, 100% {ok}"),
            R"(prefix:"plain text, 100% {ok}")");
  EXPECT_EQ(json_text(R"("quoted" and \back\)"),
            R"(prefix:"\"quoted\" and \\back\\")");
  EXPECT_EQ(json_text("a\nb\rc\td"), R"(prefix:"a\nb\rc\td")");
  EXPECT_EQ(json_text("\x01x\x1f"), R"(prefix:"\u0001x\u001f")");
  EXPECT_EQ(json_text("del\x7f"), "prefix:\"del\x7f\"");
  EXPECT_EQ(json_text("\"\"\n\\"), R"(prefix:"\"\"\n\\")");
}

TEST(postgres_codec, text_keeps_valid_utf8_and_replaces_nul_and_invalid_bytes) {
  // Two-, three- and four-byte sequences, between plain bytes and at the
  // ends.
  const std::string utf8 = "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC 5 \xF0\x9F\x98\x80";
  EXPECT_EQ(json_text(utf8), "prefix:\"" + utf8 + "\"");
  EXPECT_EQ(copy_text(utf8), "prefix:" + utf8);

  EXPECT_EQ(json_text("a\0b"s), "prefix:\"a" + replacement + "b\"");
  EXPECT_EQ(copy_text("\0"s), "prefix:" + replacement);
  // A lone continuation byte, a lead byte followed by ASCII, a truncated
  // sequence at the end, an overlong form and a surrogate: one U+FFFD per
  // byte that starts no valid sequence.
  EXPECT_EQ(json_text("x\x80y"), "prefix:\"x" + replacement + "y\"");
  EXPECT_EQ(json_text("\xC3("), "prefix:\"" + replacement + "(\"");
  EXPECT_EQ(json_text("end\xE2\x82"),
            "prefix:\"end" + replacement + replacement + "\"");
  EXPECT_EQ(json_text("\xC0\xAF"),
            "prefix:\"" + replacement + replacement + "\"");
  EXPECT_EQ(copy_text("\xED\xA0\x80!"),
            "prefix:" + replacement + replacement + replacement + "!");
}

TEST(postgres_codec, copy_text_escapes_backslash_and_line_breaks_only) {
  EXPECT_EQ(copy_text(""), "prefix:");
  EXPECT_EQ(copy_text(R"({"key":"v\"q"})"), R"(prefix:{"key":"v\\"q"})");
  EXPECT_EQ(copy_text("a\tb\nc\rd\\"), R"(prefix:a\tb\nc\rd\\)");
  EXPECT_EQ(copy_text("\\\\"), R"(prefix:\\\\)");
  EXPECT_EQ(copy_text("\x01\x7f"), "prefix:\x01\x7f");
}

TEST(postgres_codec, json_text_of_every_byte_reads_back_as_the_cleaned_text) {
  // Every byte value in runs of plain text: RapidJSON reads back the
  // input with NUL and the bytes above 0x7F (none forms a valid sequence
  // here) as U+FFFD.
  std::string in;
  std::string expected;
  for (int b = 0; b < 256; ++b) {
    in += "ab";
    in += static_cast<char>(b);
    expected += "ab";
    if (b == 0 || b >= 0x80)
      expected += replacement;
    else
      expected += static_cast<char>(b);
  }
  std::string out;
  pg::append_json_text(out, in);
  rapidjson::Document doc;
  doc.Parse(out.data(), out.size());
  ASSERT_FALSE(doc.HasParseError()) << out;
  ASSERT_TRUE(doc.IsString());
  EXPECT_EQ(std::string(doc.GetString(), doc.GetStringLength()), expected);
}

TEST(postgres_codec, base64_matches_the_rfc_vectors_and_round_trips) {
  // RFC 4648, section 10.
  const std::pair<const char*, const char*> vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
  };
  for (auto [in, want] : vectors) {
    std::string out = "x";
    pg::append_base64(out, in);
    EXPECT_EQ(out, std::string{"x"} + want) << in;
  }
  std::string all;
  for (int b = 0; b < 256; ++b)
    all += static_cast<char>(b);
  for (size_t n = 0; n <= 5; ++n) {
    auto bytes = all.substr(n, all.size() - n);
    std::string enc;
    pg::append_base64(enc, bytes);
    auto back = pg::decode_base64(enc);
    ASSERT_TRUE(back) << n;
    EXPECT_EQ(*back, bytes) << n;
  }
}

TEST(postgres_codec, clean_text_is_valid_utf8_without_nul) {
  EXPECT_TRUE(pg::is_clean_text(""));
  EXPECT_TRUE(pg::is_clean_text("ascii \x01\x7f"));
  EXPECT_TRUE(pg::is_clean_text("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_FALSE(pg::is_clean_text("a\0b"s));
  EXPECT_FALSE(pg::is_clean_text("\x80"));
  EXPECT_FALSE(pg::is_clean_text("ok\xE2\x82"));
  EXPECT_FALSE(pg::is_clean_text("\xED\xA0\x80"));
}

} // namespace
