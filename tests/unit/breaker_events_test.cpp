// Breaker transitions as saga.events.v1 records: every transition a real
// registry breaker makes (driven on a manual clock) becomes a binary-mode
// CloudEvent whose payload validates against events/schemas.
#include "adapters/resilience/breaker_events.hpp"
#include "adapters/resilience/breaker_registry.hpp"
#include "events/cloud_event.hpp"
#include "events/schema_registry.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <mutex>
#include <rapidjson/document.h>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace {

using namespace ispflow;
using namespace ispflow::adapters::resilience;
using namespace std::chrono_literals;

const events::schema_registry& schemas() {
  return events::schema_registry::builtin();
}

std::string header(const events::kafka_record& rec, std::string_view name) {
  auto h = rec.header(name);
  return h ? h->value : std::string{"<missing " + std::string{name} + ">"};
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  return doc;
}

breaker_config small_config() {
  breaker_config cfg;
  cfg.sliding_window_size = 4;
  cfg.minimum_number_of_calls = 4;
  cfg.failure_rate_threshold = 50;
  cfg.slow_call_rate_threshold = 50;
  cfg.slow_call_duration_threshold = 1s;
  cfg.wait_duration_in_open_state = 10s;
  cfg.permitted_number_of_calls_in_half_open_state = 2;
  cfg.max_wait_duration_in_half_open_state = 30s;
  return cfg;
}

struct breaker_events : ::testing::Test {
  manual_clock clock;
  breaker_registry registry{registry_config{small_config(), {}, {}}};
  breaker_key key{"acme", "awx", "http://127.0.0.1:21960/api/v2/"};
  std::mutex mtx;
  std::vector<events::kafka_record> records;

  breaker_events() {
    sagas::output_settings settings;
    publish_breaker_transitions(
      registry,
      [this](events::kafka_record rec) {
        std::lock_guard<std::mutex> guard{mtx};
        records.push_back(std::move(rec));
      },
      settings);
  }

  std::shared_ptr<circuit_breaker> breaker() {
    return registry.get(key, clock.now());
  }

  void calls(int n, call_outcome outcome, duration took = 10ms) {
    auto cb = breaker();
    for (int i = 0; i < n; ++i) {
      auto got = cb->acquire(clock.now());
      ASSERT_TRUE(got.permitted) << "state " << got.state;
      cb->record(got.permit, outcome, took, clock.now());
    }
  }

  // Checks the envelope and the schema of every record collected so far.
  void check_all() {
    std::set<std::string> ids;
    for (auto& rec : records) {
      auto type = header(rec, "ce_type");
      EXPECT_EQ(rec.topic, "saga.events.v1");
      EXPECT_EQ(rec.key, "acme/awx/http://127.0.0.1:21960/api/v2/");
      EXPECT_EQ(header(rec, "ce_tenantid"), "acme");
      EXPECT_EQ(header(rec, "ce_source"), "ispflow");
      EXPECT_EQ(header(rec, "ce_subject"), rec.key);
      EXPECT_TRUE(ids.insert(header(rec, "ce_id")).second)
        << "duplicate ce_id " << header(rec, "ce_id");
      auto decoded = events::decode_cloud_event(rec);
      ASSERT_TRUE(std::holds_alternative<events::cloud_event>(decoded))
        << std::get<events::intake_error>(decoded);
      EXPECT_EQ(schemas().validate(type, rec.value), std::nullopt)
        << type << ": " << rec.value;
    }
  }

  std::vector<std::string> types() {
    std::vector<std::string> out;
    for (auto& rec : records)
      out.push_back(header(rec, "ce_type"));
    return out;
  }
};

} // namespace

TEST_F(breaker_events, every_record_of_every_transition_validates) {
  // closed -> open (failure rate)
  calls(4, call_outcome::failure);
  // open -> half_open -> open (a failed trial)
  clock.advance(10s);
  calls(1, call_outcome::failure);
  calls(1, call_outcome::success);
  // open -> half_open -> closed
  clock.advance(10s);
  calls(2, call_outcome::success);
  // closed -> open (slow calls)
  calls(4, call_outcome::success, 2s);
  // open -> half_open by tick, then half_open -> open (max wait passed)
  clock.advance(10s);
  registry.tick(clock.now());
  clock.advance(31s);
  registry.tick(clock.now());
  // operator states
  breaker()->force_open(clock.now());
  breaker()->reset(clock.now());
  breaker()->force_closed(clock.now());
  breaker()->reset(clock.now());
  ASSERT_EQ(types(), (std::vector<std::string>{
                       "saga.breaker_opened",    // failure rate
                       "saga.breaker_half_open", // wait elapsed
                       "saga.breaker_opened",    // failed trial
                       "saga.breaker_half_open", // wait elapsed
                       "saga.breaker_closed",    // trials succeeded
                       "saga.breaker_opened",    // slow calls
                       "saga.breaker_half_open", // tick
                       "saga.breaker_opened",    // half-open wait exceeded
                       "saga.breaker_opened",    // forced open
                       "saga.breaker_closed",    // reset
                       "saga.breaker_closed",    // forced closed
                       "saga.breaker_closed",    // reset
                     }));
  check_all();
  std::vector<std::string> reasons;
  for (auto& rec : records)
    reasons.push_back(parse(rec.value)["reason"].GetString());
  EXPECT_EQ(reasons, (std::vector<std::string>{
                       "failure_rate_exceeded", "open_wait_elapsed",
                       "failure_rate_exceeded", "open_wait_elapsed",
                       "half_open_calls_succeeded", "slow_call_rate_exceeded",
                       "open_wait_elapsed", "half_open_wait_exceeded", "forced",
                       "reset", "forced", "reset"}));
}

TEST_F(breaker_events, the_payload_carries_the_window_that_decided) {
  calls(2, call_outcome::success);
  calls(2, call_outcome::failure);
  ASSERT_EQ(records.size(), 1u);
  auto doc = parse(records[0].value);
  ASSERT_TRUE(doc.IsObject()) << records[0].value;
  EXPECT_EQ(doc["schema_version"].GetInt(), 1);
  EXPECT_STREQ(doc["tenant_id"].GetString(), "acme");
  EXPECT_STREQ(doc["adapter"].GetString(), "awx");
  EXPECT_STREQ(doc["endpoint"].GetString(), "http://127.0.0.1:21960/api/v2/");
  EXPECT_STREQ(doc["from"].GetString(), "closed");
  EXPECT_STREQ(doc["to"].GetString(), "open");
  EXPECT_STREQ(doc["reason"].GetString(), "failure_rate_exceeded");
  EXPECT_DOUBLE_EQ(doc["failure_rate"].GetDouble(), 50.0);
  EXPECT_DOUBLE_EQ(doc["slow_call_rate"].GetDouble(), 0.0);
  EXPECT_EQ(doc["calls"].GetInt(), 4);
  EXPECT_EQ(doc["failed_calls"].GetInt(), 2);
  EXPECT_EQ(doc["slow_calls"].GetInt(), 0);
}

TEST(breaker_transition_record, uses_settings_and_the_given_time) {
  breaker_key key{"t-2", "netbox", "https://nb.example/api/"};
  breaker_transition tr;
  tr.from = breaker_state::open;
  tr.to = breaker_state::half_open;
  tr.reason = transition_reason::open_wait_elapsed;
  tr.metrics.failure_rate = 75.5;
  tr.metrics.slow_call_rate = -1;
  tr.metrics.number_of_calls = 8;
  tr.metrics.number_of_failed_calls = 6;
  sagas::output_settings settings;
  settings.saga_topic = "saga.events.test";
  settings.source = "ispflow-test";
  settings.traceparent
    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto at = std::chrono::system_clock::time_point{} + 1714564800s + 250us;
  auto rec = breaker_transition_record(key, tr, settings, at);
  EXPECT_EQ(rec.topic, "saga.events.test");
  EXPECT_EQ(rec.key, "t-2/netbox/https://nb.example/api/");
  EXPECT_EQ(header(rec, "ce_type"), "saga.breaker_half_open");
  EXPECT_EQ(header(rec, "ce_time"), "2024-05-01T12:00:00.000250Z");
  EXPECT_EQ(header(rec, "ce_id"),
            "t-2/netbox/https://nb.example/api//1714564800000250/half_open");
  EXPECT_EQ(header(rec, "ce_source"), "ispflow-test");
  EXPECT_EQ(header(rec, "traceparent"), settings.traceparent);
  EXPECT_EQ(schemas().validate("saga.breaker_half_open", rec.value),
            std::nullopt)
    << rec.value;
  auto doc = parse(rec.value);
  EXPECT_DOUBLE_EQ(doc["failure_rate"].GetDouble(), 75.5);
  EXPECT_DOUBLE_EQ(doc["slow_call_rate"].GetDouble(), -1.0);
  settings.clock = [] { return std::string{"2030-01-01T00:00:00Z"}; };
  rec = breaker_transition_record(key, tr, settings, at);
  EXPECT_EQ(header(rec, "ce_time"), "2030-01-01T00:00:00Z");
}

TEST(breaker_transition_record, keeps_odd_configuration_text_valid_json) {
  breaker_key key{"acme", "awx", std::string{"http://h/\"q\"\x01\xC3\xA9"}};
  breaker_transition tr;
  tr.to = breaker_state::forced_open;
  tr.reason = transition_reason::forced;
  auto rec = breaker_transition_record(key, tr, {}, {});
  EXPECT_EQ(header(rec, "ce_type"), "saga.breaker_opened");
  EXPECT_EQ(schemas().validate("saga.breaker_opened", rec.value), std::nullopt)
    << rec.value;
  EXPECT_STREQ(parse(rec.value)["endpoint"].GetString(),
               "http://h/\"q\"\x01??");
}

TEST(breaker_event_type, maps_each_target_state) {
  EXPECT_EQ(breaker_event_type(breaker_state::open), "saga.breaker_opened");
  EXPECT_EQ(breaker_event_type(breaker_state::forced_open),
            "saga.breaker_opened");
  EXPECT_EQ(breaker_event_type(breaker_state::half_open),
            "saga.breaker_half_open");
  EXPECT_EQ(breaker_event_type(breaker_state::closed), "saga.breaker_closed");
  EXPECT_EQ(breaker_event_type(breaker_state::forced_closed),
            "saga.breaker_closed");
}

TEST(breaker_schemas, are_registered_with_examples) {
  for (auto type : {"saga.breaker_opened", "saga.breaker_half_open",
                    "saga.breaker_closed"}) {
    EXPECT_TRUE(schemas().knows(type)) << type;
    EXPECT_FALSE(schemas().examples(type).empty()) << type;
  }
  EXPECT_NE(
    schemas().validate(
      "saga.breaker_opened",
      R"({"schema_version":1,"tenant_id":"acme","adapter":"awx","endpoint":"e","from":"open","to":"half_open","reason":"open_wait_elapsed","failure_rate":1,"slow_call_rate":1,"calls":1,"failed_calls":0,"slow_calls":0})"),
    std::nullopt);
}
