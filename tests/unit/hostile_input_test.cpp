// Hostile input at the edges: deep and huge JSON, oversized identifiers,
// producers speaking for tenants they do not own, control characters on
// their way to a log line or a terminal.

#include "common/log.hpp"
#include "events/cloud_event.hpp"
#include "events/intake_check.hpp"
#include "events/intake_errors.hpp"
#include "events/json/bounded_parse.hpp"

#include <gtest/gtest.h>
#include <optional>
#include <rapidjson/document.h>
#include <sstream>
#include <string_view>

using namespace ispflow::events;

namespace {

constexpr size_t million = 1'000'000;

std::string deep_array(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

const std::string suspended_payload
  = R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1",)"
    R"("reason":"non_payment"})";

kafka_record billing_record(std::string value = suspended_payload) {
  kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.partition = 0;
  rec.offset = 7;
  rec.key = "sub-1";
  rec.value = std::move(value);
  rec.headers = {
    {"ce_specversion", "1.0", false},
    {"ce_id", "evt-1", false},
    {"ce_source", "billing.acme", false},
    {"ce_type", "billing.subscription.suspended", false},
    {"ce_subject", "sub-1", false},
    {"ce_tenantid", "acme", false},
    {"content-type", "application/json", false},
  };
  return rec;
}

void set_header(kafka_record& rec, const std::string& key,
                const std::string& value) {
  for (auto& h : rec.headers)
    if (h.key == key) {
      h.value = value;
      return;
    }
  rec.headers.push_back({key, value, false});
}

intake_settings settings() {
  intake_settings s;
  s.known_tenant = [](std::string_view t) {
    return t == "acme" || t == "globex";
  };
  s.clock = [] { return std::string{"2024-05-01T12:00:01.000Z"}; };
  return s;
}

dead_letter refused(const kafka_record& rec,
                    const intake_settings& s = settings()) {
  auto verdict = check_billing_record(rec, s);
  if (auto* dl = std::get_if<dead_letter>(&verdict))
    return *dl;
  ADD_FAILURE() << "accepted: " << std::get<accepted_event>(verdict).id;
  return {};
}

bool is_accepted(const kafka_record& rec, const intake_settings& s) {
  auto verdict = check_billing_record(rec, s);
  if (auto* dl = std::get_if<dead_letter>(&verdict))
    ADD_FAILURE() << "refused: " << dl->error << ": " << dl->detail;
  return std::holds_alternative<accepted_event>(verdict);
}

} // namespace

// -- the bounded parser (item 2) ----------------------------------------------

TEST(bounded_parse, refuses_a_million_deep_array_without_recursing) {
  rapidjson::Document doc;
  auto err = json::parse_bounded(doc, deep_array(million));
  ASSERT_TRUE(err);
  EXPECT_TRUE(err->over_limit);
  EXPECT_EQ(err->offset, 64u);
  EXPECT_EQ(err->message, "is nested deeper than 64 levels (at offset 64)");
  EXPECT_TRUE(doc.HasParseError());
}

TEST(bounded_parse, refuses_an_unclosed_million_deep_array) {
  rapidjson::Document doc;
  auto err = json::parse_bounded(doc, std::string(million, '['));
  ASSERT_TRUE(err);
  EXPECT_TRUE(err->over_limit);
  EXPECT_TRUE(doc.HasParseError());
}

TEST(bounded_parse, refuses_a_text_over_the_size_limit) {
  rapidjson::Document doc;
  auto err = json::parse_bounded(doc, R"({"a":"0123456789"})",
                                 json::json_limits{10, 64});
  ASSERT_TRUE(err);
  EXPECT_EQ(err->message, "is 18 bytes, over the limit of 10");
  EXPECT_TRUE(doc.HasParseError());
}

TEST(bounded_parse, accepts_nesting_up_to_the_limit_and_counts_no_strings) {
  rapidjson::Document doc;
  EXPECT_FALSE(json::parse_bounded(doc, deep_array(64)));
  EXPECT_TRUE(doc.IsArray());
  EXPECT_TRUE(json::parse_bounded(doc, deep_array(65)));
  // Brackets and escaped quotes inside strings are not nesting.
  auto text = R"({"a":"[[[[[\"[[[[[","b":[1,{"c":null}]})";
  EXPECT_FALSE(json::parse_bounded(doc, text, json::json_limits{1024, 3}));
  EXPECT_EQ(doc["a"].GetStringLength(), 11u);
}

TEST(bounded_parse, reports_syntax_errors_with_their_offset) {
  rapidjson::Document doc;
  auto err = json::parse_bounded(doc, "{not json");
  ASSERT_TRUE(err);
  EXPECT_FALSE(err->over_limit);
  EXPECT_EQ(err->offset, 1u);
  EXPECT_EQ(err->message,
            "is not valid JSON at offset 1: Missing a name for object member.");
  EXPECT_TRUE(doc.HasParseError());
  // Invalid UTF-8 is a syntax error too.
  EXPECT_TRUE(json::parse_bounded(doc, "\"\xff\""));
}

TEST(bounded_parse, a_parse_after_a_refusal_starts_afresh) {
  rapidjson::Document doc;
  EXPECT_TRUE(json::parse_bounded(doc, deep_array(1000)));
  EXPECT_FALSE(json::parse_bounded(doc, R"({"ok":true})"));
  EXPECT_FALSE(doc.HasParseError());
  EXPECT_TRUE(doc["ok"].GetBool());
}

TEST(bounded_parse, refuses_a_lone_utf16_surrogate_escape) {
  rapidjson::Document doc;
  // A lone low surrogate decoded to bytes that are not UTF-8.
  auto err = json::parse_bounded(doc, R"({"a":"x\udc00"})");
  ASSERT_TRUE(err);
  EXPECT_FALSE(err->over_limit);
  EXPECT_EQ(err->offset, 7u);
  EXPECT_EQ(err->message, "is not valid JSON at offset 7: lone UTF-16 "
                          "surrogate in \\u escape.");
  EXPECT_TRUE(doc.HasParseError());
  EXPECT_TRUE(json::parse_bounded(doc, R"(["\uDFFF"])"));
  EXPECT_TRUE(json::parse_bounded(doc, R"({"\uDC00":1})"));
  // Two low halves, or a pair followed by a low half.
  EXPECT_TRUE(json::parse_bounded(doc, R"(["\udc00\udc00"])"));
  EXPECT_TRUE(json::parse_bounded(doc, R"(["\ud83d\ude00\ude00"])"));
  // A lone high surrogate (RapidJSON's own check).
  EXPECT_TRUE(json::parse_bounded(doc, R"(["\ud83d"])"));
  EXPECT_TRUE(json::parse_bounded(doc, R"(["\ud83dx"])"));
}

TEST(bounded_parse, accepts_surrogate_pairs_and_escaped_backslashes) {
  rapidjson::Document doc;
  ASSERT_FALSE(json::parse_bounded(doc, R"(["\ud83d\ude00","\uD800\uDC00"])"));
  EXPECT_EQ(std::string(doc[0].GetString()), "\xf0\x9f\x98\x80");
  EXPECT_EQ(std::string(doc[1].GetString()), "\xf0\x90\x80\x80");
  // Not escapes: an escaped backslash followed by text, and text outside
  // strings is left to the parser.
  ASSERT_FALSE(json::parse_bounded(doc, R"(["\\udc00","\u00e9\\"])"));
  EXPECT_EQ(std::string(doc[0].GetString()), "\\udc00");
  EXPECT_TRUE(json::parse_bounded(doc, R"([\udc00])"));
}

// The full scans as they were before their fast paths (a bracket count
// and a search for `\u`): the pre-scans must answer exactly as these.
std::optional<size_t> full_too_deep_at(std::string_view text,
                                       size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

std::optional<size_t> full_lone_surrogate_at(std::string_view text) {
  auto escape = [&text](size_t at) -> long {
    if (at + 6 > text.size() || text[at] != '\\' || text[at + 1] != 'u')
      return -1;
    long v = 0;
    for (size_t k = at + 2; k < at + 6; ++k) {
      char c = text[k];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
    return v;
  };
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!in_string) {
      in_string = c == '"';
    } else if (c == '"') {
      in_string = false;
    } else if (c == '\\') {
      auto unit = escape(i);
      if (unit >= 0xDC00 && unit <= 0xDFFF)
        return i;
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        auto low = escape(i + 6);
        i += low >= 0xDC00 && low <= 0xDFFF ? 11 : 5;
      } else {
        i += unit >= 0 ? 5 : 1;
      }
    }
  }
  return std::nullopt;
}

TEST(bounded_parse, pre_scans_answer_as_the_full_scans) {
  // Brackets in strings count for the fast path but not for the depth; the
  // count is exactly at and one over the limit.
  for (size_t depth : {0u, 1u, 2u, 3u, 64u}) {
    for (auto& text :
         {std::string{}, deep_array(depth), deep_array(depth + 1),
          "[\"" + std::string(depth + 1, '[') + "\"]",
          std::string(depth, '[') + "\"{\"" + std::string(depth, ']'),
          "{\"a\":[" + std::string(depth, '{') + "]}", std::string("x")}) {
      EXPECT_EQ(json::too_deep_at(text, depth), full_too_deep_at(text, depth))
        << text << " at depth " << depth;
      EXPECT_EQ(json::lone_surrogate_at(text), full_lone_surrogate_at(text))
        << text;
    }
  }
  // Every short text over an alphabet of JSON structure, escapes and hex
  // digits (a fixed pseudo-random sequence, so the test is repeatable).
  constexpr std::string_view alphabet = "[]{}\"\\uUdDcC08fx ";
  uint64_t state = 42;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>(state >> 33);
  };
  for (int n = 0; n < 100'000; ++n) {
    std::string text(next() % 40, ' ');
    for (auto& c : text)
      c = alphabet[next() % alphabet.size()];
    auto depth = next() % 6;
    ASSERT_EQ(json::too_deep_at(text, depth), full_too_deep_at(text, depth))
      << text << " at depth " << depth;
    ASSERT_EQ(json::lone_surrogate_at(text), full_lone_surrogate_at(text))
      << text;
  }
}

// -- deep JSON through intake's check (item 2) --------------------------------

TEST(intake_hostile, a_lone_surrogate_escape_in_the_payload_is_malformed_json) {
  // A free-text field: the schema lets any string through.
  auto rec = billing_record(
    R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1",)"
    R"("reason":"moved \udc00 abroad"})");
  set_header(rec, "ce_type", "billing.subscription.terminated");
  auto dl = refused(rec);
  EXPECT_EQ(dl.error, intake_errors::malformed_json);
  EXPECT_NE(dl.detail.find("lone UTF-16 surrogate"), std::string::npos)
    << dl.detail;
}

TEST(intake_hostile, million_deep_payload_is_malformed_json) {
  auto dl = refused(billing_record(deep_array(million)));
  EXPECT_EQ(dl.error, intake_errors::malformed_json);
  EXPECT_EQ(dl.detail, "payload is nested deeper than 64 levels (at offset "
                       "64)");
  ASSERT_EQ(dl.emits.size(), 1u);
  EXPECT_EQ(dl.emits[0].value.size(), 2 * million);
}

TEST(intake_hostile, million_deep_structured_event_is_malformed_json) {
  auto rec = billing_record(R"({"specversion":"1.0","data":)"
                            + deep_array(million) + "}");
  set_header(rec, "content-type", "application/cloudevents+json");
  auto dl = refused(rec);
  EXPECT_EQ(dl.error, intake_errors::malformed_json);
  EXPECT_EQ(dl.detail.rfind("structured event is nested deeper than 64", 0),
            0u);
}

// -- identifier caps (item 4) ------------------------------------------------

TEST(intake_hostile, a_10_kb_ce_id_is_a_malformed_envelope) {
  auto rec = billing_record();
  set_header(rec, "ce_id", std::string(10'240, 'x'));
  auto dl = refused(rec);
  EXPECT_EQ(dl.error, intake_errors::malformed_envelope);
  EXPECT_EQ(dl.detail, "ce_id: 10240 bytes, longer than the limit of 256");
}

TEST(intake_hostile, every_identifier_has_a_cap_named_in_the_detail) {
  struct cap {
    const char* header;
    size_t limit;
  };
  for (auto [header, limit] : {cap{"ce_id", intake_limits::id_bytes},
                               cap{"ce_source", intake_limits::source_bytes},
                               cap{"ce_type", intake_limits::type_bytes},
                               cap{"ce_subject", intake_limits::subject_bytes},
                               cap{"ce_tenantid", intake_limits::tenant_bytes},
                               cap{"ce_time", intake_limits::time_bytes},
                               cap{"traceparent", intake_limits::trace_bytes},
                               cap{"tracestate", intake_limits::trace_bytes}}) {
    auto rec = billing_record();
    set_header(rec, header, std::string(limit + 1, 'a'));
    auto dl = refused(rec);
    EXPECT_EQ(dl.error, intake_errors::malformed_envelope) << header;
    EXPECT_EQ(dl.detail, std::string{header} + ": " + std::to_string(limit + 1)
                           + " bytes, longer than the limit of "
                           + std::to_string(limit))
      << header;
  }
}

TEST(intake_hostile, identifiers_at_their_cap_pass_the_envelope_check) {
  auto rec = billing_record();
  set_header(rec, "ce_id", std::string(intake_limits::id_bytes, 'i'));
  set_header(rec, "ce_source", std::string(intake_limits::source_bytes, 's'));
  EXPECT_TRUE(is_accepted(rec, settings()));
}

// -- sources and tenants (item 1) -------------------------------------------

TEST(source_policy, binds_each_source_to_its_tenants) {
  source_policy p;
  p.allow("billing.acme", {"acme"});
  p.allow("billing.group", {"*"});
  EXPECT_TRUE(p.allows("billing.acme", "acme"));
  EXPECT_FALSE(p.allows("billing.acme", "globex"));
  EXPECT_FALSE(p.allows("billing.globex", "globex"));
  EXPECT_TRUE(p.allows("billing.group", "globex"));
  // Operator-made events' sources are reserved, whatever is configured.
  p.allow("ispflow/redrive", {"acme"});
  EXPECT_FALSE(p.allows("ispflow/redrive", "acme"));
  auto any = source_policy::allow_any();
  EXPECT_TRUE(any.allows("whatever", "globex"));
  EXPECT_FALSE(any.allows("ispflow/replay", "globex"));
}

TEST(intake_hostile, a_source_speaking_for_another_tenant_is_refused) {
  auto s = settings();
  source_policy p;
  p.allow("billing.acme", {"acme"});
  s.source_allows = [p](std::string_view src, std::string_view tenant) {
    return p.allows(src, tenant);
  };
  EXPECT_TRUE(is_accepted(billing_record(), s));
  // acme's producer names globex, payload and all: a spoof.
  auto rec = billing_record(
    R"({"schema_version":1,"tenant_id":"globex","subscriber_id":"sub-1",)"
    R"("reason":"non_payment"})");
  set_header(rec, "ce_tenantid", "globex");
  auto dl = refused(rec, s);
  EXPECT_EQ(dl.error, intake_errors::tenant_not_allowed);
  EXPECT_EQ(dl.detail, "ce_source \"billing.acme\" may not speak for tenant "
                       "\"globex\" (intake.sources)");
  ASSERT_EQ(dl.emits.size(), 1u);
  EXPECT_EQ(dl.emits[0].header("ispflow_error")->value, "tenant_not_allowed");
}

TEST(intake_hostile, accepted_announcements_are_distinct_per_tenant) {
  auto s = settings();
  auto a = std::get<accepted_event>(check_billing_record(billing_record(), s));
  auto rec = billing_record(
    R"({"schema_version":1,"tenant_id":"globex","subscriber_id":"sub-1",)"
    R"("reason":"non_payment"})");
  set_header(rec, "ce_tenantid", "globex");
  auto b = std::get<accepted_event>(check_billing_record(rec, s));
  EXPECT_NE(a.emits[0].header("ce_id")->value,
            b.emits[0].header("ce_id")->value);
}

// An event with identifiers at their caps is accepted; its announcement
// (tenant, source and id in one ce_id) must still be a CloudEvent its
// readers decode (found by fuzz/cloud_event_intake:
// crash-overlong-announcement-id).
TEST(intake_hostile, announcements_of_events_at_the_id_caps_decode) {
  auto s = settings();
  auto rec = billing_record();
  set_header(rec, "ce_id", std::string(intake_limits::id_bytes, 'i'));
  set_header(rec, "ce_source", std::string(intake_limits::source_bytes, 's'));
  auto a = std::get<accepted_event>(check_billing_record(rec, s));
  ASSERT_EQ(a.emits.size(), 1u);
  auto decoded = decode_cloud_event(a.emits[0]);
  ASSERT_TRUE(std::holds_alternative<cloud_event>(decoded))
    << std::get<intake_error>(decoded);
  auto id = std::get<cloud_event>(decoded).id;
  EXPECT_LE(id.size(), intake_limits::id_bytes);
  EXPECT_TRUE(id.starts_with("intake.accepted:sha256:")) << id;
  // Another id of the same length: another announcement.
  set_header(rec, "ce_id", std::string(intake_limits::id_bytes - 1, 'i') + "j");
  auto b = std::get<accepted_event>(check_billing_record(rec, s));
  EXPECT_NE(b.emits[0].header("ce_id")->value, id);
  // Short identities keep their readable form.
  auto c = std::get<accepted_event>(check_billing_record(billing_record(), s));
  EXPECT_EQ(c.emits[0].header("ce_id")->value,
            "intake.accepted:acme:billing.acme:evt-1");
}

// -- control characters on their way to logs (item 10) -----------------------

TEST(escape_control, escapes_what_a_terminal_or_log_reader_acts_on) {
  using ispflow::common::escape_control;
  EXPECT_EQ(escape_control("plain ascii, \xc3\xa9t\xc3\xa9"),
            "plain ascii, \xc3\xa9t\xc3\xa9");
  EXPECT_EQ(escape_control("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(escape_control("\x1b[2J\x07\x7f"), "\\x1b[2J\\x07\\x7f");
  // C1 controls: the 8-bit CSI and NEL.
  EXPECT_EQ(escape_control("\xc2\x9b"
                           "31m\xc2\x85"),
            "\\u009b31m\\u0085");
  // Line separator, right-to-left override, isolate.
  EXPECT_EQ(escape_control("\xe2\x80\xa8\xe2\x80\xae\xe2\x81\xa6"),
            "\\u2028\\u202e\\u2066");
  EXPECT_EQ(escape_control("bad \xff utf-8"), "bad \xef\xbf\xbd utf-8");
}

TEST(escape_control, a_log_line_carries_no_raw_control_character) {
  using namespace ispflow::common;
  for (auto format : {log_format::json, log_format::text}) {
    std::ostringstream out;
    setup_logging({log_level::info, format}, out);
    log_info("intake", "event refused",
             {{"detail", "ce_time: \"x\n{\"level\":\"error\"}\x1b[2J\xc2\x9b"
                         "1m\xe2\x80\xa8\""}});
    auto line = out.str();
    setup_logging({log_level::info, log_format::json});
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
    EXPECT_EQ(line.find("\xc2\x9b"), std::string::npos) << line;
    EXPECT_EQ(line.find("\xe2\x80\xa8"), std::string::npos) << line;
  }
}
