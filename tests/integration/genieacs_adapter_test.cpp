#include "adapters/genieacs/adapter.hpp"
#include "adapters/genieacs/wire.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/resilience/guard.hpp"
#include "common/log.hpp"
#include "events/type_ids.hpp"
#include "sim/genieacs/server.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sstream>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace ispflow;
using namespace ispflow::adapters;
using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
namespace sim = ispflow::sim;

// The simulator's built-in devices.
const std::string dev_a = "202BC1-BM632w-0000000001";
const std::string dev_b = "00259E-HG8245H-SR552NA084%2D0003269";
const std::string dev_off = "001122-OFFLINE%2D01";

caf::actor_system_config& adapter_config(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

struct genieacs_adapter : ::testing::Test {
  std::unique_ptr<sim::genieacs::server> srv;
  caf::actor_system_config cfg;
  caf::actor_system sys{adapter_config(cfg)};
  http::http_actor http;
  std::shared_ptr<resilience::manual_clock> clock
    = std::make_shared<resilience::manual_clock>();
  std::shared_ptr<resilience::guard> guard;
  genieacs::tenant_settings settings;
  genieacs::adapter_actor adapter;
  // Shared by every adapter respawn(): what survives a restart.
  genieacs::intent_store_actor intents;

  genieacs_adapter() {
    sim::genieacs::options opts;
    // A connection request to an offline CPE fails after this long.
    opts.connection_request_timeout_ms = 100;
    auto s = sim::genieacs::server::start(opts);
    EXPECT_TRUE(s);
    if (!s)
      return;
    srv = std::move(*s);
    http = http::spawn_http_actor(sys);
    settings.base_url = "http://127.0.0.1:" + std::to_string(srv->port());
    settings.call_timeout = 2000ms;
    settings.connection_request_timeout = 200ms;
    settings.session_allowance = 2000ms;
    guard = std::make_shared<resilience::guard>();
    intents = genieacs::spawn_memory_intent_store(sys);
    respawn();
  }

  ~genieacs_adapter() override {
    caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(intents, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(http, caf::exit_reason::user_shutdown);
    if (srv)
      srv->stop();
  }

  void respawn() {
    if (adapter)
      caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
    genieacs::adapter_settings as;
    as.tenants["t1"] = settings;
    as.clock = clock;
    adapter = genieacs::spawn_genieacs_adapter(sys, as, http, guard, intents);
  }

  // A restart: the adapter dies at once (whatever it was waiting for) and
  // a new one starts with the same intent store.
  void crash_and_restart() {
    caf::anon_send_exit(adapter, caf::exit_reason::kill);
    adapter = nullptr;
    respawn();
  }

  adapter_request reset_request(bool reconcile = false) {
    auto req = request("genieacs.factory_reset", "0000000001");
    req.idempotency_key = "saga-2/factory_reset_cpe/0";
    req.reconcile = reconcile;
    return req;
  }

  // Waits (bounded) until the simulator ran `n` tasks `name` on `dev`.
  bool await_executed(const std::string& dev, const std::string& name,
                      size_t n) {
    for (int i = 0; i < 500; ++i) {
      if (executed_count(dev, name) >= n)
        return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  std::string add_tr181_device(std::string serial = "TR181-0001") {
    sim::genieacs::device_seed seed;
    seed.oui = "A0B1C2";
    seed.product_class = "EX220";
    seed.serial = std::move(serial);
    seed.data_model = "tr181";
    return srv->add_device(seed);
  }

  adapter_request request(std::string op, std::string serial,
                          std::string oui = {}, bool reconcile = false) {
    adapter_request req;
    req.tenant_id = "t1";
    req.subscriber_id = "sub-1";
    req.system = "genieacs";
    req.operation = std::move(op);
    req.idempotency_key = "saga-1/configure_cpe/0";
    req.reconcile = reconcile;
    if (!serial.empty())
      req.input["access.cpe.serial"] = std::move(serial);
    if (!oui.empty())
      req.input["access.cpe.oui"] = std::move(oui);
    req.input["credentials.username"] = "user-1@isp";
    req.input["credentials.password"] = "pppoe-secret-1";
    return req;
  }

  adapter_reply ask(adapter_request req) {
    adapter_reply res;
    caf::scoped_actor self{sys};
    self->request(adapter, 30s, invoke_atom_v, std::move(req))
      .receive([&](adapter_reply& r) { res = std::move(r); },
               [&](caf::error& err) {
                 ADD_FAILURE() << "request failed: " << to_string(err);
                 res = events::reply_failed(adapter_outcome::permanent_failure,
                                            "error");
               });
    return res;
  }

  adapter_reply configure(std::string serial, std::string oui = {},
                          bool reconcile = false) {
    return ask(request("genieacs.configure_cpe", std::move(serial),
                       std::move(oui), reconcile));
  }

  std::vector<sim::genieacs::task_view> tasks_of(const std::string& dev) {
    auto all = srv->tasks();
    all.erase(std::remove_if(all.begin(), all.end(),
                             [&](auto& t) { return t.device != dev; }),
              all.end());
    return all;
  }

  size_t executed_count(const std::string& dev, const std::string& name) {
    auto xs = srv->executed(dev);
    return static_cast<size_t>(std::count(xs.begin(), xs.end(), name));
  }
};

// -- configure_cpe ------------------------------------------------------------

TEST_F(genieacs_adapter, configures_an_online_cpe_with_a_connection_request) {
  auto rep = configure("0000000001", "202BC1");
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["cpe_id"], dev_a);
  EXPECT_EQ(srv->parameter(dev_a, genieacs::tr098_pppoe_username),
            "user-1@isp");
  EXPECT_EQ(srv->parameter(dev_a, genieacs::tr098_pppoe_password),
            "pppoe-secret-1");
  EXPECT_EQ(srv->parameter(dev_a, genieacs::tr098_ssid), "ispflow");
  EXPECT_TRUE(srv->tasks().empty());
}

TEST_F(genieacs_adapter, ssid_template_and_extra_parameters_are_set) {
  settings.ssid_template = "net-{subscriber_id}";
  settings.extra_parameters = {
    {"InternetGatewayDevice.ManagementServer.PeriodicInformInterval", "300"}};
  respawn();
  auto rep = configure("0000000001");
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(srv->parameter(dev_a, genieacs::tr098_ssid), "net-sub-1");
  EXPECT_EQ(srv->parameter(
              dev_a,
              "InternetGatewayDevice.ManagementServer.PeriodicInformInterval"),
            "300");
}

TEST_F(genieacs_adapter, device_id_with_an_encoded_dash_is_encoded_again) {
  auto rep = configure("SR552NA084-0003269", "00259E");
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["cpe_id"], dev_b);
  EXPECT_EQ(srv->parameter(dev_b, genieacs::tr098_pppoe_username),
            "user-1@isp");
}

TEST_F(genieacs_adapter, unknown_serial_is_permanent) {
  auto rep = configure("NOPE");
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("no device with serial NOPE"), std::string::npos)
    << rep.error;
  auto wrong_oui = configure("0000000001", "FFFFFF");
  EXPECT_EQ(wrong_oui.outcome, adapter_outcome::permanent_failure);
}

TEST_F(genieacs_adapter, missing_credentials_are_permanent) {
  auto req = request("genieacs.configure_cpe", "0000000001");
  req.input.erase("credentials.password");
  auto rep = ask(req);
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_TRUE(srv->executed(dev_a).empty());
}

TEST_F(genieacs_adapter, no_cpe_in_the_input_succeeds_without_a_call) {
  srv->set_faults([] {
    sim::common::fault_config f;
    f.status = 500;
    return f;
  }());
  auto rep = configure("");
  EXPECT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  settings.skip_without_cpe = false;
  respawn();
  EXPECT_EQ(configure("").outcome, adapter_outcome::permanent_failure);
}

TEST_F(genieacs_adapter, queued_task_is_retryable_then_polled_until_it_ran) {
  auto first = configure("OFFLINE-01");
  EXPECT_EQ(first.outcome, adapter_outcome::retryable_failure);
  EXPECT_NE(first.error.find("queued until the device's next inform"),
            std::string::npos)
    << first.error;
  // genieacs/genieacs lib/connection-request.ts: "Device is offline".
  EXPECT_NE(first.error.find("device is offline"), std::string::npos)
    << first.error;
  auto queued = tasks_of(dev_off);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued.front().unique_key,
            "ispflow:genieacs.configure_cpe:saga-1/configure_cpe/0");
  auto again = configure("OFFLINE-01");
  EXPECT_EQ(again.outcome, adapter_outcome::retryable_failure) << again.error;
  auto still = tasks_of(dev_off);
  ASSERT_EQ(still.size(), 1u);
  EXPECT_EQ(still.front().id, queued.front().id) << "polled, not posted again";
  ASSERT_TRUE(srv->set_online(dev_off, true));
  auto done = configure("OFFLINE-01");
  ASSERT_EQ(done.outcome, adapter_outcome::succeeded) << done.error;
  EXPECT_EQ(done.outputs["cpe_id"], dev_off);
  EXPECT_EQ(executed_count(dev_off, "setParameterValues"), 1u);
  EXPECT_EQ(srv->parameter(dev_off, genieacs::tr098_pppoe_username),
            "user-1@isp");
}

TEST_F(genieacs_adapter, faulted_task_is_permanent_with_the_fault) {
  ASSERT_TRUE(srv->set_task_fault(dev_a, "9002", "Internal error"));
  auto rep = configure("0000000001");
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("9002: Internal error"), std::string::npos)
    << rep.error;
  // GenieACS would retry the faulted task by itself later: it is withdrawn,
  // so only an operator's retry can run the operation again.
  EXPECT_TRUE(tasks_of(dev_a).empty());
}

TEST_F(genieacs_adapter, connection_request_error_phrase_is_retryable) {
  ASSERT_TRUE(
    srv->set_connection_request_error(dev_a, "Connection refused by CPE"));
  auto rep = configure("0000000001");
  EXPECT_EQ(rep.outcome, adapter_outcome::retryable_failure);
  EXPECT_NE(
    rep.error.find("connection request failed: Connection refused by CPE"),
    std::string::npos)
    << rep.error;
  EXPECT_EQ(tasks_of(dev_a).size(), 1u);
  auto poll = configure("0000000001");
  EXPECT_EQ(poll.outcome, adapter_outcome::retryable_failure) << poll.error;
  EXPECT_EQ(tasks_of(dev_a).size(), 1u);
}

TEST_F(genieacs_adapter,
       lost_answer_is_unknown_and_reconcile_does_not_queue_twice) {
  sim::common::fault_config f;
  f.apply_then_reset = true;
  f.path_prefix = "/devices/";
  f.method = "POST";
  f.count = 1;
  srv->set_faults(f);
  auto lost = configure("OFFLINE-01");
  EXPECT_EQ(lost.outcome, adapter_outcome::unknown_outcome) << lost.error;
  ASSERT_EQ(tasks_of(dev_off).size(), 1u);
  auto id = tasks_of(dev_off).front().id;
  respawn();
  auto rec = configure("OFFLINE-01", {}, true);
  EXPECT_EQ(rec.outcome, adapter_outcome::retryable_failure) << rec.error;
  ASSERT_EQ(tasks_of(dev_off).size(), 1u);
  EXPECT_EQ(tasks_of(dev_off).front().id, id);
}

TEST_F(genieacs_adapter, reconcile_finds_a_faulted_task_by_its_unique_key) {
  ASSERT_TRUE(srv->set_task_fault(dev_a, "9007", "Invalid parameter value"));
  ASSERT_EQ(configure("0000000001").outcome,
            adapter_outcome::permanent_failure);
  respawn();
  auto rec = configure("0000000001", {}, true);
  EXPECT_EQ(rec.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rec.error.find("9007"), std::string::npos) << rec.error;
  // Faulted tasks are withdrawn, the first one and the one reconcile met.
  EXPECT_TRUE(tasks_of(dev_a).empty());
}

TEST_F(genieacs_adapter, server_errors_are_retryable_and_refusal_too) {
  sim::common::fault_config f;
  f.status = 503;
  srv->set_faults(f);
  auto rep = configure("0000000001");
  EXPECT_EQ(rep.outcome, adapter_outcome::retryable_failure) << rep.error;
  srv->set_faults({});
  settings.base_url = "http://127.0.0.1:21942";
  respawn();
  auto refused = configure("0000000001");
  EXPECT_EQ(refused.outcome, adapter_outcome::retryable_failure)
    << refused.error;
}

TEST_F(genieacs_adapter, task_post_timing_out_after_sending_is_unknown) {
  settings.session_allowance = 100ms;
  respawn();
  sim::common::fault_config f;
  f.hang = true;
  f.hang_ms = 2000;
  f.path_prefix = "/devices/";
  f.method = "POST";
  f.count = 1;
  srv->set_faults(f);
  auto rep = configure("0000000001");
  EXPECT_EQ(rep.outcome, adapter_outcome::unknown_outcome) << rep.error;
}

// -- factory_reset ------------------------------------------------------------

TEST_F(genieacs_adapter, factory_reset_runs_a_factory_reset_task) {
  ASSERT_EQ(configure("0000000001").outcome, adapter_outcome::succeeded);
  auto req = request("genieacs.factory_reset", "0000000001");
  req.idempotency_key = "saga-2/factory_reset_cpe/0";
  auto rep = ask(req);
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(executed_count(dev_a, "factoryReset"), 1u);
  EXPECT_EQ(srv->parameter(dev_a, genieacs::tr098_pppoe_username), "");
}

TEST_F(genieacs_adapter,
       factory_reset_of_an_unknown_device_id_is_permanent_404) {
  auto req = request("genieacs.factory_reset", "");
  req.input["cpe_id"] = "FFFFFF-NOPE";
  auto rep = ask(req);
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("no such device"), std::string::npos) << rep.error;
}

// -- data models and read-back (issue 12 item 7)
// -------------------------------

TEST_F(genieacs_adapter, tr181_cpe_is_configured_on_device_paths_detected) {
  auto dev = add_tr181_device();
  auto rep = configure("TR181-0001");
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["cpe_id"], dev);
  EXPECT_EQ(rep.outputs["data_model"], "tr181");
  EXPECT_EQ(srv->parameter(dev, genieacs::tr181_pppoe_username), "user-1@isp");
  EXPECT_EQ(srv->parameter(dev, genieacs::tr181_pppoe_password),
            "pppoe-secret-1");
  EXPECT_GE(srv->stats().value_readbacks, 1u);
}

TEST_F(genieacs_adapter, tr098_paths_on_a_tr181_cpe_fail_naming_the_paths) {
  auto dev = add_tr181_device();
  settings.model = genieacs::data_model::tr098;
  respawn();
  auto rep = configure("TR181-0001");
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure) << rep.error;
  EXPECT_NE(rep.error.find(genieacs::tr098_pppoe_username), std::string::npos)
    << rep.error;
  EXPECT_NE(rep.error.find(genieacs::tr098_pppoe_password), std::string::npos)
    << rep.error;
  EXPECT_EQ(rep.error.find("pppoe-secret-1"), std::string::npos);
  EXPECT_EQ(srv->parameter(dev, genieacs::tr181_pppoe_username), "");
}

TEST_F(genieacs_adapter, product_class_data_model_wins_over_the_tenant) {
  auto dev = add_tr181_device();
  settings.model = genieacs::data_model::tr098;
  settings.product_class_models["EX220"] = genieacs::data_model::tr181;
  respawn();
  auto rep = configure("TR181-0001");
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(srv->parameter(dev, genieacs::tr181_pppoe_username), "user-1@isp");
  // The TR-098 device is still written on TR-098 paths.
  auto old = configure("0000000001");
  ASSERT_EQ(old.outcome, adapter_outcome::succeeded) << old.error;
  EXPECT_EQ(old.outputs["data_model"], "tr098");
}

TEST_F(genieacs_adapter, extra_parameter_the_cpe_lacks_is_permanent) {
  settings.extra_parameters
    = {{"InternetGatewayDevice.X_VENDOR_Nope.Enable", "1"}};
  respawn();
  auto rep = configure("0000000001");
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure) << rep.error;
  EXPECT_NE(rep.error.find("InternetGatewayDevice.X_VENDOR_Nope.Enable"),
            std::string::npos)
    << rep.error;
}

// -- device ids (issue 12 item 8)
// ----------------------------------------------

// genieacs/genieacs lib/util.ts generateDeviceId: no zero padding, a tab is
// "%9"; the id is then percent-encoded again for the URL path.
TEST_F(genieacs_adapter, device_id_with_a_control_character_is_found) {
  sim::genieacs::device_seed seed;
  seed.oui = "00259E";
  seed.product_class = "HG8245H";
  seed.serial = "SN\t7";
  auto dev = srv->add_device(seed);
  EXPECT_EQ(dev, "00259E-HG8245H-SN%97");
  auto rep = configure("SN\t7", "00259E");
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["cpe_id"], "00259E-HG8245H-SN%97");
  EXPECT_EQ(srv->parameter(dev, genieacs::tr098_pppoe_username), "user-1@isp");
}

// -- durable task intents (issue 12 item 6)
// ------------------------------------

TEST_F(genieacs_adapter, reset_answered_but_not_committed_is_not_posted_again) {
  auto first = ask(reset_request());
  ASSERT_EQ(first.outcome, adapter_outcome::succeeded) << first.error;
  crash_and_restart();
  auto again = ask(reset_request(true));
  ASSERT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
  EXPECT_EQ(executed_count(dev_a, "factoryReset"), 1u);
}

TEST_F(genieacs_adapter, reset_that_ran_before_the_answer_is_not_posted_again) {
  // GenieACS runs the reset, then the process dies before the 200 arrives.
  srv->set_hold(10'000, "factoryReset");
  caf::scoped_actor self{sys};
  self->send(adapter, invoke_atom_v, reset_request());
  ASSERT_TRUE(await_executed(dev_a, "factoryReset", 1));
  crash_and_restart();
  srv->set_hold(0, {});
  // The finished task is gone from GenieACS: only the recorded intent and
  // the device record (a boot after the post) tell that it ran.
  EXPECT_TRUE(tasks_of(dev_a).empty());
  auto rec = ask(reset_request(true));
  ASSERT_EQ(rec.outcome, adapter_outcome::succeeded) << rec.error;
  EXPECT_EQ(executed_count(dev_a, "factoryReset"), 1u);
  EXPECT_GE(srv->stats().reconcile_reads, 1u);
}

TEST_F(genieacs_adapter, configuration_that_ran_before_a_crash_reads_back) {
  srv->set_hold(10'000, "setParameterValues");
  caf::scoped_actor self{sys};
  self->send(adapter, invoke_atom_v,
             request("genieacs.configure_cpe", "0000000001"));
  ASSERT_TRUE(await_executed(dev_a, "setParameterValues", 1));
  crash_and_restart();
  srv->set_hold(0, {});
  auto before = srv->stats().value_readbacks;
  auto rec = configure("0000000001", {}, true);
  ASSERT_EQ(rec.outcome, adapter_outcome::succeeded) << rec.error;
  EXPECT_EQ(executed_count(dev_a, "setParameterValues"), 1u);
  EXPECT_GT(srv->stats().value_readbacks, before);
}

TEST_F(genieacs_adapter, recorded_post_without_a_session_since_posts_again) {
  // The intent was written, then the process died before the POST left:
  // no task queued and no session since the post time.
  genieacs::task_intent x;
  x.operation = "genieacs.factory_reset";
  x.idempotency_key = "saga-2/factory_reset_cpe/0";
  x.tenant_id = "t1";
  x.device = dev_a;
  x.unique_key = "ispflow:genieacs.factory_reset:saga-2/factory_reset_cpe/0";
  x.posted_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count()
                   + 60'000;
  caf::scoped_actor self{sys};
  self->request(intents, 5s, save_atom_v, x)
    .receive([](bool) {}, [](caf::error& err) { FAIL() << to_string(err); });
  auto rec = ask(reset_request(true));
  ASSERT_EQ(rec.outcome, adapter_outcome::succeeded) << rec.error;
  EXPECT_EQ(executed_count(dev_a, "factoryReset"), 1u);
}

TEST_F(genieacs_adapter, session_after_the_post_without_a_boot_waits) {
  genieacs::task_intent x;
  x.operation = "genieacs.factory_reset";
  x.idempotency_key = "saga-2/factory_reset_cpe/0";
  x.tenant_id = "t1";
  x.device = dev_a;
  x.unique_key = "ispflow:genieacs.factory_reset:saga-2/factory_reset_cpe/0";
  x.posted_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  caf::scoped_actor self{sys};
  self->request(intents, 5s, save_atom_v, x)
    .receive([](bool) {}, [](caf::error& err) { FAIL() << to_string(err); });
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(srv->set_online(dev_a, true)); // an inform after the post
  auto rec = ask(reset_request(true));
  EXPECT_EQ(rec.outcome, adapter_outcome::retryable_failure) << rec.error;
  EXPECT_NE(rec.error.find("not posted again"), std::string::npos) << rec.error;
  EXPECT_EQ(executed_count(dev_a, "factoryReset"), 0u);
}

// -- probe, secrets, breaker --------------------------------------------------

TEST_F(genieacs_adapter, health_probe_reports_the_version) {
  adapter_reply rep;
  caf::scoped_actor self{sys};
  self->request(adapter, 30s, health_atom_v, std::string{"t1"})
    .receive([&](adapter_reply& r) { rep = std::move(r); },
             [&](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["genieacs_version"], "1.2.9");
}

TEST_F(genieacs_adapter, pppoe_password_never_appears_in_logs) {
  std::ostringstream out;
  common::setup_logging({common::log_level::trace, common::log_format::json},
                        out);
  auto ok = configure("0000000001");
  ASSERT_TRUE(srv->set_task_fault(dev_b, "9002", "Internal error"));
  auto faulted = configure("SR552NA084-0003269");
  common::setup_logging({common::log_level::info, common::log_format::json});
  auto text = out.str();
  EXPECT_NE(text.find("/tasks"), std::string::npos) << "nothing was logged";
  EXPECT_EQ(text.find("pppoe-secret-1"), std::string::npos);
  EXPECT_EQ(faulted.error.find("pppoe-secret-1"), std::string::npos);
}

TEST_F(genieacs_adapter,
       breaker_parks_after_503s_and_an_offline_cpe_does_not_count) {
  resilience::guard_config gc;
  auto& b = gc.breakers.defaults;
  b.sliding_window_size = 3;
  b.minimum_number_of_calls = 3;
  b.failure_rate_threshold = 100.0;
  b.wait_duration_in_open_state = 5000ms;
  b.permitted_number_of_calls_in_half_open_state = 1;
  guard = std::make_shared<resilience::guard>(gc);
  respawn();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(configure("OFFLINE-01").outcome,
              adapter_outcome::retryable_failure);
  EXPECT_EQ(guard->breakers().snapshots().front().second.state,
            resilience::breaker_state::closed);
  sim::common::fault_config f;
  f.status = 503;
  f.count = 3;
  srv->set_faults(f);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(configure("0000000001").outcome,
              adapter_outcome::retryable_failure);
  ASSERT_TRUE(srv->faults().empty());
  auto parked = configure("0000000001");
  EXPECT_EQ(parked.outcome, adapter_outcome::parked);
  EXPECT_GT(parked.retry_after_ms, 0);
  EXPECT_TRUE(srv->executed(dev_a).empty()) << "nothing reached the ACS";
  clock->advance(5001ms);
  auto resumed = configure("0000000001");
  EXPECT_EQ(resumed.outcome, adapter_outcome::succeeded) << resumed.error;
  EXPECT_EQ(executed_count(dev_a, "setParameterValues"), 1u);
}

} // namespace

// -- tag_cpe (drift repair) ---------------------------------------------------

namespace {

// The device's `_tags` as the NBI answers a query for them.
std::string tags_of(const sim::genieacs::server& srv, const std::string& dev) {
  httplib::Client c{"127.0.0.1", srv.port()};
  auto res = c.Get(genieacs::query_url(
    "", "devices", genieacs::field_query("_id", dev), "_tags"));
  if (!res || res->status != 200)
    return "unreadable";
  auto tags = genieacs::parse_tags(res->body);
  if (!tags || !*tags)
    return "none";
  std::string out;
  for (auto& t : **tags)
    out += (out.empty() ? "" : ",") + t;
  return out;
}

} // namespace

TEST_F(genieacs_adapter, tag_cpe_adds_the_tags_the_cpe_lacks) {
  auto dev = add_tr181_device();
  httplib::Client c{"127.0.0.1", srv->port()};
  auto pre = c.Post(genieacs::tag_url("", dev, "vip"), "", "text/plain");
  ASSERT_TRUE(pre);
  ASSERT_EQ(pre->status, 200);
  adapter_request req;
  req.tenant_id = "t1";
  req.subscriber_id = "sub-1";
  req.system = "genieacs";
  req.operation = "genieacs.tag_cpe";
  req.idempotency_key = "repair-1/tag_cpe/0";
  req.input["cpe_id"] = dev;
  req.input["cpe_tags.0"] = "ispflow";
  req.input["cpe_tags.1"] = "vip";
  req.input["cpe_tags.2"] = "plan 100.x";
  auto rep = ask(req);
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["cpe_id"], dev);
  EXPECT_EQ(tags_of(*srv, dev), "vip,ispflow,plan 100.x");
  // Again (a retry): nothing changes.
  auto again = ask(req);
  ASSERT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
  EXPECT_EQ(tags_of(*srv, dev), "vip,ispflow,plan 100.x");
  // A device that is gone is permanent, not a tag of nothing (the NBI
  // answers 200 to that).
  req.input["cpe_id"] = "000000-Gone-0001";
  auto gone = ask(req);
  EXPECT_EQ(gone.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(gone.error.find("no device 000000-Gone-0001"), std::string::npos)
    << gone.error;
  // Inputs missing: permanent, naming them.
  req.input.erase("cpe_id");
  auto no_id = ask(req);
  EXPECT_EQ(no_id.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(no_id.error.find("cpe_id"), std::string::npos) << no_id.error;
  req.input = {{"cpe_id", dev}};
  auto no_tags = ask(req);
  EXPECT_EQ(no_tags.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(no_tags.error.find("cpe_tags"), std::string::npos) << no_tags.error;
}

TEST_F(genieacs_adapter, tag_cpe_server_errors_are_retryable) {
  auto dev = add_tr181_device();
  sim::common::fault_config f;
  f.status = 503;
  f.method = "POST";
  srv->set_faults(f);
  adapter_request req;
  req.tenant_id = "t1";
  req.subscriber_id = "sub-1";
  req.system = "genieacs";
  req.operation = "genieacs.tag_cpe";
  req.idempotency_key = "repair-1/tag_cpe/0";
  req.input = {{"cpe_id", dev}, {"cpe_tags.0", "ispflow"}};
  auto rep = ask(req);
  EXPECT_EQ(rep.outcome, adapter_outcome::retryable_failure) << rep.error;
  srv->set_faults({});
  EXPECT_EQ(ask(req).outcome, adapter_outcome::succeeded);
  EXPECT_EQ(tags_of(*srv, dev), "ispflow");
}
