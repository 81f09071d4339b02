#include "adapters/postgres/migrations.hpp"
#include "adapters/postgres/partition_owners.hpp"
#include "adapters/radius/radius_adapter.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "tests/integration/radius_sql_support.hpp"
#include "tests/support/scratch_database.hpp"

#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <future>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

// The radius adapter actor against real PostgreSQL and FreeRADIUS: the
// saga operations, their idempotence, error mapping, and the disconnect /
// CoA flows through a scripted dynamic_authorization.

using namespace ispflow;
using namespace ispflow::adapters::radius;
using namespace std::chrono_literals;
using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
using ispflow::testing::access_request;

namespace {

constexpr int auth_port = 21818;

/// Answers every request with the next scripted outcome list (or ACKs).
struct scripted_da : dynamic_authorization {
  std::mutex mtx;
  std::vector<std::vector<da_outcome>> script;
  std::vector<std::string> calls;
  std::vector<std::vector<session>> targets;
  std::vector<std::vector<sql_attribute>> coa_attributes;

  void answer(std::string kind, std::vector<session> sessions, callback done) {
    std::vector<da_outcome> out;
    {
      std::lock_guard<std::mutex> guard{mtx};
      calls.push_back(std::move(kind));
      targets.push_back(sessions);
      if (!script.empty()) {
        out = script.front();
        script.erase(script.begin());
      } else {
        out.assign(sessions.size(), da_outcome{da_result::ack, 0, {}});
      }
    }
    done(std::move(out));
  }

  void disconnect(std::vector<session> sessions, callback done) override {
    answer("disconnect", std::move(sessions), std::move(done));
  }

  void change(std::vector<session> sessions, std::vector<sql_attribute> attrs,
              callback done) override {
    {
      std::lock_guard<std::mutex> guard{mtx};
      coa_attributes.push_back(std::move(attrs));
    }
    answer("coa", std::move(sessions), std::move(done));
  }
};

tenant_settings acme(suspend_policy policy) {
  tenant_settings t;
  t.tenant_id = "acme";
  t.suspend = policy;
  t.walled_garden_group = "acme.walled";
  t.walled_garden = plan{"walled", 1024, 512, "", "", "", ""};
  t.passwords = password_storage::ssha2_512;
  t.plans = {plan{"gold", 50000, 10000, "", "", "", ""},
             plan{"silver", 20000, 5000, "", "", "", ""}};
  return t;
}

// A second tenant on the same FreeRADIUS: a CHAP fleet, so cleartext
// passwords by explicit choice.
tenant_settings globex() {
  tenant_settings t;
  t.tenant_id = "globex";
  t.suspend = suspend_policy::reject;
  t.passwords = password_storage::cleartext;
  t.plans = {plan{"gold", 50000, 10000, "", "", "", ""},
             plan{"silver", 20000, 5000, "", "", "", ""}};
  return t;
}

// A tenant left at the defaults (password storage included).
tenant_settings initech() {
  tenant_settings t;
  t.tenant_id = "initech";
  t.plans = {plan{"gold", 50000, 10000, "", "", "", ""}};
  return t;
}

struct radius_sql_adapter : ::testing::Test {
  static inline std::unique_ptr<ispflow::testing::scratch_database> db;
  static inline std::unique_ptr<ispflow::testing::freeradius_server> radius;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<scripted_da> da = std::make_shared<scripted_da>();
  adapters::api::radius_actor adapter;

  static void SetUpTestSuite() {
    db = std::make_unique<ispflow::testing::scratch_database>();
    if (!adapters::postgres::apply_migrations(db->dsn()))
      return;
    radius = std::make_unique<ispflow::testing::freeradius_server>(db->dsn(),
                                                                   auth_port);
  }

  static void TearDownTestSuite() {
    radius.reset();
    db.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(radius) << "migrations failed";
    ASSERT_TRUE(radius->ok()) << radius->log_tail();
    cfg.add_message_types<caf::id_block::ispflow>();
    sys = std::make_unique<caf::actor_system>(cfg);
    spawn(suspend_policy::reject, da);
  }

  void TearDown() override {
    if (sys) {
      caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
      // The actor system waits for detached actors nobody references.
      adapter = nullptr;
      sys.reset();
    }
  }

  void spawn(suspend_policy policy, std::shared_ptr<dynamic_authorization> c,
             size_t sql_connections = adapter_config{}.sql_connections) {
    if (adapter)
      caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
    adapter_config ac;
    ac.dsn = db->dsn();
    ac.instance_id = "node-a";
    ac.tenants = {acme(policy), globex(), initech()};
    ac.coa = std::move(c);
    ac.sql_connections = sql_connections;
    adapter = spawn_radius_adapter(*sys, std::move(ac));
  }

  adapter_reply call(const std::string& op, const std::string& subscriber,
                     events::string_map in = {},
                     const std::string& key = "saga/step/1") {
    return call_as("acme", op, subscriber, std::move(in), key);
  }

  adapter_reply call_as(const std::string& tenant, const std::string& op,
                        const std::string& subscriber,
                        events::string_map in = {},
                        const std::string& key = "saga/step/1") {
    return send(request(tenant, op, subscriber, std::move(in), key));
  }

  // `call` by a saga of `partition`, whose instance claimed it at `epoch`.
  adapter_reply
  call_leased(const std::string& op, const std::string& subscriber,
              events::string_map in, int32_t partition, int64_t epoch) {
    auto req = request("acme", op, subscriber, std::move(in), "saga/step/1");
    req.partition = partition;
    req.epoch = epoch;
    return send(std::move(req));
  }

  static adapter_request
  request(const std::string& tenant, const std::string& op,
          const std::string& subscriber, events::string_map in,
          const std::string& key) {
    adapter_request req;
    req.tenant_id = tenant;
    req.subscriber_id = subscriber;
    req.system = "radius";
    req.operation = op;
    req.idempotency_key = key;
    req.input = std::move(in);
    return req;
  }

  adapter_reply send(adapter_request req) {
    adapter_reply out;
    caf::scoped_actor self{*sys};
    self->request(adapter, 30s, invoke_atom_v, std::move(req))
      .receive([&](adapter_reply& r) { out = std::move(r); },
               [&](caf::error& err) {
                 out = events::reply_failed(adapter_outcome::unknown_outcome,
                                            to_string(err));
               });
    return out;
  }

  adapter_reply activate(const std::string& user) {
    return call("radius.provision", "sub-" + user,
                {{"credentials.username", user},
                 {"credentials.password", "pw-" + user},
                 {"plan_id", "gold"},
                 {"ip_address", "100.64.2.3"}});
  }

  // An open session of `user` written by FreeRADIUS's accounting.
  void start_session(const std::string& user, const std::string& id) {
    auto ans = ispflow::testing::radclient(
      radius->acct_port(), "acct",
      {"User-Name = \"" + user + "\"", "Acct-Status-Type = Start",
       "Acct-Session-Id = \"" + id + "\"", "NAS-IP-Address = 127.0.0.1",
       "Framed-IP-Address = 100.64.2.3"});
    ASSERT_EQ(ans.code, "Accounting-Response");
  }

  void stop_session(const std::string& user, const std::string& id) {
    auto ans = ispflow::testing::radclient(
      radius->acct_port(), "acct",
      {"User-Name = \"" + user + "\"", "Acct-Status-Type = Stop",
       "Acct-Session-Id = \"" + id + "\"", "NAS-IP-Address = 127.0.0.1",
       "Framed-IP-Address = 100.64.2.3", "Acct-Session-Time = 10"});
    ASSERT_EQ(ans.code, "Accounting-Response");
  }

  void register_nas() {
    db->query("INSERT INTO nas (nasname, shortname, type, ports, secret)"
              " SELECT '127.0.0.1', 'lo', 'mikrotik', 21820, 'nas-secret'"
              " WHERE NOT EXISTS (SELECT 1 FROM nas WHERE nasname ="
              " '127.0.0.1')");
  }
};

} // namespace

TEST_F(radius_sql_adapter, provision_is_idempotent_and_authenticates) {
  auto first = activate("act1");
  ASSERT_EQ(first.outcome, adapter_outcome::succeeded) << first.error;
  EXPECT_EQ(first.outputs["changed"], "true");
  auto again = activate("act1");
  ASSERT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
  EXPECT_EQ(again.outputs["changed"], "false");
  auto ans = access_request(auth_port, "act1", "pw-act1");
  EXPECT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.first("Framed-IP-Address"), "100.64.2.3");
  EXPECT_EQ(ans.first("Mikrotik-Rate-Limit"), "10000k/50000k");
  EXPECT_EQ(db->value("SELECT attribute FROM radcheck WHERE username ="
                      " 'act1'"),
            "SSHA2-512-Password");
  EXPECT_EQ(db->value("SELECT radius_group FROM plans WHERE tenant_id ="
                      " 'acme' AND id = 'silver'"),
            "acme.silver");
}

TEST_F(radius_sql_adapter, bad_input_is_a_permanent_failure) {
  auto unknown_plan = call("radius.provision", "sub-x",
                           {{"credentials.username", "x1"},
                            {"credentials.password", "pw"},
                            {"plan_id", "platinum"}});
  EXPECT_EQ(unknown_plan.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(unknown_plan.error.find("platinum"), std::string::npos);
  auto no_password
    = call("radius.provision", "sub-x",
           {{"credentials.username", "x1"}, {"plan_id", "gold"}});
  EXPECT_EQ(no_password.outcome, adapter_outcome::permanent_failure);
  adapter_request req;
  auto other_tenant = [&] {
    req.tenant_id = "umbrella";
    req.operation = "radius.deny";
    adapter_reply out;
    caf::scoped_actor self{*sys};
    self->request(adapter, 30s, invoke_atom_v, req)
      .receive([&](adapter_reply& r) { out = std::move(r); },
               [&](caf::error&) {});
    return out;
  }();
  EXPECT_EQ(other_tenant.outcome, adapter_outcome::permanent_failure);
  EXPECT_EQ(call("radius.reboot", "sub-x").outcome,
            adapter_outcome::permanent_failure);
}

TEST_F(radius_sql_adapter, a_lost_database_is_a_retryable_failure) {
  adapter_config ac;
  ac.dsn = "host=127.0.0.1 port=1 dbname=none connect_timeout=2";
  ac.tenants = {acme(suspend_policy::reject)};
  auto broken = spawn_radius_adapter(*sys, std::move(ac));
  adapter_request req;
  req.tenant_id = "acme";
  req.subscriber_id = "sub-act1";
  req.operation = "radius.deny";
  adapter_reply out;
  caf::scoped_actor self{*sys};
  self->request(broken, 30s, invoke_atom_v, req)
    .receive([&](adapter_reply& r) { out = std::move(r); },
             [&](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_EQ(out.outcome, adapter_outcome::retryable_failure) << out.error;
  caf::anon_send_exit(broken, caf::exit_reason::user_shutdown);
}

// A saga's call carries its partition lease to the SQL write: once another
// instance has claimed the partition, the write is refused, nothing is
// written, and the answer may be retried (by the new owner).
TEST_F(radius_sql_adapter, a_call_under_a_lease_claimed_over_writes_nothing) {
  auto owners = adapters::postgres::partition_owners::connect(db->dsn());
  ASSERT_TRUE(owners) << ispflow::render_error(owners.error());
  auto e1 = owners->claim("node-a", 11);
  ASSERT_TRUE(e1) << ispflow::render_error(e1.error());
  events::string_map creds{{"credentials.username", "lease1"},
                           {"credentials.password", "pw-lease1"},
                           {"plan_id", "gold"}};
  ASSERT_EQ(
    call_leased("radius.provision", "sub-lease1", creds, 11, *e1).outcome,
    adapter_outcome::succeeded);
  ASSERT_TRUE(owners->claim("node-b", 11));
  auto deny = call_leased("radius.deny", "sub-lease1", {}, 11, *e1);
  EXPECT_EQ(deny.outcome, adapter_outcome::retryable_failure);
  EXPECT_NE(deny.error.find("node-b holds epoch"), std::string::npos)
    << deny.error;
  EXPECT_EQ(db->value("SELECT denied::text FROM radius_accounts"
                      " WHERE username = 'lease1'"),
            "false");
  auto again = call_leased("radius.provision", "sub-lease1", creds, 11, *e1);
  EXPECT_EQ(again.outcome, adapter_outcome::retryable_failure);
}

TEST_F(radius_sql_adapter, suspend_and_resume_by_subscriber_id) {
  ASSERT_EQ(activate("sus1").outcome, adapter_outcome::succeeded);
  auto deny = call("radius.deny", "sub-sus1");
  ASSERT_EQ(deny.outcome, adapter_outcome::succeeded) << deny.error;
  EXPECT_EQ(deny.outputs["changed"], "true");
  EXPECT_EQ(call("radius.deny", "sub-sus1").outputs["changed"], "false");
  EXPECT_EQ(access_request(auth_port, "sus1", "pw-sus1").code, "Access-Reject");
  auto restore = call("radius.restore_plan", "sub-sus1");
  ASSERT_EQ(restore.outcome, adapter_outcome::succeeded) << restore.error;
  auto ans = access_request(auth_port, "sus1", "pw-sus1");
  EXPECT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.first("Mikrotik-Rate-Limit"), "10000k/50000k");
}

// Denies that queue up for one SQL worker go in one transaction; each is
// still denied and answered on its own.
TEST_F(radius_sql_adapter, queued_denies_each_deny_their_user) {
  spawn(suspend_policy::reject, da, 1);
  std::vector<std::string> users;
  for (int i = 0; i < 6; ++i) {
    users.push_back("bat" + std::to_string(i));
    ASSERT_EQ(activate(users.back()).outcome, adapter_outcome::succeeded);
  }
  caf::scoped_actor self{*sys};
  auto deny = [&](const std::string& sub) {
    adapter_request req;
    req.tenant_id = "acme";
    req.subscriber_id = sub;
    req.system = "radius";
    req.operation = "radius.deny";
    req.idempotency_key = "saga-" + sub + "/step/1";
    return req;
  };
  // All sent before any answer: the worker runs the first alone and the
  // rest, queued meanwhile, as a batch.
  std::vector<std::string> subs;
  for (const auto& u : users)
    subs.push_back("sub-" + u);
  subs.push_back("sub-none");
  std::vector<decltype(self->request(adapter, 30s, invoke_atom_v, deny("")))>
    handles;
  for (const auto& sub : subs)
    handles.push_back(self->request(adapter, 30s, invoke_atom_v, deny(sub)));
  for (size_t i = 0; i < handles.size(); ++i)
    handles[i].receive(
      [&](adapter_reply& r) {
        ASSERT_EQ(r.outcome, adapter_outcome::succeeded) << subs[i] << r.error;
        if (subs[i] == "sub-none") {
          EXPECT_EQ(r.outputs["radius_account"], "none");
        } else {
          EXPECT_EQ(r.outputs["changed"], "true") << subs[i];
          EXPECT_EQ(r.outputs["suspend_policy"], "reject") << subs[i];
        }
      },
      [&](caf::error& err) { ADD_FAILURE() << to_string(err); });
  for (const auto& u : users)
    EXPECT_EQ(db->value("SELECT value FROM radcheck WHERE username = '" + u
                        + "' AND attribute = 'Auth-Type'"),
              "Reject")
      << u;
  EXPECT_EQ(access_request(auth_port, "bat5", "pw-bat5").code, "Access-Reject");
}

// Provisions that queue up for one SQL worker go in one statement; each
// account is written and answered on its own.
TEST_F(radius_sql_adapter, queued_provisions_each_write_their_account) {
  spawn(suspend_policy::reject, da, 1);
  caf::scoped_actor self{*sys};
  auto provision = [&](const std::string& user) {
    adapter_request req;
    req.tenant_id = "acme";
    req.subscriber_id = "sub-" + user;
    req.system = "radius";
    req.operation = "radius.provision";
    req.idempotency_key = "saga-" + user + "/step/1";
    req.input = {{"credentials.username", user},
                 {"credentials.password", "pw-" + user},
                 {"plan_id", user == "qp3" ? "nope" : "gold"},
                 {"ip_address", "100.64.2.3"}};
    return req;
  };
  std::vector<std::string> users;
  for (int i = 0; i < 8; ++i)
    users.push_back("qp" + std::to_string(i));
  // All sent before any answer: the worker runs the first alone and the
  // rest, queued meanwhile, as a batch. qp3 names an unknown plan.
  auto provision_all = [&](const std::string& changed) {
    std::vector<decltype(self->request(adapter, 30s, invoke_atom_v,
                                       provision("")))>
      handles;
    for (const auto& u : users)
      handles.push_back(
        self->request(adapter, 30s, invoke_atom_v, provision(u)));
    for (size_t i = 0; i < handles.size(); ++i)
      handles[i].receive(
        [&](adapter_reply& r) {
          if (users[i] == "qp3") {
            EXPECT_EQ(r.outcome, adapter_outcome::permanent_failure);
            EXPECT_THAT(r.error, ::testing::HasSubstr("unknown plan nope"));
            return;
          }
          ASSERT_EQ(r.outcome, adapter_outcome::succeeded)
            << users[i] << r.error;
          EXPECT_EQ(r.outputs["changed"], changed) << users[i];
        },
        [&](caf::error& err) { ADD_FAILURE() << to_string(err); });
  };
  provision_all("true");
  EXPECT_EQ(db->count("SELECT count(*) FROM radius_accounts WHERE username"
                      " LIKE 'qp%'"),
            7);
  EXPECT_EQ(db->count("SELECT count(*) FROM radius_accounts WHERE username"
                      " = 'qp3'"),
            0);
  // Fewer commits than accounts: some shared one.
  EXPECT_LT(db->count("SELECT count(DISTINCT xmin::text) FROM radius_accounts"
                      " WHERE username LIKE 'qp%'"),
            7);
  EXPECT_EQ(access_request(auth_port, "qp7", "pw-qp7").code, "Access-Accept");
  // A repeat of the whole lot changes nothing.
  provision_all("false");
}

TEST_F(radius_sql_adapter, walled_garden_tenant_walls_the_subscriber) {
  spawn(suspend_policy::walled_garden, da);
  ASSERT_EQ(activate("wall1").outcome, adapter_outcome::succeeded);
  ASSERT_EQ(call("radius.deny", "sub-wall1").outcome,
            adapter_outcome::succeeded);
  auto ans = access_request(auth_port, "wall1", "pw-wall1");
  EXPECT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.first("Mikrotik-Rate-Limit"), "512k/1024k");
  ASSERT_EQ(call("radius.restore_plan", "sub-wall1").outcome,
            adapter_outcome::succeeded);
  EXPECT_EQ(
    access_request(auth_port, "wall1", "pw-wall1").first("Mikrotik-Rate-Limit"),
    "10000k/50000k");
}

TEST_F(radius_sql_adapter, change_plan_reports_and_reverts_the_group) {
  ASSERT_EQ(activate("plan1").outcome, adapter_outcome::succeeded);
  auto set = call("radius.set_plan_group", "sub-plan1", {{"plan_id", "silver"}},
                  "saga-9/set_plan_group/1");
  ASSERT_EQ(set.outcome, adapter_outcome::succeeded) << set.error;
  EXPECT_EQ(set.outputs["previous_plan_group"], "acme.gold");
  auto repeat = call("radius.set_plan_group", "sub-plan1",
                     {{"plan_id", "silver"}}, "saga-9/set_plan_group/1");
  EXPECT_EQ(repeat.outputs["previous_plan_group"], "acme.gold");
  EXPECT_EQ(
    access_request(auth_port, "plan1", "pw-plan1").first("Mikrotik-Rate-Limit"),
    "5000k/20000k");
  auto revert = call("radius.revert_plan_group", "sub-plan1",
                     {{"previous_plan_group", "acme.gold"}},
                     "saga-9/set_plan_group/1");
  ASSERT_EQ(revert.outcome, adapter_outcome::succeeded) << revert.error;
  EXPECT_EQ(
    access_request(auth_port, "plan1", "pw-plan1").first("Mikrotik-Rate-Limit"),
    "10000k/50000k");
  EXPECT_EQ(call("radius.revert_plan_group", "sub-plan1",
                 {{"previous_plan_group", "globex.gold"}})
              .outcome,
            adapter_outcome::permanent_failure);
}

TEST_F(radius_sql_adapter, verify_sessions_closed_follows_radacct) {
  ASSERT_EQ(activate("ses1").outcome, adapter_outcome::succeeded);
  EXPECT_EQ(call("radius.verify_sessions_closed", "sub-ses1").outcome,
            adapter_outcome::succeeded);
  start_session("ses1", "acct-ses1");
  auto open = call("radius.verify_sessions_closed", "sub-ses1");
  EXPECT_EQ(open.outcome, adapter_outcome::retryable_failure);
  stop_session("ses1", "acct-ses1");
  EXPECT_EQ(call("radius.verify_sessions_closed", "sub-ses1").outcome,
            adapter_outcome::succeeded);
}

TEST_F(radius_sql_adapter, disconnect_targets_every_open_session) {
  register_nas();
  ASSERT_EQ(activate("dis1").outcome, adapter_outcome::succeeded);
  EXPECT_EQ(call("radius.disconnect_sessions", "sub-dis1").outputs["sessions"],
            "0");
  EXPECT_TRUE(da->calls.empty());
  start_session("dis1", "d-1");
  start_session("dis1", "d-2");
  da->script = {
    {da_outcome{da_result::ack, 0, {}}, da_outcome{da_result::nak, 503, {}}}};
  auto res = call("radius.disconnect_sessions", "sub-dis1");
  ASSERT_EQ(res.outcome, adapter_outcome::succeeded) << res.error;
  EXPECT_EQ(res.outputs["sessions"], "2");
  EXPECT_EQ(res.outputs["disconnected"], "2");
  ASSERT_EQ(da->targets.size(), 1u);
  ASSERT_EQ(da->targets[0].size(), 2u);
  EXPECT_EQ(da->targets[0][0].acct_session_id, "d-1");
  EXPECT_EQ(da->targets[0][0].nas_address, "127.0.0.1");
  EXPECT_EQ(da->targets[0][0].coa_port, 21820);
  EXPECT_EQ(da->targets[0][0].framed_ip, "100.64.2.3");
  da->script = {
    {da_outcome{da_result::nak, 504, {}}, da_outcome{da_result::ack, 0, {}}}};
  EXPECT_EQ(call("radius.disconnect_sessions", "sub-dis1").outcome,
            adapter_outcome::permanent_failure);
  da->script = {
    {da_outcome{da_result::timeout, 0, {}}, da_outcome{da_result::ack, 0, {}}}};
  EXPECT_EQ(call("radius.disconnect_sessions", "sub-dis1").outcome,
            adapter_outcome::retryable_failure);
  stop_session("dis1", "d-1");
  stop_session("dis1", "d-2");
}

TEST_F(radius_sql_adapter, coa_falls_back_to_disconnect_on_a_nak) {
  register_nas();
  ASSERT_EQ(activate("coa1").outcome, adapter_outcome::succeeded);
  start_session("coa1", "c-1");
  start_session("coa1", "c-2");
  da->script
    = {{da_outcome{da_result::ack, 0, {}}, da_outcome{da_result::nak, 406, {}}},
       {da_outcome{da_result::ack, 0, {}}}};
  auto res = call("radius.coa_sessions", "sub-coa1", {{"plan_id", "silver"}});
  ASSERT_EQ(res.outcome, adapter_outcome::succeeded) << res.error;
  EXPECT_EQ(res.outputs["coa_acked"], "1");
  EXPECT_EQ(res.outputs["disconnected"], "1");
  EXPECT_EQ(da->calls, (std::vector<std::string>{"coa", "disconnect"}));
  ASSERT_EQ(da->coa_attributes.size(), 1u);
  EXPECT_EQ(da->coa_attributes[0],
            (std::vector<sql_attribute>{
              {"Mikrotik-Rate-Limit", ":=", "5000k/20000k"}}));
  ASSERT_EQ(da->targets[1].size(), 1u);
  EXPECT_EQ(da->targets[1][0].acct_session_id, "c-2");
  stop_session("coa1", "c-1");
  stop_session("coa1", "c-2");
}

TEST_F(radius_sql_adapter, sessions_on_an_unknown_nas_are_refused) {
  ASSERT_EQ(activate("nas1").outcome, adapter_outcome::succeeded);
  db->query("INSERT INTO radacct (acctsessionid, acctuniqueid, username,"
            " nasipaddress, acctstarttime) VALUES ('n-1', 'un-1', 'nas1',"
            " '203.0.113.5', now())");
  auto res = call("radius.disconnect_sessions", "sub-nas1");
  EXPECT_EQ(res.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(res.error.find("203.0.113.5"), std::string::npos);
  EXPECT_TRUE(da->calls.empty());
}

TEST_F(radius_sql_adapter, without_a_coa_client_open_sessions_fail) {
  register_nas();
  spawn(suspend_policy::reject, nullptr);
  ASSERT_EQ(activate("nocoa1").outcome, adapter_outcome::succeeded);
  start_session("nocoa1", "x-1");
  auto res = call("radius.disconnect_sessions", "sub-nocoa1");
  EXPECT_EQ(res.outcome, adapter_outcome::permanent_failure);
  EXPECT_EQ(res.error, "coa client not wired");
  stop_session("nocoa1", "x-1");
}

TEST_F(radius_sql_adapter, terminate_leaves_nothing_and_repeats_cleanly) {
  ASSERT_EQ(activate("term1").outcome, adapter_outcome::succeeded);
  ASSERT_EQ(call("radius.deny", "sub-term1").outcome,
            adapter_outcome::succeeded);
  auto gone = call("radius.deprovision", "sub-term1");
  ASSERT_EQ(gone.outcome, adapter_outcome::succeeded) << gone.error;
  EXPECT_EQ(gone.outputs["changed"], "true");
  EXPECT_EQ(db->count("SELECT (SELECT count(*) FROM radcheck WHERE username ="
                      " 'term1') + (SELECT count(*) FROM radreply WHERE"
                      " username = 'term1') + (SELECT count(*) FROM"
                      " radusergroup WHERE username = 'term1')"),
            0);
  auto again = call("radius.deprovision", "sub-term1");
  EXPECT_EQ(again.outcome, adapter_outcome::succeeded);
  EXPECT_EQ(again.outputs["radius_account"], "none");
  EXPECT_EQ(call("radius.deny", "sub-term1").outcome,
            adapter_outcome::succeeded);
  EXPECT_EQ(access_request(auth_port, "term1", "pw-term1").code,
            "Access-Reject");
}

// -- hostile passwords and usernames (issue 14, item 3) ----------------------

TEST_F(radius_sql_adapter,
       an_injected_password_neither_authenticates_nor_runs) {
  // FreeRADIUS's rlm_sql expands a radcheck value enclosed in backticks as
  // xlat when the user logs in: %{sql:...} would run this SELECT (advancing
  // the probe sequence) and make "pwn" the password.
  db->query("CREATE SEQUENCE IF NOT EXISTS xlat_probe");
  const std::string payload
    = "`%{sql:SELECT 'pwn' FROM (SELECT nextval('xlat_probe')) AS p}`";
  // Cleartext storage (explicitly chosen for CHAP) refuses it, naming the
  // rule and not the password; nothing is written.
  for (const auto& pw : {payload, std::string{"%{sql:SELECT 'pwn'}"},
                         std::string{"`%{exec:/bin/true}`"}}) {
    auto res = call_as("globex", "radius.provision", "sub-inj1",
                       {{"credentials.username", "inj1"},
                        {"credentials.password", pw},
                        {"plan_id", "gold"}});
    EXPECT_EQ(res.outcome, adapter_outcome::permanent_failure) << pw;
    EXPECT_NE(res.error.find("cleartext storage"), std::string::npos)
      << res.error;
    EXPECT_EQ(res.error.find(pw), std::string::npos) << res.error;
  }
  EXPECT_EQ(db->count("SELECT count(*) FROM radcheck WHERE username = 'inj1'"),
            0);
  EXPECT_EQ(access_request(auth_port, "inj1", "pwn").code, "Access-Reject");
  // Hashed storage (the default) keeps it as an inert hash: "pwn" is
  // refused, the payload is just this subscriber's password.
  auto hashed = call_as("initech", "radius.provision", "sub-inj2",
                        {{"credentials.username", "inj2"},
                         {"credentials.password", payload},
                         {"plan_id", "gold"}});
  ASSERT_EQ(hashed.outcome, adapter_outcome::succeeded) << hashed.error;
  EXPECT_EQ(db->value("SELECT attribute FROM radcheck WHERE username ="
                      " 'inj2'"),
            "SSHA2-512-Password");
  EXPECT_EQ(access_request(auth_port, "inj2", "pwn").code, "Access-Reject");
  // The SELECT never ran: the sequence was never called.
  EXPECT_EQ(db->value("SELECT is_called::text FROM xlat_probe"), "false");
  EXPECT_EQ(db->count("SELECT count(*) FROM radpostauth WHERE username IN"
                      " ('inj1', 'inj2') AND reply = 'Access-Accept'"),
            0);
}

TEST_F(radius_sql_adapter, a_username_outside_the_rule_is_refused) {
  for (const std::string name :
       {"%{sql:SELECT 'pwn'}", "`id`", "bad user", "x@nodot"}) {
    auto res = call("radius.provision", "sub-badname",
                    {{"credentials.username", name},
                     {"credentials.password", "pw-badname"},
                     {"plan_id", "gold"}});
    EXPECT_EQ(res.outcome, adapter_outcome::permanent_failure) << name;
    EXPECT_NE(res.error.find("RADIUS username refused"), std::string::npos)
      << res.error;
    auto deny = call("radius.deny", "sub-badname",
                     {{"credentials.username", name}});
    EXPECT_EQ(deny.outcome, adapter_outcome::permanent_failure) << name;
  }
  EXPECT_EQ(db->count("SELECT count(*) FROM radius_accounts WHERE"
                      " subscriber_id = 'sub-badname'"),
            0);
}

// -- RADIUS username ownership (issue 14, item 6) ----------------------------

TEST_F(radius_sql_adapter, another_tenants_username_is_never_touched) {
  register_nas();
  ASSERT_EQ(activate("own1").outcome, adapter_outcome::succeeded);
  start_session("own1", "o-1");
  auto rows = [&] {
    std::string out;
    for (const char* sql :
         {"SELECT id, attribute, op, value FROM radcheck WHERE username ="
          " 'own1' ORDER BY id",
          "SELECT id, attribute, op, value FROM radreply WHERE username ="
          " 'own1' ORDER BY id",
          "SELECT id, groupname, priority FROM radusergroup WHERE username ="
          " 'own1' ORDER BY id",
          "SELECT tenant_id, subscriber_id, plan_group, denied,"
          " plan_change_key, updated_at FROM radius_accounts WHERE username ="
          " 'own1'"})
      for (const auto& row : db->query(sql)) {
        for (const auto& v : row)
          out += (v ? *v : std::string{"NULL"}) + "|";
        out += "\n";
      }
    return out;
  };
  auto before = rows();
  ASSERT_NE(before.find("acme"), std::string::npos);
  // Tenant globex names acme's username, even with the same subscriber id:
  // every write, compensation, look-up and CoA/DM is refused.
  const events::string_map as_own1{{"credentials.username", "own1"},
                                   {"credentials.password", "pw-own1"},
                                   {"plan_id", "gold"},
                                   {"previous_plan_group", "globex.gold"}};
  for (const char* op :
       {"radius.deprovision", "radius.deny", "radius.restore_plan",
        "radius.set_plan_group", "radius.revert_plan_group",
        "radius.disconnect_sessions", "radius.coa_sessions",
        "radius.verify_sessions_closed", "radius.provision"}) {
    for (const char* subscriber : {"sub-own1", "sub-globex-9"}) {
      auto res = call_as("globex", op, subscriber, as_own1,
                         std::string{"globex-saga/"} + op);
      EXPECT_EQ(res.outcome, adapter_outcome::permanent_failure) << op;
      EXPECT_NE(res.error.find("RADIUS username own1 belongs to another"
                               " tenant"),
                std::string::npos)
        << op << ": " << res.error;
      EXPECT_EQ(res.error.find("acme"), std::string::npos) << res.error;
    }
  }
  // Within acme, another subscriber may not name it either.
  auto other_sub = call("radius.deprovision", "sub-someone-else",
                        {{"credentials.username", "own1"}});
  EXPECT_EQ(other_sub.outcome, adapter_outcome::permanent_failure);
  EXPECT_NE(other_sub.error.find("belongs to another subscriber"),
            std::string::npos)
    << other_sub.error;
  EXPECT_EQ(rows(), before);
  EXPECT_TRUE(da->calls.empty()) << "a CoA/DM went to the NAS";
  EXPECT_EQ(access_request(auth_port, "own1", "pw-own1").code, "Access-Accept");
  // Its owner still can.
  auto mine = call("radius.disconnect_sessions", "sub-own1");
  EXPECT_EQ(mine.outcome, adapter_outcome::succeeded) << mine.error;
  EXPECT_EQ(da->calls.size(), 1u);
  stop_session("own1", "o-1");
}

// While one username's operation waits for that username's lock (held here
// by another connection), operations on other usernames are answered: they
// run on other connections. Observed by order, not by time: some other
// subscriber's reply arrives while the first operation has none yet.
TEST_F(radius_sql_adapter, other_usernames_go_on_while_one_waits_for_its_lock) {
  spawn(suspend_policy::reject, da, 2);
  ASSERT_EQ(activate("held1").outcome, adapter_outcome::succeeded);
  std::vector<std::string> others;
  for (int i = 0; i < 8; ++i) {
    others.push_back("free" + std::to_string(i));
    ASSERT_EQ(activate(others.back()).outcome, adapter_outcome::succeeded);
  }
  pqxx::connection holder{db->dsn()};
  pqxx::nontransaction{holder}.exec(
    "SELECT pg_advisory_lock(4242, hashtext('held1'))");
  std::atomic<bool> held_done{false};
  adapter_reply held_reply;
  std::thread held{[&] {
    held_reply = call("radius.deny", "sub-held1");
    held_done = true;
  }};
  std::promise<bool> first_other;
  std::atomic<bool> answered{false};
  std::vector<adapter_reply> other_replies(others.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < others.size(); ++i)
    threads.emplace_back([&, i] {
      other_replies[i] = call("radius.deny", "sub-" + others[i]);
      if (!answered.exchange(true))
        first_other.set_value(held_done.load());
    });
  auto first = first_other.get_future();
  // Bounded wait so a regression fails instead of hanging: with one
  // connection no other reply can come before the lock is released.
  bool came = first.wait_for(60s) == std::future_status::ready;
  EXPECT_TRUE(came) << "no other username was answered while held1 waited";
  if (came) {
    EXPECT_FALSE(first.get()) << "held1 was answered before its lock was free";
  }
  EXPECT_FALSE(held_done.load());
  pqxx::nontransaction{holder}.exec(
    "SELECT pg_advisory_unlock(4242, hashtext('held1'))");
  held.join();
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(held_reply.outcome, adapter_outcome::succeeded) << held_reply.error;
  for (const auto& r : other_replies)
    EXPECT_EQ(r.outcome, adapter_outcome::succeeded) << r.error;
  EXPECT_EQ(db->value("SELECT value FROM radcheck WHERE username = 'held1'"
                      " AND attribute = 'Auth-Type'"),
            "Reject");
}

// Operations on one username run one at a time in the order they came,
// even while they wait for the username's lock: each plan change sees the
// group the one before it wrote.
TEST_F(radius_sql_adapter,
       one_usernames_operations_run_in_order_one_at_a_time) {
  ASSERT_EQ(activate("order1").outcome, adapter_outcome::succeeded);
  pqxx::connection holder{db->dsn()};
  pqxx::nontransaction{holder}.exec(
    "SELECT pg_advisory_lock(4242, hashtext('order1'))");
  std::vector<std::string> plans{"silver", "gold", "silver", "gold", "silver"};
  caf::scoped_actor self{*sys};
  using handle
    = decltype(self->request(adapter, 60s, invoke_atom_v, adapter_request{}));
  std::vector<handle> pending;
  for (size_t i = 0; i < plans.size(); ++i) {
    adapter_request req;
    req.tenant_id = "acme";
    req.subscriber_id = "sub-order1";
    req.system = "radius";
    req.operation = "radius.set_plan_group";
    req.idempotency_key = "saga-o" + std::to_string(i) + "/set_plan_group/1";
    req.input = {{"plan_id", plans[i]}};
    pending.push_back(self->request(adapter, 60s, invoke_atom_v, req));
  }
  // Nothing can be written while the lock is held.
  EXPECT_EQ(db->value("SELECT groupname FROM radusergroup WHERE username ="
                      " 'order1'"),
            "acme.gold");
  pqxx::nontransaction{holder}.exec(
    "SELECT pg_advisory_unlock(4242, hashtext('order1'))");
  std::string previous = "acme.gold";
  for (size_t i = 0; i < plans.size(); ++i) {
    adapter_reply r;
    pending[i].receive([&](adapter_reply& x) { r = std::move(x); },
                       [&](caf::error& err) {
                         r = events::reply_failed(
                           adapter_outcome::unknown_outcome, to_string(err));
                       });
    ASSERT_EQ(r.outcome, adapter_outcome::succeeded) << r.error;
    EXPECT_EQ(r.outputs["previous_plan_group"], previous) << "call " << i;
    previous = "acme." + plans[i];
  }
  EXPECT_EQ(db->value("SELECT groupname FROM radusergroup WHERE username ="
                      " 'order1'"),
            "acme.silver");
}
