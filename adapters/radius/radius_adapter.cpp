#include "adapters/radius/radius_adapter.hpp"

#include "adapters/radius/provisioning.hpp"
#include "adapters/resilience/circuit_breaker.hpp"
#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <variant>

namespace ispflow::adapters::radius::detail {

/// The outcomes of one dynamic_authorization call, back in the actor.
struct da_done {
  uint64_t token = 0;
  std::vector<da_outcome> outcomes;
};

/// A disconnect or CoA call's look-ups, for an SQL worker (plan_da).
struct da_lookup {
  events::adapter_request request;
};

/// What a disconnect or CoA call sends, or its reply (`done`) when it sends
/// nothing.
struct da_plan {
  std::optional<events::adapter_reply> done;
  std::string username;
  std::vector<session> sessions;
  /// The CoA attributes.
  std::vector<sql_attribute> attrs;
  /// Indexes into `sessions` to send a CoA-Request, a Disconnect-Request.
  std::vector<size_t> coa_set;
  std::vector<size_t> dm_set;
  std::string profile;
};

/// Operations handed to one SQL worker at once, run in this order.
struct sql_batch {
  std::vector<events::adapter_request> requests;
};

/// Their replies, in the same order.
struct sql_batch_done {
  std::vector<events::adapter_reply> replies;
};

} // namespace ispflow::adapters::radius::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::radius::detail::da_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::radius::detail::sql_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::radius::detail::da_lookup)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::radius::detail::da_plan)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::radius::detail::sql_batch_done)

namespace ispflow::adapters::radius {

namespace {

using detail::da_done;
using detail::da_lookup;
using detail::da_plan;
using detail::sql_batch;
using detail::sql_batch_done;
using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
using events::reply_failed;
using events::reply_succeeded;

using impl_actor
  = api::radius_actor::extend<caf::reacts_to<done_atom, da_done>>;

/// A disconnect or CoA waiting for the client: first the CoA-Requests
/// (`coa_set`), then the Disconnect-Requests (`dm_set` and every session
/// whose CoA was NAKed).
struct pending_da {
  caf::typed_response_promise<adapter_reply> promise;
  std::string operation;
  std::string username;
  std::vector<session> sessions;
  /// Indexes (into `sessions`) sent a CoA-Request.
  std::vector<size_t> coa_set;
  /// Indexes (into `sessions`) sent a Disconnect-Request.
  std::vector<size_t> dm_set;
  /// Per session: its CoA and its Disconnect outcome, when sent.
  std::vector<std::optional<da_outcome>> coa_out;
  std::vector<std::optional<da_outcome>> dm_out;
  /// True while the CoA phase runs.
  bool in_coa_phase = false;
  /// What the CoA carried: "walled_garden" or "plan" (disconnect_sessions).
  std::string coa_profile;
  /// radius.deprovision: the rows are deleted once every session is gone.
  owner who;
  /// The per-NAS breakers that admitted this call, by NAS address.
  std::map<std::string, std::pair<std::shared_ptr<resilience::circuit_breaker>,
                                  resilience::breaker_permit>>
    permits;
  resilience::time_point started;
};

/// Operations for one SQL worker, waiting while it runs a batch: the next
/// batch takes them all (up to `max_sql_batch`), so under load consecutive
/// denies share one transaction and the worker's round trips.
struct worker_queue {
  std::deque<
    std::pair<adapter_request, caf::typed_response_promise<adapter_reply>>>
    waiting;
  bool busy = false;
};

/// The most operations one batch carries.
constexpr size_t max_sql_batch = 64;

/// The most first provisions one statement carries (store::provision_batch):
/// the statement holds its usernames' locks and its partitions' share locks
/// until it commits. ispflow-radius-provision-bench (4 connections)
/// measured PostgreSQL's CPU per provision at 0.09-0.10 ms with 8 or 16 per
/// statement, 0.16-0.24 ms with 32 and 0.22-0.27 ms one by one
/// (docs/benchmarks.md).
constexpr size_t max_provisions_per_statement = 16;

struct adapter_state {
  static inline const char* name = "ispflow.radius";
  std::unique_ptr<store> db;
  /// This instance's id (adapter_config::instance_id).
  std::string instance;
  std::map<std::string, tenant_settings> tenants;
  std::set<std::string> synced;
  std::shared_ptr<dynamic_authorization> coa;
  /// By canonical NAS address.
  std::map<std::string, nas_policy> nas;
  std::shared_ptr<resilience::breaker_registry> nas_breakers;
  /// The sealing keys; null = no password is kept sealed.
  std::shared_ptr<const common::keyring> seal;
  uint64_t next_token = 1;
  std::map<uint64_t, pending_da> pending;
  /// The SQL workers (see `sql_worker`); empty in a worker itself.
  std::vector<caf::actor> workers;
  /// Per worker: what waits for it, and whether it runs a batch now.
  std::vector<worker_queue> queues;
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
// transaction, before anything is written or sent to a NAS; and the saga's
// partition lease, which its writes commit under.
owner owner_of(const adapter_state& st, const adapter_request& req) {
  return owner{req.tenant_id, req.subscriber_id,
               partition_lease{st.instance, req.partition, req.epoch}};
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

// The account radius.provision writes for `req`, or the reply refusing it.
std::variant<account_spec, adapter_reply> spec_of(adapter_state& st,
                                                  const tenant_settings& t,
                                                  const adapter_request& req) {
  account_spec spec;
  spec.tenant_id = req.tenant_id;
  spec.subscriber_id = req.subscriber_id;
  spec.username = input(req, "credentials.username");
  spec.password = input(req, "credentials.password");
  spec.storage = t.passwords;
  spec.framed_ip = input(req, "ip_address");
  spec.seal = st.seal;
  spec.lease = owner_of(st, req).lease;
  if (spec.username.empty() || spec.password.empty())
    return permanent("radius.provision needs credentials.username and "
                     "credentials.password");
  auto plan_id = input(req, "plan_id");
  const auto* p = t.find_plan(plan_id);
  if (p == nullptr)
    return permanent("unknown plan " + plan_id + " for tenant "
                     + req.tenant_id);
  spec.plan_group = t.group_of(*p);
  return spec;
}

adapter_reply provision(adapter_state& st, const tenant_settings& t,
                        const adapter_request& req) {
  auto spec = spec_of(st, t, req);
  if (auto* refused = std::get_if<adapter_reply>(&spec))
    return std::move(*refused);
  auto res = st.db->provision(std::get<account_spec>(spec));
  if (!res)
    return from_error(res.error());
  return changed_reply(*res);
}

// radius.provision for the requests [first, last), all of known tenants,
// distinct subscribers and distinct usernames, as store::provision_batch
// (the first provisions in one statement); the reply of each is what
// `provision` would answer.
void provision_all(adapter_state& st, const std::vector<adapter_request>& reqs,
                   size_t first, size_t last, std::vector<adapter_reply>& out) {
  std::vector<account_spec> specs;
  std::vector<size_t> index;
  for (size_t i = first; i < last; ++i) {
    auto spec = spec_of(st, st.tenants.at(reqs[i].tenant_id), reqs[i]);
    if (auto* refused = std::get_if<adapter_reply>(&spec)) {
      out[i] = std::move(*refused);
      continue;
    }
    specs.push_back(std::move(std::get<account_spec>(spec)));
    index.push_back(i);
  }
  auto res = st.db->provision_batch(specs);
  for (size_t k = 0; k < index.size(); ++k)
    out[index[k]] = res[k] ? changed_reply(*res[k])
                           : from_error(res[k].error());
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
  auto previous = st.db->set_plan_group(*user, group, key, owner_of(st, req));
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
                         owner_of(st, req));
  if (!res)
    return from_error(res.error());
  auto out = changed_reply(*res);
  out.outputs["suspend_policy"] = std::string{to_string(t.suspend)};
  return out;
}

// radius.deny for the requests [first, last), all of known tenants and
// distinct subscribers, in one transaction (store::deny_batch); the reply
// of each is what `deny` would answer.
void deny_all(adapter_state& st, const std::vector<adapter_request>& reqs,
              size_t first, size_t last, std::vector<adapter_reply>& out) {
  std::vector<deny_request> batch;
  std::vector<size_t> index;
  for (size_t i = first; i < last; ++i) {
    const auto& req = reqs[i];
    const auto& t = st.tenants.at(req.tenant_id);
    deny_request d;
    d.username = input(req, "credentials.username");
    if (!d.username.empty())
      if (auto err = check_username(d.username)) {
        out[i] = from_error(err);
        continue;
      }
    d.who = owner_of(st, req);
    d.policy = t.suspend;
    d.walled_garden_group = t.walled_garden_group;
    batch.push_back(std::move(d));
    index.push_back(i);
  }
  auto res = st.db->deny_batch(batch);
  for (size_t k = 0; k < index.size(); ++k) {
    auto i = index[k];
    if (!res) {
      out[i] = from_error(res.error());
      continue;
    }
    const auto& r = (*res)[k];
    if (r.error) {
      out[i] = from_error(r.error);
    } else if (r.username.empty()) {
      out[i] = no_account();
    } else {
      out[i] = changed_reply(r.changed);
      out[i].outputs["suspend_policy"]
        = std::string{to_string(st.tenants.at(reqs[i].tenant_id).suspend)};
    }
  }
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
  auto res = st.db->restore_plan(*user, fallback, owner_of(st, req));
  if (!res)
    return from_error(res.error());
  return changed_reply(*res);
}

adapter_reply restore_credentials(adapter_state& st, const tenant_settings& t,
                                  const adapter_request& req) {
  auto user = username_of(st, req);
  if (!user)
    return from_error(user.error());
  if (user->empty())
    return permanent("no RADIUS account for subscriber " + req.subscriber_id);
  auto res = st.db->restore_credentials(*user, owner_of(st, req), st.seal.get(),
                                        t.passwords);
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
  auto res = st.db->deprovision(*user, owner_of(st, req));
  if (!res)
    return from_error(res.error());
  return changed_reply(*res);
}

bool walls_by_coa(const adapter_state& st, const tenant_settings& t,
                  const session& s);
bool any_coa(const adapter_state& st, const tenant_settings& t);

adapter_reply verify_closed(adapter_state& st, const tenant_settings& t,
                            const adapter_request& req) {
  auto user = username_of(st, req);
  if (!user)
    return from_error(user.error());
  if (user->empty())
    return reply_succeeded({{"open_sessions", "0"}});
  if (any_coa(st, t)) {
    // A session a CoA moved into the walled garden stays up by design:
    // only the others must be gone.
    auto open = st.db->open_sessions(*user, owner_of(st, req));
    if (!open)
      return from_error(open.error());
    size_t left = 0, walled = 0;
    for (const auto& s : *open)
      (walls_by_coa(st, t, s) ? walled : left) += 1;
    if (left > 0)
      return reply_failed(adapter_outcome::retryable_failure,
                          std::to_string(left) + " session(s) of user " + *user
                            + " still open in radacct");
    return reply_succeeded(
      {{"open_sessions", "0"}, {"walled_sessions", std::to_string(walled)}});
  }
  auto n = st.db->count_open_sessions(*user, owner_of(st, req));
  if (!n)
    return from_error(n.error());
  if (*n > 0)
    return reply_failed(adapter_outcome::retryable_failure,
                        std::to_string(*n) + " session(s) of user " + *user
                          + " still open in radacct");
  return reply_succeeded({{"open_sessions", "0"}});
}

// How suspend and resume reach the sessions on the NAS at `address`.
disconnect_mode mode_of(const adapter_state& st, const tenant_settings& t,
                        const std::string& address) {
  auto canonical = canonical_nas_address(address);
  auto i = st.nas.find(canonical.empty() ? address : canonical);
  if (i != st.nas.end() && i->second.mode)
    return *i->second.mode;
  return t.sessions;
}

// The CoA attributes that move a session on the NAS at `address` into the
// walled garden: the NAS's own, else the tenant's walled-garden plan rows;
// empty when neither is configured (the session is then disconnected).
std::vector<sql_attribute> walled_attributes(const adapter_state& st,
                                             const tenant_settings& t,
                                             const std::string& address) {
  auto canonical = canonical_nas_address(address);
  auto i = st.nas.find(canonical.empty() ? address : canonical);
  std::vector<sql_attribute> out;
  if (i != st.nas.end() && !i->second.walled_garden.empty()) {
    for (const auto& [name, value] : i->second.walled_garden)
      out.push_back({name, "=", value});
    return out;
  }
  if (t.walled_garden)
    if (auto rows = plan_reply_attributes(*t.walled_garden, t.nas_vendor))
      out = std::move(*rows);
  return out;
}

// Whether a suspension keeps the session up in the walled garden by CoA.
bool walls_by_coa(const adapter_state& st, const tenant_settings& t,
                  const session& s) {
  return mode_of(st, t, s.nas_address) == disconnect_mode::coa
         && !walled_attributes(st, t, s.nas_address).empty();
}

// Whether any NAS of `t` may keep a suspended session up by CoA.
bool any_coa(const adapter_state& st, const tenant_settings& t) {
  if (t.sessions == disconnect_mode::coa)
    return true;
  for (const auto& [address, policy] : st.nas)
    if (policy.mode == disconnect_mode::coa)
      return true;
  return false;
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

// The reply for a finished disconnect_sessions, coa_sessions or the
// disconnect before a deprovision.
adapter_reply finish(pending_da& p) {
  size_t n = p.sessions.size();
  size_t coa_acked = 0, disconnects = 0;
  std::string permanent_why, retry_why, per_session;
  for (size_t i = 0; i < n; ++i) {
    const auto& coa = p.coa_out[i];
    const auto& dm = p.dm_out[i];
    const da_outcome* last = dm ? &*dm : coa ? &*coa : nullptr;
    if (last == nullptr)
      return reply_failed(adapter_outcome::unknown_outcome,
                          "the CoA client gave no outcome for session "
                            + p.sessions[i].acct_session_id);
    bool good = dm ? disconnected(*dm) : coa->result == da_result::ack;
    if (!good) {
      auto& why = last->result == da_result::timeout ? retry_why
                                                     : permanent_why;
      if (!why.empty())
        why += "; ";
      why += describe(p.sessions[i], *last);
      continue;
    }
    (dm ? disconnects : coa_acked) += 1;
    if (!per_session.empty())
      per_session += "; ";
    per_session += p.sessions[i].acct_session_id + "@"
                   + p.sessions[i].nas_address + " ";
    if (coa)
      per_session += coa->result == da_result::ack
                       ? std::string{"coa ack"}
                       : "coa nak " + std::to_string(coa->error_cause) + ", ";
    if (dm)
      per_session += dm->result == da_result::ack
                       ? std::string{"disconnect ack"}
                       : "disconnect nak " + std::to_string(dm->error_cause);
  }
  if (!permanent_why.empty())
    return permanent(permanent_why);
  if (!retry_why.empty())
    return reply_failed(adapter_outcome::retryable_failure, retry_why);
  events::string_map out{{"sessions", std::to_string(n)},
                         {"disconnected", std::to_string(disconnects)},
                         {"session_results", per_session}};
  if (p.operation == "radius.coa_sessions" || !p.coa_set.empty())
    out["coa_acked"] = std::to_string(coa_acked);
  if (!p.coa_profile.empty())
    out["coa_profile"] = p.coa_profile;
  return reply_succeeded(std::move(out));
}

auto da_callback(adapter_ptr self, uint64_t token) {
  auto hdl = caf::actor_cast<impl_actor>(self);
  return [hdl, token](std::vector<da_outcome> out) {
    caf::anon_send(hdl, done_atom_v, da_done{token, std::move(out)});
  };
}

// Sends the Disconnect phase of `p` (`dm_set`), or finishes it when empty.
// Returns true when the pending entry is done (delivered).
bool run_dm_phase(adapter_ptr self, uint64_t token, pending_da& p) {
  auto& st = self->state;
  if (p.dm_set.empty())
    return true;
  std::vector<session> batch;
  for (auto k : p.dm_set)
    batch.push_back(p.sessions[k]);
  st.coa->disconnect(std::move(batch), da_callback(self, token));
  return false;
}

// Delivers the reply of a finished entry (for radius.deprovision: deletes
// the rows once every session is gone) and forgets it.
void deliver(adapter_ptr self, uint64_t token) {
  auto& st = self->state;
  auto i = st.pending.find(token);
  auto& p = i->second;
  if (!p.permits.empty()) {
    // A NAS that answered every request is healthy (a NAK too); one that
    // left any unanswered is not.
    std::map<std::string, bool> answered;
    for (size_t k = 0; k < p.sessions.size(); ++k) {
      const auto& last = p.dm_out[k] ? p.dm_out[k] : p.coa_out[k];
      bool ok = last
                && (last->result == da_result::ack
                    || last->result == da_result::nak);
      auto [it, fresh] = answered.emplace(p.sessions[k].nas_address, ok);
      if (!fresh)
        it->second = it->second && ok;
    }
    auto now = resilience::clock_type::now();
    for (auto& [address, held] : p.permits) {
      auto a = answered.find(address);
      bool ok = a == answered.end() || a->second;
      held.first->record(held.second,
                         ok ? resilience::call_outcome::success
                            : resilience::call_outcome::failure,
                         now - p.started, now);
    }
    p.permits.clear();
  }
  auto reply = finish(p);
  if (p.operation == "radius.deprovision"
      && reply.outcome == adapter_outcome::succeeded) {
    auto res = st.db->deprovision(p.username, p.who);
    reply = res ? changed_reply(*res) : from_error(res.error());
  }
  p.promise.deliver(std::move(reply));
  st.pending.erase(i);
}

size_t worker_of(const adapter_request& req, size_t n);

// What a disconnect or CoA call reads before anything goes to a NAS (the
// user, the open sessions, the account in coa mode), and what to send; or
// the reply when nothing is to be sent. Only database work: an SQL worker
// runs it, so the look-ups of many calls run in parallel.
da_plan plan_da(adapter_state& st, const tenant_settings& t,
                const adapter_request& req) {
  da_plan out;
  const auto& op = req.operation;
  bool deprovisioning = op == "radius.deprovision";
  // A disconnect or CoA of a subscriber named by owner reads its account's
  // username and open sessions in one statement.
  std::optional<std::vector<session>> read_with_user;
  caf::expected<std::string> user = std::string{};
  if (!deprovisioning && input(req, "credentials.username").empty()) {
    auto both = st.db->open_sessions_of(owner_of(st, req));
    if (!both) {
      out.done = from_error(both.error());
      return out;
    }
    user = std::move(both->first);
    read_with_user = std::move(both->second);
  } else {
    user = username_of(st, req);
  }
  if (!user) {
    out.done = from_error(user.error());
    return out;
  }
  if (user->empty()) {
    out.done = deprovisioning ? no_account()
                              : reply_succeeded({{"sessions", "0"}});
    return out;
  }
  std::vector<sql_attribute> attrs;
  bool coa = op == "radius.coa_sessions";
  if (coa) {
    auto plan_id = input(req, "plan_id");
    const auto* p = t.find_plan(plan_id);
    if (p == nullptr) {
      out.done
        = permanent("unknown plan " + plan_id + " for tenant " + req.tenant_id);
      return out;
    }
    auto rows = plan_reply_attributes(*p, t.nas_vendor);
    if (!rows) {
      out.done = from_error(rows.error());
      return out;
    }
    attrs = std::move(*rows);
  }
  auto sessions
    = read_with_user
        ? caf::expected<std::vector<session>>{std::move(*read_with_user)}
        : st.db->open_sessions(*user, owner_of(st, req));
  if (!sessions && deprovisioning && sessions.error() == errc::invalid_input
      && !user->empty()) {
    // A session on a NAS missing from `nas` never got a CoA from us, so
    // none of them is walled: deprovision as without coa mode (which also
    // answers for another tenant's username).
    out.done = deprovision(st, req);
    return out;
  }
  if (!sessions) {
    out.done = from_error(sessions.error());
    return out;
  }
  if (deprovisioning) {
    // Only what a CoA kept in the walled garden is still up here (the
    // sagas disconnect everything else before they deprovision).
    std::vector<session> walled;
    for (auto& s : *sessions)
      if (walls_by_coa(st, t, s))
        walled.push_back(std::move(s));
    *sessions = std::move(walled);
    if (sessions->empty() || !st.coa) {
      auto res = st.db->deprovision(*user, owner_of(st, req));
      out.done = res ? changed_reply(*res) : from_error(res.error());
      return out;
    }
  }
  if (sessions->empty()) {
    out.done = reply_succeeded({{"sessions", "0"}});
    return out;
  }
  if (!st.coa) {
    out.done = permanent("coa client not wired");
    return out;
  }
  std::vector<size_t> coa_set, dm_set;
  std::string profile;
  if (coa) {
    for (size_t k = 0; k < sessions->size(); ++k)
      coa_set.push_back(k);
  } else if (deprovisioning) {
    for (size_t k = 0; k < sessions->size(); ++k)
      dm_set.push_back(k);
  } else if (!any_coa(st, t)) {
    for (size_t k = 0; k < sessions->size(); ++k)
      dm_set.push_back(k);
  } else {
    // disconnect_sessions: on a NAS in coa mode, a CoA into the walled
    // garden (account denied) or back to the plan (account restored).
    auto acc = st.db->find_account_by_username(*user);
    if (!acc) {
      out.done = from_error(acc.error());
      return out;
    }
    bool denied = *acc && (*acc)->denied;
    const plan* current = nullptr;
    if (*acc)
      for (const auto& p : t.plans)
        if (t.group_of(p) == (*acc)->plan_group)
          current = &p;
    for (size_t k = 0; k < sessions->size(); ++k) {
      const auto& s = (*sessions)[k];
      std::vector<sql_attribute> rows;
      if (mode_of(st, t, s.nas_address) == disconnect_mode::coa) {
        if (denied)
          rows = walled_attributes(st, t, s.nas_address);
        else if (current != nullptr)
          if (auto made = plan_reply_attributes(*current, t.nas_vendor))
            rows = std::move(*made);
      }
      // One CoA call carries one attribute list: sessions on NASes with
      // other walled-garden attributes are disconnected instead.
      if (!rows.empty() && (coa_set.empty() || rows == attrs)) {
        attrs = std::move(rows);
        coa_set.push_back(k);
      } else {
        dm_set.push_back(k);
      }
    }
    if (!coa_set.empty())
      profile = denied ? "walled_garden" : "plan";
  }
  out.username = *user;
  out.sessions = std::move(*sessions);
  out.attrs = std::move(attrs);
  out.coa_set = std::move(coa_set);
  out.dm_set = std::move(dm_set);
  out.profile = std::move(profile);
  return out;
}

// Sends what `plan` says (or answers its reply) for `req`.
void run_da(adapter_ptr self, const adapter_request& req, da_plan& plan,
            caf::typed_response_promise<adapter_reply> rp) {
  auto& st = self->state;
  if (plan.done) {
    rp.deliver(std::move(*plan.done));
    return;
  }
  const auto& op = req.operation;
  auto attrs = std::move(plan.attrs);
  auto token = st.next_token++;
  auto& p = st.pending[token];
  p.promise = rp;
  p.operation = op;
  p.username = std::move(plan.username);
  p.who = owner_of(st, req);
  p.coa_set = std::move(plan.coa_set);
  p.dm_set = std::move(plan.dm_set);
  p.coa_profile = std::move(plan.profile);
  p.coa_out.resize(plan.sessions.size());
  p.dm_out.resize(plan.sessions.size());
  p.sessions = std::move(plan.sessions);
  if (st.nas_breakers) {
    // Every NAS this call would reach must be admitted by its breaker;
    // otherwise nothing is sent and the call parks.
    auto now = resilience::clock_type::now();
    p.started = now;
    for (const auto& s : p.sessions) {
      if (p.permits.count(s.nas_address) != 0)
        continue;
      auto b = st.nas_breakers->get(
        {req.tenant_id, "radius", "nas:" + s.nas_address}, now);
      auto adm = b->acquire(now);
      if (!adm) {
        for (auto& [address, held] : p.permits)
          held.first->release(held.second, now);
        auto reply = reply_failed(adapter_outcome::parked,
                                  "breaker " + req.tenant_id + "/radius/nas:"
                                    + s.nas_address + " is open");
        reply.retry_after_ms = std::max<int64_t>(adm.retry_after.count(), 1);
        p.promise.deliver(std::move(reply));
        st.pending.erase(token);
        return;
      }
      p.permits.emplace(s.nas_address, std::make_pair(b, adm.permit));
    }
  }
  if (!p.coa_set.empty()) {
    p.in_coa_phase = true;
    std::vector<session> batch;
    for (auto k : p.coa_set)
      batch.push_back(p.sessions[k]);
    st.coa->change(std::move(batch), std::move(attrs),
                   da_callback(self, token));
    return;
  }
  if (run_dm_phase(self, token, p))
    deliver(self, token);
}

void start_da(adapter_ptr self, const tenant_settings& t,
              const adapter_request& req) {
  auto& st = self->state;
  auto rp = self->make_response_promise<adapter_reply>();
  if (st.workers.empty()) {
    auto plan = plan_da(st, t, req);
    run_da(self, req, plan, rp);
    return;
  }
  auto& w = st.workers[worker_of(req, st.workers.size())];
  self->request(w, caf::infinite, da_lookup{req})
    .then([self, req,
           rp](da_plan& plan) mutable { run_da(self, req, plan, rp); },
          [rp](caf::error& err) mutable {
            rp.deliver(
              reply_failed(adapter_outcome::unknown_outcome,
                           "the SQL worker did not answer: " + to_string(err)));
          });
}

void on_da_done(adapter_ptr self, da_done& msg) {
  auto& st = self->state;
  auto i = st.pending.find(msg.token);
  if (i == st.pending.end())
    return;
  auto& p = i->second;
  if (p.in_coa_phase) {
    // CoA done: fall back to Disconnect where the NAS refused.
    p.in_coa_phase = false;
    for (size_t k = 0; k < p.coa_set.size() && k < msg.outcomes.size(); ++k) {
      auto idx = p.coa_set[k];
      p.coa_out[idx] = msg.outcomes[k];
      if (msg.outcomes[k].result == da_result::nak)
        p.dm_set.push_back(idx);
    }
    if (!run_dm_phase(self, msg.token, p))
      return;
    deliver(self, msg.token);
    return;
  }
  for (size_t k = 0; k < p.dm_set.size() && k < msg.outcomes.size(); ++k)
    p.dm_out[p.dm_set[k]] = msg.outcomes[k];
  deliver(self, msg.token);
}

// The operations that only read and write the database (no CoA or DM):
// the adapter hands them to its SQL workers.
bool sql_only(const adapter_state& st, const tenant_settings& t,
              const std::string& op) {
  return op == "radius.provision" || op == "radius.deny"
         || op == "radius.restore_plan" || op == "radius.set_plan_group"
         || op == "radius.revert_plan_group"
         || op == "radius.verify_sessions_closed"
         || op == "radius.restore_credentials"
         || (op == "radius.deprovision" && !any_coa(st, t));
}

void log_failure(const adapter_request& req, const adapter_reply& reply) {
  if (reply.outcome != adapter_outcome::succeeded)
    common::log_warn("radius", "operation failed",
                     {{"operation", req.operation},
                      {"tenant", req.tenant_id},
                      {"subscriber", req.subscriber_id},
                      {"outcome", events::to_string(reply.outcome)},
                      {"error", reply.error}});
}

adapter_reply run_sql_only(adapter_state& st, const tenant_settings& t,
                           const adapter_request& req) {
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
    reply = verify_closed(st, t, req);
  else if (op == "radius.restore_credentials")
    reply = restore_credentials(st, t, req);
  else
    reply = permanent("unknown operation " + op);
  log_failure(req, reply);
  return reply;
}

struct worker_state {
  static inline const char* name = "ispflow.radius.sql";
  adapter_state st;
};

// Runs a batch in order: consecutive denies of distinct subscribers share
// one transaction (deny_all), consecutive provisions of distinct
// subscribers and usernames one statement (provision_all); every other
// operation runs on its own.
std::vector<adapter_reply> run_batch(adapter_state& st,
                                     const std::vector<adapter_request>& reqs) {
  std::vector<adapter_reply> out(reqs.size());
  auto is_op = [&](const adapter_request& req, std::string_view op) {
    return req.operation == op && st.tenants.count(req.tenant_id) != 0;
  };
  size_t i = 0;
  while (i < reqs.size()) {
    const auto& op = reqs[i].operation;
    if (is_op(reqs[i], "radius.deny") || is_op(reqs[i], "radius.provision")) {
      bool provisions = op == "radius.provision";
      std::set<std::pair<std::string, std::string>> seen;
      std::set<std::string> users;
      size_t j = i;
      while (
        j < reqs.size() && is_op(reqs[j], op)
        && (!provisions || j - i < max_provisions_per_statement)
        && seen.emplace(reqs[j].tenant_id, reqs[j].subscriber_id).second
        && (!provisions
            || users.insert(input(reqs[j], "credentials.username")).second))
        ++j;
      if (j - i > 1) {
        if (provisions)
          provision_all(st, reqs, i, j, out);
        else
          deny_all(st, reqs, i, j, out);
        for (size_t k = i; k < j; ++k)
          log_failure(reqs[k], out[k]);
        i = j;
        continue;
      }
    }
    const auto& req = reqs[i];
    auto ti = st.tenants.find(req.tenant_id);
    out[i] = ti == st.tenants.end()
               ? permanent("no RADIUS settings for tenant " + req.tenant_id)
               : run_sql_only(st, ti->second, req);
    ++i;
  }
  return out;
}

// One SQL worker: its own connection, one batch at a time, in the order the
// adapter handed them over. The adapter has synced the tenant's plans
// before it hands over any of the tenant's operations.
caf::behavior sql_worker(caf::stateful_actor<worker_state>* self,
                         std::string dsn, std::string instance,
                         std::map<std::string, tenant_settings> tenants,
                         std::map<std::string, nas_policy> nas,
                         std::shared_ptr<dynamic_authorization> coa,
                         std::shared_ptr<const common::keyring> seal) {
  common::name_this_thread("isp.rad.sql");
  auto& init = self->state.st;
  init.db = std::make_unique<store>(std::move(dsn));
  init.instance = std::move(instance);
  init.seal = std::move(seal);
  init.tenants = std::move(tenants);
  init.nas = std::move(nas);
  // Only looked at (whether one is wired): the adapter sends.
  init.coa = std::move(coa);
  return {
    [self](sql_batch& batch) {
      return sql_batch_done{run_batch(self->state.st, batch.requests)};
    },
    [self](da_lookup& look) {
      auto& st = self->state.st;
      auto ti = st.tenants.find(look.request.tenant_id);
      if (ti == st.tenants.end()) {
        da_plan out;
        out.done = permanent("no RADIUS settings for tenant "
                             + look.request.tenant_id);
        return out;
      }
      return plan_da(st, ti->second, look.request);
    },
  };
}

// Hands the operations waiting for worker `k` to it as one batch, unless it
// runs one already (then they go when it is done).
void flush(adapter_ptr self, size_t k) {
  auto& q = self->state.queues[k];
  if (q.busy || q.waiting.empty())
    return;
  sql_batch batch;
  auto promises = std::make_shared<
    std::vector<caf::typed_response_promise<adapter_reply>>>();
  while (!q.waiting.empty() && batch.requests.size() < max_sql_batch) {
    batch.requests.push_back(std::move(q.waiting.front().first));
    promises->push_back(std::move(q.waiting.front().second));
    q.waiting.pop_front();
  }
  q.busy = true;
  self->request(self->state.workers[k], caf::infinite, std::move(batch))
    .then(
      [self, k, promises](sql_batch_done& done) {
        for (size_t i = 0; i < promises->size(); ++i)
          (*promises)[i].deliver(
            i < done.replies.size()
              ? std::move(done.replies[i])
              : reply_failed(adapter_outcome::unknown_outcome,
                             "the SQL worker gave no reply"));
        self->state.queues[k].busy = false;
        flush(self, k);
      },
      [self, k, promises](caf::error& err) {
        for (auto& rp : *promises)
          rp.deliver(
            reply_failed(adapter_outcome::unknown_outcome,
                         "the SQL worker did not answer: " + to_string(err)));
        self->state.queues[k].busy = false;
        flush(self, k);
      });
}

// The worker of a subscriber: every operation for one (tenant, subscriber)
// goes to the same worker, so they run one after the other in the order
// they came. A username belongs to one subscriber (every operation checks
// it under the username's advisory lock): operations on one username thus
// never run at the same time, those of different subscribers run in
// parallel on the workers' connections.
size_t worker_of(const adapter_request& req, size_t n) {
  auto key = req.tenant_id;
  key += '\0';
  key += req.subscriber_id;
  // FNV-1a: stable across runs and platforms.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h % n);
}

impl_actor::behavior_type radius_adapter(adapter_ptr self, adapter_config cfg) {
  common::name_this_thread("isp.radius");
  auto& init = self->state;
  init.db = std::make_unique<store>(cfg.dsn);
  init.instance = cfg.instance_id;
  for (auto& t : cfg.tenants) {
    auto id = t.tenant_id;
    init.tenants.emplace(std::move(id), std::move(t));
  }
  init.coa = std::move(cfg.coa);
  init.nas_breakers = std::move(cfg.nas_breakers);
  init.seal = std::move(cfg.seal);
  for (auto& n : cfg.nas) {
    auto canonical = canonical_nas_address(n.address);
    auto key = canonical.empty() ? n.address : canonical;
    init.nas.emplace(std::move(key), std::move(n));
  }
  for (size_t k = 0; k < cfg.sql_connections; ++k) {
    auto w = self->system().spawn<caf::detached>(sql_worker, cfg.dsn,
                                                 init.instance, init.tenants,
                                                 init.nas, init.coa, init.seal);
    self->link_to(w);
    init.workers.push_back(std::move(w));
  }
  init.queues.resize(init.workers.size());
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
      if (!st.workers.empty() && sql_only(st, t, op)) {
        auto k = worker_of(req, st.workers.size());
        auto rp = self->make_response_promise<adapter_reply>();
        st.queues[k].waiting.emplace_back(std::move(req), rp);
        flush(self, k);
        return rp;
      }
      // What goes to the NAS (and a deprovision that may have to end walled
      // sessions first) runs here; the rest as the SQL workers run it.
      if ((op == "radius.deprovision" && any_coa(st, t))
          || op == "radius.disconnect_sessions"
          || op == "radius.coa_sessions") {
        start_da(self, t, req);
        return caf::delegated<adapter_reply>{};
      }
      return run_sql_only(st, t, req);
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
