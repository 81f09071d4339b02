#include "adapters/resilience/guard.hpp"

#include <algorithm>
#include <sstream>

namespace ispflow::adapters::resilience {

std::string_view to_string(park_reason x) noexcept {
  switch (x) {
    case park_reason::none:
      return "none";
    case park_reason::breaker_open:
      return "breaker_open";
    case park_reason::tenant_limit:
      return "tenant_limit";
  }
  return "none";
}

caf::error validate(const guard_config& cfg) {
  if (auto err = validate(cfg.breakers))
    return err;
  return validate(cfg.tenant_limits);
}

events::adapter_reply admission::parked_reply() const {
  auto reply = events::reply_failed(events::adapter_outcome::parked, detail);
  reply.retry_after_ms = std::max<int64_t>(retry_after.count(), 1);
  return reply;
}

call_outcome breaker_outcome(events::adapter_outcome x) noexcept {
  switch (x) {
    case events::adapter_outcome::succeeded:
    case events::adapter_outcome::permanent_failure:
      return call_outcome::success;
    case events::adapter_outcome::retryable_failure:
    case events::adapter_outcome::unknown_outcome:
      return call_outcome::failure;
    case events::adapter_outcome::parked:
      return call_outcome::ignored;
  }
  return call_outcome::ignored;
}

guard::guard(guard_config cfg)
  : breakers_(std::make_shared<breaker_registry>(std::move(cfg.breakers))),
    limits_(
      std::make_shared<concurrency_limiter>(std::move(cfg.tenant_limits))) {
  // nop
}

guard::guard(std::shared_ptr<breaker_registry> breakers,
             std::shared_ptr<concurrency_limiter> tenant_limits)
  : breakers_(breakers ? std::move(breakers)
                       : std::make_shared<breaker_registry>()),
    limits_(tenant_limits ? std::move(tenant_limits)
                          : std::make_shared<concurrency_limiter>()) {
  // nop
}

admission guard::admit(const std::string& tenant, const std::string& adapter,
                       const std::string& endpoint, time_point now) {
  admission result;
  breaker_key key{tenant, adapter, endpoint};
  // The limit first: a refused slot must not use up a half-open trial.
  auto lease = limits_->try_acquire(tenant);
  if (!lease) {
    result.reason = park_reason::tenant_limit;
    result.retry_after = limits_->retry_after();
    result.detail = "tenant " + tenant + " has "
                    + std::to_string(limits_->limit(tenant))
                    + " calls in flight (its limit)";
    return result;
  }
  auto cb = breakers_->get(key, now);
  auto granted = cb->acquire(now);
  if (!granted) {
    limits_->release(*lease);
    result.reason = park_reason::breaker_open;
    result.retry_after = granted.retry_after;
    std::ostringstream out;
    out << "breaker " << key << " is " << granted.state;
    result.detail = out.str();
    return result;
  }
  result.admitted = true;
  result.ticket = guard_ticket{std::move(key), granted.permit,
                               std::move(*lease), std::move(cb)};
  return result;
}

void guard::complete(const guard_ticket& ticket, call_outcome outcome,
                     duration took, time_point now) {
  if (ticket.breaker)
    ticket.breaker->record(ticket.permit, outcome, took, now);
  limits_->release(ticket.lease);
}

void guard::complete(const guard_ticket& ticket,
                     events::adapter_outcome outcome, duration took,
                     time_point now) {
  complete(ticket, breaker_outcome(outcome), took, now);
}

events::adapter_reply
guard::settle(const guard_ticket& ticket, call_outcome counted, duration took,
              time_point now, events::adapter_reply reply) {
  complete(ticket, counted, took, now);
  if (!ticket.permit.trial || !ticket.breaker
      || counted != call_outcome::failure
      || reply.outcome != events::adapter_outcome::retryable_failure)
    return reply;
  // Open again (this failure decided), or half-open until the other trials
  // are recorded.
  auto snap = ticket.breaker->snapshot();
  auto wait = snap.config.half_open_busy_retry_after;
  if (snap.state == breaker_state::open)
    wait = std::chrono::duration_cast<std::chrono::milliseconds>(snap.open_until
                                                                 - now);
  std::ostringstream out;
  out << "probe of breaker " << ticket.key << " failed: " << reply.error;
  reply.outcome = events::adapter_outcome::parked;
  reply.error = out.str();
  reply.retry_after_ms = std::max<int64_t>(wait.count(), 1);
  return reply;
}

} // namespace ispflow::adapters::resilience
