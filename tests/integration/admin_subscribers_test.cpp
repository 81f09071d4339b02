// GET /v1/subscribers and /v1/subscribers/{id}: the subscriber records with
// filters, pages and tenant isolation; ispflowctl subscribers list|show.

#include "tests/integration/admin_fixture.hpp"

#include <cstdio>
#include <set>
#include <sys/wait.h>

using namespace admin_fixture;

namespace {

class admin_subscribers : public admin_api {
protected:
  void SetUp() override {
    admin_api::SetUp();
    if (HasFatalFailure())
      return;
    // The admin fixture's sub-1 record is replaced by a fuller one.
    db.query(R"sql(
DELETE FROM subscribers WHERE tenant_id = 't1' AND id = 'sub-1';
INSERT INTO subscribers (tenant_id, id, state, plan_id, service_type,
                         radius_username, ip_address, onu_id, cpe_id,
                         nas_identifier, last_saga_id, last_saga_name,
                         last_outcome, version)
VALUES ('t1', 'sub-1', 'active', 'fiber-500', 'ftth', 'u1@t1.example',
        '100.64.0.1', 'onu-1', 'cpe-1', 'bng-1', 's-t1', 'activate',
        'completed', 1),
       ('t1', 'sub-2', 'suspended', 'fiber-500', 'ftth', NULL, '100.64.0.2',
        NULL, NULL, 'bng-2', NULL, 'suspend', 'completed', 2),
       ('t2', 'sub-9', 'active', 'air-50', 'wireless', NULL, NULL, NULL,
        NULL, 'bng-1', NULL, 'activate', 'completed', 1);
INSERT INTO subscribers (tenant_id, id, state, plan_id, service_type)
SELECT 't1', 'sub-q' || lpad(g::text, 3, '0'), 'active', 'copper-20', 'fixed'
  FROM generate_series(1, 25) g;
)sql");
  }

  // Every "tenant/id" of a listing, following next_cursor to the end.
  std::vector<std::string> all(const std::string& query, const char* token,
                               int limit) {
    std::vector<std::string> ids;
    std::string cursor;
    for (int pages = 0; pages < 100; ++pages) {
      auto path = "/v1/subscribers?limit=" + std::to_string(limit) + query;
      if (!cursor.empty())
        path += "&cursor=" + cursor;
      auto a = get(path, token);
      EXPECT_EQ(a.status, 200) << a.body;
      if (a.status != 200)
        break;
      for (auto& item : a.json["items"].GetArray())
        ids.push_back(std::string{item["tenant_id"].GetString()} + "/"
                      + item["id"].GetString());
      if (a.json["next_cursor"].IsNull())
        break;
      cursor = a.json["next_cursor"].GetString();
    }
    return ids;
  }
};

} // namespace

TEST_F(admin_subscribers, lists_records_by_filter_and_page) {
  auto everyone = all("", reader_token, 7);
  EXPECT_EQ(everyone.size(), 28u);
  EXPECT_EQ(std::set<std::string>(everyone.begin(), everyone.end()).size(), 28u)
    << "a page repeated a subscriber";
  EXPECT_EQ(everyone.front(), "t1/sub-1");
  EXPECT_EQ(everyone.back(), "t2/sub-9");
  EXPECT_EQ(all("&state=suspended", reader_token, 50),
            std::vector<std::string>{"t1/sub-2"});
  EXPECT_EQ(all("&plan=fiber-500", reader_token, 50),
            (std::vector<std::string>{"t1/sub-1", "t1/sub-2"}));
  EXPECT_EQ(all("&nas=bng-1", reader_token, 50),
            (std::vector<std::string>{"t1/sub-1", "t2/sub-9"}));
  EXPECT_EQ(all("&nas=bng-1&tenant=t2", reader_token, 50),
            std::vector<std::string>{"t2/sub-9"});
  auto a = get("/v1/subscribers?tenant=t1&state=active&limit=1", reader_token);
  ASSERT_EQ(a.status, 200) << a.body;
  auto& item = a.json["items"][0];
  EXPECT_STREQ(item["ip_address"].GetString(), "100.64.0.1");
  EXPECT_STREQ(item["radius_username"].GetString(), "u1@t1.example");
  EXPECT_STREQ(item["last_outcome"].GetString(), "completed");
  EXPECT_EQ(item["version"].GetInt(), 1);
}

TEST_F(admin_subscribers, a_tenant_token_sees_only_its_tenant) {
  EXPECT_EQ(all("", t2_reader_token, 50), std::vector<std::string>{"t2/sub-9"});
  auto a = get("/v1/subscribers?tenant=t1", t2_reader_token);
  EXPECT_EQ(a.status, 403);
  EXPECT_EQ(error_code(a), "forbidden_tenant");
  EXPECT_EQ(get("/v1/subscribers/sub-1", t2_reader_token).status, 404);
  EXPECT_EQ(get("/v1/subscribers", nullptr).status, 401);
}

TEST_F(admin_subscribers, refuses_bad_filters) {
  auto a = get("/v1/subscribers?state=happy", reader_token);
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(error_code(a), "invalid_request");
  a = get("/v1/subscribers?cursor=%25%25", reader_token);
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(error_code(a), "invalid_cursor");
  a = get("/v1/subscribers?limit=0", reader_token);
  EXPECT_EQ(a.status, 400);
}

TEST_F(admin_subscribers, shows_a_record_with_its_sagas) {
  auto a = get("/v1/subscribers/sub-1", reader_token);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_STREQ(a.json["tenant_id"].GetString(), "t1");
  EXPECT_STREQ(a.json["record"]["state"].GetString(), "active");
  EXPECT_STREQ(a.json["record"]["onu_id"].GetString(), "onu-1");
  ASSERT_EQ(a.json["sagas"].Size(), 1u);
  EXPECT_STREQ(a.json["sagas"][0]["id"].GetString(), "s-t1");
  EXPECT_STREQ(a.json["sagas"][0]["state"].GetString(), "needs_attention");
  // Only an open saga, no record yet.
  db.query("DELETE FROM subscribers WHERE id = 'sub-9'");
  a = get("/v1/subscribers/sub-9?tenant=t2", reader_token);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_TRUE(a.json["record"].IsNull());
  EXPECT_STREQ(a.json["sagas"][0]["id"].GetString(), "s-t2");
  EXPECT_EQ(get("/v1/subscribers/nobody", reader_token).status, 404);
  // The same id in two tenants needs the tenant.
  db.query("INSERT INTO subscribers (tenant_id, id, state) VALUES "
           "('t2', 'sub-1', 'none')");
  a = get("/v1/subscribers/sub-1", reader_token);
  EXPECT_EQ(a.status, 400) << a.body;
  a = get("/v1/subscribers/sub-1?tenant=t2", reader_token);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_STREQ(a.json["record"]["state"].GetString(), "none");
}

TEST_F(admin_subscribers, ispflowctl_lists_and_shows_subscribers) {
  auto run = [&](const std::string& args) {
    auto cmd = "env -u ISPFLOW_URL -u ISPFLOW_TOKEN ISPFLOW_URL=http://"
               "127.0.0.1:"
               + std::to_string(server->port())
               + " ISPFLOW_TOKEN=" + reader_token + " '"
               + std::string{ISPFLOWCTL} + "' " + args + " 2>&1";
    std::string out;
    auto* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    for (size_t n; p != nullptr && (n = std::fread(buf, 1, sizeof buf, p)) > 0;)
      out.append(buf, n);
    auto status = p == nullptr ? -1 : ::pclose(p);
    return std::pair{WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
  };
  auto [code, out] = run("subscribers list --state suspended");
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out.rfind("TENANT", 0), 0u) << out;
  EXPECT_NE(out.find("sub-2"), std::string::npos) << out;
  EXPECT_EQ(out.find("sub-1 "), std::string::npos) << out;
  std::tie(code, out) = run("subscribers show sub-1");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("ip_address: 100.64.0.1"), std::string::npos) << out;
  EXPECT_NE(out.find("s-t1"), std::string::npos) << out;
  std::tie(code, out) = run("subscribers show nobody");
  EXPECT_EQ(code, 1) << out;
}
