#include "sim/awx/server.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>
#include <thread>

using namespace ispflow::sim;

namespace {

const char* json = "application/json";

struct awx_sim : ::testing::Test {
  std::unique_ptr<awx::server> srv;
  std::unique_ptr<httplib::Client> cli;

  void start(awx::options opts) {
    opts.tokens = {"sekrit-token"};
    auto s = awx::server::start(opts);
    ASSERT_TRUE(s);
    srv = std::move(*s);
    cli = std::make_unique<httplib::Client>("127.0.0.1", srv->port());
    cli->set_default_headers({{"Authorization", "Bearer sekrit-token"}});
  }

  void SetUp() override {
    awx::options opts;
    opts.manual = true;
    start(opts);
  }

  static rapidjson::Document parse(const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.c_str());
    return d;
  }

  httplib::Result launch(int tpl, const std::string& body) {
    return cli->Post(
      "/api/v2/job_templates/" + std::to_string(tpl) + "/launch/", body, json);
  }

  std::string status_of(int64_t job) {
    auto res = cli->Get("/api/v2/jobs/" + std::to_string(job) + "/");
    return parse(res->body)["status"].GetString();
  }
};

} // namespace

TEST_F(awx_sim, rejects_missing_or_wrong_bearer_tokens_with_401) {
  httplib::Client bare{"127.0.0.1", srv->port()};
  auto none = bare.Get("/api/v2/jobs/");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  auto wrong = bare.Get("/api/v2/jobs/", {{"Authorization", "Bearer nope"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(bare.Get("/api/v2/ping/")->status, 200);
}

TEST_F(awx_sim, launch_returns_201_location_job_and_ignored_fields) {
  auto res = launch(1, R"({"extra_vars":{"saga_id":"s-1"},"limit":"cpe1"})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 201);
  EXPECT_EQ(res->get_header_value("Location"), "/api/v2/jobs/1/");
  auto d = parse(res->body);
  EXPECT_EQ(d["job"].GetInt(), 1);
  EXPECT_STREQ(d["ignored_fields"]["limit"].GetString(), "cpe1");
  EXPECT_STREQ(d["status"].GetString(), "new");
  auto vars = parse(d["extra_vars"].GetString());
  EXPECT_STREQ(vars["saga_id"].GetString(), "s-1");
}

TEST_F(awx_sim, launch_info_reports_the_prompts_like_job_launch_serializer) {
  auto res = cli->Get("/api/v2/job_templates/2/launch/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto d = parse(res->body);
  EXPECT_FALSE(d["ask_variables_on_launch"].GetBool());
  EXPECT_FALSE(d["ask_limit_on_launch"].GetBool());
  EXPECT_TRUE(d["passwords_needed_to_start"].IsArray());
  for (auto key :
       {"ask_inventory_on_launch", "ask_skip_tags_on_launch",
        "ask_job_type_on_launch", "can_start_without_user_input",
        "credential_needed_to_start", "inventory_needed_to_start",
        "variables_needed_to_start", "job_template_data", "defaults"})
    EXPECT_TRUE(d.HasMember(key)) << key;
  auto survey = parse(cli->Get("/api/v2/job_templates/4/launch/")->body);
  EXPECT_TRUE(survey["survey_enabled"].GetBool());
  EXPECT_FALSE(survey["ask_variables_on_launch"].GetBool());
  EXPECT_EQ(srv->launch_prompt_reads(), 2u);
  auto state = parse(cli->Get("/_sim/state")->body);
  EXPECT_EQ(state["contract_checks"]["launch_prompt_reads"].GetInt(), 2);
}

// AWX's JobLaunchSerializer ignores launch fields the template does not
// prompt for (201 + ignored_fields), it does not refuse them.
TEST_F(awx_sim, template_without_prompt_ignores_extra_vars_with_201) {
  auto res = launch(2, R"({"extra_vars":{"saga_id":"s-1"}})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 201);
  auto d = parse(res->body);
  EXPECT_STREQ(d["ignored_fields"]["extra_vars"]["saga_id"].GetString(), "s-1");
  EXPECT_STREQ(d["extra_vars"].GetString(), "{}");
  EXPECT_EQ(srv->launch_count(), 1u);
  EXPECT_EQ(launch(2, "{}")->status, 201);
  EXPECT_EQ(launch(42, "{}")->status, 404);
}

TEST_F(awx_sim, survey_only_template_runs_the_job_without_the_other_vars) {
  auto res = launch(4, R"({"extra_vars":{"subscriber_id":"sub-1",)"
                       R"("ispflow_idempotency_key":"k-1"},"limit":"h1"})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 201);
  auto d = parse(res->body);
  const auto& ignored = d["ignored_fields"];
  EXPECT_STREQ(ignored["extra_vars"]["ispflow_idempotency_key"].GetString(),
               "k-1");
  EXPECT_FALSE(ignored["extra_vars"].HasMember("subscriber_id"));
  EXPECT_STREQ(ignored["limit"].GetString(), "h1");
  auto vars = parse(d["extra_vars"].GetString());
  EXPECT_STREQ(vars["subscriber_id"].GetString(), "sub-1");
  EXPECT_FALSE(vars.HasMember("ispflow_idempotency_key"));
  EXPECT_STREQ(d["limit"].GetString(), "");
  EXPECT_EQ(srv->ignored_field_launches(), 1u);
  // A survey answer of the wrong type is an error, not ignored.
  auto bad = launch(4, R"({"extra_vars":{"subscriber_id":7}})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("variables_needed_to_start"), std::string::npos);
  // With Variables prompted, the other variables are accepted too.
  ASSERT_TRUE(srv->patch_template(4, R"({"ask_variables_on_launch":true})"));
  auto ok = parse(
    launch(4, R"({"extra_vars":{"ispflow_idempotency_key":"k-2"}})")->body);
  EXPECT_EQ(ok["ignored_fields"].MemberCount(), 0u);
  auto ctl = cli->Post("/_sim/job_templates/4",
                       R"({"ask_limit_on_launch":true})", json);
  ASSERT_TRUE(ctl);
  EXPECT_EQ(ctl->status, 200);
  EXPECT_TRUE(parse(ctl->body)["ask_limit_on_launch"].GetBool());
  EXPECT_EQ(
    cli->Post("/_sim/job_templates/4", R"({"nope":true})", json)->status, 400);
}

TEST_F(awx_sim, launch_is_not_idempotent) {
  ASSERT_EQ(launch(1, R"({"extra_vars":{"saga_id":"dup"}})")->status, 201);
  ASSERT_EQ(launch(1, R"({"extra_vars":{"saga_id":"dup"}})")->status, 201);
  EXPECT_EQ(srv->jobs().size(), 2u);
}

TEST_F(awx_sim, lists_jobs_by_template_and_creation_time_with_pages) {
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(launch(1, "{}")->status, 201);
  ASSERT_EQ(launch(3, "{}")->status, 201);
  auto res = cli->Get("/api/v2/jobs/?job_template=1"
                      "&created__gt=2000-01-01T00:00:00Z&page_size=2");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto d = parse(res->body);
  EXPECT_EQ(d["count"].GetInt(), 3);
  EXPECT_EQ(d["results"].Size(), 2u);
  ASSERT_TRUE(d["next"].IsString());
  auto page2 = parse(cli->Get(d["next"].GetString())->body);
  EXPECT_EQ(page2["results"].Size(), 1u);
  EXPECT_TRUE(page2["next"].IsNull());
  auto future
    = parse(cli->Get("/api/v2/jobs/?created__gt=2999-01-01T00:00:00Z")->body);
  EXPECT_EQ(future["count"].GetInt(), 0);
}

TEST_F(awx_sim, job_detail_carries_the_contract_fields) {
  ASSERT_EQ(launch(1, R"({"extra_vars":{"k":"v"}})")->status, 201);
  ASSERT_TRUE(srv->set_job_status(1, "successful"));
  auto res = cli->Get("/api/v2/jobs/1/");
  ASSERT_TRUE(res);
  auto d = parse(res->body);
  for (auto key : {"id", "status", "failed", "started", "finished", "elapsed",
                   "job_explanation", "result_traceback", "extra_vars",
                   "artifacts", "launch_type", "job_template"})
    EXPECT_TRUE(d.HasMember(key)) << key;
  EXPECT_TRUE(d["extra_vars"].IsString());
  EXPECT_TRUE(d["artifacts"]["provisioned"].GetBool());
  EXPECT_FALSE(d["failed"].GetBool());
}

TEST_F(awx_sim, cancel_is_202_while_running_and_405_when_finished) {
  ASSERT_EQ(launch(1, "{}")->status, 201);
  auto can = parse(cli->Get("/api/v2/jobs/1/cancel/")->body);
  EXPECT_TRUE(can["can_cancel"].GetBool());
  auto res = cli->Post("/api/v2/jobs/1/cancel/", "", json);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(status_of(1), "canceled");
  auto again = cli->Post("/api/v2/jobs/1/cancel/", "", json);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 405);
}

TEST_F(awx_sim, control_endpoint_drives_the_status) {
  ASSERT_EQ(launch(1, "{}")->status, 201);
  EXPECT_EQ(status_of(1), "new");
  auto ctl = cli->Post("/_sim/jobs/1/status", R"({"status":"failed"})", json);
  ASSERT_TRUE(ctl);
  EXPECT_EQ(ctl->status, 200);
  EXPECT_EQ(status_of(1), "failed");
}

TEST_F(awx_sim, apply_then_reset_launches_but_drops_the_answer) {
  common::fault_config f;
  f.apply_then_reset = true;
  f.count = 1;
  srv->set_faults(f);
  EXPECT_FALSE(launch(1, R"({"extra_vars":{"saga_id":"lost"}})"));
  ASSERT_EQ(srv->jobs().size(), 1u);
  auto found = parse(cli->Get("/api/v2/jobs/?job_template=1")->body);
  EXPECT_EQ(found["count"].GetInt(), 1);
}

TEST_F(awx_sim, injected_latency_and_status) {
  auto ctl = cli->Post("/_sim/faults",
                       R"({"status":502,"path_prefix":"/api/v2/jobs/"})", json);
  ASSERT_TRUE(ctl);
  EXPECT_EQ(cli->Get("/api/v2/jobs/")->status, 502);
  EXPECT_EQ(cli->Get("/api/v2/job_templates/")->status, 200);
}

TEST(awx_sim_timeline, jobs_progress_to_their_template_outcome) {
  awx::options opts;
  opts.pending_after_ms = 10;
  opts.running_after_ms = 20;
  opts.finish_after_ms = 60;
  auto s = awx::server::start(opts);
  ASSERT_TRUE(s);
  httplib::Client c{"127.0.0.1", (*s)->port()};
  c.set_default_headers({{"Authorization", "Bearer any"}});
  ASSERT_EQ(c.Post("/api/v2/job_templates/3/launch/", "{}", json)->status, 201);
  ASSERT_EQ(c.Post("/api/v2/job_templates/1/launch/",
                   R"({"extra_vars":{"sim_outcome":"error"}})", json)
              ->status,
            201);
  std::string a;
  std::string b;
  for (int i = 0; i < 200; ++i) {
    auto jobs = (*s)->jobs();
    a = jobs.at(0).status;
    b = jobs.at(1).status;
    if (a == "failed" && b == "error")
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  EXPECT_EQ(a, "failed");
  EXPECT_EQ(b, "error");
}
