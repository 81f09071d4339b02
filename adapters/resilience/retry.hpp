#pragma once

#include "sagas/retry.hpp"

#include <chrono>
#include <cstdint>
#include <optional>

// Retries inside an adapter (e.g. an idempotent GET that hit a 503), with
// the saga engine's policy: exponential backoff with full jitter and a cap.
// Retries of a whole saga step are the engine's business, not this.

namespace ispflow::adapters::resilience {

/// The saga engine's policy (sagas/retry.hpp), reused as is.
using sagas::retry_policy;

/// Uniform draws from [0, 1) (sagas/retry.hpp).
using sagas::uniform_random_source;

/// A seeded source for the runtime (sagas/retry.hpp).
using sagas::make_seeded_source;

/// Counts the attempts of one call and says how long to wait before the
/// next. Not thread-safe (one per call).
class retry_state {
public:
  /// No attempt made yet.
  retry_state(retry_policy policy, uniform_random_source random);

  /// Call after attempt n failed: the wait before attempt n+1, or nothing
  /// when `max_attempts` are used up.
  std::optional<std::chrono::milliseconds> next_delay();

  /// Attempts that failed so far.
  int32_t failed_attempts() const noexcept {
    return failed_;
  }

  /// The policy.
  const retry_policy& policy() const noexcept {
    return policy_;
  }

private:
  retry_policy policy_;
  uniform_random_source random_;
  int32_t failed_ = 0;
};

} // namespace ispflow::adapters::resilience
