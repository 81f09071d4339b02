// The subscriber record (schema/0011_subscriber_record.sql): kept by the
// saga store's write transaction, equal to what the saga history says, built
// by the migration from existing sagas; secrets leave the stored payloads
// once the saga that needed them provisioned RADIUS.

#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/postgres/partition_owners.hpp"
#include "adapters/postgres/saga_store.hpp"
#include "adapters/postgres/subscriber_reader.hpp"
#include "adapters/postgres/subscriber_record.hpp"
#include "events/errc.hpp"
#include "sagas/engine.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "sagas/repair_saga.hpp"
#include "tests/integration/subscriber_record_check.hpp"
#include "tests/support/scratch_database.hpp"

#include <chrono>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pg = ispflow::adapters::postgres;
namespace ev = ispflow::events;
namespace sg = ispflow::sagas;
using ispflow::testing::scratch_database;
using namespace std::chrono_literals;

namespace {

const sg::time_point t0 = sg::time_point{} + 1'714'557'600'000'000us;
const std::string password = "pw-Record-7f3c9a";

// Operations that fail permanently, by subscriber.
using failures = std::map<std::string, std::set<std::string>>;

class subscriber_record : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(sg::register_lifecycle_sagas(registry));
    ASSERT_FALSE(sg::register_repair_saga(registry));
    auto report = pg::apply_migrations(db.dsn());
    ASSERT_TRUE(report) << ispflow::render_error(report.error());
    auto in = pg::intake_store::connect(db.dsn());
    ASSERT_TRUE(in);
    intake.emplace(std::move(*in));
    auto st = pg::saga_store::connect(db.dsn(), registry);
    ASSERT_TRUE(st);
    store.emplace(std::move(*st));
  }

  // Records a billing event; returns its inbox id.
  int64_t receive(const std::string& id, const std::string& subscriber,
                  const std::string& data) {
    ev::accepted_event e;
    e.source = "billing";
    e.id = id;
    e.type = "billing.subscription.activated";
    e.time = "2024-05-01T10:00:00Z";
    e.tenant_id = "acme";
    e.subject = subscriber;
    e.data = data;
    e.origin.topic = "billing.events.v1";
    e.origin.partition = 0;
    e.origin.offset = ++offset;
    ev::intake_batch batch;
    batch.accepted = {e};
    auto res = intake->write(batch);
    EXPECT_TRUE(res) << ispflow::render_error(res.error());
    return std::stoll(
      db.value("SELECT id FROM inbox WHERE event_id = '" + id + "'"));
  }

  void write(const sg::saga_instance& inst, int64_t inbox_id = 0) {
    auto res = store->write(
      {{inst, inbox_id, inbox_id > 0 ? 0 : -1, {}, {}, {}, {}, {}, {}}});
    ASSERT_TRUE(res) << ispflow::render_error(res.error());
  }

  // Runs saga `name` for `subscriber` through the engine, answering every
  // operation (successfully, with NetBox, VOLTHA and GenieACS ids, unless
  // `fail` names it), writing every transition; returns the final instance.
  sg::saga_instance run(const std::string& name, const std::string& subscriber,
                        sg::field_map payload, int64_t inbox_id = 0,
                        const std::set<std::string>& fail = {},
                        std::string service_type = "ftth") {
    auto def = registry.current(name);
    EXPECT_NE(def, nullptr) << name;
    auto id = "s-" + std::to_string(++sagas_run);
    auto inst = sg::make_instance(*def,
                                  {id, "acme", subscriber, service_type,
                                   "ce-" + id, std::move(payload)},
                                  tick());
    auto cmds = sg::transition(
      *def, inst, sg::start_saga{sg::full_tenant_profile()}, tick(), random);
    write(inst, inbox_id);
    for (;;) {
      const sg::operation_call* call = nullptr;
      for (auto& c : cmds) {
        if (auto* x = std::get_if<sg::run_step>(&c))
          call = &x->call;
        else if (auto* y = std::get_if<sg::run_compensation>(&c))
          call = &y->call;
      }
      if (call == nullptr)
        break;
      sg::step_outcome outcome = sg::step_succeeded{outputs(call->operation)};
      if (fail.count(call->operation) > 0)
        outcome = sg::step_permanent_failure{"refused"};
      auto res = sg::step_result{call->step, call->generation, outcome};
      cmds = sg::transition(*def, inst, res, tick(), random);
      write(inst);
    }
    return inst;
  }

  sg::field_map outputs(const std::string& operation) const {
    if (operation == "netbox.allocate_ip")
      return {{"ip_address", "100.64.0.9"}};
    if (operation == "voltha.provision_service")
      return {{"onu_id", onu_id}};
    if (operation == "genieacs.configure_cpe")
      return {{"cpe_id", "cpe-8"}};
    return {};
  }

  static sg::field_map activation(const std::string& plan) {
    return {{"plan_id", plan},
            {"access.onu_serial", "ALCL00000001"},
            {"access.nas_identifier", "bng-1"},
            {"credentials.username", "sub@acme.example"},
            {"credentials.password", password}};
  }

  // deploy/local/record_check.sql's differences, "field subscriber" each.
  std::vector<std::string> record_check() {
    std::ifstream in{ISPFLOW_RECORD_CHECK_SQL};
    EXPECT_TRUE(in) << ISPFLOW_RECORD_CHECK_SQL;
    std::string sql{std::istreambuf_iterator<char>{in}, {}};
    std::vector<std::string> out;
    for (auto& row : db.query(sql
                              + "\nSELECT field || ' ' || subscriber_id FROM"
                                " ispflow_record_check ORDER BY 1"))
      out.push_back(*row[0]);
    return out;
  }

  std::string column(const std::string& subscriber, const std::string& col) {
    return db.value("SELECT " + col + " FROM subscribers WHERE id = '"
                    + subscriber + "'");
  }

  sg::time_point tick() {
    now += 1ms;
    return now;
  }

  scratch_database db;
  sg::saga_registry registry;
  sg::uniform_random_source random = [] { return 0.5; };
  std::optional<pg::intake_store> intake;
  std::optional<pg::saga_store> store;
  sg::time_point now = t0;
  int sagas_run = 0;
  int64_t offset = 0;
  // The device id voltha.provision_service answers.
  std::string onu_id = "onu-4";
};

} // namespace

TEST_F(subscriber_record, follows_a_mixed_lifecycle_as_the_history_does) {
  // a: the whole lifecycle.
  auto a = run("activate", "a", activation("p100"));
  EXPECT_EQ(a.state, sg::saga_state::completed);
  run("change_plan", "a", {{"plan_id", "p500"}});
  run("suspend", "a", {{"reason", "non_payment"}});
  EXPECT_EQ(column("a", "state"), "suspended");
  run("resume", "a", {});
  EXPECT_EQ(column("a", "state"), "active");
  run("terminate", "a", {{"reason", "moved"}});
  // b: a failed activation (compensated) and a second one that works.
  auto b1 = run("activate", "b", activation("p100"), 0, {"radius.provision"},
                "wireless");
  EXPECT_EQ(b1.state, sg::saga_state::compensated);
  EXPECT_EQ(column("b", "state"), "none");
  EXPECT_EQ(column("b", "last_outcome"), "compensated");
  run("activate", "b", activation("p50"), 0, {}, "wireless");
  // c: a suspend that fails and is undone leaves the subscriber active.
  run("activate", "c", activation("p100"));
  auto c2 = run("suspend", "c", {}, 0, {"radius.deny"});
  EXPECT_EQ(c2.state, sg::saga_state::compensated);
  // d: terminated, then back as a returning customer.
  run("activate", "d", activation("p100"));
  run("terminate", "d", {});
  EXPECT_EQ(column("d", "state"), "terminated");
  run("activate", "d", activation("p1000"));
  // e: a suspend stops half-way (needs_attention), then an operator
  // cancels it with effects left: the state is unknown.
  run("activate", "e", activation("p100"));
  auto def = registry.current("suspend");
  auto e2 = sg::make_instance(*def, {"s-e2", "acme", "e", "ftth", "ce-e2", {}},
                              tick());
  e2.state = sg::saga_state::needs_attention;
  e2.steps[0].state = sg::step_state::succeeded;
  write(e2);
  EXPECT_EQ(column("e", "state"), "active") << "needs_attention has not ended";
  EXPECT_EQ(column("e", "last_outcome"), "needs_attention");
  e2.state = sg::saga_state::cancelled;
  e2.updated_at = tick();
  write(e2);

  EXPECT_EQ(ispflow::testing::expect_records_match_history(db, registry), 5u);
  // The independent SQL check agrees, and sees a record that differs.
  EXPECT_EQ(record_check(), std::vector<std::string>{});
  db.query("UPDATE subscribers SET state = 'active' WHERE id = 'e';"
           "UPDATE subscribers SET plan_id = 'p1' WHERE id = 'd';"
           "UPDATE subscribers SET profile = profile || '{\"onu_id\": \"x\"}',"
           " onu_id = 'x' WHERE id = 'c';"
           "INSERT INTO subscribers (tenant_id, id, state) VALUES"
           " ('acme', 'z', 'active')");
  EXPECT_EQ(record_check(),
            (std::vector<std::string>{"column plan_id d", "profile c",
                                      "record z", "state e"}));
  db.query("UPDATE subscribers SET state = 'unknown' WHERE id = 'e';"
           "UPDATE subscribers SET plan_id = 'p1000' WHERE id = 'd';"
           "UPDATE subscribers SET profile = profile || '{\"onu_id\":"
           " \"onu-4\"}', onu_id = 'onu-4' WHERE id = 'c';"
           "DELETE FROM subscribers WHERE id = 'z'");
  EXPECT_EQ(record_check(), std::vector<std::string>{});
  // What each record says, explicitly.
  EXPECT_EQ(column("a", "state"), "terminated");
  EXPECT_EQ(column("a", "plan_id"), "p500");
  EXPECT_EQ(column("a", "ip_address"), "100.64.0.9");
  EXPECT_EQ(column("a", "onu_id"), "onu-4");
  EXPECT_EQ(column("a", "cpe_id"), "cpe-8");
  EXPECT_EQ(column("a", "radius_username"), "sub@acme.example");
  EXPECT_EQ(column("a", "nas_identifier"), "bng-1");
  EXPECT_EQ(column("a", "service_type"), "ftth");
  EXPECT_EQ(column("a", "last_saga_name"), "terminate");
  EXPECT_EQ(column("a", "last_outcome"), "completed");
  EXPECT_EQ(column("a", "version"), "5");
  EXPECT_EQ(column("b", "state"), "active");
  EXPECT_EQ(column("b", "plan_id"), "p50");
  EXPECT_EQ(column("b", "service_type"), "wireless");
  EXPECT_EQ(column("c", "state"), "active");
  EXPECT_EQ(column("d", "state"), "active");
  EXPECT_EQ(column("d", "plan_id"), "p1000");
  EXPECT_EQ(column("e", "state"), "unknown");
  EXPECT_EQ(column("e", "last_outcome"), "cancelled");
  EXPECT_EQ(db.count("SELECT count(*) FROM subscribers WHERE profile::text "
                     "LIKE '%"
                     + password + "%'"),
            0);
}

TEST_F(subscriber_record, a_repaired_onu_replacement_names_the_new_device) {
  run("activate", "r", activation("p100"));
  EXPECT_EQ(column("r", "onu_id"), "onu-4");
  // onu_replaced: VOLTHA discovered the ONU again under a new device id;
  // the repair provisions the service there, and voltha.provision_service
  // answers that id as in the activation. The payload carries the inherited
  // profile (the old id) and the drift keys.
  onu_id = "onu-9";
  auto repair = run("repair", "r",
                    {{"drift.state", "active"},
                     {"drift.steps.provision_onu_service", "true"},
                     {"drift.steps.enable_onu", "true"},
                     {"plan_id", "p999"},
                     {"onu_id", "onu-4"},
                     {"access.onu_serial", "ALCL00000001"}});
  EXPECT_EQ(repair.state, sg::saga_state::completed);
  EXPECT_EQ(column("r", "onu_id"), "onu-9");
  EXPECT_EQ(column("r", "profile->>'onu_id'"), "onu-9");
  // Nothing else of the repair reaches the record.
  EXPECT_EQ(column("r", "state"), "active");
  EXPECT_EQ(column("r", "plan_id"), "p100");
  EXPECT_EQ(column("r", "profile->>'plan_id'"), "p100");
  EXPECT_EQ(column("r", "profile ? 'drift.state'"), "f");
  EXPECT_EQ(column("r", "last_saga_name"), "repair");
  // As the in-memory store's fold and the SQL check say.
  EXPECT_EQ(ispflow::testing::expect_records_match_history(db, registry), 1u);
  EXPECT_EQ(record_check(), std::vector<std::string>{});
  // A repair whose provisioning failed names no device.
  onu_id = "onu-10";
  auto failed = run("repair", "r",
                    {{"drift.state", "active"},
                     {"drift.steps.provision_onu_service", "true"},
                     {"drift.steps.enable_onu", "true"}},
                    0, {"voltha.provision_service"});
  EXPECT_EQ(failed.state, sg::saga_state::compensated);
  EXPECT_EQ(column("r", "onu_id"), "onu-9");
  EXPECT_EQ(ispflow::testing::expect_records_match_history(db, registry), 1u);
  EXPECT_EQ(record_check(), std::vector<std::string>{});
}

TEST_F(subscriber_record, writing_the_same_outcome_again_changes_nothing) {
  auto a = run("activate", "a", activation("p100"));
  EXPECT_EQ(column("a", "version"), "1");
  auto before = column("a", "updated_at");
  // A repeated write (e.g. after an unknown commit outcome).
  write(a);
  write(a);
  EXPECT_EQ(column("a", "version"), "1");
  EXPECT_EQ(column("a", "updated_at"), before);
}

// A finished saga's record is written by the saga write's own statement,
// under its partition fence: a write the fence refuses leaves the record as
// it was, and the current owner's write applies it.
TEST_F(subscriber_record, a_write_refused_by_its_fence_leaves_the_record) {
  auto a = run("activate", "a", activation("p100"));
  ASSERT_EQ(column("a", "version"), "1");
  auto owners = pg::partition_owners::connect(db.dsn());
  ASSERT_TRUE(owners) << ispflow::render_error(owners.error());
  auto e1 = owners->claim("node-a", 2);
  ASSERT_TRUE(e1) << ispflow::render_error(e1.error());
  auto e2 = owners->claim("node-b", 2);
  ASSERT_TRUE(e2) << ispflow::render_error(e2.error());
  // Another completed activation of the subscriber, as a new saga.
  auto again = a;
  again.id = "s-again";
  again.created_at = tick();
  again.updated_at = tick();
  store->set_instance_id("node-a");
  auto refused = store->write(
    {{again, 0, -1, {}, {}, {}, {}, pg::write_fence{2, *e1}, {}}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), ispflow::errc::stale_epoch);
  EXPECT_EQ(column("a", "version"), "1");
  EXPECT_EQ(column("a", "last_saga_id"), a.id);
  store->set_instance_id("node-b");
  auto ok = store->write(
    {{again, 0, -1, {}, {}, {}, {}, pg::write_fence{2, *e2}, {}}});
  ASSERT_TRUE(ok) << ispflow::render_error(ok.error());
  EXPECT_EQ(column("a", "version"), "2");
  EXPECT_EQ(column("a", "last_saga_id"), "s-again");
}

// Two finished sagas of one subscriber in one write cannot be one
// statement's changes (it cannot touch a row twice): they are applied
// oldest first, and the record ends with the newer one.
TEST_F(subscriber_record, two_finished_sagas_of_one_subscriber_in_one_write) {
  auto a = run("activate", "a", activation("p100"));
  auto older = a;
  older.id = "s-older";
  older.created_at = tick();
  older.updated_at = tick();
  older.payload["plan_id"] = "p200";
  auto newer = a;
  newer.id = "s-newer";
  newer.created_at = tick();
  newer.updated_at = tick();
  newer.payload["plan_id"] = "p300";
  // The newer first in the batch: the order of their creation decides.
  auto res = store->write({{newer, 0, -1, {}, {}, {}, {}, {}, {}},
                           {older, 0, -1, {}, {}, {}, {}, {}, {}}});
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(column("a", "version"), "3");
  EXPECT_EQ(column("a", "last_saga_id"), "s-newer");
  EXPECT_EQ(column("a", "plan_id"), "p300");
}

TEST_F(subscriber_record, no_password_is_left_once_no_step_needs_it) {
  auto inbox_id
    = receive("e-1", "a",
              R"({"subscriber_id":"a","plan_id":"p100","credentials":)"
              R"({"username":"sub@acme.example","password":")"
                + password + R"("}})");
  // Up to RADIUS provisioning the saga still needs the password: its row
  // holds it. The input event loses it when the saga starts, though its
  // writer (an earlier version's) left the payload as it was: schema/0019's
  // trigger strips it.
  auto def = registry.current("activate");
  auto inst = sg::make_instance(
    *def, {"s-1", "acme", "a", "ftth", "ce-1", activation("p100")}, tick());
  write(inst, inbox_id);
  EXPECT_EQ(db.count("SELECT count(*) FROM inbox WHERE payload::text LIKE '%"
                     + password + "%'"),
            0);
  EXPECT_EQ(db.value("SELECT payload->'credentials'->>'username' FROM inbox"),
            "sub@acme.example");
  EXPECT_EQ(db.count("SELECT count(*) FROM sagas WHERE payload::text LIKE '%"
                     + password + "%'"),
            1);
  // RADIUS has it, but the CPE's PPPoE client still needs it in clear.
  inst.state = sg::saga_state::running;
  inst.steps[0].state = sg::step_state::succeeded;
  inst.steps[1].state = sg::step_state::succeeded;
  inst.cursor = 2;
  write(inst);
  EXPECT_EQ(db.count("SELECT count(*) FROM sagas WHERE payload::text LIKE '%"
                     + password + "%'"),
            1);
  ASSERT_EQ(def->steps[3].action, "genieacs.configure_cpe");
  // Once the CPE is configured too (even with the instance still carrying
  // it), the saga row loses it.
  inst.steps[2].state = sg::step_state::succeeded;
  inst.steps[3].state = sg::step_state::succeeded;
  inst.cursor = 4;
  write(inst);
  EXPECT_EQ(db.count("SELECT count(*) FROM sagas WHERE payload::text LIKE '%"
                     + password + "%'"),
            0);
  EXPECT_EQ(db.value("SELECT payload->>'credentials.username' FROM sagas"),
            "sub@acme.example");

  // A whole activation through the engine: nothing in a dump of the
  // database holds the password afterwards.
  auto second
    = receive("e-2", "b",
              R"({"subscriber_id":"b","plan_id":"p100","credentials":)"
              R"({"username":"b@acme.example","password":")"
                + password + R"("}})");
  auto b = run("activate", "b", activation("p100"), second);
  EXPECT_EQ(b.state, sg::saga_state::completed);
  EXPECT_EQ(b.payload.count("credentials.password"), 0u);
  EXPECT_FALSE(db.tables_holding("b@acme.example").empty())
    << "the dump holds the data";
  EXPECT_EQ(db.tables_holding(password), std::set<std::string>{})
    << "the password is still stored";
}

namespace {

// The generic plan of `statement` (one json parameter) run with
// `argument`, among `count` analysed subscribers.
std::string
generic_plan_among_many(scratch_database& db, const std::string& statement,
                        const std::string& argument, int count = 10000) {
  db.query("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme') "
           "ON CONFLICT DO NOTHING; "
           "DELETE FROM subscribers WHERE id LIKE 'bulk-%'; "
           "INSERT INTO subscribers (tenant_id, id, state) "
           "SELECT 'acme', 'bulk-' || i, 'active' "
           "FROM generate_series(1, "
           + std::to_string(count) + ") i; ANALYZE subscribers");
  auto rows = db.query("DEALLOCATE ALL; PREPARE stmt(json) AS " + statement
                       + "; SET LOCAL plan_cache_mode = force_generic_plan; "
                         "EXPLAIN EXECUTE stmt('"
                       + argument + "')");
  std::string plan;
  for (auto& row : rows)
    plan += row.at(0).value_or("") + "\n";
  return plan;
}

} // namespace

// The record's write finds subscribers by their key however many there
// are. json_to_recordset counts as 100 rows to the planner: an UPDATE
// joined to the changes, with the insert of new records beside it, hashed
// the batch against two sequential scans of the whole table per write (at
// 1,000 subscribers, as in the end-to-end bench, though not at 10,000).
// The upsert's conflict arbiter is the primary key at any size.
TEST_F(subscriber_record, its_write_looks_subscribers_up_by_key) {
  for (int count : {1000, 10000}) {
    auto plan = generic_plan_among_many(
      db, pg::detail::subscriber_record_statement(),
      R"([{"t":"acme","s":"bulk-7","saga":"s-1","name":"activate_subscriber",)"
      R"("outcome":"completed","target":"active","service_type":"ftth",)"
      R"("delta":{},"at":1}])",
      count);
    EXPECT_EQ(plan.find("Seq Scan on subscribers"), std::string::npos)
      << count << " subscribers:\n"
      << plan;
    EXPECT_NE(plan.find("Conflict Arbiter Indexes: subscribers_pkey"),
              std::string::npos)
      << count << " subscribers:\n"
      << plan;
  }
}

// Admission's read of the records, likewise: it ran before every saga
// start, and read the whole table below some tens of thousands.
TEST_F(subscriber_record, its_read_looks_subscribers_up_by_index) {
  auto plan = generic_plan_among_many(db,
                                      pg::detail::subscriber_read_statement(),
                                      R"([{"t":"acme","s":"bulk-7"}])");
  EXPECT_EQ(plan.find("Seq Scan on subscribers"), std::string::npos) << plan;
  EXPECT_NE(plan.find("subscribers_id_idx"), std::string::npos) << plan;
}

// One answer per key, in the keys' order; a subscriber without a record
// (or with one only under another tenant) reads as "none".
TEST_F(subscriber_record, a_read_answers_each_key_in_its_order) {
  db.query("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme'), "
           "('other', 'Other') ON CONFLICT DO NOTHING; "
           "INSERT INTO subscribers (tenant_id, id, state, service_type, "
           "profile, last_outcome) VALUES "
           "('acme', 'a', 'active', 'ftth', '{\"plan_id\": \"p1\"}', "
           "'completed'), "
           "('acme', 'b', 'suspended', NULL, '{}', 'needs_attention'), "
           "('other', 'c', 'active', 'dsl', '{}', 'completed')");
  auto reader = pg::subscriber_reader::connect(db.dsn());
  ASSERT_TRUE(reader) << ispflow::render_error(reader.error());
  auto res = reader->read(
    {{"acme", "b"}, {"acme", "missing"}, {"acme", "a"}, {"acme", "c"}});
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  ASSERT_EQ(res->size(), 4u);
  EXPECT_EQ(res->at(0).state, "suspended");
  EXPECT_EQ(res->at(0).last_outcome, "needs_attention");
  EXPECT_EQ(pg::admission_state(res->at(0)), sg::subscriber_state::unknown);
  EXPECT_EQ(res->at(1).state, "none");
  EXPECT_EQ(res->at(2).state, "active");
  EXPECT_EQ(res->at(2).service_type, "ftth");
  EXPECT_EQ(res->at(2).profile, (sg::field_map{{"plan_id", "p1"}}));
  EXPECT_EQ(pg::admission_state(res->at(2)), sg::subscriber_state::active);
  EXPECT_EQ(res->at(3).state, "none");
}

TEST(subscriber_record_migration, builds_the_records_from_existing_sagas) {
  scratch_database db;
  auto& all = pg::embedded_migrations();
  auto record = std::find_if(all.begin(), all.end(), [](auto& m) {
    return m.name == "0011_subscriber_record.sql";
  });
  ASSERT_NE(record, all.end());
  ASSERT_TRUE(pg::apply_migrations(
    db.dsn(), std::vector<pg::migration>(all.begin(), record)));
  // History as an older version wrote it: a, activated then suspended; b, an
  // activation compensated; c, a suspend cancelled with effects left
  // (deny succeeded), after an activation; d, only an open saga.
  db.query(R"sql(
    INSERT INTO sagas (id, name, version, tenant_id, subscriber_id,
                       service_type, causation, payload, state, "cursor",
                       generation, cancel_requested, created_at, updated_at)
    VALUES
    ('a1', 'activate', 1, 'acme', 'a', 'ftth', 'c', '{"plan_id": "p1",
      "credentials.username": "a@acme.example",
      "credentials.password": "pw-Old-1"}', 'completed', 4, 0, false,
      '2024-01-01', '2024-01-01'),
    ('a2', 'suspend', 1, 'acme', 'a', '', 'c', '{"reason": "x"}',
      'completed', 3, 0, false, '2024-01-02', '2024-01-02'),
    ('b1', 'activate', 1, 'acme', 'b', 'wireless', 'c', '{"plan_id": "p2"}',
      'compensated', 0, 0, false, '2024-01-01', '2024-01-01'),
    ('c1', 'activate', 1, 'acme', 'c', 'fixed', 'c', '{"plan_id": "p3"}',
      'completed', 4, 0, false, '2024-01-01', '2024-01-01'),
    ('c2', 'suspend', 1, 'acme', 'c', 'fixed', 'c', '{}',
      'cancelled', 1, 0, true, '2024-01-02', '2024-01-02'),
    ('d1', 'activate', 1, 'acme', 'd', 'ftth', 'c', '{"plan_id": "p4"}',
      'running', 0, 0, false, '2024-01-01', '2024-01-01');
    INSERT INTO saga_steps (saga_id, idx, name, state, attempts, output,
                            reconcile, generation, compensation_attempts)
    SELECT s.id, i, n, CASE
             WHEN s.id = 'a1' THEN CASE WHEN n = 'provision_onu_service'
                                        THEN 'skipped' ELSE 'succeeded' END
             WHEN s.id = 'a2' THEN 'succeeded'
             WHEN s.id = 'b1' THEN CASE i WHEN 0 THEN 'compensated'
                                          WHEN 1 THEN 'failed'
                                          ELSE 'pending' END
             WHEN s.id = 'c1' THEN 'succeeded'
             WHEN s.id = 'c2' THEN CASE i WHEN 0 THEN 'succeeded'
                                          ELSE 'pending' END
             ELSE 'pending' END,
           1, CASE WHEN n = 'allocate_ip' AND s.id IN ('a1', 'b1', 'c1')
                   THEN '{"ip_address": "10.0.0.1"}'::jsonb ELSE '{}' END,
           false, 0, 0
      FROM sagas s,
           LATERAL unnest(CASE s.name
             WHEN 'activate' THEN ARRAY['allocate_ip', 'provision_radius',
               'provision_onu_service', 'configure_cpe', 'run_activation_job']
             ELSE ARRAY['deny', 'disconnect_sessions',
               'verify_sessions_closed', 'disable_onu'] END)
             WITH ORDINALITY AS u(n, k),
           LATERAL (SELECT (k - 1)::int AS i) x;
  )sql");
  auto report = pg::apply_migrations(db.dsn());
  ASSERT_TRUE(report) << ispflow::render_error(report.error());
  sg::saga_registry registry;
  ASSERT_FALSE(sg::register_lifecycle_sagas(registry));
  EXPECT_EQ(ispflow::testing::expect_records_match_history(db, registry), 3u);
  auto state = [&](const std::string& id) {
    return db.value("SELECT state || '/' || COALESCE(plan_id, '-') || '/' || "
                    "COALESCE(ip_address, '-') FROM subscribers WHERE id = '"
                    + id + "'");
  };
  EXPECT_EQ(state("a"), "suspended/p1/10.0.0.1");
  EXPECT_EQ(state("b"), "none/-/-");
  EXPECT_EQ(state("c"), "unknown/p3/10.0.0.1");
  EXPECT_EQ(db.count("SELECT count(*) FROM subscribers WHERE id = 'd'"), 0)
    << "an open saga has not changed the subscriber yet";
  EXPECT_EQ(db.value("SELECT radius_username FROM subscribers WHERE id = 'a'"),
            "a@acme.example");
  EXPECT_EQ(db.count("SELECT count(*) FROM sagas WHERE payload::text LIKE "
                     "'%pw-Old-1%'"),
            0);
}
