// Sealed credentials end to end: an activation's RADIUS provisioning keeps
// the subscriber's password sealed (schema/0018), the CPE is configured as
// an activation does; its owner factory-resets it behind ispflow's back (its
// PPPoE username, password and tags gone); a scan with repair finds
// cpe_param_mismatch and cpe_tag_mismatch, the repair saga (PostgreSQL saga
// store, the real GenieACS adapter behind the credential opener, against the
// simulator) configures the CPE again with the unsealed password, and a
// second scan finds nothing. The password is in no table afterwards. Without
// a sealing key the kind stays unrepairable with its reason.

#include "actors/drift/scanner.hpp"
#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/timer.hpp"
#include "adapters/genieacs/adapter.hpp"
#include "adapters/genieacs/settings.hpp"
#include "adapters/genieacs/wire.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/radius/radius_adapter.hpp"
#include "adapters/radius/sealed_credentials.hpp"
#include "adapters/resilience/guard.hpp"
#include "common/seal.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sagas/repair_saga.hpp"
#include "sim/genieacs/server.hpp"
#include "tests/support/scratch_database.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <gtest/gtest.h>
#include <httplib.h>
#include <set>

namespace {

using namespace std::chrono_literals;
using namespace ispflow;
namespace drift = ispflow::actors::drift;
namespace res = ispflow::adapters::resilience;
namespace radius = ispflow::adapters::radius;
namespace acs = ispflow::adapters::genieacs;
using sagas::target_system;

using found_set = std::set<std::pair<std::string, std::string>>;

constexpr const char* password = "Pppoe-Sealed-7f3a91";
constexpr const char* user = "s01@demo.example";

caf::actor_system_config& with_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

struct drift_seal : ::testing::Test {
  ispflow::testing::scratch_database db;
  caf::actor_system_config cfg;
  caf::actor_system sys{with_types(cfg)};
  adapters::http::http_actor http;
  std::unique_ptr<ispflow::sim::genieacs::server> sim;
  std::shared_ptr<res::guard> guard = std::make_shared<res::guard>();
  sagas::saga_registry registry;
  std::vector<caf::actor> actors_;
  std::shared_ptr<const common::keyring> keys;
  adapters::api::adapter_actor radius_adapter;
  adapters::api::adapter_actor genieacs_adapter;
  actors::saga_router_actor router;
  std::unique_ptr<drift::scanner> scanner;
  std::string cpe;

  drift_seal() {
    EXPECT_TRUE(adapters::postgres::apply_migrations(db.dsn()));
    EXPECT_EQ(sagas::register_repair_saga(registry), std::nullopt);
    db.query("INSERT INTO tenants (id, name) VALUES ('demo', 'Demo')");
    http = adapters::http::spawn_http_actor(sys);
    actors_.push_back(caf::actor_cast<caf::actor>(http));
    auto a = ispflow::sim::genieacs::server::start({});
    EXPECT_TRUE(a);
    sim = std::move(*a);
  }

  ~drift_seal() override {
    if (scanner)
      scanner->stop();
    caf::scoped_actor self{sys};
    if (router)
      actors_.push_back(caf::actor_cast<caf::actor>(router));
    for (auto& x : actors_)
      self->send_exit(x, caf::exit_reason::kill);
    self->wait_for(actors_);
    if (sim)
      sim->stop();
  }

  // The adapters as ispflowd wires them: RADIUS sealing with `keys`, the
  // GenieACS adapter behind the credential opener.
  void start_adapters(bool with_key, radius::password_storage storage
                                     = radius::password_storage::ssha2_512) {
    if (with_key) {
      auto ring = common::keyring::make(
        {std::string(32, '\x11'), std::string(32, '\x22')});
      ASSERT_TRUE(ring);
      keys = *ring;
    }
    radius::adapter_config rc;
    rc.dsn = db.dsn();
    radius::tenant_settings t;
    t.tenant_id = "demo";
    t.passwords = storage;
    radius::plan p100;
    p100.id = "p100";
    p100.radius_group = "demo.p100";
    p100.download_kbps = 100'000;
    p100.upload_kbps = 20'000;
    t.plans = {p100};
    rc.tenants = {t};
    rc.sql_connections = 0;
    rc.seal = keys;
    radius_adapter = radius::spawn_radius_adapter(sys, std::move(rc));
    actors_.push_back(caf::actor_cast<caf::actor>(radius_adapter));
    acs::adapter_settings gs;
    gs.tenants.emplace("demo", tenant().genieacs_settings);
    auto inner = caf::actor_cast<adapters::api::adapter_actor>(
      acs::spawn_genieacs_adapter(sys, std::move(gs), http, guard));
    actors_.push_back(caf::actor_cast<caf::actor>(inner));
    genieacs_adapter = radius::spawn_credential_opener(
      sys, inner, radius::opener_config{db.dsn(), keys});
    actors_.push_back(caf::actor_cast<caf::actor>(genieacs_adapter));
  }

  drift::tenant_view tenant() const {
    drift::tenant_view t;
    t.tenant_id = "demo";
    t.radius = t.genieacs = true;
    t.genieacs_settings.base_url = "http://127.0.0.1:"
                                   + std::to_string(sim->port());
    t.cpe_tags = {"ispflow"};
    return t;
  }

  events::adapter_reply call(const adapters::api::adapter_actor& a,
                             const std::string& op, events::string_map input) {
    caf::scoped_actor self{sys};
    events::adapter_request req;
    req.tenant_id = "demo";
    req.subscriber_id = "s01";
    req.system = op.substr(0, op.find('.'));
    req.operation = op;
    req.idempotency_key = "act-1/" + op + "/0";
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

  // s01 as its activation leaves it: the RADIUS account (password sealed
  // when a key is configured), the CPE configured with the PPPoE username
  // and password and tagged, and the record.
  void activate() {
    auto prov = call(radius_adapter, "radius.provision",
                     {{"credentials.username", user},
                      {"credentials.password", password},
                      {"plan_id", "p100"}});
    ASSERT_EQ(prov.outcome, events::adapter_outcome::succeeded) << prov.error;
    ispflow::sim::genieacs::device_seed seed;
    seed.oui = "00259E";
    seed.product_class = "HG8245";
    seed.serial = "CPE0001";
    cpe = sim->add_device(seed);
    events::string_map profile{{"access.cpe.serial", "CPE0001"},
                               {"access.cpe.oui", "00259E"},
                               {"access.cpe.product_class", "HG8245"},
                               {"credentials.username", user}};
    auto input = profile;
    input["credentials.password"] = password;
    auto conf = call(genieacs_adapter, "genieacs.configure_cpe", input);
    ASSERT_EQ(conf.outcome, events::adapter_outcome::succeeded) << conf.error;
    ASSERT_EQ(sim->parameter(cpe, acs::tr098_pppoe_password), password);
    httplib::Client nbi{"127.0.0.1", sim->port()};
    auto tag = nbi.Post(acs::tag_url("", cpe, "ispflow"), "", "text/plain");
    ASSERT_TRUE(tag);
    ASSERT_EQ(tag->status, 200);
    std::string json;
    for (auto& [k, v] : profile)
      json += ", '" + k + "', '" + v + "'";
    db.query("INSERT INTO subscribers (tenant_id, id, state, plan_id, "
             "service_type, radius_username, cpe_id, profile, version) "
             "VALUES ('demo', 's01', 'active', 'p100', 'fixed', '"
             + std::string{user} + "', '" + cpe
             + "', jsonb_build_object('plan_id', 'p100', 'service_type', "
               "'fixed', 'cpe_id', '"
             + cpe + "'" + json + "), 1)");
  }

  // The owner's factory reset: a factoryReset task straight to the NBI.
  void factory_reset() {
    httplib::Client nbi{"127.0.0.1", sim->port()};
    auto r = nbi.Post(acs::task_url("", cpe, 2s), R"({"name":"factoryReset"})",
                      "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    ASSERT_EQ(sim->parameter(cpe, acs::tr098_pppoe_username), "");
    ASSERT_EQ(sim->parameter(cpe, acs::tr098_pppoe_password), "");
  }

  void make_scanner() {
    drift::scanner_settings s;
    s.dsn = db.dsn();
    s.tenants = {tenant()};
    s.guard = guard;
    s.http = http;
    if (keys)
      s.seal_key_ids = keys->key_ids();
    auto made = drift::scanner::make(sys, std::move(s));
    ASSERT_TRUE(made);
    scanner = std::move(*made);
  }

  void boot(bool with_radius = false) {
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
    rs.adapters.set_actor(target_system::genieacs, genieacs_adapter);
    sagas::tenant_profile profile;
    profile.systems = {target_system::genieacs};
    if (with_radius) {
      rs.adapters.set_actor(target_system::radius, radius_adapter);
      profile.systems.insert(target_system::radius);
    }
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
};

} // namespace

TEST_F(drift_seal,
       a_factory_reset_cpe_is_configured_again_from_the_sealed_password) {
  start_adapters(true);
  activate();
  // The account keeps the password sealed with the first key, never in
  // clear.
  auto sealed = db.value("SELECT password_sealed FROM radius_accounts");
  EXPECT_EQ(sealed.rfind("v1:" + keys->sealing_key_id() + ":", 0), 0u);
  EXPECT_EQ(sealed.find(password), std::string::npos);
  // Provisioning again with the same password keeps the blob (no new nonce).
  auto again = call(radius_adapter, "radius.provision",
                    {{"credentials.username", user},
                     {"credentials.password", password},
                     {"plan_id", "p100"}});
  ASSERT_EQ(again.outcome, events::adapter_outcome::succeeded) << again.error;
  EXPECT_EQ(again.outputs["changed"], "false");
  EXPECT_EQ(db.value("SELECT password_sealed FROM radius_accounts"), sealed);
  make_scanner();
  auto clean = scanner->run({});
  ASSERT_TRUE(clean);
  EXPECT_EQ(clean->findings, 0);
  factory_reset();
  boot();
  drift::scan_request req;
  req.repair = true;
  auto sum = scanner->run(req);
  ASSERT_TRUE(sum) << to_string(sum.error());
  EXPECT_EQ(sum->state, "completed") << sum->error;
  EXPECT_EQ(stored(sum->id), (found_set{{"s01", "cpe_param_mismatch"},
                                        {"s01", "cpe_tag_mismatch"}}));
  EXPECT_TRUE(sum->unrepairable.empty());
  EXPECT_EQ(sum->repairs, 1);
  // The repair event never carries the password: it names the sealed one
  // ("sealed", itself dropped from the event once its saga starts, which
  // may already have happened), and the CPE gets it below.
  EXPECT_EQ(db.count(std::string{"SELECT count(*) FROM inbox WHERE type = "
                                 "'ispflow.drift.repair' AND payload::text "
                                 "LIKE '%"}
                     + password + "%'"),
            0);
  EXPECT_EQ(db.count("SELECT count(*) FROM inbox WHERE type = "
                     "'ispflow.drift.repair' AND (saga_id IS NOT NULL OR "
                     "payload->'credentials'->>'sealed' = 'radius_account')"),
            1);
  EXPECT_EQ(db.await_count("SELECT count(*) FROM sagas WHERE name = 'repair' "
                           "AND state IN ('completed', 'compensated')",
                           1),
            1);
  EXPECT_EQ(db.value("SELECT state || ' v' || version FROM sagas"),
            "completed v" + std::to_string(sagas::repair_saga_version));
  EXPECT_EQ(db.value("SELECT string_agg(st.name, ',' ORDER BY st.idx) FROM "
                     "saga_steps st WHERE st.state = 'succeeded'"),
            "tag_cpe,configure_cpe");
  // The CPE holds the subscriber's username and password again.
  EXPECT_EQ(sim->parameter(cpe, acs::tr098_pppoe_username), user);
  EXPECT_EQ(sim->parameter(cpe, acs::tr098_pppoe_password), password);
  // A second scan finds nothing.
  auto after = scanner->run({});
  ASSERT_TRUE(after);
  EXPECT_EQ(stored(after->id), found_set{});
  EXPECT_EQ(after->findings, 0);
  // No table holds the password in clear (saga rows, steps, outbox, inbox,
  // intents, radius_accounts).
  EXPECT_FALSE(db.tables_holding(user).empty()) << "the dump holds the data";
  EXPECT_EQ(db.tables_holding(password), std::set<std::string>{});
}

TEST_F(drift_seal, a_blob_copied_to_another_account_does_not_open) {
  start_adapters(true);
  activate();
  // s02's account gets s01's blob.
  db.query("INSERT INTO radius_accounts (tenant_id, subscriber_id, username, "
           "plan_group, password_sealed) SELECT 'demo', 's02', "
           "'s02@demo.example', plan_group, password_sealed FROM "
           "radius_accounts WHERE subscriber_id = 's01'");
  caf::scoped_actor self{sys};
  events::adapter_request req;
  req.tenant_id = "demo";
  req.subscriber_id = "s02";
  req.system = "genieacs";
  req.operation = "genieacs.configure_cpe";
  req.idempotency_key = "r-2/configure_cpe/0";
  req.input = {{"access.cpe.serial", "CPE0001"},
               {std::string{radius::sealed_input_key},
                std::string{radius::sealed_from_account}}};
  events::adapter_reply out;
  self->request(genieacs_adapter, 30s, invoke_atom_v, req)
    .receive([&](events::adapter_reply& r) { out = std::move(r); },
             [&](caf::error& e) { FAIL() << to_string(e); });
  EXPECT_EQ(out.outcome, events::adapter_outcome::permanent_failure);
  EXPECT_NE(out.error.find("does not open"), std::string::npos) << out.error;
  EXPECT_EQ(out.error.find(password), std::string::npos);
}

TEST_F(drift_seal, without_a_sealing_key_the_reset_cpe_stays_unrepairable) {
  start_adapters(false);
  activate();
  EXPECT_EQ(db.count("SELECT count(*) FROM radius_accounts WHERE "
                     "password_sealed IS NOT NULL"),
            0);
  factory_reset();
  make_scanner();
  boot();
  drift::scan_request req;
  req.repair = true;
  auto sum = scanner->run(req);
  ASSERT_TRUE(sum) << to_string(sum.error());
  EXPECT_EQ(stored(sum->id), (found_set{{"s01", "cpe_param_mismatch"},
                                        {"s01", "cpe_tag_mismatch"}}));
  EXPECT_EQ(sum->unrepairable,
            (std::map<std::string, int64_t>{{"cpe_param_mismatch", 1}}));
  auto reason = db.value("SELECT unrepairable FROM drift_findings WHERE kind "
                         "= 'cpe_param_mismatch'");
  EXPECT_NE(reason.find("a sealing key (credentials.seal_key_files) would "
                        "make it repairable"),
            std::string::npos)
    << reason;
  // Only the tags are repaired; the PPPoE username stays unset.
  EXPECT_EQ(db.await_count("SELECT count(*) FROM sagas WHERE name = 'repair' "
                           "AND state = 'completed'",
                           1),
            1);
  EXPECT_EQ(sim->parameter(cpe, acs::tr098_pppoe_username), "");
  auto after = scanner->run({});
  ASSERT_TRUE(after);
  EXPECT_EQ(stored(after->id), (found_set{{"s01", "cpe_param_mismatch"}}));
}

TEST_F(drift_seal,
       a_cleartext_user_deleted_by_hand_is_restored_from_the_sealed_password) {
  start_adapters(true, radius::password_storage::cleartext);
  activate();
  // Cleartext storage keeps no hash (schema/0017), only the sealed copy.
  EXPECT_EQ(db.count("SELECT count(*) FROM radius_accounts WHERE "
                     "password_value IS NULL AND password_sealed IS NOT NULL"),
            1);
  db.query("DELETE FROM radcheck");
  db.query("DELETE FROM radusergroup");
  make_scanner();
  boot(true);
  drift::scan_request req;
  req.repair = true;
  auto sum = scanner->run(req);
  ASSERT_TRUE(sum) << to_string(sum.error());
  EXPECT_EQ(stored(sum->id), (found_set{{"s01", "radius_user_missing"}}));
  EXPECT_TRUE(sum->unrepairable.empty());
  EXPECT_EQ(db.await_count("SELECT count(*) FROM sagas WHERE name = 'repair' "
                           "AND state IN ('completed', 'compensated')",
                           1),
            1);
  EXPECT_EQ(db.value("SELECT string_agg(st.name, ',' ORDER BY st.idx) FROM "
                     "saga_steps st WHERE st.state = 'succeeded'"),
            "restore_credentials,restore_plan");
  EXPECT_EQ(db.value("SELECT attribute || ' ' || op || ' ' || value FROM "
                     "radcheck WHERE username = '"
                     + std::string{user} + "'"),
            std::string{"Cleartext-Password := "} + password);
  auto after = scanner->run({});
  ASSERT_TRUE(after);
  EXPECT_EQ(stored(after->id), found_set{});
}
