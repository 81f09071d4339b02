#include "adapters/radius/radius_adapter.hpp"

#include "adapters/radius/provisioning.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <map>
#include <set>

namespace ispflow::adapters::radius::detail {

/// The outcomes of one dynamic_authorization call, back in the actor.
struct da_done {
  uint64_t token = 0;
  std::vector<da_outcome> outcomes;
};

} // namespace ispflow::adapters::radius::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::radius::detail::da_done)

namespace ispflow::adapters::radius {

namespace {

using detail::da_done;
using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
using events::reply_failed;
using events::reply_succeeded;

using impl_actor
  = api::radius_actor::extend<caf::reacts_to<done_atom, da_done>>;

/// A disconnect or CoA waiting for the client.
struct pending_da {
  caf::typed_response_promise<adapter_reply> promise;
  std::string operation;
  std::string username;
  std::vector<session> sessions;
  /// coa_sessions: indexes (into `sessions`) of the Disconnect fallback.
  std::vector<size_t> fallback;
  /// coa_sessions: the CoA outcomes while the fallback runs.
  std::vector<da_outcome> coa_outcomes;
};

struct adapter_state {
  static inline const char* name = "ispflow.radius";
  std::unique_ptr<store> db;
  std::map<std::string, tenant_settings> tenants;
  std::set<std::string> synced;
  std::shared_ptr<dynamic_authorization> coa;
  uint64_t next_token = 1;
  std::map<uint64_t, pending_da> pending;
};

using adapter_ptr = impl_actor::stateful_pointer<adapter_state>;

adapter_reply permanent(std::string why) {
  return reply_failed(adapter_outcome::permanent_failure, std::move(why));
}

adapter_reply from_error(const caf::error& err) {
  auto text = render_error(err);
  if (err == errc::invalid_input)
    return permanent(std::move(text));
  return reply_failed(adapter_outcome::retryable_failure, std::move(text));
}

std::string input(const adapter_request& req, const std::string& key) {
  auto i = req.input.find(key);
  return i == req.input.end() ? std::string{} : i->second;
}

// Whom an operation acts for: every store call below gets it, so a
// username of another tenant (or subscriber) is refused inside the call's
// transaction, before anything is written or sent to a NAS.
owner owner_of(const adapter_request& req) {
  return owner{req.tenant_id, req.subscriber_id};
}

// The user an operation is about: the input's credentials (which must pass
// check_username), else the subscriber's account; "" when there is none.
caf::expected<std::string> username_of(adapter_state& st,
                                       const adapter_request& req) {
  if (auto name = input(req, "credentials.username"); !name.empty()) {
    if (auto err = check_username(name))
      return err;
    return name;
  }
  auto acc = st.db->find_account(req.tenant_id, req.subscriber_id);
  if (!acc)
    return acc.error();
  return *acc ? (*acc)->username : std::string{};
}

adapter_reply no_account() {
  return reply_succeeded({{"radius_account", "none"}});
}

adapter_reply changed_reply(bool changed) {
  return reply_succeeded({{"changed", changed ? "true" : "false"}});
}

adapter_reply provision(adapter_state& st, const tenant_settings& t,
                        const adapter_request& req) {
  account_spec spec;
  spec.tenant_id = req.tenant_id;
  spec.subscriber_id = req.subscriber_id;
  spec.username = input(req, "credentials.username");
  spec.password = input(req, "credentials.password");
  spec.storage = t.passwords;
  spec.framed_ip = input(req, "ip_address");
  if (spec.username.empty() || spec.password.empty())
    return permanent("radius.provision needs credentials.username and "
                     "credentials.password");
  auto plan_id = input(req, "plan_id");
  const auto* p = t.find_plan(plan_id);
  if (p == nullptr)
    return permanent("unknown plan " + plan_id + " for tenant "
                     + req.tenant_id);
  spec.plan_group = t.group_of(*p);
  auto res = st.db->provision(spec);
  if (!res)
    return from_error(res.error());
  return changed_reply(*res);
}

adapter_reply set_group(adapter_state& st, const tenant_settings& t,
                        const adapter_request& req, bool revert) {
  auto user = username_of(st, req);
  if (!user)
    return from_error(user.error());
  if (user->empty())
    return permanent("no RADIUS account for subscriber " + req.subscriber_id);
  std::string group;
  std::string key = req.idempotency_key;
  if (revert) {
    group = input(req, "previous_plan_group");
    if (group.empty())
      return permanent("radius.revert_plan_group needs previous_plan_group");
    if (!t.is_plan_group(group))
      return permanent("previous_plan_group " + group
                       + " is not a plan group of tenant " + req.tenant_id);
    // A compensation carries its action's key: keep them apart.
    key += "#revert";
  } else {
    auto plan_id = input(req, "plan_id");
    const auto* p = t.find_plan(plan_id);
    if (p == nullptr)
      return permanent("unknown plan " + plan_id + " for tenant "
                       + req.tenant_id);
    group = t.group_of(*p);
  }
  auto previous = st.db->set_plan_group(*user, group, key, owner_of(req));
  if (!previous)
    return from_error(previous.error());
  if (revert)
    return reply_succeeded({{"plan_group", group}});
  return reply_succeeded(
    {{"previous_plan_group", *previous}, {"plan_group", group}});
}

adapter_reply deny(adapter_state& st, const tenant_settings& t,
                   const adapter_request& req) {
  auto user = username_of(st, req);
  if (!user)
    return from_error(user.error());
  if (user->empty())
    return no_account();
  auto res = st.db->deny(*user, t.suspend, t.walled_garden_group,
                         owner_of(req));
  if (!res)
    return from_error(res.error());
  auto out = changed_reply(*res);
  out.outputs["suspend_policy"] = std::string{to_string(t.suspend)};
  return out;
}

adapter_reply restore(adapter_state& st, const tenant_settings& t,
                      const adapter_request& req) {
  auto user = username_of(st, req);
  if (!user)
    return from_error(user.error());
  if (user->empty())
    return no_account();
  std::string fallback;
  if (const auto* p = t.find_plan(input(req, "plan_id")))
    fallback = t.group_of(*p);
  auto res = st.db->restore_plan(*user, fallback, owner_of(req));
  if (!res)
    return from_error(res.error());
  return changed_reply(*res);
}

adapter_reply deprovision(adapter_state& st, const adapter_request& req) {
  auto user = username_of(st, req);
  if (!user)
    return from_error(user.error());
  if (user->empty())
    return no_account();
  auto res = st.db->deprovision(*user, owner_of(req));
  if (!res)
    return from_error(res.error());
  return changed_reply(*res);
}

adapter_reply verify_closed(adapter_state& st, const adapter_request& req) {
  auto user = username_of(st, req);
  if (!user)
    return from_error(user.error());
  if (user->empty())
    return reply_succeeded({{"open_sessions", "0"}});
  auto n = st.db->count_open_sessions(*user, owner_of(req));
  if (!n)
    return from_error(n.error());
  if (*n > 0)
    return reply_failed(adapter_outcome::retryable_failure,
                        std::to_string(*n) + " session(s) of user " + *user
                          + " still open in radacct");
  return reply_succeeded({{"open_sessions", "0"}});
}

// A disconnect worked when the NAS acknowledged it or said the session was
// already gone (NAK with Error-Cause 503).
bool disconnected(const da_outcome& x) {
  return x.result == da_result::ack
         || (x.result == da_result::nak && x.error_cause == 503);
}

std::string describe(const session& s, const da_outcome& x) {
  std::string out = "session " + s.acct_session_id + " on NAS " + s.nas_address
                    + ": ";
  switch (x.result) {
    case da_result::ack:
      out += "ack";
      break;
    case da_result::nak:
      out += "nak " + std::to_string(x.error_cause);
      break;
    case da_result::timeout:
      out += "timeout";
      break;
    case da_result::error:
      out += "error";
      break;
  }
  if (!x.detail.empty())
    out += " (" + x.detail + ")";
  return out;
}

// The reply for a finished disconnect_sessions or coa_sessions.
adapter_reply finish(pending_da& p, const std::vector<da_outcome>& last) {
  size_t n = p.sessions.size();
  std::vector<da_outcome> final_outcomes(n);
  std::vector<bool> via_disconnect(n, false);
  if (p.operation == "radius.coa_sessions") {
    final_outcomes = p.coa_outcomes;
    for (size_t i = 0; i < p.fallback.size() && i < last.size(); ++i) {
      final_outcomes[p.fallback[i]] = last[i];
      via_disconnect[p.fallback[i]] = true;
    }
  } else {
    final_outcomes = last;
    via_disconnect.assign(n, true);
  }
  if (final_outcomes.size() != n)
    return reply_failed(adapter_outcome::unknown_outcome,
                        "the CoA client answered for "
                          + std::to_string(final_outcomes.size()) + " of "
                          + std::to_string(n) + " sessions");
  size_t ok = 0, coa_acked = 0, disconnects = 0;
  std::string permanent_why, retry_why, per_session;
  for (size_t i = 0; i < n; ++i) {
    const auto& x = final_outcomes[i];
    bool good = via_disconnect[i] ? disconnected(x)
                                  : x.result == da_result::ack;
    if (good) {
      ++ok;
      (via_disconnect[i] ? disconnects : coa_acked) += 1;
      if (!per_session.empty())
        per_session += "; ";
      per_session += p.sessions[i].acct_session_id + "@"
                     + p.sessions[i].nas_address + " ";
      if (p.operation == "radius.coa_sessions") {
        const auto& c = p.coa_outcomes[i];
        per_session += c.result == da_result::ack
                         ? std::string{"coa ack"}
                         : "coa nak " + std::to_string(c.error_cause) + ", ";
      }
      if (via_disconnect[i])
        per_session += x.result == da_result::ack
                         ? std::string{"disconnect ack"}
                         : "disconnect nak " + std::to_string(x.error_cause);
      continue;
    }
    auto& why = x.result == da_result::timeout ? retry_why : permanent_why;
    if (!why.empty())
      why += "; ";
    why += describe(p.sessions[i], x);
  }
  if (!permanent_why.empty())
    return permanent(permanent_why);
  if (!retry_why.empty())
    return reply_failed(adapter_outcome::retryable_failure, retry_why);
  events::string_map out{{"sessions", std::to_string(n)},
                         {"disconnected", std::to_string(disconnects)},
                         {"session_results", per_session}};
  if (p.operation == "radius.coa_sessions")
    out["coa_acked"] = std::to_string(coa_acked);
  return reply_succeeded(std::move(out));
}

void start_da(adapter_ptr self, const tenant_settings& t,
              const adapter_request& req) {
  auto& st = self->state;
  auto rp = self->make_response_promise<adapter_reply>();
  auto user = username_of(st, req);
  if (!user) {
    rp.deliver(from_error(user.error()));
    return;
  }
  if (user->empty()) {
    rp.deliver(reply_succeeded({{"sessions", "0"}}));
    return;
  }
  std::vector<sql_attribute> attrs;
  bool coa = req.operation == "radius.coa_sessions";
  if (coa) {
    auto plan_id = input(req, "plan_id");
    const auto* p = t.find_plan(plan_id);
    if (p == nullptr) {
      rp.deliver(
        permanent("unknown plan " + plan_id + " for tenant " + req.tenant_id));
      return;
    }
    auto rows = plan_reply_attributes(*p, t.nas_vendor);
    if (!rows) {
      rp.deliver(from_error(rows.error()));
      return;
    }
    attrs = std::move(*rows);
  }
  auto sessions = st.db->open_sessions(*user, owner_of(req));
  if (!sessions) {
    rp.deliver(from_error(sessions.error()));
    return;
  }
  if (sessions->empty()) {
    rp.deliver(reply_succeeded({{"sessions", "0"}}));
    return;
  }
  if (!st.coa) {
    rp.deliver(permanent("coa client not wired"));
    return;
  }
  auto token = st.next_token++;
  auto& p = st.pending[token];
  p.promise = rp;
  p.operation = req.operation;
  p.username = *user;
  p.sessions = *sessions;
  auto hdl = caf::actor_cast<impl_actor>(self);
  auto done = [hdl, token](std::vector<da_outcome> out) {
    caf::anon_send(hdl, done_atom_v, da_done{token, std::move(out)});
  };
  if (coa)
    st.coa->change(std::move(*sessions), std::move(attrs), std::move(done));
  else
    st.coa->disconnect(std::move(*sessions), std::move(done));
}

void on_da_done(adapter_ptr self, da_done& msg) {
  auto& st = self->state;
  auto i = st.pending.find(msg.token);
  if (i == st.pending.end())
    return;
  auto& p = i->second;
  if (p.operation == "radius.coa_sessions" && p.coa_outcomes.empty()) {
    // First phase done: fall back to Disconnect where the NAS refused.
    p.coa_outcomes = std::move(msg.outcomes);
    if (p.coa_outcomes.size() == p.sessions.size()) {
      std::vector<session> again;
      for (size_t k = 0; k < p.coa_outcomes.size(); ++k)
        if (p.coa_outcomes[k].result == da_result::nak) {
          p.fallback.push_back(k);
          again.push_back(p.sessions[k]);
        }
      if (!again.empty()) {
        auto hdl = caf::actor_cast<impl_actor>(self);
        auto token = msg.token;
        st.coa->disconnect(
          std::move(again), [hdl, token](std::vector<da_outcome> out) {
            caf::anon_send(hdl, done_atom_v, da_done{token, std::move(out)});
          });
        return;
      }
    }
    auto reply = finish(p, {});
    p.promise.deliver(std::move(reply));
    st.pending.erase(i);
    return;
  }
  auto reply = finish(p, msg.outcomes);
  p.promise.deliver(std::move(reply));
  st.pending.erase(i);
}

impl_actor::behavior_type radius_adapter(adapter_ptr self, adapter_config cfg) {
  auto& init = self->state;
  init.db = std::make_unique<store>(std::move(cfg.dsn));
  for (auto& t : cfg.tenants) {
    auto id = t.tenant_id;
    init.tenants.emplace(std::move(id), std::move(t));
  }
  init.coa = std::move(cfg.coa);
  return {
    [self](invoke_atom, adapter_request& req) -> caf::result<adapter_reply> {
      auto& st = self->state;
      auto ti = st.tenants.find(req.tenant_id);
      if (ti == st.tenants.end())
        return permanent("no RADIUS settings for tenant " + req.tenant_id);
      const auto& t = ti->second;
      if (st.synced.count(t.tenant_id) == 0) {
        if (auto err = st.db->sync_plans(t))
          return from_error(err);
        st.synced.insert(t.tenant_id);
      }
      const auto& op = req.operation;
      adapter_reply reply;
      if (op == "radius.provision")
        reply = provision(st, t, req);
      else if (op == "radius.deprovision")
        reply = deprovision(st, req);
      else if (op == "radius.deny")
        reply = deny(st, t, req);
      else if (op == "radius.restore_plan")
        reply = restore(st, t, req);
      else if (op == "radius.set_plan_group")
        reply = set_group(st, t, req, false);
      else if (op == "radius.revert_plan_group")
        reply = set_group(st, t, req, true);
      else if (op == "radius.verify_sessions_closed")
        reply = verify_closed(st, req);
      else if (op == "radius.disconnect_sessions"
               || op == "radius.coa_sessions") {
        start_da(self, t, req);
        return caf::delegated<adapter_reply>{};
      } else
        reply = permanent("unknown operation " + op);
      if (reply.outcome != adapter_outcome::succeeded)
        common::log_warn("radius", "operation failed",
                         {{"operation", op},
                          {"tenant", req.tenant_id},
                          {"subscriber", req.subscriber_id},
                          {"outcome", events::to_string(reply.outcome)},
                          {"error", reply.error}});
      return reply;
    },
    [self](done_atom, da_done& msg) { on_da_done(self, msg); },
  };
}

} // namespace

dynamic_authorization::~dynamic_authorization() = default;

api::radius_actor spawn_radius_adapter(caf::actor_system& sys,
                                       adapter_config cfg) {
  auto hdl = sys.spawn<caf::detached>(radius_adapter, std::move(cfg));
  return caf::actor_cast<api::radius_actor>(hdl);
}

} // namespace ispflow::adapters::radius
