#pragma once

#include "adapters/api/adapters.hpp"

#include <caf/fwd.hpp>
#include <chrono>
#include <memory>
#include <string>

namespace ispflow::adapters::resilience {
class guard;
} // namespace ispflow::adapters::resilience

namespace ispflow::actors {

/// Puts `inner` behind `guard`: every request first asks the guard for the
/// breaker of (tenant, `adapter`, `endpoint`) and the tenant's limit. When
/// the breaker refuses, the reply is `parked` with a retry-after and nothing
/// reaches `inner` (not an attempt, see design.md §4). When the tenant is at
/// its limit of calls in flight, the request waits (in arrival order, per
/// tenant) for a slot, at most `max_wait`, and is then parked as above
/// (`max_wait` 0: parked at once). Otherwise the request
/// goes on and its outcome is recorded (a `permanent_failure` is a healthy
/// system's answer, `retryable_failure` and `unknown_outcome` count against
/// the breaker, no answer at all counts as a failure). For adapters that do
/// not consult the guard themselves (RADIUS, VOLTHA).
adapters::api::adapter_actor spawn_guarded_adapter(
  caf::actor_system& sys, adapters::api::adapter_actor inner,
  std::shared_ptr<adapters::resilience::guard> guard, std::string adapter,
  std::string endpoint = "default",
  std::chrono::milliseconds max_wait = std::chrono::seconds{2});

} // namespace ispflow::actors
