// The AWX wire format of adapters/awx/protocol.hpp without a server: launch
// bodies, launch answers (ignored_fields, Location), job pages, outcomes.
#include "adapters/awx/protocol.hpp"
#include "adapters/awx/settings.hpp"

#include <gtest/gtest.h>

namespace {

using namespace ispflow;
using namespace ispflow::adapters;
using namespace ispflow::adapters::awx;
using events::adapter_outcome;

http::response answer(int status, std::string body) {
  http::response res;
  res.status = status;
  res.body = std::move(body);
  return res;
}

} // namespace

TEST(awx_protocol, launch_body_carries_the_key_and_never_credentials) {
  tenant_settings ts;
  ts.inventory = 7;
  ts.limit_input = "ip_address";
  ts.extra_var_inputs.push_back("credentials.password");
  events::adapter_request req;
  req.tenant_id = "acme";
  req.subscriber_id = "sub-1";
  req.idempotency_key = "s/run_activation_job/0";
  req.input = {{"ip_address", "100.64.0.7"},
               {"access.cpe.serial", "CPE1"},
               {"credentials.password", "pw"}};
  EXPECT_EQ(
    launch_body(ts, req),
    R"({"extra_vars":{"ispflow_idempotency_key":"s/run_activation_job/0",)"
    R"("tenant_id":"acme","subscriber_id":"sub-1",)"
    R"("ip_address":"100.64.0.7","access_cpe_serial":"CPE1"},)"
    R"("inventory":7,"limit":"100.64.0.7"})");
  EXPECT_EQ(launch_fields(ts, req),
            (std::vector<std::string>{"extra_vars", "inventory", "limit"}));
}

TEST(awx_protocol, reads_launch_answers_and_ignored_fields) {
  auto info = parse_launch(answer(
    201,
    R"({"job":42,"status":"pending","ignored_fields":{"extra_vars":{"ispflow_idempotency_key":"k"},"limit":"x"}})"));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->job, 42);
  EXPECT_EQ(info->status, "pending");
  EXPECT_EQ(info->ignored, (std::vector<std::string>{"extra_vars", "limit"}));
  EXPECT_TRUE(info->key_ignored);
  auto by_location = answer(202, "");
  by_location.headers.emplace_back("Location", "/api/v2/jobs/77/");
  auto loc = parse_launch(by_location);
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->job, 77);
  EXPECT_FALSE(loc->key_ignored);
  EXPECT_FALSE(parse_launch(answer(201, "{}")));
}

TEST(awx_protocol, launch_prompts_say_which_prompts_a_tenant_misses) {
  auto p = parse_launch_prompts(
    R"({"ask_variables_on_launch":false,"ask_limit_on_launch":true,)"
    R"("ask_inventory_on_launch":false,"survey_enabled":true,)"
    R"("variables_needed_to_start":[],"passwords_needed_to_start":[]})");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->ask_variables);
  EXPECT_TRUE(p->ask_limit);
  EXPECT_TRUE(p->survey_enabled);
  tenant_settings ts;
  EXPECT_EQ(missing_prompts(*p, ts),
            (std::vector<std::string>{"ask_variables_on_launch"}));
  ts.inventory = 3;
  ts.limit_input = "ip_address";
  EXPECT_EQ(missing_prompts(*p, ts),
            (std::vector<std::string>{"ask_variables_on_launch",
                                      "ask_inventory_on_launch"}));
  p->ask_variables = true;
  p->ask_inventory = true;
  EXPECT_TRUE(missing_prompts(*p, ts).empty());
  p->ask_limit = false;
  EXPECT_EQ(missing_prompts(*p, ts),
            (std::vector<std::string>{"ask_limit_on_launch"}));
  // Not the launch resource: refused rather than read as "no prompts".
  EXPECT_FALSE(parse_launch_prompts(R"({"detail":"Not found."})"));
  EXPECT_FALSE(parse_launch_prompts("[]"));
  EXPECT_EQ(prompt_of("extra_vars"), "ask_variables_on_launch");
  EXPECT_EQ(prompt_of("limit"), "ask_limit_on_launch");
  EXPECT_EQ(prompt_of("credentials"), "ask_credential_on_launch");
}

TEST(awx_protocol, reads_job_pages_with_string_extra_vars_and_artifacts) {
  auto page = parse_job_page(
    R"({"count":2,"next":"/api/v2/jobs/?page=2","previous":null,"results":[)"
    R"({"id":5,"status":"successful","extra_vars":"{\"ispflow_idempotency_key\":\"k5\"}",)"
    R"("artifacts":{"a":{"b":1,"c":"x"},"l":[1,2],"n":null,"t":true}},)"
    R"({"id":4,"status":"running","extra_vars":"---\nfoo: bar"}]})");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->jobs.size(), 2u);
  EXPECT_EQ(page->next, "/api/v2/jobs/?page=2");
  EXPECT_EQ(page->jobs[0].idempotency_key, "k5");
  EXPECT_EQ(page->jobs[0].artifacts,
            (events::string_map{{"artifacts.a.b", "1"},
                                {"artifacts.a.c", "x"},
                                {"artifacts.l", "[1,2]"},
                                {"artifacts.n", ""},
                                {"artifacts.t", "true"}}));
  EXPECT_EQ(page->jobs[1].idempotency_key, "");
  EXPECT_FALSE(parse_job_page(R"({"count":0})"));
  EXPECT_EQ(resolve_link("https://aap.example/api/controller/v2/",
                         "/api/controller/v2/jobs/?page=2"),
            "https://aap.example/api/controller/v2/jobs/?page=2");
  EXPECT_EQ(resolve_link("https://a/api/v2/", "https://b/api/v2/jobs/?page=3"),
            "https://b/api/v2/jobs/?page=3");
}

TEST(awx_protocol, maps_job_statuses_to_outcomes) {
  job_info job;
  job.id = 9;
  for (auto s : {"new", "pending", "waiting", "running"}) {
    job.status = s;
    auto r = job_reply(job, std::chrono::milliseconds{1500});
    EXPECT_EQ(r.outcome, adapter_outcome::parked) << s;
    EXPECT_EQ(r.retry_after_ms, 1500);
  }
  for (auto s : {"failed", "error", "canceled"}) {
    job.status = s;
    job.job_explanation = "boom";
    auto r = job_reply(job, std::chrono::milliseconds{1});
    EXPECT_EQ(r.outcome, adapter_outcome::permanent_failure) << s;
    EXPECT_EQ(r.error, "AWX job 9 " + std::string{s} + ": boom");
  }
  job.status = "successful";
  job.artifacts = {{"artifacts.x", "1"}};
  auto ok = job_reply(job, std::chrono::milliseconds{1});
  EXPECT_EQ(ok.outcome, adapter_outcome::succeeded);
  EXPECT_EQ(ok.outputs,
            (events::string_map{{"artifacts.x", "1"}, {"job_id", "9"}}));
}

TEST(awx_protocol, classifies_failures_by_what_may_have_happened) {
  http::response refused;
  refused.error = http::transport_error::connect_failed;
  refused.request_sent = false;
  EXPECT_EQ(failure_reply("launch", refused, true).outcome,
            adapter_outcome::retryable_failure);
  http::response lost;
  lost.error = http::transport_error::connection_lost;
  lost.request_sent = true;
  EXPECT_EQ(failure_reply("launch", lost, true).outcome,
            adapter_outcome::unknown_outcome);
  EXPECT_EQ(failure_reply("poll", lost, false).outcome,
            adapter_outcome::retryable_failure);
  // A 5xx to the launch may come after the job was made (a gateway that
  // timed out): the retry looks first. To a read, it is only retryable.
  EXPECT_EQ(failure_reply("launch", answer(504, ""), true).outcome,
            adapter_outcome::unknown_outcome);
  EXPECT_EQ(failure_reply("poll", answer(503, ""), false).outcome,
            adapter_outcome::retryable_failure);
  EXPECT_EQ(failure_reply("launch", answer(429, ""), true).outcome,
            adapter_outcome::retryable_failure);
  auto bad = failure_reply(
    "launch", answer(400, R"({"passwords_needed_to_start":["ssh_password"]})"),
    true);
  EXPECT_EQ(bad.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(bad.error.find("ssh_password"), std::string::npos);
  EXPECT_EQ(failure_reply("launch", answer(401, ""), true).outcome,
            adapter_outcome::permanent_failure);
  EXPECT_EQ(health_of(answer(404, "")), resilience::call_outcome::success);
  EXPECT_EQ(health_of(answer(502, "")), resilience::call_outcome::failure);
  EXPECT_EQ(health_of(lost), resilience::call_outcome::failure);
}

TEST(awx_settings, validate_names_the_tenant_and_the_problem) {
  awx_settings s;
  tenant_settings ts;
  ts.base_url = "https://awx.example/api/v2/";
  ts.activation_template = 3;
  s.tenants["acme"] = ts;
  EXPECT_FALSE(validate(s));
  s.tenants["acme"].base_url = "https://user:pw@awx.example/api/v2/";
  auto err = validate(s);
  ASSERT_TRUE(err);
  s.tenants["acme"].base_url = "ftp://awx.example/";
  EXPECT_TRUE(validate(s));
  s.tenants["acme"].base_url = ts.base_url;
  s.tenants["acme"].activation_template = 0;
  EXPECT_TRUE(validate(s));
  EXPECT_EQ(normalized_base_url("http://h/api/v2"), "http://h/api/v2/");
  EXPECT_EQ(iso8601(std::chrono::system_clock::time_point{}
                    + std::chrono::seconds{1714564800}
                    + std::chrono::microseconds{250}),
            "2024-05-01T12:00:00.000250Z");
}
