// The AWX adapter actor against the in-process AWX simulator (contracts.md
// §4): launch with the key in extra_vars, the durable poll (parked until the
// job is terminal), the launch prompts read before launching, ignored_fields
// and 400 as configuration errors, unknown
// outcomes resolved by the key look-up without a second launch, cancel, the
// token kept out of logs, and the breaker parking after 503s.
#include "adapters/awx/adapter.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/resilience/guard.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sim/awx/server.hpp"

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
using namespace ispflow::adapters;
using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
namespace awx_sim = ispflow::sim::awx;

const std::string token = "tok-5f1c9e-do-not-log";

caf::actor_system_config& with_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

resilience::guard_config quick_breakers() {
  resilience::guard_config cfg;
  resilience::breaker_config b;
  b.sliding_window_size = 2;
  b.minimum_number_of_calls = 2;
  b.failure_rate_threshold = 50;
  b.wait_duration_in_open_state = 60s;
  b.permitted_number_of_calls_in_half_open_state = 1;
  cfg.breakers.by_adapter["awx"] = b;
  return cfg;
}

struct awx_adapter : ::testing::Test {
  caf::actor_system_config cfg;
  caf::actor_system sys{with_types(cfg)};
  std::unique_ptr<awx_sim::server> srv;
  http::http_actor http_client;
  // resilience4j's defaults (100 calls before any rate): no test but the
  // breaker one opens it.
  std::shared_ptr<resilience::guard> guard
    = std::make_shared<resilience::guard>();
  awx::adapter_actor adapter;
  awx::tenant_settings ts;
  // Null: the adapter's steady clock.
  std::shared_ptr<resilience::clock> clock;

  awx_adapter() {
    http_client = http::spawn_http_actor(sys);
  }

  ~awx_adapter() override {
    caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(http_client, caf::exit_reason::user_shutdown);
    if (srv)
      srv->stop();
  }

  // Starts the simulator (manual statuses unless `opts` says otherwise) and
  // an adapter for tenant "t1" on it.
  void start(awx_sim::options opts = manual()) {
    opts.tokens = {token};
    auto s = awx_sim::server::start(opts);
    ASSERT_TRUE(s) << render_error(s.error());
    srv = std::move(*s);
    ts.base_url = "http://127.0.0.1:" + std::to_string(srv->port()) + "/api/v2";
    ts.token = token;
    ts.activation_template = 1;
    ts.call_timeout = 2s;
    ts.poll_interval = 250ms;
    respawn();
  }

  static awx_sim::options manual() {
    awx_sim::options opts;
    opts.manual = true;
    return opts;
  }

  // A fresh adapter: empty key cache, same guard.
  void respawn() {
    if (adapter)
      caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
    awx::awx_settings settings;
    settings.tenants["t1"] = ts;
    settings.clock = clock;
    adapter = awx::spawn_awx_adapter(sys, settings, http_client, guard);
  }

  // saga_created_ms of the next invoke (0: not given).
  int64_t saga_created_ms = 0;

  adapter_reply invoke(std::string op, std::string key, bool reconcile = false,
                       std::string tenant = "t1") {
    adapter_request req;
    req.tenant_id = std::move(tenant);
    req.subscriber_id = "sub-0001";
    req.system = "awx";
    req.operation = std::move(op);
    req.idempotency_key = std::move(key);
    req.reconcile = reconcile;
    req.saga_created_ms = saga_created_ms;
    req.input = {{"ip_address", "100.64.0.7"},
                 {"plan_id", "fiber-500"},
                 {"access.onu_serial", "ALCL1A2B3C4D"},
                 {"credentials.username", "u0001"},
                 {"credentials.password", "pppoe-secret-77"}};
    return ask(invoke_atom_v, std::move(req));
  }

  adapter_reply run(std::string key, bool reconcile = false) {
    return invoke("awx.run_activation_job", std::move(key), reconcile);
  }

  adapter_reply cancel(std::string key) {
    return invoke("awx.cancel_job", std::move(key));
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

  std::string status_of(int64_t job) {
    for (auto& j : srv->jobs())
      if (j.id == job)
        return j.status;
    return "<none>";
  }
};

} // namespace

TEST_F(awx_adapter, launches_with_the_key_then_parks_until_the_job_succeeds) {
  start();
  auto first = run("saga-1/run_activation_job/0");
  EXPECT_EQ(first.outcome, adapter_outcome::parked) << first;
  EXPECT_EQ(first.retry_after_ms, 250);
  EXPECT_EQ(first.error, "AWX job 1 is new");
  ASSERT_EQ(srv->launch_count(), 1u);
  auto vars = srv->jobs().at(0).extra_vars;
  EXPECT_NE(
    vars.find(R"("ispflow_idempotency_key":"saga-1/run_activation_job/0")"),
    std::string::npos)
    << vars;
  EXPECT_NE(vars.find(R"("subscriber_id":"sub-0001")"), std::string::npos);
  EXPECT_NE(vars.find(R"("tenant_id":"t1")"), std::string::npos);
  EXPECT_NE(vars.find(R"("ip_address":"100.64.0.7")"), std::string::npos);
  EXPECT_NE(vars.find(R"("access_onu_serial":"ALCL1A2B3C4D")"),
            std::string::npos);
  EXPECT_EQ(vars.find("pppoe-secret-77"), std::string::npos) << vars;
  // The durable timer re-invokes with the same key: a poll, not a launch.
  ASSERT_TRUE(srv->set_job_status(1, "running"));
  auto second = run("saga-1/run_activation_job/0");
  EXPECT_EQ(second.outcome, adapter_outcome::parked) << second;
  EXPECT_EQ(second.error, "AWX job 1 is running");
  ASSERT_TRUE(srv->set_job_status(1, "successful"));
  auto done = run("saga-1/run_activation_job/0");
  EXPECT_EQ(done.outcome, adapter_outcome::succeeded) << done;
  EXPECT_EQ(
    done.outputs,
    (events::string_map{{"job_id", "1"}, {"artifacts.provisioned", "true"}}));
  EXPECT_EQ(srv->launch_count(), 1u);
}

TEST_F(awx_adapter, follows_the_simulator_timeline_to_successful) {
  awx_sim::options opts;
  opts.pending_after_ms = 5;
  opts.running_after_ms = 10;
  opts.finish_after_ms = 30;
  start(opts);
  adapter_reply reply;
  for (int i = 0; i < 500; ++i) {
    reply = run("saga-2/run_activation_job/0");
    if (reply.outcome != adapter_outcome::parked)
      break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(reply.outcome, adapter_outcome::succeeded) << reply;
  EXPECT_EQ(reply.outputs.at("job_id"), "1");
  EXPECT_EQ(srv->launch_count(), 1u);
}

TEST_F(awx_adapter,
       a_template_without_prompted_variables_is_refused_unlaunched) {
  start();
  ts.activation_template = 2;
  respawn();
  auto reply = run("saga-3/run_activation_job/0");
  EXPECT_EQ(reply.outcome, adapter_outcome::permanent_failure) << reply;
  EXPECT_NE(reply.error.find("enable 'Prompt on launch' for "
                             "ask_variables_on_launch"),
            std::string::npos)
    << reply.error;
  EXPECT_NE(reply.error.find("nothing was launched"), std::string::npos);
  EXPECT_EQ(srv->launch_count(), 0u);
  EXPECT_EQ(srv->launch_prompt_reads(), 1u);
}

// AWX answers a survey-only template (survey on, Variables not prompted)
// with 201: the job starts with the survey's variables only, without the
// idempotency key. The adapter reads the prompts first and launches nothing.
TEST_F(awx_adapter, a_survey_only_template_is_refused_before_any_launch) {
  start();
  ts.activation_template = 4;
  respawn();
  auto reply = run("saga-3b/run_activation_job/0");
  EXPECT_EQ(reply.outcome, adapter_outcome::permanent_failure) << reply;
  EXPECT_NE(reply.error.find("AWX job template 4"), std::string::npos)
    << reply.error;
  EXPECT_NE(reply.error.find("ask_variables_on_launch"), std::string::npos);
  EXPECT_NE(reply.error.find("except the survey's own variables"),
            std::string::npos)
    << reply.error;
  EXPECT_EQ(srv->launch_count(), 0u);
  EXPECT_TRUE(srv->jobs().empty());
  EXPECT_EQ(srv->launch_prompt_reads(), 1u);
}

TEST_F(awx_adapter, a_limit_the_template_does_not_prompt_for_is_refused) {
  start();
  ts.limit_input = "ip_address"; // template 1 does not prompt for a limit
  respawn();
  auto reply = run("saga-4/run_activation_job/0");
  EXPECT_EQ(reply.outcome, adapter_outcome::permanent_failure) << reply;
  EXPECT_NE(reply.error.find("run against the whole inventory"),
            std::string::npos)
    << reply.error;
  EXPECT_NE(reply.error.find("for ask_limit_on_launch"), std::string::npos)
    << reply.error;
  EXPECT_EQ(srv->launch_count(), 0u);
}

TEST_F(awx_adapter, the_launch_prompts_are_read_once_per_template_and_ttl) {
  auto manual = std::make_shared<resilience::manual_clock>();
  clock = manual;
  ts.launch_check_ttl = 60s;
  start();
  for (auto key : {"ttl-1", "ttl-2", "ttl-3"})
    EXPECT_EQ(run(key).outcome, adapter_outcome::parked);
  EXPECT_EQ(srv->launch_count(), 3u);
  EXPECT_EQ(srv->launch_prompt_reads(), 1u);
  // Polls of a known job never read the prompts.
  EXPECT_EQ(run("ttl-1").outcome, adapter_outcome::parked);
  EXPECT_EQ(srv->launch_prompt_reads(), 1u);
  manual->advance(61s);
  EXPECT_EQ(run("ttl-4").outcome, adapter_outcome::parked);
  EXPECT_EQ(srv->launch_prompt_reads(), 2u);
  // Another template is read on its own.
  ts.activation_template = 3;
  respawn();
  EXPECT_EQ(run("ttl-5").outcome, adapter_outcome::parked);
  EXPECT_EQ(srv->launch_prompt_reads(), 3u);
}

// The cached prompts said yes, then the template lost its limit prompt: the
// launch answers 201 with the limit in ignored_fields (the job would run on
// the whole inventory). The adapter cancels it, fails naming the prompt, and
// reads the prompts again before the next launch.
TEST_F(awx_adapter, an_ignored_launch_field_is_permanent_and_the_job_canceled) {
  start();
  ASSERT_TRUE(srv->patch_template(1, R"({"ask_limit_on_launch":true})"));
  ts.limit_input = "ip_address";
  respawn();
  EXPECT_EQ(run("saga-4a/run_activation_job/0").outcome,
            adapter_outcome::parked);
  ASSERT_TRUE(srv->patch_template(1, R"({"ask_limit_on_launch":false})"));
  auto reply = run("saga-4b/run_activation_job/0");
  EXPECT_EQ(reply.outcome, adapter_outcome::permanent_failure) << reply;
  EXPECT_NE(reply.error.find("ignored the launch fields limit"),
            std::string::npos)
    << reply.error;
  EXPECT_NE(reply.error.find("(ask_limit_on_launch)"), std::string::npos)
    << reply.error;
  EXPECT_NE(reply.error.find("job 2 was canceled"), std::string::npos)
    << reply.error;
  EXPECT_EQ(status_of(2), "canceled");
  EXPECT_EQ(srv->launch_prompt_reads(), 1u);
  auto next = run("saga-4c/run_activation_job/0");
  EXPECT_EQ(next.outcome, adapter_outcome::permanent_failure) << next;
  EXPECT_NE(next.error.find("nothing was launched"), std::string::npos);
  EXPECT_EQ(srv->launch_prompt_reads(), 2u);
  EXPECT_EQ(srv->launch_count(), 2u);
}

// A job that already finished when the cancel lands (405) is reported as
// having run without the ignored fields.
TEST_F(awx_adapter, an_ignored_key_on_a_finished_job_says_it_ran_without_it) {
  awx_sim::options opts;
  opts.pending_after_ms = 0;
  opts.running_after_ms = 0;
  opts.finish_after_ms = 0;
  start(opts);
  run("saga-4d/run_activation_job/0"); // reads the prompts of template 1
  ASSERT_TRUE(srv->patch_template(1, R"({"ask_variables_on_launch":false})"));
  auto reply = run("saga-4e/run_activation_job/0");
  EXPECT_EQ(reply.outcome, adapter_outcome::permanent_failure) << reply;
  EXPECT_NE(reply.error.find("ignored the launch fields extra_vars (including "
                             "ispflow_idempotency_key)"),
            std::string::npos)
    << reply.error;
  EXPECT_NE(reply.error.find("had already finished without them"),
            std::string::npos)
    << reply.error;
}

TEST_F(awx_adapter, a_failed_job_is_permanent_with_its_explanation) {
  start();
  ts.activation_template = 3;
  respawn();
  EXPECT_EQ(run("saga-5/run_activation_job/0").outcome,
            adapter_outcome::parked);
  ASSERT_TRUE(srv->set_job_status(1, "failed"));
  auto failed = run("saga-5/run_activation_job/0");
  EXPECT_EQ(failed.outcome, adapter_outcome::permanent_failure) << failed;
  EXPECT_EQ(failed.error, "AWX job 1 failed: no job_explanation given");
  // A canceled job carries AWX's explanation.
  EXPECT_EQ(run("saga-6/run_activation_job/0").outcome,
            adapter_outcome::parked);
  ASSERT_TRUE(srv->set_job_status(2, "canceled"));
  auto canceled = run("saga-6/run_activation_job/0");
  EXPECT_EQ(canceled.outcome, adapter_outcome::permanent_failure);
  EXPECT_EQ(canceled.error,
            "AWX job 2 canceled: Job was canceled by the user.");
}

namespace {

// The simulator starts the next launched job, then resets the connection
// instead of answering.
void reset_the_next_launch_after_applying_it(awx_sim::server& srv) {
  ispflow::sim::common::fault_config faults;
  faults.apply_then_reset = true;
  faults.path_prefix = "/api/v2/job_templates/1/launch/";
  faults.method = "POST";
  faults.count = 1;
  srv.set_faults(faults);
}

} // namespace

TEST_F(awx_adapter, an_unknown_launch_outcome_is_reconciled_without_relaunch) {
  start();
  reset_the_next_launch_after_applying_it(*srv);
  auto lost = run("saga-7/run_activation_job/0");
  EXPECT_EQ(lost.outcome, adapter_outcome::unknown_outcome) << lost;
  EXPECT_EQ(srv->launch_count(), 1u);
  auto again = run("saga-7/run_activation_job/0", true);
  EXPECT_EQ(again.outcome, adapter_outcome::parked) << again;
  EXPECT_EQ(again.outputs.at("job_id"), "1");
  ASSERT_TRUE(srv->set_job_status(1, "successful"));
  EXPECT_EQ(run("saga-7/run_activation_job/0", true).outcome,
            adapter_outcome::succeeded);
  EXPECT_EQ(srv->launch_count(), 1u);
}

// The same on a kept-alive connection: libcurl would send the launch again
// on a new connection (a second job); the HTTP client stops that.
TEST_F(awx_adapter, a_launch_lost_on_a_reused_connection_is_not_sent_again) {
  start();
  EXPECT_EQ(run("saga-8/run_activation_job/0").outcome,
            adapter_outcome::parked);
  ASSERT_EQ(srv->launch_count(), 1u);
  reset_the_next_launch_after_applying_it(*srv);
  auto lost = run("saga-9/run_activation_job/0");
  EXPECT_EQ(lost.outcome, adapter_outcome::unknown_outcome) << lost;
  EXPECT_EQ(srv->launch_count(), 2u);
  auto again = run("saga-9/run_activation_job/0", true);
  EXPECT_EQ(again.outcome, adapter_outcome::parked) << again;
  EXPECT_EQ(again.outputs.at("job_id"), "2");
  EXPECT_EQ(srv->launch_count(), 2u);
}

TEST_F(awx_adapter, a_fresh_adapter_finds_the_job_through_every_list_page) {
  start();
  ts.page_size = 1;
  respawn();
  for (auto key : {"k-1", "k-2", "k-3"})
    EXPECT_EQ(run(key).outcome, adapter_outcome::parked);
  ASSERT_EQ(srv->launch_count(), 3u);
  respawn(); // forgets every key: only the look-up can find the jobs
  auto oldest = run("k-1", true);
  EXPECT_EQ(oldest.outcome, adapter_outcome::parked) << oldest;
  EXPECT_EQ(oldest.outputs.at("job_id"), "1");
  EXPECT_EQ(run("k-3", true).outputs.at("job_id"), "3");
  EXPECT_EQ(srv->launch_count(), 3u);
}

// The look-up by key searches back to the saga's creation (less the clock
// skew margin), not the whole lookup_window: jobs created before the saga
// cannot carry its key and are not read.
TEST_F(awx_adapter, the_look_up_starts_at_the_sagas_creation) {
  start();
  ts.page_size = 1;
  respawn();
  for (auto key : {"k-1", "k-2"})
    EXPECT_EQ(run(key).outcome, adapter_outcome::parked);
  respawn();
  // A saga created long before the jobs: the look-up reaches them.
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  saga_created_ms = now_ms - 3'600'000;
  EXPECT_EQ(run("k-1", true).outputs.at("job_id"), "1");
  EXPECT_EQ(srv->launch_count(), 2u);
  respawn();
  // A saga "created" two minutes from now (past the 60 s margin): no job
  // it could have launched exists yet, the look-up ends before any, and
  // the key is launched.
  saga_created_ms = now_ms + 120'000;
  auto fresh = run("k-2", true);
  EXPECT_EQ(fresh.outcome, adapter_outcome::parked) << fresh;
  EXPECT_EQ(fresh.outputs.at("job_id"), "3");
  EXPECT_EQ(srv->launch_count(), 3u);
}

TEST_F(awx_adapter, a_5xx_on_launch_is_unknown_and_the_retry_looks_first) {
  start();
  ispflow::sim::common::fault_config faults;
  faults.status = 503;
  faults.path_prefix = "/api/v2/job_templates/1/launch/";
  faults.method = "POST";
  faults.count = 1;
  srv->set_faults(faults);
  auto failed = run("saga-8/run_activation_job/0");
  EXPECT_EQ(failed.outcome, adapter_outcome::unknown_outcome) << failed;
  EXPECT_NE(failed.error.find("HTTP 503"), std::string::npos);
  EXPECT_EQ(srv->job_list_reads(), 0u);
  // The engine sends the retry with reconcile: it lists the jobs, finds
  // none of the key, and launches once.
  EXPECT_EQ(run("saga-8/run_activation_job/0", true).outcome,
            adapter_outcome::parked);
  EXPECT_EQ(srv->job_list_reads(), 1u);
  EXPECT_EQ(srv->launch_count(), 1u);
}

// A first attempt (no reconcile) cannot have launched anything under its
// key, so it launches without listing jobs: that list grows with the rate
// of activations. Only a reconciling attempt lists them, and it finds the
// job instead of launching it again.
TEST_F(awx_adapter, only_a_reconciling_attempt_lists_the_jobs) {
  start();
  for (auto key : {"k-1", "k-2", "k-3"})
    EXPECT_EQ(run(key).outcome, adapter_outcome::parked);
  EXPECT_EQ(srv->launch_count(), 3u);
  EXPECT_EQ(srv->job_list_reads(), 0u);
  // The same adapter polls a job it launched without listing either.
  EXPECT_EQ(run("k-2").outputs.at("job_id"), "2");
  EXPECT_EQ(srv->job_list_reads(), 0u);
  respawn(); // a restarted adapter: the saga reconciles (it was parked
             // with the job's id, or it was reloaded)
  auto found = run("k-2", true);
  EXPECT_EQ(found.outcome, adapter_outcome::parked) << found;
  EXPECT_EQ(found.outputs.at("job_id"), "2");
  EXPECT_GE(srv->job_list_reads(), 1u);
  EXPECT_EQ(srv->launch_count(), 3u);
}

TEST_F(awx_adapter, a_missing_or_wrong_token_is_a_permanent_401) {
  start();
  ts.token.clear();
  respawn();
  auto none = run("saga-9/run_activation_job/0");
  EXPECT_EQ(none.outcome, adapter_outcome::permanent_failure) << none;
  EXPECT_NE(none.error.find("HTTP 401"), std::string::npos) << none.error;
  ts.token = "not-the-token";
  respawn();
  auto wrong = run("saga-9/run_activation_job/0");
  EXPECT_EQ(wrong.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(wrong.error.find("token was refused"), std::string::npos);
  EXPECT_EQ(wrong.error.find("not-the-token"), std::string::npos);
  EXPECT_EQ(srv->launch_count(), 0u);
}

TEST_F(awx_adapter, cancel_succeeds_on_202_405_and_without_a_job) {
  start();
  EXPECT_EQ(run("saga-10/run_activation_job/0").outcome,
            adapter_outcome::parked);
  auto first = cancel("saga-10/run_activation_job/0");
  EXPECT_EQ(first.outcome, adapter_outcome::succeeded) << first;
  EXPECT_EQ(first.outputs, (events::string_map{{"job_id", "1"}}));
  EXPECT_EQ(status_of(1), "canceled");
  // Already finished: AWX answers 405, which is success.
  respawn();
  auto second = cancel("saga-10/run_activation_job/0");
  EXPECT_EQ(second.outcome, adapter_outcome::succeeded) << second;
  EXPECT_EQ(second.outputs, (events::string_map{{"job_id", "1"}}));
  auto none = cancel("never-launched");
  EXPECT_EQ(none.outcome, adapter_outcome::succeeded) << none;
  EXPECT_TRUE(none.outputs.empty());
}

TEST_F(awx_adapter, the_token_never_reaches_logs_or_replies) {
  std::ostringstream logs;
  common::setup_logging(common::log_settings{common::log_level::trace,
                                             common::log_format::json},
                        logs);
  start();
  std::vector<adapter_reply> replies;
  replies.push_back(run("saga-11/run_activation_job/0"));
  ASSERT_TRUE(srv->set_job_status(1, "failed"));
  replies.push_back(run("saga-11/run_activation_job/0"));
  replies.push_back(cancel("saga-11/run_activation_job/0"));
  replies.push_back(ask(health_atom_v, std::string{"t1"}));
  ts.token = token + "-stale";
  respawn();
  replies.push_back(run("saga-12/run_activation_job/0"));
  common::setup_logging(common::log_settings{});
  EXPECT_NE(logs.str().find("job launched"), std::string::npos) << logs.str();
  EXPECT_NE(logs.str().find("HTTP 401"), std::string::npos) << logs.str();
  EXPECT_EQ(logs.str().find(token), std::string::npos) << logs.str();
  EXPECT_EQ(logs.str().find("pppoe-secret-77"), std::string::npos);
  for (auto& r : replies) {
    EXPECT_EQ(r.error.find(token), std::string::npos) << r;
    for (auto& [k, v] : r.outputs)
      EXPECT_EQ(v.find(token), std::string::npos) << k;
  }
}

TEST_F(awx_adapter, the_breaker_parks_steps_after_injected_503s) {
  guard = std::make_shared<resilience::guard>(quick_breakers());
  start();
  ispflow::sim::common::fault_config faults;
  faults.status = 503;
  srv->set_faults(faults);
  for (int i = 0; i < 2; ++i) {
    auto r = run("saga-13/run_activation_job/0");
    EXPECT_EQ(r.outcome, adapter_outcome::retryable_failure) << r;
  }
  auto parked = run("saga-13/run_activation_job/0");
  EXPECT_EQ(parked.outcome, adapter_outcome::parked) << parked;
  EXPECT_GT(parked.retry_after_ms, 0);
  EXPECT_NE(parked.error.find("breaker t1/awx/"), std::string::npos)
    << parked.error;
  auto cb = guard->breakers().find({"t1", "awx", ts.base_url + "/"});
  ASSERT_NE(cb, nullptr);
  EXPECT_EQ(cb->state(), resilience::breaker_state::open);
  // One breaker per (tenant, adapter, endpoint).
  EXPECT_EQ(guard->breakers().size(), 1u);
  EXPECT_EQ(srv->launch_count(), 0u);
}

TEST_F(awx_adapter, the_health_probe_and_bad_requests_answer) {
  start();
  EXPECT_EQ(ask(health_atom_v, std::string{"t1"}).outcome,
            adapter_outcome::succeeded);
  EXPECT_EQ(ask(health_atom_v, std::string{"nobody"}).outcome,
            adapter_outcome::permanent_failure);
  EXPECT_EQ(invoke("awx.run_activation_job", "k", false, "nobody").outcome,
            adapter_outcome::permanent_failure);
  EXPECT_EQ(invoke("awx.reboot", "k").outcome,
            adapter_outcome::permanent_failure);
  EXPECT_EQ(run("").outcome, adapter_outcome::permanent_failure);
  srv->stop();
  auto down = ask(health_atom_v, std::string{"t1"});
  EXPECT_EQ(down.outcome, adapter_outcome::retryable_failure) << down;
}
