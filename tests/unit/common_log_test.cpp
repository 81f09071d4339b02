#include "common/log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using ispflow::common::log;
using ispflow::common::log_enabled;
using ispflow::common::log_format;
using ispflow::common::log_level;
using ispflow::common::log_settings;
using ispflow::common::redact_dsn;
using ispflow::common::redacted;
using ispflow::common::setup_logging;
using testing::HasSubstr;
using testing::MatchesRegex;
using testing::Not;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in{s};
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// Captures log output for one test and restores stderr logging afterwards.
struct log_capture : testing::Test {
  void use(log_format format, log_level level = log_level::trace) {
    setup_logging(log_settings{level, format}, out);
  }

  void TearDown() override {
    setup_logging(log_settings{});
  }

  std::vector<std::string> lines() const {
    return lines_of(out.str());
  }

  std::ostringstream out;
};

/// Parses one line; fails the test if it is not a JSON object.
rapidjson::Document parse(const std::string& line) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.data(), line.size());
  EXPECT_FALSE(doc.HasParseError()) << "not JSON: " << line;
  EXPECT_TRUE(doc.IsObject()) << line;
  return doc;
}

std::string member(const rapidjson::Document& doc, const char* name) {
  if (!doc.IsObject() || !doc.HasMember(name) || !doc[name].IsString()) {
    ADD_FAILURE() << "missing string member " << name;
    return {};
  }
  return {doc[name].GetString(), doc[name].GetStringLength()};
}

} // namespace

// -- JSON lines ---------------------------------------------------------------

TEST_F(log_capture, json_line_has_timestamp_level_logger_message_and_fields) {
  use(log_format::json);
  std::string tenant = "demo";
  log(log_level::info, "intake", "event recorded",
      {{"tenant", tenant}, {"subscriber", "sub-1"}, {"event_id", "e-42"}});
  auto ls = lines();
  ASSERT_EQ(ls.size(), 1u);
  auto doc = parse(ls[0]);
  EXPECT_THAT(member(doc, "ts"),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                           "[0-9]{2}\\.[0-9]{3}Z"));
  EXPECT_EQ(member(doc, "level"), "info");
  EXPECT_EQ(member(doc, "logger"), "intake");
  EXPECT_EQ(member(doc, "msg"), "event recorded");
  EXPECT_EQ(member(doc, "tenant"), "demo");
  EXPECT_EQ(member(doc, "subscriber"), "sub-1");
  EXPECT_EQ(member(doc, "event_id"), "e-42");
  EXPECT_EQ(doc.MemberCount(), 7u);
  EXPECT_EQ(ls[0].rfind("{\"ts\":", 0), 0u) << "ts comes first";
}

TEST_F(log_capture, json_escapes_quotes_backslashes_and_control_characters) {
  use(log_format::json);
  std::string nasty = "a\"b\\c\nd\te\x01"
                      "f\x7f";
  log(log_level::warn, "store", nasty, {{"k\"ey", nasty}});
  auto ls = lines();
  ASSERT_EQ(ls.size(), 1u) << "a newline in a value must not split the line";
  EXPECT_THAT(ls[0], HasSubstr("\\u0001"));
  EXPECT_THAT(ls[0], HasSubstr("\\n"));
  auto doc = parse(ls[0]);
  EXPECT_EQ(member(doc, "level"), "warn");
  EXPECT_EQ(member(doc, "msg"), nasty);
  EXPECT_EQ(member(doc, "k\"ey"), nasty);
}

TEST_F(log_capture, json_keeps_utf8_and_replaces_invalid_bytes) {
  use(log_format::json);
  log(log_level::info, "intake", "caf\xC3\xA9 \xE2\x82\xAC",
      {{"raw", "ok\xFF\xC3"}});
  auto ls = lines();
  ASSERT_EQ(ls.size(), 1u);
  auto doc = parse(ls[0]);
  EXPECT_EQ(member(doc, "msg"), "caf\xC3\xA9 \xE2\x82\xAC");
  EXPECT_EQ(member(doc, "raw"), "ok\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_F(log_capture, secrets_are_written_as_stars) {
  use(log_format::json);
  std::string password = "hunter2";
  log(log_level::error, "postgres", "connect failed",
      {{"password", redacted(password)}, {"user", "postgres"}});
  auto ls = lines();
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_THAT(ls[0], Not(HasSubstr("hunter2")));
  auto doc = parse(ls[0]);
  EXPECT_EQ(member(doc, "password"), "***");
  EXPECT_EQ(member(doc, "user"), "postgres");
  EXPECT_EQ(member(doc, "level"), "error");
}

TEST_F(log_capture, level_shorthands_write_their_level) {
  use(log_format::json);
  ispflow::common::log_trace("m", "t");
  ispflow::common::log_debug("m", "d");
  ispflow::common::log_info("m", "i", {{"k", "v"}});
  ispflow::common::log_warn("m", "w");
  ispflow::common::log_error("m", "e", {});
  auto ls = lines();
  ASSERT_EQ(ls.size(), 5u);
  const char* expected[] = {"trace", "debug", "info", "warn", "error"};
  for (size_t i = 0; i < 5; ++i)
    EXPECT_EQ(member(parse(ls[i]), "level"), expected[i]);
  EXPECT_EQ(member(parse(ls[2]), "k"), "v");
}

TEST_F(log_capture, lines_below_the_level_are_dropped) {
  use(log_format::json, log_level::warn);
  EXPECT_FALSE(log_enabled(log_level::info));
  EXPECT_TRUE(log_enabled(log_level::warn));
  log(log_level::debug, "intake", "dropped debug");
  log(log_level::info, "intake", "dropped info");
  log(log_level::warn, "intake", "kept warn");
  log(log_level::error, "intake", "kept error");
  auto ls = lines();
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(member(parse(ls[0]), "msg"), "kept warn");
  EXPECT_EQ(member(parse(ls[1]), "msg"), "kept error");
}

TEST_F(log_capture, concurrent_loggers_write_whole_lines) {
  use(log_format::json);
  constexpr int per_thread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      auto name = "module" + std::to_string(t);
      for (int i = 0; i < per_thread; ++i)
        log(log_level::info, name, "tick", {{"i", std::to_string(i)}});
    });
  for (auto& th : threads)
    th.join();
  auto ls = lines();
  ASSERT_EQ(ls.size(), 4u * per_thread);
  for (const auto& line : ls) {
    auto doc = parse(line);
    EXPECT_THAT(member(doc, "logger"), MatchesRegex("module[0-3]"));
  }
}

// -- text lines ---------------------------------------------------------------

TEST_F(log_capture, text_line_is_readable_with_quoted_fields) {
  use(log_format::text);
  log(log_level::info, "intake", "event recorded",
      {{"tenant", "demo"}, {"name", "Demo ISP"}, {"token", redacted("abc")}});
  auto ls = lines();
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_THAT(ls[0],
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z "
                           "INFO  intake: event recorded tenant=demo "
                           "name=\"Demo ISP\" token=\\*\\*\\*"));
}

TEST_F(log_capture, text_line_escapes_newlines) {
  use(log_format::text);
  log(log_level::warn, "store", "two\nlines", {{"v", "a\nb"}});
  auto ls = lines();
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_THAT(ls[0], HasSubstr("WARN  store: two\\nlines v=\"a\\nb\""));
}

// -- redact_dsn ---------------------------------------------------------------

TEST(redact_dsn, masks_an_unquoted_password) {
  EXPECT_EQ(redact_dsn("host=db password=s3cret user=u"),
            "host=db password=*** user=u");
}

TEST(redact_dsn, masks_a_quoted_password_with_escapes_and_spacing) {
  EXPECT_EQ(redact_dsn("host=db password = 'it\\'s a secret' dbname=x"),
            "host=db password = *** dbname=x");
  EXPECT_EQ(redact_dsn("password='unterminated secret"), "password=***");
}

TEST(redact_dsn, keeps_dsns_without_password_unchanged) {
  EXPECT_EQ(
    redact_dsn("host=127.0.0.1 port=55432 user=postgres dbname=ispflow"),
    "host=127.0.0.1 port=55432 user=postgres dbname=ispflow");
  EXPECT_EQ(redact_dsn("application_name='password=no' host=x"),
            "application_name='password=no' host=x");
  EXPECT_EQ(redact_dsn("postgresql://user@host/db"),
            "postgresql://user@host/db");
}

TEST(redact_dsn, masks_the_password_in_uris) {
  EXPECT_EQ(redact_dsn("postgresql://ispflow:pa%40ss@db:5432/ispflow"),
            "postgresql://ispflow:***@db:5432/ispflow");
  EXPECT_EQ(redact_dsn("postgres://u:p@h1:1,h2:2/db?sslmode=require"),
            "postgres://u:***@h1:1,h2:2/db?sslmode=require");
  EXPECT_EQ(redact_dsn("postgresql://u@h/db?sslmode=require&password=x%20y"),
            "postgresql://u@h/db?sslmode=require&password=***");
  EXPECT_EQ(redact_dsn("POSTGRESQL://u:secret@h"), "POSTGRESQL://u:***@h");
}

TEST_F(log_capture, instance_id_is_on_every_line_in_both_formats) {
  ispflow::common::set_log_instance("node-a");
  setup_logging(log_settings{log_level::info, log_format::json}, out);
  log(log_level::info, "saga_router", "partitions assigned", {{"owned", "3"}});
  ispflow::common::set_log_instance("node-b");
  setup_logging(log_settings{log_level::info, log_format::text}, out);
  log(log_level::warn, "saga", "lease lost");
  ispflow::common::set_log_instance("");
  auto ls = lines();
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(member(parse(ls[0]), "instance"), "node-a");
  EXPECT_THAT(ls[1], HasSubstr("WARN  [node-b] saga: lease lost"));
}
