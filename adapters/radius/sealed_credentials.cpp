#include "adapters/radius/sealed_credentials.hpp"

#include "adapters/radius/provisioning.hpp"
#include "common/seal.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace ispflow::adapters::radius {

namespace {

using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;

struct reader_state {
  static inline const char* name = "ispflow.credential_reader";
  api::adapter_actor inner;
  std::unique_ptr<store> db;
  std::shared_ptr<const common::keyring> keys;
};

using reader_ptr = api::adapter_actor::stateful_pointer<reader_state>;

adapter_reply failed(adapter_outcome outcome, std::string why) {
  adapter_reply out;
  out.outcome = outcome;
  out.error = std::move(why);
  return out;
}

// The request with the account's username and password, or why not.
std::optional<adapter_reply> unseal(reader_state& st, adapter_request& req) {
  auto who = "subscriber " + req.subscriber_id + " of tenant " + req.tenant_id;
  if (!st.keys)
    return failed(adapter_outcome::permanent_failure,
                  "no sealing key is configured (credentials.seal_key_files): "
                  "the password of "
                    + who + " cannot be opened");
  auto got = st.db->find_sealed_credential(req.tenant_id, req.subscriber_id);
  if (!got)
    return failed(got.error() == errc::database_unavailable
                    ? adapter_outcome::retryable_failure
                    : adapter_outcome::permanent_failure,
                  "sealed password not read: " + render_error(got.error()));
  if (!*got)
    return failed(adapter_outcome::permanent_failure,
                  "no RADIUS account for " + who);
  if ((*got)->sealed.empty())
    return failed(adapter_outcome::permanent_failure,
                  "the RADIUS account of " + who
                    + " keeps no sealed password (provisioned without a "
                      "sealing key)");
  common::seal_binding b{req.tenant_id, req.subscriber_id, (*got)->username};
  auto pw = st.keys->open((*got)->sealed, b);
  if (!pw)
    return failed(adapter_outcome::permanent_failure,
                  "the sealed password of " + who
                    + " does not open: " + render_error(pw.error()));
  req.input["credentials.username"] = (*got)->username;
  auto& slot = req.input["credentials.password"];
  slot = std::move(*pw);
  return std::nullopt;
}

// The reader: opens the sealed password of each request it is given
// (detached: it reads PostgreSQL) and passes the request on to `inner`.
api::adapter_actor::behavior_type
reader(reader_ptr self, api::adapter_actor inner, opener_config cfg) {
  common::name_this_thread("isp.rad.seal");
  self->state.inner = std::move(inner);
  self->state.db = std::make_unique<store>(std::move(cfg.dsn));
  self->state.keys = std::move(cfg.keys);
  return {
    [self](invoke_atom, adapter_request& req) -> caf::result<adapter_reply> {
      auto& st = self->state;
      if (auto refused = unseal(st, req))
        return std::move(*refused);
      return self->delegate(st.inner, invoke_atom_v, std::move(req));
    },
  };
}

struct front_state {
  static inline const char* name = "ispflow.credential_opener";
  api::adapter_actor inner;
  api::adapter_actor reader;
};

// The front: a request without `credentials.sealed` goes straight on to
// `inner`; only one with it crosses to the reader's thread (every GenieACS
// call passes here, and a hop to a thread of its own cost each of them two
// context switches).
api::adapter_actor::behavior_type
front(api::adapter_actor::stateful_pointer<front_state> self,
      api::adapter_actor inner, opener_config cfg) {
  self->state.inner = inner;
  self->state.reader = self->home_system().spawn<caf::detached>(
    reader, std::move(inner), std::move(cfg));
  self->link_to(self->state.reader);
  return {
    [self](invoke_atom, adapter_request& req) -> caf::result<adapter_reply> {
      auto& st = self->state;
      auto i = req.input.find(std::string{sealed_input_key});
      if (i == req.input.end())
        return self->delegate(st.inner, invoke_atom_v, std::move(req));
      if (i->second != sealed_from_account)
        return failed(adapter_outcome::permanent_failure,
                      "unknown credentials.sealed source " + i->second);
      req.input.erase(i);
      return self->delegate(st.reader, invoke_atom_v, std::move(req));
    },
  };
}

} // namespace

api::adapter_actor spawn_credential_opener(caf::actor_system& sys,
                                           api::adapter_actor inner,
                                           opener_config cfg) {
  return sys.spawn(front, std::move(inner), std::move(cfg));
}

} // namespace ispflow::adapters::radius
