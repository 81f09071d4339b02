#pragma once

#include "adapters/resilience/breaker_registry.hpp"
#include "adapters/resilience/circuit_breaker.hpp"
#include "adapters/resilience/limiter.hpp"
#include "events/adapter_messages.hpp"

#include <chrono>
#include <memory>
#include <string>

// What an adapter actor asks before every call to its system, and tells
// after it: the (tenant, adapter, endpoint) breaker and the tenant's
// concurrency limit in one place. A refusal becomes an adapter reply with
// outcome `parked` (design.md §4: breakers park, they do not fail).
//
//   auto adm = guard.admit(req.tenant_id, "netbox", base_url, clock.now());
//   if (!adm)
//     return adm.parked_reply();          // nothing sent; not an attempt
//   ... make the call ...
//   guard.complete(adm.ticket, outcome, clock.now() - started, clock.now());

namespace ispflow::adapters::resilience {

/// Breakers and limits of one process.
struct guard_config {
  registry_config breakers;
  /// Keyed by tenant id.
  limiter_config tenant_limits;
};

/// Checks breakers and limits (see the `validate` overloads).
caf::error validate(const guard_config& cfg);

/// What a granted call holds until `complete`.
struct guard_ticket {
  breaker_key key;
  breaker_permit permit;
  limiter_lease lease;
  /// The breaker that granted it (kept alive by the ticket).
  std::shared_ptr<circuit_breaker> breaker;
};

/// Why a call was not admitted.
enum class park_reason : uint8_t {
  /// Admitted.
  none,
  /// The breaker is open, forced open, or half-open with no free trial.
  breaker_open,
  /// The tenant has as many calls in flight as it may.
  tenant_limit,
};

/// Stable lower-case name, e.g. "breaker_open".
std::string_view to_string(park_reason x) noexcept;

/// The answer of `guard::admit`.
struct admission {
  /// True: go ahead, then `complete(ticket, ...)`.
  bool admitted = false;
  /// Valid if admitted.
  guard_ticket ticket;
  /// If not admitted: why.
  park_reason reason = park_reason::none;
  /// If not admitted: when to ask again (at least 1 ms).
  std::chrono::milliseconds retry_after{0};
  /// If not admitted: e.g. "breaker acme/netbox/default is open".
  std::string detail;

  /// `admitted`.
  explicit operator bool() const noexcept {
    return admitted;
  }

  /// The adapter reply for a refusal: outcome `parked`, `retry_after_ms`
  /// and `detail` as the error.
  events::adapter_reply parked_reply() const;
};

/// How the breaker counts an adapter outcome: `succeeded` and
/// `permanent_failure` are answers of a healthy system (success);
/// `retryable_failure` and `unknown_outcome` are failures; `parked` sent
/// nothing (ignored).
call_outcome breaker_outcome(events::adapter_outcome x) noexcept;

/// Breakers per (tenant, adapter, endpoint) plus per-tenant limits.
/// Thread-safe; share one between all adapter actors of a process.
class guard {
public:
  /// A guard with its own registry and limiter.
  explicit guard(guard_config cfg = {});

  /// A guard over existing parts (e.g. a registry the admin API reads).
  guard(std::shared_ptr<breaker_registry> breakers,
        std::shared_ptr<concurrency_limiter> tenant_limits);

  /// Asks to make one call of `adapter` at `endpoint` for `tenant`.
  admission admit(const std::string& tenant, const std::string& adapter,
                  const std::string& endpoint, time_point now);

  /// Reports how an admitted call ended and frees its slot. `took` is its
  /// duration (slow-call detection).
  void complete(const guard_ticket& ticket, call_outcome outcome, duration took,
                time_point now);

  /// Same, with the adapter's own outcome (see `breaker_outcome`).
  void complete(const guard_ticket& ticket, events::adapter_outcome outcome,
                duration took, time_point now);

  /// `complete`, then the reply to give the caller. A half-open trial call
  /// counted as a failure was the breaker's probe of a system already
  /// known to fail, not an attempt of the request: breakers park, they do
  /// not fail. Its `retryable_failure` comes back `parked`, to be tried
  /// again once the breaker lets calls through (its `retry_after_ms`), its
  /// error as "probe of breaker <key> failed: <error>". Any other reply is
  /// returned as given; so is an `unknown_outcome` (the request may have
  /// taken effect: the next attempt must look first, and it counts).
  events::adapter_reply settle(const guard_ticket& ticket, call_outcome counted,
                               duration took, time_point now,
                               events::adapter_reply reply);

  /// The breakers.
  breaker_registry& breakers() noexcept {
    return *breakers_;
  }

  /// The per-tenant limiter.
  concurrency_limiter& tenant_limits() noexcept {
    return *limits_;
  }

  /// Shared handle to the per-tenant limiter.
  std::shared_ptr<concurrency_limiter> tenant_limits_ptr() const noexcept {
    return limits_;
  }

  /// Shared handle to the breakers (for the admin API and metrics).
  std::shared_ptr<breaker_registry> breakers_ptr() const noexcept {
    return breakers_;
  }

private:
  std::shared_ptr<breaker_registry> breakers_;
  std::shared_ptr<concurrency_limiter> limits_;
};

} // namespace ispflow::adapters::resilience
