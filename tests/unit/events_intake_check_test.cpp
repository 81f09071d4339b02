#include "events/intake_check.hpp"
#include "events/intake_errors.hpp"
#include "events/schema_registry.hpp"

#include <gtest/gtest.h>

using namespace ispflow::events;

namespace {

const std::string suspended_payload
  = R"({"schema_version": 1, "tenant_id": "acme", "subscriber_id": "sub-1",
        "reason": "non_payment"})";

const std::string traceparent
  = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

kafka_record billing_record(std::string value = suspended_payload) {
  kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.partition = 4;
  rec.offset = 1234;
  rec.key = "sub-1";
  rec.value = std::move(value);
  rec.timestamp_ms = 1714564800000;
  rec.headers = {
    {"ce_specversion", "1.0", false},
    {"ce_id", "evt-42", false},
    {"ce_source", "billing.acme", false},
    {"ce_type", "billing.subscription.suspended", false},
    {"ce_time", "2024-05-01T12:00:00Z", false},
    {"ce_subject", "sub-1", false},
    {"ce_tenantid", "acme", false},
    {"content-type", "application/json", false},
    {"traceparent", traceparent, false},
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

void drop_header(kafka_record& rec, const std::string& key) {
  std::erase_if(rec.headers,
                [&](const kafka_header& h) { return h.key == key; });
}

intake_settings settings() {
  intake_settings s;
  s.known_tenant = [](std::string_view t) {
    return t == "acme" || t == "beta";
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

accepted_event accepted(const kafka_record& rec,
                        const intake_settings& s = settings()) {
  auto verdict = check_billing_record(rec, s);
  if (auto* ok = std::get_if<accepted_event>(&verdict))
    return *ok;
  auto& dl = std::get<dead_letter>(verdict);
  ADD_FAILURE() << "refused: " << dl.error << ": " << dl.detail;
  return {};
}

} // namespace

TEST(intake_check, accepts_a_valid_event_and_fills_the_accepted_event) {
  auto rec = billing_record();
  auto ev = accepted(rec);
  EXPECT_EQ(ev.source, "billing.acme");
  EXPECT_EQ(ev.id, "evt-42");
  EXPECT_EQ(ev.type, "billing.subscription.suspended");
  EXPECT_EQ(ev.time, "2024-05-01T12:00:00Z");
  EXPECT_EQ(ev.tenant_id, "acme");
  EXPECT_EQ(ev.subject, "sub-1");
  EXPECT_EQ(ev.traceparent, traceparent);
  EXPECT_EQ(ev.data, R"({"schema_version":1,"tenant_id":"acme",)"
                     R"("subscriber_id":"sub-1","reason":"non_payment"})");
  EXPECT_EQ(ev.origin, rec);
}

TEST(intake_check, emits_one_intake_accepted_saga_event) {
  auto ev = accepted(billing_record());
  ASSERT_EQ(ev.emits.size(), 1u);
  auto& out = ev.emits[0];
  EXPECT_EQ(out.topic, "saga.events.v1");
  EXPECT_EQ(out.key, "sub-1");
  EXPECT_FALSE(out.null_key);
  std::vector<kafka_header> want_headers{
    {"ce_specversion", "1.0", false},
    {"ce_id", "intake.accepted:acme:billing.acme:evt-42", false},
    {"ce_source", "ispflow", false},
    {"ce_type", "intake.accepted", false},
    {"ce_time", "2024-05-01T12:00:01.000Z", false},
    {"ce_subject", "sub-1", false},
    {"ce_tenantid", "acme", false},
    {"content-type", "application/json", false},
    {"traceparent", traceparent, false},
  };
  EXPECT_EQ(out.headers, want_headers);
  EXPECT_EQ(out.value,
            R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1",)"
            R"("event_source":"billing.acme","event_id":"evt-42",)"
            R"("event_type":"billing.subscription.suspended",)"
            R"("topic":"billing.events.v1","partition":4,"offset":1234})");
  EXPECT_EQ(schema_registry::builtin().validate("intake.accepted", out.value),
            std::nullopt);
}

TEST(intake_check, stamps_the_current_time_without_a_clock) {
  auto s = settings();
  s.clock = nullptr;
  s.saga_topic = "my.saga";
  auto ev = accepted(billing_record(), s);
  ASSERT_EQ(ev.emits.size(), 1u);
  EXPECT_EQ(ev.emits[0].topic, "my.saga");
  auto* time = ev.emits[0].header("ce_time");
  ASSERT_NE(time, nullptr);
  EXPECT_TRUE(is_rfc3339(time->value)) << time->value;
}

TEST(intake_check, accepts_every_billing_example_in_both_modes) {
  auto& reg = schema_registry::builtin();
  for (auto& type : reg.billing_input_types()) {
    for (auto& example : reg.examples(type)) {
      auto rec = billing_record(example);
      set_header(rec, "ce_type", type);
      // Examples name sub-0001, sub-0002 ...
      auto sub = example.substr(example.find("sub-"), 8);
      set_header(rec, "ce_subject", sub);
      EXPECT_EQ(accepted(rec).data, example) << type;
      kafka_record structured;
      structured.value = R"({"specversion":"1.0","id":"e1","source":"b",)"
                         R"("type":")"
                         + type + R"(","subject":")" + sub
                         + R"(","tenantid":"acme","data":)" + example + "}";
      structured.headers = {
        {"content-type", "application/cloudevents+json; charset=utf-8", false}};
      EXPECT_EQ(accepted(structured).data, example) << type;
    }
  }
}

TEST(intake_check, refuses_a_malformed_envelope) {
  auto rec = billing_record();
  drop_header(rec, "ce_id");
  auto dl = refused(rec);
  EXPECT_EQ(dl.error, intake_errors::malformed_envelope);
  EXPECT_EQ(dl.detail, "ce_id: missing");
}

TEST(intake_check, requires_ce_tenantid_and_ce_subject) {
  for (std::string attr : {"ce_tenantid", "ce_subject"}) {
    auto rec = billing_record();
    drop_header(rec, attr);
    auto dl = refused(rec);
    EXPECT_EQ(dl.error, intake_errors::malformed_envelope);
    EXPECT_EQ(dl.detail, attr + ": missing");
  }
}

TEST(intake_check, refuses_a_type_that_is_not_a_billing_input) {
  for (std::string type : {"billing.subscription.paused",
                           "subscriber.activated", "intake.accepted"}) {
    auto rec = billing_record();
    set_header(rec, "ce_type", type);
    auto dl = refused(rec);
    EXPECT_EQ(dl.error, intake_errors::unknown_type) << type;
    EXPECT_EQ(dl.detail,
              "ce_type: \"" + type + "\" is not a billing input type");
  }
}

TEST(intake_check, checks_the_type_before_the_payload) {
  auto rec = billing_record("not json");
  set_header(rec, "ce_type", "billing.subscription.paused");
  EXPECT_EQ(refused(rec).error, intake_errors::unknown_type);
}

TEST(intake_check, refuses_malformed_json) {
  auto dl = refused(billing_record("{\"schema_version\": 1,"));
  EXPECT_EQ(dl.error, intake_errors::malformed_json);
  EXPECT_NE(dl.detail.find("offset"), std::string::npos) << dl.detail;
  EXPECT_EQ(refused(billing_record("[]")).error, intake_errors::malformed_json);
}

TEST(intake_check, refuses_a_payload_that_postgresql_cannot_store) {
  // jsonb rejects U+0000; recording it would fail its batch forever.
  auto dl = refused(billing_record(
    R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1",)"
    R"("reason":"non_payment","effective_at":"2024-05-01T12:00:00Z",)"
    R"("x":"a\u0000b"})"));
  EXPECT_EQ(dl.error, intake_errors::malformed_json);
  dl = refused(billing_record(
    R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1",)"
    R"("reason":"non_\u0000payment"})"));
  EXPECT_EQ(dl.error, intake_errors::malformed_json);
  EXPECT_EQ(dl.detail, "/reason: U+0000 cannot be stored");
}

TEST(intake_check, refuses_envelope_attributes_that_are_not_utf8_text) {
  auto rec = billing_record();
  set_header(rec, "ce_id",
             std::string{"evt\0"
                         "42",
                         6});
  auto dl = refused(rec);
  EXPECT_EQ(dl.error, intake_errors::malformed_envelope);
  EXPECT_EQ(dl.detail, "ce_id: must be UTF-8 text without NUL bytes");
  rec = billing_record();
  set_header(rec, "ce_source", "billing.\xff\xfe");
  EXPECT_EQ(refused(rec).error, intake_errors::malformed_envelope);
  rec = billing_record();
  set_header(rec, "ce_source", "billing.caf\xc3\xa9");
  EXPECT_EQ(accepted(rec).source, "billing.caf\xc3\xa9");
}

TEST(intake_check, refuses_a_schema_violation_with_its_pointer) {
  auto dl = refused(billing_record(
    R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1"})"));
  EXPECT_EQ(dl.error, intake_errors::schema_violation);
  EXPECT_EQ(dl.detail, "/reason: required property missing");
}

TEST(intake_check, refuses_an_unknown_tenant) {
  auto rec = billing_record(
    R"({"schema_version":1,"tenant_id":"zeta","subscriber_id":"sub-1","reason":"fraud"})");
  set_header(rec, "ce_tenantid", "zeta");
  auto dl = refused(rec);
  EXPECT_EQ(dl.error, intake_errors::unknown_tenant);
  EXPECT_EQ(dl.detail, "ce_tenantid: tenant \"zeta\" is not configured");
  auto all_known = settings();
  all_known.known_tenant = nullptr;
  EXPECT_EQ(accepted(rec, all_known).tenant_id, "zeta");
}

TEST(intake_check, refuses_an_envelope_that_contradicts_the_payload) {
  auto rec = billing_record();
  set_header(rec, "ce_tenantid", "beta");
  auto dl = refused(rec);
  EXPECT_EQ(dl.error, intake_errors::envelope_mismatch);
  EXPECT_EQ(dl.detail,
            "/tenant_id: \"acme\" differs from ce_tenantid \"beta\"");
  rec = billing_record();
  set_header(rec, "ce_subject", "sub-2");
  dl = refused(rec);
  EXPECT_EQ(dl.error, intake_errors::envelope_mismatch);
  EXPECT_EQ(dl.detail,
            "/subscriber_id: \"sub-1\" differs from ce_subject \"sub-2\"");
}

TEST(intake_check, dead_letter_copy_is_byte_faithful) {
  // Bytes that are neither UTF-8 nor JSON, in the value, key and headers.
  std::string junk{"\x00\xff\xfe{\x80\"", 6};
  auto rec = billing_record(junk);
  rec.key = std::string{"k\x00\xff", 3};
  rec.headers.push_back({"binary", std::string{"\x00\x01\xff", 3}, false});
  rec.headers.push_back({"nothing", "", true});
  auto dl = refused(rec);
  EXPECT_EQ(dl.error, intake_errors::malformed_json);
  EXPECT_EQ(dl.record, rec);
  ASSERT_EQ(dl.emits.size(), 1u);
  auto& out = dl.emits[0];
  EXPECT_EQ(out.topic, "billing.events.v1.dlq");
  EXPECT_EQ(out.key, rec.key);
  EXPECT_EQ(out.null_key, rec.null_key);
  EXPECT_EQ(out.value, junk);
  EXPECT_EQ(out.timestamp_ms, rec.timestamp_ms);
  ASSERT_EQ(out.headers.size(), rec.headers.size() + 5);
  for (size_t i = 0; i < rec.headers.size(); ++i)
    EXPECT_EQ(out.headers[i], rec.headers[i]) << i;
  std::vector<kafka_header> extra(out.headers.begin()
                                    + static_cast<long>(rec.headers.size()),
                                  out.headers.end());
  std::vector<kafka_header> want{
    {"ispflow_error", "malformed_json", false},
    {"ispflow_error_detail", dl.detail, false},
    {"ispflow_source_topic", "billing.events.v1", false},
    {"ispflow_source_partition", "4", false},
    {"ispflow_source_offset", "1234", false},
  };
  EXPECT_EQ(extra, want);
}

TEST(intake_check, dead_letter_copy_renames_a_producers_ispflow_headers) {
  // A producer's own `ispflow_error` must not pass for the reason ispflow
  // gave: a reader takes the first `ispflow_error` of the copy.
  auto rec = billing_record("not json");
  rec.headers.insert(rec.headers.begin(),
                     {"ispflow_error", "forged_reason", false});
  rec.headers.push_back({"ISPFLOW_Error_Detail", "forged detail", false});
  rec.headers.push_back({"ispflow_source_offset", "", true});
  rec.headers.push_back({"ispflowerror", "not ours", false});
  auto dl = refused(rec);
  EXPECT_EQ(dl.error, intake_errors::malformed_json);
  EXPECT_EQ(dl.record, rec);
  ASSERT_EQ(dl.emits.size(), 1u);
  auto& out = dl.emits[0];
  EXPECT_EQ(out.header("ispflow_error")->value, "malformed_json");
  EXPECT_EQ(out.header("ispflow_error_detail")->value, dl.detail);
  EXPECT_EQ(out.header("ispflow_source_offset")->value, "1234");
  ASSERT_EQ(out.headers.size(), rec.headers.size() + 5);
  EXPECT_EQ(out.headers.front(),
            (kafka_header{"x-original-ispflow_error", "forged_reason", false}));
  auto n = rec.headers.size();
  EXPECT_EQ(out.headers[n - 3], (kafka_header{"x-original-ISPFLOW_Error_Detail",
                                              "forged detail", false}));
  EXPECT_EQ(out.headers[n - 2],
            (kafka_header{"x-original-ispflow_source_offset", "", true}));
  EXPECT_EQ(out.headers[n - 1], rec.headers[n - 1]);
  for (size_t i = 1; i + 3 < n; ++i)
    EXPECT_EQ(out.headers[i], rec.headers[i]) << i;
}

TEST(intake_check,
     dead_letters_keep_a_null_key_and_go_to_the_configured_topic) {
  auto rec = billing_record();
  rec.key.clear();
  rec.null_key = true;
  drop_header(rec, "ce_source");
  auto s = settings();
  s.dead_letter_topic = "custom.dlq";
  auto dl = refused(rec, s);
  ASSERT_EQ(dl.emits.size(), 1u);
  EXPECT_EQ(dl.emits[0].topic, "custom.dlq");
  EXPECT_TRUE(dl.emits[0].null_key);
  EXPECT_EQ(dl.emits[0].header("ispflow_error")->value, "malformed_envelope");
  EXPECT_EQ(dl.emits[0].header("ispflow_error_detail")->value,
            "ce_source: missing");
}
