#include "actors/guarded_adapter.hpp"
#include "adapters/resilience/guard.hpp"
#include "events/type_ids.hpp"
#include "tests/support/fake_adapter.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <deque>
#include <gtest/gtest.h>
#include <memory>

namespace {

using namespace ispflow;
using ispflow::testing::fake_mode;
namespace api = adapters::api;
namespace res = adapters::resilience;

caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

struct guarded_adapter_test : ::testing::Test {
  caf::actor_system_config cfg;
  caf::actor_system sys{testing_config(cfg)};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::shared_ptr<ispflow::testing::fake_adapter_state> fake
    = std::make_shared<ispflow::testing::fake_adapter_state>();
  api::adapter_actor inner = ispflow::testing::spawn_fake_adapter(sys, fake);
  std::shared_ptr<res::guard> guard;
  api::adapter_actor guarded;

  guarded_adapter_test() {
    res::guard_config gc;
    // Opens after 2 calls with >= 50 % failures; stays open for a minute.
    gc.breakers.defaults.sliding_window_size = 4;
    gc.breakers.defaults.minimum_number_of_calls = 2;
    gc.breakers.defaults.failure_rate_threshold = 50;
    gc.breakers.defaults.wait_duration_in_open_state = std::chrono::minutes{1};
    guard = std::make_shared<res::guard>(gc);
    guarded = actors::spawn_guarded_adapter(sys, inner, guard, "voltha");
  }

  ~guarded_adapter_test() override {
    caf::anon_send_exit(guarded, caf::exit_reason::kill);
    caf::anon_send_exit(inner, caf::exit_reason::kill);
    sched.run();
  }

  api::adapter_reply call(const std::string& tenant, const std::string& op) {
    caf::scoped_actor self{sys};
    api::adapter_request req;
    req.tenant_id = tenant;
    req.subscriber_id = "s1";
    req.system = "voltha";
    req.operation = op;
    req.idempotency_key = "saga/step/0";
    self->send(guarded, invoke_atom_v, req);
    sched.run();
    api::adapter_reply out;
    self->receive([&](api::adapter_reply& r) { out = std::move(r); },
                  [&](caf::error& err) { ADD_FAILURE() << to_string(err); });
    return out;
  }
};

TEST_F(guarded_adapter_test, passes_requests_and_answers_through) {
  fake->set("voltha.enable_onu", fake_mode::succeed, {{"onu_id", "onu-7"}});
  auto r = call("t1", "voltha.enable_onu");
  EXPECT_EQ(r.outcome, api::adapter_outcome::succeeded);
  EXPECT_EQ(r.outputs.at("onu_id"), "onu-7");
  EXPECT_EQ(fake->count("voltha.enable_onu"), 1u);
}

TEST_F(guarded_adapter_test, open_breaker_parks_without_calling_the_system) {
  fake->set("voltha.enable_onu", fake_mode::fail_retryably, {}, 100);
  EXPECT_EQ(call("t1", "voltha.enable_onu").outcome,
            api::adapter_outcome::retryable_failure);
  EXPECT_EQ(call("t1", "voltha.enable_onu").outcome,
            api::adapter_outcome::retryable_failure);
  // Two failures out of two: the breaker of (t1, voltha) is open.
  auto parked = call("t1", "voltha.enable_onu");
  EXPECT_EQ(parked.outcome, api::adapter_outcome::parked);
  EXPECT_GT(parked.retry_after_ms, 0);
  EXPECT_EQ(fake->count("voltha.enable_onu"), 2u);
  // Another tenant's breaker is its own.
  fake->set("voltha.enable_onu", fake_mode::succeed);
  EXPECT_EQ(call("t2", "voltha.enable_onu").outcome,
            api::adapter_outcome::succeeded);
  EXPECT_EQ(fake->count("voltha.enable_onu"), 3u);
}

TEST_F(guarded_adapter_test, permanent_failures_do_not_open_the_breaker) {
  fake->set("voltha.enable_onu", fake_mode::fail_permanently);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(call("t1", "voltha.enable_onu").outcome,
              api::adapter_outcome::permanent_failure);
  EXPECT_EQ(fake->count("voltha.enable_onu"), 4u);
}

// An inner adapter that holds every call until told to answer the oldest
// (tick): promises are delivered from the actor's own context.
struct held_calls {
  std::vector<std::string> operations;
  std::deque<caf::response_promise> promises;
};

caf::behavior holding_adapter(caf::event_based_actor* self,
                              std::shared_ptr<held_calls> held) {
  return {
    [self, held](invoke_atom, api::adapter_request& req) {
      held->operations.push_back(req.operation);
      held->promises.push_back(self->make_response_promise());
      return held->promises.back();
    },
    [held](tick_atom) {
      if (held->promises.empty())
        return;
      held->promises.front().deliver(api::reply_succeeded({}));
      held->promises.pop_front();
    },
  };
}

// A call that finds its tenant at its limit of calls in flight waits for a
// slot (and then goes on) instead of coming back parked.
TEST_F(guarded_adapter_test, a_call_at_the_tenant_limit_waits_for_a_slot) {
  res::guard_config gc;
  gc.tenant_limits.max_concurrent = 1;
  auto limited = std::make_shared<res::guard>(gc);
  auto held = std::make_shared<held_calls>();
  auto gate = sys.spawn(holding_adapter, held);
  auto front = actors::spawn_guarded_adapter(
    sys, caf::actor_cast<api::adapter_actor>(gate), limited, "radius");
  caf::scoped_actor self{sys};
  auto request = [](std::string op) {
    api::adapter_request req;
    req.tenant_id = "t1";
    req.subscriber_id = "s-" + op;
    req.system = "radius";
    req.operation = std::move(op);
    return req;
  };
  self->send(front, invoke_atom_v, request("radius.deny"));
  self->send(front, invoke_atom_v, request("radius.disconnect_sessions"));
  sched.run();
  // One slot: only the first reached the adapter, the second waits.
  ASSERT_EQ(held->operations.size(), 1u);
  caf::anon_send(gate, tick_atom_v);
  sched.run();
  ASSERT_EQ(held->operations.size(), 2u);
  EXPECT_EQ(held->operations[1], "radius.disconnect_sessions");
  caf::anon_send(gate, tick_atom_v);
  sched.run();
  for (int i = 0; i < 2; ++i)
    self->receive(
      [&](api::adapter_reply& r) {
        EXPECT_EQ(r.outcome, api::adapter_outcome::succeeded) << r.error;
      },
      [&](caf::error& err) { ADD_FAILURE() << to_string(err); });
  EXPECT_EQ(limited->tenant_limits().in_flight("t1"), 0);
  caf::anon_send_exit(front, caf::exit_reason::kill);
  caf::anon_send_exit(gate, caf::exit_reason::kill);
}

} // namespace
