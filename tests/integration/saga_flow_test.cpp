// The saga engine end to end against real servers: billing events produced
// with librdkafka into ispflow-bus, the intake, store and outbox relay
// actors, the PostgreSQL saga store actor, timer, router and saga actors,
// and recording fake adapters for the five systems. Asserts the database
// (sagas, saga_steps, inbox, outbox) and the records on lifecycle.events.v1,
// saga.events.v1 and billing.events.v1.dlq; then a restart mid-saga.

#include "actors/intake.hpp"
#include "actors/outbox_relay.hpp"
#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/store.hpp"
#include "actors/timer.hpp"
#include "adapters/kafka/producer.hpp"
#include "adapters/kafka/tail_reader.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "tests/integration/subscriber_record_check.hpp"
#include "tests/support/bus_process.hpp"
#include "tests/support/fake_adapter.hpp"
#include "tests/support/scratch_database.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <cstdio>
#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace ispflow;
using namespace std::chrono_literals;
using ispflow::testing::fake_adapter_state;
using ispflow::testing::fake_mode;
using sagas::target_system;

namespace {

const std::string tenant = "acme";

events::kafka_record
billing_event(const std::string& id, const std::string& verb,
              const std::string& sub, const std::string& fields) {
  events::kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.key = sub;
  rec.value = R"({"schema_version":1,"tenant_id":")" + tenant
              + R"(","subscriber_id":")" + sub + "\"" + fields + "}";
  auto h = [&](const char* k, const std::string& v) {
    rec.headers.push_back(events::kafka_header{k, v, false});
  };
  h("ce_specversion", "1.0");
  h("ce_id", id);
  h("ce_source", "billing.test");
  h("ce_type", "billing.subscription." + verb);
  h("ce_subject", sub);
  h("ce_tenantid", tenant);
  h("content-type", "application/json");
  return rec;
}

events::kafka_record ftth_activation(const std::string& id,
                                     const std::string& sub) {
  return billing_event(
    id, "activated", sub,
    R"(,"plan_id":"fiber-500","service_type":"ftth",)"
    R"("site":"ams-01","access":{"onu_serial":"ALCL1A2B3C4D"},)"
    R"("credentials":{"username":")"
      + sub + R"(@acme.example","password":"pw-Flow-51c2e8"})");
}

events::kafka_record wireless_activation(const std::string& id,
                                         const std::string& sub) {
  return billing_event(id, "activated", sub,
                       R"(,"plan_id":"air-50","service_type":"wireless",)"
                       R"("site":"ams-02")");
}

/// Forwards every request to `bad` for subscriber `bad_subscriber` and to
/// `normal` for everyone else: one system failing for one subscriber only.
adapters::api::adapter_actor::behavior_type
split_adapter(adapters::api::adapter_actor::pointer self,
              adapters::api::adapter_actor normal,
              adapters::api::adapter_actor bad, std::string bad_subscriber) {
  return {
    [=](invoke_atom, const adapters::api::adapter_request& req)
      -> caf::delegated<adapters::api::adapter_reply> {
      return self->delegate(req.subscriber_id == bad_subscriber ? bad : normal,
                            invoke_atom_v, req);
    },
  };
}

struct saga_flow_test : ::testing::Test {
  ispflow::testing::scratch_database db;
  ispflow::testing::bus_process bus{ISPFLOW_BUS_PATH};
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  adapters::kafka::client_settings kafka;
  sagas::saga_registry registry;

  /// The external systems: they outlive a restart of ispflow's actors.
  std::map<target_system, std::shared_ptr<fake_adapter_state>> fakes;
  /// RADIUS as seen by `bad_subscriber` (fails its provisioning).
  std::shared_ptr<fake_adapter_state> bad_radius;
  std::string bad_subscriber = "none";

  /// The actors of one "process"; rebuilt by boot().
  std::vector<caf::actor> fake_actors;
  std::optional<actors::intake_actor> intake;
  std::optional<actors::outbox_relay_actor> relay;
  actors::store_actor intake_store;
  actors::saga_store_actor saga_store;
  actors::timer_actor timer;
  actors::saga_router_actor router;

  void SetUp() override {
    ASSERT_FALSE(bus.bootstrap().empty()) << "ispflow-bus gave no address";
    ASSERT_TRUE(adapters::postgres::apply_migrations(db.dsn()));
    auto store = adapters::postgres::intake_store::connect(db.dsn());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->upsert_tenants({{tenant, "Acme Fibre"}}));
    ASSERT_FALSE(sagas::register_lifecycle_sagas(registry).has_value());
    cfg.add_message_types<caf::id_block::ispflow>();
    sys = std::make_unique<caf::actor_system>(cfg);
    kafka.bootstrap_servers = bus.bootstrap();
    kafka.client_id = "saga-flow-test";
    kafka.group_id = "saga-flow-test";
    // The mock makes a new group member wait session.timeout.ms - 1 s.
    kafka.extra = {{"session.timeout.ms", "4000"},
                   {"heartbeat.interval.ms", "1000"}};
    for (auto s :
         {target_system::radius, target_system::netbox, target_system::voltha,
          target_system::genieacs, target_system::awx})
      fakes[s] = std::make_shared<fake_adapter_state>();
    bad_radius = std::make_shared<fake_adapter_state>();
    fakes[target_system::netbox]->set("netbox.allocate_ip", fake_mode::succeed,
                                      {{"ip_address", "100.64.0.7"}});
    fakes[target_system::voltha]->set(
      "voltha.provision_service", fake_mode::succeed, {{"onu_id", "onu-17"}});
    fakes[target_system::genieacs]->set(
      "genieacs.configure_cpe", fake_mode::succeed, {{"cpe_id", "cpe-3"}});
    bad_radius->set("radius.provision", fake_mode::fail_permanently);
  }

  void TearDown() override {
    stop_all();
  }

  void produce(const std::vector<events::kafka_record>& recs) {
    auto producer = adapters::kafka::producer::make(kafka);
    ASSERT_TRUE(producer);
    ASSERT_TRUE((*producer)->produce_all(recs, 30s));
  }

  /// Starts every actor of one ispflow process over the database.
  void boot() {
    using adapters::api::adapter_actor;
    actors::saga_router_settings rs;
    for (auto& [system, state] : fakes) {
      auto handle = ispflow::testing::spawn_fake_adapter(*sys, state);
      fake_actors.push_back(caf::actor_cast<caf::actor>(handle));
      if (system == target_system::radius) {
        auto bad = ispflow::testing::spawn_fake_adapter(*sys, bad_radius);
        fake_actors.push_back(caf::actor_cast<caf::actor>(bad));
        handle = sys->spawn(split_adapter, handle, bad, bad_subscriber);
        fake_actors.push_back(caf::actor_cast<caf::actor>(handle));
      }
      rs.adapters.set_actor(system, handle);
    }
    rs.adapters.set_tenant(tenant, sagas::full_tenant_profile());
    intake_store = actors::spawn_store(*sys, {db.dsn()});
    actors::intake_settings is;
    is.kafka = kafka;
    is.topics = {"billing.events.v1"};
    is.check.known_tenant = [](std::string_view t) { return t == tenant; };
    auto in = actors::spawn_intake(*sys, is, intake_store);
    ASSERT_TRUE(in);
    intake = *in;
    actors::outbox_relay_settings ors;
    ors.kafka = kafka;
    ors.dsn = db.dsn();
    ors.batch = 50;
    ors.tail_scan = 500;
    auto rel = actors::spawn_outbox_relay(*sys, ors);
    ASSERT_TRUE(rel);
    relay = *rel;
    actors::pg_saga_store_settings ss;
    ss.dsn = db.dsn();
    ss.registry = &registry;
    saga_store = actors::spawn_pg_saga_store(*sys, ss);
    timer = actors::spawn_timer(*sys);
    rs.registry = &registry;
    rs.store = saga_store;
    rs.timer = timer;
    rs.poll_interval = 100ms;
    router = actors::spawn_saga_router(*sys, std::move(rs));
  }

  /// Stops every actor of the process (a crash for the sagas: nothing is
  /// finished gracefully but intake and relay) and waits until they are
  /// gone; the database and the fakes' records survive.
  void stop_all() {
    if (!sys)
      return;
    caf::scoped_actor self{*sys};
    if (intake) {
      self->request(*intake, 30s, stop_atom_v)
        .receive([](uint64_t) {},
                 [](caf::error& err) { ADD_FAILURE() << to_string(err); });
      intake.reset();
    }
    if (relay) {
      self->request(*relay, 30s, stop_atom_v)
        .receive([](int64_t) {},
                 [](caf::error& err) { ADD_FAILURE() << to_string(err); });
      relay.reset();
    }
    std::vector<caf::actor> all = fake_actors;
    if (router)
      all.push_back(caf::actor_cast<caf::actor>(router));
    if (saga_store)
      all.push_back(caf::actor_cast<caf::actor>(saga_store));
    if (timer)
      all.push_back(caf::actor_cast<caf::actor>(timer));
    if (intake_store)
      all.push_back(caf::actor_cast<caf::actor>(intake_store));
    for (auto& a : all)
      self->send_exit(a, caf::exit_reason::kill);
    self->wait_for(all);
    // Only now, with the fakes gone, may the test read their records.
    for (auto& [system, state] : fakes)
      state->held.clear();
    bad_radius->held.clear();
    fake_actors.clear();
    router = nullptr;
    saga_store = nullptr;
    timer = nullptr;
    intake_store = nullptr;
  }

  int64_t count(const std::string& sql) {
    return db.count(sql);
  }

  int64_t await_count(const std::string& sql, int64_t want) {
    return db.await_count(sql, want);
  }

  std::vector<events::kafka_record> read_all(const std::string& topic) {
    auto tail = adapters::kafka::read_tail(kafka, topic, 100000);
    EXPECT_TRUE(tail);
    return tail ? *tail : std::vector<events::kafka_record>{};
  }

  static std::string header(const events::kafka_record& rec,
                            const std::string& name) {
    auto* h = rec.header(name);
    return h == nullptr ? std::string{} : h->value;
  }

  static std::vector<events::kafka_record>
  of_type(const std::vector<events::kafka_record>& recs,
          const std::string& ce_type) {
    std::vector<events::kafka_record> res;
    for (auto& rec : recs)
      if (header(rec, "ce_type") == ce_type)
        res.push_back(rec);
    return res;
  }

  void expect_every_effect_once() {
    auto check = [](const fake_adapter_state& st) {
      for (auto& [key, n] : st.applied)
        EXPECT_EQ(n, 1) << key.first << " " << key.second;
    };
    for (auto& [system, state] : fakes)
      check(*state);
    check(*bad_radius);
  }

  int applications(target_system system, const std::string& operation) {
    return fakes[system]->applications(operation);
  }
};

TEST_F(saga_flow_test, billing_events_become_sagas_and_lifecycle_events) {
  bad_subscriber = "sub-bad";
  produce(
    {ftth_activation("e1", "sub-ftth"), wireless_activation("e2", "sub-air"),
     billing_event("e3", "plan_changed", "sub-never",
                   R"(,"plan_id":"fiber-1000")"),
     ftth_activation("e4", "sub-bad"),
     billing_event("e5", "plan_changed", "sub-ftth",
                   R"(,"plan_id":"fiber-1000","previous_plan_id":)"
                   R"("fiber-500")"),
     billing_event("e6", "suspended", "sub-ftth", R"(,"reason":"non_payment")"),
     billing_event("e7", "terminated", "sub-ftth",
                   R"(,"reason":"moved abroad")")});
  boot();
  EXPECT_EQ(await_count("select count(*) from inbox", 7), 7);
  EXPECT_EQ(await_count("select count(*) from sagas where state in "
                        "('completed', 'compensated')",
                        6),
            6);
  EXPECT_EQ(await_count("select count(*) from inbox where saga_id is null "
                        "and skipped_reason is null",
                        0),
            0);
  EXPECT_EQ(await_count("select count(*) from outbox where published_at is "
                        "null",
                        0),
            0);
  stop_all();

  // Each saga in its final state, with its steps.
  auto state_of = [&](const std::string& event_id) {
    return db.value("select s.state from sagas s join inbox i on "
                    "i.saga_id = s.id where i.event_id = '"
                    + event_id + "'");
  };
  EXPECT_EQ(state_of("e1"), "completed");
  EXPECT_EQ(state_of("e2"), "completed");
  EXPECT_EQ(state_of("e4"), "compensated");
  EXPECT_EQ(state_of("e5"), "completed");
  EXPECT_EQ(state_of("e6"), "completed");
  EXPECT_EQ(state_of("e7"), "completed");
  EXPECT_EQ(count("select count(*) from sagas"), 6);
  EXPECT_EQ(count("select count(*) from timers"), 0);
  EXPECT_EQ(count("select count(*) from saga_steps st join sagas s on "
                  "s.id = st.saga_id where s.state = 'completed' and "
                  "st.state not in ('succeeded', 'skipped')"),
            0);
  // The wireless activation skipped the PON; the FTTH one ran it.
  EXPECT_EQ(db.value("select st.state from saga_steps st join inbox i on "
                     "i.saga_id = st.saga_id where i.event_id = 'e2' and "
                     "st.name = 'provision_onu_service'"),
            "skipped");
  EXPECT_EQ(db.value("select st.state from saga_steps st join inbox i on "
                     "i.saga_id = st.saga_id where i.event_id = 'e1' and "
                     "st.name = 'provision_onu_service'"),
            "succeeded");
  // The failed activation: RADIUS failed, the IP was given back.
  EXPECT_EQ(db.value("select st.state from saga_steps st join inbox i on "
                     "i.saga_id = st.saga_id where i.event_id = 'e4' and "
                     "st.name = 'provision_radius'"),
            "failed");
  EXPECT_EQ(db.value("select st.state from saga_steps st join inbox i on "
                     "i.saga_id = st.saga_id where i.event_id = 'e4' and "
                     "st.name = 'allocate_ip'"),
            "compensated");
  // The IP from NetBox is kept in the step's output.
  EXPECT_EQ(db.value("select st.output->>'ip_address' from saga_steps st "
                     "join inbox i on i.saga_id = st.saga_id where "
                     "i.event_id = 'e1' and st.name = 'allocate_ip'"),
            "100.64.0.7");

  // Per-subscriber order: sagas were created in inbox order.
  auto rows = db.query("select i.id from sagas s join inbox i on "
                       "i.saga_id = s.id where s.subscriber_id = 'sub-ftth' "
                       "order by s.created_at, s.id");
  ASSERT_EQ(rows.size(), 4u);
  for (size_t i = 1; i < rows.size(); ++i)
    EXPECT_LT(std::stoll(*rows[i - 1][0]), std::stoll(*rows[i][0]));
  EXPECT_EQ(count("select count(*) from sagas a join sagas b on "
                  "a.subscriber_id = b.subscriber_id and a.created_at < "
                  "b.created_at where a.updated_at > b.created_at"),
            0)
    << "a subscriber's saga started before the previous one ended";

  // The plan change of a subscriber never activated started nothing.
  EXPECT_EQ(db.value("select skipped_reason from inbox where event_id = "
                     "'e3'"),
            "subscriber_not_active");
  EXPECT_EQ(count("select count(*) from sagas where subscriber_id = "
                  "'sub-never'"),
            0);
  auto dlq = read_all("billing.events.v1.dlq");
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(header(dlq[0], "ce_id"), "e3");
  EXPECT_EQ(header(dlq[0], "ispflow_error"), "subscriber_not_active");
  EXPECT_EQ(dlq[0].key, "sub-never");

  // Lifecycle events for billing.
  auto lifecycle = read_all("lifecycle.events.v1");
  auto activated = of_type(lifecycle, "subscriber.activated");
  ASSERT_EQ(activated.size(), 2u);
  for (auto& rec : activated) {
    EXPECT_NE(rec.value.find(R"("ip_address":"100.64.0.7")"), std::string::npos)
      << rec.value;
    EXPECT_NE(rec.value.find(R"("causation_id":"e)"), std::string::npos)
      << rec.value;
  }
  auto ftth = std::find_if(activated.begin(), activated.end(),
                           [](auto& r) { return r.key == "sub-ftth"; });
  ASSERT_NE(ftth, activated.end());
  EXPECT_NE(ftth->value.find(R"("onu_id":"onu-17")"), std::string::npos);
  auto failed = of_type(lifecycle, "subscriber.activated_failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].key, "sub-bad");
  EXPECT_NE(failed[0].value.find(R"("failed_step":"provision_radius")"),
            std::string::npos)
    << failed[0].value;
  EXPECT_NE(failed[0].value.find(R"("compensated":true)"), std::string::npos)
    << failed[0].value;
  EXPECT_EQ(of_type(lifecycle, "subscriber.plan_changed").size(), 1u);
  EXPECT_EQ(of_type(lifecycle, "subscriber.suspended").size(), 1u);
  EXPECT_EQ(of_type(lifecycle, "subscriber.terminated").size(), 1u);
  EXPECT_EQ(lifecycle.size(), 6u);

  // Saga transitions for monitoring.
  auto saga = read_all("saga.events.v1");
  EXPECT_EQ(of_type(saga, "saga.started").size(), 6u);
  EXPECT_EQ(of_type(saga, "saga.completed").size(), 5u);
  EXPECT_EQ(of_type(saga, "saga.compensated").size(), 1u);
  EXPECT_EQ(of_type(saga, "saga.step_failed").size(), 1u);
  EXPECT_EQ(of_type(saga, "saga.step_compensated").size(), 1u);
  EXPECT_GE(of_type(saga, "saga.step_succeeded").size(), 10u);
  std::set<std::string> ids;
  for (auto& rec : saga)
    ids.insert(header(rec, "ce_id"));
  EXPECT_EQ(ids.size(), saga.size()) << "a saga event was published twice";

  // The external systems saw each effect once.
  expect_every_effect_once();
  EXPECT_EQ(applications(target_system::netbox, "netbox.allocate_ip"), 3);
  EXPECT_EQ(applications(target_system::netbox, "netbox.release_ip"), 2);
  EXPECT_EQ(applications(target_system::radius, "radius.provision"), 2);
  EXPECT_EQ(applications(target_system::radius, "radius.set_plan_group"), 1);
  EXPECT_EQ(applications(target_system::radius, "radius.deny"), 2);
  EXPECT_EQ(applications(target_system::voltha, "voltha.provision_service"), 1);
  EXPECT_EQ(applications(target_system::awx, "awx.run_activation_job"), 2);
  EXPECT_EQ(bad_radius->applications("radius.provision"), 0);
  EXPECT_EQ(bad_radius->count("radius.provision"), 1u);

  // No password stays stored once the activations provisioned RADIUS.
  EXPECT_EQ(count("select count(*) from inbox where payload::text like "
                  "'%pw-Flow-51c2e8%'"),
            0);
  EXPECT_EQ(count("select count(*) from sagas where payload::text like "
                  "'%pw-Flow-51c2e8%'"),
            0);
  EXPECT_EQ(count("select count(*) from saga_steps where output::text like "
                  "'%pw-Flow-51c2e8%'"),
            0);

  // Each subscriber's record is what its saga history says.
  EXPECT_EQ(ispflow::testing::expect_records_match_history(db, registry), 3u);
  EXPECT_EQ(db.value("select state || '/' || plan_id || '/' || ip_address "
                     "from subscribers where id = 'sub-ftth'"),
            "terminated/fiber-1000/100.64.0.7");
}

TEST_F(saga_flow_test, later_sagas_read_the_subscriber_record_not_history) {
  produce({ftth_activation("h1", "sub-h")});
  boot();
  EXPECT_EQ(await_count("select count(*) from sagas where state = "
                        "'completed'",
                        1),
            1);
  stop_all();
  // Retention deleted the subscriber's saga history.
  db.query("delete from saga_steps; update inbox set saga_id = null, "
           "skipped_reason = 'done'; delete from sagas");
  EXPECT_EQ(db.value("select state from subscribers where id = 'sub-h'"),
            "active");
  produce(
    {billing_event("h2", "suspended", "sub-h", R"(,"reason":"non_payment")")});
  boot();
  EXPECT_EQ(await_count("select count(*) from sagas where state = "
                        "'completed'",
                        1),
            1);
  stop_all();
  EXPECT_EQ(db.value("select skipped_reason from inbox where event_id = "
                     "'h2'"),
            "");
  // The suspend inherited the activation's service type and ids.
  EXPECT_EQ(db.value("select service_type || '/' || (payload->>'plan_id') "
                     "from sagas"),
            "ftth/fiber-500");
  EXPECT_EQ(db.value("select state from subscribers where id = 'sub-h'"),
            "suspended");
  EXPECT_EQ(applications(target_system::radius, "radius.deny"), 1);
}

TEST_F(saga_flow_test, restarted_engine_resumes_a_saga_without_repeating) {
  fakes[target_system::voltha]->set("voltha.provision_service",
                                    fake_mode::never_answer);
  produce({ftth_activation("r1", "sub-r")});
  boot();
  // The saga waits on VOLTHA, which never answers.
  const std::string onu_running
    = "select count(*) from saga_steps where name = 'provision_onu_service' "
      "and state = 'running'";
  ASSERT_EQ(await_count(onu_running, 1), 1);
  std::this_thread::sleep_for(500ms);
  stop_all();
  EXPECT_EQ(db.value("select state from sagas"), "running");
  EXPECT_EQ(applications(target_system::netbox, "netbox.allocate_ip"), 1);
  EXPECT_EQ(applications(target_system::radius, "radius.provision"), 1);
  EXPECT_EQ(applications(target_system::voltha, "voltha.provision_service"), 0);
  EXPECT_EQ(fakes[target_system::voltha]->count("voltha.provision_service"),
            1u);

  // VOLTHA is back; a new process takes over the same database.
  fakes[target_system::voltha]->set("voltha.provision_service",
                                    fake_mode::succeed, {{"onu_id", "onu-17"}});
  boot();
  EXPECT_EQ(await_count("select count(*) from sagas where state = "
                        "'completed'",
                        1),
            1);
  EXPECT_EQ(await_count("select count(*) from outbox where published_at is "
                        "null",
                        0),
            0);
  stop_all();

  EXPECT_EQ(count("select count(*) from sagas"), 1);
  expect_every_effect_once();
  for (auto [system, op] : std::vector<std::pair<target_system, std::string>>{
         {target_system::netbox, "netbox.allocate_ip"},
         {target_system::radius, "radius.provision"},
         {target_system::voltha, "voltha.provision_service"},
         {target_system::genieacs, "genieacs.configure_cpe"},
         {target_system::awx, "awx.run_activation_job"}})
    EXPECT_EQ(applications(system, op), 1) << op;
  // The step in flight was sent again with its key, as a reconcile.
  auto& calls = fakes[target_system::voltha]->calls;
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].key, calls[1].key);
  EXPECT_FALSE(calls[0].reconcile);
  EXPECT_TRUE(calls[1].reconcile);
  // Nothing done before the crash ran again.
  EXPECT_EQ(fakes[target_system::netbox]->count("netbox.allocate_ip"), 1u);
  EXPECT_EQ(fakes[target_system::radius]->count("radius.provision"), 1u);

  auto lifecycle = read_all("lifecycle.events.v1");
  ASSERT_EQ(lifecycle.size(), 1u);
  EXPECT_EQ(header(lifecycle[0], "ce_type"), "subscriber.activated");
  EXPECT_NE(lifecycle[0].value.find(R"("onu_id":"onu-17")"), std::string::npos);
  auto saga = read_all("saga.events.v1");
  EXPECT_EQ(of_type(saga, "saga.started").size(), 1u);
  EXPECT_EQ(of_type(saga, "saga.resumed").size(), 1u);
  EXPECT_EQ(of_type(saga, "saga.completed").size(), 1u);

  // The record after the crash is what the history says.
  EXPECT_EQ(ispflow::testing::expect_records_match_history(db, registry), 1u);
  EXPECT_EQ(db.value("select state || '/' || onu_id from subscribers"),
            "active/onu-17");
}

} // namespace
