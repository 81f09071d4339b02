#include "adapters/voltha/adapter.hpp"
#include "adapters/voltha/device_client.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sim/voltha/server.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <gtest/gtest.h>
#include <sstream>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace ispflow;
using namespace ispflow::adapters::voltha;
using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
namespace sim = ispflow::sim::voltha;

caf::actor_system_config& adapter_config(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

struct voltha_adapter : ::testing::Test {
  std::unique_ptr<sim::server> srv;
  std::unique_ptr<device_client> dc;
  caf::actor_system_config cfg;
  caf::actor_system sys{adapter_config(cfg)};
  adapter_actor adapter;
  tenant_settings settings;

  voltha_adapter() {
    sim::options opts;
    opts.transition_delay = 20ms;
    // Every UNI's SADIS entry also has the fixture's tenant tags; the olt
    // app programs at once unless a test says otherwise.
    opts.sadis_services = {sim::sadis_service{900, 101, 64}};
    opts.program_delay = 0ms;
    start_sim(opts);
  }

  void start_sim(sim::options opts) {
    if (srv)
      srv->stop();
    auto s = sim::server::start(opts);
    EXPECT_TRUE(s) << render_error(s.error());
    if (!s)
      return;
    srv = std::move(*s);
    dc = std::move(
      *device_client::make("127.0.0.1:" + std::to_string(srv->grpc_port())));
    settings.grpc_address = "127.0.0.1:" + std::to_string(srv->grpc_port());
    settings.onos_url = "http://127.0.0.1:" + std::to_string(srv->rest_port());
    settings.onos_user = "karaf";
    settings.onos_password = "karaf";
    settings.tags = service_tags{900, 101, 64};
    settings.read_deadline = 2000ms;
    settings.write_deadline = 1000ms;
    settings.http_timeout = 2000ms;
    settings.probe_deadline = 500ms;
    settings.confirm_interval = 250ms;
    respawn();
  }

  ~voltha_adapter() override {
    caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
    if (srv)
      srv->stop();
  }

  void respawn() {
    if (adapter)
      caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
    adapter_options opts;
    opts.tenants["t1"] = settings;
    opts.workers = 2;
    adapter = spawn_adapter(sys, opts);
  }

  adapter_reply invoke(std::string op, std::string serial,
                       bool reconcile = false, std::string tenant = "t1",
                       events::string_map extra = {}) {
    adapter_request req;
    req.tenant_id = std::move(tenant);
    req.subscriber_id = "sub-1";
    req.system = "voltha";
    req.operation = std::move(op);
    req.idempotency_key = "saga-1/voltha/0";
    req.reconcile = reconcile;
    req.input = std::move(extra);
    req.input["access.onu_serial"] = std::move(serial);
    return ask(invoke_atom_v, std::move(req));
  }

  template <class... Ts>
  adapter_reply ask(Ts&&... xs) {
    adapter_reply res;
    caf::scoped_actor self{sys};
    self->request(adapter, 30s, std::forward<Ts>(xs)...)
      .receive([&](adapter_reply& r) { res = std::move(r); },
               [&](caf::error& err) {
                 ADD_FAILURE() << "request failed: " << render_error(err);
                 res = events::reply_failed(adapter_outcome::permanent_failure,
                                            "error");
               });
    return res;
  }

  device onu(const std::string& serial) {
    auto res = dc->find_onu(serial, "", 2s);
    EXPECT_TRUE(res.status.ok()) << res.status.message;
    return res.value;
  }

  size_t subscribers() {
    auto json = srv->state_json();
    size_t n = 0;
    for (auto pos = json.find("\"port\""); pos != std::string::npos;
         pos = json.find("\"port\"", pos + 1))
      ++n;
    return n;
  }
};

TEST_F(voltha_adapter, provision_then_remove_a_service) {
  auto rep = invoke("voltha.provision_service", "BBSM00000001");
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["onu_id"], onu("BBSM00000001").id);
  auto state = srv->state_json();
  EXPECT_NE(
    state.find(R"("port":"BBSM00000001-1","sTag":900,"cTag":101,"tpId":64)"),
    std::string::npos)
    << state;
  auto removed = invoke("voltha.remove_service", "BBSM00000001");
  ASSERT_EQ(removed.outcome, adapter_outcome::succeeded) << removed.error;
  EXPECT_EQ(subscribers(), 0u);
}

TEST_F(voltha_adapter, repeated_provision_is_success_without_a_second_service) {
  ASSERT_EQ(invoke("voltha.provision_service", "BBSM00000002").outcome,
            adapter_outcome::succeeded);
  // A first attempt posts without reading first; the olt app skips the
  // port that has its service already.
  EXPECT_EQ(srv->contract_check("programmed_subscribers_reads"), 1);
  auto again = invoke("voltha.provision_service", "BBSM00000002");
  EXPECT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
  EXPECT_EQ(srv->calls("POST services"), 2);
  EXPECT_EQ(subscribers(), 1u);
  // A reconciling attempt reads first and finds the service programmed.
  auto reconciled = invoke("voltha.provision_service", "BBSM00000002", true);
  EXPECT_EQ(reconciled.outcome, adapter_outcome::succeeded) << reconciled.error;
  EXPECT_EQ(srv->calls("POST services"), 2);
  EXPECT_EQ(subscribers(), 1u);
}

TEST_F(voltha_adapter, removing_a_service_that_is_not_there_is_success) {
  auto rep = invoke("voltha.remove_service", "BBSM00000003");
  EXPECT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(srv->calls("DELETE services"), 1);
}

TEST_F(voltha_adapter, removing_for_an_unknown_onu_is_success) {
  auto rep = invoke("voltha.remove_service", "NOPE00000001");
  EXPECT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(srv->calls("DELETE services"), 0);
}

TEST_F(voltha_adapter, provisioning_an_unknown_serial_is_permanent) {
  auto rep = invoke("voltha.provision_service", "NOPE00000001");
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("NOT_FOUND"), std::string::npos) << rep.error;
  EXPECT_EQ(srv->calls("POST services"), 0);
}

TEST_F(voltha_adapter, connect_point_not_found_for_an_active_onu_is_permanent) {
  // The ONU exists in VOLTHA and is ACTIVE, but the UNI does not exist.
  adapter_request req;
  req.tenant_id = "t1";
  req.operation = "voltha.provision_service";
  req.input["access.onu_serial"] = "BBSM00000001";
  req.input["access.uni"] = "99";
  auto rep = ask(invoke_atom_v, req);
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("ConnectPoint not found for BBSM00000001-99"),
            std::string::npos)
    << rep.error;
  EXPECT_NE(rep.error.find("is ACTIVE"), std::string::npos) << rep.error;
  EXPECT_GE(srv->contract_check("onu_status_reads"), 1);
}

// Issue 12 item 4: ONOS learns an ONU's UNI ports when the ONU activates.
TEST_F(voltha_adapter,
       connect_point_not_found_while_the_onu_activates_is_retryable) {
  sim::options opts;
  opts.transition_delay = 20ms;
  opts.onu_activation_delay = std::chrono::hours{1};
  opts.program_delay = 0ms;
  start_sim(opts);
  settings.tags = service_tags{};
  respawn();
  // A new OLT: its ONUs (BBSM00000005..8) are discovered and stay
  // DISCOVERED (activating) for the test.
  device olt;
  olt.type = "openolt";
  olt.host_and_port = "10.0.0.9:50060";
  auto made = dc->create_device(olt, 2s);
  ASSERT_TRUE(made.status.ok()) << made.status.message;
  ASSERT_TRUE(dc->enable_device(made.value.id, 2s).ok());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!dc->find_onu("BBSM00000005", "", 2s).status.ok()
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(onu("BBSM00000005").oper, oper_status::discovered);
  auto rep = invoke("voltha.provision_service", "BBSM00000005");
  EXPECT_EQ(rep.outcome, adapter_outcome::retryable_failure) << rep.error;
  EXPECT_NE(rep.error.find("ConnectPoint not found for BBSM00000005-1"),
            std::string::npos)
    << rep.error;
  EXPECT_NE(rep.error.find("is DISCOVERED"), std::string::npos) << rep.error;
  EXPECT_GE(srv->contract_check("onu_status_reads"), 1);
  EXPECT_EQ(subscribers(), 0u);
}

// Issue 12 item 2: the tagged route is @Consumes(APPLICATION_JSON).
TEST_F(voltha_adapter, tagged_provision_says_json_and_is_not_refused) {
  auto rep = invoke("voltha.provision_service", "BBSM00000001");
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(srv->contract_check("tagged_route_refused_415"), 0);
  EXPECT_EQ(srv->contract_check("content_type:application/json"), 1);
  auto removed = invoke("voltha.remove_service", "BBSM00000001");
  ASSERT_EQ(removed.outcome, adapter_outcome::succeeded) << removed.error;
  EXPECT_EQ(srv->contract_check("tagged_route_refused_415"), 0);
}

// Issue 12 item 3: 204 answers tags that match no SADIS uniTag.
TEST_F(voltha_adapter, tags_matching_no_sadis_service_are_never_provisioned) {
  auto rep = invoke("voltha.provision_service", "BBSM00000002", false, "t1",
                    {{"access.c_tag", "999"}});
  EXPECT_EQ(rep.outcome, adapter_outcome::parked) << rep.error;
  EXPECT_EQ(rep.retry_after_ms, 250);
  EXPECT_NE(rep.error.find("has not programmed BBSM00000002-1"),
            std::string::npos)
    << rep.error;
  EXPECT_EQ(subscribers(), 0u);
  EXPECT_GE(srv->contract_check("programmed_subscribers_filtered_reads"), 1);
  // The poll after the park: still not there, still not a success.
  auto again = invoke("voltha.provision_service", "BBSM00000002", false, "t1",
                      {{"access.c_tag", "999"}});
  EXPECT_EQ(again.outcome, adapter_outcome::parked) << again.error;
}

// Issue 12 item 3: the untagged POST answers 200 before anything is
// programmed; the step waits (parked) until programmed-subscribers lists it.
TEST_F(voltha_adapter,
       provision_and_removal_wait_until_the_olt_app_has_done_it) {
  sim::options opts;
  opts.transition_delay = 20ms;
  opts.program_delay = std::chrono::hours{1};
  start_sim(opts);
  settings.tags = service_tags{0, 0, 64};
  respawn();
  auto first = invoke("voltha.provision_service", "BBSM00000003");
  EXPECT_EQ(first.outcome, adapter_outcome::parked) << first.error;
  EXPECT_EQ(first.retry_after_ms, 250);
  // It names its effect under way: the engine's next attempt reconciles.
  EXPECT_EQ(first.outputs["onu_id"], onu("BBSM00000003").id);
  EXPECT_EQ(srv->calls("POST services"), 1);
  srv->program_pending();
  auto done = invoke("voltha.provision_service", "BBSM00000003", true);
  ASSERT_EQ(done.outcome, adapter_outcome::succeeded) << done.error;
  EXPECT_EQ(done.outputs["onu_id"], onu("BBSM00000003").id);
  EXPECT_EQ(srv->calls("POST services"), 1);
  auto removing = invoke("voltha.remove_service", "BBSM00000003");
  EXPECT_EQ(removing.outcome, adapter_outcome::parked) << removing.error;
  EXPECT_NE(removing.error.find("still lists BBSM00000003-1"),
            std::string::npos)
    << removing.error;
  srv->program_pending();
  auto removed = invoke("voltha.remove_service", "BBSM00000003");
  EXPECT_EQ(removed.outcome, adapter_outcome::succeeded) << removed.error;
  EXPECT_EQ(subscribers(), 0u);
}

// Issue 12 item 8: a core with 20,000 ONUs answers ListDevices with more
// than gRPC's default 4 MiB.
TEST(voltha_adapter_large_core, finds_an_onu_among_20000_devices) {
  sim::options opts;
  opts.olts = 157;
  opts.onus_per_olt = 128;
  opts.transition_delay = 20ms;
  opts.program_delay = 0ms;
  opts.sadis_services = {sim::sadis_service{900, 101, 64}};
  auto started = sim::server::start(opts);
  ASSERT_TRUE(started) << render_error(started.error());
  auto& srv = *started;
  auto address = "127.0.0.1:" + std::to_string(srv->grpc_port());
  // The premise: at gRPC's default limit the list does not fit.
  auto small = device_client::make(address, client_options{4 * 1024 * 1024});
  ASSERT_TRUE(small);
  auto listed = (*small)->list_devices(20s);
  EXPECT_EQ(listed.status.code, grpc_code::resource_exhausted)
    << listed.status.message;
  caf::actor_system_config cfg;
  caf::actor_system sys{adapter_config(cfg)};
  tenant_settings settings;
  settings.grpc_address = address;
  settings.onos_url = "http://127.0.0.1:" + std::to_string(srv->rest_port());
  settings.onos_user = "karaf";
  settings.onos_password = "karaf";
  settings.tags = service_tags{900, 101, 64};
  settings.read_deadline = 20s;
  adapter_options aopts;
  aopts.tenants["t1"] = settings;
  auto adapter = spawn_adapter(sys, aopts);
  auto run = [&](std::string op, events::string_map input) {
    adapter_request req;
    req.tenant_id = "t1";
    req.operation = std::move(op);
    req.idempotency_key = "saga-9/voltha/0";
    req.input = std::move(input);
    adapter_reply res;
    caf::scoped_actor self{sys};
    self->request(adapter, 60s, invoke_atom_v, std::move(req))
      .receive([&](adapter_reply& r) { res = std::move(r); },
               [&](caf::error& err) { ADD_FAILURE() << render_error(err); });
    return res;
  };
  auto rep = run("voltha.provision_service",
                 {{"access.onu_serial", "BBSM00020000"}});
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  auto onu_id = rep.outputs["onu_id"];
  EXPECT_FALSE(onu_id.empty());
  auto lists = srv->calls("ListDevices");
  // Known ids go by GetDevice: by the earlier output "onu_id", and by the
  // serial once a list has been seen.
  auto off = run("voltha.disable_onu",
                 {{"onu_id", onu_id}, {"access.onu_serial", "BBSM00020000"}});
  ASSERT_EQ(off.outcome, adapter_outcome::succeeded) << off.error;
  auto on = run("voltha.enable_onu", {{"access.onu_serial", "BBSM00020000"}});
  ASSERT_EQ(on.outcome, adapter_outcome::succeeded) << on.error;
  EXPECT_EQ(srv->calls("ListDevices"), lists);
  caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
  srv->stop();
}

TEST_F(voltha_adapter, disable_and_enable_are_idempotent) {
  auto id = onu("BBSM00000004").id;
  auto off = invoke("voltha.disable_onu", "BBSM00000004");
  ASSERT_EQ(off.outcome, adapter_outcome::succeeded) << off.error;
  EXPECT_EQ(off.outputs["onu_id"], id);
  EXPECT_EQ(onu("BBSM00000004").admin, admin_state::disabled);
  EXPECT_EQ(invoke("voltha.disable_onu", "BBSM00000004").outcome,
            adapter_outcome::succeeded);
  EXPECT_EQ(srv->calls("DisableDevice"), 1);
  auto on = invoke("voltha.enable_onu", "BBSM00000004");
  ASSERT_EQ(on.outcome, adapter_outcome::succeeded) << on.error;
  EXPECT_EQ(onu("BBSM00000004").admin, admin_state::enabled);
  EXPECT_EQ(invoke("voltha.enable_onu", "BBSM00000004").outcome,
            adapter_outcome::succeeded);
  EXPECT_EQ(srv->calls("EnableDevice"), 1);
}

TEST_F(voltha_adapter, provisioning_enables_a_disabled_onu) {
  ASSERT_EQ(invoke("voltha.disable_onu", "BBSM00000001").outcome,
            adapter_outcome::succeeded);
  auto rep = invoke("voltha.provision_service", "BBSM00000001");
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(onu("BBSM00000001").admin, admin_state::enabled);
}

TEST_F(voltha_adapter, injected_unavailable_is_retryable_and_recovers) {
  sim::faults f;
  f.grpc_code = 14;
  srv->set_faults(f);
  auto rep = invoke("voltha.provision_service", "BBSM00000001");
  EXPECT_EQ(rep.outcome, adapter_outcome::retryable_failure);
  EXPECT_NE(rep.error.find("UNAVAILABLE"), std::string::npos) << rep.error;
  srv->clear_faults();
  EXPECT_EQ(invoke("voltha.provision_service", "BBSM00000001").outcome,
            adapter_outcome::succeeded);
}

TEST_F(voltha_adapter, olt_app_server_error_is_retryable) {
  sim::faults f;
  f.http_status = 503;
  f.target = "rest";
  srv->set_faults(f);
  auto rep = invoke("voltha.provision_service", "BBSM00000001");
  EXPECT_EQ(rep.outcome, adapter_outcome::retryable_failure) << rep.error;
}

TEST_F(voltha_adapter, hang_after_enable_is_unknown_then_reconcile_succeeds) {
  ASSERT_EQ(invoke("voltha.disable_onu", "BBSM00000002").outcome,
            adapter_outcome::succeeded);
  sim::faults f;
  f.hang = true;
  f.apply = true;
  f.methods = {"EnableDevice"};
  f.target = "grpc";
  srv->set_faults(f);
  auto rep = invoke("voltha.provision_service", "BBSM00000002");
  EXPECT_EQ(rep.outcome, adapter_outcome::unknown_outcome) << rep.error;
  EXPECT_NE(rep.error.find("DEADLINE_EXCEEDED"), std::string::npos)
    << rep.error;
  EXPECT_EQ(subscribers(), 0u);
  srv->clear_faults();
  // The enable did take effect; the reconcile attempt finds it and only
  // programs the service.
  EXPECT_EQ(onu("BBSM00000002").admin, admin_state::enabled);
  auto again = invoke("voltha.provision_service", "BBSM00000002", true);
  ASSERT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
  EXPECT_EQ(srv->calls("EnableDevice"), 1);
  EXPECT_EQ(subscribers(), 1u);
}

TEST_F(voltha_adapter, health_probe_reflects_the_core) {
  auto ok = ask(health_atom_v, std::string{"t1"});
  EXPECT_EQ(ok.outcome, adapter_outcome::succeeded) << ok.error;
  EXPECT_EQ(ok.outputs["devices"], "5");
  sim::faults f;
  f.grpc_code = 14;
  srv->set_faults(f);
  auto down = ask(health_atom_v, std::string{"t1"});
  EXPECT_EQ(down.outcome, adapter_outcome::retryable_failure);
}

TEST_F(voltha_adapter, unknown_tenant_is_permanent) {
  auto rep = invoke("voltha.enable_onu", "BBSM00000001", false, "other");
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
}

TEST_F(voltha_adapter, wrong_onos_password_is_permanent_and_never_logged) {
  std::ostringstream logs;
  common::setup_logging(common::log_settings{common::log_level::trace,
                                             common::log_format::json},
                        logs);
  settings.onos_password = "s3cret-wrong";
  respawn();
  auto rep = invoke("voltha.provision_service", "BBSM00000001");
  common::setup_logging(common::log_settings{});
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("HTTP 401"), std::string::npos) << rep.error;
  EXPECT_EQ(rep.error.find("s3cret-wrong"), std::string::npos);
  EXPECT_NE(logs.str().find("HTTP 401"), std::string::npos) << logs.str();
  EXPECT_EQ(logs.str().find("s3cret-wrong"), std::string::npos);
}

TEST_F(voltha_adapter, unreachable_core_is_retryable) {
  srv->stop();
  auto rep = invoke("voltha.enable_onu", "BBSM00000001");
  EXPECT_EQ(rep.outcome, adapter_outcome::retryable_failure) << rep.error;
}

} // namespace
