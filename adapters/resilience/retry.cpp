#include "adapters/resilience/retry.hpp"

#include <utility>

namespace ispflow::adapters::resilience {

retry_state::retry_state(retry_policy policy, uniform_random_source random)
  : policy_(policy), random_(std::move(random)) {
  // nop
}

std::optional<std::chrono::milliseconds> retry_state::next_delay() {
  ++failed_;
  if (!policy_.allows_another(failed_))
    return std::nullopt;
  return policy_.delay(failed_, random_);
}

} // namespace ispflow::adapters::resilience
