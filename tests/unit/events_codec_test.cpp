#include "events/errc.hpp"
#include "events/json/billing_json.hpp"
#include "events/json/lifecycle_json.hpp"
#include "events/schema_registry.hpp"

#include <gtest/gtest.h>
#include <sstream>

using namespace ispflow::events;
using ispflow::events::json::from_json;
using ispflow::events::json::to_json;

namespace {

// Encodes, checks the text against the schema of `type`, decodes, compares.
template <class T>
void expect_round_trip(const T& x, const std::string& type) {
  auto text = to_json(x);
  EXPECT_EQ(schema_registry::builtin().validate(type, text), std::nullopt)
    << text;
  auto back = from_json<T>(text);
  ASSERT_TRUE(back) << ispflow::render_error(back.error());
  EXPECT_EQ(*back, x);
}

subscription_activated full_activation() {
  subscription_activated x;
  x.tenant_id = "acme";
  x.subscriber_id = "sub-1";
  x.effective_at = "2024-05-01T12:00:00Z";
  x.plan_id = "fiber-500";
  x.service_type = "ftth";
  x.site = "ams-01";
  x.account_id = "ACC-1";
  x.access.onu_serial = "ALCL1A2B3C4D";
  x.access.pon_port = 0;
  x.access.nas_port_id = "olt1/1/3:100";
  x.access.nas_identifier = "bng-1";
  x.access.cpe = {"CPE1", "00D09E", "HG8245"};
  x.credentials = {"sub-1@acme", "pw-not-real"};
  return x;
}

} // namespace

TEST(billing_json, round_trips_a_full_activation) {
  expect_round_trip(full_activation(), "billing.subscription.activated");
}

TEST(billing_json, round_trips_a_minimal_activation) {
  subscription_activated x;
  x.tenant_id = "acme";
  x.subscriber_id = "sub-2";
  x.plan_id = "air-50";
  x.service_type = "wireless";
  x.site = "rtm-02";
  expect_round_trip(x, "billing.subscription.activated");
  EXPECT_EQ(to_json(x),
            R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-2",)"
            R"("plan_id":"air-50","service_type":"wireless","site":"rtm-02"})");
}

TEST(billing_json, round_trips_every_other_input) {
  expect_round_trip(subscription_suspended{1, "acme", "sub-1",
                                           "2024-06-01T00:00:00Z", "fraud"},
                    "billing.subscription.suspended");
  expect_round_trip(subscription_resumed{1, "acme", "sub-1", ""},
                    "billing.subscription.resumed");
  expect_round_trip(subscription_plan_changed{1, "acme", "sub-1", "", "p2",
                                              "p1"},
                    "billing.subscription.plan_changed");
  expect_round_trip(subscription_terminated{1, "acme", "sub-1", "", "moved"},
                    "billing.subscription.terminated");
  expect_round_trip(subscription_terminated{1, "acme", "sub-1", "", ""},
                    "billing.subscription.terminated");
}

TEST(billing_json, decodes_every_schema_example) {
  auto& reg = schema_registry::builtin();
  for (auto& ex : reg.examples(subscription_activated::event_type)) {
    auto x = from_json<subscription_activated>(ex);
    ASSERT_TRUE(x) << ex;
    EXPECT_EQ(to_json(*x), ex);
  }
  for (auto& ex : reg.examples(subscription_suspended::event_type))
    EXPECT_TRUE(from_json<subscription_suspended>(ex)) << ex;
  for (auto& ex : reg.examples(subscription_plan_changed::event_type))
    EXPECT_TRUE(from_json<subscription_plan_changed>(ex)) << ex;
}

TEST(billing_json, refuses_invalid_input_with_invalid_input_errors) {
  auto x = from_json<subscription_suspended>(
    R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"s"})");
  ASSERT_FALSE(x);
  EXPECT_EQ(ispflow::render_error(x.error()),
            "invalid_input: schema_violation: /reason: required property "
            "missing");
  auto y = from_json<subscription_resumed>("{oops");
  ASSERT_FALSE(y);
  EXPECT_EQ(y.error().code(),
            static_cast<uint8_t>(ispflow::errc::invalid_input));
  EXPECT_NE(ispflow::render_error(y.error()).find("malformed_json"),
            std::string::npos);
}

TEST(billing_json, never_prints_the_password) {
  std::ostringstream os;
  os << full_activation();
  EXPECT_EQ(os.str().find("pw-not-real"), std::string::npos) << os.str();
  EXPECT_NE(os.str().find("password=***"), std::string::npos) << os.str();
}

TEST(lifecycle_json, round_trips_every_output) {
  expect_round_trip(subscriber_activated{1, "acme", "sub-1", "saga-1", "evt-1",
                                         "fiber-500", "100.64.0.17", "onu-1",
                                         "cpe-1"},
                    "subscriber.activated");
  expect_round_trip(subscriber_activated{1, "acme", "sub-1", "saga-1", "evt-1",
                                         "fiber-500", "", "", ""},
                    "subscriber.activated");
  expect_round_trip(subscriber_suspended{1, "acme", "sub-1", "saga-2", "evt-2"},
                    "subscriber.suspended");
  expect_round_trip(subscriber_resumed{1, "acme", "sub-1", "saga-3", "evt-3"},
                    "subscriber.resumed");
  expect_round_trip(subscriber_plan_changed{1, "acme", "sub-1", "saga-4",
                                            "evt-4", "p2"},
                    "subscriber.plan_changed");
  expect_round_trip(subscriber_terminated{1, "acme", "sub-1", "saga-5",
                                          "evt-5"},
                    "subscriber.terminated");
  for (auto verb :
       {"activated", "suspended", "resumed", "plan_changed", "terminated"})
    expect_round_trip(subscriber_failed{1, "acme", "sub-1", "saga-6", "evt-6",
                                        "radius.provision", "timeout", true},
                      failed_event_type(verb));
}

TEST(lifecycle_json, refuses_a_failure_without_its_step) {
  auto x = from_json<subscriber_failed>(
    R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"s",)"
    R"("saga_id":"g","causation_id":"c","error":"e","compensated":false})");
  ASSERT_FALSE(x);
  EXPECT_EQ(ispflow::render_error(x.error()),
            "invalid_input: schema_violation: /failed_step: required property "
            "missing");
}

TEST(lifecycle_json, names_the_failed_event_type) {
  EXPECT_EQ(failed_event_type("plan_changed"),
            "subscriber.plan_changed_failed");
  std::ostringstream os;
  os << subscriber_failed{1, "acme", "s", "g", "c", "step", "err", false};
  EXPECT_EQ(os.str(), "subscriber_failed{schema_version=1, tenant_id=acme, "
                      "subscriber_id=s, saga_id=g, causation_id=c, "
                      "failed_step=step, error=err, compensated=false}");
}
