#include "adapters/http/http_actor.hpp"
#include "adapters/netbox/adapter.hpp"
#include "adapters/resilience/guard.hpp"
#include "common/log.hpp"
#include "events/type_ids.hpp"
#include "sim/netbox/server.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <gtest/gtest.h>
#include <httplib.h>
#include <iostream>
#include <optional>
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

constexpr const char* v1_token = "0123456789abcdef0123456789abcdef01234567";
constexpr const char* v2_token = "nbt_abc123.secretpart";

caf::actor_system_config& adapter_config(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

struct netbox_adapter : ::testing::Test {
  std::unique_ptr<sim::netbox::server> srv;
  caf::actor_system_config cfg;
  caf::actor_system sys{adapter_config(cfg)};
  http::http_actor http;
  std::shared_ptr<resilience::manual_clock> clock
    = std::make_shared<resilience::manual_clock>();
  std::shared_ptr<resilience::guard> guard;
  netbox::tenant_settings settings;
  netbox::adapter_actor adapter;

  netbox_adapter() {
    sim::netbox::options opts;
    opts.tokens = {v1_token, v2_token};
    auto s = sim::netbox::server::start(opts);
    EXPECT_TRUE(s);
    if (!s)
      return;
    srv = std::move(*s);
    http = http::spawn_http_actor(sys);
    settings.base_url = "http://127.0.0.1:" + std::to_string(srv->port());
    settings.token = v1_token;
    settings.tenant_slug = "demo";
    settings.call_timeout = 2000ms;
    guard = std::make_shared<resilience::guard>();
    respawn();
  }

  ~netbox_adapter() override {
    caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(http, caf::exit_reason::user_shutdown);
    if (srv)
      srv->stop();
  }

  // A fresh simulator with MAX_PAGE_SIZE `max_page_size`, and an adapter
  // on it.
  void restart_sim(uint32_t max_page_size) {
    srv->stop();
    sim::netbox::options opts;
    opts.tokens = {v1_token, v2_token};
    opts.max_page_size = max_page_size;
    auto s = sim::netbox::server::start(opts);
    ASSERT_TRUE(s);
    srv = std::move(*s);
    settings.base_url = "http://127.0.0.1:" + std::to_string(srv->port());
    respawn();
  }

  // Creates an address for `subscriber` in prefix `prefix` directly.
  int post_address(int prefix, const std::string& subscriber) {
    httplib::Client c{"127.0.0.1", srv->port()};
    c.set_default_headers(
      {{"Authorization", std::string{"Token "} + v1_token}});
    auto res = c.Post("/api/ipam/prefixes/" + std::to_string(prefix)
                        + "/available-ips/",
                      R"({"tenant":{"slug":"demo"},"custom_fields":)"
                      R"({"subscriber_id":")"
                        + subscriber + R"("}})",
                      "application/json");
    return res ? res->status : 0;
  }

  void respawn() {
    if (adapter)
      caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
    netbox::adapter_settings as;
    as.tenants["t1"] = settings;
    as.clock = clock;
    adapter = netbox::spawn_netbox_adapter(sys, as, http, guard);
  }

  adapter_request request(std::string op, std::string subscriber = "sub-1",
                          bool reconcile = false) {
    adapter_request req;
    req.tenant_id = "t1";
    req.subscriber_id = std::move(subscriber);
    req.system = "netbox";
    req.operation = std::move(op);
    req.idempotency_key = "saga-" + req.subscriber_id + "/allocate_ip/0";
    req.reconcile = reconcile;
    req.input["site"] = "pop-1";
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

  adapter_reply allocate(std::string subscriber = "sub-1",
                         bool reconcile = false) {
    return ask(request("netbox.allocate_ip", std::move(subscriber), reconcile));
  }

  size_t addresses_of(const std::string& subscriber) {
    size_t n = 0;
    for (const auto& a : srv->ip_addresses()) {
      auto i = a.custom_fields.find("subscriber_id");
      if (i != a.custom_fields.end() && i->second == "\"" + subscriber + "\"")
        ++n;
    }
    return n;
  }

  static sim::common::fault_config fault(int status, std::string prefix = {},
                                         std::string method = {}) {
    sim::common::fault_config f;
    f.status = status;
    f.path_prefix = std::move(prefix);
    f.method = std::move(method);
    return f;
  }
};

// -- allocate_ip
// ----------------------------------------------------------------

TEST_F(netbox_adapter, allocates_from_the_first_prefix_and_tags_the_address) {
  auto rep = allocate();
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["ip_address"], "100.64.0.1");
  EXPECT_EQ(rep.outputs["prefix"], "100.64.0.0/30");
  EXPECT_FALSE(rep.outputs["ip_id"].empty());
  ASSERT_EQ(srv->ip_addresses().size(), 1u);
  auto a = srv->ip_addresses().front();
  EXPECT_EQ(std::to_string(a.id), rep.outputs["ip_id"]);
  EXPECT_EQ(a.tenant_id, 1);
  EXPECT_EQ(a.status, "active");
  EXPECT_EQ(a.custom_fields["subscriber_id"], "\"sub-1\"");
  EXPECT_EQ(a.custom_fields["idempotency_key"], "\"saga-sub-1/allocate_ip/0\"");
  EXPECT_EQ(srv->allocation_count(), 1u);
}

TEST_F(netbox_adapter, repeated_allocation_reuses_the_subscribers_address) {
  auto first = allocate();
  ASSERT_EQ(first.outcome, adapter_outcome::succeeded) << first.error;
  auto again = allocate();
  ASSERT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
  EXPECT_EQ(again.outputs["ip_id"], first.outputs["ip_id"]);
  EXPECT_EQ(again.outputs["ip_address"], first.outputs["ip_address"]);
  EXPECT_EQ(again.outputs["prefix"], "100.64.0.0/30");
  EXPECT_EQ(srv->allocation_count(), 1u);
}

TEST_F(netbox_adapter, full_prefix_answered_409_moves_on_to_the_next_prefix) {
  srv->set_prefix_full(1, true);
  auto rep = allocate();
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["ip_address"], "100.64.0.9");
  EXPECT_EQ(rep.outputs["prefix"], "100.64.0.8/29");
}

TEST_F(netbox_adapter, exhausting_the_first_prefix_spills_into_the_second) {
  ASSERT_EQ(allocate("a").outputs["prefix"], "100.64.0.0/30");
  ASSERT_EQ(allocate("b").outputs["prefix"], "100.64.0.0/30");
  auto third = allocate("c");
  ASSERT_EQ(third.outcome, adapter_outcome::succeeded) << third.error;
  EXPECT_EQ(third.outputs["prefix"], "100.64.0.8/29");
  EXPECT_EQ(srv->allocation_count(), 3u);
}

TEST_F(netbox_adapter, every_prefix_full_is_a_permanent_failure) {
  srv->set_prefix_full(1, true);
  srv->set_prefix_full(2, true);
  auto rep = allocate();
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("insufficient number of IP addresses"),
            std::string::npos)
    << rep.error;
  EXPECT_EQ(srv->allocation_count(), 0u);
}

// Each allocation looks the subscriber up; the prefix list is read once per
// prefix_cache period (a list request each: checks().lookups).
TEST_F(netbox_adapter, allocations_reuse_the_prefix_list_for_the_cache_period) {
  ASSERT_EQ(allocate("a").outcome, adapter_outcome::succeeded);
  EXPECT_EQ(srv->checks().lookups, 2u);
  ASSERT_EQ(allocate("b").outcome, adapter_outcome::succeeded);
  EXPECT_EQ(srv->checks().lookups, 3u);
  // Another site is another list.
  auto other = request("netbox.allocate_ip", "x");
  other.input["site"] = "pop-2";
  EXPECT_EQ(ask(other).outcome, adapter_outcome::permanent_failure);
  EXPECT_EQ(srv->checks().lookups, 5u);
  clock->advance(settings.prefix_cache);
  auto third = allocate("c");
  ASSERT_EQ(third.outcome, adapter_outcome::succeeded) << third.error;
  EXPECT_EQ(third.outputs["prefix"], "100.64.0.8/29");
  EXPECT_EQ(srv->checks().lookups, 7u);
  // 0: read for every allocation.
  settings.prefix_cache = 0ms;
  respawn();
  ASSERT_EQ(allocate("d").outcome, adapter_outcome::succeeded);
  ASSERT_EQ(allocate("e").outcome, adapter_outcome::succeeded);
  EXPECT_EQ(srv->checks().lookups, 11u);
  EXPECT_EQ(srv->allocation_count(), 5u);
}

// A cached list is read again before the allocation gives up: every prefix
// in it full, or one of them gone.
TEST_F(netbox_adapter, a_cached_prefix_list_is_read_again_before_giving_up) {
  ASSERT_EQ(allocate("a").outcome, adapter_outcome::succeeded);
  srv->set_prefix_full(1, true);
  srv->set_prefix_full(2, true);
  auto full = allocate("b");
  EXPECT_EQ(full.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(full.error.find("all 2 prefixes are full"), std::string::npos)
    << full.error;
  EXPECT_EQ(srv->checks().lookups, 4u); // a: 2; b: look-up and the new read
  srv->set_prefix_full(1, false);
  srv->set_prefix_full(2, false);
  // The first prefix answers 404 once, as a deleted one would.
  auto f = fault(404, "/api/ipam/prefixes/1/available-ips/", "POST");
  f.count = 1;
  srv->set_faults(f);
  auto gone = allocate("c");
  ASSERT_EQ(gone.outcome, adapter_outcome::succeeded) << gone.error;
  EXPECT_EQ(gone.outputs["prefix"], "100.64.0.0/30");
  EXPECT_EQ(srv->checks().lookups, 6u);
  EXPECT_EQ(srv->allocation_count(), 2u);
}

TEST_F(netbox_adapter, no_prefix_for_the_site_is_a_permanent_failure) {
  auto req = request("netbox.allocate_ip");
  req.input["site"] = "pop-2"; // a site, but none of tenant demo's prefixes
  auto rep = ask(req);
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("no active prefix"), std::string::npos) << rep.error;
}

// NetBox answers a slug filter that names nothing with 400 "Select a valid
// choice", not with an empty list.
TEST_F(netbox_adapter, an_unknown_site_slug_is_permanent_naming_the_slug) {
  auto req = request("netbox.allocate_ip");
  req.input["site"] = "pop-9";
  auto rep = ask(req);
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure) << rep.error;
  EXPECT_NE(rep.error.find("netbox: prefixes: NetBox has no site 'pop-9' "
                           "(the request's input \"site\""),
            std::string::npos)
    << rep.error;
  EXPECT_EQ(srv->allocation_count(), 0u);
  settings.site_slug = "pop-7";
  respawn();
  auto configured = allocate("sub-2");
  EXPECT_EQ(configured.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(configured.error.find("NetBox has no site 'pop-7' (netbox.site "
                                  "of the tenant's configuration"),
            std::string::npos)
    << configured.error;
}

TEST_F(netbox_adapter, an_unknown_tenant_or_role_slug_is_permanent_naming_it) {
  settings.tenant_slug = "ghost";
  respawn();
  auto tenant = allocate();
  EXPECT_EQ(tenant.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(tenant.error.find("netbox: look-up: NetBox has no tenant 'ghost' "
                              "(netbox.tenant"),
            std::string::npos)
    << tenant.error;
  auto release = ask(request("netbox.release_ip"));
  EXPECT_EQ(release.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(release.error.find("tenant 'ghost'"), std::string::npos)
    << release.error;
  settings.tenant_slug = "demo";
  settings.prefix_role = "pool";
  respawn();
  auto role = allocate();
  EXPECT_EQ(role.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(role.error.find("NetBox has no prefix role 'pool' "
                            "(netbox.prefix_role"),
            std::string::npos)
    << role.error;
  EXPECT_EQ(srv->checks().unknown_choices, 3u);
}

// A NetBox whose MAX_PAGE_SIZE is below the look-up's limit=1000 answers in
// pages: the second prefix is only on page 2.
TEST_F(netbox_adapter, prefixes_past_max_page_size_are_reached_through_next) {
  restart_sim(1);
  srv->set_prefix_full(1, true);
  auto rep = allocate();
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["ip_address"], "100.64.0.9");
  EXPECT_EQ(rep.outputs["prefix"], "100.64.0.8/29");
  EXPECT_GE(srv->checks().pages_followed, 1u);
}

TEST_F(netbox_adapter,
       release_by_subscriber_deletes_the_addresses_of_every_page) {
  restart_sim(1);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(post_address(2, "sub-1"), 201);
  ASSERT_EQ(addresses_of("sub-1"), 3u);
  auto rep = ask(request("netbox.release_ip", "sub-1"));
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(addresses_of("sub-1"), 0u);
  EXPECT_EQ(srv->checks().pages_followed, 2u);
}

TEST_F(netbox_adapter, a_look_up_longer_than_max_pages_fails_naming_the_key) {
  restart_sim(1);
  settings.max_pages = 2;
  respawn();
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(post_address(2, "sub-1"), 201);
  auto rep = ask(request("netbox.release_ip", "sub-1"));
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("more than 2 pages"), std::string::npos)
    << rep.error;
  EXPECT_NE(rep.error.find("netbox.max_pages"), std::string::npos);
  EXPECT_EQ(addresses_of("sub-1"), 3u); // nothing deleted on a partial view
}

TEST_F(netbox_adapter, tenant_by_id_and_site_from_settings_select_its_prefix) {
  settings.tenant_slug.clear();
  settings.tenant_id = 2;
  settings.site_slug = "pop-2";
  respawn();
  auto rep = allocate();
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["ip_address"], "100.65.0.1");
  EXPECT_EQ(srv->ip_addresses().front().tenant_id, 2);
}

TEST_F(netbox_adapter, lost_answer_is_unknown_and_reconcile_finds_the_address) {
  auto f = fault(0, "/api/ipam/prefixes/", "POST");
  f.apply_then_reset = true;
  f.count = 1;
  srv->set_faults(f);
  auto lost = allocate();
  EXPECT_EQ(lost.outcome, adapter_outcome::unknown_outcome) << lost.error;
  EXPECT_EQ(srv->allocation_count(), 1u);
  auto rec = allocate("sub-1", true);
  ASSERT_EQ(rec.outcome, adapter_outcome::succeeded) << rec.error;
  EXPECT_EQ(rec.outputs["ip_address"], "100.64.0.1");
  EXPECT_EQ(srv->allocation_count(), 1u);
  EXPECT_EQ(addresses_of("sub-1"), 1u);
}

TEST_F(netbox_adapter, post_timing_out_after_sending_is_unknown) {
  settings.call_timeout = 300ms;
  respawn();
  auto f = fault(0, "/api/ipam/prefixes/1/available-ips/", "POST");
  f.hang = true;
  f.hang_ms = 2000;
  f.count = 1;
  srv->set_faults(f);
  auto rep = allocate();
  EXPECT_EQ(rep.outcome, adapter_outcome::unknown_outcome) << rep.error;
}

TEST_F(netbox_adapter, reset_of_the_look_up_is_retryable) {
  auto f = fault(0, "/api/ipam/ip-addresses/", "GET");
  f.reset = true;
  f.count = 1;
  srv->set_faults(f);
  auto rep = allocate();
  EXPECT_EQ(rep.outcome, adapter_outcome::retryable_failure) << rep.error;
  EXPECT_EQ(srv->allocation_count(), 0u);
}

TEST_F(netbox_adapter, server_errors_are_retryable) {
  srv->set_faults(fault(503));
  EXPECT_EQ(allocate().outcome, adapter_outcome::retryable_failure);
  srv->set_faults(fault(500, "/api/ipam/prefixes/1/available-ips/"));
  EXPECT_EQ(allocate().outcome, adapter_outcome::retryable_failure);
  EXPECT_EQ(srv->allocation_count(), 0u);
}

TEST_F(netbox_adapter, refused_connection_is_retryable) {
  settings.base_url = "http://127.0.0.1:21941";
  respawn();
  auto rep = allocate();
  EXPECT_EQ(rep.outcome, adapter_outcome::retryable_failure) << rep.error;
  EXPECT_NE(rep.error.find("connect_failed"), std::string::npos) << rep.error;
}

TEST_F(netbox_adapter, missing_token_is_a_permanent_403) {
  settings.token.clear();
  respawn();
  auto rep = allocate();
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("403"), std::string::npos) << rep.error;
  EXPECT_NE(rep.error.find("Authentication credentials were not provided."),
            std::string::npos)
    << rep.error;
}

TEST_F(netbox_adapter, wrong_token_is_a_permanent_403) {
  settings.token = "ffffffffffffffffffffffffffffffffffffffff";
  respawn();
  auto rep = allocate();
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("Invalid token"), std::string::npos) << rep.error;
}

TEST_F(netbox_adapter, v2_token_goes_as_bearer) {
  settings.token = v2_token;
  settings.scheme = netbox::token_scheme::bearer;
  respawn();
  auto rep = allocate();
  EXPECT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
}

TEST_F(netbox_adapter, validation_error_400_is_permanent_with_the_message) {
  settings.key_field = "no_such_field";
  respawn();
  auto rep = allocate();
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("400"), std::string::npos) << rep.error;
  EXPECT_NE(rep.error.find("Unknown field name 'no_such_field'"),
            std::string::npos)
    << rep.error;
  EXPECT_EQ(srv->allocation_count(), 0u);
}

TEST_F(netbox_adapter, missing_prefix_404_is_permanent_and_not_a_next_prefix) {
  srv->set_faults(fault(404, "/api/ipam/prefixes/1/available-ips/", "POST"));
  auto rep = allocate();
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("404"), std::string::npos) << rep.error;
  EXPECT_EQ(srv->allocation_count(), 0u);
}

// -- release_ip
// -------------------------------------------------------------------

TEST_F(netbox_adapter, release_by_ip_id_deletes_and_a_second_release_succeeds) {
  auto made = allocate();
  ASSERT_EQ(made.outcome, adapter_outcome::succeeded) << made.error;
  auto req = request("netbox.release_ip");
  req.input["ip_id"] = made.outputs["ip_id"];
  auto rep = ask(req);
  EXPECT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_TRUE(srv->ip_addresses().empty());
  auto again = ask(req);
  EXPECT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
}

TEST_F(netbox_adapter, release_without_ip_id_finds_the_address_by_subscriber) {
  ASSERT_EQ(allocate("sub-1").outcome, adapter_outcome::succeeded);
  ASSERT_EQ(allocate("sub-2").outcome, adapter_outcome::succeeded);
  auto rep = ask(request("netbox.release_ip", "sub-1"));
  EXPECT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(addresses_of("sub-1"), 0u);
  EXPECT_EQ(addresses_of("sub-2"), 1u);
  auto none = ask(request("netbox.release_ip", "sub-1"));
  EXPECT_EQ(none.outcome, adapter_outcome::succeeded) << none.error;
}

TEST_F(netbox_adapter, release_failing_with_503_is_retryable) {
  auto made = allocate();
  ASSERT_EQ(made.outcome, adapter_outcome::succeeded);
  srv->set_faults(fault(503, "/api/ipam/ip-addresses/", "DELETE"));
  auto req = request("netbox.release_ip");
  req.input["ip_id"] = made.outputs["ip_id"];
  EXPECT_EQ(ask(req).outcome, adapter_outcome::retryable_failure);
  EXPECT_EQ(srv->ip_addresses().size(), 1u);
}

// -- requests the adapter refuses
// --------------------------------------------------

TEST_F(netbox_adapter, unknown_tenant_and_operation_are_permanent) {
  auto req = request("netbox.allocate_ip");
  req.tenant_id = "nobody";
  EXPECT_EQ(ask(req).outcome, adapter_outcome::permanent_failure);
  EXPECT_EQ(ask(request("netbox.frobnicate")).outcome,
            adapter_outcome::permanent_failure);
}

TEST_F(netbox_adapter, health_probe_reports_the_api_version) {
  adapter_reply rep;
  caf::scoped_actor self{sys};
  self->request(adapter, 30s, health_atom_v, std::string{"t1"})
    .receive([&](adapter_reply& r) { rep = std::move(r); },
             [&](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["netbox_version"], "4.2");
}

// -- secrets
// --------------------------------------------------------------------

TEST_F(netbox_adapter, token_never_appears_in_logs_or_replies) {
  std::ostringstream out;
  common::setup_logging({common::log_level::trace, common::log_format::json},
                        out);
  auto ok = allocate();
  srv->set_faults(fault(503));
  auto failed = allocate("sub-2");
  srv->set_faults({});
  settings.token = "ffffffffffffffffffffffffffffffffffffffff";
  respawn();
  auto denied = allocate("sub-3");
  common::setup_logging({common::log_level::info, common::log_format::json});
  auto text = out.str();
  EXPECT_NE(text.find("netbox"), std::string::npos) << "nothing was logged";
  EXPECT_NE(text.find("/api/ipam/ip-addresses/"), std::string::npos);
  for (const auto* secret :
       {v1_token, "ffffffffffffffffffffffffffffffffffffffff"}) {
    EXPECT_EQ(text.find(secret), std::string::npos);
    for (const auto* rep : {&ok, &failed, &denied})
      EXPECT_EQ(rep->error.find(secret), std::string::npos);
  }
}

// -- breaker
// ----------------------------------------------------------------------

TEST_F(netbox_adapter,
       breaker_parks_after_failures_and_resumes_after_the_wait) {
  resilience::guard_config gc;
  auto& b = gc.breakers.defaults;
  b.sliding_window_size = 3;
  b.minimum_number_of_calls = 3;
  b.failure_rate_threshold = 50.0;
  b.wait_duration_in_open_state = 5000ms;
  b.permitted_number_of_calls_in_half_open_state = 1;
  guard = std::make_shared<resilience::guard>(gc);
  respawn();
  auto f = fault(503);
  f.count = 3;
  srv->set_faults(f);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(allocate().outcome, adapter_outcome::retryable_failure);
  // The fault is used up: a call that reached NetBox now would allocate.
  ASSERT_TRUE(srv->faults().empty());
  auto parked = allocate();
  EXPECT_EQ(parked.outcome, adapter_outcome::parked) << parked.error;
  EXPECT_GT(parked.retry_after_ms, 0);
  EXPECT_EQ(srv->allocation_count(), 0u);
  clock->advance(5001ms);
  auto resumed = allocate();
  EXPECT_EQ(resumed.outcome, adapter_outcome::succeeded) << resumed.error;
  EXPECT_EQ(srv->allocation_count(), 1u);
  auto snaps = guard->breakers().snapshots();
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps.front().first.adapter, "netbox");
  EXPECT_EQ(snaps.front().first.endpoint, settings.base_url);
}

// At the tenant's limit of calls in flight (here held by another adapter of
// the same guard) a call waits for the slot instead of coming back parked;
// one that waits longer than 2 s is parked and never reaches NetBox.
TEST_F(netbox_adapter, a_call_at_the_tenant_limit_waits_for_a_slot) {
  resilience::guard_config gc;
  gc.tenant_limits.max_concurrent = 1;
  guard = std::make_shared<resilience::guard>(gc);
  respawn();
  auto held = guard->admit("t1", "awx", "http://awx", clock->now());
  ASSERT_TRUE(held);
  caf::scoped_actor self{sys};
  self->send(adapter, invoke_atom_v, request("netbox.allocate_ip", "sub-w"));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(srv->allocation_count(), 0u);
  guard->complete(held.ticket, adapter_outcome::succeeded, 1ms, clock->now());
  adapter_reply first;
  self->receive([&](adapter_reply& r) { first = std::move(r); },
                caf::after(10s) >> [] { ADD_FAILURE() << "no answer"; });
  EXPECT_EQ(first.outcome, adapter_outcome::succeeded) << first.error;
  EXPECT_EQ(srv->allocation_count(), 1u);
  EXPECT_EQ(guard->tenant_limits().in_flight("t1"), 0);
  // Held again, and the wait runs out: parked, nothing sent.
  held = guard->admit("t1", "awx", "http://awx", clock->now());
  ASSERT_TRUE(held);
  self->send(adapter, invoke_atom_v, request("netbox.allocate_ip", "sub-x"));
  std::this_thread::sleep_for(100ms);
  clock->advance(2100ms);
  adapter_reply late;
  self->receive([&](adapter_reply& r) { late = std::move(r); },
                caf::after(10s) >> [] { ADD_FAILURE() << "no answer"; });
  EXPECT_EQ(late.outcome, adapter_outcome::parked) << late.error;
  EXPECT_NE(late.error.find("stayed at its limit of 1"), std::string::npos)
    << late.error;
  EXPECT_EQ(srv->allocation_count(), 1u);
  guard->complete(held.ticket, adapter_outcome::succeeded, 1ms, clock->now());
}

TEST_F(netbox_adapter, refused_answers_do_not_open_the_breaker) {
  resilience::guard_config gc;
  auto& b = gc.breakers.defaults;
  b.sliding_window_size = 3;
  b.minimum_number_of_calls = 3;
  guard = std::make_shared<resilience::guard>(gc);
  settings.token.clear();
  respawn();
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(allocate().outcome, adapter_outcome::permanent_failure);
  auto snaps = guard->breakers().snapshots();
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps.front().second.state, resilience::breaker_state::closed);
}

} // namespace

// -- assign_ip, release_stray_ips (drift repair)
// ----------------------------------------------------------------

namespace {

// Creates an address directly (as an engineer would): its id, or 0.
int64_t create_address(sim::netbox::server& srv, const std::string& body) {
  httplib::Client c{"127.0.0.1", srv.port()};
  c.set_default_headers({{"Authorization", std::string{"Token "} + v1_token}});
  auto res = c.Post("/api/ipam/ip-addresses/", body, "application/json");
  if (!res || res->status != 201)
    return 0;
  auto at = res->body.find("\"id\":");
  return at == std::string::npos ? 0 : std::stoll(res->body.substr(at + 5));
}

std::optional<sim::netbox::ip_address_view>
address_by_id(const sim::netbox::server& srv, int64_t id) {
  for (auto& a : srv.ip_addresses())
    if (a.id == id)
      return a;
  return std::nullopt;
}

} // namespace

TEST_F(netbox_adapter, assign_creates_the_recorded_address_in_its_prefix) {
  auto req = request("netbox.assign_ip");
  req.idempotency_key = "repair-1/assign_ip/0";
  req.input["ip_address"] = "100.64.0.12";
  auto rep = ask(req);
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["ip_address"], "100.64.0.12");
  EXPECT_EQ(rep.outputs["prefix"], "100.64.0.8/29");
  ASSERT_EQ(srv->ip_addresses().size(), 1u);
  auto a = srv->ip_addresses().front();
  EXPECT_EQ(std::to_string(a.id), rep.outputs["ip_id"]);
  EXPECT_EQ(a.address, "100.64.0.12/29");
  EXPECT_EQ(a.tenant_id, 1);
  EXPECT_EQ(a.status, "active");
  EXPECT_EQ(a.custom_fields["subscriber_id"], "\"sub-1\"");
  EXPECT_EQ(a.custom_fields["idempotency_key"], "\"repair-1/assign_ip/0\"");
  // Not through available-ips: the recorded address, not the next free one.
  EXPECT_EQ(srv->allocation_count(), 0u);
  // Again (a retry, or a second repair): found by address, nothing new.
  auto again = ask(req);
  ASSERT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
  EXPECT_EQ(again.outputs["ip_id"], rep.outputs["ip_id"]);
  EXPECT_EQ(srv->ip_addresses().size(), 1u);
}

TEST_F(netbox_adapter, assign_uses_the_input_prefix_for_the_mask_length) {
  auto req = request("netbox.assign_ip");
  req.input.erase("site");
  req.input["ip_address"] = "100.64.0.2";
  req.input["prefix"] = "100.64.0.0/30";
  auto rep = ask(req);
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  ASSERT_EQ(srv->ip_addresses().size(), 1u);
  EXPECT_EQ(srv->ip_addresses().front().address, "100.64.0.2/30");
}

TEST_F(netbox_adapter, assign_claims_an_unassigned_address_keeping_its_tags) {
  settings.tag_slug = "subscriber";
  respawn();
  auto id = create_address(*srv, R"({"address":"100.64.0.13/29",)"
                                 R"("status":"reserved"})");
  ASSERT_GT(id, 0);
  auto req = request("netbox.assign_ip");
  req.input["ip_address"] = "100.64.0.13";
  auto rep = ask(req);
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(rep.outputs["ip_id"], std::to_string(id));
  ASSERT_EQ(srv->ip_addresses().size(), 1u);
  auto a = *address_by_id(*srv, id);
  EXPECT_EQ(a.custom_fields["subscriber_id"], "\"sub-1\"");
  EXPECT_EQ(a.tenant_id, 1);
  EXPECT_EQ(a.tags, std::vector<std::string>{"subscriber"});
  // The engineer's status stays: only ownership is given back.
  EXPECT_EQ(a.status, "reserved");
}

TEST_F(netbox_adapter, assign_never_takes_another_subscribers_address) {
  auto id = create_address(*srv,
                           R"({"address":"100.64.0.10/29","tenant":1,)"
                           R"("custom_fields":{"subscriber_id":"sub-2"}})");
  ASSERT_GT(id, 0);
  auto req = request("netbox.assign_ip");
  req.input["ip_address"] = "100.64.0.10";
  auto rep = ask(req);
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("belongs to subscriber sub-2"), std::string::npos)
    << rep.error;
  EXPECT_EQ(address_by_id(*srv, id)->custom_fields["subscriber_id"],
            "\"sub-2\"");
  EXPECT_EQ(addresses_of("sub-1"), 0u);
  // Nor one another NetBox tenant holds.
  auto other = create_address(*srv, R"({"address":"100.64.0.11/29",)"
                                    R"("tenant":{"slug":"acme"}})");
  ASSERT_GT(other, 0);
  req.input["ip_address"] = "100.64.0.11";
  auto theirs = ask(req);
  EXPECT_EQ(theirs.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(theirs.error.find("NetBox tenant acme"), std::string::npos)
    << theirs.error;
  EXPECT_EQ(address_by_id(*srv, other)->custom_fields["subscriber_id"], "null");
}

TEST_F(netbox_adapter, assign_of_an_address_outside_every_prefix_is_permanent) {
  auto req = request("netbox.assign_ip");
  req.input["ip_address"] = "192.0.2.7";
  auto rep = ask(req);
  EXPECT_EQ(rep.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(rep.error.find("192.0.2.7"), std::string::npos) << rep.error;
  EXPECT_TRUE(srv->ip_addresses().empty());
  req.input["ip_address"] = "100.64.0.12/29";
  auto bad = ask(req);
  EXPECT_EQ(bad.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(bad.error.find("ip_address"), std::string::npos) << bad.error;
  req.input.erase("ip_address");
  EXPECT_EQ(ask(req).outcome, adapter_outcome::permanent_failure);
}

TEST_F(netbox_adapter, assign_post_lost_after_sending_is_unknown_then_found) {
  auto f = fault(0, "/api/ipam/ip-addresses/", "POST");
  f.apply_then_reset = true;
  srv->set_faults(f);
  auto req = request("netbox.assign_ip");
  req.input["ip_address"] = "100.64.0.12";
  auto lost = ask(req);
  EXPECT_EQ(lost.outcome, adapter_outcome::unknown_outcome) << lost.error;
  srv->set_faults({});
  auto again = ask(req);
  ASSERT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
  EXPECT_EQ(srv->ip_addresses().size(), 1u);
}

TEST_F(netbox_adapter, release_stray_ips_keeps_only_the_recorded_address) {
  auto kept = create_address(*srv, R"({"address":"100.64.0.12/29","tenant":1,)"
                                   R"("custom_fields":{"subscriber_id":)"
                                   R"("sub-1"}})");
  auto stray = create_address(*srv, R"({"address":"100.64.0.99/29",)"
                                    R"("tenant":1,"custom_fields":)"
                                    R"({"subscriber_id":"sub-1"}})");
  auto others = create_address(*srv, R"({"address":"100.64.0.9/29",)"
                                     R"("tenant":1,"custom_fields":)"
                                     R"({"subscriber_id":"sub-2"}})");
  ASSERT_GT(kept * stray * others, 0);
  auto req = request("netbox.release_stray_ips");
  req.input["ip_address"] = "100.64.0.12";
  // An allocation's id in the payload is not what this deletes.
  req.input["ip_id"] = std::to_string(kept);
  auto rep = ask(req);
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_TRUE(address_by_id(*srv, kept));
  EXPECT_FALSE(address_by_id(*srv, stray));
  EXPECT_TRUE(address_by_id(*srv, others));
  EXPECT_EQ(ask(req).outcome, adapter_outcome::succeeded);
  // Without the recorded address it deletes nothing.
  req.input["ip_address"] = "100.64.0.13";
  auto refused = ask(req);
  EXPECT_EQ(refused.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(refused.error.find("does not hold 100.64.0.13"), std::string::npos)
    << refused.error;
  EXPECT_TRUE(address_by_id(*srv, kept));
}
