#include "sim/netbox/server.hpp"

#include <fstream>
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>

using namespace ispflow::sim;

namespace {

const char* token = "Token 0123456789abcdef0123456789abcdef01234567";
const char* json = "application/json";

struct netbox_sim : ::testing::Test {
  std::unique_ptr<netbox::server> srv;
  std::unique_ptr<httplib::Client> cli;

  void SetUp() override {
    netbox::options opts;
    opts.tokens = {"0123456789abcdef0123456789abcdef01234567",
                   "nbt_abc123.secretpart"};
    auto s = netbox::server::start(opts);
    ASSERT_TRUE(s);
    srv = std::move(*s);
    cli = std::make_unique<httplib::Client>("127.0.0.1", srv->port());
    cli->set_default_headers({{"Authorization", token}});
    cli->set_read_timeout(5, 0);
  }

  rapidjson::Document parse(const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.c_str());
    return d;
  }

  httplib::Result allocate(int prefix, const std::string& sub) {
    return cli->Post("/api/ipam/prefixes/" + std::to_string(prefix)
                       + "/available-ips/",
                     R"({"tenant":{"slug":"demo"},"status":"active",)"
                     R"("tags":[{"slug":"subscriber"}],)"
                     R"("custom_fields":{"subscriber_id":")"
                       + sub + R"("}})",
                     json);
  }
};

} // namespace

TEST_F(netbox_sim, rejects_requests_without_a_token_with_403) {
  httplib::Client bare{"127.0.0.1", srv->port()};
  auto res = bare.Get("/api/ipam/prefixes/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(res->body,
            R"({"detail":"Authentication credentials were not provided."})");
  EXPECT_EQ(res->get_header_value("API-Version"), "4.2");
  auto bad = bare.Get(
    "/api/ipam/prefixes/",
    {{"Authorization", "Token ffffffffffffffffffffffffffffffffffffffff"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 403);
}

TEST_F(netbox_sim, accepts_v2_bearer_tokens) {
  httplib::Client bare{"127.0.0.1", srv->port()};
  auto res = bare.Get("/api/status/",
                      {{"Authorization", "Bearer nbt_abc123.secretpart"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_FALSE(res->get_header_value("X-Request-ID").empty());
}

TEST_F(netbox_sim, filters_prefixes_by_tenant_site_role_and_status) {
  auto res = cli->Get("/api/ipam/prefixes/?tenant_id=1&site_id=1"
                      "&role=subscriber&status=active");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto doc = parse(res->body);
  EXPECT_EQ(doc["count"].GetInt(), 2);
  EXPECT_STREQ(doc["results"][0]["prefix"].GetString(), "100.64.0.0/30");
  auto slug = cli->Get("/api/ipam/prefixes/?tenant=acme&site=pop-2");
  ASSERT_TRUE(slug);
  EXPECT_EQ(parse(slug->body)["count"].GetInt(), 1);
}

TEST_F(netbox_sim, redirects_paths_without_a_trailing_slash) {
  auto res = cli->Get("/api/ipam/prefixes?tenant_id=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 301);
  EXPECT_EQ(res->get_header_value("Location"),
            "/api/ipam/prefixes/?tenant_id=1");
}

TEST_F(netbox_sim, allocates_until_full_then_answers_409_with_the_detail) {
  auto a = allocate(1, "s1");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->status, 201);
  auto doc = parse(a->body);
  EXPECT_STREQ(doc["address"].GetString(), "100.64.0.1/30");
  EXPECT_STREQ(doc["custom_fields"]["subscriber_id"].GetString(), "s1");
  EXPECT_EQ(doc["tenant"]["id"].GetInt(), 1);
  auto b = allocate(1, "s2");
  ASSERT_TRUE(b);
  EXPECT_STREQ(parse(b->body)["address"].GetString(), "100.64.0.2/30");
  auto full = allocate(1, "s3");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 409);
  EXPECT_EQ(full->body,
            R"x({"detail":"An insufficient number of IP addresses are )x"
            R"x(available within 100.64.0.0/30 (1 requested, 0 available)"})x");
  auto next = allocate(2, "s3");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 201);
  EXPECT_STREQ(parse(next->body)["address"].GetString(), "100.64.0.9/29");
}

TEST_F(netbox_sim, a_second_post_allocates_a_second_address) {
  ASSERT_EQ(allocate(2, "same")->status, 201);
  ASSERT_EQ(allocate(2, "same")->status, 201);
  auto res = cli->Get("/api/ipam/ip-addresses/?cf_subscriber_id=same");
  ASSERT_TRUE(res);
  EXPECT_EQ(parse(res->body)["count"].GetInt(), 2);
  EXPECT_EQ(srv->allocation_count(), 2u);
}

TEST_F(netbox_sim, lists_available_ips_excluding_network_and_broadcast) {
  auto res = cli->Get("/api/ipam/prefixes/1/available-ips/");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto doc = parse(res->body);
  ASSERT_TRUE(doc.IsArray());
  ASSERT_EQ(doc.Size(), 2u);
  EXPECT_STREQ(doc[0]["address"].GetString(), "100.64.0.1/30");
  EXPECT_EQ(doc[0]["family"].GetInt(), 4);
}

TEST_F(netbox_sim, rejects_unknown_custom_fields_with_400) {
  auto res = cli->Post("/api/ipam/prefixes/2/available-ips/",
                       R"({"custom_fields":{"nope":"x"}})", json);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, R"({"custom_fields":["Unknown field name 'nope' )"
                       R"(in custom field data."]})");
  EXPECT_TRUE(srv->ip_addresses().empty());
}

TEST_F(netbox_sim, rejects_unresolvable_tags_and_tenants_with_400) {
  auto tag = cli->Post("/api/ipam/prefixes/2/available-ips/",
                       R"({"tags":[{"slug":"missing"}]})", json);
  ASSERT_TRUE(tag);
  EXPECT_EQ(tag->status, 400);
  auto ten = cli->Post("/api/ipam/prefixes/2/available-ips/",
                       R"({"tenant":99})", json);
  ASSERT_TRUE(ten);
  EXPECT_EQ(ten->status, 400);
}

TEST_F(netbox_sim, answers_404_for_a_missing_prefix) {
  auto res = allocate(42, "x");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(netbox_sim, patches_and_deletes_addresses_then_404s) {
  auto a = allocate(2, "p1");
  auto id = std::to_string(parse(a->body)["id"].GetInt());
  auto patched = cli->Patch("/api/ipam/ip-addresses/" + id + "/",
                            R"({"dns_name":"u1.example.net"})", json);
  ASSERT_TRUE(patched);
  EXPECT_EQ(patched->status, 200);
  EXPECT_STREQ(parse(patched->body)["dns_name"].GetString(), "u1.example.net");
  auto del = cli->Delete("/api/ipam/ip-addresses/" + id + "/");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 204);
  EXPECT_TRUE(del->body.empty());
  auto again = cli->Delete("/api/ipam/ip-addresses/" + id + "/");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404);
}

// The lowest free address goes first, a released one included.
TEST_F(netbox_sim, a_released_address_is_the_next_one_allocated) {
  std::vector<std::string> ids;
  for (auto who : {"r1", "r2", "r3"})
    ids.push_back(std::to_string(parse(allocate(2, who)->body)["id"].GetInt()));
  auto del = cli->Delete("/api/ipam/ip-addresses/" + ids[1] + "/");
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 204);
  auto again = allocate(2, "r4");
  ASSERT_TRUE(again);
  EXPECT_STREQ(parse(again->body)["address"].GetString(), "100.64.0.10/29");
  EXPECT_STREQ(parse(allocate(2, "r5")->body)["address"].GetString(),
               "100.64.0.12/29");
}

// An address moved by PATCH frees its old address and takes the new one:
// allocation fills the freed one, then skips the taken one.
TEST_F(netbox_sim, a_patched_address_frees_the_old_and_takes_the_new) {
  std::vector<std::string> ids;
  for (auto who : {"m1", "m2", "m3"})
    ids.push_back(std::to_string(parse(allocate(2, who)->body)["id"].GetInt()));
  auto moved = cli->Patch("/api/ipam/ip-addresses/" + ids[1] + "/",
                          R"({"address": "100.64.0.13/29"})",
                          "application/json");
  ASSERT_TRUE(moved);
  ASSERT_EQ(moved->status, 200) << moved->body;
  EXPECT_STREQ(parse(moved->body)["address"].GetString(), "100.64.0.13/29");
  EXPECT_STREQ(parse(allocate(2, "m4")->body)["address"].GetString(),
               "100.64.0.10/29");
  EXPECT_STREQ(parse(allocate(2, "m5")->body)["address"].GetString(),
               "100.64.0.12/29");
  EXPECT_STREQ(parse(allocate(2, "m6")->body)["address"].GetString(),
               "100.64.0.14/29");
  EXPECT_EQ(allocate(2, "m7")->status, 409);
}

// A look-up by custom field (served from an index) follows a PATCH of the
// field and a DELETE: it finds an address under its new value only, and
// never a deleted one.
TEST_F(netbox_sim, a_look_up_by_custom_field_follows_changes) {
  auto count = [&](const std::string& who) {
    auto res = cli->Get("/api/ipam/ip-addresses/?cf_subscriber_id=" + who);
    return res && res->status == 200 ? parse(res->body)["count"].GetInt() : -1;
  };
  auto id = std::to_string(parse(allocate(2, "c1")->body)["id"].GetInt());
  ASSERT_EQ(allocate(2, "c1")->status, 201);
  EXPECT_EQ(count("c1"), 2);
  auto moved = cli->Patch("/api/ipam/ip-addresses/" + id + "/",
                          R"({"custom_fields": {"subscriber_id": "c2"}})",
                          "application/json");
  ASSERT_TRUE(moved);
  ASSERT_EQ(moved->status, 200) << moved->body;
  EXPECT_EQ(count("c1"), 1);
  EXPECT_EQ(count("c2"), 1);
  ASSERT_EQ(cli->Delete("/api/ipam/ip-addresses/" + id + "/")->status, 204);
  EXPECT_EQ(count("c2"), 0);
  EXPECT_EQ(count("c1"), 1);
}

TEST_F(netbox_sim, paginates_with_limit_and_offset) {
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(allocate(2, "pg")->status, 201);
  auto res = cli->Get("/api/ipam/ip-addresses/?cf_subscriber_id=pg&limit=2");
  auto doc = parse(res->body);
  EXPECT_EQ(doc["count"].GetInt(), 3);
  EXPECT_EQ(doc["results"].Size(), 2u);
  EXPECT_TRUE(doc["previous"].IsNull());
  ASSERT_TRUE(doc["next"].IsString());
  EXPECT_NE(std::string{doc["next"].GetString()}.find("offset=2"),
            std::string::npos);
  auto last = parse(
    cli->Get("/api/ipam/ip-addresses/?cf_subscriber_id=pg&limit=2&offset=2")
      ->body);
  EXPECT_EQ(last["results"].Size(), 1u);
  EXPECT_TRUE(last["next"].IsNull());
}

// MAX_PAGE_SIZE below the client's limit: fewer results and a `next` link
// carrying the page size actually used (netbox/netbox/api/pagination.py).
TEST(netbox_sim_pages, max_page_size_caps_the_limit_and_links_the_pages) {
  netbox::options opts;
  opts.max_page_size = 2;
  auto s = netbox::server::start(opts);
  ASSERT_TRUE(s);
  httplib::Client c{"127.0.0.1", (*s)->port()};
  c.set_default_headers({{"Authorization", token}});
  rapidjson::Document first;
  first.Parse(
    c.Get("/api/ipam/prefixes/?status=active&limit=1000")->body.c_str());
  EXPECT_EQ(first["count"].GetInt(), 3);
  EXPECT_EQ(first["results"].Size(), 2u);
  EXPECT_TRUE(first["previous"].IsNull());
  ASSERT_TRUE(first["next"].IsString());
  std::string next = first["next"].GetString();
  EXPECT_EQ(next.rfind("http://127.0.0.1:", 0), 0u) << next;
  EXPECT_NE(next.find("status=active"), std::string::npos) << next;
  EXPECT_NE(next.find("limit=2&offset=2"), std::string::npos) << next;
  rapidjson::Document second;
  second.Parse(c.Get(next.substr(next.find("/api/")))->body.c_str());
  EXPECT_EQ(second["results"].Size(), 1u);
  EXPECT_TRUE(second["next"].IsNull());
  // Back to the first page: no offset at all.
  std::string prev = second["previous"].GetString();
  EXPECT_EQ(prev.find("offset"), std::string::npos) << prev;
  // limit=0 asks for MAX_PAGE_SIZE; no limit gives min(PAGINATE_COUNT, MAX).
  rapidjson::Document zero;
  zero.Parse(c.Get("/api/ipam/prefixes/?limit=0")->body.c_str());
  EXPECT_EQ(zero["results"].Size(), 2u);
  auto checks = (*s)->checks();
  EXPECT_EQ(checks.lookups, 3u);
  EXPECT_EQ(checks.pages_followed, 1u);
  rapidjson::Document state;
  state.Parse(c.Get("/_sim/state")->body.c_str());
  EXPECT_EQ(state["contract_checks"]["pages_followed"].GetInt(), 1);
  EXPECT_EQ(state["contract_checks"]["max_page_size"].GetInt(), 2);
}

TEST_F(netbox_sim, an_unknown_slug_or_id_filter_is_a_400_naming_it) {
  auto site = cli->Get("/api/ipam/prefixes/?site=pop-9&role=subscriber");
  ASSERT_TRUE(site);
  EXPECT_EQ(site->status, 400);
  EXPECT_EQ(site->body, R"({"site":["Select a valid choice. pop-9 is not )"
                        R"(one of the available choices."]})");
  auto several
    = cli->Get("/api/ipam/prefixes/?tenant=nope&role=pool&site_id=1");
  ASSERT_TRUE(several);
  EXPECT_EQ(several->status, 400);
  auto doc = parse(several->body);
  EXPECT_TRUE(doc.HasMember("tenant"));
  EXPECT_TRUE(doc.HasMember("role"));
  EXPECT_FALSE(doc.HasMember("site_id"));
  auto id = cli->Get("/api/ipam/ip-addresses/?tenant_id=99");
  EXPECT_EQ(id->status, 400);
  EXPECT_EQ(cli->Get("/api/ipam/ip-addresses/?tenant_id=x")->body,
            R"({"tenant_id":["\"x\" is not a valid value."]})");
  EXPECT_EQ(cli->Get("/api/ipam/ip-addresses/?status=gone")->status, 400);
  EXPECT_EQ(
    cli->Get("/api/ipam/ip-addresses/?tenant=demo&tenant_id=null")->status,
    200);
  EXPECT_EQ(srv->checks().unknown_choices, 5u);
}

TEST_F(netbox_sim, a_prefix_marked_full_answers_409) {
  auto ctl = cli->Post("/_sim/prefixes/2/full", R"({"full":true})", json);
  ASSERT_TRUE(ctl);
  EXPECT_EQ(ctl->status, 200);
  auto res = allocate(2, "x");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 409);
}

TEST_F(netbox_sim, injects_a_status_for_a_path_prefix_and_clears_it) {
  auto ctl = cli->Post("/_sim/faults",
                       R"({"status":503,"path_prefix":"/api/ipam/"})", json);
  ASSERT_TRUE(ctl);
  ASSERT_EQ(ctl->status, 200);
  EXPECT_EQ(cli->Get("/api/ipam/prefixes/")->status, 503);
  EXPECT_EQ(cli->Get("/api/tenancy/tenants/")->status, 200);
  EXPECT_EQ(cli->Delete("/_sim/faults")->status, 204);
  EXPECT_EQ(cli->Get("/api/ipam/prefixes/")->status, 200);
}

TEST_F(netbox_sim, apply_then_reset_allocates_but_drops_the_answer) {
  common::fault_config f;
  f.apply_then_reset = true;
  f.count = 1;
  srv->set_faults(f);
  auto res = allocate(2, "lost");
  EXPECT_FALSE(res);
  ASSERT_EQ(srv->ip_addresses().size(), 1u);
  EXPECT_EQ(srv->ip_addresses()[0].custom_fields["subscriber_id"], "\"lost\"");
  auto found = cli->Get("/api/ipam/ip-addresses/?cf_subscriber_id=lost");
  ASSERT_TRUE(found);
  EXPECT_EQ(parse(found->body)["count"].GetInt(), 1);
}

TEST_F(netbox_sim, reset_fault_drops_the_connection_without_applying) {
  common::fault_config f;
  f.reset = true;
  f.count = 1;
  srv->set_faults(f);
  EXPECT_FALSE(allocate(2, "never"));
  EXPECT_TRUE(srv->ip_addresses().empty());
  EXPECT_TRUE(allocate(2, "now"));
}

TEST_F(netbox_sim, hang_outlasts_the_client_timeout) {
  common::fault_config f;
  f.hang = true;
  f.hang_ms = 3000;
  srv->set_faults(f);
  cli->set_read_timeout(0, 200000);
  auto res = cli->Get("/api/ipam/prefixes/");
  EXPECT_FALSE(res);
  srv->set_faults({});
}

TEST_F(netbox_sim, error_rate_fails_some_but_not_all_requests) {
  common::fault_config f;
  f.error_rate = 0.5;
  f.status = 500;
  f.seed = 3;
  srv->set_faults(f);
  int failed = 0;
  for (int i = 0; i < 40; ++i)
    failed += cli->Get("/api/status/")->status == 500 ? 1 : 0;
  EXPECT_GT(failed, 0);
  EXPECT_LT(failed, 40);
}

TEST(netbox_sim_start, loads_a_yaml_seed) {
  auto path = ::testing::TempDir() + "netbox_seed.yaml";
  {
    std::ofstream out{path};
    out << "tenants: [{slug: t1, name: T1}]\n"
           "sites: [{slug: s1, tenant: t1}]\n"
           "roles: [{slug: r1}]\n"
           "custom_fields: [subscriber_id]\n"
           "prefixes: [{id: 5, prefix: 10.9.0.0/31, site: s1, tenant: t1,"
           " role: r1}]\n";
  }
  netbox::options opts;
  opts.seed_file = path;
  auto s = netbox::server::start(opts);
  ASSERT_TRUE(s);
  httplib::Client c{"127.0.0.1", (*s)->port()};
  c.set_default_headers({{"Authorization", token}});
  auto res = c.Post("/api/ipam/prefixes/5/available-ips/", "[{},{}]", json);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 201);
  rapidjson::Document d;
  d.Parse(res->body.c_str());
  ASSERT_TRUE(d.IsArray());
  EXPECT_STREQ(d[1]["address"].GetString(), "10.9.0.1/31");
}
