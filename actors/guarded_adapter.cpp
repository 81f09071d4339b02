#include "actors/guarded_adapter.hpp"

#include "adapters/resilience/guard.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <utility>

namespace ispflow::actors {

namespace {

namespace api = adapters::api;
namespace res = adapters::resilience;

api::adapter_actor::behavior_type
guarded(api::adapter_actor::pointer self, api::adapter_actor inner,
        std::shared_ptr<res::guard> guard, std::string adapter,
        std::string endpoint) {
  return {
    [=](invoke_atom,
        api::adapter_request& req) -> caf::result<api::adapter_reply> {
      auto start = std::chrono::steady_clock::now();
      auto adm = guard->admit(req.tenant_id, adapter, endpoint, start);
      if (!adm)
        return adm.parked_reply();
      auto rp = self->make_response_promise<api::adapter_reply>();
      auto ticket = std::make_shared<res::guard_ticket>(std::move(adm.ticket));
      self->request(inner, caf::infinite, invoke_atom_v, std::move(req))
        .then(
          [=](api::adapter_reply& reply) mutable {
            auto now = std::chrono::steady_clock::now();
            guard->complete(*ticket, reply.outcome, now - start, now);
            rp.deliver(std::move(reply));
          },
          [=](caf::error& err) mutable {
            auto now = std::chrono::steady_clock::now();
            guard->complete(*ticket, res::call_outcome::failure, now - start,
                            now);
            rp.deliver(api::reply_failed(
              api::adapter_outcome::unknown_outcome,
              "adapter " + adapter + " did not answer: " + to_string(err)));
          });
      return rp;
    },
  };
}

} // namespace

api::adapter_actor
spawn_guarded_adapter(caf::actor_system& sys, api::adapter_actor inner,
                      std::shared_ptr<res::guard> guard, std::string adapter,
                      std::string endpoint) {
  return sys.spawn(guarded, std::move(inner), std::move(guard),
                   std::move(adapter), std::move(endpoint));
}

} // namespace ispflow::actors
