#include "events/intake_errors.hpp"
#include "events/schema_registry.hpp"

#include <algorithm>
#include <gtest/gtest.h>

using namespace ispflow::events;

namespace {

const schema_registry& registry() {
  return schema_registry::builtin();
}

struct invalid_sample {
  std::string type;
  std::string json;
  std::string detail; ///< the expected "<pointer>: <why>"
};

std::ostream& operator<<(std::ostream& os, const invalid_sample& x) {
  return os << x.type << " " << x.json;
}

const std::string activated_ok
  = R"("schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1","plan_id":"p1","service_type":"wireless","site":"s1")";

std::vector<invalid_sample> invalid_samples() {
  const std::string act = "billing.subscription.activated";
  const std::string sus = "billing.subscription.suspended";
  const std::string res = "billing.subscription.resumed";
  const std::string pch = "billing.subscription.plan_changed";
  const std::string ter = "billing.subscription.terminated";
  const std::string base
    = R"("schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1")";
  return {
    // activated
    {act,
     R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1","service_type":"fixed","site":"s1"})",
     "/plan_id: required property missing"},
    {act, "{" + activated_ok + R"(,"service_type":"dsl"})",
     "/service_type: must be one of \"ftth\", \"wireless\", \"fixed\""},
    {act,
     R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1","plan_id":"p1","service_type":"ftth","site":"s1","access":{"pon_port":1}})",
     "/access/onu_serial: required when service_type is ftth"},
    {act,
     R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1","plan_id":"p1","service_type":"ftth","site":"s1","access":{"onu_serial":"alcl1A2B3C4D"}})",
     "/access/onu_serial: must match pattern ^[A-Z]{4}[0-9A-Fa-f]{8}$"},
    {act,
     "{" + activated_ok + R"(,"access":{"cpe":{"serial":"x","oui":"00D09"}}})",
     "/access/cpe/oui: must match pattern ^[0-9A-Fa-f]{6}$"},
    {act, "{" + activated_ok + R"(,"access":{"cpe":{"oui":"00D09E"}}})",
     "/access/cpe/serial: required property missing"},
    {act, "{" + activated_ok + R"(,"credentials":{"username":"u"}})",
     "/credentials/password: required property missing"},
    {act, "{" + activated_ok + R"(,"colour":"red"})",
     "/colour: property not allowed"},
    {act, "{" + activated_ok + R"(,"effective_at":"tomorrow"})",
     "/effective_at: must be an RFC 3339 date-time"},
    // suspended
    {sus, "{" + base + "}", "/reason: required property missing"},
    {sus, "{" + base + R"(,"reason":"holiday"})",
     "/reason: must be one of \"non_payment\", \"fraud\", "
     "\"customer_request\""},
    {sus,
     R"({"schema_version":2,"tenant_id":"acme","subscriber_id":"sub-1","reason":"fraud"})",
     "/schema_version: must be 1"},
    // resumed
    {res, R"({"schema_version":1,"tenant_id":"acme"})",
     "/subscriber_id: required property missing"},
    {res,
     R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"has space"})",
     "/subscriber_id: must match pattern ^[A-Za-z0-9._:-]+$"},
    {res, R"({"schema_version":1,"tenant_id":"acme","subscriber_id":""})",
     "/subscriber_id: must be at least 1 characters long"},
    {res, R"({"schema_version":"1","tenant_id":"acme","subscriber_id":"s"})",
     "/schema_version: must be of type integer"},
    // plan_changed
    {pch, "{" + base + "}", "/plan_id: required property missing"},
    {pch, "{" + base + R"(,"plan_id":42})", "/plan_id: must be of type string"},
    {pch, "{" + base + R"(,"plan_id":"p","previous":"q"})",
     "/previous: property not allowed"},
    // terminated
    {ter, "{" + base + R"(,"reason":""})",
     "/reason: must be at least 1 characters long"},
    {ter, R"({"tenant_id":"acme","subscriber_id":"sub-1"})",
     "/schema_version: required property missing"},
    {ter, "{" + base + R"(,"subscriber_id_x":1})",
     "/subscriber_id_x: property not allowed"},
    {ter,
     R"({"schema_version":1,"tenant_id":"acme","subscriber_id":")"
       + std::string(65, 'a') + "\"}",
     "/subscriber_id: must be at most 64 characters long"},
  };
}

} // namespace

TEST(schema_registry, loads_every_embedded_schema_without_errors) {
  EXPECT_EQ(registry().load_errors(), std::vector<std::string>{});
  std::vector<std::string> want{
    "billing.subscription.activated",
    "billing.subscription.plan_changed",
    "billing.subscription.resumed",
    "billing.subscription.suspended",
    "billing.subscription.terminated",
    "drift.detected",
    "drift.repaired",
    "intake.accepted",
    "saga.breaker_closed",
    "saga.breaker_half_open",
    "saga.breaker_opened",
    "saga.cancel_requested",
    "saga.cancelled",
    "saga.compensated",
    "saga.compensating",
    "saga.completed",
    "saga.needs_attention",
    "saga.resumed",
    "saga.retried",
    "saga.started",
    "saga.step_compensated",
    "saga.step_compensating",
    "saga.step_failed",
    "saga.step_parked",
    "saga.step_retrying",
    "saga.step_started",
    "saga.step_succeeded",
    "subscriber.activated",
    "subscriber.activated_failed",
    "subscriber.plan_changed",
    "subscriber.plan_changed_failed",
    "subscriber.resumed",
    "subscriber.resumed_failed",
    "subscriber.suspended",
    "subscriber.suspended_failed",
    "subscriber.terminated",
    "subscriber.terminated_failed",
  };
  EXPECT_EQ(registry().types(), want);
}

TEST(schema_registry, lists_the_billing_input_types) {
  std::vector<std::string> want{
    "billing.subscription.activated",  "billing.subscription.plan_changed",
    "billing.subscription.resumed",    "billing.subscription.suspended",
    "billing.subscription.terminated",
  };
  EXPECT_EQ(registry().billing_input_types(), want);
  EXPECT_TRUE(registry().is_billing_input("billing.subscription.resumed"));
  EXPECT_FALSE(registry().is_billing_input("subscriber.activated"));
  EXPECT_FALSE(registry().is_billing_input("billing.subscription.paused"));
}

TEST(schema_registry, every_schema_has_examples_that_validate) {
  for (auto& type : registry().types()) {
    auto examples = registry().examples(type);
    EXPECT_FALSE(examples.empty()) << type;
    for (auto& ex : examples)
      EXPECT_EQ(registry().validate(type, ex), std::nullopt)
        << type << ": " << ex;
  }
}

TEST(schema_registry, rejects_invalid_samples_with_pointer_and_reason) {
  auto samples = invalid_samples();
  for (auto& type : registry().billing_input_types())
    EXPECT_GE(std::count_if(samples.begin(), samples.end(),
                            [&](auto& s) { return s.type == type; }),
              2)
      << type;
  for (auto& sample : samples) {
    auto err = registry().validate(sample.type, sample.json);
    ASSERT_TRUE(err.has_value()) << sample;
    EXPECT_EQ(err->code, intake_errors::schema_violation) << sample;
    EXPECT_EQ(err->detail, sample.detail) << sample;
  }
}

TEST(schema_registry, ftth_activation_requires_an_access_object) {
  auto err = registry().validate(
    "billing.subscription.activated",
    R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1","plan_id":"p1","service_type":"ftth","site":"s1"})");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->detail,
            "/access/onu_serial: required when service_type is ftth");
  EXPECT_EQ(
    registry().validate(
      "billing.subscription.activated",
      R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1","plan_id":"p1","service_type":"fixed","site":"s1","access":{"nas_port_id":"eth 1/0/1"}})"),
    std::nullopt);
}

TEST(schema_registry, names_every_missing_required_property) {
  auto err = registry().validate("billing.subscription.resumed", "{}");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->detail, "/schema_version: required property missing (also "
                         "missing: tenant_id subscriber_id)");
}

TEST(schema_registry, reports_root_type_errors_at_the_root) {
  auto err = registry().validate("billing.subscription.resumed", "[]");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->detail, "(root): must be of type object");
}

TEST(schema_registry, refuses_unknown_types_and_invalid_json) {
  auto err = registry().validate("billing.subscription.paused", "{}");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, intake_errors::unknown_type);
  err = registry().validate("billing.subscription.resumed", "{\"a\":");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, intake_errors::malformed_json);
  EXPECT_FALSE(registry().knows("billing.subscription.paused"));
  EXPECT_TRUE(registry().knows("subscriber.terminated_failed"));
  EXPECT_TRUE(registry().examples("nope").empty());
}

TEST(schema_registry, serves_one_file_under_several_types) {
  schema_registry reg{{
    {"a",
     R"({"type":"object","x-event-types":["t.one","t.two"],"required":["x"],"examples":[{"x":1}]})"},
    {"b", "{not json"},
  }};
  EXPECT_EQ(reg.types(), (std::vector<std::string>{"t.one", "t.two"}));
  EXPECT_EQ(reg.examples("t.two"), std::vector<std::string>{R"({"x":1})"});
  ASSERT_EQ(reg.load_errors().size(), 1u);
  EXPECT_EQ(reg.load_errors()[0].rfind("b.json: invalid JSON", 0), 0u);
  auto err = reg.validate("t.one", "{}");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->detail, "/x: required property missing");
}

TEST(schema_registry, validates_payloads_larger_than_its_stack_buffer) {
  // The DOM of a small payload lives in a 16 KiB buffer on the stack; a
  // larger one continues on the heap, with the same verdicts.
  const std::string type = "billing.subscription.suspended";
  const std::string ok = R"({"schema_version":1,"tenant_id":"acme",)"
                         R"("subscriber_id":"sub-1","reason":"fraud")";
  std::string members;
  for (int i = 0; i < 2000; ++i)
    members += ",\"m" + std::to_string(i) + "\":[1,2,3,\"x\"]";
  auto err = registry().validate(type, ok + members + "}");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, intake_errors::schema_violation);
  EXPECT_EQ(err->detail, "/m0: property not allowed");
  std::string long_reason = R"({"schema_version":1,"tenant_id":"acme",)"
                            R"("subscriber_id":"sub-1","reason":")"
                            + std::string(40 * 1024, 'f') + "\"}";
  err = registry().validate(type, long_reason);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->detail, "/reason: must be one of \"non_payment\", "
                         "\"fraud\", \"customer_request\"");
  EXPECT_EQ(registry().validate(type, ok + "}"), std::nullopt);
}
