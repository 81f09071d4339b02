#pragma once

#include "adapters/resilience/clock.hpp"
#include "adapters/resilience/guard.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

// Calls that found their tenant at its limit of calls in flight, waiting in
// arrival order (per tenant) for a slot instead of coming back `parked` at
// once. A parked saga step costs a durable transition and a timer and comes
// back only after the limiter's retry_after, long after the slot was free:
// under a burst, refusing and retrying did more work than the calls
// themselves (docs/benchmarks.md, end to end). For the adapter actors that
// ask the guard themselves (NetBox, GenieACS, AWX) and for the wrapper of
// those that do not (actors/guarded_adapter):
//
//   auto rp = self->make_response_promise<adapter_reply>();
//   st.slots.admit(*st.guard, tenant, "netbox", base_url, now,
//                  [=](admission adm) mutable {
//                    if (!adm) { rp.deliver(adm.parked_reply()); return; }
//                    ... make the call, complete(adm.ticket, ...) ...
//                  });
//   if (st.slots.arm_tick()) self->delayed_send(self, st.slots.tick_interval(*st.guard), tick_atom_v);
//
// and after each `guard::complete`, `drain(guard, tenant, now)`; on the tick
// `on_tick()` then `drain_all(guard, now)`. Not thread-safe: one actor's.
// The guard's limiter counts the calls waiting per tenant (`waiting`,
// `saturated`): the saga router starts no new saga of a saturated tenant.

namespace ispflow::adapters::resilience {

class slot_queue {
public:
  /// Runs with the call's admission: admitted (go on), or refused (answer
  /// `parked_reply()`): breaker open, or waited longer than `max_wait`.
  using resume_fn = std::function<void(admission)>;

  /// `max_wait` 0: a call at its tenant's limit is refused at once.
  explicit slot_queue(std::chrono::milliseconds max_wait
                      = std::chrono::seconds{2});

  /// Calls still waiting stop counting as waiting in the limiter (an
  /// adapter that ends must not leave its tenants saturated).
  ~slot_queue();

  slot_queue(const slot_queue&) = delete;
  slot_queue& operator=(const slot_queue&) = delete;

  /// Changes how long a call may wait (for calls that start waiting next).
  void max_wait(std::chrono::milliseconds x) noexcept;

  /// Asks `g` to admit one call of `adapter` at `endpoint` for `tenant`.
  /// Runs `resume` now unless the call waits: when the tenant is at its
  /// limit, or calls of the tenant already wait (first come, first go).
  /// Returns true if it waits.
  bool admit(guard& g, const std::string& tenant, const std::string& adapter,
             const std::string& endpoint, time_point now, resume_fn resume);

  /// Lets waiting calls of `tenant` go while `g` admits them; a call that
  /// waited longer than `max_wait` is refused (so nothing reaches a system
  /// after its caller gave up). Call after every `complete` of the tenant.
  void drain(guard& g, const std::string& tenant, time_point now);

  /// `drain` for every tenant with waiting calls (slots are also freed by
  /// other adapters sharing the guard: call on a tick while any wait).
  void drain_all(guard& g, time_point now);

  /// True if a tick should be scheduled now: calls wait and no tick is
  /// pending (it is then counted as pending until `on_tick`).
  bool arm_tick() noexcept;

  /// The scheduled tick arrived.
  void on_tick() noexcept {
    tick_pending_ = false;
  }

  /// How often to look again while calls wait: the limiter's retry_after,
  /// between 1 and 50 ms.
  static std::chrono::milliseconds tick_interval(guard& g) noexcept;

  /// Calls waiting, all tenants.
  size_t size() const noexcept {
    return size_;
  }

  std::chrono::milliseconds max_wait() const noexcept {
    return max_wait_;
  }

private:
  struct waiting_call {
    std::string adapter;
    std::string endpoint;
    time_point since;
    resume_fn resume;
  };

  std::chrono::milliseconds max_wait_;
  std::map<std::string, std::deque<waiting_call>> waiting_;
  // The limiter that counts the waiting calls (set on the first wait).
  std::shared_ptr<concurrency_limiter> limits_;
  size_t size_ = 0;
  bool tick_pending_ = false;
  // A resume that completes a call at once drains again: the outer drain
  // goes on instead.
  bool draining_ = false;
};

/// The resume of an adapter's call object (members `promise`, `ticket`,
/// `guarded`): answers `parked` when refused, else takes the ticket and
/// runs `go`.
template <class CallPtr, class Go>
slot_queue::resume_fn resume_call(CallPtr c, Go go) {
  return [c = std::move(c), go = std::move(go)](admission adm) mutable {
    if (!adm) {
      c->promise.deliver(adm.parked_reply());
      return;
    }
    c->ticket = std::move(adm.ticket);
    c->guarded = true;
    go();
  };
}

} // namespace ispflow::adapters::resilience
