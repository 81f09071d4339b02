#include "adapters/voltha/detail/worker_pool.hpp"
#include "adapters/voltha/mapping.hpp"
#include "events/errc.hpp"
#include "sim/voltha/server.hpp"

#include <future>
#include <gtest/gtest.h>
#include <pthread.h>
#include <string>

namespace {

using namespace ispflow::adapters::voltha;
using ispflow::events::adapter_outcome;

// The pool's threads run every blocking gRPC and olt app call: named, so
// that `top -H` and perf tell them from CAF's.
TEST(voltha_worker_pool, runs_jobs_on_threads_named_after_the_adapter) {
  ispflow::adapters::voltha::detail::worker_pool pool{2};
  std::promise<std::string> name;
  pool.post([&name] {
    char buf[16] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    name.set_value(buf);
  });
  EXPECT_EQ(name.get_future().get(), "isp.voltha");
}

TEST(voltha_grpc_outcome, ok_is_success) {
  EXPECT_EQ(outcome_of(grpc_code::ok, call_effect::write),
            adapter_outcome::succeeded);
}

TEST(voltha_grpc_outcome, unavailable_is_retryable_for_reads_and_writes) {
  EXPECT_EQ(outcome_of(grpc_code::unavailable, call_effect::read),
            adapter_outcome::retryable_failure);
  EXPECT_EQ(outcome_of(grpc_code::unavailable, call_effect::write),
            adapter_outcome::retryable_failure);
}

TEST(voltha_grpc_outcome, deadline_after_a_write_is_unknown) {
  EXPECT_EQ(outcome_of(grpc_code::deadline_exceeded, call_effect::write),
            adapter_outcome::unknown_outcome);
}

TEST(voltha_grpc_outcome, deadline_on_a_read_is_retryable) {
  EXPECT_EQ(outcome_of(grpc_code::deadline_exceeded, call_effect::read),
            adapter_outcome::retryable_failure);
}

TEST(voltha_grpc_outcome, not_found_and_invalid_argument_are_permanent) {
  for (auto code :
       {grpc_code::not_found, grpc_code::invalid_argument,
        grpc_code::failed_precondition, grpc_code::unauthenticated}) {
    EXPECT_EQ(outcome_of(code, call_effect::write),
              adapter_outcome::permanent_failure)
      << to_string(code);
  }
}

TEST(voltha_grpc_outcome, transient_server_errors_are_retryable) {
  for (auto code : {grpc_code::resource_exhausted, grpc_code::aborted,
                    grpc_code::internal, grpc_code::unknown}) {
    EXPECT_EQ(outcome_of(code, call_effect::read),
              adapter_outcome::retryable_failure)
      << to_string(code);
  }
}

TEST(voltha_grpc_code, names_match_grpc) {
  EXPECT_EQ(to_string(grpc_code::deadline_exceeded), "DEADLINE_EXCEEDED");
  EXPECT_EQ(to_string(grpc_code::unavailable), "UNAVAILABLE");
  EXPECT_EQ(to_string(static_cast<grpc_code>(40)), "CODE_40");
}

http_answer answer(long status, std::string body = {}) {
  http_answer a;
  a.status = status;
  a.body = std::move(body);
  return a;
}

TEST(voltha_http_outcome, acted_and_nothing_to_do_both_succeed) {
  for (auto call : {service_call::provision, service_call::remove}) {
    EXPECT_EQ(outcome_of(answer(200), call), adapter_outcome::succeeded);
    EXPECT_EQ(outcome_of(answer(204), call), adapter_outcome::succeeded);
  }
}

TEST(voltha_http_outcome, connect_point_not_found_is_permanent_on_provision) {
  auto a = answer(500, "ConnectPoint not found for BBSM00000099-1");
  EXPECT_EQ(outcome_of(a, service_call::provision),
            adapter_outcome::permanent_failure);
}

TEST(voltha_http_outcome, connect_point_not_found_on_remove_is_success) {
  auto a = answer(500, "ConnectPoint not found for BBSM00000099-1");
  EXPECT_EQ(outcome_of(a, service_call::remove), adapter_outcome::succeeded);
}

TEST(voltha_http_outcome, other_server_errors_are_retryable) {
  EXPECT_EQ(outcome_of(answer(500, "NullPointerException"),
                       service_call::provision),
            adapter_outcome::retryable_failure);
  EXPECT_EQ(outcome_of(answer(503), service_call::remove),
            adapter_outcome::retryable_failure);
  EXPECT_EQ(outcome_of(answer(429), service_call::provision),
            adapter_outcome::retryable_failure);
}

TEST(voltha_http_outcome, client_errors_are_permanent) {
  EXPECT_EQ(outcome_of(answer(401), service_call::provision),
            adapter_outcome::permanent_failure);
  EXPECT_EQ(outcome_of(answer(404), service_call::remove),
            adapter_outcome::permanent_failure);
}

TEST(voltha_http_outcome, transport_failures_depend_on_whether_it_was_sent) {
  http_answer a;
  a.transport = http_transport::not_sent;
  EXPECT_EQ(outcome_of(a, service_call::provision),
            adapter_outcome::retryable_failure);
  a.transport = http_transport::lost_after_send;
  EXPECT_EQ(outcome_of(a, service_call::provision),
            adapter_outcome::unknown_outcome);
}

TEST(voltha_paths, port_name_joins_serial_and_uni) {
  EXPECT_EQ(port_name("BBSM00000001", 1), "BBSM00000001-1");
}

TEST(voltha_paths, service_path_without_tags_uses_sadis_form) {
  EXPECT_EQ(service_path("BBSM00000001-1", service_tags{0, 0, 64}),
            "/onos/olt/oltapp/services/BBSM00000001-1");
}

TEST(voltha_paths, service_path_with_tags_has_stag_ctag_tpid) {
  EXPECT_EQ(service_path("BBSM00000001-1", service_tags{900, 101, 64}),
            "/onos/olt/oltapp/services/BBSM00000001-1/900/101/64");
}

TEST(voltha_paths, service_path_percent_encodes_the_port_name) {
  EXPECT_EQ(service_path("A B/1", service_tags{}),
            "/onos/olt/oltapp/services/A%20B%2F1");
}

TEST(voltha_http_outcome, a_lost_programmed_subscribers_read_is_retryable) {
  http_answer a;
  a.transport = http_transport::lost_after_send;
  EXPECT_EQ(outcome_of(a, service_call::read),
            adapter_outcome::retryable_failure);
  EXPECT_EQ(outcome_of(answer(200), service_call::read),
            adapter_outcome::succeeded);
}

TEST(voltha_connect_point, missing_is_retryable_until_the_onu_is_active) {
  for (auto st : {oper_status::unknown, oper_status::discovered,
                  oper_status::activating, oper_status::reconciling})
    EXPECT_EQ(connect_point_missing(st), adapter_outcome::retryable_failure)
      << to_string(st);
  EXPECT_EQ(connect_point_missing(oper_status::active),
            adapter_outcome::permanent_failure);
}

TEST(voltha_paths, programmed_path_filters_by_connect_point) {
  uni_connect_point cp{onos_device_id(0x0a0a0a0a0001ULL), 16};
  EXPECT_EQ(cp.device_id, "of:00000a0a0a0a0001");
  EXPECT_EQ(cp.location(), "of:00000a0a0a0a0001/16");
  EXPECT_EQ(programmed_path(cp),
            "/onos/olt/oltapp/programmed-subscribers/of:00000a0a0a0a0001/16");
}

TEST(voltha_programmed, matches_location_and_tags) {
  uni_connect_point cp{"of:0000000000000001", 16};
  auto body = R"({"entries":[)"
              R"({"location":"of:0000000000000001/32","tagInfo":)"
              R"({"ponSTag":900,"ponCTag":101,"technologyProfileId":64}},)"
              R"({"location":"of:0000000000000001/16","tagInfo":)"
              R"({"ponSTag":900,"ponCTag":102,"technologyProfileId":64}}]})";
  EXPECT_EQ(lists_service(body, cp, service_tags{900, 102, 64}), true);
  EXPECT_EQ(lists_service(body, cp, service_tags{900, 101, 64}), false);
  EXPECT_EQ(lists_service(body, cp, service_tags{900, 102, 65}), false);
  // Untagged: the olt app chose the tags from SADIS; any entry will do.
  EXPECT_EQ(lists_service(body, cp, service_tags{0, 0, 64}), true);
  EXPECT_EQ(lists_service(R"({"entries":[]})", cp, service_tags{}), false);
}

TEST(voltha_programmed, rejects_what_is_not_the_olt_app_answer) {
  uni_connect_point cp{"of:0000000000000001", 16};
  EXPECT_FALSE(lists_service("<html>", cp, service_tags{}));
  EXPECT_FALSE(lists_service(R"({"items":[]})", cp, service_tags{}));
  EXPECT_FALSE(
    lists_service(R"({"entries":[{"tagInfo":{}}]})", cp, service_tags{}));
}

TEST(voltha_sim_sadis, parses_s_c_tp) {
  using ispflow::sim::voltha::parse_sadis_service;
  auto x = parse_sadis_service("100/0/64");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->s_tag, 100);
  EXPECT_EQ(x->c_tag, 0);
  EXPECT_EQ(x->tp_id, 64);
  EXPECT_FALSE(parse_sadis_service("100/0"));
  EXPECT_FALSE(parse_sadis_service("100/0/64/1"));
  EXPECT_FALSE(parse_sadis_service("5000/0/64"));
}

TEST(voltha_sim_faults, parses_every_field) {
  auto f = ispflow::sim::voltha::parse_faults(
    R"({"grpc_code":14,"http_status":503,"latency_ms":5,"hang":true,)"
    R"("error_rate":0.5,"apply":true,"methods":["EnableDevice"],"target":"grpc"})");
  ASSERT_TRUE(f) << ispflow::render_error(f.error());
  EXPECT_EQ(f->grpc_code, 14);
  EXPECT_EQ(f->http_status, 503);
  EXPECT_EQ(f->latency_ms, 5);
  EXPECT_TRUE(f->hang);
  EXPECT_DOUBLE_EQ(f->error_rate, 0.5);
  EXPECT_TRUE(f->apply);
  ASSERT_EQ(f->methods.size(), 1u);
  EXPECT_EQ(f->methods[0], "EnableDevice");
  EXPECT_EQ(f->target, "grpc");
}

TEST(voltha_sim_faults, rejects_unknown_fields_and_bad_values) {
  using ispflow::sim::voltha::parse_faults;
  EXPECT_FALSE(parse_faults(R"({"grpc":14})"));
  EXPECT_FALSE(parse_faults(R"({"grpc_code":99})"));
  EXPECT_FALSE(parse_faults(R"({"error_rate":2})"));
  EXPECT_FALSE(parse_faults(R"({"target":"kafka"})"));
  EXPECT_FALSE(parse_faults("not json"));
}

} // namespace
