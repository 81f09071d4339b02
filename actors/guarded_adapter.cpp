#include "actors/guarded_adapter.hpp"

#include "adapters/resilience/guard.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <utility>

namespace ispflow::actors {

namespace {

namespace api = adapters::api;
namespace res = adapters::resilience;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

using impl_actor = api::adapter_actor::extend<caf::reacts_to<tick_atom>>;

/// A call that found its tenant at its limit, waiting for a free slot.
struct waiting_call {
  api::adapter_request req;
  caf::typed_response_promise<api::adapter_reply> promise;
  clock_type::time_point since;
};

struct guarded_state {
  static inline const char* name = "ispflow.guarded_adapter";
  api::adapter_actor inner;
  std::shared_ptr<res::guard> guard;
  std::string adapter;
  std::string endpoint;
  std::chrono::milliseconds max_wait{0};
  /// Per tenant, in arrival order.
  std::map<std::string, std::deque<waiting_call>> waiting;
  bool tick_pending = false;
};

using guarded_ptr = impl_actor::stateful_pointer<guarded_state>;

// Sends an admitted request to the inner adapter; its outcome frees the slot
// and lets the tenant's next waiting call go.
void dispatch(guarded_ptr self, res::guard_ticket ticket,
              api::adapter_request req,
              caf::typed_response_promise<api::adapter_reply> rp);

// Lets the waiting calls of `tenant` go while the guard admits them. A call
// whose breaker is open is parked (as one arriving now would be); one that
// waited longer than max_wait is parked too, well within a saga's attempt
// timeout, so nothing reaches the system after its caller gave up.
void drain(guarded_ptr self, const std::string& tenant) {
  auto& st = self->state;
  auto i = st.waiting.find(tenant);
  if (i == st.waiting.end())
    return;
  auto& queue = i->second;
  while (!queue.empty()) {
    auto now = clock_type::now();
    auto& front = queue.front();
    if (now - front.since > st.max_wait) {
      res::admission late;
      late.reason = res::park_reason::tenant_limit;
      late.retry_after = st.guard->tenant_limits().retry_after();
      late.detail = "tenant " + tenant + " stayed at its limit of "
                    + std::to_string(st.guard->tenant_limits().limit(tenant))
                    + " calls in flight";
      front.promise.deliver(late.parked_reply());
      queue.pop_front();
      continue;
    }
    auto adm = st.guard->admit(tenant, st.adapter, st.endpoint, now);
    if (!adm && adm.reason == res::park_reason::tenant_limit)
      break;
    auto call = std::move(queue.front());
    queue.pop_front();
    if (!adm)
      call.promise.deliver(adm.parked_reply());
    else
      dispatch(self, std::move(adm.ticket), std::move(call.req),
               std::move(call.promise));
  }
  if (queue.empty())
    st.waiting.erase(i);
}

// The tenant's slots may also be freed by other adapters sharing the guard:
// look again now and then while anything waits.
void arm_tick(guarded_ptr self) {
  auto& st = self->state;
  if (st.tick_pending || st.waiting.empty())
    return;
  st.tick_pending = true;
  auto every = std::clamp(st.guard->tenant_limits().retry_after(),
                          std::chrono::milliseconds{1}, 50ms);
  self->delayed_send(self, every, tick_atom_v);
}

void dispatch(guarded_ptr self, res::guard_ticket ticket,
              api::adapter_request req,
              caf::typed_response_promise<api::adapter_reply> rp) {
  auto start = clock_type::now();
  auto tenant = req.tenant_id;
  auto held = std::make_shared<res::guard_ticket>(std::move(ticket));
  self->request(self->state.inner, caf::infinite, invoke_atom_v, std::move(req))
    .then(
      [=](api::adapter_reply& reply) mutable {
        auto now = clock_type::now();
        self->state.guard->complete(*held, reply.outcome, now - start, now);
        rp.deliver(std::move(reply));
        drain(self, tenant);
      },
      [=](caf::error& err) mutable {
        auto now = clock_type::now();
        self->state.guard->complete(*held, res::call_outcome::failure,
                                    now - start, now);
        rp.deliver(api::reply_failed(api::adapter_outcome::unknown_outcome,
                                     "adapter " + self->state.adapter
                                       + " did not answer: " + to_string(err)));
        drain(self, tenant);
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
  init.max_wait = max_wait;
  return {
    [self](invoke_atom,
           api::adapter_request& req) -> caf::result<api::adapter_reply> {
      auto& st = self->state;
      auto now = clock_type::now();
      auto rp = self->make_response_promise<api::adapter_reply>();
      auto w = st.waiting.find(req.tenant_id);
      // Behind calls already waiting for this tenant: first come, first go.
      if (w != st.waiting.end() && !w->second.empty()) {
        w->second.push_back({std::move(req), rp, now});
        drain(self, w->first);
        arm_tick(self);
        return rp;
      }
      auto adm = st.guard->admit(req.tenant_id, st.adapter, st.endpoint, now);
      if (!adm && adm.reason == res::park_reason::tenant_limit
          && st.max_wait.count() > 0) {
        // At the tenant's cap: wait for a slot instead of parking (a parked
        // saga comes back only after retry_after, when the slot has long
        // been free).
        auto tenant = req.tenant_id;
        st.waiting[tenant].push_back({std::move(req), rp, now});
        arm_tick(self);
        return rp;
      }
      if (!adm) {
        rp.deliver(adm.parked_reply());
        return rp;
      }
      dispatch(self, std::move(adm.ticket), std::move(req), rp);
      return rp;
    },
    [self](tick_atom) {
      auto& st = self->state;
      st.tick_pending = false;
      std::vector<std::string> tenants;
      for (const auto& [tenant, queue] : st.waiting)
        tenants.push_back(tenant);
      for (const auto& tenant : tenants)
        drain(self, tenant);
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
