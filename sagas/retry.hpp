#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace ispflow::sagas {

/// Draws a number uniformly from [0, 1). Production passes a seeded PRNG
/// (see `make_seeded_source`); tests pass a scripted one, so every delay the
/// engine computes is reproducible.
using uniform_random_source = std::function<double()>;

/// A small, fast, seedable source (SplitMix64) for the runtime.
uniform_random_source make_seeded_source(uint64_t seed);

/// How often and how fast a step (or its compensation) is retried.
///
/// The wait before attempt n+1, after attempt n failed, uses "full jitter":
/// a uniform draw from [0, min(cap, initial_backoff * multiplier^(n-1))].
struct retry_policy {
  /// Attempts in all, the first included; 0 means "until the deadline".
  int32_t max_attempts = 5;
  /// Upper bound of the first wait.
  std::chrono::milliseconds initial_backoff{500};
  /// Growth of the upper bound per attempt.
  double multiplier = 2.0;
  /// The upper bound never grows past this.
  std::chrono::milliseconds cap{30'000};

  /// The upper bound of the wait after failed attempt `attempt` (1-based;
  /// values below 1 count as 1): min(cap, initial * multiplier^(attempt-1)).
  std::chrono::milliseconds ceiling(int32_t attempt) const noexcept;

  /// The wait after failed attempt `attempt`: floor(u * ceiling(attempt))
  /// with u drawn once from `random` and clamped into [0, 1].
  std::chrono::milliseconds delay(int32_t attempt,
                                  const uniform_random_source& random) const;

  /// True if attempt `attempts_made + 1` is allowed by `max_attempts`.
  bool allows_another(int32_t attempts_made) const noexcept {
    return max_attempts <= 0 || attempts_made < max_attempts;
  }

  friend bool operator==(const retry_policy&, const retry_policy&) = default;
};

} // namespace ispflow::sagas
