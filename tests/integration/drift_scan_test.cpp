#include "actors/admin/auth.hpp"
#include "actors/admin/server.hpp"
#include "actors/drift/scanner.hpp"
#include "adapters/genieacs/wire.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/resilience/guard.hpp"
#include "adapters/voltha/device_client.hpp"
#include "events/errc.hpp"
#include "events/schema_registry.hpp"
#include "events/type_ids.hpp"
#include "sim/genieacs/server.hpp"
#include "sim/netbox/server.hpp"
#include "sim/voltha/server.hpp"
#include "tests/support/scratch_database.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <cstdio>
#include <gtest/gtest.h>
#include <httplib.h>
#include <map>
#include <rapidjson/document.h>
#include <set>
#include <thread>
#include <tuple>

namespace {

using namespace std::chrono_literals;
using namespace ispflow;
namespace drift = ispflow::actors::drift;
namespace res = ispflow::adapters::resilience;
namespace nsim = ispflow::sim;

constexpr const char* token = "0123456789abcdef0123456789abcdef01234567";
constexpr const char* tr098_user
  = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1."
    "WANPPPConnection.1.Username";

caf::actor_system_config& with_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

// POST /v1/drift/scans through the scanner (as ispflowd wires it).
class scanner_control : public actors::admin::drift_control {
public:
  explicit scanner_control(drift::scanner* s) : scanner_(s) {
    // nop
  }

  caf::expected<std::string>
  start_scan(const actors::admin::drift_scan_order& x) override {
    drift::scan_request req;
    req.tenant_id = x.tenant;
    req.systems = x.systems;
    req.dry_run = x.dry_run;
    req.repair = x.repair;
    return scanner_->start(std::move(req));
  }

private:
  drift::scanner* scanner_;
};

// Runs ispflowctl with `args`; its exit code and standard output.
std::pair<int, std::string> ctl(const std::string& bearer,
                                const std::string& args) {
  auto cmd = "ISPFLOW_TOKEN=" + bearer + " " + std::string{ISPFLOWCTL} + " "
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

// (subscriber, kind) pairs of a scan's stored findings.
using found_set = std::set<std::pair<std::string, std::string>>;

struct drift_scan : ::testing::Test {
  ispflow::testing::scratch_database db;
  caf::actor_system_config cfg;
  caf::actor_system sys{with_types(cfg)};
  adapters::http::http_actor http;
  std::unique_ptr<nsim::netbox::server> netbox;
  std::unique_ptr<nsim::genieacs::server> acs;
  std::unique_ptr<nsim::voltha::server> voltha;
  std::shared_ptr<res::guard> guard = std::make_shared<res::guard>();
  std::unique_ptr<drift::scanner> scanner;
  // The ONUs the simulator discovered: (id, serial).
  std::vector<std::pair<std::string, std::string>> onus;
  // NetBox address id and address by subscriber.
  std::map<std::string, std::pair<int64_t, std::string>> addresses;
  // GenieACS device id by subscriber.
  std::map<std::string, std::string> cpes;

  drift_scan() {
    auto applied = adapters::postgres::apply_migrations(db.dsn());
    EXPECT_TRUE(applied);
    http = adapters::http::spawn_http_actor(sys);
    auto nb = nsim::netbox::server::start({});
    EXPECT_TRUE(nb);
    netbox = std::move(*nb);
    auto a = nsim::genieacs::server::start({});
    EXPECT_TRUE(a);
    acs = std::move(*a);
    nsim::voltha::options vo;
    vo.olts = 3;
    vo.onus_per_olt = 4;
    vo.transition_delay = 10ms;
    auto v = nsim::voltha::server::start(vo);
    EXPECT_TRUE(v);
    voltha = std::move(*v);
  }

  ~drift_scan() override {
    if (scanner)
      scanner->stop();
    caf::anon_send_exit(http, caf::exit_reason::user_shutdown);
    if (netbox)
      netbox->stop();
    if (acs)
      acs->stop();
    if (voltha)
      voltha->stop();
  }

  std::string grpc() const {
    return "127.0.0.1:" + std::to_string(voltha->grpc_port());
  }

  std::unique_ptr<adapters::voltha::device_client> client() {
    auto c = adapters::voltha::device_client::make(grpc());
    EXPECT_TRUE(c);
    return std::move(*c);
  }

  // Waits until the simulator's 12 ONUs are ACTIVE.
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
          active = active && d.oper == adapters::voltha::oper_status::active;
        }
      if (onus.size() == 12 && active)
        return;
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "the simulator's ONUs did not become active";
  }

  httplib::Client netbox_client() {
    httplib::Client c{"127.0.0.1", netbox->port()};
    c.set_default_headers({{"Authorization", std::string{"Token "} + token},
                           {"Accept", "application/json"}});
    return c;
  }

  // Allocates an address of prefix `prefix` to `sub` (as the adapter does).
  void allocate(const std::string& sub, int prefix) {
    auto c = netbox_client();
    auto r = c.Post("/api/ipam/prefixes/" + std::to_string(prefix)
                      + "/available-ips/",
                    R"({"tenant":1,"status":"active","custom_fields":)"
                    R"({"subscriber_id":")"
                      + sub + "\"}}",
                    "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    std::string address = doc["address"].GetString();
    addresses[sub] = {doc["id"].GetInt64(),
                      address.substr(0, address.find('/'))};
  }

  // A subscriber whose record and systems agree.
  void add_subscriber(const std::string& sub, const std::string& state, int onu,
                      bool with_ip) {
    auto user = sub + "@demo.example";
    std::string ip;
    if (with_ip) {
      allocate(sub, addresses.size() < 6 ? 2 : 1);
      ip = addresses[sub].second;
    }
    nsim::genieacs::device_seed seed;
    seed.oui = "00259E";
    seed.product_class = "HG8245";
    seed.serial = "CPE" + sub;
    auto cpe = acs->add_device(seed);
    cpes[sub] = cpe;
    // The username as configure_cpe writes it (a factory reset loses it).
    httplib::Client nbi{"127.0.0.1", acs->port()};
    auto set = nbi.Post("/devices/" + adapters::genieacs::path_id(cpe)
                          + "/tasks?connection_request",
                        R"({"name":"setParameterValues","parameterValues":[[")"
                          + std::string{tr098_user} + R"(",")" + user
                          + R"(","xsd:string"]]})",
                        "application/json");
    ASSERT_TRUE(set);
    ASSERT_EQ(set->status, 200) << set->body;
    db.query("INSERT INTO subscribers (tenant_id, id, state, plan_id, "
             "service_type, radius_username, ip_address, onu_id, cpe_id, "
             "profile) VALUES ('demo', '"
             + sub + "', '" + state + "', 'p100', 'ftth', '" + user + "', "
             + (ip.empty() ? std::string{"NULL"} : "'" + ip + "'") + ", '"
             + onus.at(onu).first + "', '" + cpe
             + "', jsonb_build_object('access.onu_serial', '"
             + onus.at(onu).second + "'))");
    db.query("INSERT INTO radcheck (username, attribute, op, value) VALUES ('"
             + user + "', 'SSHA2-512-Password', ':=', 'x')");
    db.query("INSERT INTO radusergroup (username, groupname, priority) "
             "VALUES ('"
             + user + "', 'demo.p100', 1)");
    if (state == "suspended")
      db.query("INSERT INTO radcheck (username, attribute, op, value) VALUES "
               "('"
               + user + "', 'Auth-Type', ':=', 'Reject')");
    else
      open_session(user);
  }

  void open_session(const std::string& user) {
    db.query("INSERT INTO radacct (acctsessionid, acctuniqueid, username, "
             "nasipaddress, acctstarttime) VALUES ('s-"
             + user + "', md5('" + user + "' || clock_timestamp()), '" + user
             + "', '192.0.2.1', now())");
  }

  drift::tenant_view tenant() const {
    drift::tenant_view t;
    t.tenant_id = "demo";
    t.radius = t.netbox = t.voltha = t.genieacs = true;
    t.suspend_policy = "reject";
    t.walled_garden_group = "walled_garden";
    t.plan_groups = {{"p100", "demo.p100"}};
    t.netbox_settings.base_url = "http://127.0.0.1:"
                                 + std::to_string(netbox->port());
    t.netbox_settings.token = token;
    t.netbox_settings.tenant_slug = "demo";
    t.genieacs_settings.base_url = "http://127.0.0.1:"
                                   + std::to_string(acs->port());
    t.voltha_grpc = grpc();
    t.voltha_deadline = 5s;
    return t;
  }

  void make_scanner() {
    drift::scanner_settings s;
    s.dsn = db.dsn();
    s.tenants = {tenant()};
    s.page_size = 4; // several pages
    s.guard = guard;
    s.http = http;
    auto made = drift::scanner::make(sys, std::move(s));
    ASSERT_TRUE(made);
    scanner = std::move(*made);
  }

  found_set stored(const std::string& scan_id) {
    found_set out;
    for (auto& row : db.query("SELECT subscriber_id, kind FROM drift_findings "
                              "WHERE scan_id = '"
                              + scan_id + "'"))
      out.emplace(*row[0], *row[1]);
    return out;
  }

  // Eleven subscribers, one per way of drifting (and s01 unchanged).
  void seed() {
    await_onus();
    for (int i = 1; i <= 11; ++i) {
      char name[8];
      std::snprintf(name, sizeof name, "s%02d", i);
      add_subscriber(name, i == 4 ? "suspended" : "active", i - 1, i <= 8);
    }
  }

  // The changes made behind ispflow's back.
  void drift_everything() {
    // FreeRADIUS: a deleted password row, a changed group, a suspension
    // lifted by hand while a session came up.
    db.query("DELETE FROM radcheck WHERE username = 's02@demo.example'");
    db.query("UPDATE radusergroup SET groupname = 'demo.p050' "
             "WHERE username = 's03@demo.example'");
    db.query("DELETE FROM radcheck WHERE username = 's04@demo.example' "
             "AND attribute = 'Auth-Type'");
    open_session("s04@demo.example");
    // NetBox: an address deleted, another one edited.
    auto nb = netbox_client();
    auto del = nb.Delete("/api/ipam/ip-addresses/"
                         + std::to_string(addresses["s05"].first) + "/");
    ASSERT_TRUE(del);
    ASSERT_EQ(del->status, 204);
    auto patch = nb.Patch(
      "/api/ipam/ip-addresses/" + std::to_string(addresses["s06"].first) + "/",
      R"({"address":"100.64.0.99/29"})", "application/json");
    ASSERT_TRUE(patch);
    ASSERT_EQ(patch->status, 200) << patch->body;
    // VOLTHA: an ONU disabled, one replaced (new device id, same serial),
    // one deleted.
    auto c = client();
    ASSERT_TRUE(c->disable_device(onus[6].first, 2s).ok());
    httplib::Client rest{"127.0.0.1", voltha->rest_port()};
    auto rep = rest.Post("/_sim/onus/replace",
                         R"({"serial":")" + onus[7].second + "\"}",
                         "application/json");
    ASSERT_TRUE(rep);
    ASSERT_EQ(rep->status, 200) << rep->body;
    ASSERT_TRUE(c->delete_device(onus[10].first, 2s).ok());
    // GenieACS: a CPE factory-reset by its owner, one deleted.
    httplib::Client nbi{"127.0.0.1", acs->port()};
    auto reset = nbi.Post("/devices/" + adapters::genieacs::path_id(cpes["s09"])
                            + "/tasks?connection_request",
                          R"({"name":"factoryReset"})", "application/json");
    ASSERT_TRUE(reset);
    ASSERT_EQ(reset->status, 200) << reset->body;
    auto gone
      = nbi.Delete("/devices/" + adapters::genieacs::path_id(cpes["s10"]));
    ASSERT_TRUE(gone);
    ASSERT_EQ(gone->status, 200);
  }

  static found_set everything_drifted() {
    return {{"s02", "radius_user_missing"},  {"s03", "radius_plan_mismatch"},
            {"s04", "radius_not_suspended"}, {"s04", "session_after_suspend"},
            {"s05", "netbox_ip_missing"},    {"s06", "netbox_ip_mismatch"},
            {"s07", "onu_state_mismatch"},   {"s08", "onu_replaced"},
            {"s09", "cpe_param_mismatch"},   {"s10", "cpe_missing"},
            {"s11", "onu_missing"}};
  }
};

} // namespace

TEST_F(drift_scan, a_network_that_matches_the_records_has_no_findings) {
  seed();
  make_scanner();
  auto sum = scanner->run({});
  ASSERT_TRUE(sum) << to_string(sum.error());
  EXPECT_EQ(sum->state, "completed") << sum->error;
  EXPECT_EQ(sum->subscribers, 11);
  EXPECT_EQ(sum->findings, 0);
  EXPECT_TRUE(sum->unobserved.empty());
  EXPECT_TRUE(stored(sum->id).empty());
}

TEST_F(drift_scan, a_scan_finds_exactly_the_changes_made_behind_its_back) {
  seed();
  drift_everything();
  make_scanner();
  auto sum = scanner->run({});
  ASSERT_TRUE(sum) << to_string(sum.error());
  EXPECT_EQ(sum->state, "completed") << sum->error;
  EXPECT_EQ(stored(sum->id), everything_drifted());
  EXPECT_EQ(sum->findings, 11);
  EXPECT_EQ(db.value("SELECT findings || '/' || subscribers || '/' || state "
                     "FROM drift_scans WHERE id = '"
                     + sum->id + "'"),
            "11/11/completed");
  // One drift.detected event per subscriber with differences, as its
  // schema (events/schemas/drift.detected.json) says.
  EXPECT_EQ(db.count("SELECT count(*) FROM outbox"), 10);
  for (auto& row : db.query("SELECT convert_from(value, 'UTF8'), "
                            "headers::text FROM outbox"))
    EXPECT_EQ(events::schema_registry::builtin().validate("drift.detected",
                                                          *row[0]),
              std::nullopt)
      << *row[0];
  EXPECT_EQ(db.count("SELECT count(*) FROM outbox WHERE headers::text "
                     "LIKE '%drift.detected%'"),
            10);
  // The load: one NetBox listing, one ListDevices, one RADIUS statement per
  // page of 4, one GenieACS query per page.
  EXPECT_EQ(sum->requests["netbox"], 1u);
  EXPECT_EQ(sum->requests["voltha"], 1u);
  EXPECT_EQ(sum->requests["radius"], 3u);
  EXPECT_EQ(sum->requests["genieacs"], 3u);
}

TEST_F(drift_scan, a_dry_run_stores_findings_but_sends_no_events) {
  seed();
  drift_everything();
  make_scanner();
  drift::scan_request req;
  req.dry_run = true;
  auto sum = scanner->run(req);
  ASSERT_TRUE(sum);
  EXPECT_EQ(stored(sum->id), everything_drifted());
  EXPECT_EQ(db.count("SELECT count(*) FROM outbox"), 0);
}

TEST_F(drift_scan, a_scan_of_one_system_judges_only_that_system) {
  seed();
  drift_everything();
  make_scanner();
  drift::scan_request req;
  req.systems = {"netbox"};
  auto sum = scanner->run(req);
  ASSERT_TRUE(sum);
  EXPECT_EQ(stored(sum->id), (found_set{{"s05", "netbox_ip_missing"},
                                        {"s06", "netbox_ip_mismatch"}}));
  EXPECT_EQ(sum->requests.count("genieacs"), 0u);
}

TEST_F(drift_scan, an_open_breaker_leaves_its_system_unobserved) {
  seed();
  drift_everything();
  make_scanner();
  auto base = "http://127.0.0.1:" + std::to_string(netbox->port());
  auto now = res::clock_type::now();
  guard->breakers().get({"demo", "netbox", base}, now)->force_open(now);
  auto sum = scanner->run({});
  ASSERT_TRUE(sum);
  ASSERT_EQ(sum->unobserved.count("netbox"), 1u);
  auto want = everything_drifted();
  want.erase({"s05", "netbox_ip_missing"});
  want.erase({"s06", "netbox_ip_mismatch"});
  EXPECT_EQ(stored(sum->id), want);
  EXPECT_NE(db.value("SELECT unobserved->>'netbox' FROM drift_scans "
                     "WHERE id = '"
                     + sum->id + "'"),
            "");
}

TEST_F(drift_scan, unknown_tenants_and_systems_are_refused) {
  make_scanner();
  drift::scan_request req;
  req.tenant_id = "nobody";
  EXPECT_FALSE(scanner->start(req));
  req.tenant_id.clear();
  req.systems = {"dns"};
  EXPECT_FALSE(scanner->start(req));
  EXPECT_EQ(db.count("SELECT count(*) FROM drift_scans"), 0);
}

TEST_F(drift_scan, a_started_scan_runs_on_the_scanner_thread) {
  seed();
  drift_everything();
  make_scanner();
  auto id = scanner->start({});
  ASSERT_TRUE(id) << to_string(id.error());
  EXPECT_EQ(db.await_count("SELECT count(*) FROM drift_scans WHERE id = '" + *id
                             + "' AND state = 'completed'",
                           1),
            1);
  EXPECT_EQ(stored(*id), everything_drifted());
}

TEST_F(drift_scan, ispflowctl_scans_through_the_admin_api_within_its_tenant) {
  seed();
  drift_everything();
  make_scanner();
  using namespace actors::admin;
  admin_settings settings;
  settings.port = 0;
  settings.tokens = {
    {"ops", sha256_hex("ops-0123456789"), {"admin"}, std::nullopt},
    {"acme",
     sha256_hex("acme-0123456789"),
     {"sagas:read", "sagas:write"},
     "acme"},
  };
  metrics_registry registry;
  admin_deps deps;
  deps.dsn = db.dsn();
  deps.metrics = &registry;
  deps.drift = std::make_shared<scanner_control>(scanner.get());
  auto srv = admin_server::make(settings, deps);
  ASSERT_TRUE(srv) << ispflow::render_error(srv.error());
  auto port = (*srv)->start();
  ASSERT_TRUE(port);
  auto url = " --url http://127.0.0.1:" + std::to_string(*port);
  // The whole scan, waited for, as JSON.
  auto [rc, out] = ctl("ops-0123456789", url + " --json drift scan");
  EXPECT_EQ(rc, 0) << out;
  rapidjson::Document doc;
  doc.Parse(out.c_str());
  ASSERT_TRUE(doc.IsObject()) << out;
  EXPECT_STREQ(doc["scan"]["state"].GetString(), "completed");
  found_set got;
  for (const auto& f : doc["findings"].GetArray())
    got.emplace(f["subscriber_id"].GetString(), f["kind"].GetString());
  EXPECT_EQ(got, everything_drifted());
  // One system, as a table.
  auto [rc2, table] = ctl("ops-0123456789",
                          url + " drift scan --tenant demo --adapter netbox");
  EXPECT_EQ(rc2, 0) << table;
  EXPECT_NE(table.find("netbox_ip_mismatch"), std::string::npos) << table;
  EXPECT_EQ(table.find("onu_replaced"), std::string::npos) << table;
  // A token of another tenant neither scans nor reads this one's scans.
  auto [rc3, refused] = ctl("acme-0123456789",
                            url + " drift scan --tenant demo --no-wait");
  EXPECT_EQ(rc3, 1) << refused;
  EXPECT_NE(refused.find("forbidden_tenant"), std::string::npos) << refused;
  auto id = std::string{doc["scan"]["id"].GetString()};
  auto [rc4, hidden] = ctl("acme-0123456789", url + " drift show " + id);
  EXPECT_EQ(rc4, 1) << hidden;
  EXPECT_NE(hidden.find("not_found"), std::string::npos) << hidden;
  // Bad input: an unknown system is refused by the API, and so is a
  // repair with a dry run, naming both.
  httplib::Client c{"127.0.0.1", *port};
  httplib::Headers h{{"Authorization", "Bearer ops-0123456789"}};
  auto bad = c.Post("/v1/drift/scans", h, R"({"systems":["dns"]})",
                    "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  auto odd = c.Post("/v1/drift/scans", h, R"({"tenant":1})",
                    "application/json");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->status, 400) << odd->body;
  auto repair = c.Post("/v1/drift/scans", h,
                       R"({"repair":true,"dry_run":true})", "application/json");
  ASSERT_TRUE(repair);
  EXPECT_EQ(repair->status, 400) << repair->body;
  EXPECT_NE(repair->body.find("repair and dry_run"), std::string::npos)
    << repair->body;
  auto [rc5, both] = ctl("ops-0123456789",
                         url + " drift scan --repair --dry-run --no-wait");
  EXPECT_EQ(rc5, 1) << both;
  EXPECT_NE(both.find("dry_run"), std::string::npos) << both;
  (*srv)->stop();
}
