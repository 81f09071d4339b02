#include "adapters/http/http_actor.hpp"

#include "events/errc.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace ispflow::adapters::http {

namespace {

// The public interface plus the completion message the client thread sends
// back to the actor.
using http_impl_actor
  = http_actor::extend<caf::reacts_to<http_done_atom, uint64_t, response>>;

struct http_state {
  std::unique_ptr<client> cli;
  std::string startup_error;
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, caf::typed_response_promise<response>> promises;
  static inline const char* name = "ispflow.http";
};

http_impl_actor::behavior_type
http_behavior(http_impl_actor::stateful_pointer<http_state> self,
              client_options opts) {
  if (auto made = client::make(std::move(opts)))
    self->state.cli = std::move(*made);
  else
    self->state.startup_error = "HTTP client unavailable: "
                                + render_error(made.error());
  return {
    [self](http_atom, request& req) -> caf::result<response> {
      auto& st = self->state;
      if (!st.cli) {
        response res;
        res.error = transport_error::other;
        res.error_text = st.startup_error;
        return res;
      }
      auto id = st.next_id++;
      auto promise = self->make_response_promise<response>();
      st.promises.emplace(id, promise);
      // A weak handle: in-flight requests must not keep the actor alive.
      caf::actor_addr weak = self->address();
      st.cli->submit(std::move(req), [weak, id](response res) {
        if (auto hdl = caf::actor_cast<caf::actor>(weak))
          caf::anon_send(hdl, http_done_atom_v, id, std::move(res));
      });
      return promise;
    },
    [self](http_done_atom, uint64_t id, response& res) {
      auto& promises = self->state.promises;
      if (auto i = promises.find(id); i != promises.end()) {
        i->second.deliver(std::move(res));
        promises.erase(i);
      }
    },
  };
}

} // namespace

http_actor spawn_http_actor(caf::actor_system& sys, client_options opts) {
  auto hdl = sys.spawn(http_behavior, std::move(opts));
  return caf::actor_cast<http_actor>(hdl);
}

} // namespace ispflow::adapters::http
