#include "adapters/resilience/circuit_breaker.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <vector>

namespace {

using namespace ispflow::adapters::resilience;
using namespace std::chrono_literals;

constexpr auto fast = 10ms;

// A small count-based breaker: window 10, minimum 4 calls, 50 % failures,
// 10 s open, 3 trial calls.
breaker_config small_config() {
  breaker_config cfg;
  cfg.sliding_window_type = window_type::count_based;
  cfg.sliding_window_size = 10;
  cfg.minimum_number_of_calls = 4;
  cfg.failure_rate_threshold = 50;
  cfg.slow_call_rate_threshold = 100;
  cfg.slow_call_duration_threshold = 1000ms;
  cfg.wait_duration_in_open_state = 10s;
  cfg.permitted_number_of_calls_in_half_open_state = 3;
  cfg.half_open_busy_retry_after = 250ms;
  return cfg;
}

struct breaker_test : ::testing::Test {
  manual_clock clock;
  std::vector<breaker_transition> seen;

  std::unique_ptr<circuit_breaker> make(breaker_config cfg) {
    auto cb = std::make_unique<circuit_breaker>(cfg, clock.now());
    cb->on_transition(
      [this](const breaker_transition& tr) { seen.push_back(tr); });
    return cb;
  }

  // Acquires a permit and records `outcome` (failing the test if refused).
  void call(circuit_breaker& cb, call_outcome outcome, duration took = fast) {
    auto got = cb.acquire(clock.now());
    ASSERT_TRUE(got.permitted) << "state " << got.state;
    cb.record(got.permit, outcome, took, clock.now());
  }

  void calls(circuit_breaker& cb, int n, call_outcome outcome,
             duration took = fast) {
    for (int i = 0; i < n; ++i)
      call(cb, outcome, took);
  }

  // Opens a small_config() breaker by four failures.
  std::unique_ptr<circuit_breaker> opened(breaker_config cfg = small_config()) {
    auto cb = make(cfg);
    calls(*cb, 4, call_outcome::failure);
    EXPECT_EQ(cb->state(), breaker_state::open);
    seen.clear();
    return cb;
  }
};

TEST_F(breaker_test, opens_when_the_failure_rate_reaches_the_threshold) {
  auto cb = make(small_config());
  calls(*cb, 2, call_outcome::success);
  call(*cb, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::closed);
  // Fourth call: minimum reached, 2 of 4 failed = 50 % = threshold.
  call(*cb, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::open);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].from, breaker_state::closed);
  EXPECT_EQ(seen[0].to, breaker_state::open);
  EXPECT_EQ(seen[0].reason, transition_reason::failure_rate_exceeded);
  EXPECT_DOUBLE_EQ(seen[0].metrics.failure_rate, 50.0);
  EXPECT_EQ(seen[0].metrics.number_of_calls, 4);
  EXPECT_EQ(seen[0].metrics.number_of_failed_calls, 2);
  EXPECT_EQ(seen[0].metrics.times_opened, 1);
  EXPECT_EQ(seen[0].at, clock.now());
}

TEST_F(breaker_test, stays_closed_below_the_minimum_number_of_calls) {
  auto cfg = small_config();
  cfg.minimum_number_of_calls = 5;
  auto cb = make(cfg);
  calls(*cb, 4, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::closed);
  auto snap = cb->snapshot();
  EXPECT_EQ(snap.metrics.number_of_calls, 4);
  EXPECT_EQ(snap.metrics.number_of_failed_calls, 4);
  EXPECT_DOUBLE_EQ(snap.metrics.failure_rate, -1.0);
  EXPECT_TRUE(seen.empty());
  call(*cb, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::open);
}

TEST_F(breaker_test, stays_closed_below_the_failure_rate_threshold) {
  auto cb = make(small_config());
  calls(*cb, 6, call_outcome::success);
  calls(*cb, 4, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::closed);
  EXPECT_DOUBLE_EQ(cb->snapshot().metrics.failure_rate, 40.0);
}

TEST_F(breaker_test, caps_the_minimum_at_the_size_of_a_count_window) {
  auto cfg = small_config();
  cfg.sliding_window_size = 5;
  cfg.minimum_number_of_calls = 100;
  auto cb = make(cfg);
  calls(*cb, 4, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::closed);
  call(*cb, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::open);
}

TEST_F(breaker_test, opens_when_the_slow_call_rate_reaches_its_threshold) {
  auto cfg = small_config();
  cfg.slow_call_rate_threshold = 50;
  cfg.slow_call_duration_threshold = 100ms;
  auto cb = make(cfg);
  calls(*cb, 2, call_outcome::success, 50ms);
  // Exactly the threshold duration is not slow.
  call(*cb, call_outcome::success, 100ms);
  call(*cb, call_outcome::success, 101ms);
  EXPECT_EQ(cb->state(), breaker_state::closed);
  call(*cb, call_outcome::success, 2s);
  call(*cb, call_outcome::success, 2s);
  // 3 of 6 slow = 50 %; no failures at all.
  EXPECT_EQ(cb->state(), breaker_state::open);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].reason, transition_reason::slow_call_rate_exceeded);
  EXPECT_DOUBLE_EQ(seen[0].metrics.slow_call_rate, 50.0);
  EXPECT_DOUBLE_EQ(seen[0].metrics.failure_rate, 0.0);
  EXPECT_EQ(seen[0].metrics.number_of_slow_calls, 3);
  EXPECT_EQ(seen[0].metrics.number_of_slow_failed_calls, 0);
}

TEST_F(breaker_test, counts_a_slow_failure_as_both_slow_and_failed) {
  auto cfg = small_config();
  cfg.failure_rate_threshold = 100;
  cfg.slow_call_duration_threshold = 100ms;
  auto cb = make(cfg);
  call(*cb, call_outcome::failure, 1s);
  call(*cb, call_outcome::success, 1s);
  auto m = cb->snapshot().metrics;
  EXPECT_EQ(m.number_of_slow_calls, 2);
  EXPECT_EQ(m.number_of_slow_failed_calls, 1);
  EXPECT_EQ(m.number_of_failed_calls, 1);
}

TEST_F(breaker_test, rejects_calls_while_open_and_says_when_to_retry) {
  auto cb = opened();
  clock.advance(4s);
  auto got = cb->acquire(clock.now());
  EXPECT_FALSE(got.permitted);
  EXPECT_EQ(got.state, breaker_state::open);
  EXPECT_EQ(got.retry_after, 6000ms);
  clock.advance(5999ms);
  got = cb->acquire(clock.now());
  EXPECT_FALSE(got.permitted);
  EXPECT_EQ(got.retry_after, 1ms);
  EXPECT_EQ(cb->snapshot().metrics.number_of_not_permitted_calls, 2);
  // The counters that opened it stay visible while open.
  EXPECT_DOUBLE_EQ(cb->snapshot().metrics.failure_rate, 100.0);
  EXPECT_TRUE(seen.empty());
}

TEST_F(breaker_test, moves_to_half_open_lazily_on_acquire_after_the_wait) {
  auto cb = opened();
  clock.advance(10s);
  // No call, no change: the transition is lazy.
  EXPECT_EQ(cb->state(), breaker_state::open);
  auto got = cb->acquire(clock.now());
  EXPECT_TRUE(got.permitted);
  EXPECT_TRUE(got.permit.trial);
  EXPECT_EQ(got.state, breaker_state::half_open);
  EXPECT_EQ(cb->state(), breaker_state::half_open);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].from, breaker_state::open);
  EXPECT_EQ(seen[0].to, breaker_state::half_open);
  EXPECT_EQ(seen[0].reason, transition_reason::open_wait_elapsed);
}

TEST_F(breaker_test, moves_to_half_open_on_tick_after_the_wait) {
  auto cb = opened();
  clock.advance(9s);
  EXPECT_EQ(cb->tick(clock.now()), breaker_state::open);
  clock.advance(1s);
  EXPECT_EQ(cb->tick(clock.now()), breaker_state::half_open);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].reason, transition_reason::open_wait_elapsed);
  EXPECT_EQ(cb->snapshot().free_trial_permits, 3);
}

TEST_F(breaker_test, permits_only_the_configured_trial_calls_in_half_open) {
  auto cb = opened();
  clock.advance(10s);
  std::vector<breaker_permit> permits;
  for (int i = 0; i < 3; ++i) {
    auto got = cb->acquire(clock.now());
    ASSERT_TRUE(got.permitted);
    permits.push_back(got.permit);
  }
  auto refused = cb->acquire(clock.now());
  EXPECT_FALSE(refused.permitted);
  EXPECT_EQ(refused.state, breaker_state::half_open);
  EXPECT_EQ(refused.retry_after, 250ms);
  // Releasing an unused trial permit frees it for another call.
  cb->release(permits.back(), clock.now());
  EXPECT_EQ(cb->snapshot().free_trial_permits, 1);
  EXPECT_TRUE(cb->acquire(clock.now()).permitted);
  EXPECT_EQ(cb->state(), breaker_state::half_open);
}

TEST_F(breaker_test, closes_after_the_permitted_trial_calls_succeed) {
  auto cb = opened();
  clock.advance(10s);
  calls(*cb, 2, call_outcome::success);
  EXPECT_EQ(cb->state(), breaker_state::half_open);
  call(*cb, call_outcome::success);
  EXPECT_EQ(cb->state(), breaker_state::closed);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].from, breaker_state::half_open);
  EXPECT_EQ(seen[1].to, breaker_state::closed);
  EXPECT_EQ(seen[1].reason, transition_reason::half_open_calls_succeeded);
  EXPECT_EQ(seen[1].metrics.number_of_calls, 3);
  // The closed window starts empty.
  EXPECT_EQ(cb->snapshot().metrics.number_of_calls, 0);
  calls(*cb, 3, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::closed);
}

TEST_F(breaker_test, reopens_when_the_trial_call_fails) {
  auto cfg = small_config();
  cfg.permitted_number_of_calls_in_half_open_state = 1;
  auto cb = opened(cfg);
  clock.advance(10s);
  call(*cb, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::open);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].from, breaker_state::half_open);
  EXPECT_EQ(seen[1].to, breaker_state::open);
  EXPECT_EQ(seen[1].reason, transition_reason::failure_rate_exceeded);
  // A fresh wait starts at the reopening.
  auto got = cb->acquire(clock.now());
  EXPECT_FALSE(got.permitted);
  EXPECT_EQ(got.retry_after, 10s);
  EXPECT_EQ(cb->snapshot().metrics.times_opened, 2);
}

TEST_F(breaker_test, reopens_when_the_trial_failure_rate_reaches_threshold) {
  auto cfg = small_config();
  cfg.permitted_number_of_calls_in_half_open_state = 4;
  auto cb = opened(cfg);
  clock.advance(10s);
  call(*cb, call_outcome::failure);
  calls(*cb, 2, call_outcome::success);
  // One failure of three is not yet decisive: all four must be recorded.
  EXPECT_EQ(cb->state(), breaker_state::half_open);
  call(*cb, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::open);
  EXPECT_DOUBLE_EQ(seen.back().metrics.failure_rate, 50.0);
}

TEST_F(breaker_test, closes_when_trial_failures_stay_below_threshold) {
  auto cfg = small_config();
  cfg.permitted_number_of_calls_in_half_open_state = 4;
  auto cb = opened(cfg);
  clock.advance(10s);
  call(*cb, call_outcome::failure);
  calls(*cb, 3, call_outcome::success);
  EXPECT_EQ(cb->state(), breaker_state::closed);
}

TEST_F(breaker_test, reopens_when_half_open_waits_too_long_for_its_trials) {
  auto cfg = small_config();
  cfg.max_wait_duration_in_half_open_state = 5s;
  auto cb = opened(cfg);
  clock.advance(10s);
  auto trial = cb->acquire(clock.now());
  ASSERT_TRUE(trial.permitted);
  clock.advance(4999ms);
  EXPECT_EQ(cb->tick(clock.now()), breaker_state::half_open);
  clock.advance(1ms);
  EXPECT_EQ(cb->tick(clock.now()), breaker_state::open);
  EXPECT_EQ(seen.back().reason, transition_reason::half_open_wait_exceeded);
  // The late trial's outcome belongs to an old epoch: no state change.
  cb->record(trial.permit, call_outcome::success, fast, clock.now());
  EXPECT_EQ(cb->state(), breaker_state::open);
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(breaker_test, ignores_outcomes_of_permits_from_an_earlier_state) {
  auto cb = make(small_config());
  auto early = cb->acquire(clock.now());
  calls(*cb, 4, call_outcome::failure);
  ASSERT_EQ(cb->state(), breaker_state::open);
  clock.advance(10s);
  ASSERT_EQ(cb->tick(clock.now()), breaker_state::half_open);
  // A closed-state call that ends now must not count as a trial.
  cb->record(early.permit, call_outcome::failure, fast, clock.now());
  EXPECT_EQ(cb->state(), breaker_state::half_open);
  EXPECT_EQ(cb->snapshot().metrics.number_of_calls, 0);
  EXPECT_EQ(cb->snapshot().metrics.total_failed_calls, 5);
}

TEST_F(breaker_test, forced_open_rejects_every_call_until_reset) {
  auto cb = make(small_config());
  cb->force_open(clock.now());
  EXPECT_EQ(cb->state(), breaker_state::forced_open);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].reason, transition_reason::forced);
  clock.advance(1h);
  auto got = cb->acquire(clock.now());
  EXPECT_FALSE(got.permitted);
  EXPECT_EQ(got.state, breaker_state::forced_open);
  EXPECT_EQ(got.retry_after, 10s);
  EXPECT_EQ(cb->tick(clock.now()), breaker_state::forced_open);
  cb->reset(clock.now());
  EXPECT_EQ(cb->state(), breaker_state::closed);
  EXPECT_EQ(seen.back().reason, transition_reason::reset);
  EXPECT_TRUE(cb->acquire(clock.now()).permitted);
}

TEST_F(breaker_test, forced_closed_permits_every_call_and_never_opens) {
  auto cb = opened();
  cb->force_closed(clock.now());
  EXPECT_EQ(cb->state(), breaker_state::forced_closed);
  EXPECT_EQ(seen.back().from, breaker_state::open);
  calls(*cb, 10, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::forced_closed);
  // Outcomes are still counted.
  EXPECT_DOUBLE_EQ(cb->snapshot().metrics.failure_rate, 100.0);
  cb->reset(clock.now());
  EXPECT_EQ(cb->state(), breaker_state::closed);
  EXPECT_EQ(cb->snapshot().metrics.number_of_calls, 0);
  calls(*cb, 4, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::open);
}

TEST_F(breaker_test, reset_closes_an_open_breaker_with_an_empty_window) {
  auto cb = opened();
  cb->reset(clock.now());
  EXPECT_EQ(cb->state(), breaker_state::closed);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].from, breaker_state::open);
  EXPECT_EQ(seen[0].to, breaker_state::closed);
  calls(*cb, 3, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::closed);
}

TEST_F(breaker_test, rolls_a_count_based_window) {
  auto cfg = small_config();
  cfg.sliding_window_size = 4;
  cfg.minimum_number_of_calls = 4;
  cfg.failure_rate_threshold = 75;
  auto cb = make(cfg);
  call(*cb, call_outcome::failure);
  calls(*cb, 3, call_outcome::success);
  EXPECT_DOUBLE_EQ(cb->snapshot().metrics.failure_rate, 25.0);
  // The fifth call pushes the first failure out.
  call(*cb, call_outcome::success);
  EXPECT_DOUBLE_EQ(cb->snapshot().metrics.failure_rate, 0.0);
  EXPECT_EQ(cb->snapshot().metrics.number_of_calls, 4);
  calls(*cb, 2, call_outcome::failure);
  EXPECT_DOUBLE_EQ(cb->snapshot().metrics.failure_rate, 50.0);
  EXPECT_EQ(cb->state(), breaker_state::closed);
  call(*cb, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::open);
  EXPECT_DOUBLE_EQ(seen.back().metrics.failure_rate, 75.0);
}

TEST_F(breaker_test, forgets_calls_older_than_a_time_based_window) {
  auto cfg = small_config();
  cfg.sliding_window_type = window_type::time_based;
  cfg.sliding_window_size = 10; // seconds
  cfg.minimum_number_of_calls = 3;
  auto cb = make(cfg);
  calls(*cb, 2, call_outcome::failure);
  EXPECT_EQ(cb->snapshot().metrics.number_of_calls, 2);
  clock.advance(11s);
  // The two failures have left the window: one call is below the minimum.
  call(*cb, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::closed);
  EXPECT_EQ(cb->snapshot().metrics.number_of_calls, 1);
  clock.advance(5s);
  calls(*cb, 2, call_outcome::failure);
  EXPECT_EQ(cb->state(), breaker_state::open);
  EXPECT_EQ(seen.back().metrics.number_of_calls, 3);
}

TEST_F(breaker_test, time_based_window_keeps_calls_inside_its_span) {
  auto cfg = small_config();
  cfg.sliding_window_type = window_type::time_based;
  cfg.sliding_window_size = 10;
  cfg.minimum_number_of_calls = 3;
  cfg.failure_rate_threshold = 100;
  auto cb = make(cfg);
  call(*cb, call_outcome::failure);
  clock.advance(4s);
  call(*cb, call_outcome::failure);
  clock.advance(4s);
  call(*cb, call_outcome::failure);
  // 8 s span: all three are inside the 10 s window.
  EXPECT_EQ(cb->state(), breaker_state::open);
  EXPECT_EQ(seen.back().metrics.number_of_calls, 3);
}

TEST_F(breaker_test, ignored_outcomes_are_not_counted) {
  auto cb = make(small_config());
  for (int i = 0; i < 10; ++i) {
    auto got = cb->acquire(clock.now());
    cb->record(got.permit, call_outcome::ignored, fast, clock.now());
  }
  EXPECT_EQ(cb->snapshot().metrics.number_of_calls, 0);
  EXPECT_EQ(cb->state(), breaker_state::closed);
}

TEST_F(breaker_test, lets_a_listener_read_the_breaker) {
  auto cb = make(small_config());
  breaker_state from_listener = breaker_state::closed;
  cb->on_transition(
    [&](const breaker_transition&) { from_listener = cb->snapshot().state; });
  calls(*cb, 4, call_outcome::failure);
  EXPECT_EQ(from_listener, breaker_state::open);
}

TEST(breaker_config_test, validates_every_knob) {
  EXPECT_FALSE(validate(breaker_config{}));
  auto bad = breaker_config{};
  bad.failure_rate_threshold = 0;
  EXPECT_TRUE(validate(bad));
  bad = breaker_config{};
  bad.slow_call_rate_threshold = 101;
  EXPECT_TRUE(validate(bad));
  bad = breaker_config{};
  bad.sliding_window_size = 0;
  EXPECT_TRUE(validate(bad));
  bad = breaker_config{};
  bad.minimum_number_of_calls = 0;
  EXPECT_TRUE(validate(bad));
  bad = breaker_config{};
  bad.permitted_number_of_calls_in_half_open_state = 0;
  EXPECT_TRUE(validate(bad));
  bad = breaker_config{};
  bad.wait_duration_in_open_state = 0ms;
  EXPECT_TRUE(validate(bad));
}

TEST(breaker_config_test, defaults_follow_resilience4j) {
  breaker_config cfg;
  EXPECT_DOUBLE_EQ(cfg.failure_rate_threshold, 50);
  EXPECT_DOUBLE_EQ(cfg.slow_call_rate_threshold, 100);
  EXPECT_EQ(cfg.slow_call_duration_threshold, 60s);
  EXPECT_EQ(cfg.permitted_number_of_calls_in_half_open_state, 10);
  EXPECT_EQ(cfg.max_wait_duration_in_half_open_state, 0ms);
  EXPECT_EQ(cfg.sliding_window_type, window_type::count_based);
  EXPECT_EQ(cfg.sliding_window_size, 100);
  EXPECT_EQ(cfg.minimum_number_of_calls, 100);
  EXPECT_EQ(cfg.wait_duration_in_open_state, 60s);
  EXPECT_EQ(to_string(breaker_state::half_open), "half_open");
  EXPECT_EQ(breaker_state_gauge(breaker_state::open), 1);
}

} // namespace
