#pragma once

// The admin API over a scratch database with tenants, inbox events, dead
// letters and sagas, served on a free port; shared by admin_api_test and
// admin_ctl_test (one binary each).

#include "actors/admin/server.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "events/errc.hpp"
#include "events/intake_check.hpp"
#include "tests/support/scratch_database.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <gtest/gtest.h>
#include <httplib.h>
#include <mutex>
#include <rapidjson/document.h>
#include <unistd.h>

namespace admin_fixture {

using namespace ispflow;
using namespace ispflow::actors::admin;

// Tokens and what they may do.
constexpr const char* admin_token = "adm-0123456789";
constexpr const char* reader_token = "rd-0123456789";
constexpr const char* t1_writer_token = "t1w-0123456789";
constexpr const char* t2_reader_token = "t2r-0123456789";
constexpr const char* metrics_token = "met-0123456789";

const std::string activation_fields
  = R"(,"plan_id":"fiber-500","service_type":"ftth","site":"ams-01",)"
    R"("access":{"onu_serial":"ALCL1A2B3C4D"},)"
    R"("credentials":{"username":"u1","password":"hunter2"})";

events::kafka_record billing(const std::string& id, const std::string& tenant,
                             const std::string& sub, const std::string& verb,
                             const std::string& fields, int64_t offset,
                             bool tenant_header = true) {
  events::kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.partition = 0;
  rec.offset = offset;
  rec.key = sub;
  rec.value = R"({"schema_version":1,"tenant_id":")" + tenant
              + R"(","subscriber_id":")" + sub + "\"" + fields + "}";
  rec.headers = {{"ce_specversion", "1.0", false},
                 {"ce_id", id, false},
                 {"ce_source", "billing.test", false},
                 {"ce_type", "billing.subscription." + verb, false},
                 {"ce_subject", sub, false},
                 {"content-type", "application/json", false}};
  if (tenant_header)
    rec.headers.push_back({"ce_tenantid", tenant, false});
  return rec;
}

class fake_sagas : public saga_control {
public:
  caf::expected<void> retry(const std::string& id) override {
    return record("retry", id);
  }
  caf::expected<void> cancel(const std::string& id) override {
    return record("cancel", id);
  }
  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> guard{mtx_};
    return calls_;
  }
  std::string refuse;

private:
  caf::expected<void> record(const std::string& what, const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx_};
    calls_.push_back(what + " " + id);
    if (id == refuse)
      return caf::make_error(errc::invalid_input, "saga is completed");
    return {};
  }
  std::mutex mtx_;
  std::vector<std::string> calls_;
};

class fake_breakers : public breaker_control {
public:
  caf::expected<std::vector<breaker_info>> list() override {
    std::lock_guard<std::mutex> guard{mtx_};
    return items_;
  }
  caf::expected<void> force_open(const std::string& id) override {
    return set(id, "forced_open");
  }
  caf::expected<void> force_close(const std::string& id) override {
    return set(id, "closed");
  }

private:
  caf::expected<void> set(const std::string& id, const std::string& state) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& b : items_)
      if (b.id == id) {
        b.state = state;
        return {};
      }
    return caf::make_error(errc::invalid_input, "unknown breaker");
  }
  std::mutex mtx_;
  std::vector<breaker_info> items_{
    {"t1/netbox", "t1", "netbox", "closed", {{"failures", 2}}},
    {"t2/voltha", "t2", "voltha", "open", {{"failures", 9}}}};
};

struct answer {
  int status = 0;
  std::string body;
  rapidjson::Document json;
};

class admin_api : public ::testing::Test {
protected:
  void SetUp() override {
    auto migrated = adapters::postgres::apply_migrations(db.dsn());
    ASSERT_TRUE(migrated) << ispflow::render_error(migrated.error());
    auto st = adapters::postgres::intake_store::connect(db.dsn());
    ASSERT_TRUE(st);
    ASSERT_TRUE(st->upsert_tenants({{"t1", "Tenant 1"}, {"t2", "Tenant 2"}}));
    events::intake_settings is;
    events::intake_batch batch;
    auto add = [&](const events::kafka_record& rec) {
      auto d = events::check_billing_record(rec, is);
      if (auto a = std::get_if<events::accepted_event>(&d))
        batch.accepted.push_back(*a);
      else
        batch.rejected.push_back(std::get<events::dead_letter>(d));
    };
    add(billing("e1", "t1", "sub-1", "activated", activation_fields, 1));
    add(billing("e2", "t1", "sub-2", "activated", activation_fields, 2));
    add(billing("e3", "t1", "sub-2", "suspended", R"(,"reason":"non_payment")",
                3));
    add(billing("e4", "t2", "sub-9", "activated", activation_fields, 4));
    // Dead letters: a missing plan_id (t1), a bad reason (t2), no tenant.
    add(billing("d1", "t1", "sub-3", "activated",
                R"(,"service_type":"ftth","site":"ams-01",)"
                R"("access":{"onu_serial":"ALCL1A2B3C4D"},)"
                R"("credentials":{"username":"u3","password":"hunter2"})",
                10));
    add(
      billing("d2", "t2", "sub-8", "suspended", R"(,"reason":"boredom")", 11));
    add(billing("d3", "t1", "sub-4", "suspended", R"(,"reason":"fraud")", 12,
                false));
    for (int i = 0; i < 4; ++i)
      add(billing("d-extra-" + std::to_string(i), "t1", "sub-x", "suspended",
                  R"(,"reason":"nope")", 20 + i));
    auto written = st->write(batch);
    ASSERT_TRUE(written) << ispflow::render_error(written.error());
    ASSERT_EQ(written->recorded, 4u);
    ASSERT_EQ(written->dead_lettered, 7u);
    db.query(R"sql(
INSERT INTO sagas (id, name, version, tenant_id, subscriber_id, service_type,
                   causation, payload, state, "cursor", generation,
                   cancel_requested, failed_step, error, created_at,
                   updated_at, inbox_id)
SELECT 's-t1', 'activate', 1, 't1', 'sub-1', 'ftth', 'e1',
       '{"plan_id":"fiber-500","credentials.password":"hunter2"}',
       'needs_attention', 1, 0, false, 'netbox.allocate_ip', 'HTTP 503',
       '2024-03-01T10:00:00Z', '2024-03-01T10:05:00Z', id
  FROM inbox WHERE event_id = 'e1';
UPDATE inbox SET saga_id = 's-t1' WHERE event_id = 'e1';
-- Its record, as the saga store writes it when a saga stops in
-- needs_attention: the state stays, the last outcome says why.
INSERT INTO subscribers (tenant_id, id, state, last_saga_id, last_saga_name,
                         last_outcome, version)
VALUES ('t1', 'sub-1', 'none', 's-t1', 'activate', 'needs_attention', 1);
INSERT INTO saga_steps (saga_id, idx, name, state, attempts, last_error,
                        output, reconcile, generation, compensation_attempts)
VALUES ('s-t1', 0, 'radius.provision', 'succeeded', 1, '',
        '{"radius_user":"u1"}', false, 0, 0),
       ('s-t1', 1, 'netbox.allocate_ip', 'failed', 5, 'HTTP 503', '{}',
        false, 0, 0);
INSERT INTO sagas (id, name, version, tenant_id, subscriber_id, service_type,
                   causation, payload, state, "cursor", generation,
                   cancel_requested, created_at, updated_at)
VALUES ('s-t2', 'activate', 1, 't2', 'sub-9', 'ftth', 'e4', '{}', 'running',
        0, 0, false, '2024-03-02T10:00:00Z', '2024-03-02T10:00:00Z');
-- 120 more for pagination, created in groups of three at the same time.
INSERT INTO sagas (id, name, version, tenant_id, subscriber_id, service_type,
                   causation, payload, state, "cursor", generation,
                   cancel_requested, created_at, updated_at)
SELECT 'p-' || lpad(g::text, 4, '0'),
       CASE WHEN g % 2 = 0 THEN 'activate' ELSE 'suspend' END, 1, 't1',
       'sub-p' || g, 'ftth', 'c' || g, '{}',
       CASE WHEN g % 5 = 0 THEN 'compensated' ELSE 'completed' END, 0, 0,
       false, timestamptz '2024-01-01T00:00:00Z' + (g / 3) * interval '1 minute',
       now()
  FROM generate_series(1, 120) g;
)sql");
    admin_settings cfg;
    cfg.port = 0;
    cfg.threads = 8;
    cfg.tokens = {
      {"ops-admin", sha256_hex(admin_token), {"admin"}, std::nullopt},
      {"ops-reader", sha256_hex(reader_token), {"sagas:read"}, std::nullopt},
      {"t1-writer",
       sha256_hex(t1_writer_token),
       {"sagas:read", "sagas:write"},
       "t1"},
      {"t2-reader", sha256_hex(t2_reader_token), {"sagas:read"}, "t2"},
    };
    if (with_metrics_token)
      cfg.metrics_token_sha256 = sha256_hex(metrics_token);
    configure(cfg);
    admin_deps deps;
    deps.dsn = db.dsn();
    deps.metrics = &registry;
    deps.sagas = sagas;
    deps.breakers = breakers;
    deps.probes.push_back({"bus", [this]() -> caf::expected<void> {
                             if (bus_down)
                               return caf::make_error(errc::kafka_error,
                                                      "no brokers");
                             return {};
                           }});
    configure_deps(deps);
    auto srv = admin_server::make(cfg, deps);
    ASSERT_TRUE(srv) << ispflow::render_error(srv.error());
    server = std::move(*srv);
    auto port = server->start();
    ASSERT_TRUE(port) << ispflow::render_error(port.error());
    client = std::make_unique<httplib::Client>("127.0.0.1", *port);
  }

  void TearDown() override {
    client.reset();
    if (server)
      server->stop();
  }

  /// Lets a suite change the settings before the server is made.
  virtual void configure(admin_settings&) {
    // nop
  }

  /// Lets a suite change the dependencies before the server is made.
  virtual void configure_deps(admin_deps&) {
    // nop
  }

  answer call(const std::string& method, const std::string& path,
              const char* token, const std::string& body = "") {
    httplib::Headers headers;
    if (token != nullptr)
      headers.emplace("Authorization", std::string{"Bearer "} + token);
    auto res = method == "GET" ? client->Get(path.c_str(), headers)
                               : client->Post(path.c_str(), headers, body,
                                              "application/json");
    answer a;
    if (!res) {
      ADD_FAILURE() << method << " " << path << ": no answer";
      return a;
    }
    a.status = res->status;
    a.body = res->body;
    a.json.Parse(a.body.c_str());
    return a;
  }

  answer get(const std::string& path, const char* token) {
    return call("GET", path, token);
  }

  answer post(const std::string& path, const char* token,
              const std::string& body = "") {
    return call("POST", path, token, body);
  }

  static std::string error_code(const answer& a) {
    if (!a.json.IsObject() || !a.json.HasMember("error"))
      return "<no error body: " + a.body + ">";
    return a.json["error"]["code"].GetString();
  }

  // Every saga id of a listing, following next_cursor to the end.
  std::vector<std::string> all_ids(const std::string& query, const char* token,
                                   int limit, int* pages = nullptr) {
    std::vector<std::string> ids;
    std::string cursor;
    int n = 0;
    for (;;) {
      auto path = "/v1/sagas?limit=" + std::to_string(limit) + query;
      if (!cursor.empty())
        path += "&cursor=" + cursor;
      auto a = get(path, token);
      EXPECT_EQ(a.status, 200) << a.body;
      if (a.status != 200)
        break;
      ++n;
      for (auto& item : a.json["items"].GetArray())
        ids.emplace_back(item["id"].GetString());
      if (a.json["next_cursor"].IsNull())
        break;
      cursor = a.json["next_cursor"].GetString();
      if (n > 1000)
        break;
    }
    if (pages != nullptr)
      *pages = n;
    return ids;
  }

  bool with_metrics_token = false;
  ispflow::testing::scratch_database db;
  metrics_registry registry;
  std::shared_ptr<fake_sagas> sagas = std::make_shared<fake_sagas>();
  std::shared_ptr<fake_breakers> breakers = std::make_shared<fake_breakers>();
  std::atomic<bool> bus_down{false};
  std::unique_ptr<admin_server> server;
  std::unique_ptr<httplib::Client> client;
};

// A self-signed certificate for 127.0.0.1 made by the openssl command.
struct throwaway_certificate {
  std::string dir
    = ::testing::TempDir() + "admin-tls-" + std::to_string(::getpid()) + "-"
      + std::to_string(
        std::chrono::steady_clock::now().time_since_epoch().count());
  std::string cert = dir + "/cert.pem";
  std::string key = dir + "/key.pem";
  bool made = false;

  throwaway_certificate() {
    std::filesystem::create_directories(dir);
    auto cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1"
               " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
               " -keyout '"
               + key + "' -out '" + cert + "' >/dev/null 2>&1";
    made = std::system(cmd.c_str()) == 0;
  }

  ~throwaway_certificate() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

class admin_api_metrics_token : public admin_api {
protected:
  void SetUp() override {
    with_metrics_token = true;
    admin_api::SetUp();
  }
};

} // namespace admin_fixture
