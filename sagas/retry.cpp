#include "sagas/retry.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

namespace ispflow::sagas {

uniform_random_source make_seeded_source(uint64_t seed) {
  auto state = std::make_shared<uint64_t>(seed);
  return [state] {
    // SplitMix64 (Steele, Lea, Flood), then the top 53 bits as a double.
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
  };
}

std::chrono::milliseconds
retry_policy::ceiling(int32_t attempt) const noexcept {
  auto n = std::max(attempt, int32_t{1});
  auto cap_ms = static_cast<double>(std::max(cap.count(), int64_t{0}));
  auto bound
    = static_cast<double>(std::max(initial_backoff.count(), int64_t{0}))
      * std::pow(std::max(multiplier, 1.0), n - 1);
  // pow may overflow to inf for large attempts; min() keeps it finite.
  bound = std::min(bound, cap_ms);
  return std::chrono::milliseconds{static_cast<int64_t>(bound)};
}

std::chrono::milliseconds
retry_policy::delay(int32_t attempt,
                    const uniform_random_source& random) const {
  auto upper = ceiling(attempt);
  auto u = random ? random() : 0.0;
  if (!(u >= 0.0)) // also catches NaN
    u = 0.0;
  u = std::min(u, 1.0);
  return std::chrono::milliseconds{
    static_cast<int64_t>(std::floor(u * static_cast<double>(upper.count())))};
}

} // namespace ispflow::sagas
