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
                       bool reconcile = false, std::string tenant = "t1") {
    adapter_request req;
    req.tenant_id = std::move(tenant);
    req.subscriber_id = "sub-1";
    req.system = "voltha";
    req.operation = std::move(op);
    req.idempotency_key = "saga-1/voltha/0";
    req.reconcile = reconcile;
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
  auto again = invoke("voltha.provision_service", "BBSM00000002");
  EXPECT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
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

TEST_F(voltha_adapter, connect_point_not_found_from_the_olt_app_is_permanent) {
  // The ONU exists in VOLTHA but the UNI does not exist in ONOS.
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
