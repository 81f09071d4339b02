#pragma once

#include "adapters/api/adapters.hpp"

#include <caf/fwd.hpp>
#include <memory>
#include <string>

namespace ispflow::adapters::resilience {
class guard;
} // namespace ispflow::adapters::resilience

namespace ispflow::actors {

/// Puts `inner` behind `guard`: every request first asks the guard for the
/// breaker of (tenant, `adapter`, `endpoint`) and the tenant's limit. When
/// either refuses, the reply is `parked` with a retry-after and nothing
/// reaches `inner` (not an attempt, see design.md §4); otherwise the request
/// goes on and its outcome is recorded (a `permanent_failure` is a healthy
/// system's answer, `retryable_failure` and `unknown_outcome` count against
/// the breaker, no answer at all counts as a failure). For adapters that do
/// not consult the guard themselves (RADIUS, VOLTHA).
adapters::api::adapter_actor
spawn_guarded_adapter(caf::actor_system& sys,
                      adapters::api::adapter_actor inner,
                      std::shared_ptr<adapters::resilience::guard> guard,
                      std::string adapter, std::string endpoint = "default");

} // namespace ispflow::actors
