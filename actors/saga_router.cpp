#include "actors/saga_router.hpp"

#include "actors/bounded_requests.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "sagas/admission.hpp"
#include "sagas/json_secrets.hpp"
#include "sagas/lifecycle_sagas.hpp"

#include <algorithm>
#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <map>
#include <optional>
#include <random>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <set>
#include <thread>
#include <utility>

// The router's cycle:
//
//   start --load_active--> resume each saga --+
//                                             v
//   nudge / tick / saga done ----------> poll next_startable
//                                             |  per event (claimed)
//                                             v
//     status (subscriber states, one request; none when the events came
//             with their records, as the PostgreSQL store's do)
//                                     |                 |
//                               admit: starts      admit: refused
//                                     v                 v
//                       spawn saga actor        skip_event + dead letter
//                       (1st write links        (claim released)
//                        the inbox event)
//                                     |
//                              done / down: claim released, poll again

namespace ispflow::actors {

namespace {

namespace pg = adapters::postgres;

using subscriber_key = std::pair<std::string, std::string>;

struct running_saga {
  std::string saga_id;
  subscriber_key subscriber;
  int64_t inbox_id = 0;
  /// The input partition, when known (-1 otherwise).
  int32_t partition = -1;
};

struct router_state {
  saga_router_settings cfg;
  std::shared_ptr<saga_actor_deps> deps;
  std::mt19937_64 rng;
  bool ready = false;
  /// A load of the active sagas is in flight (a tick must not start a
  /// second one: each would resume every saga again).
  bool loading = false;
  bool polling = false;
  bool poll_again = false;
  /// Draining (graceful stop): nothing starts any more.
  bool draining = false;
  /// After a poll that found nothing new, the next waits until then (a
  /// nudge is pending meanwhile if one was asked for).
  caf::actor_clock::time_point quiet_until;
  bool quiet_nudge = false;
  /// Names the pending quiet nudge; a poll for new events voids it.
  uint64_t quiet_generation = 0;
  /// New events were written (an outside nudge): the next poll goes out
  /// without waiting for the quiet period.
  bool fresh = false;
  /// Claimed subscribers and inbox events (taken, saga not ended yet).
  std::set<subscriber_key> busy;
  std::set<int64_t> claimed;
  /// Events whose claim ended while a poll was in flight: that poll's
  /// snapshot may predate the saga's first write (or the skip) and show
  /// them startable still, so it must not take them; the next poll, made
  /// after the release, sees them as they are.
  std::set<int64_t> released_while_polling;

  /// Ends the claim on inbox event `id`.
  void unclaim(int64_t id) {
    claimed.erase(id);
    if (polling)
      released_while_polling.insert(id);
  }
  /// Claimed subscribers per tenant: its sagas running or being admitted.
  std::map<std::string, size_t> tenant_busy;

  /// Claims subscriber `key`; false if it was claimed already.
  bool hold(const subscriber_key& key) {
    if (!busy.insert(key).second)
      return false;
    ++tenant_busy[key.first];
    return true;
  }

  /// Releases subscriber `key` (if claimed).
  void unhold(const subscriber_key& key) {
    if (busy.erase(key) == 0)
      return;
    if (auto i = tenant_busy.find(key.first);
        i != tenant_busy.end() && --i->second == 0)
      tenant_busy.erase(i);
  }

  /// Whether tenant `id` runs as many sagas as it may, or its adapter
  /// calls are saturated.
  bool tenant_full(const std::string& id) const {
    if (cfg.tenant_saturated && cfg.tenant_saturated(id))
      return true;
    if (cfg.tenant_max_running == 0)
      return false;
    auto i = tenant_busy.find(id);
    return i != tenant_busy.end() && i->second >= cfg.tenant_max_running;
  }

  /// The tenants at their limit, for the store's startable query (a
  /// saturated tenant has sagas running: it is among tenant_busy).
  std::vector<std::string> full_tenants() const {
    std::vector<std::string> out;
    for (auto& [id, n] : tenant_busy)
      if (tenant_full(id))
        out.push_back(id);
    return out;
  }
  /// Saga actors alive, by address.
  std::map<caf::actor_addr, running_saga> running;
  /// With follow_assignment: the partitions the group gave us.
  std::set<int32_t> owned;

  router_state() = default;
  router_state(const router_state&) = delete;
  router_state& operator=(const router_state&) = delete;

  /// A router that ends (crash, shutdown) takes its sagas with it; they
  /// resume from the store at the next start. Not a link: unlinking costs
  /// a scan of the router's links, once per saga, so thousands of running
  /// sagas made each saga's end slower than its whole run.
  ~router_state() {
    for (auto& [addr, saga] : running)
      caf::anon_send_exit(addr, caf::exit_reason::kill);
  }

  /// Partitions for store queries (empty = all).
  std::vector<int32_t> partitions() const {
    if (!cfg.follow_assignment)
      return cfg.partitions;
    return {owned.begin(), owned.end()};
  }

  /// The running saga `id`, or running.end().
  std::map<caf::actor_addr, running_saga>::iterator
  find_running(const std::string& id) {
    return std::find_if(running.begin(), running.end(),
                        [&](auto& kv) { return kv.second.saga_id == id; });
  }
  saga_router_counts counts;
  /// The store requests, bounded by cfg.deadlines (bounded_requests.hpp).
  bounded_requests calls;
  static inline const char* name = "ispflow.saga_router";

  std::string new_saga_id() {
    // A random UUID (version 4): saga ids prefix idempotency keys, so they
    // must never repeat, not even across databases.
    auto hi = rng();
    auto lo = rng();
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    char buf[37];
    std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx",
                  static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xffff),
                  static_cast<unsigned>(hi & 0xffff),
                  static_cast<unsigned>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xffffffffffffULL));
    return buf;
  }

  sagas::time_point now() const {
    auto t = cfg.clock ? cfg.clock() : std::chrono::system_clock::now();
    return std::chrono::time_point_cast<std::chrono::microseconds>(t);
  }
};

using self_ptr = saga_router_actor::stateful_pointer<router_state>;

// Requests `xs` of the saga store, bounded by cfg.store_timeout
// (bounded_requests.hpp: by cfg.deadlines when set, else by CAF).
template <class R, class OnValue, class OnError, class... Ts>
void store_request(self_ptr self, OnValue on_value, OnError on_error,
                   Ts&&... xs) {
  auto& st = self->state;
  bounded_request<R>(self, st.calls, st.cfg.store, st.cfg.store_timeout,
                     std::move(on_value), std::move(on_error),
                     std::forward<Ts>(xs)...);
}

void poll(self_ptr self);

void launch(self_ptr self, saga_start start, subscriber_key key,
            int32_t partition = -1) {
  auto& st = self->state;
  start.seed = st.rng();
  auto id = start.instance.id;
  auto inbox_id = start.inbox_id;
  if (start.partition >= 0)
    partition = start.partition;
  if (st.cfg.leases && partition >= 0) {
    auto epoch = st.cfg.leases->epoch(partition);
    if (!epoch) {
      // Lost since it was polled: its owner starts or resumes it.
      st.unhold(key);
      if (inbox_id != 0)
        st.unclaim(inbox_id);
      return;
    }
    start.fence = adapters::postgres::write_fence{partition, *epoch};
  }
  auto handle = spawn_saga_actor(self->home_system(), st.deps,
                                 std::move(start));
  // Monitored, not linked (see ~router_state).
  self->monitor(handle);
  st.running.emplace(handle.address(),
                     running_saga{std::move(id), std::move(key), inbox_id,
                                  partition});
  st.counts.running = st.running.size();
}

void release(self_ptr self, const running_saga& saga) {
  auto& st = self->state;
  st.unhold(saga.subscriber);
  if (saga.inbox_id != 0)
    st.unclaim(saga.inbox_id);
}

// `json` written again without its secret members (sagas::
// erase_secret_members); nothing when it does not parse or, unless
// `always`, has none.
std::optional<std::string> rewrite_without_secrets(const std::string& json,
                                                   bool always) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError())
    return std::nullopt;
  if (!sagas::erase_secret_members(doc) && !always)
    return std::nullopt;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  doc.Accept(w);
  return std::string{buf.GetString(), buf.GetSize()};
}

// The refused event's payload without its secrets: the copy goes to the
// dead-letter topic, while the inbox row (what an operator re-drives)
// keeps them until it is re-driven or retention deletes it.
std::string without_secrets(const std::string& payload) {
  // Stored as jsonb: it always parses.
  return rewrite_without_secrets(payload, true).value_or(payload);
}

events::kafka_record dead_letter_record(const router_state& st,
                                        const pg::startable_event& ev,
                                        const sagas::admission_decision& d) {
  // The event as a binary-mode CloudEvent, plus why it was refused.
  events::kafka_record rec;
  rec.topic = st.cfg.dead_letter_topic;
  rec.key = ev.subscriber_id;
  rec.value = without_secrets(ev.payload);
  auto add = [&rec](std::string k, std::string v) {
    rec.headers.push_back(
      events::kafka_header{std::move(k), std::move(v), false});
  };
  add("ce_specversion", "1.0");
  add("ce_id", ev.event_id);
  add("ce_source", ev.source);
  add("ce_type", ev.type);
  add("ce_subject", ev.subscriber_id);
  add("ce_tenantid", ev.tenant_id);
  add("content-type", "application/json");
  if (!ev.traceparent.empty())
    add("traceparent", ev.traceparent);
  add("ispflow_error", d.reason);
  add("ispflow_error_detail", d.detail);
  return rec;
}

void skip(self_ptr self, const pg::startable_event& ev,
          sagas::admission_decision d) {
  auto& st = self->state;
  auto key = subscriber_key{ev.tenant_id, ev.subscriber_id};
  auto inbox_id = ev.inbox_id;
  // The skip is a write for the event's partition: fenced as the sagas'.
  pg::write_fence fence;
  if (st.cfg.leases && ev.partition >= 0) {
    auto epoch = st.cfg.leases->epoch(ev.partition);
    if (!epoch) {
      // Lost since it was polled: its owner decides.
      st.unhold(key);
      st.claimed.erase(inbox_id);
      return;
    }
    fence = pg::write_fence{ev.partition, *epoch};
  }
  std::vector<events::kafka_record> records{dead_letter_record(st, ev, d)};
  store_request<int64_t>(
    self,
    [self, key, inbox_id](int64_t) {
      auto& rs = self->state;
      ++rs.counts.skipped;
      rs.unhold(key);
      rs.unclaim(inbox_id);
      poll(self);
    },
    [self, key, inbox_id, fence](caf::error& err) {
      auto& rs = self->state;
      common::log_warn("saga_router", "billing event not skipped",
                       {{"inbox_id", std::to_string(inbox_id)},
                        {"error", render_error(err)}});
      rs.unhold(key);
      rs.unclaim(inbox_id);
      if (err == errc::stale_epoch && rs.cfg.leases) {
        // Another instance claimed the partition: stop its sagas here.
        ++rs.cfg.leases->stale_writes_refused;
        // Refused under the epoch still held: the partition is lost.
        // Under an older one (claimed again since): nothing more.
        if (rs.cfg.leases->drop_if(fence.partition, fence.epoch))
          self->send(self, close_atom_v, std::vector<int32_t>{fence.partition});
      }
    },
    skip_atom_v, inbox_id, d.reason, std::move(records), fence);
}

void decide(self_ptr self, const pg::startable_event& ev,
            const std::string& state_name, const std::string& service_type,
            const sagas::field_map& inherited) {
  auto& st = self->state;
  auto state = sagas::parse_subscriber_state(state_name)
                 .value_or(sagas::subscriber_state::none);
  // The payload takes part in admitting a drift repair (the state it was
  // planned for); billing events are admitted by their type alone.
  auto payload = flatten_payload(ev.payload);
  auto d = sagas::admit(state, ev.type, payload);
  if (!d.starts()) {
    skip(self, ev, std::move(d));
    return;
  }
  auto def = st.cfg.registry->current(d.saga);
  auto profile = st.cfg.adapters.profile(ev.tenant_id);
  if (def == nullptr || !profile) {
    sagas::admission_decision refused;
    refused.reason = def == nullptr ? "unknown_saga" : "unknown_tenant";
    refused.detail = def == nullptr
                       ? "no definition of saga " + d.saga
                       : "tenant " + ev.tenant_id + " has no adapter profile";
    skip(self, ev, std::move(refused));
    return;
  }
  sagas::instance_seed seed;
  seed.id = st.new_saga_id();
  seed.tenant_id = ev.tenant_id;
  seed.subscriber_id = ev.subscriber_id;
  seed.causation = ev.event_id;
  seed.payload = std::move(payload);
  // A suspend, resume, plan change or terminate carries only what changes:
  // the rest (credentials, access, the IP, ONU and CPE ids) comes from the
  // subscriber's completed sagas. The event's own values win.
  for (auto& [k, v] : inherited)
    seed.payload.emplace(k, v);
  // Only the activation names the service type; later sagas inherit it.
  if (auto i = seed.payload.find("service_type"); i != seed.payload.end())
    seed.service_type = i->second;
  else
    seed.service_type = service_type;
  saga_start start;
  start.instance = sagas::make_instance(*def, std::move(seed), st.now());
  start.instance.traceparent = ev.traceparent;
  start.first_input = sagas::start_saga{*profile};
  start.inbox_id = ev.inbox_id;
  start.partition = ev.partition;
  // Parsed again only when the flattened payload shows a secret.
  if (std::any_of(start.instance.payload.begin(), start.instance.payload.end(),
                  [](auto& kv) { return sagas::is_secret_field(kv.first); }))
    start.inbox_payload = payload_without_secrets(ev.payload);
  ++st.counts.started;
  common::log_debug("saga_router", "saga started",
                    {{"saga_id", start.instance.id},
                     {"trace_id", sagas::trace_id(start.instance)},
                     {"saga", start.instance.name},
                     {"tenant", start.instance.tenant_id},
                     {"causation", start.instance.causation}});
  if (st.cfg.on_saga_started)
    st.cfg.on_saga_started(start.instance);
  launch(self, std::move(start), {ev.tenant_id, ev.subscriber_id});
}

// Decides every event of one poll with one subscriber-state request.
void admit_all(self_ptr self, std::vector<pg::startable_event> evs) {
  subscriber_keys q;
  q.keys.reserve(evs.size());
  for (auto& ev : evs)
    q.keys.emplace_back(ev.tenant_id, ev.subscriber_id);
  store_request<subscriber_states>(
    self,
    [self, evs](subscriber_states& res) {
      for (size_t i = 0; i < evs.size(); ++i) {
        static const sagas::field_map none;
        if (i < res.states.size())
          decide(self, evs[i], res.states[i].first, res.states[i].second,
                 i < res.profiles.size() ? res.profiles[i] : none);
      }
    },
    [self, evs](caf::error& err) {
      auto& rs = self->state;
      common::log_warn("saga_router", "subscriber states not read",
                       {{"events", std::to_string(evs.size())},
                        {"error", render_error(err)}});
      for (auto& ev : evs) {
        rs.unhold(subscriber_key{ev.tenant_id, ev.subscriber_id});
        rs.unclaim(ev.inbox_id);
      }
    },
    status_atom_v, std::move(q));
}

// Decides the events on the records they came with (the PostgreSQL
// store's startable query reads them), or else asks the store.
void admit(self_ptr self, std::vector<pg::startable_event> evs) {
  auto with = [](const pg::startable_event& ev) { return ev.with_record; };
  if (!std::all_of(evs.begin(), evs.end(), with))
    return admit_all(self, std::move(evs));
  for (auto& ev : evs)
    decide(self, ev,
           std::string{sagas::to_string(pg::admission_state(ev.record))},
           ev.record.service_type, ev.record.profile);
}

void poll(self_ptr self) {
  auto& st = self->state;
  if (st.draining)
    return;
  if (!st.ready || st.polling) {
    st.poll_again = true;
    return;
  }
  // Owning nothing is not "all partitions".
  if (st.cfg.follow_assignment && st.owned.empty())
    return;
  // Sagas that end ask for a poll each; while every startable event is
  // already claimed, polling back to back only repeats the same query.
  // Events just written are new to every earlier poll: they do not wait.
  if (auto now = self->clock().now(); !st.fresh && now < st.quiet_until) {
    if (!st.quiet_nudge) {
      st.quiet_nudge = true;
      self->delayed_send(self, st.quiet_until - now, nudge_atom_v,
                         st.quiet_generation);
    }
    return;
  }
  if (st.quiet_nudge) {
    // This poll answers whoever asked for the pending one.
    st.quiet_nudge = false;
    ++st.quiet_generation;
  }
  st.fresh = false;
  st.polling = true;
  st.poll_again = false;
  pg::startable_query q;
  q.limit = st.cfg.batch;
  q.partitions = st.partitions();
  q.skip_tenants = st.full_tenants();
  store_request<std::vector<pg::startable_event>>(
    self,
    [self](std::vector<pg::startable_event>& events) {
      auto& rs = self->state;
      // Claim each event (and its subscriber) before deciding on it.
      std::vector<pg::startable_event> taken;
      for (auto& ev : events) {
        auto key = subscriber_key{ev.tenant_id, ev.subscriber_id};
        if (rs.claimed.count(ev.inbox_id) > 0 || rs.busy.count(key) > 0
            || rs.released_while_polling.count(ev.inbox_id) > 0)
          continue;
        // A tenant at its limit waits for one of its sagas to end (which
        // polls again); the others' events are taken meanwhile.
        if (rs.tenant_full(ev.tenant_id))
          continue;
        rs.claimed.insert(ev.inbox_id);
        rs.hold(key);
        taken.push_back(std::move(ev));
      }
      bool stale = !rs.released_while_polling.empty();
      rs.released_while_polling.clear();
      if (!taken.empty())
        admit(self, std::move(taken));
      else if (!stale)
        rs.quiet_until = self->clock().now() + rs.cfg.poll_quiet;
      self->state.polling = false;
      if (self->state.poll_again)
        poll(self);
    },
    [self](caf::error& err) {
      common::log_warn("saga_router", "startable events not read",
                       {{"error", render_error(err)}});
      self->state.released_while_polling.clear();
      self->state.polling = false;
    },
    next_atom_v, std::move(q));
}

// Starts an actor for each loaded saga that has none yet.
void resume_loaded(self_ptr self, std::vector<sagas::saga_instance>& active,
                   int32_t partition) {
  auto& rs = self->state;
  for (auto& inst : active) {
    if (rs.find_running(inst.id) != rs.running.end())
      continue;
    auto key = subscriber_key{inst.tenant_id, inst.subscriber_id};
    rs.hold(key);
    saga_start start;
    start.instance = std::move(inst);
    start.first_input = sagas::resume_after_restart{};
    ++rs.counts.resumed;
    launch(self, std::move(start), std::move(key), partition);
  }
}

// Resumes the open sagas of one newly assigned partition.
void resume_partition(self_ptr self, int32_t partition) {
  store_request<std::vector<sagas::saga_instance>>(
    self,
    [self, partition](std::vector<sagas::saga_instance>& active) {
      // Revoked again meanwhile: the next owner resumes them.
      if (self->state.owned.count(partition) == 0)
        return;
      resume_loaded(self, active, partition);
      poll(self);
    },
    [self, partition](caf::error& err) {
      common::log_warn("saga_router", "active sagas not loaded",
                       {{"partition", std::to_string(partition)},
                        {"error", render_error(err)}});
      // Try again: its sagas must not wait for the next rebalance.
      auto& rs = self->state;
      self->delayed_send(self, rs.cfg.write_retry * 10, open_atom_v,
                         std::vector<int32_t>{partition});
      rs.owned.erase(partition);
    },
    load_atom_v, std::vector<int32_t>{partition});
}

void resume_all(self_ptr self) {
  auto& st = self->state;
  if (st.loading || st.ready)
    return;
  st.loading = true;
  store_request<std::vector<sagas::saga_instance>>(
    self,
    [self](std::vector<sagas::saga_instance>& active) {
      auto& rs = self->state;
      rs.loading = false;
      resume_loaded(self, active, -1);
      rs.ready = true;
      poll(self);
    },
    [self](caf::error& err) {
      // Without the active sagas, starting new ones could break the
      // per-subscriber order: retry on the next tick.
      self->state.loading = false;
      common::log_warn("saga_router", "active sagas not loaded",
                       {{"error", render_error(err)}});
    },
    load_atom_v, st.cfg.partitions);
}

caf::error operator_refused(std::string detail) {
  return caf::make_error(errc::invalid_input, std::move(detail));
}

// retry (or cancel) of saga `id` on an operator's request.
caf::result<std::string> operator_request(self_ptr self, std::string id,
                                          std::string reason, bool retry,
                                          int32_t partition = -1) {
  auto& st = self->state;
  if (st.draining)
    return caf::make_error(errc::shutting_down,
                           std::string{"this instance is stopping"});
  // The retry (or cancel) writes under this instance's epoch of the
  // saga's partition, as the engine's own writes do.
  if (st.cfg.leases && partition >= 0 && !st.cfg.leases->epoch(partition))
    return caf::make_error(errc::stale_epoch,
                           "partition " + std::to_string(partition)
                             + " is not held by this instance");
  if (auto i = st.find_running(id); i != st.running.end()) {
    if (retry)
      return operator_refused("saga " + id
                              + " is running; only a saga in needs_attention"
                                " can be retried");
    if (auto hdl = caf::actor_cast<saga_actor>(i->first))
      self->send(hdl, cancel_atom_v, std::move(reason));
    return std::string{"cancel_requested"};
  }
  auto rp = self->make_response_promise<std::string>();
  store_request<sagas::saga_instance>(
    self,
    [self, rp, reason, retry, partition](sagas::saga_instance& inst) mutable {
      auto& rs = self->state;
      if (inst.state != sagas::saga_state::needs_attention) {
        rp.deliver(operator_refused(
          "saga " + inst.id + " is " + std::string{sagas::to_string(inst.state)}
          + (retry ? "; only a saga in needs_attention can be retried"
                   : "; only a running saga or one in needs_attention can"
                     " be cancelled")));
        return;
      }
      if (rs.find_running(inst.id) != rs.running.end()) {
        rp.deliver(
          operator_refused("saga " + inst.id + " is already being retried"));
        return;
      }
      auto key = subscriber_key{inst.tenant_id, inst.subscriber_id};
      rs.hold(key);
      std::string answer = "cancelled";
      if (retry) {
        bool undoing = !inst.steps.empty() && inst.cursor < inst.steps.size()
                       && inst.steps[inst.cursor].state
                            == sagas::step_state::compensating;
        answer = undoing ? "compensating" : "running";
      }
      saga_start start;
      start.instance = std::move(inst);
      if (retry)
        start.first_input = sagas::retry_requested{std::move(reason)};
      else
        start.first_input = sagas::cancel_requested{std::move(reason)};
      if (rs.cfg.leases && partition >= 0 && !rs.cfg.leases->epoch(partition)) {
        rs.unhold(key);
        rp.deliver(caf::make_error(errc::stale_epoch,
                                   "partition " + std::to_string(partition)
                                     + " is not held by this instance"));
        return;
      }
      launch(self, std::move(start), std::move(key), partition);
      rp.deliver(std::move(answer));
    },
    [rp](caf::error& err) mutable { rp.deliver(std::move(err)); }, load_atom_v,
    id);
  return rp;
}

saga_router_actor::behavior_type router(self_ptr self,
                                        saga_router_settings cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.calls.use(st.cfg.deadlines);
  if (st.cfg.seed == 0)
    st.cfg.seed = std::random_device{}();
  st.rng.seed(st.cfg.seed);
  if (!st.cfg.timer)
    st.cfg.timer = spawn_timer(self->home_system(), st.cfg.clock);
  auto deps = std::make_shared<saga_actor_deps>();
  deps->registry = st.cfg.registry;
  deps->store = st.cfg.store;
  deps->timer = st.cfg.timer;
  deps->router = saga_router_actor{self};
  deps->adapters = st.cfg.adapters;
  deps->outputs = st.cfg.outputs;
  deps->clock = st.cfg.clock;
  deps->store_timeout = st.cfg.store_timeout;
  deps->write_retry = st.cfg.write_retry;
  deps->write_linger = st.cfg.write_linger;
  deps->on_step_call = st.cfg.on_step_call;
  deps->leases = st.cfg.leases;
  deps->deadlines = st.cfg.deadlines;
  st.deps = std::move(deps);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& rs = self->state;
    auto i = rs.running.find(msg.source);
    if (i == rs.running.end())
      return;
    // Stopped without reporting its end: the saga stays in the store and
    // is resumed at the next start; its subscriber stays blocked there.
    ++rs.counts.abandoned;
    release(self, i->second);
    rs.running.erase(i);
    rs.counts.running = rs.running.size();
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // Saga actors are monitored (the down handler); anything linked to
    // us ends the router as usual.
    if (msg.reason)
      self->quit(std::move(msg.reason));
  });
  if (st.cfg.follow_assignment) {
    // Sagas are resumed partition by partition as they are assigned.
    st.ready = true;
  } else if (st.cfg.resume) {
    resume_all(self);
  } else {
    st.ready = true;
    poll(self);
  }
  if (st.cfg.poll_interval.count() > 0)
    self->delayed_send(self, st.cfg.poll_interval, tick_atom_v);
  return {
    [self](nudge_atom) {
      self->state.fresh = true;
      poll(self);
    },
    [self](nudge_atom, uint64_t generation) {
      auto& rs = self->state;
      if (!rs.quiet_nudge || generation != rs.quiet_generation)
        return;
      rs.quiet_nudge = false;
      poll(self);
    },
    [self](timeout_atom, uint64_t token) {
      self->state.calls.timed_out(token);
    },
    [self](tick_atom) {
      auto& rs = self->state;
      if (!rs.ready)
        resume_all(self);
      else
        poll(self);
      self->delayed_send(self, rs.cfg.poll_interval, tick_atom_v);
    },
    [self](done_atom, const sagas::saga_instance& inst) {
      auto& rs = self->state;
      ++rs.counts.finished;
      if (inst.state == sagas::saga_state::completed)
        common::log_debug("saga_router", "saga ended",
                          {{"saga_id", inst.id},
                           {"trace_id", sagas::trace_id(inst)},
                           {"saga", inst.name},
                           {"tenant", inst.tenant_id},
                           {"state", std::string{to_string(inst.state)}}});
      else
        common::log_info("saga_router", "saga ended",
                         {{"saga_id", inst.id},
                          {"trace_id", sagas::trace_id(inst)},
                          {"saga", inst.name},
                          {"tenant", inst.tenant_id},
                          {"state", std::string{to_string(inst.state)}},
                          {"failed_step", inst.failed_step},
                          {"error", inst.error}});
      if (rs.cfg.on_saga_finished)
        rs.cfg.on_saga_finished(inst);
      // Sent by the saga actor itself: find it by address, not by id (a
      // scan of every running saga, per saga that ends).
      // A sender not running any more was forgotten when its partition
      // closed: the same saga may run again in a new actor, which stays.
      auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
      auto i = rs.running.find(sender);
      if (i != rs.running.end() && i->second.saga_id != inst.id)
        i = rs.running.end();
      if (i == rs.running.end() && !sender)
        i = rs.find_running(inst.id);
      if (i != rs.running.end()) {
        self->demonitor(i->first);
        release(self, i->second);
        rs.running.erase(i);
      }
      rs.counts.running = rs.running.size();
      poll(self);
    },
    [self](caf::get_atom) { return self->state.counts; },
    [self](retry_atom, std::string& id,
           std::string& reason) -> caf::result<std::string> {
      return operator_request(self, std::move(id), std::move(reason), true);
    },
    [self](cancel_atom, std::string& id,
           std::string& reason) -> caf::result<std::string> {
      return operator_request(self, std::move(id), std::move(reason), false);
    },
    [self](retry_atom, std::string& id, std::string& reason,
           int32_t partition) -> caf::result<std::string> {
      return operator_request(self, std::move(id), std::move(reason), true,
                              partition);
    },
    [self](cancel_atom, std::string& id, std::string& reason,
           int32_t partition) -> caf::result<std::string> {
      return operator_request(self, std::move(id), std::move(reason), false,
                              partition);
    },
    [self](stop_atom) {
      auto& rs = self->state;
      rs.draining = true;
      for (auto& [addr, saga] : rs.running)
        if (auto hdl = caf::actor_cast<saga_actor>(addr))
          self->send(hdl, stop_atom_v);
      common::log_info("saga_router", "draining: no saga starts any more",
                       {{"running", std::to_string(rs.running.size())}});
      return static_cast<uint64_t>(rs.running.size());
    },
    [self](open_atom, const std::vector<int32_t>& parts) {
      auto& rs = self->state;
      if (!rs.cfg.follow_assignment || rs.draining)
        return;
      for (auto p : parts)
        if (rs.owned.insert(p).second)
          resume_partition(self, p);
      common::log_info("saga_router", "partitions assigned",
                       {{"owned", std::to_string(rs.owned.size())}});
      poll(self);
    },
    [self](close_atom, const std::vector<int32_t>& parts) {
      auto& rs = self->state;
      if (!rs.cfg.follow_assignment)
        return;
      std::set<int32_t> gone{parts.begin(), parts.end()};
      for (auto p : parts)
        rs.owned.erase(p);
      // Their sagas stop where they are: each transition is durable, and
      // the new owner resumes them (same keys, reconcile first). They are
      // forgotten at once, not at their down message: when this instance
      // claims the partition again (a lease that ran out), its sagas
      // resume from the store under the new epoch, which refuses whatever
      // the stopping actors still write.
      for (auto i = rs.running.begin(); i != rs.running.end();) {
        if (gone.count(i->second.partition) == 0) {
          ++i;
          continue;
        }
        if (auto hdl = caf::actor_cast<caf::actor>(i->first))
          self->send_exit(hdl, caf::exit_reason::user_shutdown);
        release(self, i->second);
        i = rs.running.erase(i);
      }
      rs.counts.running = rs.running.size();
      common::log_info("saga_router", "partitions revoked",
                       {{"owned", std::to_string(rs.owned.size())}});
    },
  };
}

void flatten_into(const rapidjson::Value& v, const std::string& prefix,
                  sagas::field_map& out) {
  auto join = [&](const std::string& k) {
    return prefix.empty() ? k : prefix + "." + k;
  };
  if (v.IsObject()) {
    for (auto& m : v.GetObject())
      flatten_into(
        m.value,
        join(std::string{m.name.GetString(), m.name.GetStringLength()}), out);
  } else if (v.IsArray()) {
    size_t n = 0;
    for (auto& x : v.GetArray())
      flatten_into(x, join(std::to_string(n++)), out);
  } else if (v.IsString()) {
    out[prefix] = std::string{v.GetString(), v.GetStringLength()};
  } else if (!v.IsNull()) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w{buf};
    v.Accept(w);
    out[prefix] = buf.GetString();
  }
}

} // namespace

std::string payload_without_secrets(const std::string& json) {
  return rewrite_without_secrets(json, false).value_or(std::string{});
}

sagas::field_map flatten_payload(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  sagas::field_map res;
  if (doc.HasParseError() || !doc.IsObject())
    return res;
  flatten_into(doc, "", res);
  return res;
}

saga_router_actor spawn_saga_router(caf::actor_system& sys,
                                    saga_router_settings cfg) {
  return sys.spawn(router, std::move(cfg));
}

drain_report drain_saga_router(caf::actor_system& sys,
                               const saga_router_actor& router,
                               const lease_board* leases,
                               std::chrono::milliseconds deadline) {
  using clock = std::chrono::steady_clock;
  drain_report out;
  auto began = clock::now();
  auto until = began + deadline;
  caf::scoped_actor self{sys};
  if (leases)
    out.calls = leases->calls_in_flight.load();
  auto remaining = [&] {
    return std::max(std::chrono::milliseconds{1},
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                      until - clock::now()));
  };
  self->request(router, remaining(), stop_atom_v)
    .receive(
      [&](uint64_t n) {
        out.sagas = n;
        out.sagas_left = n;
      },
      [&](caf::error&) {});
  auto pause = std::chrono::milliseconds{2};
  while (out.sagas_left > 0 && clock::now() < until) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds{50});
    self->request(router, remaining(), caf::get_atom_v)
      .receive([&](saga_router_counts& c) { out.sagas_left = c.running; },
               [&](caf::error&) {});
  }
  if (leases)
    out.calls_left = std::max<int64_t>(leases->calls_in_flight.load(), 0);
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now()
                                                                   - began);
  return out;
}

} // namespace ispflow::actors
