#include "tests/support/fake_adapter.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <optional>

namespace ispflow::testing {

namespace api = adapters::api;

size_t fake_adapter_state::count(const std::string& operation) const {
  size_t n = 0;
  for (auto& c : calls)
    if (c.operation == operation)
      ++n;
  return n;
}

int fake_adapter_state::applications(const std::string& operation) const {
  int n = 0;
  for (auto& [k, v] : applied)
    if (k.first == operation)
      n += v;
  return n;
}

namespace {

struct fake_actor_state {
  std::shared_ptr<fake_adapter_state> st;
  static inline const char* name = "ispflow.fake_adapter";
};

// Records the call and answers it as scripted (never_answer: nullopt).
std::optional<api::adapter_reply>
script_answer(fake_adapter_state& st, const api::adapter_request& req) {
  st.calls.push_back(fake_call{req.operation, req.idempotency_key,
                               req.reconcile, req.input, req.partition,
                               req.epoch});
  auto key = std::make_pair(req.operation, req.idempotency_key);
  if (req.reconcile) {
    if (auto i = st.effects.find(key); i != st.effects.end())
      return api::reply_succeeded(i->second);
  }
  auto& b = st.script[req.operation];
  auto apply = [&] {
    ++st.applied[key];
    st.effects[key] = b.outputs;
  };
  switch (b.mode) {
    case fake_mode::succeed:
      apply();
      return api::reply_succeeded(b.outputs);
    case fake_mode::fail_permanently:
      return api::reply_failed(api::adapter_outcome::permanent_failure,
                               "scripted permanent failure");
    case fake_mode::fail_retryably:
      if (b.times > 0) {
        --b.times;
        return api::reply_failed(api::adapter_outcome::retryable_failure,
                                 "scripted retryable failure");
      }
      apply();
      return api::reply_succeeded(b.outputs);
    case fake_mode::never_answer:
      return std::nullopt;
    case fake_mode::unknown_after_apply:
      apply();
      return api::reply_failed(api::adapter_outcome::unknown_outcome,
                               "scripted unknown outcome");
    case fake_mode::park: {
      auto res = api::reply_failed(api::adapter_outcome::parked,
                                   "breaker open");
      res.retry_after_ms = 1000;
      return res;
    }
  }
  return api::reply_failed(api::adapter_outcome::permanent_failure,
                           "invalid script");
}

// Delivers `reply` after `delay`, from an actor of its own (the fake's
// interface takes adapter requests only).
void answer_later(caf::actor_system& sys,
                  caf::typed_response_promise<api::adapter_reply> rp,
                  api::adapter_reply reply, std::chrono::milliseconds delay) {
  sys.spawn([rp, reply = std::move(reply),
             delay](caf::event_based_actor* later) mutable -> caf::behavior {
    later->delayed_send(later, delay, timeout_atom_v);
    return {[later, rp, reply](timeout_atom) mutable {
      rp.deliver(reply);
      later->quit();
    }};
  });
}

api::adapter_actor::behavior_type
fake(api::adapter_actor::stateful_pointer<fake_actor_state> self,
     std::shared_ptr<fake_adapter_state> state) {
  self->state.st = std::move(state);
  return {
    [self](invoke_atom,
           const api::adapter_request& req) -> caf::result<api::adapter_reply> {
      auto& st = *self->state.st;
      auto reply = script_answer(st, req);
      if (reply && st.answer_delay.count() == 0)
        return std::move(*reply);
      auto rp = self->make_response_promise<api::adapter_reply>();
      if (reply)
        answer_later(self->home_system(), rp, std::move(*reply),
                     st.answer_delay);
      else
        st.held.push_back(rp);
      return rp;
    },
  };
}

} // namespace

api::adapter_actor
spawn_fake_adapter(caf::actor_system& sys,
                   std::shared_ptr<fake_adapter_state> state) {
  return sys.spawn(fake, std::move(state));
}

void fake_every_system(api::adapter_set& adapters,
                       const api::adapter_actor& fake) {
  using sagas::target_system;
  for (auto s :
       {target_system::radius, target_system::netbox, target_system::voltha,
        target_system::genieacs, target_system::awx})
    adapters.set_actor(s, fake);
}

} // namespace ispflow::testing
