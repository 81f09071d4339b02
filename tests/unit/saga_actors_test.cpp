#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/timer.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "sagas/repair_saga.hpp"
#include "tests/support/fake_adapter.hpp"
#include "tests/support/forwarding_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>

namespace {

using namespace ispflow;
using namespace std::chrono_literals;
using ispflow::testing::fake_mode;

const std::string activated = "billing.subscription.activated";
const std::string suspended = "billing.subscription.suspended";
const std::string activate_payload
  = R"({"service_type":"ftth","plan_id":"p100","access":{"onu_serial":"ALCL1"}})";

caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

// A store whose startable query is answered late: asked while a saga it
// started is still running, it answers with the event that started it (as
// a snapshot taken before that saga's first write shows it) only once that
// saga has ended and the router heard so, like a slow reader connection.
// Everything else goes to the memory store.
/// Late answers delivered (the test checks the scenario happened).
int late_answers = 0;

struct late_reader_state {
  actors::saga_store_actor inner;
  std::shared_ptr<actors::memory_saga_db> db;
  std::set<int64_t> answered;
  std::set<int64_t> replayed;
  int64_t held_event = 0;
  caf::typed_response_promise<std::vector<adapters::postgres::startable_event>>
    held;
  std::vector<adapters::postgres::startable_event> stale;
};

actors::saga_store_actor::behavior_type
late_reader(actors::saga_store_actor::stateful_pointer<late_reader_state> self,
            actors::saga_store_actor inner,
            std::shared_ptr<actors::memory_saga_db> db) {
  namespace pg = adapters::postgres;
  self->state.inner = std::move(inner);
  self->state.db = std::move(db);
  auto deliver_if_ended = [self] {
    auto& st = self->state;
    if (st.held_event == 0)
      return;
    auto& row = st.db->inbox.at(static_cast<size_t>(st.held_event - 1));
    auto i = st.db->sagas.find(row.saga_id);
    if (i == st.db->sagas.end()
        || (i->second.state != sagas::saga_state::completed
            && i->second.state != sagas::saga_state::compensated))
      return;
    // Answer a moment later: after the router heard that the saga ended.
    st.held_event = 0;
    self->delayed_send(self, 1ms, gc_flush_atom_v);
  };
  return std::apply(
    [&](auto... forwards) {
      return actors::saga_store_actor::behavior_type{
        [self, deliver_if_ended](save_atom, std::vector<pg::saga_write>& batch)
          -> caf::result<uint64_t> {
          auto rp = self->make_response_promise<uint64_t>();
          self
            ->request(self->state.inner, caf::infinite, save_atom_v,
                      std::move(batch))
            .then(
              [rp, deliver_if_ended](uint64_t n) mutable {
                rp.deliver(n);
                deliver_if_ended();
              },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
          return rp;
        },
        [self](next_atom, pg::startable_query& q)
          -> caf::result<std::vector<pg::startable_event>> {
          auto& st = self->state;
          if (st.held_event == 0)
            for (auto id : st.answered) {
              auto& row = st.db->inbox.at(static_cast<size_t>(id - 1));
              auto i = st.db->sagas.find(row.saga_id);
              // Suspends only: admitted again, one would run twice.
              if (i == st.db->sagas.end() || st.replayed.count(id) > 0
                  || i->second.state != sagas::saga_state::running
                  || row.event.type != "billing.subscription.suspended")
                continue;
              // Its saga runs: answer with the event as it was before.
              st.replayed.insert(id);
              st.held_event = id;
              st.stale = {row.event};
              st.held
                = self
                    ->make_response_promise<std::vector<pg::startable_event>>();
              return st.held;
            }
          auto events = st.db->next_startable(q);
          for (auto& ev : events)
            st.answered.insert(ev.inbox_id);
          return events;
        },
        forwards...,
        [self](gc_flush_atom) {
          auto& st = self->state;
          if (st.stale.empty())
            return;
          ++late_answers;
          st.held.deliver(std::move(st.stale));
          st.stale.clear();
        },
      };
    },
    ispflow::testing::forwarded_reads(self));
}

// A store whose startable events come with their subscribers' records, as
// the PostgreSQL store's do (state `record_state` for every one), and which
// refuses to be asked for records (status_atom): admission must decide on
// what came with the events. Everything else goes to the memory store.
struct with_records_state {
  actors::saga_store_actor inner;
  std::string record_state;
};

actors::saga_store_actor::behavior_type with_records(
  actors::saga_store_actor::stateful_pointer<with_records_state> self,
  actors::saga_store_actor inner, std::string record_state) {
  namespace pg = adapters::postgres;
  self->state.inner = std::move(inner);
  self->state.record_state = std::move(record_state);
  return std::apply(
    [&](auto... forwards) {
      return actors::saga_store_actor::behavior_type{
        [self](save_atom, std::vector<pg::saga_write>& batch) {
          return self->delegate(self->state.inner, save_atom_v,
                                std::move(batch));
        },
        [self](next_atom, pg::startable_query& q)
          -> caf::result<std::vector<pg::startable_event>> {
          auto rp
            = self->make_response_promise<std::vector<pg::startable_event>>();
          self
            ->request(self->state.inner, caf::infinite, next_atom_v,
                      std::move(q))
            .then(
              [self, rp](std::vector<pg::startable_event>& evs) mutable {
                for (auto& ev : evs) {
                  ev.record.state = self->state.record_state;
                  ev.with_record = true;
                }
                rp.deliver(std::move(evs));
              },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
          return rp;
        },
        forwards...,
        [](status_atom,
           actors::subscriber_keys&) -> caf::result<actors::subscriber_states> {
          return caf::make_error(ispflow::errc::database_unavailable,
                                 std::string{"records come with the events"});
        },
        [](gc_flush_atom) {
          // The inner store flushes its own queue.
        },
      };
    },
    ispflow::testing::forwarded_skip_and_loads(self));
}

struct saga_actors_test : ::testing::Test {
  caf::actor_system_config cfg;
  caf::actor_system sys{testing_config(cfg)};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  sagas::saga_registry registry;
  std::shared_ptr<actors::memory_saga_db> db;
  std::shared_ptr<ispflow::testing::fake_adapter_state> fake;
  adapters::api::adapter_actor fake_actor;
  actors::saga_store_actor store;
  /// With `late_reads`, the memory store behind the late reader.
  actors::saga_store_actor inner_store;
  bool late_reads = false;
  /// Non-empty: the store's startable events come with records in this
  /// state (with_records above).
  std::string records_with_events;
  // The router follows the group's assignment (open/close of partitions).
  bool follow_assignment = false;
  /// The router's poll tick (0: polls only when a saga ends).
  std::chrono::milliseconds poll_interval{0};
  actors::timer_actor timer;
  actors::saga_router_actor router;
  sagas::time_point base = sagas::time_point{} + std::chrono::hours{500'000};
  caf::detail::test_actor_clock::time_point start_time;
  int64_t ticks = 0;
  /// Router settings of the next boot().
  uint64_t batch = 500;
  size_t tenant_max_running = 2'000;
  std::chrono::milliseconds write_linger
    = actors::saga_router_settings{}.write_linger;
  /// Tenants whose adapter calls are saturated (router setting
  /// tenant_saturated of the next boot()).
  std::shared_ptr<std::set<std::string>> saturated
    = std::make_shared<std::set<std::string>>();
  /// Partition leases of the next boot() (none = unfenced).
  std::shared_ptr<actors::lease_board> leases;

  saga_actors_test() {
    EXPECT_FALSE(sagas::register_lifecycle_sagas(registry).has_value());
    start_time = sched.clock().now();
    reset();
  }

  ~saga_actors_test() override {
    crash();
    drop_fake();
  }

  // Held promises keep the fake alive; the actor system waits for it.
  void drop_fake() {
    if (fake)
      fake->held.clear();
    if (fake_actor)
      caf::anon_send_exit(fake_actor, caf::exit_reason::kill);
    sched.run();
  }

  // A fresh database and fresh fakes (the external systems).
  void reset() {
    drop_fake();
    db = std::make_shared<actors::memory_saga_db>();
    db->registry = &registry;
    fake = std::make_shared<ispflow::testing::fake_adapter_state>();
    fake->set("netbox.allocate_ip", fake_mode::succeed,
              {{"ip_address", "100.64.0.7"}});
    fake->set("voltha.provision_service", fake_mode::succeed,
              {{"onu_id", "onu-1"}});
    fake->set("genieacs.configure_cpe", fake_mode::succeed,
              {{"cpe_id", "cpe-1"}});
    fake_actor = ispflow::testing::spawn_fake_adapter(sys, fake);
  }

  actors::saga_clock clock() {
    // The wall clock moves a microsecond per reading, plus the test time.
    return [this] {
      return base + (sched.clock().now() - start_time)
             + std::chrono::microseconds{++ticks};
    };
  }

  int64_t add_event(const std::string& type, const std::string& subscriber,
                    const std::string& payload = "{}",
                    const std::string& tenant = "t1") {
    adapters::postgres::startable_event ev;
    ev.source = "billing";
    ev.event_id = "ev-" + std::to_string(db->inbox.size() + 1);
    ev.type = type;
    ev.tenant_id = tenant;
    ev.subscriber_id = subscriber;
    ev.payload = payload;
    ev.partition = 0;
    return db->add_event(std::move(ev));
  }

  // Starts store, timer and router over `db` (a process start).
  void boot() {
    store = actors::spawn_memory_saga_store(sys, db);
    if (late_reads) {
      inner_store = store;
      store = sys.spawn(late_reader, inner_store, db);
    } else if (!records_with_events.empty()) {
      inner_store = store;
      store = sys.spawn(with_records, inner_store, records_with_events);
    }
    timer = actors::spawn_timer(sys, clock());
    actors::saga_router_settings rs;
    rs.registry = &registry;
    rs.store = store;
    rs.timer = timer;
    ispflow::testing::fake_every_system(rs.adapters, fake_actor);
    rs.adapters.set_tenant("t1", sagas::full_tenant_profile());
    // A second tenant that runs RADIUS only.
    rs.adapters.set_tenant(
      "t2", sagas::tenant_profile{{sagas::target_system::radius}, {}});
    rs.batch = batch;
    rs.tenant_max_running = tenant_max_running;
    rs.write_linger = write_linger;
    rs.tenant_saturated = [set = saturated](const std::string& tenant) {
      return set->count(tenant) > 0;
    };
    rs.leases = leases;
    rs.clock = clock();
    rs.poll_interval = poll_interval;
    rs.seed = 42;
    rs.follow_assignment = follow_assignment;
    router = actors::spawn_saga_router(sys, std::move(rs));
  }

  // Kills the process's actors; the database and the fakes survive.
  void crash() {
    if (router)
      caf::anon_send_exit(router, caf::exit_reason::kill);
    if (store)
      caf::anon_send_exit(store, caf::exit_reason::kill);
    if (inner_store)
      caf::anon_send_exit(inner_store, caf::exit_reason::kill);
    if (timer)
      caf::anon_send_exit(timer, caf::exit_reason::kill);
    sched.run();
    router = nullptr;
    store = nullptr;
    inner_store = nullptr;
    timer = nullptr;
  }

  // Runs until nothing is left, firing timers (and request timeouts) by
  // moving the test clock, never by sleeping.
  void run_all() {
    for (int i = 0; i < 10'000; ++i) {
      sched.run();
      if (!sched.has_pending_timeout())
        return;
      sched.trigger_timeout();
    }
    FAIL() << "the saga engine did not settle";
  }

  // Runs until the store committed `n` transactions (or nothing is left).
  void run_until_transactions(uint64_t n) {
    for (int i = 0; i < 100'000 && db->transactions < n; ++i) {
      if (sched.try_run_once())
        continue;
      if (!sched.has_pending_timeout())
        return;
      sched.trigger_timeout();
    }
  }

  // Runs until the fakes answered `n` calls (or nothing is left).
  void run_until_calls(size_t n) {
    for (int i = 0; i < 100'000 && fake->calls.size() < n; ++i) {
      if (sched.try_run_once())
        continue;
      if (!sched.has_pending_timeout())
        return;
      sched.trigger_timeout();
    }
  }

  // The memory store's inbox row of event `inbox_id` (ids count from 1).
  const auto& inbox_row(int64_t inbox_id) const {
    return db->inbox.at(static_cast<size_t>(inbox_id - 1));
  }

  const sagas::saga_instance* saga_of(int64_t inbox_id) const {
    auto i = db->sagas.find(inbox_row(inbox_id).saga_id);
    return i == db->sagas.end() ? nullptr : &i->second;
  }

  size_t outbox_count(const std::string& ce_type) const {
    size_t n = 0;
    for (auto& rec : db->outbox)
      if (auto h = rec.header("ce_type"); h != nullptr && h->value == ce_type)
        ++n;
    return n;
  }

  void expect_no_effect_applied_twice() const {
    for (auto& [key, n] : fake->applied)
      EXPECT_EQ(n, 1) << key.first << " " << key.second;
  }
};

TEST_F(saga_actors_test, activation_runs_to_completed_through_the_fakes) {
  auto id = add_event(activated, "s1", activate_payload);
  boot();
  run_all();
  auto inst = saga_of(id);
  ASSERT_NE(inst, nullptr);
  EXPECT_EQ(inst->state, sagas::saga_state::completed);
  for (auto op :
       {"netbox.allocate_ip", "radius.provision", "voltha.provision_service",
        "genieacs.configure_cpe", "awx.run_activation_job"})
    EXPECT_EQ(fake->applications(op), 1) << op;
  EXPECT_EQ(outbox_count("subscriber.activated"), 1u);
  EXPECT_EQ(outbox_count("saga.completed"), 1u);
  // The IP from NetBox reached RADIUS.
  auto rad = std::find_if(fake->calls.begin(), fake->calls.end(), [](auto& c) {
    return c.operation == "radius.provision";
  });
  ASSERT_NE(rad, fake->calls.end());
  EXPECT_EQ(rad->key, inst->id + "/provision_radius/0");
  EXPECT_EQ(db->status("t1", "s1").first, sagas::subscriber_state::active);
  EXPECT_TRUE(db->timers.empty());
}

TEST_F(saga_actors_test,
       permanent_failure_at_each_step_compensates_done_steps) {
  // activate's steps, their compensations (none for configure_cpe; the job's
  // cancel runs only after an unknown outcome).
  struct step {
    std::string action;
    std::string compensation;
  };
  std::vector<step> steps{{"netbox.allocate_ip", "netbox.release_ip"},
                          {"radius.provision", "radius.deprovision"},
                          {"voltha.provision_service", "voltha.remove_service"},
                          {"genieacs.configure_cpe", ""},
                          {"awx.run_activation_job", ""}};
  for (size_t failing = 0; failing < steps.size(); ++failing) {
    SCOPED_TRACE("failing step " + steps[failing].action);
    crash();
    reset();
    fake->set(steps[failing].action, fake_mode::fail_permanently);
    auto id = add_event(activated, "s1", activate_payload);
    boot();
    run_all();
    auto inst = saga_of(id);
    ASSERT_NE(inst, nullptr);
    EXPECT_EQ(inst->state, sagas::saga_state::compensated);
    for (size_t i = 0; i < steps.size(); ++i) {
      if (steps[i].compensation.empty())
        continue;
      EXPECT_EQ(fake->count(steps[i].compensation), i < failing ? 1u : 0u)
        << steps[i].compensation;
    }
    EXPECT_EQ(outbox_count("subscriber.activated_failed"), 1u);
    EXPECT_EQ(db->status("t1", "s1").first, sagas::subscriber_state::none);
  }
}

// Calls run ahead of the writes, and a saga with calls out waits up to
// write_linger for their answers before it writes: with every answer
// inside the linger, an activation is two transactions (its start, which
// fixes its id and keys, and its end); with a linger shorter than the
// answers, its steps are written as they go.
TEST_F(saga_actors_test,
       a_saga_whose_answers_come_within_the_linger_writes_twice) {
  fake->answer_delay = 5ms;
  write_linger = 50ms;
  auto id = add_event(activated, "s1", activate_payload);
  boot();
  run_all();
  ASSERT_NE(saga_of(id), nullptr);
  EXPECT_EQ(saga_of(id)->state, sagas::saga_state::completed);
  EXPECT_EQ(fake->calls.size(), 5u);
  EXPECT_EQ(db->transactions, 2u);

  crash();
  reset();
  fake->answer_delay = 5ms;
  write_linger = 2ms;
  id = add_event(activated, "s1", activate_payload);
  boot();
  run_all();
  ASSERT_NE(saga_of(id), nullptr);
  EXPECT_EQ(saga_of(id)->state, sagas::saga_state::completed);
  EXPECT_GE(db->transactions, 5u);
}

TEST_F(saga_actors_test, crash_after_every_transition_ends_completed_once) {
  add_event(activated, "s1", activate_payload);
  boot();
  run_all();
  // Calls run ahead of the writes, so the transitions of one saga share
  // few transactions: crash after each commit, and after each adapter
  // call (whose transition may not be committed yet).
  auto total = db->transactions;
  auto calls = fake->calls.size();
  ASSERT_GE(total, 2u);
  ASSERT_GE(calls, 5u);
  auto check = [&](const std::string& where, auto&& run_until) {
    SCOPED_TRACE("crash after " + where);
    crash();
    reset();
    auto id = add_event(activated, "s1", activate_payload);
    boot();
    run_until();
    crash();
    boot();
    run_all();
    auto inst = saga_of(id);
    ASSERT_NE(inst, nullptr);
    EXPECT_EQ(inst->state, sagas::saga_state::completed);
    expect_no_effect_applied_twice();
    EXPECT_EQ(fake->applications("awx.run_activation_job"), 1);
    EXPECT_EQ(outbox_count("subscriber.activated"), 1u);
  };
  for (uint64_t k = 1; k < total; ++k)
    check("transaction " + std::to_string(k),
          [&] { run_until_transactions(k); });
  for (size_t k = 1; k <= calls; ++k)
    check("adapter call " + std::to_string(k), [&] { run_until_calls(k); });
}

TEST_F(saga_actors_test, one_subscribers_sagas_run_in_input_order) {
  auto a1 = add_event(activated, "s1", activate_payload);
  auto a2 = add_event(activated, "s2", activate_payload);
  auto s1 = add_event(suspended, "s1", R"({"reason":"non_payment"})");
  auto s2 = add_event(suspended, "s2", R"({"reason":"non_payment"})");
  boot();
  run_all();
  for (auto id : {a1, a2, s1, s2}) {
    auto inst = saga_of(id);
    ASSERT_NE(inst, nullptr);
    EXPECT_EQ(inst->state, sagas::saga_state::completed);
  }
  // Each suspend started only after its subscriber's activation ended.
  EXPECT_GT(saga_of(s1)->created_at, saga_of(a1)->updated_at);
  EXPECT_GT(saga_of(s2)->created_at, saga_of(a2)->updated_at);
  // The suspend inherited the service type of the activation.
  EXPECT_EQ(saga_of(s1)->service_type, "ftth");
  EXPECT_EQ(db->status("t1", "s1").first, sagas::subscriber_state::suspended);
  EXPECT_EQ(db->status("t1", "s2").first, sagas::subscriber_state::suspended);
}

TEST_F(saga_actors_test, a_late_startable_answer_never_starts_an_event_again) {
  // The suspend's first deny fails and waits for its backoff; meanwhile the
  // router's tick polls, and the late reader answers that poll with the
  // suspend as it was before its saga's first write, once the saga ended.
  auto a = add_event(activated, "s1", activate_payload);
  auto s = add_event(suspended, "s1", R"({"reason":"non_payment"})");
  fake->set("radius.deny", fake_mode::fail_retryably, {}, 1);
  late_reads = true;
  late_answers = 0;
  poll_interval = 10ms;
  boot();
  // The tick never stops: run until the late answer came, then some more.
  for (int i = 0, after = 0; i < 20'000 && after < 200; ++i) {
    sched.run();
    if (late_answers > 0)
      ++after;
    sched.trigger_timeout();
  }
  EXPECT_EQ(late_answers, 1) << "the late answer came";
  ASSERT_NE(saga_of(a), nullptr);
  ASSERT_NE(saga_of(s), nullptr);
  EXPECT_EQ(saga_of(s)->state, sagas::saga_state::completed);
  // One saga per event: the late answer started nothing again.
  EXPECT_EQ(db->sagas.size(), 2u);
  size_t denies = 0;
  for (auto& [key, n] : fake->applied)
    if (key.first == "radius.deny")
      denies += static_cast<size_t>(n);
  EXPECT_EQ(denies, 1u);
  EXPECT_EQ(inbox_row(s).skip_reason, "");
  expect_no_effect_applied_twice();
  // Nor did the router try: two sagas started, none stopped unfinished (a
  // second saga's first write is refused by the store, or in PostgreSQL
  // fails its unique inbox_id and is retried for ever).
  caf::scoped_actor self{sys};
  self->send(router, caf::get_atom_v);
  sched.run();
  actors::saga_router_counts counts;
  self->receive([&](actors::saga_router_counts& x) { counts = x; },
                [&](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_EQ(counts.started, 2u);
  EXPECT_EQ(counts.abandoned, 0u);
}

TEST_F(saga_actors_test, one_tenants_backlog_does_not_starve_another) {
  // Tenant t1's 30 activations hang at NetBox (never answered); t2's one
  // activation arrives after all of them. Polls fetch 8 events and a
  // tenant runs at most 4 sagas: t2's saga completes while t1's backlog
  // still waits, and t1 never runs more than 4.
  batch = 8;
  tenant_max_running = 4;
  fake->set("netbox.allocate_ip", fake_mode::never_answer);
  for (int i = 0; i < 30; ++i)
    add_event(activated, "a" + std::to_string(i), activate_payload);
  auto b = add_event(activated, "b1", activate_payload, "t2");
  boot();
  // No timeout fires: t1's calls stay unanswered throughout.
  for (int i = 0; i < 100'000 && sched.try_run_once(); ++i)
    if (auto inst = saga_of(b);
        inst != nullptr && inst->state == sagas::saga_state::completed)
      break;
  auto inst = saga_of(b);
  ASSERT_NE(inst, nullptr) << "t2's activation never started";
  EXPECT_EQ(inst->state, sagas::saga_state::completed);
  EXPECT_EQ(fake->applications("radius.provision"), 1);
  size_t t1_started = 0;
  for (auto& row : db->inbox)
    if (row.event.tenant_id == "t1" && !row.saga_id.empty())
      ++t1_started;
  EXPECT_EQ(t1_started, 4u);
  EXPECT_EQ(fake->count("netbox.allocate_ip"), 4u);
}

TEST_F(saga_actors_test, a_saturated_tenant_starts_no_saga_until_it_drains) {
  // t1's adapter calls queue deeper than its limit: its event waits in the
  // inbox while t2's runs; once t1 drains, the next poll starts it.
  saturated->insert("t1");
  auto a = add_event(activated, "a1", activate_payload);
  auto b = add_event(activated, "b1", activate_payload, "t2");
  boot();
  run_all();
  ASSERT_NE(saga_of(b), nullptr);
  EXPECT_EQ(saga_of(b)->state, sagas::saga_state::completed);
  EXPECT_EQ(saga_of(a), nullptr);
  EXPECT_TRUE(inbox_row(a).saga_id.empty());
  EXPECT_EQ(fake->count("netbox.allocate_ip"), 0u);
  saturated->clear();
  caf::anon_send(router, nudge_atom_v);
  run_all();
  ASSERT_NE(saga_of(a), nullptr);
  EXPECT_EQ(saga_of(a)->state, sagas::saga_state::completed);
  EXPECT_EQ(fake->count("netbox.allocate_ip"), 1u);
}

TEST_F(saga_actors_test, a_nudge_for_new_events_does_not_wait_out_the_quiet) {
  // The first poll finds nothing, which holds the next for poll_quiet
  // (10 ms): that folds the polls of ending sagas. Intake's nudge says
  // events were written since: its poll goes out at once, on a test clock
  // that stands still.
  boot();
  sched.run();
  auto a = add_event(activated, "a1", activate_payload);
  caf::anon_send(router, nudge_atom_v);
  sched.run();
  EXPECT_EQ(fake->count("netbox.allocate_ip"), 1u)
    << "the nudge's poll waited for the quiet period";
  run_all();
  ASSERT_NE(saga_of(a), nullptr);
  EXPECT_EQ(saga_of(a)->state, sagas::saga_state::completed);
  EXPECT_EQ(fake->count("netbox.allocate_ip"), 1u);
}

TEST_F(saga_actors_test, admission_decides_on_the_records_read_with_events) {
  // The records that come with the events say "active"; the memory store
  // would say "none" for both subscribers and refuses to be asked. The
  // activation is refused as already_active and the suspension runs: the
  // router decided on the records, without asking for them.
  records_with_events = "active";
  auto a = add_event(activated, "a1", activate_payload);
  auto b = add_event(suspended, "s1", R"({"reason":"unpaid"})");
  boot();
  run_all();
  auto& row = inbox_row(a);
  EXPECT_EQ(row.skip_reason, "already_active");
  EXPECT_TRUE(row.saga_id.empty());
  ASSERT_NE(saga_of(b), nullptr);
  EXPECT_EQ(saga_of(b)->name, "suspend");
  EXPECT_EQ(saga_of(b)->state, sagas::saga_state::completed);
}

TEST_F(saga_actors_test, refused_event_is_dead_lettered_with_its_reason) {
  auto id = add_event(suspended, "s9", R"({"reason":"fraud"})");
  boot();
  run_all();
  auto& row = inbox_row(id);
  EXPECT_EQ(row.skip_reason, "subscriber_not_active");
  EXPECT_TRUE(row.saga_id.empty());
  ASSERT_EQ(db->outbox.size(), 1u);
  EXPECT_EQ(db->outbox[0].topic, "billing.events.v1.dlq");
  auto err = db->outbox[0].header("ispflow_error");
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->value, "subscriber_not_active");
}

TEST_F(saga_actors_test,
       a_refused_events_dead_letter_copy_carries_no_password) {
  auto id = add_event(
    suspended, "s9",
    R"({"reason":"fraud","credentials":{"username":"s9@t1.example",)"
    R"("password":"pw-Dlq-4d2a"},"wifi":[{"psk":"k-7f1e"}]})");
  boot();
  run_all();
  ASSERT_EQ(db->outbox.size(), 1u);
  auto& value = db->outbox[0].value;
  EXPECT_EQ(value.find("pw-Dlq-4d2a"), std::string::npos) << value;
  EXPECT_EQ(value.find("k-7f1e"), std::string::npos) << value;
  EXPECT_NE(value.find("s9@t1.example"), std::string::npos) << value;
  EXPECT_NE(value.find("fraud"), std::string::npos) << value;
  // The inbox row, which an operator may re-drive, keeps it.
  EXPECT_NE(inbox_row(id).event.payload.find("pw-Dlq-4d2a"), std::string::npos);
}

// The stored event loses its secrets in the saga's first write; the saga
// keeps them in its own instance until the steps that need them ran.
TEST_F(saga_actors_test, a_started_events_stored_payload_keeps_no_secret) {
  fake->set("radius.provision", fake_mode::never_answer);
  auto id = add_event(
    activated, "s1",
    R"({"service_type":"ftth","plan_id":"p100","access":{"onu_serial":)"
    R"("ALCL1"},"credentials":{"username":"s1@t1.example","Password":)"
    R"("pw-Start-91c2"},"wifi":[{"ssid":"home","psk":"k-5b0d"}]})");
  boot();
  sched.run();
  ASSERT_NE(saga_of(id), nullptr);
  EXPECT_EQ(saga_of(id)->payload.at("credentials.Password"), "pw-Start-91c2");
  EXPECT_EQ(inbox_row(id).event.payload,
            R"({"service_type":"ftth","plan_id":"p100","access":{"onu_serial":)"
            R"("ALCL1"},"credentials":{"username":"s1@t1.example"},"wifi":)"
            R"([{"ssid":"home"}]})");
  ASSERT_EQ(fake->count("radius.provision"), 1u);
  EXPECT_EQ(fake->calls.back().input.at("credentials.Password"),
            "pw-Start-91c2");
}

TEST_F(saga_actors_test, backoff_timers_fire_when_the_clock_advances) {
  fake->set("netbox.allocate_ip", fake_mode::fail_retryably,
            {{"ip_address", "100.64.0.7"}}, 2);
  auto id = add_event(activated, "s1", activate_payload);
  boot();
  sched.run();
  // The first attempt failed; the retry waits on a durable timer.
  EXPECT_EQ(fake->count("netbox.allocate_ip"), 1u);
  ASSERT_EQ(db->timers.size(), 1u);
  auto due = db->timers[0].due_at;
  EXPECT_GE(due, saga_of(id)->updated_at);
  auto before = sched.clock().now();
  run_all();
  EXPECT_GT(sched.clock().now(), before);
  EXPECT_EQ(fake->count("netbox.allocate_ip"), 3u);
  EXPECT_EQ(saga_of(id)->state, sagas::saga_state::completed);
  EXPECT_TRUE(db->timers.empty());
}

TEST_F(saga_actors_test,
       silent_adapter_leads_to_unknown_outcome_and_reconcile) {
  fake->set("genieacs.configure_cpe", fake_mode::never_answer);
  auto id = add_event(activated, "s1", activate_payload);
  boot();
  sched.run();
  EXPECT_EQ(fake->count("genieacs.configure_cpe"), 1u);
  // The attempt timeout fires; the next attempt looks the effect up first.
  fake->set("genieacs.configure_cpe", fake_mode::succeed,
            {{"cpe_id", "cpe-1"}});
  run_all();
  ASSERT_GE(fake->calls.size(), 2u);
  auto reconciled
    = std::count_if(fake->calls.begin(), fake->calls.end(), [](auto& c) {
        return c.operation == "genieacs.configure_cpe" && c.reconcile;
      });
  EXPECT_GE(reconciled, 1);
  EXPECT_EQ(saga_of(id)->state, sagas::saga_state::completed);
}

TEST_F(saga_actors_test, unknown_outcome_after_apply_is_not_applied_twice) {
  fake->set("netbox.allocate_ip", fake_mode::unknown_after_apply,
            {{"ip_address", "100.64.0.7"}});
  auto id = add_event(activated, "s1", activate_payload);
  boot();
  run_all();
  EXPECT_EQ(saga_of(id)->state, sagas::saga_state::completed);
  EXPECT_EQ(fake->applications("netbox.allocate_ip"), 1);
  EXPECT_GE(fake->count("netbox.allocate_ip"), 2u);
  expect_no_effect_applied_twice();
}

TEST_F(saga_actors_test, failed_store_writes_are_retried_before_acting) {
  db->fail_writes = 3;
  auto id = add_event(activated, "s1", activate_payload);
  boot();
  sched.run();
  EXPECT_TRUE(fake->calls.empty());
  run_all();
  EXPECT_EQ(saga_of(id)->state, sagas::saga_state::completed);
  expect_no_effect_applied_twice();
}

} // namespace

// -- operators and partitions -------------------------------------------------

namespace {

const std::string terminated = "billing.subscription.terminated";

} // namespace

TEST_F(saga_actors_test, operator_retry_completes_a_saga_in_needs_attention) {
  // terminate is forward only: a step that keeps failing stops the saga.
  auto act = add_event(activated, "s1", activate_payload);
  auto term = add_event(terminated, "s1", "{}");
  fake->set("radius.disconnect_sessions", fake_mode::fail_permanently);
  boot();
  run_all();
  ASSERT_EQ(saga_of(act)->state, sagas::saga_state::completed);
  auto stuck = *saga_of(term);
  ASSERT_EQ(stuck.state, sagas::saga_state::needs_attention);
  EXPECT_EQ(stuck.failed_step, "disconnect_sessions");
  // The NAS is reachable again; the operator retries.
  fake->set("radius.disconnect_sessions", fake_mode::succeed);
  caf::scoped_actor self{sys};
  std::string answer;
  self->send(router, retry_atom_v, stuck.id, std::string{"nas fixed"});
  run_all();
  self->receive([&](std::string& state) { answer = state; },
                [&](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_EQ(answer, "running");
  EXPECT_EQ(saga_of(term)->state, sagas::saga_state::completed);
  EXPECT_EQ(saga_of(term)->generation, 1);
  // The retried step ran under a new generation, the earlier ones once.
  auto keys
    = std::count_if(fake->calls.begin(), fake->calls.end(), [&](auto& c) {
        return c.key == stuck.id + "/disconnect_sessions/1";
      });
  EXPECT_EQ(keys, 1);
  EXPECT_EQ(fake->count("radius.deny"), 1u);
  EXPECT_EQ(outbox_count("saga.retried"), 1u);
  EXPECT_EQ(outbox_count("subscriber.terminated"), 1u);
}

TEST_F(saga_actors_test, operator_retry_of_a_finished_saga_is_refused) {
  auto id = add_event(activated, "s1", activate_payload);
  boot();
  run_all();
  ASSERT_EQ(saga_of(id)->state, sagas::saga_state::completed);
  caf::scoped_actor self{sys};
  self->send(router, retry_atom_v, saga_of(id)->id, std::string{});
  run_all();
  bool refused = false;
  self->receive([&](std::string&) {},
                [&](caf::error& err) {
                  refused = err == errc::invalid_input;
                  EXPECT_NE(to_string(err).find("completed"),
                            std::string::npos);
                });
  EXPECT_TRUE(refused);
  self->send(router, cancel_atom_v, std::string{"no-such-saga"}, std::string{});
  run_all();
  refused = false;
  self->receive([&](std::string&) {},
                [&](caf::error& err) { refused = err == errc::invalid_input; });
  EXPECT_TRUE(refused);
}

TEST_F(saga_actors_test, operator_cancel_compensates_a_running_saga) {
  // The CPE step hangs; the operator cancels while it is in flight.
  fake->set("genieacs.configure_cpe", fake_mode::park);
  auto id = add_event(activated, "s1", activate_payload);
  boot();
  sched.run();
  ASSERT_EQ(saga_of(id)->state, sagas::saga_state::running);
  caf::scoped_actor self{sys};
  self->send(router, cancel_atom_v, saga_of(id)->id,
             std::string{"customer withdrew"});
  run_all();
  std::string answer;
  self->receive([&](std::string& state) { answer = state; },
                [&](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_EQ(answer, "cancel_requested");
  // Undone, and ended as the operator asked: cancelled, not compensated.
  auto inst = saga_of(id);
  EXPECT_EQ(inst->state, sagas::saga_state::cancelled);
  EXPECT_TRUE(inst->cancel_requested);
  // What was done is undone, once.
  EXPECT_EQ(fake->count("voltha.remove_service"), 1u);
  EXPECT_EQ(fake->count("radius.deprovision"), 1u);
  EXPECT_EQ(fake->count("netbox.release_ip"), 1u);
  EXPECT_EQ(fake->applications("genieacs.configure_cpe"), 0);
}

TEST_F(saga_actors_test, sagas_resume_when_their_partition_is_assigned) {
  // Two subscribers on two partitions; the first instance crashes mid-way.
  auto a = add_event(activated, "s1", activate_payload);
  auto b = add_event(activated, "s2", activate_payload);
  db->inbox[static_cast<size_t>(b - 1)].event.partition = 1;
  fake->set("genieacs.configure_cpe", fake_mode::never_answer);
  boot();
  sched.run();
  crash();
  ASSERT_EQ(saga_of(a)->state, sagas::saga_state::running);
  ASSERT_EQ(saga_of(b)->state, sagas::saga_state::running);
  fake->set("genieacs.configure_cpe", fake_mode::succeed,
            {{"cpe_id", "cpe-1"}});
  // A group member that owns nothing until the group says so.
  store = actors::spawn_memory_saga_store(sys, db);
  timer = actors::spawn_timer(sys, clock());
  actors::saga_router_settings rs;
  rs.registry = &registry;
  rs.store = store;
  rs.timer = timer;
  ispflow::testing::fake_every_system(rs.adapters, fake_actor);
  rs.adapters.set_tenant("t1", sagas::full_tenant_profile());
  rs.clock = clock();
  rs.poll_interval = 0ms;
  rs.follow_assignment = true;
  router = actors::spawn_saga_router(sys, std::move(rs));
  auto later = add_event(activated, "s3", activate_payload);
  run_all();
  EXPECT_EQ(saga_of(a)->state, sagas::saga_state::running);
  EXPECT_EQ(saga_of(later), nullptr);
  caf::anon_send(router, open_atom_v, std::vector<int32_t>{0});
  run_all();
  // Partition 0's saga resumed and its new event started; partition 1's
  // saga waits for its owner.
  EXPECT_EQ(saga_of(a)->state, sagas::saga_state::completed);
  ASSERT_NE(saga_of(later), nullptr);
  EXPECT_EQ(saga_of(later)->state, sagas::saga_state::completed);
  EXPECT_EQ(saga_of(b)->state, sagas::saga_state::running);
  caf::anon_send(router, open_atom_v, std::vector<int32_t>{1});
  run_all();
  EXPECT_EQ(saga_of(b)->state, sagas::saga_state::completed);
  expect_no_effect_applied_twice();
}

TEST_F(saga_actors_test, later_sagas_inherit_what_the_activation_made) {
  // Billing's terminate names only the subscriber; the ONU serial, the IP
  // and the CPE come from the completed activation.
  auto act = add_event(activated, "s1", activate_payload);
  auto term = add_event(terminated, "s1", "{}");
  boot();
  run_all();
  ASSERT_EQ(saga_of(act)->state, sagas::saga_state::completed);
  ASSERT_EQ(saga_of(term)->state, sagas::saga_state::completed);
  auto call = std::find_if(fake->calls.begin(), fake->calls.end(), [](auto& c) {
    return c.operation == "voltha.remove_service";
  });
  ASSERT_NE(call, fake->calls.end());
  EXPECT_EQ(call->input.at("access.onu_serial"), "ALCL1");
  EXPECT_EQ(call->input.at("onu_id"), "onu-1");
  auto release
    = std::find_if(fake->calls.begin(), fake->calls.end(),
                   [](auto& c) { return c.operation == "netbox.release_ip"; });
  ASSERT_NE(release, fake->calls.end());
  EXPECT_EQ(release->input.at("ip_address"), "100.64.0.7");
}

TEST(memory_saga_db, a_repair_leaves_nothing_for_later_sagas_to_inherit) {
  // A repair restores the network to the record without changing it: its
  // payload (the drift.steps.* it ran) and its step outputs must not reach
  // a later saga, or a later repair would run steps its scan never asked
  // for. The PostgreSQL store reads the record, which repairs leave alone.
  sagas::saga_registry registry;
  actors::memory_saga_db db;
  db.registry = &registry;
  auto finished = [&](std::string id, std::string name, int seconds,
                      sagas::field_map payload) {
    sagas::saga_instance x;
    x.id = id;
    x.name = std::move(name);
    x.version = 1;
    x.tenant_id = "t1";
    x.subscriber_id = "s1";
    x.payload = std::move(payload);
    x.state = sagas::saga_state::completed;
    x.created_at = sagas::time_point{} + std::chrono::seconds{seconds};
    db.sagas.emplace(id, std::move(x));
  };
  finished("a", "activation", 1,
           {{"plan_id", "p100"}, {"credentials.username", "u@x.example"}});
  finished("r", "repair", 2,
           {{"drift.steps.deny", "true"},
            {"drift.state", "suspended"},
            {"plan_id", "p999"}});
  auto profile = db.profile("t1", "s1");
  EXPECT_EQ(profile.count("drift.steps.deny"), 0u);
  EXPECT_EQ(profile.count("drift.state"), 0u);
  EXPECT_EQ(profile.at("plan_id"), "p100");
  EXPECT_EQ(profile.at("credentials.username"), "u@x.example");
}

TEST(memory_saga_db, a_repaired_onu_replacement_gives_later_sagas_the_new_id) {
  // onu_replaced: the repair provisioned the service on the device that
  // now carries the serial; later sagas (and repairs) must find that one,
  // as the PostgreSQL store's record names it. Nothing else of the repair
  // is inherited.
  sagas::saga_registry registry;
  ASSERT_EQ(sagas::register_repair_saga(registry), std::nullopt);
  actors::memory_saga_db db;
  db.registry = &registry;
  auto def = sagas::make_repair_definition();
  auto saga = [&](std::string id, std::string name, int seconds,
                  sagas::saga_state state, sagas::field_map payload) {
    sagas::saga_instance x;
    x.id = id;
    x.name = std::move(name);
    x.version = def.version;
    x.tenant_id = "t1";
    x.subscriber_id = "s1";
    x.payload = std::move(payload);
    x.state = state;
    x.created_at = sagas::time_point{} + std::chrono::seconds{seconds};
    x.steps.resize(def.steps.size());
    return x;
  };
  auto activation = saga("a", "activation", 1, sagas::saga_state::completed,
                         {{"plan_id", "p100"},
                          {"onu_id", "onu-old"},
                          {"access.onu_serial", "BBSM00000007"}});
  db.sagas.emplace("a", activation);
  auto repair = saga("r", "repair", 2, sagas::saga_state::completed,
                     {{"drift.steps.provision_onu_service", "true"},
                      {"drift.state", "active"},
                      {"plan_id", "p999"}});
  auto& provisioned = repair.steps[*def.index_of("provision_onu_service")];
  provisioned.state = sagas::step_state::succeeded;
  provisioned.output = {{"onu_id", "onu-new"}};
  auto& enabled = repair.steps[*def.index_of("enable_onu")];
  enabled.state = sagas::step_state::succeeded;
  enabled.output = {{"onu_id", "onu-new"}, {"extra", "x"}};
  // Still running: not yet.
  repair.state = sagas::saga_state::running;
  db.sagas.emplace("r", repair);
  EXPECT_EQ(db.profile("t1", "s1").at("onu_id"), "onu-old");
  db.sagas["r"].state = sagas::saga_state::completed;
  auto profile = db.profile("t1", "s1");
  EXPECT_EQ(profile.at("onu_id"), "onu-new");
  EXPECT_EQ(profile.at("plan_id"), "p100");
  EXPECT_EQ(profile.at("access.onu_serial"), "BBSM00000007");
  EXPECT_EQ(profile.count("drift.steps.provision_onu_service"), 0u);
  EXPECT_EQ(profile.count("drift.state"), 0u);
  EXPECT_EQ(profile.count("extra"), 0u);
}

// -- fencing (issue 13) -------------------------------------------------------

TEST_F(saga_actors_test, saga_with_an_expired_lease_makes_no_adapter_call) {
  // Partition 0 is still ours in the database (epoch 1), but the lease ran
  // out (no heartbeat got through, e.g. the process was paused).
  db->epochs[0] = 1;
  leases = std::make_shared<actors::lease_board>("node-a");
  leases->grant(0, 1, actors::lease_board::clock::now() - 1s);
  auto id = add_event(activated, "s1", activate_payload);
  boot();
  run_all();
  EXPECT_TRUE(fake->calls.empty());
  EXPECT_GE(leases->calls_withheld.load(), 1u);
  // The first write committed under the epoch; the saga waits there for
  // whoever holds the partition.
  auto inst = saga_of(id);
  ASSERT_NE(inst, nullptr);
  EXPECT_EQ(inst->state, sagas::saga_state::running);
  // A renewed lease: the saga resumes and ends, each effect once.
  crash();
  leases->grant(0, 1, actors::lease_board::clock::now() + 1h);
  boot();
  run_all();
  inst = saga_of(id);
  ASSERT_NE(inst, nullptr);
  EXPECT_EQ(inst->state, sagas::saga_state::completed);
  EXPECT_EQ(fake->applications("radius.provision"), 1);
  expect_no_effect_applied_twice();
}

// Every call carries the lease its saga runs under, so that an adapter
// writing to PostgreSQL itself (RADIUS) can fence its transaction; without
// leases (an instance alone) calls are unfenced.
TEST_F(saga_actors_test, every_call_carries_its_sagas_partition_lease) {
  db->epochs[0] = 3;
  leases = std::make_shared<actors::lease_board>("node-a");
  leases->grant(0, 3, actors::lease_board::clock::now() + 1h);
  add_event(activated, "s1", activate_payload);
  boot();
  run_all();
  ASSERT_GE(fake->calls.size(), 5u);
  for (auto& c : fake->calls) {
    EXPECT_EQ(c.partition, 0) << c.operation;
    EXPECT_EQ(c.epoch, 3) << c.operation;
  }
}

// The calls in flight a drain reports: a saga stopped with a call still
// unanswered (its partition taken away) gives its count back, since that
// answer never reaches it.
TEST_F(saga_actors_test, a_saga_stopped_mid_call_gives_back_its_call_count) {
  db->epochs[0] = 1;
  leases = std::make_shared<actors::lease_board>("node-a");
  leases->grant(0, 1, actors::lease_board::clock::now() + 1h);
  fake->set("genieacs.configure_cpe", fake_mode::never_answer);
  add_event(activated, "s1", activate_payload);
  follow_assignment = true;
  boot();
  caf::anon_send(router, open_atom_v, std::vector<int32_t>{0});
  sched.run();
  ASSERT_EQ(fake->count("genieacs.configure_cpe"), 1u);
  EXPECT_EQ(leases->calls_in_flight.load(), 1);
  caf::anon_send(router, close_atom_v, std::vector<int32_t>{0});
  sched.run();
  EXPECT_EQ(leases->calls_in_flight.load(), 0);
}

TEST_F(saga_actors_test, write_under_a_stale_epoch_is_refused_and_stops_saga) {
  // Another instance claimed partition 0 (epoch 2) while this one still
  // believes it holds epoch 1.
  db->epochs[0] = 2;
  leases = std::make_shared<actors::lease_board>("node-a");
  leases->grant(0, 1, actors::lease_board::clock::now() + 1h);
  auto id = add_event(activated, "s1", activate_payload);
  boot();
  run_all();
  EXPECT_EQ(saga_of(id), nullptr);
  EXPECT_TRUE(db->inbox.at(0).saga_id.empty());
  EXPECT_TRUE(fake->calls.empty());
  EXPECT_EQ(leases->stale_writes_refused.load(), 1u);
  // The refusal dropped the lease: nothing of partition 0 runs here now.
  EXPECT_FALSE(leases->epoch(0).has_value());
}

namespace {

// The names of this process's threads, as /proc shows them.
std::multiset<std::string> thread_names() {
  std::multiset<std::string> out;
  std::error_code ec;
  for (auto& task :
       std::filesystem::directory_iterator{"/proc/self/task", ec}) {
    std::ifstream in{task.path() / "comm"};
    std::string name;
    if (std::getline(in, name))
      out.insert(name);
  }
  return out;
}

} // namespace

// Each detached actor names its own thread (`top -H`, perf): the saga
// store's, with its reader and writers, as one example. No database is
// needed: the store connects lazily.
TEST(saga_store_threads, the_store_and_its_workers_name_their_threads) {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ispflow>();
  caf::actor_system sys{cfg};
  sagas::saga_registry registry;
  ASSERT_FALSE(sagas::register_lifecycle_sagas(registry));
  actors::pg_saga_store_settings s;
  s.dsn = "host=/nonexistent-ispflow-test dbname=none connect_timeout=1";
  s.registry = &registry;
  s.writers = 2;
  auto store = actors::spawn_pg_saga_store(sys, s);
  std::multiset<std::string> names;
  for (int i = 0; i < 500; ++i) {
    names = thread_names();
    if (names.count("isp.saga.write") == 2 && names.count("isp.saga.read") == 1
        && names.count("isp.saga.store") == 1)
      break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(names.count("isp.saga.store"), 1u);
  EXPECT_EQ(names.count("isp.saga.read"), 1u);
  EXPECT_EQ(names.count("isp.saga.write"), 2u);
  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
}
