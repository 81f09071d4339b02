#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/timer.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/netbox/adapter.hpp"
#include "adapters/resilience/guard.hpp"
#include "common/log.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "sim/netbox/server.hpp"

#include <algorithm>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

// Issue 5, "How it is checked", third bullet: one simulator unavailable for
// a while during a batch of activations; its breaker opens, the affected
// sagas park, none fails because of the outage, all complete after it
// recovers, and another tenant's sagas keep flowing meanwhile.
//
// Everything is real except the two NetBoxes (in-process simulators on
// ephemeral loopback ports) and the database (the in-memory saga store):
// router, saga actors, timer, NetBox adapter, HTTP actor and one shared
// guard, on CAF's threaded scheduler. Tenants run only NetBox, so an
// activation is allocate_ip and every other step is skipped. The step's
// retry policy and deadline are the activate definition's own.

namespace {

using namespace std::chrono_literals;
using namespace ispflow;
namespace pg = ispflow::adapters::postgres;
namespace res = ispflow::adapters::resilience;
namespace nb = ispflow::adapters::netbox;

constexpr const char* token = "0123456789abcdef0123456789abcdef01234567";
constexpr int per_tenant = 20;
const std::string activated = "billing.subscription.activated";

caf::actor_system_config& threaded_config(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

// -- what the store committed, readable from the test thread -----------------

// The in-memory database belongs to the store actor's thread; this mirror
// is filled from the store's answers (so only with committed writes) and
// read under a lock.
struct committed_view {
  mutable std::mutex mtx;
  /// Latest committed instance by saga id.
  std::map<std::string, sagas::saga_instance> latest;
  /// ce_type of every outbox record by saga id, in commit order.
  std::map<std::string, std::vector<std::string>> events;
  /// Every saga state and allocate_ip step state ever committed, by saga id.
  std::map<std::string, std::set<sagas::saga_state>> saga_states;
  std::map<std::string, std::set<sagas::step_state>> step_states;
  /// Every distinct allocate_ip last_error committed, by saga id.
  std::map<std::string, std::set<std::string>> step_errors;

  void commit(const std::vector<pg::saga_write>& batch) {
    std::lock_guard<std::mutex> lock{mtx};
    for (auto& w : batch) {
      auto& id = w.instance.id;
      latest[id] = w.instance;
      saga_states[id].insert(w.instance.state);
      if (!w.instance.steps.empty()) {
        step_states[id].insert(w.instance.steps.front().state);
        step_errors[id].insert(w.instance.steps.front().last_error);
      }
      for (auto& rec : w.outbox)
        if (auto h = rec.header("ce_type"))
          events[id].push_back(h->value);
    }
  }

  /// One saga as the test inspects it.
  struct saga_view {
    sagas::saga_instance inst;
    std::vector<std::string> events;
    std::set<sagas::saga_state> saga_states;
    std::set<sagas::step_state> step_states;
    std::set<std::string> step_errors;

    size_t count(const std::string& ce_type) const {
      return static_cast<size_t>(
        std::count(events.begin(), events.end(), ce_type));
    }
  };

  std::vector<saga_view> of_tenant(const std::string& tenant) const {
    std::lock_guard<std::mutex> lock{mtx};
    std::vector<saga_view> res;
    for (auto& [id, inst] : latest) {
      if (inst.tenant_id != tenant)
        continue;
      saga_view v{inst, {}, {}, {}, {}};
      if (auto i = events.find(id); i != events.end())
        v.events = i->second;
      if (auto i = saga_states.find(id); i != saga_states.end())
        v.saga_states = i->second;
      if (auto i = step_states.find(id); i != step_states.end())
        v.step_states = i->second;
      if (auto i = step_errors.find(id); i != step_errors.end())
        v.step_errors = i->second;
      res.push_back(std::move(v));
    }
    return res;
  }
};

// A saga store that forwards everything to the real in-memory store and
// mirrors each committed write into a committed_view.
actors::saga_store_actor::behavior_type
recording_store(actors::saga_store_actor::pointer self,
                actors::saga_store_actor inner,
                std::shared_ptr<committed_view> view) {
  auto forward = [self, inner](auto tag, auto... xs) {
    using value_type = typename decltype(tag)::type;
    auto rp = self->make_response_promise<value_type>();
    self->request(inner, caf::infinite, std::move(xs)...)
      .then([rp](value_type& x) mutable { rp.deliver(std::move(x)); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  };
  using batch = std::vector<pg::saga_write>;
  return {
    [self, inner, view](save_atom, batch& xs) -> caf::result<uint64_t> {
      auto rp = self->make_response_promise<uint64_t>();
      auto copy = xs;
      self->request(inner, caf::infinite, save_atom_v, std::move(xs))
        .then(
          [rp, view, copy](uint64_t n) mutable {
            view->commit(copy);
            rp.deliver(n);
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [forward](next_atom, pg::startable_query& q)
      -> caf::result<std::vector<pg::startable_event>> {
      return forward(std::type_identity<std::vector<pg::startable_event>>{},
                     next_atom_v, std::move(q));
    },
    [forward](skip_atom, int64_t id, std::string& reason,
              std::vector<events::kafka_record>& recs,
              pg::write_fence fence) -> caf::result<int64_t> {
      return forward(std::type_identity<int64_t>{}, skip_atom_v, id,
                     std::move(reason), std::move(recs), fence);
    },
    [forward](load_atom, std::vector<int32_t>& parts)
      -> caf::result<std::vector<sagas::saga_instance>> {
      return forward(std::type_identity<std::vector<sagas::saga_instance>>{},
                     load_atom_v, std::move(parts));
    },
    [forward](load_atom, std::string& id) -> caf::result<sagas::saga_instance> {
      return forward(std::type_identity<sagas::saga_instance>{}, load_atom_v,
                     std::move(id));
    },
    [forward](status_atom, actors::subscriber_keys& keys)
      -> caf::result<actors::subscriber_states> {
      return forward(std::type_identity<actors::subscriber_states>{},
                     status_atom_v, std::move(keys));
    },
    [](gc_flush_atom) {
      // The inner store flushes its own queue.
    },
  };
}

// -- the fixture
// ---------------------------------------------------------------

std::string write_seed() {
  auto path = ::testing::TempDir() + "breaker_outage_seed_"
              + std::to_string(::getpid()) + ".yaml";
  std::ofstream out{path};
  out << "tenants: [{slug: isp, name: ISP}]\n"
         "sites: [{slug: pop-1, tenant: isp}]\n"
         "roles: [{slug: subscriber}]\n"
         "prefixes: [{id: 1, prefix: 100.64.0.0/24, site: pop-1,"
         " tenant: isp, role: subscriber}]\n";
  return path;
}

struct breaker_outage : ::testing::Test {
  caf::actor_system_config cfg;
  caf::actor_system sys{threaded_config(cfg)};
  sagas::saga_registry registry;
  std::string seed_path = write_seed();
  std::map<std::string, std::unique_ptr<sim::netbox::server>> sims;
  std::map<std::string, std::string> base_urls;
  std::shared_ptr<res::guard> guard;
  std::mutex transitions_mtx;
  std::vector<std::pair<res::breaker_key, res::breaker_transition>> transitions;
  std::shared_ptr<actors::memory_saga_db> db;
  std::shared_ptr<committed_view> view = std::make_shared<committed_view>();
  adapters::http::http_actor http;
  nb::adapter_actor netbox;
  actors::saga_store_actor inner_store;
  actors::saga_store_actor store;
  actors::timer_actor timer;
  actors::saga_router_actor router;

  breaker_outage() {
    common::setup_logging({common::log_level::warn, common::log_format::text});
    EXPECT_FALSE(sagas::register_lifecycle_sagas(registry).has_value());
    for (auto tenant : {"a", "b"}) {
      sim::netbox::options opts;
      opts.seed_file = seed_path;
      auto s = sim::netbox::server::start(opts);
      EXPECT_TRUE(s) << (s ? "" : to_string(s.error()));
      if (!s)
        return;
      base_urls[tenant] = "http://127.0.0.1:" + std::to_string((*s)->port());
      sims[tenant] = std::move(*s);
    }
    // Short knobs, so an outage of a few seconds opens and closes it.
    res::guard_config gc;
    auto& bc = gc.breakers.defaults;
    bc.sliding_window_type = res::window_type::count_based;
    bc.sliding_window_size = 10;
    bc.minimum_number_of_calls = 4;
    bc.failure_rate_threshold = 50.0;
    bc.wait_duration_in_open_state = 500ms;
    bc.permitted_number_of_calls_in_half_open_state = 2;
    EXPECT_FALSE(res::validate(gc));
    guard = std::make_shared<res::guard>(std::move(gc));
    guard->breakers().on_transition(
      [this](const res::breaker_key& key, const res::breaker_transition& t) {
        std::lock_guard<std::mutex> lock{transitions_mtx};
        transitions.emplace_back(key, t);
      });
    db = std::make_shared<actors::memory_saga_db>();
    db->registry = &registry;
  }

  ~breaker_outage() override {
    // The router is linked to its saga actors: they end with it.
    for (auto hdl : {caf::actor_cast<caf::actor>(router),
                     caf::actor_cast<caf::actor>(timer),
                     caf::actor_cast<caf::actor>(store),
                     caf::actor_cast<caf::actor>(inner_store),
                     caf::actor_cast<caf::actor>(netbox),
                     caf::actor_cast<caf::actor>(http)})
      if (hdl)
        caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    // Nothing may run on the registry, the guard or `this` once they go.
    sys.await_all_actors_done();
    for (auto& [tenant, srv] : sims)
      srv->stop();
    ::unlink(seed_path.c_str());
  }

  static std::string subscriber(const std::string& tenant, int i) {
    return tenant + "-sub-" + std::to_string(i);
  }

  // Before boot (the store is not running yet, so the database is ours).
  void add_activation(const std::string& tenant, int i) {
    pg::startable_event ev;
    ev.source = "billing";
    ev.event_id = tenant + "-ev-" + std::to_string(i);
    ev.type = activated;
    ev.tenant_id = tenant;
    ev.subscriber_id = subscriber(tenant, i);
    ev.payload
      = R"({"service_type":"ftth","plan_id":"p100","site":"pop-1","access":{"onu_serial":"ALCL)"
        + std::to_string(i) + R"("}})";
    ev.partition = 0;
    db->add_event(std::move(ev));
  }

  void boot() {
    http = adapters::http::spawn_http_actor(sys);
    nb::adapter_settings as;
    for (auto& [tenant, url] : base_urls) {
      nb::tenant_settings ts;
      ts.base_url = url;
      ts.token = token;
      ts.tenant_slug = "isp";
      ts.site_slug = "pop-1";
      ts.call_timeout = 2'000ms;
      as.tenants[tenant] = ts;
    }
    netbox = nb::spawn_netbox_adapter(sys, std::move(as), http, guard);
    inner_store = actors::spawn_memory_saga_store(sys, db);
    store = sys.spawn(recording_store, inner_store, view);
    timer = actors::spawn_timer(sys);
    actors::saga_router_settings rs;
    rs.registry = &registry;
    rs.store = store;
    rs.timer = timer;
    rs.adapters.set_actor(
      sagas::target_system::netbox,
      caf::actor_cast<adapters::api::adapter_actor>(netbox));
    // Only NetBox: RADIUS, VOLTHA, GenieACS and AWX steps are skipped.
    for (auto tenant : {"a", "b"})
      rs.adapters.set_tenant(
        tenant, sagas::tenant_profile{{sagas::target_system::netbox}, {}});
    rs.poll_interval = 200ms;
    rs.seed = 7;
    router = actors::spawn_saga_router(sys, std::move(rs));
  }

  res::breaker_key key_of(const std::string& tenant) const {
    return res::breaker_key{tenant, "netbox", base_urls.at(tenant)};
  }

  std::optional<res::breaker_snapshot> snapshot(const std::string& tenant) {
    if (auto cb = guard->breakers().find(key_of(tenant)))
      return cb->snapshot();
    return std::nullopt;
  }

  std::vector<res::breaker_transition> transitions_of(const std::string& t) {
    std::lock_guard<std::mutex> lock{transitions_mtx};
    std::vector<res::breaker_transition> res;
    for (auto& [key, x] : transitions)
      if (key == key_of(t))
        res.push_back(x);
    return res;
  }

  size_t count_in(const std::string& tenant, sagas::saga_state state) const {
    auto xs = view->of_tenant(tenant);
    return static_cast<size_t>(std::count_if(
      xs.begin(), xs.end(), [&](auto& x) { return x.inst.state == state; }));
  }

  // Polls `done` every 20 ms until it holds or `limit` passes.
  static bool wait_until(std::chrono::seconds limit,
                         const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline)
        return done();
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  std::string describe() {
    std::ostringstream os;
    for (auto tenant : {"a", "b"}) {
      os << "tenant " << tenant << ":";
      std::map<std::string, int> by_state;
      for (auto& x : view->of_tenant(tenant))
        ++by_state[std::string{sagas::to_string(x.inst.state)}];
      for (auto& [state, n] : by_state)
        os << " " << state << "=" << n;
      if (auto snap = snapshot(tenant))
        os << " breaker=" << snap->state
           << " times_opened=" << snap->metrics.times_opened;
      os << " allocations=" << sims.at(tenant)->allocation_count() << "\n";
    }
    for (auto& t : transitions_of("a"))
      os << "  a: " << t << "\n";
    return os.str();
  }

  // NetBox answers 503 to everything (the control endpoint still works).
  static sim::common::fault_config unavailable() {
    sim::common::fault_config f;
    f.status = 503;
    return f;
  }

  // NetBox holds every request past the adapter's 2 s call timeout, then
  // drops the connection without an answer.
  static sim::common::fault_config hanging() {
    sim::common::fault_config f;
    f.hang = true;
    f.hang_ms = 2'500;
    return f;
  }

  void run_outage(const sim::common::fault_config& outage);
};

// Tenant a's NetBox fails with `outage` until every one of a's sagas has
// parked and all of b's have completed; then it recovers.
void breaker_outage::run_outage(const sim::common::fault_config& outage) {
  ASSERT_EQ(sims.size(), 2u);
  const auto& step = registry.current("activate")->steps.front();
  ASSERT_EQ(step.name, "allocate_ip");
  sims.at("a")->set_faults(outage);
  for (int i = 1; i <= per_tenant; ++i) {
    add_activation("a", i);
    add_activation("b", i);
  }
  boot();

  // -- while a's NetBox is down --------------------------------------------
  auto a_parked_b_done = [&] {
    auto snap = snapshot("a");
    // Opened twice: at least one half-open probe failed during the outage.
    if (!snap || snap->metrics.times_opened < 2
        || snap->state == res::breaker_state::closed)
      return false;
    if (count_in("b", sagas::saga_state::completed) != per_tenant)
      return false;
    auto as = view->of_tenant("a");
    return as.size() == per_tenant
           && std::all_of(as.begin(), as.end(), [](auto& x) {
                return x.count("saga.step_parked") > 0;
              });
  };
  ASSERT_TRUE(wait_until(60s, a_parked_b_done)) << describe();
  {
    auto snap = snapshot("a");
    ASSERT_TRUE(snap);
    EXPECT_NE(snap->state, res::breaker_state::closed);
    auto as = view->of_tenant("a");
    ASSERT_EQ(as.size(), static_cast<size_t>(per_tenant));
    for (auto& x : as) {
      SCOPED_TRACE(x.inst.subscriber_id);
      EXPECT_EQ(x.inst.state, sagas::saga_state::running);
      EXPECT_EQ(x.inst.cursor, 0u);
      EXPECT_EQ(x.inst.steps.front().state, sagas::step_state::running);
      EXPECT_GE(x.count("saga.step_parked"), 1u);
      EXPECT_EQ(x.count("saga.step_failed"), 0u);
      EXPECT_EQ(x.count("saga.compensating"), 0u);
      EXPECT_EQ(x.saga_states.count(sagas::saga_state::compensating), 0u);
      EXPECT_EQ(x.saga_states.count(sagas::saga_state::compensated), 0u);
      EXPECT_EQ(x.step_states.count(sagas::step_state::failed), 0u);
      EXPECT_LT(x.inst.steps.front().attempts, step.retry.max_attempts);
    }
    EXPECT_EQ(sims.at("a")->allocation_count(), 0u);
    // b flowed meanwhile: one attempt each, never parked.
    for (auto& x : view->of_tenant("b")) {
      SCOPED_TRACE(x.inst.subscriber_id);
      EXPECT_EQ(x.inst.state, sagas::saga_state::completed);
      EXPECT_EQ(x.inst.steps.front().attempts, 1);
      EXPECT_EQ(x.count("saga.step_parked"), 0u);
    }
    EXPECT_EQ(sims.at("b")->allocation_count(),
              static_cast<size_t>(per_tenant));
    EXPECT_TRUE(transitions_of("b").empty());
  }

  // -- a's NetBox is back --------------------------------------------------
  sims.at("a")->set_faults({});
  ASSERT_TRUE(wait_until(
    60s,
    [&] { return count_in("a", sagas::saga_state::completed) == per_tenant; }))
    << describe();

  for (auto tenant : {"a", "b"}) {
    SCOPED_TRACE(tenant);
    auto xs = view->of_tenant(tenant);
    ASSERT_EQ(xs.size(), static_cast<size_t>(per_tenant));
    std::set<std::string> subscribers;
    std::set<std::string> addresses;
    for (auto& x : xs) {
      SCOPED_TRACE(x.inst.subscriber_id);
      subscribers.insert(x.inst.subscriber_id);
      EXPECT_EQ(x.inst.state, sagas::saga_state::completed);
      EXPECT_EQ(x.saga_states.count(sagas::saga_state::compensating), 0u);
      EXPECT_EQ(x.saga_states.count(sagas::saga_state::compensated), 0u);
      EXPECT_EQ(x.saga_states.count(sagas::saga_state::needs_attention), 0u);
      EXPECT_EQ(x.step_states.count(sagas::step_state::failed), 0u);
      EXPECT_EQ(x.count("subscriber.activated"), 1u);
      EXPECT_EQ(x.count("subscriber.activated_failed"), 0u);
      auto& rec = x.inst.steps.front();
      EXPECT_EQ(rec.state, sagas::step_state::succeeded);
      // Parked calls are not attempts: every counted attempt but the last
      // was a failure that scheduled a retry.
      EXPECT_LT(rec.attempts, step.retry.max_attempts);
      EXPECT_EQ(static_cast<size_t>(rec.attempts),
                x.count("saga.step_retrying") + 1);
      auto ip = rec.output.find("ip_address");
      ASSERT_NE(ip, rec.output.end());
      addresses.insert(ip->second);
    }
    EXPECT_EQ(subscribers.size(), static_cast<size_t>(per_tenant));
    EXPECT_EQ(addresses.size(), static_cast<size_t>(per_tenant));
    // One address per subscriber in NetBox, none twice.
    auto& srv = *sims.at(tenant);
    EXPECT_EQ(srv.allocation_count(), static_cast<size_t>(per_tenant));
    std::map<std::string, int> per_subscriber;
    std::set<std::string> netbox_addresses;
    for (auto& a : srv.ip_addresses()) {
      netbox_addresses.insert(a.address.substr(0, a.address.find('/')));
      ++per_subscriber[a.custom_fields["subscriber_id"]];
    }
    EXPECT_EQ(netbox_addresses, addresses);
    ASSERT_EQ(per_subscriber.size(), static_cast<size_t>(per_tenant));
    for (auto& [sub, n] : per_subscriber)
      EXPECT_EQ(n, 1) << sub;
  }

  // a's sagas parked at least once each and made failed attempts only while
  // the breaker let calls through.
  size_t parked = 0;
  for (auto& x : view->of_tenant("a"))
    parked += x.count("saga.step_parked");
  EXPECT_GE(parked, static_cast<size_t>(per_tenant));

  // closed -> open, then open <-> half_open while the trials failed, and
  // half_open -> closed once they succeeded.
  auto ts = transitions_of("a");
  std::ostringstream seq;
  for (auto& t : ts)
    seq << t << "; ";
  ASSERT_GE(ts.size(), 3u) << seq.str();
  EXPECT_EQ(ts.front().from, res::breaker_state::closed) << seq.str();
  EXPECT_EQ(ts.front().to, res::breaker_state::open) << seq.str();
  EXPECT_EQ(ts.front().reason, res::transition_reason::failure_rate_exceeded);
  for (size_t i = 1; i < ts.size(); ++i)
    EXPECT_EQ(ts[i].from, ts[i - 1].to) << seq.str();
  for (size_t i = 1; i + 1 < ts.size(); ++i) {
    bool open_half = ts[i].from == res::breaker_state::open
                     && ts[i].to == res::breaker_state::half_open;
    bool half_open = ts[i].from == res::breaker_state::half_open
                     && ts[i].to == res::breaker_state::open;
    EXPECT_TRUE(open_half || half_open) << seq.str();
  }
  EXPECT_EQ(ts[ts.size() - 2].to, res::breaker_state::half_open) << seq.str();
  EXPECT_EQ(ts.back().from, res::breaker_state::half_open) << seq.str();
  EXPECT_EQ(ts.back().to, res::breaker_state::closed) << seq.str();
  EXPECT_EQ(ts.back().reason,
            res::transition_reason::half_open_calls_succeeded);
  // A probe that NetBox answered with a failure parked its saga instead of
  // using up one of its attempts (breakers park, they do not fail). (A
  // probe whose POST timed out may have taken effect, and counts; one whose
  // look-up timed out parks: hanging, either may come first.)
  auto reopened = std::count_if(ts.begin(), ts.end(), [](auto& t) {
    return t.from == res::breaker_state::half_open
           && t.to == res::breaker_state::open;
  });
  ASSERT_GE(reopened, 1) << seq.str();
  // Sagas with a step parked by a failed probe.
  size_t probes_parked = 0;
  for (auto& x : view->of_tenant("a"))
    for (auto& e : x.step_errors)
      if (e.starts_with("parked: probe of breaker a/netbox/")) {
        ++probes_parked;
        break;
      }
  if (!outage.hang) {
    EXPECT_GE(probes_parked, 1u);
  }
  auto snap = snapshot("a");
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->state, res::breaker_state::closed);
  EXPECT_TRUE(transitions_of("b").empty());
}

TEST_F(
  breaker_outage,
  sagas_park_while_their_netbox_answers_503_and_complete_after_it_recovers) {
  run_outage(unavailable());
}

TEST_F(
  breaker_outage,
  sagas_park_while_their_netbox_hangs_past_the_timeout_and_complete_after) {
  run_outage(hanging());
}

} // namespace
