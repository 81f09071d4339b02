// Drift repair end to end: subscriber records provisioned through the real
// RADIUS adapter (FreeRADIUS's tables in PostgreSQL) and ONUs of the VOLTHA
// simulator; FreeRADIUS rows and ONU states changed behind ispflow's back;
// a scan with repair writes repair events to the inbox, the saga router
// (PostgreSQL saga store, real RADIUS and VOLTHA adapters behind the
// shared guard) runs them as `repair` sagas, and a second scan finds only
// what no repair can fix.

#include "actors/admin/auth.hpp"
#include "actors/admin/drift.hpp"
#include "actors/admin/server.hpp"
#include "actors/drift/scanner.hpp"
#include "actors/guarded_adapter.hpp"
#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/timer.hpp"
#include "adapters/genieacs/adapter.hpp"
#include "adapters/genieacs/wire.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/netbox/adapter.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/radius/attributes.hpp"
#include "adapters/radius/dynamic_authorization.hpp"
#include "adapters/radius/radius_adapter.hpp"
#include "adapters/resilience/guard.hpp"
#include "adapters/voltha/adapter.hpp"
#include "adapters/voltha/device_client.hpp"
#include "events/errc.hpp"
#include "events/schema_registry.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "sagas/repair_saga.hpp"
#include "sim/genieacs/server.hpp"
#include "sim/netbox/server.hpp"
#include "sim/voltha/server.hpp"
#include "tests/support/scratch_database.hpp"

#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <cstdio>
#include <gtest/gtest.h>
#include <httplib.h>
#include <map>
#include <pqxx/pqxx>
#include <rapidjson/document.h>
#include <set>
#include <thread>
#include <tuple>

namespace {

using namespace std::chrono_literals;
using namespace ispflow;
namespace drift = ispflow::actors::drift;
namespace res = ispflow::adapters::resilience;
namespace radius = ispflow::adapters::radius;
namespace voltha = ispflow::adapters::voltha;
using sagas::target_system;

caf::actor_system_config& with_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

// Runs ispflowctl with `args`; its exit code and standard output.
std::pair<int, std::string> ctl(const std::string& args) {
  auto cmd = "ISPFLOW_TOKEN=ops-0123456789 " + std::string{ISPFLOWCTL} + " "
             + args + " 2>&1";
  std::string out;
  auto* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr)
    return {-1, out};
  char buf[4096];
  while (auto got = std::fread(buf, 1, sizeof buf, p))
    out.append(buf, got);
  auto rc = ::pclose(p);
  return {WEXITSTATUS(rc), out};
}

// (subscriber, kind) pairs.
using found_set = std::set<std::pair<std::string, std::string>>;

// The NASes as the RADIUS adapter's CoA client sees them: every session
// disconnected is acknowledged, and its Accounting-Stop lands in radacct
// (as FreeRADIUS writes it when the NAS ends a session).
class closing_nas : public radius::dynamic_authorization {
public:
  explicit closing_nas(std::string dsn) : dsn_(std::move(dsn)) {
    // nop
  }

  void disconnect(std::vector<radius::session> sessions,
                  callback done) override {
    std::vector<radius::da_outcome> out;
    pqxx::connection conn{dsn_};
    pqxx::work tx{conn};
    for (auto& x : sessions) {
      tx.exec_params("UPDATE radacct SET acctstoptime = now(), "
                     "acctterminatecause = 'Admin-Reset' WHERE username = $1 "
                     "AND acctsessionid = $2 AND acctstoptime IS NULL",
                     x.username, x.acct_session_id);
      ++disconnected;
      out.push_back({radius::da_result::ack, 0, "closed"});
    }
    tx.commit();
    done(std::move(out));
  }

  void change(std::vector<radius::session> sessions,
              std::vector<radius::sql_attribute>, callback done) override {
    done(std::vector<radius::da_outcome>(sessions.size(),
                                         {radius::da_result::ack, 0, "ok"}));
  }

  std::atomic<int> disconnected{0};

private:
  std::string dsn_;
};

struct drift_repair : ::testing::Test {
  ispflow::testing::scratch_database db;
  caf::actor_system_config cfg;
  caf::actor_system sys{with_types(cfg)};
  std::unique_ptr<ispflow::sim::voltha::server> olt;
  std::shared_ptr<res::guard> guard = std::make_shared<res::guard>();
  std::shared_ptr<closing_nas> nas;
  sagas::saga_registry registry;
  std::vector<caf::actor> actors_;
  adapters::api::adapter_actor radius_adapter;
  adapters::api::adapter_actor voltha_adapter;
  actors::saga_router_actor router;
  std::unique_ptr<drift::scanner> scanner;
  // The ONUs the simulator discovered: (id, serial).
  std::vector<std::pair<std::string, std::string>> onus;

  drift_repair() {
    EXPECT_TRUE(adapters::postgres::apply_migrations(db.dsn()));
    EXPECT_EQ(sagas::register_lifecycle_sagas(registry), std::nullopt);
    EXPECT_EQ(sagas::register_repair_saga(registry), std::nullopt);
    db.query("INSERT INTO tenants (id, name) VALUES ('demo', 'Demo')");
    // The BNG the sessions run on (FreeRADIUS's client and CoA target).
    db.query("INSERT INTO nas (nasname, shortname, type, secret) VALUES "
             "('192.0.2.1', 'bng-1', 'other', 'x')");
    ispflow::sim::voltha::options vo;
    vo.olts = 3;
    vo.onus_per_olt = 3;
    vo.transition_delay = 10ms;
    vo.program_delay = 10ms;
    auto v = ispflow::sim::voltha::server::start(vo);
    EXPECT_TRUE(v);
    olt = std::move(*v);
    radius::adapter_config rc;
    rc.dsn = db.dsn();
    rc.tenants = {radius_tenant()};
    rc.sql_connections = 0;
    nas = std::make_shared<closing_nas>(db.dsn());
    rc.coa = nas;
    auto inner = radius::spawn_radius_adapter(sys, std::move(rc));
    actors_.push_back(caf::actor_cast<caf::actor>(inner));
    radius_adapter = actors::spawn_guarded_adapter(sys, inner, guard, "radius");
    actors_.push_back(caf::actor_cast<caf::actor>(radius_adapter));
    voltha::adapter_options opts;
    voltha::tenant_settings vt;
    vt.grpc_address = grpc();
    // The simulator's olt app (onu_replaced provisions the service).
    vt.onos_url = "http://127.0.0.1:" + std::to_string(olt->rest_port());
    vt.onos_user = "karaf";
    vt.onos_password = "karaf";
    vt.confirm_interval = 20ms;
    opts.tenants.emplace("demo", vt);
    auto vin = caf::actor_cast<adapters::api::adapter_actor>(
      voltha::spawn_adapter(sys, std::move(opts)));
    actors_.push_back(caf::actor_cast<caf::actor>(vin));
    voltha_adapter = actors::spawn_guarded_adapter(sys, vin, guard, "voltha");
    actors_.push_back(caf::actor_cast<caf::actor>(voltha_adapter));
  }

  ~drift_repair() override {
    if (scanner)
      scanner->stop();
    caf::scoped_actor self{sys};
    if (router)
      actors_.push_back(caf::actor_cast<caf::actor>(router));
    for (auto& a : actors_)
      self->send_exit(a, caf::exit_reason::kill);
    self->wait_for(actors_);
    if (olt)
      olt->stop();
  }

  static radius::tenant_settings radius_tenant() {
    radius::tenant_settings t;
    t.tenant_id = "demo";
    t.suspend = radius::suspend_policy::reject;
    radius::plan p100;
    p100.id = "p100";
    p100.radius_group = "demo.p100";
    p100.download_kbps = 100'000;
    p100.upload_kbps = 20'000;
    radius::plan p050 = p100;
    p050.id = "p050";
    p050.radius_group = "demo.p050";
    t.plans = {p100, p050};
    return t;
  }

  std::string grpc() const {
    return "127.0.0.1:" + std::to_string(olt->grpc_port());
  }

  std::unique_ptr<voltha::device_client> client() {
    auto c = voltha::device_client::make(grpc());
    EXPECT_TRUE(c);
    return std::move(*c);
  }

  // Waits until the simulator's ONUs are ACTIVE.
  void await_onus() {
    auto c = client();
    for (int i = 0; i < 200; ++i) {
      auto got = c->list_devices(2s);
      ASSERT_TRUE(got.status.ok()) << got.status.message;
      onus.clear();
      bool active = true;
      for (const auto& d : got.value)
        if (!d.root) {
          onus.emplace_back(d.id, d.serial_number);
          active = active && d.oper == voltha::oper_status::active;
        }
      if (onus.size() == 9 && active)
        return;
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "the simulator's ONUs did not become active";
  }

  voltha::admin_state admin_of(const std::string& onu) {
    auto got = client()->get_device(onu, 2s);
    EXPECT_TRUE(got.status.ok()) << got.status.message;
    return got.value.admin;
  }

  events::adapter_reply call(const adapters::api::adapter_actor& a,
                             const std::string& sub, const std::string& op,
                             events::string_map input) {
    caf::scoped_actor self{sys};
    events::adapter_request req;
    req.tenant_id = "demo";
    req.subscriber_id = sub;
    req.system = op.substr(0, op.find('.'));
    req.operation = op;
    req.idempotency_key = "seed/" + sub + "/" + op;
    req.input = std::move(input);
    events::adapter_reply out;
    self->request(a, 30s, invoke_atom_v, req)
      .receive([&](events::adapter_reply& r) { out = std::move(r); },
               [&](caf::error& e) {
                 out.outcome = events::adapter_outcome::permanent_failure;
                 out.error = to_string(e);
               });
    return out;
  }

  // A subscriber provisioned as an activation and (for "suspended") a
  // suspension would leave it, and its record.
  void add_subscriber(const std::string& sub, const std::string& state,
                      int onu) {
    auto user = sub + "@demo.example";
    auto& [onu_id, serial] = onus.at(onu);
    auto prov = call(radius_adapter, sub, "radius.provision",
                     {{"credentials.username", user},
                      {"credentials.password", "pw-" + sub + "-51c2e8"},
                      {"plan_id", "p100"}});
    ASSERT_EQ(prov.outcome, events::adapter_outcome::succeeded) << prov.error;
    if (state == "suspended") {
      auto deny = call(radius_adapter, sub, "radius.deny", {});
      ASSERT_EQ(deny.outcome, events::adapter_outcome::succeeded) << deny.error;
      ASSERT_TRUE(client()->disable_device(onu_id, 2s).ok());
    }
    db.query("INSERT INTO subscribers (tenant_id, id, state, plan_id, "
             "service_type, radius_username, onu_id, profile, version) "
             "VALUES ('demo', '"
             + sub + "', '" + state + "', 'p100', 'ftth', '" + user + "', '"
             + onu_id
             + "', jsonb_build_object('plan_id', 'p100', 'service_type', "
               "'ftth', 'credentials.username', '"
             + user + "', 'onu_id', '" + onu_id + "', 'access.onu_serial', '"
             + serial + "'), 1)");
  }

  drift::tenant_view tenant() const {
    drift::tenant_view t;
    t.tenant_id = "demo";
    t.radius = t.voltha = true;
    t.suspend_policy = "reject";
    t.plan_groups = {{"p100", "demo.p100"}, {"p050", "demo.p050"}};
    t.suspend_disables_onu = true;
    t.voltha_grpc = grpc();
    t.voltha_deadline = 5s;
    return t;
  }

  void make_scanner() {
    drift::scanner_settings s;
    s.dsn = db.dsn();
    s.tenants = {tenant()};
    s.page_size = 3; // several pages
    s.guard = guard;
    auto made = drift::scanner::make(sys, std::move(s));
    ASSERT_TRUE(made);
    scanner = std::move(*made);
  }

  // The saga machinery of one ispflowd: store, timer, router.
  void boot() {
    actors::pg_saga_store_settings ss;
    ss.dsn = db.dsn();
    ss.registry = &registry;
    auto store = actors::spawn_pg_saga_store(sys, ss);
    actors_.push_back(caf::actor_cast<caf::actor>(store));
    auto timer = actors::spawn_timer(sys);
    actors_.push_back(caf::actor_cast<caf::actor>(timer));
    actors::saga_router_settings rs;
    rs.registry = &registry;
    rs.store = store;
    rs.timer = timer;
    rs.poll_interval = 100ms;
    rs.adapters.set_actor(target_system::radius, radius_adapter);
    rs.adapters.set_actor(target_system::voltha, voltha_adapter);
    sagas::tenant_profile profile;
    profile.systems = {target_system::radius, target_system::voltha};
    profile.policies = {std::string{sagas::policy_suspend_disable_onu}};
    rs.adapters.set_tenant("demo", profile);
    router = actors::spawn_saga_router(sys, std::move(rs));
  }

  found_set stored(const std::string& scan_id,
                   const std::string& where = "true") {
    found_set out;
    for (auto& row : db.query("SELECT subscriber_id, kind FROM drift_findings "
                              "WHERE scan_id = '"
                              + scan_id + "' AND " + where))
      out.emplace(*row[0], *row[1]);
    return out;
  }

  std::string record(const std::string& sub) {
    return db.value("SELECT state || ' ' || plan_id || ' ' || "
                    "radius_username || ' ' || onu_id || ' ' || "
                    "profile::text FROM subscribers WHERE id = '"
                    + sub + "'");
  }

  // Nine subscribers; eight of them drift in one way each.
  void seed() {
    await_onus();
    add_subscriber("s01", "active", 0);
    add_subscriber("s02", "active", 1);
    add_subscriber("s03", "suspended", 2);
    add_subscriber("s04", "active", 3);
    add_subscriber("s05", "suspended", 4);
    add_subscriber("s06", "active", 5);
    add_subscriber("s07", "active", 6);
    add_subscriber("s08", "active", 7);
    add_subscriber("s09", "suspended", 8);
  }

  void open_session(const std::string& user) {
    db.query("INSERT INTO radacct (acctsessionid, acctuniqueid, username, "
             "nasipaddress, acctstarttime) VALUES ('s-"
             + user + "', md5('" + user + "' || clock_timestamp()), '" + user
             + "', '192.0.2.1', now())");
  }

  void drift_everything() {
    // RADIUS: the plan group edited, a reject added by hand, a suspension
    // lifted by hand, a password row deleted of an account provisioned
    // before ispflow kept the hash, every radcheck row of one that has it.
    db.query("UPDATE radusergroup SET groupname = 'demo.p050' "
             "WHERE username = 's01@demo.example'");
    db.query("INSERT INTO radcheck (username, attribute, op, value) VALUES "
             "('s02@demo.example', 'Auth-Type', ':=', 'Reject')");
    db.query("DELETE FROM radcheck WHERE username = 's03@demo.example' "
             "AND attribute = 'Auth-Type'");
    db.query("UPDATE radius_accounts SET password_attribute = NULL, "
             "password_op = NULL, password_value = NULL "
             "WHERE username = 's06@demo.example'");
    db.query("DELETE FROM radcheck WHERE username = 's06@demo.example' "
             "AND attribute LIKE '%Password'");
    db.query("DELETE FROM radcheck WHERE username = 's08@demo.example'");
    // A session of a suspended subscriber the NAS kept.
    open_session("s09@demo.example");
    // VOLTHA: an active subscriber's ONU disabled, a suspended one's
    // enabled, one replaced (a new device with the same serial).
    auto c = client();
    ASSERT_TRUE(c->disable_device(onus[3].first, 2s).ok());
    ASSERT_TRUE(c->enable_device(onus[4].first, 2s).ok());
    s07_onu = replace_onu(onus[6].second);
    ASSERT_FALSE(s07_onu.empty());
  }

  // s07's ONU's new device id (drift_everything).
  std::string s07_onu;

  static found_set everything_drifted() {
    return {{"s01", "radius_plan_mismatch"}, {"s02", "radius_not_active"},
            {"s03", "radius_not_suspended"}, {"s04", "onu_state_mismatch"},
            {"s05", "onu_state_mismatch"},   {"s06", "radius_user_missing"},
            {"s07", "onu_replaced"},         {"s08", "radius_user_missing"},
            {"s09", "session_after_suspend"}};
  }

  static found_set unrepairable() {
    return {{"s06", "radius_user_missing"}};
  }

  // The ONU with `serial` deleted and discovered again under a new device
  // id (the simulator's /_sim/onus/replace); returns the new id.
  std::string replace_onu(const std::string& serial) {
    httplib::Client rest{"127.0.0.1", olt->rest_port()};
    auto rep = rest.Post("/_sim/onus/replace",
                         R"({"serial":")" + serial + "\"}", "application/json");
    EXPECT_TRUE(rep);
    if (!rep)
      return {};
    EXPECT_EQ(rep->status, 200) << rep->body;
    rapidjson::Document doc;
    doc.Parse(rep->body.c_str());
    EXPECT_TRUE(doc.IsObject() && doc.HasMember("new_id")) << rep->body;
    if (!doc.IsObject() || !doc.HasMember("new_id"))
      return {};
    return doc["new_id"].GetString();
  }

  // Whether the olt app lists the service of the ONU with `serial` (UNI 1).
  bool programmed(const std::string& serial) {
    return olt->state_json().find("\"port\":\"" + serial + "-1\"")
           != std::string::npos;
  }
};

} // namespace

TEST_F(drift_repair, a_scan_with_repair_restores_the_network_to_the_records) {
  seed();
  std::map<std::string, std::string> before;
  for (auto sub :
       {"s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09"})
    before[sub] = record(sub);
  auto s08_rows = db.value("SELECT string_agg(attribute || op || value, ',') "
                           "FROM radcheck WHERE username = 's08@demo.example'");
  drift_everything();
  make_scanner();
  boot();
  drift::scan_request req;
  req.repair = true;
  auto sum = scanner->run(req);
  ASSERT_TRUE(sum) << to_string(sum.error());
  EXPECT_EQ(sum->state, "completed") << sum->error;
  EXPECT_EQ(stored(sum->id), everything_drifted());
  EXPECT_EQ(sum->repairs, 8);
  EXPECT_EQ(sum->unrepairable,
            (std::map<std::string, int64_t>{{"radius_user_missing", 1}}));
  // One repair saga per subscriber with repairable differences; each
  // completes.
  EXPECT_EQ(db.await_count("SELECT count(*) FROM sagas WHERE name = 'repair' "
                           "AND state = 'completed'",
                           8),
            8);
  EXPECT_EQ(db.value("SELECT string_agg(subscriber_id, ',' ORDER BY "
                     "subscriber_id) FROM sagas WHERE name = 'repair'"),
            "s01,s02,s03,s04,s05,s07,s08,s09");
  // The steps each ran, by the kinds.
  EXPECT_EQ(db.value("SELECT string_agg(s.subscriber_id || ':' || st.name, ','"
                     " ORDER BY s.subscriber_id, st.idx) FROM sagas s JOIN "
                     "saga_steps st ON st.saga_id = s.id WHERE s.name = "
                     "'repair' AND st.state = 'succeeded'"),
            "s01:set_plan_group,s01:coa_sessions,"
            "s02:restore_plan,s02:disconnect_sessions,"
            "s03:deny,s03:disconnect_sessions,s03:verify_sessions_closed,"
            "s04:enable_onu,s05:disable_onu,"
            "s07:provision_onu_service,s07:enable_onu,"
            "s08:restore_credentials,s08:restore_plan,"
            "s09:disconnect_sessions,s09:verify_sessions_closed");
  // The network matches the records again.
  EXPECT_EQ(db.value("SELECT string_agg(groupname, ',') FROM radusergroup "
                     "WHERE username = 's01@demo.example'"),
            "demo.p100");
  EXPECT_EQ(db.count("SELECT count(*) FROM radcheck WHERE username = "
                     "'s02@demo.example' AND attribute = 'Auth-Type'"),
            0);
  EXPECT_EQ(db.count("SELECT count(*) FROM radcheck WHERE username = "
                     "'s03@demo.example' AND attribute = 'Auth-Type' "
                     "AND value = 'Reject'"),
            1);
  // s08's password row is back exactly as provisioned: its password
  // authenticates again.
  EXPECT_EQ(db.value("SELECT string_agg(attribute || op || value, ',') "
                     "FROM radcheck WHERE username = 's08@demo.example'"),
            s08_rows);
  auto s08_pw = db.query("SELECT attribute, op, value FROM radcheck "
                         "WHERE username = 's08@demo.example'");
  ASSERT_EQ(s08_pw.size(), 1u);
  EXPECT_TRUE(radius::password_matches(
    radius::sql_attribute{*s08_pw[0][0], *s08_pw[0][1], *s08_pw[0][2]},
    "pw-s08-51c2e8"));
  EXPECT_EQ(admin_of(onus[3].first), voltha::admin_state::enabled);
  EXPECT_EQ(admin_of(onus[4].first), voltha::admin_state::disabled);
  EXPECT_EQ(admin_of(s07_onu), voltha::admin_state::enabled);
  EXPECT_TRUE(programmed(onus[6].second));
  EXPECT_EQ(nas->disconnected.load(), 1);
  EXPECT_EQ(db.count("SELECT count(*) FROM radacct WHERE acctstoptime IS "
                     "NULL AND username = 's09@demo.example'"),
            0);
  // Unrepairable kinds are marked with the reason; no saga touched them.
  EXPECT_EQ(stored(sum->id, "unrepairable IS NOT NULL"), unrepairable());
  EXPECT_NE(db.value("SELECT unrepairable FROM drift_findings WHERE "
                     "subscriber_id = 's06'")
              .find("re-send the activation"),
            std::string::npos);
  EXPECT_EQ(
    db.count("SELECT count(*) FROM sagas WHERE subscriber_id IN ('s06')"), 0);
  // The repairs' step calls were keyed as the lifecycle sagas' are.
  EXPECT_EQ(db.count("SELECT count(*) FROM sagas s WHERE s.name = 'repair' "
                     "AND s.causation = (SELECT i.event_id FROM inbox i "
                     "WHERE i.saga_id = s.id)"),
            8);
  // One drift.repaired per repair, on saga.events.v1, as its schema says.
  auto rows = db.query("SELECT convert_from(value, 'UTF8') FROM outbox_records "
                       "WHERE headers::text LIKE '%drift.repaired%'");
  EXPECT_EQ(rows.size(), 8u);
  for (auto& row : rows)
    EXPECT_EQ(events::schema_registry::builtin().validate("drift.repaired",
                                                          *row[0]),
              std::nullopt)
      << *row[0];
  EXPECT_EQ(db.count("SELECT count(*) FROM outbox_records WHERE topic <> "
                     "'saga.events.v1'"),
            0);
  // The repairs' saga.* events as their schemas say.
  auto saga_events = db.query(
    "SELECT h->>'text', convert_from(o.value, 'UTF8') FROM outbox_records o, "
    "jsonb_array_elements(o.headers) h WHERE h->>'key' = 'ce_type' "
    "AND h->>'text' LIKE 'saga.%'");
  EXPECT_GE(saga_events.size(), 8u * 3);
  for (auto& row : saga_events)
    EXPECT_EQ(events::schema_registry::builtin().validate(*row[0], *row[1]),
              std::nullopt)
      << *row[0] << " " << *row[1];
  // The records are unchanged (a repair restores the network to them), but
  // for s07's ONU: the record names the device its serial is on now.
  for (auto& [sub, rec] : before) {
    if (sub != "s07") {
      EXPECT_EQ(record(sub), rec) << sub;
    }
  }
  EXPECT_EQ(db.value("SELECT onu_id || ' ' || (profile->>'onu_id') || ' ' "
                     "|| state || ' ' || plan_id FROM subscribers WHERE id = "
                     "'s07'"),
            s07_onu + " " + s07_onu + " active p100");
  EXPECT_EQ(db.count("SELECT count(*) FROM subscribers WHERE last_saga_name "
                     "= 'repair' AND state IN ('active', 'suspended')"),
            8);
  // A second scan finds only what no repair can fix.
  auto again = scanner->run({});
  ASSERT_TRUE(again);
  EXPECT_EQ(stored(again->id), unrepairable());
  EXPECT_EQ(again->repairs, 0);
  // ispflowctl drift show: each finding's repair saga, or why none.
  using namespace actors::admin;
  admin_settings settings;
  settings.port = 0;
  settings.tokens
    = {{"ops", sha256_hex("ops-0123456789"), {"admin"}, std::nullopt}};
  metrics_registry metrics;
  admin_deps deps;
  deps.dsn = db.dsn();
  deps.metrics = &metrics;
  auto srv = admin_server::make(settings, deps);
  ASSERT_TRUE(srv) << ispflow::render_error(srv.error());
  auto port = (*srv)->start();
  ASSERT_TRUE(port);
  auto url = "--url http://127.0.0.1:" + std::to_string(*port);
  auto [rc, table] = ctl(url + " drift show " + sum->id);
  EXPECT_EQ(rc, 0) << table;
  auto s01 = db.value("SELECT id FROM sagas WHERE subscriber_id = 's01'");
  EXPECT_NE(table.find("saga " + s01 + " completed"), std::string::npos)
    << table;
  EXPECT_NE(table.find("unrepairable: ispflow keeps no password hash"),
            std::string::npos)
    << table;
  auto [rc2, shown] = ctl(url + " sagas show " + s01);
  EXPECT_EQ(rc2, 0) << shown;
  EXPECT_NE(shown.find("set_plan_group"), std::string::npos) << shown;
  (*srv)->stop();
}

TEST_F(drift_repair, repair_is_off_unless_asked_for) {
  seed();
  drift_everything();
  make_scanner();
  boot();
  auto sum = scanner->run({});
  ASSERT_TRUE(sum);
  EXPECT_EQ(stored(sum->id), everything_drifted());
  EXPECT_EQ(sum->repairs, 0);
  EXPECT_EQ(db.count("SELECT count(*) FROM inbox"), 0);
  // Unrepairable differences are marked all the same.
  EXPECT_EQ(stored(sum->id, "unrepairable IS NOT NULL"), unrepairable());
  std::this_thread::sleep_for(300ms); // a few router polls
  EXPECT_EQ(db.count("SELECT count(*) FROM sagas"), 0);
}

TEST_F(drift_repair, repair_with_dry_run_is_refused_naming_both) {
  make_scanner();
  drift::scan_request req;
  req.repair = true;
  req.dry_run = true;
  auto refused = scanner->start(req);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::invalid_input);
  auto text = render_error(refused.error());
  EXPECT_NE(text.find("repair"), std::string::npos) << text;
  EXPECT_NE(text.find("dry_run"), std::string::npos) << text;
  EXPECT_EQ(db.count("SELECT count(*) FROM drift_scans"), 0);
  auto parsed = actors::admin::detail::parse_drift_scan_order(
    R"({"repair":true,"dry_run":true})");
  ASSERT_TRUE(std::holds_alternative<std::string>(parsed));
  auto why = std::get<std::string>(parsed);
  EXPECT_NE(why.find("repair"), std::string::npos) << why;
  EXPECT_NE(why.find("dry_run"), std::string::npos) << why;
}

TEST_F(drift_repair, a_repair_whose_subscriber_changed_state_is_refused) {
  seed();
  drift_everything();
  make_scanner();
  drift::scan_request req;
  req.repair = true;
  auto sum = scanner->run(req);
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->repairs, 8);
  EXPECT_EQ(db.count("SELECT count(*) FROM inbox WHERE type = "
                     "'ispflow.drift.repair'"),
            8);
  // A second scan while they wait queues no second repair.
  auto again = scanner->run(req);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->repairs, 0);
  EXPECT_EQ(db.count("SELECT count(*) FROM drift_findings WHERE scan_id = '"
                     + again->id + "' AND repair LIKE 'not started%'"),
            8);
  // Billing suspended s02 meanwhile: restoring its plan would lift that.
  db.query("UPDATE subscribers SET state = 'suspended' WHERE id = 's02'");
  boot();
  EXPECT_EQ(db.await_count("SELECT count(*) FROM sagas WHERE name = 'repair' "
                           "AND state = 'completed'",
                           7),
            7);
  EXPECT_EQ(db.await_count("SELECT count(*) FROM inbox WHERE subscriber_id = "
                           "'s02' AND skipped_reason = 'drift_repair_stale'",
                           1),
            1);
  EXPECT_EQ(db.count("SELECT count(*) FROM sagas WHERE subscriber_id = 's02'"),
            0);
  // Its reject stays: nothing touched it.
  EXPECT_EQ(db.count("SELECT count(*) FROM radcheck WHERE username = "
                     "'s02@demo.example' AND attribute = 'Auth-Type'"),
            1);
}

TEST_F(drift_repair, a_replaced_onu_gets_its_service_and_the_record_its_id) {
  seed();
  // s04 (active) and s05 (suspended, its ONU disabled by the policy): each
  // ONU deleted and discovered again under a new device id, as a new ONU
  // comes up (enabled).
  ASSERT_TRUE(client()->enable_device(onus[4].first, 2s).ok());
  auto s04_onu = replace_onu(onus[3].second);
  auto s05_onu = replace_onu(onus[4].second);
  ASSERT_FALSE(s04_onu.empty());
  ASSERT_FALSE(s05_onu.empty());
  ASSERT_NE(s04_onu, onus[3].first);
  EXPECT_FALSE(programmed(onus[3].second));
  make_scanner();
  boot();
  drift::scan_request req;
  req.repair = true;
  auto sum = scanner->run(req);
  ASSERT_TRUE(sum) << to_string(sum.error());
  EXPECT_EQ(sum->state, "completed") << sum->error;
  EXPECT_EQ(stored(sum->id),
            (found_set{{"s04", "onu_replaced"}, {"s05", "onu_replaced"}}));
  EXPECT_TRUE(sum->unrepairable.empty());
  EXPECT_EQ(sum->repairs, 2);
  EXPECT_EQ(db.await_count("SELECT count(*) FROM sagas WHERE name = 'repair' "
                           "AND state = 'completed'",
                           2),
            2);
  EXPECT_EQ(db.value("SELECT string_agg(s.subscriber_id || ':' || st.name, ','"
                     " ORDER BY s.subscriber_id, st.idx) FROM sagas s JOIN "
                     "saga_steps st ON st.saga_id = s.id WHERE s.name = "
                     "'repair' AND st.state = 'succeeded'"),
            "s04:provision_onu_service,s04:enable_onu,"
            "s05:provision_onu_service,s05:disable_onu");
  // The service is on the new devices, each in the state its subscriber's
  // record wants.
  EXPECT_TRUE(programmed(onus[3].second));
  EXPECT_TRUE(programmed(onus[4].second));
  EXPECT_EQ(admin_of(s04_onu), voltha::admin_state::enabled);
  EXPECT_EQ(admin_of(s05_onu), voltha::admin_state::disabled);
  // The records name the new devices (column and profile), nothing else
  // changed.
  for (auto& [sub, onu, state] : {std::tuple{"s04", s04_onu, "active"},
                                  std::tuple{"s05", s05_onu, "suspended"}})
    EXPECT_EQ(db.value("SELECT onu_id || ' ' || (profile->>'onu_id') || ' ' "
                       "|| state || ' ' || plan_id || ' ' || last_saga_name "
                       "FROM subscribers WHERE id = '"
                       + std::string{sub} + "'"),
              onu + " " + onu + " " + state + " p100 repair")
      << sub;
  // A second scan finds nothing.
  auto again = scanner->run({});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->state, "completed") << again->error;
  EXPECT_EQ(stored(again->id), found_set{});
  EXPECT_EQ(again->findings, 0);
}

TEST_F(drift_repair, an_onu_no_device_carries_stays_unrepairable) {
  seed();
  // s04's ONU deleted: no device carries its serial until the OLT
  // discovers it again.
  ASSERT_TRUE(client()->delete_device(onus[3].first, 2s).ok());
  make_scanner();
  boot();
  drift::scan_request req;
  req.repair = true;
  auto sum = scanner->run(req);
  ASSERT_TRUE(sum) << to_string(sum.error());
  EXPECT_EQ(stored(sum->id), (found_set{{"s04", "onu_missing"}}));
  EXPECT_EQ(sum->repairs, 0);
  EXPECT_NE(db.value("SELECT unrepairable FROM drift_findings WHERE "
                     "subscriber_id = 's04'")
              .find("discovered by its OLT"),
            std::string::npos);
  EXPECT_EQ(db.count("SELECT count(*) FROM inbox"), 0);
}

// NetBox and GenieACS: addresses deleted, edited or given to another
// subscriber and a CPE tag removed by hand; a scan with repair runs the
// NetBox and GenieACS steps (the real adapters against the simulators,
// behind the shared guard); a second scan finds only the address no repair
// may take.
namespace {

constexpr const char* nb_token = "0123456789abcdef0123456789abcdef01234567";

struct drift_repair_ipam : ::testing::Test {
  ispflow::testing::scratch_database db;
  caf::actor_system_config cfg;
  caf::actor_system sys{with_types(cfg)};
  adapters::http::http_actor http;
  std::unique_ptr<ispflow::sim::netbox::server> netbox;
  std::unique_ptr<ispflow::sim::genieacs::server> acs;
  std::shared_ptr<res::guard> guard = std::make_shared<res::guard>();
  sagas::saga_registry registry;
  std::vector<caf::actor> actors_;
  adapters::api::adapter_actor netbox_adapter;
  adapters::api::adapter_actor genieacs_adapter;
  actors::saga_router_actor router;
  std::unique_ptr<drift::scanner> scanner;
  // NetBox address (id, address without /len) and CPE id by subscriber.
  std::map<std::string, std::pair<int64_t, std::string>> addresses;
  std::map<std::string, std::string> cpes;

  drift_repair_ipam() {
    EXPECT_TRUE(adapters::postgres::apply_migrations(db.dsn()));
    EXPECT_EQ(sagas::register_repair_saga(registry), std::nullopt);
    db.query("INSERT INTO tenants (id, name) VALUES ('demo', 'Demo')");
    http = adapters::http::spawn_http_actor(sys);
    actors_.push_back(caf::actor_cast<caf::actor>(http));
    auto nb = ispflow::sim::netbox::server::start({});
    EXPECT_TRUE(nb);
    netbox = std::move(*nb);
    auto a = ispflow::sim::genieacs::server::start({});
    EXPECT_TRUE(a);
    acs = std::move(*a);
    adapters::netbox::adapter_settings ns;
    ns.tenants.emplace("demo", tenant().netbox_settings);
    netbox_adapter = caf::actor_cast<adapters::api::adapter_actor>(
      adapters::netbox::spawn_netbox_adapter(sys, std::move(ns), http, guard));
    actors_.push_back(caf::actor_cast<caf::actor>(netbox_adapter));
    adapters::genieacs::adapter_settings gs;
    gs.tenants.emplace("demo", tenant().genieacs_settings);
    genieacs_adapter = caf::actor_cast<adapters::api::adapter_actor>(
      adapters::genieacs::spawn_genieacs_adapter(sys, std::move(gs), http,
                                                 guard));
    actors_.push_back(caf::actor_cast<caf::actor>(genieacs_adapter));
  }

  ~drift_repair_ipam() override {
    if (scanner)
      scanner->stop();
    caf::scoped_actor self{sys};
    if (router)
      actors_.push_back(caf::actor_cast<caf::actor>(router));
    for (auto& x : actors_)
      self->send_exit(x, caf::exit_reason::kill);
    self->wait_for(actors_);
    if (netbox)
      netbox->stop();
    if (acs)
      acs->stop();
  }

  drift::tenant_view tenant() const {
    drift::tenant_view t;
    t.tenant_id = "demo";
    t.netbox = t.genieacs = true;
    t.netbox_settings.base_url = "http://127.0.0.1:"
                                 + std::to_string(netbox->port());
    t.netbox_settings.token = nb_token;
    t.netbox_settings.tenant_slug = "demo";
    t.netbox_settings.call_timeout = 5s;
    t.genieacs_settings.base_url = "http://127.0.0.1:"
                                   + std::to_string(acs->port());
    t.cpe_tags = {"ispflow"};
    return t;
  }

  httplib::Client netbox_client() {
    httplib::Client c{"127.0.0.1", netbox->port()};
    c.set_default_headers({{"Authorization", std::string{"Token "} + nb_token},
                           {"Accept", "application/json"}});
    return c;
  }

  httplib::Client nbi() {
    return httplib::Client{"127.0.0.1", acs->port()};
  }

  // An active subscriber as an activation leaves it: an address of prefix
  // 2 (100.64.0.8/29) and a CPE tagged "ispflow"; `with_prefix` keeps the
  // allocation's prefix in the profile, as allocate_ip's output does.
  void add_subscriber(const std::string& sub, bool with_prefix) {
    auto c = netbox_client();
    auto r = c.Post("/api/ipam/prefixes/2/available-ips/",
                    R"({"tenant":1,"status":"active","custom_fields":)"
                    R"({"subscriber_id":")"
                      + sub + "\"}}",
                    "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    std::string address = doc["address"].GetString();
    auto ip = address.substr(0, address.find('/'));
    addresses[sub] = {doc["id"].GetInt64(), ip};
    ispflow::sim::genieacs::device_seed seed;
    seed.oui = "00259E";
    seed.product_class = "HG8245";
    seed.serial = "CPE" + sub;
    auto cpe = acs->add_device(seed);
    cpes[sub] = cpe;
    auto tag = nbi().Post(adapters::genieacs::tag_url("", cpe, "ispflow"), "",
                          "text/plain");
    ASSERT_TRUE(tag);
    ASSERT_EQ(tag->status, 200);
    db.query("INSERT INTO subscribers (tenant_id, id, state, plan_id, "
             "service_type, ip_address, cpe_id, profile, version) VALUES "
             "('demo', '"
             + sub + "', 'active', 'p100', 'fixed', '" + ip + "', '" + cpe
             + "', jsonb_build_object('plan_id', 'p100', 'service_type', "
               "'fixed', 'ip_address', '"
             + ip + "', 'cpe_id', '" + cpe + "'"
             + (with_prefix ? ", 'prefix', '100.64.0.8/29'" : "") + "), 1)");
  }

  void make_scanner() {
    drift::scanner_settings s;
    s.dsn = db.dsn();
    s.tenants = {tenant()};
    s.page_size = 2; // several pages
    s.guard = guard;
    s.http = http;
    auto made = drift::scanner::make(sys, std::move(s));
    ASSERT_TRUE(made);
    scanner = std::move(*made);
  }

  void boot() {
    actors::pg_saga_store_settings ss;
    ss.dsn = db.dsn();
    ss.registry = &registry;
    auto store = actors::spawn_pg_saga_store(sys, ss);
    actors_.push_back(caf::actor_cast<caf::actor>(store));
    auto timer = actors::spawn_timer(sys);
    actors_.push_back(caf::actor_cast<caf::actor>(timer));
    actors::saga_router_settings rs;
    rs.registry = &registry;
    rs.store = store;
    rs.timer = timer;
    rs.poll_interval = 100ms;
    rs.adapters.set_actor(target_system::netbox, netbox_adapter);
    rs.adapters.set_actor(target_system::genieacs, genieacs_adapter);
    sagas::tenant_profile profile;
    profile.systems = {target_system::netbox, target_system::genieacs};
    rs.adapters.set_tenant("demo", profile);
    router = actors::spawn_saga_router(sys, std::move(rs));
  }

  found_set stored(const std::string& scan_id) {
    found_set out;
    for (auto& row : db.query("SELECT subscriber_id, kind FROM drift_findings "
                              "WHERE scan_id = '"
                              + scan_id + "'"))
      out.emplace(*row[0], *row[1]);
    return out;
  }

  // NetBox's addresses of `sub` (custom field), without /len, sorted.
  std::set<std::string> addresses_of(const std::string& sub) {
    std::set<std::string> out;
    for (auto& a : netbox->ip_addresses())
      if (a.custom_fields["subscriber_id"] == "\"" + sub + "\"")
        out.insert(a.address.substr(0, a.address.find('/')));
    return out;
  }

  std::string tags_of(const std::string& sub) {
    auto res = nbi().Get(adapters::genieacs::query_url(
      "", "devices", adapters::genieacs::field_query("_id", cpes[sub]),
      "_tags"));
    if (!res || res->status != 200)
      return "unreadable";
    auto tags = adapters::genieacs::parse_tags(res->body);
    if (!tags || !*tags)
      return "none";
    std::string out;
    for (auto& t : **tags)
      out += (out.empty() ? "" : ",") + t;
    return out;
  }
};

} // namespace

TEST_F(drift_repair_ipam, netbox_addresses_and_cpe_tags_are_repaired) {
  // n01 stays as it is; n02..n04 and c01 drift.
  for (auto sub : {"n01", "n02", "n03", "n04", "c01"})
    add_subscriber(sub, std::string{sub} != "n03");
  auto nb = netbox_client();
  // n02: its address deleted.
  auto del = nb.Delete("/api/ipam/ip-addresses/"
                       + std::to_string(addresses["n02"].first) + "/");
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 204);
  // n03: its address edited to another one.
  auto edit = nb.Patch("/api/ipam/ip-addresses/"
                         + std::to_string(addresses["n03"].first) + "/",
                       R"({"address":"100.64.0.99/29"})", "application/json");
  ASSERT_TRUE(edit);
  ASSERT_EQ(edit->status, 200) << edit->body;
  // n04: its address given to someone else.
  auto given = nb.Patch(
    "/api/ipam/ip-addresses/" + std::to_string(addresses["n04"].first) + "/",
    R"({"custom_fields":{"subscriber_id":"x99"}})", "application/json");
  ASSERT_TRUE(given);
  ASSERT_EQ(given->status, 200) << given->body;
  // c01: the CPE's tag removed.
  auto untag
    = nbi().Delete(adapters::genieacs::tag_url("", cpes["c01"], "ispflow"));
  ASSERT_TRUE(untag);
  ASSERT_EQ(untag->status, 200);
  make_scanner();
  boot();
  drift::scan_request req;
  req.repair = true;
  auto sum = scanner->run(req);
  ASSERT_TRUE(sum) << to_string(sum.error());
  EXPECT_EQ(sum->state, "completed") << sum->error;
  EXPECT_TRUE(sum->unobserved.empty());
  EXPECT_EQ(stored(sum->id), (found_set{{"n02", "netbox_ip_missing"},
                                        {"n03", "netbox_ip_mismatch"},
                                        {"n04", "netbox_ip_missing"},
                                        {"c01", "cpe_tag_mismatch"}}));
  EXPECT_TRUE(sum->unrepairable.empty());
  EXPECT_EQ(sum->repairs, 4);
  // Three repairs complete; n04's address belongs to x99 and is not taken.
  EXPECT_EQ(db.await_count("SELECT count(*) FROM sagas WHERE name = 'repair' "
                           "AND state IN ('completed', 'compensated')",
                           4),
            4);
  EXPECT_EQ(db.value("SELECT string_agg(subscriber_id || ':' || state, ',' "
                     "ORDER BY subscriber_id) FROM sagas"),
            "c01:completed,n02:completed,n03:completed,n04:compensated");
  EXPECT_EQ(db.value("SELECT string_agg(s.subscriber_id || ':' || st.name, ','"
                     " ORDER BY s.subscriber_id, st.idx) FROM sagas s JOIN "
                     "saga_steps st ON st.saga_id = s.id WHERE s.name = "
                     "'repair' AND st.state = 'succeeded'"),
            "c01:tag_cpe,n02:assign_ip,n03:assign_ip,n03:release_stray_ips");
  EXPECT_NE(db.value("SELECT st.last_error FROM sagas s JOIN saga_steps st ON "
                     "st.saga_id = s.id WHERE s.subscriber_id = 'n04' AND "
                     "st.name = 'assign_ip'")
              .find("belongs to subscriber x99"),
            std::string::npos);
  // NetBox and GenieACS match the records again, but for n04.
  EXPECT_EQ(addresses_of("n01"),
            std::set<std::string>{addresses["n01"].second});
  EXPECT_EQ(addresses_of("n02"),
            std::set<std::string>{addresses["n02"].second});
  EXPECT_EQ(addresses_of("n03"),
            std::set<std::string>{addresses["n03"].second});
  EXPECT_TRUE(addresses_of("n04").empty());
  EXPECT_EQ(addresses_of("x99"),
            std::set<std::string>{addresses["n04"].second});
  EXPECT_EQ(tags_of("c01"), "ispflow");
  // The address came back at its prefix's length (from the profile for n02,
  // from the tenant's prefixes for n03), keyed as every saga step is.
  auto n02 = db.value("SELECT id FROM sagas WHERE subscriber_id = 'n02'");
  for (auto& a : netbox->ip_addresses())
    if (a.custom_fields["subscriber_id"] == "\"n02\"") {
      EXPECT_EQ(a.address, addresses["n02"].second + "/29");
      EXPECT_EQ(a.tenant_id, 1);
      EXPECT_EQ(a.custom_fields["idempotency_key"],
                "\"" + n02 + "/assign_ip/0\"");
    }
  // A second scan finds only what the repair would not take.
  auto again = scanner->run({});
  ASSERT_TRUE(again);
  EXPECT_EQ(stored(again->id), (found_set{{"n04", "netbox_ip_missing"}}));
  // The records are unchanged.
  EXPECT_EQ(db.count("SELECT count(*) FROM subscribers WHERE state = 'active' "
                     "AND ip_address IS NOT NULL AND cpe_id IS NOT NULL"),
            5);
}
