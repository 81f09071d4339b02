#pragma once

#include <atomic>
#include <chrono>

// Time for the resilience primitives. Every decision takes `now` as an
// argument; adapter actors read it from a `clock`, tests from a
// `manual_clock` they move by hand.

namespace ispflow::adapters::resilience {

/// Monotonic time, as every breaker and limiter decision sees it.
using clock_type = std::chrono::steady_clock;

/// A point on `clock_type`.
using time_point = clock_type::time_point;

/// Durations of calls and waits.
using duration = clock_type::duration;

/// Where "now" comes from.
class clock {
public:
  virtual ~clock() = default;

  /// The current time.
  virtual time_point now() const noexcept = 0;
};

/// The real monotonic clock.
class steady_clock_source final : public clock {
public:
  /// `std::chrono::steady_clock::now()`.
  time_point now() const noexcept override {
    return clock_type::now();
  }
};

/// A clock that only moves when told to (tests). Thread-safe.
class manual_clock final : public clock {
public:
  /// Starts at `start` (by default an arbitrary, non-zero point).
  explicit manual_clock(time_point start = time_point{} + std::chrono::hours{1})
    : now_(start.time_since_epoch().count()) {
    // nop
  }

  /// The time last set.
  time_point now() const noexcept override {
    return time_point{duration{now_.load()}};
  }

  /// Moves the time forward by `d`.
  void advance(duration d) noexcept {
    now_.fetch_add(d.count());
  }

  /// Sets the time.
  void set(time_point t) noexcept {
    now_.store(t.time_since_epoch().count());
  }

private:
  std::atomic<duration::rep> now_;
};

} // namespace ispflow::adapters::resilience
