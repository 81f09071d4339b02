// ispflowctl end to end (issue 6): a terminate saga driven to
// `needs_attention` by a CPE fault in the GenieACS simulator, seen with
// `ispflowctl sagas list/show`, fixed in the simulator and retried with
// `ispflowctl sagas retry`; it ends `completed` with no effect applied twice.
//
// Real parts: a scratch database with ispflow's migrations, the PostgreSQL
// saga store, timer, router and saga actors, the GenieACS adapter with its
// HTTP actor against the in-process simulator, the admin server with a
// router-backed saga_control, and the ispflowctl binary as a process.
// RADIUS, NetBox and VOLTHA are recording fakes.

#include "actors/admin/server.hpp"
#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/timer.hpp"
#include "adapters/genieacs/adapter.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/resilience/guard.hpp"
#include "events/errc.hpp"
#include "events/intake_check.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "sim/genieacs/server.hpp"
#include "tests/support/fake_adapter.hpp"
#include "tests/support/scratch_database.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <rapidjson/document.h>
#include <string>
#include <sys/wait.h>
#include <vector>

using namespace ispflow;
using namespace std::chrono_literals;
using ispflow::testing::fake_adapter_state;
using ispflow::testing::fake_mode;
using sagas::target_system;

namespace {

const std::string tenant = "acme";
const std::string subscriber = "sub-cpe";
constexpr const char* writer_token = "ops-w-0123456789";

// The CPE of the subscriber: the simulator's built-in device A.
const std::string cpe_oui = "202BC1";
const std::string cpe_class = "BM632w";
const std::string cpe_serial = "0000000001";

// The billing payload's "access.cpe" object, as the activation carries it.
const std::string cpe_json = R"("cpe":{"serial":")" + cpe_serial
                             + R"(","oui":")" + cpe_oui
                             + R"(","product_class":")" + cpe_class + "\"}";

events::kafka_record billing(const std::string& id, const std::string& verb,
                             const std::string& fields, int64_t offset) {
  events::kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.partition = 0;
  rec.offset = offset;
  rec.key = subscriber;
  rec.value = R"({"schema_version":1,"tenant_id":")" + tenant
              + R"(","subscriber_id":")" + subscriber + "\"" + fields + "}";
  rec.headers = {{"ce_specversion", "1.0", false},
                 {"ce_id", id, false},
                 {"ce_source", "billing.test", false},
                 {"ce_type", "billing.subscription." + verb, false},
                 {"ce_subject", subscriber, false},
                 {"ce_tenantid", tenant, false},
                 {"content-type", "application/json", false}};
  return rec;
}

/// Retry and cancel through the saga router, as ispflowd's
/// apps/ispflowd/wiring.cpp (make_saga_control) does it.
class router_control : public actors::admin::saga_control {
public:
  router_control(caf::actor_system& sys, actors::saga_router_actor router)
    : sys_(sys), router_(std::move(router)) {
    // nop
  }

  caf::expected<void> retry(const std::string& saga_id) override {
    return ask(retry_atom_v, saga_id);
  }

  caf::expected<void> cancel(const std::string& saga_id) override {
    return ask(cancel_atom_v, saga_id);
  }

private:
  template <class Atom>
  caf::expected<void> ask(Atom atom, const std::string& saga_id) {
    caf::scoped_actor self{sys_};
    caf::expected<void> res{caf::unit};
    self->request(router_, 10s, atom, saga_id, std::string{"operator"})
      .receive([](std::string&) {},
               [&](caf::error& err) {
                 if (err == caf::sec::request_timeout)
                   res = caf::make_error(errc::timeout,
                                         std::string{"saga router busy"});
                 else
                   res = std::move(err);
               });
    return res;
  }

  caf::actor_system& sys_;
  actors::saga_router_actor router_;
};

struct run_result {
  int code = -1;
  std::string out;
  std::string err;
};

struct ctl_retry_test : ::testing::Test {
  ispflow::testing::scratch_database db;
  sagas::saga_registry registry;
  std::unique_ptr<sim::genieacs::server> acs;
  std::string device;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::map<target_system, std::shared_ptr<fake_adapter_state>> fakes;
  std::vector<caf::actor> all_actors;
  actors::saga_router_actor router;
  std::unique_ptr<actors::admin::admin_server> admin;
  int64_t next_offset = 1;

  void SetUp() override {
    auto migrated = adapters::postgres::apply_migrations(db.dsn());
    ASSERT_TRUE(migrated) << render_error(migrated.error());
    auto store = adapters::postgres::intake_store::connect(db.dsn());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->upsert_tenants({{tenant, "Acme Fibre"}}));
    ASSERT_FALSE(sagas::register_lifecycle_sagas(registry).has_value());
    auto started = sim::genieacs::server::start({});
    ASSERT_TRUE(started) << render_error(started.error());
    acs = std::move(*started);
    device = sim::genieacs::device_id(cpe_oui, cpe_class, cpe_serial);
    // Clearing a fault is false for an unknown device.
    ASSERT_TRUE(acs->set_task_fault(device, "", ""))
      << "the simulator has no device " << device;
    cfg.add_message_types<caf::id_block::ispflow>();
    sys = std::make_unique<caf::actor_system>(cfg);
    for (auto s :
         {target_system::radius, target_system::netbox, target_system::voltha})
      fakes[s] = std::make_shared<fake_adapter_state>();
    fakes[target_system::netbox]->set("netbox.allocate_ip", fake_mode::succeed,
                                      {{"ip_address", "100.64.0.9"}});
    fakes[target_system::voltha]->set(
      "voltha.provision_service", fake_mode::succeed, {{"onu_id", "onu-5"}});
    boot();
  }

  void TearDown() override {
    if (admin)
      admin->stop();
    admin.reset();
    stop_actors();
    sys.reset();
    if (acs)
      acs->stop();
  }

  void boot() {
    actors::saga_router_settings rs;
    for (auto& [system, state] : fakes) {
      auto handle = ispflow::testing::spawn_fake_adapter(*sys, state);
      all_actors.push_back(caf::actor_cast<caf::actor>(handle));
      rs.adapters.set_actor(system, handle);
    }
    auto http = adapters::http::spawn_http_actor(*sys);
    all_actors.push_back(caf::actor_cast<caf::actor>(http));
    adapters::genieacs::tenant_settings ts;
    ts.base_url = "http://127.0.0.1:" + std::to_string(acs->port());
    ts.call_timeout = 5s;
    ts.connection_request_timeout = 1s;
    ts.session_allowance = 5s;
    adapters::genieacs::adapter_settings gs;
    gs.tenants.emplace(tenant, ts);
    auto acs_adapter = adapters::genieacs::spawn_genieacs_adapter(
      *sys, std::move(gs), http,
      std::make_shared<adapters::resilience::guard>());
    all_actors.push_back(caf::actor_cast<caf::actor>(acs_adapter));
    rs.adapters.set_actor(
      target_system::genieacs,
      caf::actor_cast<adapters::api::adapter_actor>(acs_adapter));
    sagas::tenant_profile profile;
    profile.systems = {target_system::radius, target_system::netbox,
                       target_system::voltha, target_system::genieacs};
    profile.policies = {std::string{sagas::policy_terminate_factory_reset}};
    rs.adapters.set_tenant(tenant, profile);
    actors::pg_saga_store_settings ss;
    ss.dsn = db.dsn();
    ss.registry = &registry;
    auto saga_store = actors::spawn_pg_saga_store(*sys, ss);
    all_actors.push_back(caf::actor_cast<caf::actor>(saga_store));
    auto timer = actors::spawn_timer(*sys);
    all_actors.push_back(caf::actor_cast<caf::actor>(timer));
    rs.registry = &registry;
    rs.store = saga_store;
    rs.timer = timer;
    rs.poll_interval = 100ms;
    router = actors::spawn_saga_router(*sys, std::move(rs));
    all_actors.push_back(caf::actor_cast<caf::actor>(router));

    actors::admin::admin_settings as;
    as.port = 0;
    as.threads = 4;
    as.tokens = {{"ops-writer",
                  actors::admin::sha256_hex(writer_token),
                  {"sagas:read", "sagas:write"},
                  std::nullopt}};
    actors::admin::admin_deps deps;
    deps.dsn = db.dsn();
    deps.sagas = std::make_shared<router_control>(*sys, router);
    auto srv = actors::admin::admin_server::make(as, deps);
    ASSERT_TRUE(srv) << render_error(srv.error());
    admin = std::move(*srv);
    auto port = admin->start();
    ASSERT_TRUE(port) << render_error(port.error());
  }

  /// Stops every actor and waits until they are gone; only then may the test
  /// read the fakes' records.
  void stop_actors() {
    if (!sys || all_actors.empty())
      return;
    caf::scoped_actor self{*sys};
    for (auto& a : all_actors)
      self->send_exit(a, caf::exit_reason::kill);
    self->wait_for(all_actors);
    for (auto& [system, state] : fakes)
      state->held.clear();
    all_actors.clear();
    router = nullptr;
  }

  /// Writes one billing event into the inbox as intake does.
  void insert(const events::kafka_record& rec) {
    events::intake_settings is;
    auto d = events::check_billing_record(rec, is);
    auto* accepted = std::get_if<events::accepted_event>(&d);
    ASSERT_NE(accepted, nullptr)
      << std::get<events::dead_letter>(d).error << ": "
      << std::get<events::dead_letter>(d).detail;
    events::intake_batch batch;
    batch.accepted.push_back(*accepted);
    auto store = adapters::postgres::intake_store::connect(db.dsn());
    ASSERT_TRUE(store);
    auto written = store->write(batch);
    ASSERT_TRUE(written) << render_error(written.error());
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(admin->port());
  }

  /// Runs ispflowctl with `--url` and the token in ISPFLOW_TOKEN.
  run_result ctl(const std::vector<std::string>& args) {
    auto err_file = ::testing::TempDir() + "ctl_retry.err";
    std::string cmd = "env -u ISPFLOW_URL ISPFLOW_TOKEN="
                      + std::string{writer_token} + " '"
                      + std::string{ISPFLOWCTL} + "' --url '" + url() + "'";
    for (auto& a : args)
      cmd += " '" + a + "'";
    cmd += " </dev/null 2>'" + err_file + "'";
    run_result r;
    auto pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr)
      return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0)
      r.out.append(buf, n);
    auto status = pclose(pipe);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in{err_file};
    r.err.assign(std::istreambuf_iterator<char>{in}, {});
    EXPECT_EQ(r.out.find(writer_token), std::string::npos) << "token printed";
    EXPECT_EQ(r.err.find(writer_token), std::string::npos) << "token printed";
    return r;
  }

  int executed(const std::string& task_name) const {
    auto names = acs->executed(device);
    return static_cast<int>(std::count(names.begin(), names.end(), task_name));
  }
};

TEST_F(ctl_retry_test,
       a_terminate_stopped_by_a_cpe_fault_completes_after_ispflowctl_retry) {
  // The activation configures the CPE through GenieACS.
  insert(billing("a1", "activated",
                 R"(,"plan_id":"fiber-500","service_type":"ftth",)"
                 R"("site":"ams-01","access":{"onu_serial":"ALCL1A2B3C4D",)"
                   + cpe_json
                   + R"(},"credentials":{"username":"u1","password":"pw-1"})",
                 next_offset++));
  ASSERT_EQ(db.await_count("select count(*) from sagas where name = "
                           "'activate' and state = 'completed'",
                           1),
            1)
    << db.value("select state || ' ' || failed_step || ' ' || error from "
                "sagas where name = 'activate'");
  EXPECT_EQ(executed("setParameterValues"), 1);

  // The CPE now faults every task: the factory reset answers 202 "Task
  // faulted", a permanent failure, and the forward-only saga stops.
  ASSERT_TRUE(acs->set_task_fault(device, "9001", "Request denied"));
  // A billing `terminated` event names no CPE (its schema allows no
  // `access`): the saga inherits the CPE (access.cpe.*, cpe_id) from the
  // subscriber's completed activation. Without that, the GenieACS adapter
  // would answer the factory reset `succeeded` without touching any device
  // (skip_without_cpe) and the saga would complete here.
  insert(
    billing("t1", "terminated", R"(,"reason":"moved abroad")", next_offset++));
  ASSERT_EQ(db.await_count("select count(*) from sagas where name = "
                           "'terminate' and state = 'needs_attention'",
                           1),
            1)
    << "terminate: "
    << db.value("select state || ' ' || failed_step || ' ' || error from "
                "sagas where name = 'terminate'")
    << "; CPE tasks run: " << acs->executed(device).size();
  auto id = db.value("select id from sagas where name = 'terminate'");
  EXPECT_EQ(db.value("select failed_step from sagas where id = '" + id + "'"),
            "factory_reset_cpe");
  EXPECT_EQ(executed("factoryReset"), 0);
  EXPECT_EQ(db.value("select generation from sagas where id = '" + id + "'"),
            "0");

  // The operator sees it.
  auto r = ctl({"--json", "sagas", "list", "--state", "needs_attention"});
  ASSERT_EQ(r.code, 0) << r.err;
  rapidjson::Document list;
  list.Parse(r.out.c_str());
  ASSERT_FALSE(list.HasParseError()) << r.out;
  ASSERT_TRUE(list.IsObject() && list.HasMember("items")) << r.out;
  ASSERT_EQ(list["items"].Size(), 1u) << r.out;
  EXPECT_EQ(std::string{list["items"][0]["id"].GetString()}, id);
  EXPECT_EQ(std::string{list["items"][0]["state"].GetString()},
            "needs_attention");
  r = ctl({"sagas", "show", id});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("state: needs_attention"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("failed_step: factory_reset_cpe"), std::string::npos)
    << r.out;
  EXPECT_NE(r.out.find("9001: Request denied"), std::string::npos) << r.out;

  // Fixed in GenieACS, retried by the operator.
  ASSERT_TRUE(acs->set_task_fault(device, "", ""));
  r = ctl({"sagas", "retry", id});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("retry accepted for saga " + id), std::string::npos)
    << r.out;
  ASSERT_EQ(db.await_count("select count(*) from sagas where id = '" + id
                             + "' and state = 'completed'",
                           1),
            1)
    << db.value("select state || ' ' || failed_step || ' ' || error from "
                "sagas where id = '"
                + id + "'");
  EXPECT_EQ(db.value("select generation from sagas where id = '" + id + "'"),
            "1");
  EXPECT_EQ(db.value("select state from saga_steps where saga_id = '" + id
                     + "' and name = 'factory_reset_cpe'"),
            "succeeded");
  EXPECT_EQ(executed("factoryReset"), 1);
  EXPECT_EQ(acs->executed(device),
            (std::vector<std::string>{"setParameterValues", "factoryReset"}));
  // Run at once by this instance, the partition's owner: 200.
  EXPECT_EQ(db.count("select count(*) from admin_audit where token_name = "
                     "'ops-writer' and action = 'sagas.retry' and target = '"
                     + id + "' and status = 200 and result = 'ok'"),
            1);

  // A completed saga cannot be retried again.
  r = ctl({"sagas", "retry", id});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.err.find("409 conflict"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is completed"), std::string::npos) << r.err;
  EXPECT_EQ(db.count("select count(*) from admin_audit where token_name = "
                     "'ops-writer' and action = 'sagas.retry' and target = '"
                     + id + "' and status = 409"),
            1);
  EXPECT_EQ(db.value("select state from sagas where id = '" + id + "'"),
            "completed");

  // Every effect on the fakes happened once, across both sagas.
  admin->stop();
  stop_actors();
  for (auto& [system, state] : fakes)
    for (auto& [key, n] : state->applied)
      EXPECT_EQ(n, 1) << key.first << " " << key.second;
  auto& radius = *fakes[target_system::radius];
  auto& netbox = *fakes[target_system::netbox];
  auto& voltha = *fakes[target_system::voltha];
  EXPECT_EQ(radius.applications("radius.provision"), 1);
  EXPECT_EQ(radius.applications("radius.deny"), 1);
  EXPECT_EQ(radius.applications("radius.disconnect_sessions"), 1);
  EXPECT_EQ(radius.applications("radius.deprovision"), 1);
  EXPECT_EQ(netbox.applications("netbox.allocate_ip"), 1);
  EXPECT_EQ(netbox.applications("netbox.release_ip"), 1);
  EXPECT_EQ(voltha.applications("voltha.provision_service"), 1);
  EXPECT_EQ(voltha.applications("voltha.remove_service"), 1);
  // The steps before the fault were not sent again by the retry.
  EXPECT_EQ(radius.count("radius.deny"), 1u);
  EXPECT_EQ(radius.count("radius.disconnect_sessions"), 1u);
  EXPECT_EQ(voltha.count("voltha.remove_service"), 1u);
}

} // namespace
