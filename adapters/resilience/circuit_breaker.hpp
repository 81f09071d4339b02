#pragma once

#include "adapters/resilience/clock.hpp"

#include <caf/error.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string_view>
#include <vector>

// A circuit breaker with resilience4j's knobs and semantics
// (resilience4j-circuitbreaker: CircuitBreakerConfig,
// CircuitBreakerStateMachine).
//
//              failure or slow-call rate >= threshold
//              (once minimum_number_of_calls are in the window)
//    +--------+ --------------------------------------> +------+
//    | closed |                                          | open |
//    +--------+ <--+                            +------> +------+
//        ^         | the permitted calls were   |           |
//        |         | recorded, rates below      | rates     |
//        wait_duration_in_open_state |         | thresholds                 |
//        exceeded, | elapsed (on the next acquire, |         | | or max    | or
//        on tick) |         |       +-----------+ -------+ half-open v |
//        +------ | half_open | <------------------+ | +-----------+   wait
//   reset()          force_open() -> forced_open, force_closed() ->
//   forced_closed; from anywhere    both stay until reset() (which closes with
//   an empty window).

namespace ispflow::adapters::resilience {

/// The breaker's state. Stored and exported as text: never rename one.
enum class breaker_state : uint8_t {
  /// Calls pass; outcomes fill the sliding window.
  closed,
  /// Calls are rejected until wait_duration_in_open_state has passed.
  open,
  /// A limited number of trial calls pass; their outcomes decide.
  half_open,
  /// An operator opened it: every call is rejected until reset().
  forced_open,
  /// An operator closed it: every call passes, outcomes are counted but
  /// never change the state, until reset().
  forced_closed,
};

/// Stable lower-case name, e.g. "half_open".
std::string_view to_string(breaker_state x) noexcept;

/// Prints `to_string(x)`.
std::ostream& operator<<(std::ostream& os, breaker_state x);

/// The metric a gauge exports: 0 closed, 1 open, 2 half_open, 3
/// forced_open, 4 forced_closed.
int breaker_state_gauge(breaker_state x) noexcept;

/// Why the breaker changed state.
enum class transition_reason : uint8_t {
  /// The failure rate reached failure_rate_threshold (closed or half-open).
  failure_rate_exceeded,
  /// The slow-call rate reached slow_call_rate_threshold.
  slow_call_rate_exceeded,
  /// wait_duration_in_open_state passed.
  open_wait_elapsed,
  /// The permitted half-open calls were recorded below both thresholds.
  half_open_calls_succeeded,
  /// max_wait_duration_in_half_open_state passed before the trial calls
  /// were all recorded.
  half_open_wait_exceeded,
  /// force_open() or force_closed().
  forced,
  /// reset().
  reset,
};

/// Stable lower-case name, e.g. "failure_rate_exceeded".
std::string_view to_string(transition_reason x) noexcept;

/// Prints `to_string(x)`.
std::ostream& operator<<(std::ostream& os, transition_reason x);

/// How the sliding window is measured.
enum class window_type : uint8_t {
  /// The last `sliding_window_size` calls.
  count_based,
  /// The calls of the last `sliding_window_size` seconds (per-second
  /// buckets, as resilience4j).
  time_based,
};

/// Stable lower-case name, e.g. "count_based".
std::string_view to_string(window_type x) noexcept;

/// The knobs, named and defaulted as resilience4j's CircuitBreakerConfig.
struct breaker_config {
  /// Percent (0, 100]: at or above it, the breaker opens.
  double failure_rate_threshold = 50.0;
  /// Percent (0, 100]: share of slow calls at or above which it opens.
  double slow_call_rate_threshold = 100.0;
  /// A call that takes longer than this is slow.
  std::chrono::milliseconds slow_call_duration_threshold{60'000};
  /// Trial calls let through in half-open.
  int32_t permitted_number_of_calls_in_half_open_state = 10;
  /// How long half-open may wait for its trial calls before it opens
  /// again; 0 = wait for them indefinitely.
  std::chrono::milliseconds max_wait_duration_in_half_open_state{0};
  /// Count-based or time-based window.
  window_type sliding_window_type = window_type::count_based;
  /// Calls (count-based) or seconds (time-based).
  int32_t sliding_window_size = 100;
  /// No rate is computed before this many calls are in the window (for a
  /// count-based window, capped at its size).
  int32_t minimum_number_of_calls = 100;
  /// How long the breaker stays open before it lets trial calls through.
  std::chrono::milliseconds wait_duration_in_open_state{60'000};
  /// What `acquire` returns as retry_after while half-open has no free
  /// trial permit (resilience4j has no equivalent: it just rejects).
  std::chrono::milliseconds half_open_busy_retry_after{1'000};

  friend bool operator==(const breaker_config&, const breaker_config&)
    = default;
};

/// Checks every knob's range; an error names the first bad one.
caf::error validate(const breaker_config& cfg);

/// How a call ended, as the breaker counts it.
enum class call_outcome : uint8_t {
  /// The downstream system answered (a 4xx counts here: it is healthy).
  success,
  /// The downstream system failed or did not answer.
  failure,
  /// Neither: the permit is returned and nothing is counted (e.g. the call
  /// was cancelled before it was sent).
  ignored,
};

/// Stable lower-case name, e.g. "failure".
std::string_view to_string(call_outcome x) noexcept;

/// Permission for one call. Pass it back to `record` or `release`.
struct breaker_permit {
  /// Which state epoch issued it; outcomes of an older epoch are counted in
  /// the totals but do not move the state.
  uint64_t epoch = 0;
  /// True if it is one of the half-open trial calls.
  bool trial = false;
};

/// The answer of `acquire`.
struct acquire_result {
  /// True if the call may go ahead.
  bool permitted = false;
  /// Valid if permitted.
  breaker_permit permit;
  /// If rejected: when asking again may succeed (never negative, at least
  /// 1 ms).
  std::chrono::milliseconds retry_after{0};
  /// The state that decided.
  breaker_state state = breaker_state::closed;

  /// `permitted`.
  explicit operator bool() const noexcept {
    return permitted;
  }
};

/// Counters of one breaker (resilience4j's Metrics plus totals).
struct breaker_metrics {
  /// Calls in the current window (closed) or trial calls recorded
  /// (half-open).
  int32_t number_of_calls = 0;
  /// Of those, failures.
  int32_t number_of_failed_calls = 0;
  /// Of those, slower than slow_call_duration_threshold (failed or not).
  int32_t number_of_slow_calls = 0;
  /// Of those, slow and failed.
  int32_t number_of_slow_failed_calls = 0;
  /// Percent, or -1 while fewer than the minimum number of calls.
  double failure_rate = -1.0;
  /// Percent, or -1 while fewer than the minimum number of calls.
  double slow_call_rate = -1.0;
  /// Rejections since the breaker was created.
  int64_t number_of_not_permitted_calls = 0;
  /// Outcomes recorded since the breaker was created (any epoch).
  int64_t total_successful_calls = 0;
  /// Failures recorded since the breaker was created (any epoch).
  int64_t total_failed_calls = 0;
  /// Times the breaker went to open or forced_open.
  int64_t times_opened = 0;

  friend bool operator==(const breaker_metrics&, const breaker_metrics&)
    = default;
};

/// One state change, for listeners (saga.events.v1 records, metrics, logs).
struct breaker_transition {
  breaker_state from = breaker_state::closed;
  breaker_state to = breaker_state::closed;
  transition_reason reason = transition_reason::reset;
  /// The counters at the moment of the change (the window that decided).
  breaker_metrics metrics;
  /// When it happened.
  time_point at;
};

/// Prints "closed -> open (failure_rate_exceeded, failure rate 60%)".
std::ostream& operator<<(std::ostream& os, const breaker_transition& x);

/// The breaker's state and counters, e.g. for /metrics and the admin API.
struct breaker_snapshot {
  breaker_state state = breaker_state::closed;
  /// When the current state began.
  time_point since;
  /// In open: when trial calls will be allowed; otherwise `since`.
  time_point open_until;
  /// Trial permits still free (half-open only, otherwise 0).
  int32_t free_trial_permits = 0;
  breaker_metrics metrics;
  breaker_config config;
};

/// Called after every state change, outside the breaker's lock (a listener
/// may call back into the breaker).
using transition_listener = std::function<void(const breaker_transition&)>;

/// A circuit breaker. Thread-safe; every method takes `now`.
class circuit_breaker {
public:
  /// A closed breaker with an empty window. `cfg` should pass `validate`;
  /// out-of-range values are clamped.
  explicit circuit_breaker(breaker_config cfg, time_point now = {});

  ~circuit_breaker();

  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;

  /// Asks to make one call. In open, moves to half-open first if the wait
  /// has passed. Rejections are counted.
  acquire_result acquire(time_point now);

  /// Records how a permitted call ended; `took` is its duration. May move
  /// the state (closed -> open, half_open -> closed or open).
  void record(const breaker_permit& permit, call_outcome outcome, duration took,
              time_point now);

  /// Gives a permit back unused (same as recording `ignored`).
  void release(const breaker_permit& permit, time_point now);

  /// Applies time-driven transitions without a call: open -> half_open once
  /// the wait has passed, half_open -> open once its maximum wait has
  /// passed. Returns the state afterwards.
  breaker_state tick(time_point now);

  /// Operator: reject every call until reset().
  void force_open(time_point now);

  /// Operator: permit every call until reset().
  void force_closed(time_point now);

  /// Back to closed with an empty window (from any state).
  void reset(time_point now);

  /// The current state (without applying time-driven transitions).
  breaker_state state() const;

  /// State and counters.
  breaker_snapshot snapshot() const;

  /// The configuration.
  const breaker_config& config() const noexcept;

  /// Adds a listener; listeners cannot be removed.
  void on_transition(transition_listener listener);

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::resilience
