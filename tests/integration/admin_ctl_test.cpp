#include "tests/integration/admin_fixture.hpp"

#include <cstdio>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace admin_fixture;

namespace {

struct run_result {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs ispflowctl with `env` and `args` (each quoted for the shell).
run_result run_ctl(const std::string& env, const std::vector<std::string>& args,
                   const std::string& stdin_text = "") {
  // Per process and call: ctest runs these tests in parallel processes,
  // which shared one file name and read each other's stderr.
  static int calls = 0;
  auto base = ::testing::TempDir() + "ispflowctl." + std::to_string(getpid())
              + "." + std::to_string(++calls);
  auto err_file = base + ".err";
  auto in_file = base + ".in";
  std::ofstream{in_file} << stdin_text;
  std::string cmd = "env -u ISPFLOW_URL -u ISPFLOW_TOKEN " + env + " '"
                    + std::string{ISPFLOWCTL} + "'";
  for (auto& a : args)
    cmd += " '" + a + "'";
  cmd += " <'" + in_file + "' 2>'" + err_file + "'";
  run_result r;
  auto pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr)
    return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0)
    r.out.append(buf, n);
  auto status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in{err_file};
  r.err.assign(std::istreambuf_iterator<char>{in}, {});
  in.close();
  std::remove(err_file.c_str());
  std::remove(in_file.c_str());
  return r;
}

class ispflowctl_test : public admin_api {
protected:
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server->port());
  }

  // URL and token from the environment, as operators are told to do.
  run_result ctl(const char* token, const std::vector<std::string>& args,
                 const std::string& stdin_text = "") {
    std::string env = "ISPFLOW_URL=" + url();
    if (token != nullptr)
      env += std::string{" ISPFLOW_TOKEN="} + token;
    auto r = run_ctl(env, args, stdin_text);
    if (token != nullptr) {
      EXPECT_EQ(r.out.find(token), std::string::npos) << "token printed";
      EXPECT_EQ(r.err.find(token), std::string::npos) << "token printed";
    }
    return r;
  }
};

} // namespace

TEST_F(ispflowctl_test, lists_sagas_as_a_table_and_as_json) {
  auto r = ctl(reader_token, {"sagas", "list", "--tenant", "t1", "--state",
                              "needs_attention"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("ID", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("s-t1"), std::string::npos);
  EXPECT_NE(r.out.find("needs_attention"), std::string::npos);
  EXPECT_EQ(r.out.find("s-t2"), std::string::npos);
  r = ctl(reader_token, {"--json", "sagas", "list", "--limit", "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  rapidjson::Document d;
  d.Parse(r.out.c_str());
  ASSERT_FALSE(d.HasParseError()) << r.out;
  EXPECT_EQ(d["items"].Size(), 3u);
  ASSERT_TRUE(d["next_cursor"].IsString());
  r = ctl(reader_token, {"--json", "sagas", "list", "--limit", "3", "--cursor",
                         d["next_cursor"].GetString()});
  ASSERT_EQ(r.code, 0) << r.err;
  rapidjson::Document d2;
  d2.Parse(r.out.c_str());
  EXPECT_STRNE(d2["items"][0]["id"].GetString(),
               d["items"][2]["id"].GetString());
}

TEST_F(ispflowctl_test, shows_a_saga_with_its_steps) {
  auto r = ctl(reader_token, {"sagas", "show", "s-t1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("state: needs_attention"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("netbox.allocate_ip"), std::string::npos);
  EXPECT_NE(r.out.find("HTTP 503"), std::string::npos);
}

TEST_F(ispflowctl_test, retry_cancel_and_replay_exit_zero_or_one) {
  auto r = ctl(t1_writer_token, {"sagas", "retry", "s-t1"});
  EXPECT_EQ(r.code, 0) << r.err;
  r = ctl(admin_token, {"sagas", "cancel", "p-0001"});
  EXPECT_EQ(r.code, 0) << r.err;
  sagas->refuse = "p-0002";
  r = ctl(admin_token, {"sagas", "retry", "p-0002"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("conflict"), std::string::npos) << r.err;
  // An input without credentials: with them, it lost the password when
  // its saga started, and a replay is refused (secrets_removed).
  db.query("UPDATE inbox SET payload = payload - 'credentials' WHERE"
           " event_id = 'e1'");
  r = ctl(t1_writer_token, {"sagas", "replay", "s-t1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("queued as event"), std::string::npos);
  EXPECT_EQ(sagas->calls(), (std::vector<std::string>{
                              "retry s-t1", "cancel p-0001", "retry p-0002"}));
  EXPECT_EQ(db.count("SELECT count(*) FROM admin_audit"), 4);
}

TEST_F(ispflowctl_test, api_errors_exit_one_with_the_message) {
  auto r = ctl(t2_reader_token, {"sagas", "show", "s-t1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("404 not_found"), std::string::npos) << r.err;
  r = ctl(nullptr, {"sagas", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("401 unauthorized"), std::string::npos) << r.err;
  r = ctl(reader_token, {"sagas", "retry", "s-t1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("403"), std::string::npos) << r.err;
}

TEST_F(ispflowctl_test, usage_errors_exit_two_and_unreachable_apis_exit_three) {
  EXPECT_EQ(ctl(reader_token, {}).code, 2);
  EXPECT_EQ(ctl(reader_token, {"sagas", "show"}).code, 2);
  EXPECT_EQ(ctl(reader_token, {"events", "redrive", "--to", "x"}).code, 2);
  EXPECT_EQ(ctl(reader_token, {"dlq", "list", "--redriven", "maybe"}).code, 2);
  // --url wins over ISPFLOW_URL; nothing listens on this port.
  auto r = ctl(reader_token,
               {"--url", "http://127.0.0.1:21939", "sagas", "list"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("cannot reach"), std::string::npos);
}

TEST_F(ispflowctl_test, events_redrive_dry_run_and_real_run) {
  auto r = ctl(t1_writer_token,
               {"events", "redrive", "--from", "2000-01-01T00:00:00Z", "--to",
                "2100-01-01T00:00:00Z", "--dry-run"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("3 events, 2 would start a saga, 1 would be refused"),
            std::string::npos)
    << r.out;
  EXPECT_NE(r.out.find("subscriber_needs_attention"), std::string::npos);
  r = ctl(t1_writer_token,
          {"events", "redrive", "--from", "2000-01-01T00:00:00Z", "--to",
           "2100-01-01T00:00:00Z", "--type", "billing.subscription.suspended"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("re-drove 1 of 1 events"), std::string::npos) << r.out;
  EXPECT_EQ(db.count("SELECT count(*) FROM inbox WHERE source ="
                     " 'ispflow/redrive'"),
            1);
}

TEST_F(ispflowctl_test, dead_letters_list_show_and_redrive_with_a_payload) {
  auto r = ctl(reader_token, {"dlq", "list", "--error", "malformed_envelope"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("malformed_envelope"), std::string::npos);
  auto d1 = db.value("SELECT id FROM dead_letters WHERE tenant_id = 't1'"
                     " ORDER BY id LIMIT 1");
  r = ctl(reader_token, {"dlq", "show", d1});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("schema_violation"), std::string::npos);
  EXPECT_EQ(r.out.find("hunter2"), std::string::npos);
  auto file = ::testing::TempDir() + "fixed.json";
  std::ofstream{file}
    << R"({"schema_version":1,"tenant_id":"t1","subscriber_id":"sub-3",)"
       R"("plan_id":"fiber-500","service_type":"ftth","site":"ams-01",)"
       R"("access":{"onu_serial":"ALCL1A2B3C4D"}})";
  r = ctl(t1_writer_token, {"dlq", "redrive", d1, "--payload", file});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("re-driven as event d1"), std::string::npos) << r.out;
  r = ctl(t1_writer_token, {"dlq", "redrive", d1});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("already_redriven"), std::string::npos);
  std::ofstream{file} << "not json";
  r = ctl(t1_writer_token, {"dlq", "redrive", d1, "--payload", file});
  EXPECT_EQ(r.code, 2);
}

TEST_F(ispflowctl_test, dead_letters_dismiss_with_a_reason) {
  auto d2 = db.value("SELECT id FROM dead_letters WHERE tenant_id = 't2'");
  auto r = ctl(admin_token, {"dlq", "dismiss", d2});
  EXPECT_EQ(r.code, 2) << "the reason is required";
  r = ctl(admin_token, {"dlq", "dismiss", d2, "--reason", "sent twice"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("dead letter " + d2 + " dismissed at"),
            std::string::npos)
    << r.out;
  EXPECT_EQ(db.count("SELECT count(*) FROM dead_letters WHERE id = " + d2
                     + " AND dismissed_at IS NOT NULL"),
            1);
  r = ctl(admin_token, {"dlq", "dismiss", d2, "--reason", "again"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("already_dismissed"), std::string::npos) << r.err;
  r = ctl(reader_token, {"dlq", "show", d2});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("dismissed_at: 20"), std::string::npos) << r.out;
}

TEST_F(ispflowctl_test, breakers_list_open_and_close) {
  auto r = ctl(reader_token, {"breakers", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("t2/voltha"), std::string::npos);
  EXPECT_NE(r.out.find("failures=9"), std::string::npos);
  r = ctl(admin_token, {"breakers", "open", "t1/netbox"});
  ASSERT_EQ(r.code, 0) << r.err;
  r = ctl(reader_token, {"--json", "breakers", "list"});
  EXPECT_NE(r.out.find("forced_open"), std::string::npos);
  r = ctl(admin_token, {"breakers", "close", "t1/netbox"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ctl(admin_token, {"breakers", "close", "nope"}).code, 1);
}

TEST_F(ispflowctl_test, token_hash_prints_the_sha256_of_stdin) {
  auto r = ctl(nullptr, {"token", "hash"}, "s3cret\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, sha256_hex("s3cret") + "\n");
  EXPECT_EQ(ctl(nullptr, {"token", "hash"}, "").code, 2);
}

// Text from the server (saga fields, step errors, dead letters) can hold
// terminal escapes; tables and plain output show them escaped.
TEST_F(ispflowctl_test, escapes_control_characters_in_server_data) {
  db.query(R"sql(
UPDATE sagas SET subscriber_id = E'sub-\x1b]0;pwn\x07',
                 failed_step = E'\x1b[2J', error = E'bad\x7f\u009b31m'
 WHERE id = 's-t1';
UPDATE saga_steps SET last_error = E'\x1b[2J' WHERE saga_id = 's-t1';
UPDATE dead_letters SET detail = E'\x1b]0;pwn\x07',
                        topic = E'billing\x1b[2J' || id
 WHERE tenant_id = 't2';
)sql");
  auto clean = [](const std::string& out) {
    return out.find_first_of("\x1b\x07\x7f") == std::string::npos
           && out.find("\xc2\x9b") == std::string::npos;
  };
  auto r = ctl(reader_token, {"sagas", "list", "--tenant", "t1", "--state",
                              "needs_attention"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(clean(r.out)) << r.out;
  EXPECT_NE(r.out.find(R"(sub-\x1b]0;pwn\x07)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"(\x1b[2J)"), std::string::npos) << r.out;

  r = ctl(reader_token, {"sagas", "show", "s-t1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(clean(r.out)) << r.out;
  EXPECT_NE(r.out.find(R"(error: bad\x7f\u009b31m)"), std::string::npos)
    << r.out;
  EXPECT_NE(r.out.find(R"(failed_step: \x1b[2J)"), std::string::npos);

  r = ctl(reader_token, {"dlq", "list", "--tenant", "t2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(clean(r.out)) << r.out;
  auto id = db.value("SELECT id FROM dead_letters WHERE tenant_id = 't2'"
                     " ORDER BY id LIMIT 1");
  r = ctl(reader_token, {"dlq", "show", id});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(clean(r.out)) << r.out;
  EXPECT_NE(r.out.find(R"(detail: \x1b]0;pwn\x07)"), std::string::npos)
    << r.out;
  EXPECT_NE(r.out.find(R"(topic: billing\x1b[2J)"), std::string::npos);

  // --json stays the API's JSON (where RapidJSON escaped C0 already).
  r = ctl(reader_token, {"--json", "dlq", "show", id});
  ASSERT_EQ(r.code, 0) << r.err;
  rapidjson::Document d;
  d.Parse(r.out.c_str());
  ASSERT_FALSE(d.HasParseError()) << r.out;
  EXPECT_EQ(std::string{d["detail"].GetString()}, "\x1b]0;pwn\x07");
}

namespace {

class ispflowctl_tls_test : public ispflowctl_test {
protected:
  void configure(admin_settings& cfg) override {
    ASSERT_TRUE(certificate.made) << "openssl req failed";
    cfg.tls_cert_file = certificate.cert;
    cfg.tls_key_file = certificate.key;
  }

  throwaway_certificate certificate;
};

} // namespace

// An https:// URL is verified: with the CA file the call works, without it
// ispflowctl cannot reach the API (exit 3) and sends no token.
TEST_F(ispflowctl_tls_test, talks_https_and_verifies_the_certificate) {
  auto url = "https://127.0.0.1:" + std::to_string(server->port());
  auto r = run_ctl("ISPFLOW_URL=" + url
                     + " ISPFLOW_TOKEN=" + std::string{reader_token},
                   {"--ca-file", certificate.cert, "sagas", "show", "s-t1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("state: needs_attention"), std::string::npos) << r.out;
  r = run_ctl("ISPFLOW_URL=" + url
                + " ISPFLOW_TOKEN=" + std::string{reader_token},
              {"sagas", "show", "s-t1"});
  EXPECT_EQ(r.code, 3) << r.out;
}
