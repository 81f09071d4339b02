#include "adapters/resilience/breaker_registry.hpp"
#include "adapters/resilience/guard.hpp"
#include "adapters/resilience/limiter.hpp"
#include "adapters/resilience/retry.hpp"
#include "adapters/resilience/slot_queue.hpp"
#include "events/errc.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using namespace ispflow;
using namespace ispflow::adapters::resilience;
using namespace std::chrono_literals;
using events::adapter_outcome;

constexpr auto fast = 10ms;

breaker_config quick_breaker() {
  breaker_config cfg;
  cfg.sliding_window_size = 4;
  cfg.minimum_number_of_calls = 2;
  cfg.failure_rate_threshold = 50;
  cfg.wait_duration_in_open_state = 30s;
  cfg.permitted_number_of_calls_in_half_open_state = 1;
  return cfg;
}

TEST(breaker_registry, creates_one_breaker_per_key_on_first_use) {
  manual_clock clock;
  breaker_registry reg;
  auto a = reg.get({"acme", "netbox", "default"}, clock.now());
  auto b = reg.get({"acme", "netbox", "default"}, clock.now());
  auto c = reg.get({"acme", "netbox", "http://nb2"}, clock.now());
  auto d = reg.get({"beta", "netbox", "default"}, clock.now());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  EXPECT_EQ(reg.size(), 3u);
  EXPECT_EQ(reg.find({"acme", "netbox", "default"}), a);
  EXPECT_EQ(reg.find({"acme", "awx", "default"}), nullptr);
}

TEST(breaker_registry, picks_tenant_adapter_then_adapter_then_defaults) {
  registry_config cfg;
  cfg.defaults.sliding_window_size = 11;
  cfg.by_adapter["genieacs"].sliding_window_size = 22;
  cfg.by_tenant_adapter["acme/genieacs"].sliding_window_size = 33;
  breaker_registry reg{cfg};
  manual_clock clock;
  EXPECT_EQ(
    reg.get({"beta", "awx", "x"}, clock.now())->config().sliding_window_size,
    11);
  EXPECT_EQ(reg.get({"beta", "genieacs", "x"}, clock.now())
              ->config()
              .sliding_window_size,
            22);
  EXPECT_EQ(reg.get({"acme", "genieacs", "x"}, clock.now())
              ->config()
              .sliding_window_size,
            33);
}

TEST(breaker_registry, reports_transitions_with_their_key_to_listeners) {
  registry_config cfg;
  cfg.defaults = quick_breaker();
  breaker_registry reg{cfg};
  manual_clock clock;
  // A breaker made before the listener is reported too.
  auto cb = reg.get({"acme", "awx", "default"}, clock.now());
  std::vector<std::pair<breaker_key, breaker_transition>> seen;
  reg.on_transition([&](const breaker_key& key, const breaker_transition& tr) {
    seen.emplace_back(key, tr);
  });
  for (int i = 0; i < 2; ++i) {
    auto got = cb->acquire(clock.now());
    cb->record(got.permit, call_outcome::failure, fast, clock.now());
  }
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, (breaker_key{"acme", "awx", "default"}));
  EXPECT_EQ(seen[0].second.to, breaker_state::open);
  EXPECT_EQ(to_string(seen[0].first), "acme/awx/default");
}

TEST(breaker_registry, ticks_every_breaker_and_lists_snapshots_by_key) {
  registry_config cfg;
  cfg.defaults = quick_breaker();
  breaker_registry reg{cfg};
  manual_clock clock;
  auto b = reg.get({"b", "netbox", "default"}, clock.now());
  reg.get({"a", "netbox", "default"}, clock.now());
  b->force_open(clock.now());
  b->reset(clock.now());
  for (int i = 0; i < 2; ++i) {
    auto got = b->acquire(clock.now());
    b->record(got.permit, call_outcome::failure, fast, clock.now());
  }
  clock.advance(30s);
  reg.tick(clock.now());
  auto snaps = reg.snapshots();
  ASSERT_EQ(snaps.size(), 2u);
  EXPECT_EQ(snaps[0].first.tenant, "a");
  EXPECT_EQ(snaps[0].second.state, breaker_state::closed);
  EXPECT_EQ(snaps[1].first.tenant, "b");
  EXPECT_EQ(snaps[1].second.state, breaker_state::half_open);
  EXPECT_EQ(snaps[1].second.metrics.times_opened, 2);
}

TEST(breaker_registry, validates_every_configuration) {
  registry_config cfg;
  EXPECT_FALSE(validate(cfg));
  cfg.by_adapter["awx"].minimum_number_of_calls = 0;
  auto err = validate(cfg);
  ASSERT_TRUE(err);
  EXPECT_NE(render_error(err).find("awx"), std::string::npos);
}

TEST(concurrency_limiter, caps_calls_in_flight_per_key) {
  limiter_config cfg;
  cfg.max_concurrent = 2;
  cfg.per_key["big"] = 3;
  concurrency_limiter lim{cfg};
  auto a1 = lim.try_acquire("acme");
  auto a2 = lim.try_acquire("acme");
  ASSERT_TRUE(a1 && a2);
  EXPECT_FALSE(lim.try_acquire("acme"));
  // Another key is not affected.
  EXPECT_TRUE(lim.try_acquire("beta"));
  EXPECT_EQ(lim.in_flight("acme"), 2);
  lim.release(*a1);
  // A second release of the same lease frees nothing more.
  lim.release(*a1);
  EXPECT_EQ(lim.in_flight("acme"), 1);
  EXPECT_TRUE(lim.try_acquire("acme"));
  EXPECT_FALSE(lim.try_acquire("acme"));
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(lim.try_acquire("big"));
  EXPECT_FALSE(lim.try_acquire("big"));
  auto use = lim.usage();
  ASSERT_EQ(use.size(), 3u);
  EXPECT_EQ(use[0].key, "acme");
  EXPECT_EQ(use[0].rejected, 2);
  EXPECT_EQ(use[0].limit, 2);
  EXPECT_EQ(use[1].key, "beta");
  EXPECT_EQ(use[1].in_flight, 1);
}

TEST(concurrency_limiter, treats_zero_as_no_limit) {
  limiter_config cfg;
  cfg.max_concurrent = 0;
  concurrency_limiter lim{cfg};
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(lim.try_acquire("acme"));
  EXPECT_EQ(lim.in_flight("acme"), 1000);
  limiter_config bad;
  bad.max_concurrent = -1;
  EXPECT_TRUE(validate(bad));
}

struct guard_test : ::testing::Test {
  manual_clock clock;
  guard g{make_config()};

  static guard_config make_config() {
    guard_config cfg;
    cfg.breakers.defaults = quick_breaker();
    cfg.tenant_limits.max_concurrent = 2;
    cfg.tenant_limits.retry_after = 700ms;
    return cfg;
  }

  void fail_once(const std::string& tenant, const std::string& adapter) {
    auto adm = g.admit(tenant, adapter, "default", clock.now());
    ASSERT_TRUE(adm);
    g.complete(adm.ticket, adapter_outcome::retryable_failure, fast,
               clock.now());
  }
};

TEST_F(guard_test, admits_and_frees_the_tenant_slot_on_completion) {
  auto adm = g.admit("acme", "netbox", "default", clock.now());
  ASSERT_TRUE(adm);
  EXPECT_EQ(adm.reason, park_reason::none);
  EXPECT_EQ(g.tenant_limits().in_flight("acme"), 1);
  g.complete(adm.ticket, adapter_outcome::succeeded, fast, clock.now());
  EXPECT_EQ(g.tenant_limits().in_flight("acme"), 0);
  auto snap = g.breakers().find({"acme", "netbox", "default"})->snapshot();
  EXPECT_EQ(snap.metrics.number_of_calls, 1);
  EXPECT_EQ(snap.metrics.number_of_failed_calls, 0);
}

TEST_F(guard_test, parks_calls_while_the_breaker_is_open) {
  fail_once("acme", "genieacs");
  fail_once("acme", "genieacs");
  clock.advance(10s);
  auto adm = g.admit("acme", "genieacs", "default", clock.now());
  EXPECT_FALSE(adm);
  EXPECT_EQ(adm.reason, park_reason::breaker_open);
  EXPECT_EQ(adm.retry_after, 20s);
  EXPECT_EQ(adm.detail, "breaker acme/genieacs/default is open");
  auto reply = adm.parked_reply();
  EXPECT_EQ(reply.outcome, adapter_outcome::parked);
  EXPECT_EQ(reply.retry_after_ms, 20'000);
  EXPECT_EQ(reply.error, adm.detail);
  // A parked call holds no tenant slot.
  EXPECT_EQ(g.tenant_limits().in_flight("acme"), 0);
  // Another tenant, and another adapter of the same tenant, keep flowing.
  EXPECT_TRUE(g.admit("beta", "genieacs", "default", clock.now()));
  EXPECT_TRUE(g.admit("acme", "netbox", "default", clock.now()));
}

TEST_F(guard_test, resumes_after_a_successful_half_open_probe) {
  fail_once("acme", "awx");
  fail_once("acme", "awx");
  clock.advance(30s);
  auto probe = g.admit("acme", "awx", "default", clock.now());
  ASSERT_TRUE(probe);
  // While the single trial runs, others park briefly.
  auto other = g.admit("acme", "awx", "default", clock.now());
  EXPECT_FALSE(other);
  EXPECT_EQ(other.reason, park_reason::breaker_open);
  EXPECT_EQ(other.detail, "breaker acme/awx/default is half_open");
  g.complete(probe.ticket, adapter_outcome::succeeded, fast, clock.now());
  EXPECT_EQ(g.breakers().find({"acme", "awx", "default"})->state(),
            breaker_state::closed);
  EXPECT_TRUE(g.admit("acme", "awx", "default", clock.now()));
}

TEST_F(guard_test, parks_at_the_tenant_limit_without_using_a_trial_permit) {
  fail_once("acme", "awx");
  fail_once("acme", "awx");
  clock.advance(30s);
  auto n1 = g.admit("acme", "netbox", "default", clock.now());
  auto n2 = g.admit("acme", "netbox", "default", clock.now());
  ASSERT_TRUE(n1 && n2);
  auto adm = g.admit("acme", "awx", "default", clock.now());
  EXPECT_FALSE(adm);
  EXPECT_EQ(adm.reason, park_reason::tenant_limit);
  EXPECT_EQ(adm.retry_after, 700ms);
  EXPECT_EQ(adm.parked_reply().retry_after_ms, 700);
  // The awx breaker's single trial is still free.
  g.complete(n1.ticket, adapter_outcome::succeeded, fast, clock.now());
  auto probe = g.admit("acme", "awx", "default", clock.now());
  ASSERT_TRUE(probe);
  EXPECT_TRUE(probe.ticket.permit.trial);
}

TEST_F(guard_test, a_failed_half_open_probe_parks_its_call_instead_of_failing) {
  auto failed = [](std::string error) {
    return events::reply_failed(adapter_outcome::retryable_failure,
                                std::move(error));
  };
  // Closed: a retryable failure stays one (it counts as the step's attempt).
  auto first = g.admit("acme", "awx", "default", clock.now());
  ASSERT_TRUE(first);
  EXPECT_FALSE(first.ticket.permit.trial);
  auto r1 = g.settle(first.ticket, call_outcome::failure, fast, clock.now(),
                     failed("HTTP 503"));
  EXPECT_EQ(r1.outcome, adapter_outcome::retryable_failure);
  EXPECT_EQ(r1.error, "HTTP 503");
  fail_once("acme", "awx");
  // The breaker's open wait passes; the next call is its half-open trial.
  auto next_probe = [&] {
    clock.advance(30s);
    auto adm = g.admit("acme", "awx", "default", clock.now());
    EXPECT_TRUE(adm);
    EXPECT_TRUE(adm.ticket.permit.trial);
    return adm;
  };
  // Half-open: the trial fails, the breaker opens again, and the call comes
  // back parked until the next probe.
  auto probe = next_probe();
  clock.advance(2s);
  auto r2 = g.settle(probe.ticket, call_outcome::failure, fast, clock.now(),
                     failed("HTTP 503"));
  EXPECT_EQ(g.breakers().find({"acme", "awx", "default"})->state(),
            breaker_state::open);
  EXPECT_EQ(r2.outcome, adapter_outcome::parked);
  EXPECT_EQ(r2.retry_after_ms, 30'000);
  EXPECT_EQ(r2.error, "probe of breaker acme/awx/default failed: HTTP 503");
  EXPECT_EQ(g.tenant_limits().in_flight("acme"), 0);
  // A probe whose request may have taken effect stays unknown: the next
  // attempt must look first, and it counts.
  auto unsure = next_probe();
  auto r3 = g.settle(unsure.ticket, call_outcome::failure, fast, clock.now(),
                     events::reply_failed(adapter_outcome::unknown_outcome,
                                          "no answer"));
  EXPECT_EQ(r3.outcome, adapter_outcome::unknown_outcome);
  // A probe that succeeds, or that the system answered (a 4xx counted as
  // success), is returned as given.
  auto healthy = next_probe();
  auto r4 = g.settle(healthy.ticket, call_outcome::success, fast, clock.now(),
                     events::reply_failed(adapter_outcome::permanent_failure,
                                          "HTTP 400"));
  EXPECT_EQ(r4.outcome, adapter_outcome::permanent_failure);
  EXPECT_EQ(r4.retry_after_ms, 0);
  EXPECT_EQ(g.breakers().find({"acme", "awx", "default"})->state(),
            breaker_state::closed);
}

TEST_F(guard_test, counts_permanent_failures_as_a_healthy_system) {
  for (int i = 0; i < 4; ++i) {
    auto adm = g.admit("acme", "netbox", "default", clock.now());
    ASSERT_TRUE(adm);
    g.complete(adm.ticket, adapter_outcome::permanent_failure, fast,
               clock.now());
  }
  EXPECT_EQ(g.breakers().find({"acme", "netbox", "default"})->state(),
            breaker_state::closed);
  for (int i = 0; i < 2; ++i) {
    auto adm = g.admit("acme", "netbox", "default", clock.now());
    ASSERT_TRUE(adm);
    g.complete(adm.ticket, adapter_outcome::unknown_outcome, fast, clock.now());
  }
  EXPECT_EQ(g.breakers().find({"acme", "netbox", "default"})->state(),
            breaker_state::open);
  EXPECT_EQ(breaker_outcome(adapter_outcome::parked), call_outcome::ignored);
  EXPECT_EQ(breaker_outcome(adapter_outcome::succeeded), call_outcome::success);
}

// The calls of one test's slot queue: what each got, in the order they got it.
struct resumed_calls {
  std::vector<std::string> order;
  std::vector<admission> admissions;

  slot_queue::resume_fn of(std::string name) {
    return [this, name](admission adm) {
      order.push_back(name);
      admissions.push_back(std::move(adm));
    };
  }
};

TEST_F(guard_test, a_call_at_the_tenant_limit_waits_for_the_next_free_slot) {
  slot_queue q{2s};
  resumed_calls calls;
  EXPECT_FALSE(q.admit(g, "acme", "netbox", "default", clock.now(),
                       calls.of("a")));
  EXPECT_FALSE(q.admit(g, "acme", "genieacs", "default", clock.now(),
                       calls.of("b")));
  // The limit is 2: the third and fourth wait, nothing is refused.
  EXPECT_TRUE(q.admit(g, "acme", "netbox", "default", clock.now(),
                      calls.of("c")));
  EXPECT_TRUE(q.admit(g, "acme", "awx", "default", clock.now(),
                      calls.of("d")));
  EXPECT_EQ(q.size(), 2u);
  ASSERT_EQ(calls.order, (std::vector<std::string>{"a", "b"}));
  // Another tenant does not wait behind acme.
  EXPECT_FALSE(q.admit(g, "beta", "netbox", "default", clock.now(),
                       calls.of("e")));
  EXPECT_TRUE(calls.admissions.back());
  // a ends: its slot goes to c, the oldest waiting call; d still waits.
  g.complete(calls.admissions[0].ticket, adapter_outcome::succeeded, fast,
             clock.now());
  q.drain(g, "acme", clock.now());
  ASSERT_EQ(calls.order,
            (std::vector<std::string>{"a", "b", "e", "c"}));
  EXPECT_TRUE(calls.admissions[3]);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(g.tenant_limits().in_flight("acme"), 2);
  // A slot freed elsewhere (another adapter of the guard) is found by
  // drain_all, as on a tick.
  g.complete(calls.admissions[1].ticket, adapter_outcome::succeeded, fast,
             clock.now());
  q.drain_all(g, clock.now());
  ASSERT_EQ(calls.order.size(), 5u);
  EXPECT_EQ(calls.order[4], "d");
  EXPECT_TRUE(calls.admissions[4]);
  EXPECT_EQ(q.size(), 0u);
}

TEST_F(guard_test, the_limiter_counts_waiting_calls_and_saturates_at_the_limit) {
  slot_queue q{2s};
  resumed_calls calls;
  for (auto name : {"a", "b", "c"})
    q.admit(g, "acme", "netbox", "default", clock.now(), calls.of(name));
  auto& limits = g.tenant_limits();
  EXPECT_EQ(limits.waiting("acme"), 1);
  EXPECT_FALSE(limits.saturated("acme"));
  q.admit(g, "acme", "netbox", "default", clock.now(), calls.of("d"));
  // Two waiting for a limit of two: new work would only wait longer.
  EXPECT_EQ(limits.waiting("acme"), 2);
  EXPECT_TRUE(limits.saturated("acme"));
  EXPECT_FALSE(limits.saturated("beta"));
  g.complete(calls.admissions[0].ticket, adapter_outcome::succeeded, fast,
             clock.now());
  q.drain(g, "acme", clock.now());
  EXPECT_EQ(limits.waiting("acme"), 1);
  EXPECT_FALSE(limits.saturated("acme"));
  // A call refused after its wait stops counting too.
  clock.advance(3s);
  q.drain_all(g, clock.now());
  EXPECT_EQ(limits.waiting("acme"), 0);
  EXPECT_EQ(q.size(), 0u);
}

TEST_F(guard_test, an_ended_queue_leaves_no_tenant_saturated) {
  resumed_calls calls;
  {
    slot_queue q{2s};
    for (auto name : {"a", "b", "c", "d"})
      q.admit(g, "acme", "netbox", "default", clock.now(), calls.of(name));
    EXPECT_TRUE(g.tenant_limits().saturated("acme"));
  }
  // The adapter holding the queue ended with two calls waiting.
  EXPECT_EQ(g.tenant_limits().waiting("acme"), 0);
  EXPECT_FALSE(g.tenant_limits().saturated("acme"));
}

TEST_F(guard_test, a_new_call_goes_behind_those_already_waiting) {
  slot_queue q{2s};
  resumed_calls calls;
  q.admit(g, "acme", "netbox", "default", clock.now(), calls.of("a"));
  q.admit(g, "acme", "netbox", "default", clock.now(), calls.of("b"));
  EXPECT_TRUE(q.admit(g, "acme", "netbox", "default", clock.now(),
                      calls.of("c")));
  // b's slot is freed without a drain (e.g. by another adapter): the next
  // arrival must not overtake c.
  g.complete(calls.admissions[1].ticket, adapter_outcome::succeeded, fast,
             clock.now());
  EXPECT_TRUE(q.admit(g, "acme", "netbox", "default", clock.now(),
                      calls.of("d")));
  ASSERT_EQ(calls.order, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(calls.admissions[2]);
  EXPECT_EQ(q.size(), 1u);
}

TEST_F(guard_test, a_call_that_waited_too_long_is_parked_and_sends_nothing) {
  slot_queue q{2s};
  resumed_calls calls;
  q.admit(g, "acme", "netbox", "default", clock.now(), calls.of("a"));
  q.admit(g, "acme", "netbox", "default", clock.now(), calls.of("b"));
  q.admit(g, "acme", "netbox", "default", clock.now(), calls.of("c"));
  clock.advance(1s);
  q.admit(g, "acme", "netbox", "default", clock.now(), calls.of("d"));
  clock.advance(1500ms);
  // c waited 2.5 s and is refused; d (1.5 s) waits on.
  q.drain_all(g, clock.now());
  ASSERT_EQ(calls.order, (std::vector<std::string>{"a", "b", "c"}));
  const auto& late = calls.admissions[2];
  EXPECT_FALSE(late);
  EXPECT_EQ(late.reason, park_reason::tenant_limit);
  EXPECT_EQ(late.parked_reply().outcome, adapter_outcome::parked);
  EXPECT_EQ(late.parked_reply().retry_after_ms, 700);
  EXPECT_NE(late.detail.find("stayed at its limit of 2"), std::string::npos)
    << late.detail;
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(g.tenant_limits().in_flight("acme"), 2);
}

TEST_F(guard_test, an_open_breaker_or_no_wait_refuses_at_once) {
  resumed_calls calls;
  slot_queue no_wait{0ms};
  no_wait.admit(g, "acme", "netbox", "default", clock.now(), calls.of("a"));
  no_wait.admit(g, "acme", "netbox", "default", clock.now(), calls.of("b"));
  EXPECT_FALSE(no_wait.admit(g, "acme", "netbox", "default", clock.now(),
                             calls.of("c")));
  ASSERT_EQ(calls.order.size(), 3u);
  EXPECT_EQ(calls.admissions[2].reason, park_reason::tenant_limit);
  fail_once("beta", "genieacs");
  fail_once("beta", "genieacs");
  slot_queue q{2s};
  EXPECT_FALSE(q.admit(g, "beta", "genieacs", "default", clock.now(),
                       calls.of("d")));
  ASSERT_EQ(calls.order.size(), 4u);
  EXPECT_EQ(calls.admissions[3].reason, park_reason::breaker_open);
  EXPECT_EQ(q.size(), 0u);
}

// A waiting call whose resume completes at once (and drains again) does not
// disturb the drain that let it go.
TEST_F(guard_test, a_call_that_completes_while_resumed_lets_the_next_go) {
  slot_queue q{2s};
  resumed_calls calls;
  q.admit(g, "acme", "netbox", "default", clock.now(), calls.of("a"));
  q.admit(g, "acme", "netbox", "default", clock.now(), calls.of("b"));
  int quick = 0;
  q.admit(g, "acme", "netbox", "default", clock.now(), [&](admission adm) {
    ASSERT_TRUE(adm);
    ++quick;
    g.complete(adm.ticket, adapter_outcome::permanent_failure, fast,
               clock.now());
    q.drain(g, "acme", clock.now());
  });
  q.admit(g, "acme", "netbox", "default", clock.now(), calls.of("d"));
  g.complete(calls.admissions[0].ticket, adapter_outcome::succeeded, fast,
             clock.now());
  q.drain(g, "acme", clock.now());
  EXPECT_EQ(quick, 1);
  ASSERT_EQ(calls.order, (std::vector<std::string>{"a", "b", "d"}));
  EXPECT_TRUE(calls.admissions[2]);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(g.tenant_limits().in_flight("acme"), 2);
}

TEST(retry_state, waits_with_full_jitter_under_a_growing_cap) {
  retry_policy policy;
  policy.max_attempts = 4;
  policy.initial_backoff = 100ms;
  policy.multiplier = 2.0;
  policy.cap = 300ms;
  std::vector<double> draws{1.0, 0.5, 0.999};
  size_t next = 0;
  retry_state st{policy, [&] { return draws[next++]; }};
  EXPECT_EQ(st.next_delay(), std::optional{100ms});
  EXPECT_EQ(st.next_delay(), std::optional{100ms}); // 0.5 * 200
  EXPECT_EQ(st.next_delay(), std::optional{299ms}); // 0.999 * cap 300
  EXPECT_EQ(st.next_delay(), std::nullopt);         // 4 attempts made
  EXPECT_EQ(st.failed_attempts(), 4);
}

TEST(retry_state, draws_from_a_seeded_source_within_the_ceiling) {
  retry_policy policy;
  policy.max_attempts = 0; // until the caller's deadline
  policy.initial_backoff = 50ms;
  policy.cap = 1s;
  retry_state st{policy, make_seeded_source(42)};
  for (int i = 1; i <= 20; ++i) {
    auto d = st.next_delay();
    ASSERT_TRUE(d);
    EXPECT_LE(*d, policy.ceiling(i));
    EXPECT_GE(d->count(), 0);
  }
}

} // namespace
