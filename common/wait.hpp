#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

// Time left until a deadline, for the millisecond timeouts of poll(2),
// librdkafka and friends.

namespace ispflow::common {

/// Milliseconds from `now` until `deadline`, rounded up: 0.3 ms left is 1,
/// not 0. A wait loop given the truncated value would call its poll with
/// a timeout of 0, over and over, for the last millisecond of every
/// deadline (an idle consumer waiting 5 ms at a time spent a fifth of a core
/// that way). 0 once the deadline has passed; at most `cap`.
inline int millis_between(std::chrono::steady_clock::time_point now,
                          std::chrono::steady_clock::time_point deadline,
                          int cap = std::numeric_limits<int>::max()) {
  if (deadline <= now)
    return 0;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
  return left.count() < cap ? static_cast<int>(left.count()) : cap;
}

/// millis_between(now, deadline, cap) with the steady clock's now.
inline int millis_until(std::chrono::steady_clock::time_point deadline,
                        int cap = std::numeric_limits<int>::max()) {
  return millis_between(std::chrono::steady_clock::now(), deadline, cap);
}

} // namespace ispflow::common
