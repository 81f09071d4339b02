#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/timer.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "tests/support/fake_adapter.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <gtest/gtest.h>
#include <memory>
#include <string>

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
  actors::timer_actor timer;
  actors::saga_router_actor router;
  sagas::time_point base = sagas::time_point{} + std::chrono::hours{500'000};
  caf::detail::test_actor_clock::time_point start_time;
  int64_t ticks = 0;

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
                    const std::string& payload = "{}") {
    adapters::postgres::startable_event ev;
    ev.source = "billing";
    ev.event_id = "ev-" + std::to_string(db->inbox.size() + 1);
    ev.type = type;
    ev.tenant_id = "t1";
    ev.subscriber_id = subscriber;
    ev.payload = payload;
    ev.partition = 0;
    return db->add_event(std::move(ev));
  }

  // Starts store, timer and router over `db` (a process start).
  void boot() {
    store = actors::spawn_memory_saga_store(sys, db);
    timer = actors::spawn_timer(sys, clock());
    actors::saga_router_settings rs;
    rs.registry = &registry;
    rs.store = store;
    rs.timer = timer;
    using sagas::target_system;
    for (auto s :
         {target_system::radius, target_system::netbox, target_system::voltha,
          target_system::genieacs, target_system::awx})
      rs.adapters.set_actor(s, fake_actor);
    rs.adapters.set_tenant("t1", sagas::full_tenant_profile());
    rs.clock = clock();
    rs.poll_interval = 0ms;
    rs.seed = 42;
    router = actors::spawn_saga_router(sys, std::move(rs));
  }

  // Kills the process's actors; the database and the fakes survive.
  void crash() {
    if (router)
      caf::anon_send_exit(router, caf::exit_reason::kill);
    if (store)
      caf::anon_send_exit(store, caf::exit_reason::kill);
    if (timer)
      caf::anon_send_exit(timer, caf::exit_reason::kill);
    sched.run();
    router = nullptr;
    store = nullptr;
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

  const sagas::saga_instance* saga_of(int64_t inbox_id) const {
    auto& row = db->inbox.at(static_cast<size_t>(inbox_id - 1));
    auto i = db->sagas.find(row.saga_id);
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

TEST_F(saga_actors_test, crash_after_every_transition_ends_completed_once) {
  add_event(activated, "s1", activate_payload);
  boot();
  run_all();
  auto total = db->transactions;
  ASSERT_GT(total, 3u);
  for (uint64_t k = 1; k < total; ++k) {
    SCOPED_TRACE("crash after transaction " + std::to_string(k));
    crash();
    reset();
    auto id = add_event(activated, "s1", activate_payload);
    boot();
    run_until_transactions(k);
    crash();
    boot();
    run_all();
    auto inst = saga_of(id);
    ASSERT_NE(inst, nullptr);
    EXPECT_EQ(inst->state, sagas::saga_state::completed);
    expect_no_effect_applied_twice();
    EXPECT_EQ(fake->applications("awx.run_activation_job"), 1);
    EXPECT_EQ(outbox_count("subscriber.activated"), 1u);
  }
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

TEST_F(saga_actors_test, refused_event_is_dead_lettered_with_its_reason) {
  auto id = add_event(suspended, "s9", R"({"reason":"fraud"})");
  boot();
  run_all();
  auto& row = db->inbox.at(static_cast<size_t>(id - 1));
  EXPECT_EQ(row.skip_reason, "subscriber_not_active");
  EXPECT_TRUE(row.saga_id.empty());
  ASSERT_EQ(db->outbox.size(), 1u);
  EXPECT_EQ(db->outbox[0].topic, "billing.events.v1.dlq");
  auto err = db->outbox[0].header("ispflow_error");
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->value, "subscriber_not_active");
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
