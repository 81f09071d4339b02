#include "adapters/netbox/wire.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace {

using namespace ispflow::adapters::netbox;

TEST(netbox_wire, url_encode_keeps_unreserved_and_escapes_the_rest) {
  EXPECT_EQ(url_encode("sub-1_a.b~c"), "sub-1_a.b~c");
  EXPECT_EQ(url_encode("a b&c=d/e%"), "a%20b%26c%3Dd%2Fe%25");
}

TEST(netbox_wire, api_url_adds_api_prefix_trailing_slash_and_query) {
  EXPECT_EQ(api_url("http://nb:8000/", "/ipam/prefixes", {}),
            "http://nb:8000/api/ipam/prefixes/");
  EXPECT_EQ(
    api_url("http://nb", "/ipam/ip-addresses/",
            {{"cf_subscriber_id", "a b"}, {"tenant", "acme"}}),
    "http://nb/api/ipam/ip-addresses/?cf_subscriber_id=a%20b&tenant=acme");
}

TEST(netbox_wire, authorization_uses_the_configured_scheme) {
  EXPECT_EQ(authorization_value(token_scheme::token, "abc"), "Token abc");
  EXPECT_EQ(authorization_value(token_scheme::bearer, "nbt_k.t"),
            "Bearer nbt_k.t");
}

TEST(netbox_wire, address_loses_its_length_and_network_is_computed) {
  EXPECT_EQ(address_without_length("100.64.0.9/29"), "100.64.0.9");
  EXPECT_EQ(address_without_length("2001:db8::1/64"), "2001:db8::1");
  EXPECT_EQ(ipv4_network_of("100.64.0.13/29"), "100.64.0.8/29");
  EXPECT_EQ(ipv4_network_of("10.1.2.3/32"), "10.1.2.3/32");
  EXPECT_EQ(ipv4_network_of("10.1.2.3/0"), "0.0.0.0/0");
  EXPECT_FALSE(ipv4_network_of("2001:db8::1/64"));
  EXPECT_FALSE(ipv4_network_of("10.1.2/24"));
  EXPECT_FALSE(ipv4_network_of("10.1.2.300/24"));
  EXPECT_FALSE(ipv4_network_of("10.1.2.3/33"));
}

TEST(netbox_wire, prefix_query_prefers_ids_then_slugs_then_the_input_site) {
  tenant_settings t;
  t.tenant_id = 7;
  t.tenant_slug = "ignored";
  t.site_id = 3;
  auto q = prefix_query(t, "pop-1");
  EXPECT_EQ(q, (query_params{{"tenant_id", "7"},
                             {"site_id", "3"},
                             {"role", "subscriber"},
                             {"status", "active"},
                             {"limit", "1000"}}));
  tenant_settings s;
  s.tenant_slug = "acme";
  auto r = prefix_query(s, "pop-1");
  EXPECT_EQ(r[0], (std::pair<std::string, std::string>{"tenant", "acme"}));
  EXPECT_EQ(r[1], (std::pair<std::string, std::string>{"site", "pop-1"}));
}

TEST(netbox_wire, allocation_body_carries_tenant_tag_and_custom_fields) {
  tenant_settings t;
  t.tenant_slug = "acme";
  t.tag_slug = "subscriber";
  rapidjson::Document doc;
  auto body = allocation_body(t, "sub-\"1", "saga/step/0");
  doc.Parse(body.c_str());
  ASSERT_FALSE(doc.HasParseError()) << body;
  EXPECT_STREQ(doc["tenant"]["slug"].GetString(), "acme");
  EXPECT_STREQ(doc["status"].GetString(), "active");
  EXPECT_STREQ(doc["tags"][0]["slug"].GetString(), "subscriber");
  EXPECT_STREQ(doc["custom_fields"]["subscriber_id"].GetString(), "sub-\"1");
  EXPECT_STREQ(doc["custom_fields"]["idempotency_key"].GetString(),
               "saga/step/0");
  t.key_field.clear();
  t.tenant_id = 4;
  doc.Parse(allocation_body(t, "s", "k").c_str());
  EXPECT_EQ(doc["tenant"].GetInt64(), 4);
  EXPECT_FALSE(doc["custom_fields"].HasMember("idempotency_key"));
}

TEST(netbox_wire, lists_and_objects_are_read_or_refused) {
  auto xs = parse_addresses(
    R"({"count":2,"next":null,"previous":null,"results":[)"
    R"({"id":4,"address":"10.0.0.4/24"},{"id":2,"address":"10.0.0.2/24"}]})");
  ASSERT_TRUE(xs);
  ASSERT_EQ(xs->size(), 2u);
  EXPECT_EQ((*xs)[1].id, 2);
  EXPECT_FALSE(parse_addresses(R"([{"id":1}])"));
  EXPECT_FALSE(parse_addresses("<html>"));
  auto ps = parse_prefixes(R"({"results":[{"id":1,"prefix":"10.0.0.0/24"}]})");
  ASSERT_TRUE(ps);
  EXPECT_EQ(ps->front().prefix, "10.0.0.0/24");
  EXPECT_EQ(parse_address(R"({"id":9,"address":"10.0.0.9/24"})")->id, 9);
  EXPECT_EQ(parse_address(R"([{"id":8,"address":"10.0.0.8/24"}])")->id, 8);
  EXPECT_FALSE(parse_address("[]"));
}

TEST(netbox_wire, loose_custom_field_hits_are_narrowed_to_exact_matches) {
  auto xs = parse_addresses(
    R"({"results":[)"
    R"({"id":1,"address":"10.0.0.1/24","custom_fields":{"subscriber_id":"sub-10"}},)"
    R"({"id":2,"address":"10.0.0.2/24","custom_fields":{"subscriber_id":"sub-1"}},)"
    R"({"id":3,"address":"10.0.0.3/24","custom_fields":{"subscriber_id":null}}]})",
    "subscriber_id");
  ASSERT_TRUE(xs);
  EXPECT_EQ((*xs)[0].subscriber, "sub-10");
  EXPECT_EQ((*xs)[2].subscriber, "");
  auto hits = exact_matches(*xs, "sub-1");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits.front().id, 2);
  EXPECT_TRUE(exact_matches(*xs, "SUB-1").empty());
}

TEST(netbox_wire, error_message_prefers_detail_then_the_body) {
  EXPECT_EQ(error_message(403, R"({"detail":"Invalid token"})"),
            "Invalid token");
  EXPECT_EQ(error_message(400, R"({"status":["bad"]})"),
            R"({"status":["bad"]})");
  EXPECT_EQ(error_message(502, ""), "HTTP 502");
  EXPECT_EQ(error_message(500, std::string(400, 'x')).size(), 303u);
}

TEST(netbox_wire, next_links_are_read_and_followed_on_our_origin) {
  EXPECT_EQ(next_link(R"({"count":3,"next":"http://nb/api/ipam/prefixes/?)"
                      R"(limit=2&offset=2","previous":null,"results":[]})"),
            "http://nb/api/ipam/prefixes/?limit=2&offset=2");
  EXPECT_EQ(next_link(R"({"count":1,"next":null,"results":[]})"), "");
  EXPECT_EQ(next_link("not json"), "");
  // Behind a proxy NetBox may build the link with its own host and scheme:
  // only its path and query are kept.
  EXPECT_EQ(follow_link("https://netbox.example.net",
                        "http://10.0.0.5:8080/api/ipam/prefixes/"
                        "?limit=2&offset=2"),
            "https://netbox.example.net/api/ipam/prefixes/?limit=2&offset=2");
  EXPECT_EQ(follow_link("https://h/netbox/", "/netbox/api/x/?offset=1"),
            "https://h/netbox/api/x/?offset=1");
  EXPECT_EQ(follow_link("http://h:8000", "http://h:8000"), "http://h:8000/");
}

TEST(netbox_wire, unknown_choices_name_the_filter_and_the_value) {
  auto xs = unknown_choices(
    R"({"site":["Select a valid choice. pop-9 is not one of the available )"
    R"(choices."],"tenant_id":["\"x\" is not a valid value."],)"
    R"("role":["Select a valid choice. my pool is not one of the available )"
    R"(choices."]})");
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_EQ(xs[0].filter, "site");
  EXPECT_EQ(xs[0].value, "pop-9");
  EXPECT_EQ(xs[1].filter, "role");
  EXPECT_EQ(xs[1].value, "my pool");
  EXPECT_TRUE(unknown_choices(R"({"detail":"Not found."})").empty());
  EXPECT_TRUE(unknown_choices("[]").empty());
}

TEST(netbox_wire, an_address_takes_the_mask_length_of_its_prefix) {
  EXPECT_EQ(address_in_prefix("100.64.0.12", "100.64.0.8/29"),
            std::optional<std::string>{"100.64.0.12/29"});
  EXPECT_EQ(address_in_prefix("100.64.0.16", "100.64.0.8/29"), std::nullopt);
  EXPECT_EQ(address_in_prefix("100.64.0.12/29", "100.64.0.8/29"), std::nullopt);
  EXPECT_EQ(address_in_prefix("x", "100.64.0.8/29"), std::nullopt);
  EXPECT_EQ(address_in_prefix("100.64.0.12", "100.64.0.8"), std::nullopt);
  EXPECT_EQ(address_query("100.64.0.12"),
            (query_params{{"address", "100.64.0.12"}, {"limit", "1000"}}));
}

TEST(netbox_wire, assignment_body_is_the_allocation_with_the_address) {
  tenant_settings t;
  t.tenant_slug = "demo";
  rapidjson::Document doc;
  auto body = assignment_body(t, "100.64.0.12/29", "sub-1", "k-1");
  doc.Parse(body.c_str());
  ASSERT_TRUE(doc.IsObject()) << body;
  EXPECT_STREQ(doc["address"].GetString(), "100.64.0.12/29");
  EXPECT_STREQ(doc["tenant"]["slug"].GetString(), "demo");
  EXPECT_STREQ(doc["status"].GetString(), "active");
  EXPECT_STREQ(doc["custom_fields"]["subscriber_id"].GetString(), "sub-1");
  EXPECT_STREQ(doc["custom_fields"]["idempotency_key"].GetString(), "k-1");
}

TEST(netbox_wire, addresses_are_read_with_tenant_and_tags) {
  auto xs = parse_addresses(
    R"({"count":1,"next":null,"results":[{"id":4,"address":"10.0.0.1/24",)"
    R"("tenant":{"id":2,"slug":"acme"},"tags":[{"id":1,"slug":"x"}],)"
    R"("custom_fields":{"subscriber_id":"s"}}]})",
    "subscriber_id");
  ASSERT_TRUE(xs);
  ASSERT_EQ(xs->size(), 1u);
  EXPECT_EQ((*xs)[0].tenant_id, 2);
  EXPECT_EQ((*xs)[0].tenant_slug, "acme");
  EXPECT_EQ((*xs)[0].tags, std::vector<std::string>{"x"});
  EXPECT_EQ((*xs)[0].subscriber, "s");
}

TEST(netbox_wire, assignment_never_takes_an_address_held_elsewhere) {
  using action = assignment::action;
  tenant_settings t;
  t.tenant_slug = "demo";
  t.tag_slug = "subscriber";
  auto ref = [](int64_t id, std::string sub, std::string tenant,
                std::vector<std::string> tags) {
    address_ref a;
    a.id = id;
    a.address = "100.64.0.12/29";
    a.subscriber = std::move(sub);
    a.tenant_slug = std::move(tenant);
    a.tenant_id = a.tenant_slug.empty() ? 0 : 1;
    a.tags = std::move(tags);
    return a;
  };
  EXPECT_EQ(plan_assignment(t, "sub-1", "k", {}).what, action::create);
  auto done = plan_assignment(t, "sub-1", "k",
                              {ref(7, "sub-1", "demo", {"subscriber"})});
  EXPECT_EQ(done.what, action::done);
  EXPECT_EQ(done.id, 7);
  // Another subscriber's, or another tenant's: refused, whatever else.
  auto theirs = plan_assignment(t, "sub-1", "k",
                                {ref(7, "", "demo", {}),
                                 ref(8, "sub-10", "demo", {"subscriber"})});
  EXPECT_EQ(theirs.what, action::refuse);
  EXPECT_NE(theirs.reason.find("subscriber sub-10"), std::string::npos);
  auto other = plan_assignment(t, "sub-1", "k", {ref(7, "", "acme", {})});
  EXPECT_EQ(other.what, action::refuse);
  EXPECT_NE(other.reason.find("tenant acme"), std::string::npos);
  // Unassigned, without tenant: claimed with tenant, tag and fields; its
  // own tags stay.
  auto claim = plan_assignment(t, "sub-1", "k", {ref(7, "", "", {"vip"})});
  EXPECT_EQ(claim.what, action::claim);
  EXPECT_EQ(claim.id, 7);
  rapidjson::Document doc;
  doc.Parse(claim.body.c_str());
  ASSERT_TRUE(doc.IsObject()) << claim.body;
  EXPECT_STREQ(doc["tenant"]["slug"].GetString(), "demo");
  ASSERT_EQ(doc["tags"].Size(), 2u);
  EXPECT_STREQ(doc["tags"][0]["slug"].GetString(), "vip");
  EXPECT_STREQ(doc["tags"][1]["slug"].GetString(), "subscriber");
  EXPECT_STREQ(doc["custom_fields"]["subscriber_id"].GetString(), "sub-1");
  EXPECT_STREQ(doc["custom_fields"]["idempotency_key"].GetString(), "k");
  EXPECT_FALSE(doc.HasMember("address"));
  EXPECT_FALSE(doc.HasMember("status"));
  // The subscriber's, without the tag: claimed to add it.
  auto tag = plan_assignment(t, "sub-1", "k", {ref(9, "sub-1", "demo", {})});
  EXPECT_EQ(tag.what, action::claim);
  EXPECT_EQ(tag.id, 9);
}

} // namespace
