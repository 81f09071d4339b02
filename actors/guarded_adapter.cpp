#include "actors/guarded_adapter.hpp"

#include "adapters/resilience/guard.hpp"
#include "adapters/resilience/slot_queue.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <chrono>
#include <utility>

namespace ispflow::actors {

namespace {

namespace api = adapters::api;
namespace res = adapters::resilience;
using clock_type = std::chrono::steady_clock;

using impl_actor = api::adapter_actor::extend<caf::reacts_to<tick_atom>>;

struct guarded_state {
  static inline const char* name = "ispflow.guarded_adapter";
  api::adapter_actor inner;
  std::shared_ptr<res::guard> guard;
  std::string adapter;
  std::string endpoint;
  /// Calls that found their tenant at its limit, waiting for a slot.
  res::slot_queue slots;
};

using guarded_ptr = impl_actor::stateful_pointer<guarded_state>;

void arm_tick(guarded_ptr self) {
  auto& st = self->state;
  if (st.slots.arm_tick())
    self->delayed_send(self, res::slot_queue::tick_interval(*st.guard),
                       tick_atom_v);
}

// Sends an admitted request to the inner adapter; its outcome frees the slot
// and lets the tenant's next waiting call go.
void dispatch(guarded_ptr self, res::guard_ticket ticket,
              api::adapter_request req,
              caf::typed_response_promise<api::adapter_reply> rp) {
  auto start = clock_type::now();
  auto tenant = req.tenant_id;
  auto held = std::make_shared<res::guard_ticket>(std::move(ticket));
  // Counts the outcome, answers (a failed half-open probe as parked: see
  // res::guard::settle), then lets the tenant's next waiting call go.
  auto done = [self, held, start, tenant, rp](
                res::call_outcome counted, api::adapter_reply reply) mutable {
    auto& st = self->state;
    auto now = clock_type::now();
    rp.deliver(
      st.guard->settle(*held, counted, now - start, now, std::move(reply)));
    st.slots.drain(*st.guard, tenant, now);
    arm_tick(self);
  };
  self->request(self->state.inner, caf::infinite, invoke_atom_v, std::move(req))
    .then(
      [=](api::adapter_reply& reply) mutable {
        done(res::breaker_outcome(reply.outcome), std::move(reply));
      },
      [=](caf::error& err) mutable {
        done(res::call_outcome::failure,
             api::reply_failed(api::adapter_outcome::unknown_outcome,
                               "adapter " + self->state.adapter
                                 + " did not answer: " + to_string(err)));
      });
}

impl_actor::behavior_type guarded(guarded_ptr self, api::adapter_actor inner,
                                  std::shared_ptr<res::guard> guard,
                                  std::string adapter, std::string endpoint,
                                  std::chrono::milliseconds max_wait) {
  auto& init = self->state;
  init.inner = std::move(inner);
  init.guard = std::move(guard);
  init.adapter = std::move(adapter);
  init.endpoint = std::move(endpoint);
  init.slots.max_wait(max_wait);
  return {
    [self](invoke_atom,
           api::adapter_request& req) -> caf::result<api::adapter_reply> {
      auto& st = self->state;
      auto rp = self->make_response_promise<api::adapter_reply>();
      auto tenant = req.tenant_id;
      st.slots.admit(*st.guard, tenant, st.adapter, st.endpoint,
                     clock_type::now(),
                     [self, rp, req = std::move(req)](
                       res::admission adm) mutable {
                       if (!adm)
                         rp.deliver(adm.parked_reply());
                       else
                         dispatch(self, std::move(adm.ticket), std::move(req),
                                  std::move(rp));
                     });
      arm_tick(self);
      return rp;
    },
    [self](tick_atom) {
      auto& st = self->state;
      st.slots.on_tick();
      st.slots.drain_all(*st.guard, clock_type::now());
      arm_tick(self);
    },
  };
}

} // namespace

api::adapter_actor
spawn_guarded_adapter(caf::actor_system& sys, api::adapter_actor inner,
                      std::shared_ptr<res::guard> guard, std::string adapter,
                      std::string endpoint,
                      std::chrono::milliseconds max_wait) {
  auto hdl = sys.spawn(guarded, std::move(inner), std::move(guard),
                       std::move(adapter), std::move(endpoint), max_wait);
  return caf::actor_cast<api::adapter_actor>(hdl);
}

} // namespace ispflow::actors
