#include "adapters/postgres/migrations.hpp"
#include "adapters/radius/coa_authorization.hpp"
#include "adapters/radius/provisioning.hpp"
#include "adapters/radius/radius_adapter.hpp"
#include "adapters/resilience/breaker_registry.hpp"
#include "adapters/resilience/circuit_breaker.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sim/nas/simulator.hpp"
#include "tests/integration/radius_sql_support.hpp"
#include "tests/support/scratch_database.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

// The RADIUS path end to end (issue 4, "How it is checked"): real
// PostgreSQL and FreeRADIUS (deploy/local/freeradius.sh), the NAS simulator
// as FreeRADIUS's client and as the RFC 5176 server, and the radius adapter
// actor driven with the sagas' adapter_requests through the real CoA client.
// Ports: FreeRADIUS 127.0.0.1:21831 (auth), 21832 (acct), 21833 (coa-peer);
// the simulator's CoA/DM server 127.0.0.1:21834.

using namespace ispflow;
using namespace ispflow::adapters::radius;
namespace resilience = ispflow::adapters::resilience;
using namespace std::chrono_literals;
using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
namespace nas_sim = ispflow::sim::nas;

namespace {

constexpr int auth_port = 21831;
constexpr uint16_t sim_coa_port = 21834;
// The simulator's secret, with FreeRADIUS (its localhost client, since the
// simulator sends from 127.0.0.1) and in its `nas` row for CoA/DM.
const std::string nas_secret = "e2e-nas-shared-secret";
const std::string gold_rate = "10000k/50000k";
const std::string silver_rate = "5000k/20000k";
const std::string walled_rate = "512k/1024k";

tenant_settings isp(suspend_policy policy) {
  tenant_settings t;
  t.tenant_id = "isp1";
  t.nas_vendor = vendor::mikrotik;
  t.suspend = policy;
  t.walled_garden_group = "isp1.walled";
  t.walled_garden = plan{"walled", 1024, 512, "", "", "", ""};
  t.passwords = policy == suspend_policy::reject ? password_storage::ssha2_512
                                                 : password_storage::cleartext;
  t.plans = {plan{"gold", 50000, 10000, "", "", "", ""},
             plan{"silver", 20000, 5000, "", "", "", ""},
             plan{"timed", 30000, 6000, "", "", "", "", 3600, 300}};
  return t;
}

std::string sql_text(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string{"''"} : std::string(1, c);
  return out + "'";
}

// A dictionary without vendor attributes: a simulator loaded with it NAKs a
// CoA carrying Mikrotik-Rate-Limit with Error-Cause 401.
std::string rfc_only_dictionary() {
  char tmpl[] = "/tmp/ispflow-e2e-dict-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0)
    return {};
  ::close(fd);
  std::ofstream f{tmpl};
  for (const char* name :
       {"rfc2865", "rfc2866", "rfc2869", "rfc3162", "rfc5176"})
    f << "$INCLUDE /usr/share/freeradius/dictionary." << name << '\n';
  return tmpl;
}

// Whether 127.0.0.1:`port` is free for UDP. A FreeRADIUS left over from a
// crashed run would answer the start-up probe of a new one that could not
// bind, and the tests would talk to the wrong database.
bool udp_port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

struct radius_e2e : ::testing::Test {
  static inline std::unique_ptr<ispflow::testing::scratch_database> db;
  static inline std::unique_ptr<ispflow::testing::freeradius_server> radius;
  static inline std::string setup_error;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<coa_authorization> coa;
  adapters::api::radius_actor adapter;
  std::unique_ptr<nas_sim::simulator> sim;
  std::string dictionary_file;

  static void SetUpTestSuite() {
    for (int port = auth_port; port <= sim_coa_port; ++port)
      if (!udp_port_free(port)) {
        setup_error = "UDP port " + std::to_string(port)
                      + " is taken (a FreeRADIUS left from an earlier run?)";
        return;
      }
    db = std::make_unique<ispflow::testing::scratch_database>();
    if (auto res = adapters::postgres::apply_migrations(db->dsn()); !res) {
      setup_error = "migrations: " + render_error(res.error());
      return;
    }
    // FreeRADIUS reads its clients from `nas` when it starts: sync first.
    store st{db->dsn()};
    if (auto err = st.sync_nas(
          {{"sim-bng", "127.0.0.1", nas_secret, "mikrotik", sim_coa_port}})) {
      setup_error = "sync_nas: " + render_error(err);
      return;
    }
    ::setenv("ISPFLOW_RADIUS_SECRET", nas_secret.c_str(), 1);
    radius = std::make_unique<ispflow::testing::freeradius_server>(db->dsn(),
                                                                   auth_port);
    if (!radius->ok())
      setup_error = "FreeRADIUS did not start:\n" + radius->log_tail();
  }

  static void TearDownTestSuite() {
    radius.reset();
    db.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error.empty()) << setup_error;
    cfg.add_message_types<caf::id_block::ispflow>();
    sys = std::make_unique<caf::actor_system>(cfg);
    auto made = coa_authorization::make({});
    ASSERT_TRUE(made) << render_error(made.error());
    coa = *made;
    spawn(suspend_policy::reject);
    start_sim();
  }

  void TearDown() override {
    if (sim)
      sim->stop();
    sim.reset();
    if (sys) {
      caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
      adapter = nullptr;
      sys.reset();
    }
    coa.reset();
    if (!dictionary_file.empty())
      ::unlink(dictionary_file.c_str());
  }

  void spawn(suspend_policy policy, std::vector<nas_policy> nas = {},
             std::shared_ptr<resilience::breaker_registry> breakers = {}) {
    if (adapter)
      caf::anon_send_exit(adapter, caf::exit_reason::user_shutdown);
    adapter_config ac;
    ac.dsn = db->dsn();
    ac.tenants = {isp(policy)};
    ac.coa = coa;
    ac.nas = std::move(nas);
    ac.nas_breakers = std::move(breakers);
    adapter = spawn_radius_adapter(*sys, std::move(ac));
  }

  nas_sim::config sim_config(const std::string& nas_ip = "127.0.0.1",
                             uint16_t coa_port = sim_coa_port) {
    nas_sim::config c;
    c.auth = {"127.0.0.1", static_cast<uint16_t>(auth_port)};
    c.acct = {"127.0.0.1", static_cast<uint16_t>(radius->acct_port())};
    c.secret = nas_secret;
    c.nas_ip = nas_ip;
    c.coa_port = coa_port;
    // Every request of ispflow's client must carry a valid one.
    c.require_message_authenticator = true;
    return c;
  }

  // (Re)starts the simulator on the CoA port the `nas` row names; a
  // restart models a NAS reboot (sessions lost, no Accounting-Stop).
  void start_sim(nas_sim::config c) {
    if (sim)
      sim->stop();
    sim.reset();
    auto made = nas_sim::simulator::start(std::move(c));
    ASSERT_TRUE(made) << render_error(made.error());
    sim = std::move(*made);
  }

  void start_sim() {
    start_sim(sim_config());
  }

  adapter_reply call(const std::string& op, const std::string& subscriber,
                     events::string_map in, const std::string& key) {
    adapter_request req;
    req.tenant_id = "isp1";
    req.subscriber_id = subscriber;
    req.system = "radius";
    req.operation = op;
    req.idempotency_key = key;
    req.input = std::move(in);
    adapter_reply out;
    caf::scoped_actor self{*sys};
    self->request(adapter, 60s, invoke_atom_v, std::move(req))
      .receive([&](adapter_reply& r) { out = std::move(r); },
               [&](caf::error& err) {
                 out = events::reply_failed(adapter_outcome::unknown_outcome,
                                            to_string(err));
               });
    return out;
  }

  // Every row ispflow or FreeRADIUS holds about `user`, with ids and
  // timestamps, and the `nas` table.
  std::string snapshot(const std::string& user) {
    auto u = sql_text(user);
    std::string out;
    auto add = [&](const std::string& sql) {
      for (const auto& row : db->query(sql)) {
        for (const auto& v : row)
          out += (v ? *v : std::string{"NULL"}) + "|";
        out += "\n";
      }
      out += "--\n";
    };
    add("SELECT id, attribute, op, value FROM radcheck WHERE username = " + u
        + " ORDER BY id");
    add("SELECT id, attribute, op, value FROM radreply WHERE username = " + u
        + " ORDER BY id");
    add("SELECT id, groupname, priority FROM radusergroup WHERE username = " + u
        + " ORDER BY id");
    add("SELECT tenant_id, subscriber_id, plan_group, denied, plan_change_key,"
        " previous_plan_group, updated_at FROM radius_accounts WHERE"
        " username = "
        + u);
    add("SELECT radacctid, acctsessionid, acctstoptime, acctterminatecause"
        " FROM radacct WHERE username = "
        + u + " ORDER BY radacctid");
    add("SELECT id, nasname, shortname, type, ports, md5(secret), description"
        " FROM nas ORDER BY id");
    return out;
  }

  // Runs an operation, then repeats it with the same key: the repeat must
  // answer the same way and change no row, and must send nothing more to
  // the NAS unless `resends` (a CoA to a session is safe to repeat).
  adapter_reply twice(const std::string& op, const std::string& user,
                      events::string_map in, const std::string& key,
                      bool resends = false) {
    auto first = call(op, "sub-" + user, in, key);
    sim->flush_accounting();
    auto before = snapshot(user);
    auto sent = coa->stats().sent;
    auto again = call(op, "sub-" + user, std::move(in), key);
    sim->flush_accounting();
    EXPECT_EQ(again.outcome, first.outcome) << op << ": " << again.error;
    EXPECT_EQ(snapshot(user), before) << op << " repeated changed rows";
    // A repeat after deprovision finds no account any more.
    if (again.outputs.count("changed") != 0) {
      EXPECT_EQ(again.outputs["changed"], "false") << op;
    } else if (first.outputs.count("changed") != 0) {
      EXPECT_EQ(again.outputs["radius_account"], "none") << op;
    }
    if (!resends) {
      EXPECT_EQ(coa->stats().sent, sent) << op << " repeated sent requests";
    }
    return first;
  }

  adapter_reply provision(const std::string& user,
                          const std::string& ip = "100.64.7.9",
                          const std::string& plan_id = "gold") {
    return twice("radius.provision", user,
                 {{"credentials.username", user},
                  {"credentials.password", "pw-" + user},
                  {"plan_id", plan_id},
                  {"ip_address", ip}},
                 "saga-" + user + "/provision/1");
  }

  // Logs `user` in on the simulator; on Accept waits until FreeRADIUS has
  // the session open in radacct.
  nas_sim::login_result login(const std::string& user) {
    auto before = count_open(user);
    auto res = sim->login(user, "pw-" + user);
    EXPECT_TRUE(res) << render_error(res.error());
    if (!res)
      return {};
    if (res->accepted) {
      EXPECT_EQ(open_sessions(user, before + 1), before + 1);
    }
    return *res;
  }

  // What a login that was not accepted got, and FreeRADIUS's log: for the
  // message of a failed expectation.
  static std::string refusal(const caf::expected<nas_sim::login_result>& r) {
    std::string out;
    if (!r) {
      out = "no answer: " + render_error(r.error());
    } else {
      out = r->accepted ? "accepted" : "not accepted, reply:";
      for (const auto& [k, v] : r->reply)
        out += " " + k + "=" + v;
    }
    return out + "\nFreeRADIUS log:\n" + radius->log_tail();
  }

  int64_t count_open(const std::string& user) {
    return db->count("SELECT count(*) FROM radacct WHERE username = "
                     + sql_text(user) + " AND acctstoptime IS NULL");
  }

  // Waits (with a deadline) until `user` has `want` open sessions in radacct.
  int64_t open_sessions(const std::string& user, int64_t want) {
    return db->await_count("SELECT count(*) FROM radacct WHERE username = "
                             + sql_text(user) + " AND acctstoptime IS NULL",
                           want, 30s);
  }

  static std::string reply_value(const nas_sim::login_result& r,
                                 const std::string& name) {
    for (const auto& [k, v] : r.reply)
      if (k == name)
        return v;
    return {};
  }

  // The suspend flow of the sagas: deny, then disconnect every session.
  void suspend(const std::string& user, const std::string& session_id,
               const std::string& saga) {
    auto deny = twice("radius.deny", user, {}, saga + "/deny/1");
    ASSERT_EQ(deny.outcome, adapter_outcome::succeeded) << deny.error;
    EXPECT_EQ(deny.outputs["changed"], "true");
    auto acks = sim->stats().acks;
    auto dis = twice("radius.disconnect_sessions", user, {},
                     saga + "/disconnect_sessions/1");
    ASSERT_EQ(dis.outcome, adapter_outcome::succeeded) << dis.error;
    EXPECT_EQ(dis.outputs["sessions"], "1");
    EXPECT_EQ(dis.outputs["disconnected"], "1");
    EXPECT_EQ(dis.outputs["session_results"],
              session_id + "@127.0.0.1 disconnect ack");
    // The simulator verified the request (Message-Authenticator required)
    // and acknowledged it; the session is gone from it.
    auto st = sim->stats();
    EXPECT_EQ(st.acks, acks + 1);
    EXPECT_EQ(st.dropped_bad_authenticator, 0u);
    EXPECT_EQ(st.dropped_unknown_source, 0u);
    EXPECT_FALSE(sim->find(session_id));
    // FreeRADIUS wrote the Accounting-Stop the simulator sent.
    EXPECT_EQ(open_sessions(user, 0), 0);
    EXPECT_EQ(db->value("SELECT acctterminatecause FROM radacct WHERE"
                        " acctsessionid = "
                        + sql_text(session_id)
                        + " AND username = " + sql_text(user)),
              "Admin-Reset");
    auto closed = twice("radius.verify_sessions_closed", user, {},
                        saga + "/verify_sessions_closed/1");
    EXPECT_EQ(closed.outcome, adapter_outcome::succeeded) << closed.error;
  }
};

std::string failure_text(const caf::error& err) {
  return err ? render_error(err) : std::string{};
}

} // namespace

TEST(radius_e2e_nas_table, sync_nas_owns_only_its_rows_and_repeats_cleanly) {
  ispflow::testing::scratch_database db;
  ASSERT_TRUE(adapters::postgres::apply_migrations(db.dsn()));
  db.query("INSERT INTO nas (nasname, shortname, type, secret) VALUES"
           " ('192.0.2.9', 'manual', 'cisco', 'theirs')");
  auto rows = [&] {
    std::string out;
    for (const auto& row :
         db.query("SELECT id, nasname, shortname, type, ports, md5(secret),"
                  " description FROM nas ORDER BY id"))
      for (const auto& v : row)
        out += (v ? *v : std::string{"NULL"}) + "|";
    return out;
  };
  store st{db.dsn()};
  const std::string secret_a = "a-secret-never-shown";
  std::vector<nas_entry> both{
    {"bng-a", "192.0.2.1", secret_a, "mikrotik", 3799},
    {"bng-b", "2001:db8:0:0::1", "sb", "cisco", 1700}};
  auto synced = st.sync_nas(both);
  ASSERT_FALSE(synced) << failure_text(synced);
  EXPECT_EQ(db.value("SELECT shortname || ' ' || type || ' ' || ports || ' '"
                     " || description FROM nas WHERE nasname = '192.0.2.1'"),
            "bng-a mikrotik 3799 ispflow");
  // Stored as host() prints it, the form radacct's nasipaddress is
  // compared in.
  EXPECT_EQ(db.value("SELECT ports FROM nas WHERE nasname = '2001:db8::1'"),
            "1700");
  EXPECT_EQ(db.count("SELECT count(*) FROM nas WHERE nasname = '192.0.2.1'"
                     " AND secret = "
                     + sql_text(secret_a)),
            1);
  auto first = rows();
  ASSERT_FALSE(st.sync_nas(both));
  EXPECT_EQ(rows(), first) << "a repeat rewrote rows";

  // A changed NAS is updated in place; an unlisted one of ours is deleted;
  // the row ispflow did not write stays.
  auto id_a = db.value("SELECT id FROM nas WHERE nasname = '192.0.2.1'");
  ASSERT_FALSE(
    st.sync_nas({{"bng-a", "192.0.2.1", "rotated", "mikrotik", 3800}}));
  EXPECT_EQ(db.value("SELECT id || ' ' || ports || ' ' || (secret ="
                     " 'rotated') FROM nas WHERE nasname = '192.0.2.1'"),
            id_a + " 3800 true");
  EXPECT_EQ(db.count("SELECT count(*) FROM nas WHERE nasname = '2001:db8::1'"),
            0);
  EXPECT_EQ(db.value("SELECT shortname FROM nas WHERE nasname = '192.0.2.9'"),
            "manual");

  // Refusals change nothing (one transaction) and never show a secret.
  auto before = rows();
  auto taken = st.sync_nas({{"bng-a", "192.0.2.1", secret_a, "mikrotik", 3799},
                            {"bng-x", "192.0.2.9", secret_a, "cisco", 3799}});
  ASSERT_TRUE(taken);
  EXPECT_TRUE(taken == errc::invalid_input) << failure_text(taken);
  EXPECT_NE(render_error(taken).find("192.0.2.9"), std::string::npos);
  EXPECT_EQ(render_error(taken).find(secret_a), std::string::npos);
  for (const auto& bad : std::vector<std::vector<nas_entry>>{
         {{"bng-c", "bng.example.net", secret_a, "mikrotik", 3799}},
         {{"bng-c", "192.0.2.3", "", "mikrotik", 3799}},
         {{"", "192.0.2.3", secret_a, "mikrotik", 3799}},
         {{"bng-c", "192.0.2.3", secret_a, "mikrotik", 0}},
         {{"bng-c", "192.0.2.3", secret_a, "mikrotik", 3799},
          {"bng-d", "192.0.2.3", secret_a, "mikrotik", 3799}}}) {
    auto err = st.sync_nas(bad);
    EXPECT_TRUE(err == errc::invalid_input) << failure_text(err);
    EXPECT_EQ(render_error(err).find(secret_a), std::string::npos);
  }
  EXPECT_EQ(rows(), before);

  // An empty list removes every row of ours, and only those.
  ASSERT_FALSE(st.sync_nas({}));
  EXPECT_EQ(db.count("SELECT count(*) FROM nas"), 1);
  EXPECT_EQ(db.count("SELECT count(*) FROM nas WHERE nasname = '192.0.2.9'"),
            1);
}

TEST_F(radius_e2e, activation_grants_the_plan_and_opens_a_session) {
  auto res = provision("act1");
  ASSERT_EQ(res.outcome, adapter_outcome::succeeded) << res.error;
  EXPECT_EQ(res.outputs["changed"], "true");
  auto in = login("act1");
  ASSERT_TRUE(in.accepted);
  EXPECT_EQ(reply_value(in, "Framed-IP-Address"), "100.64.7.9");
  // Router rx/tx: upload first.
  EXPECT_EQ(reply_value(in, "Mikrotik-Rate-Limit"), gold_rate);
  ASSERT_TRUE(in.session);
  EXPECT_EQ(in.session->framed_ip, "100.64.7.9");
  EXPECT_EQ(db->value("SELECT host(nasipaddress) || ' ' ||"
                      " host(framedipaddress) FROM radacct WHERE username ="
                      " 'act1' AND acctstoptime IS NULL"),
            "127.0.0.1 100.64.7.9");
  EXPECT_FALSE(sim->login("act1", "wrong").value().accepted);
  sim->stop_session(in.session->id);
  EXPECT_EQ(open_sessions("act1", 0), 0);
}

TEST_F(radius_e2e, suspend_disconnects_the_session_and_rejects_a_new_login) {
  ASSERT_EQ(provision("sus1").outcome, adapter_outcome::succeeded);
  auto in = login("sus1");
  ASSERT_TRUE(in.accepted && in.session);
  suspend("sus1", in.session->id, "saga-s1");
  auto again = login("sus1");
  EXPECT_FALSE(again.accepted);
  EXPECT_TRUE(sim->sessions().empty());
}

TEST_F(radius_e2e, suspend_walls_the_subscriber_under_the_walled_garden) {
  spawn(suspend_policy::walled_garden);
  ASSERT_EQ(provision("wall1").outcome, adapter_outcome::succeeded);
  auto in = login("wall1");
  ASSERT_TRUE(in.accepted && in.session);
  EXPECT_EQ(reply_value(in, "Mikrotik-Rate-Limit"), gold_rate);
  suspend("wall1", in.session->id, "saga-w1");
  auto walled = login("wall1");
  ASSERT_TRUE(walled.accepted);
  EXPECT_EQ(reply_value(walled, "Mikrotik-Rate-Limit"), walled_rate);
  EXPECT_EQ(reply_value(walled, "Framed-IP-Address"), "100.64.7.9");
  // Resume from the walled garden: the open walled session is cut so the
  // next login gets the plan again.
  auto restore = twice("radius.restore_plan", "wall1", {},
                       "saga-w2/restore_plan/1");
  ASSERT_EQ(restore.outcome, adapter_outcome::succeeded) << restore.error;
  auto dis = twice("radius.disconnect_sessions", "wall1", {},
                   "saga-w2/disconnect_sessions/1");
  ASSERT_EQ(dis.outcome, adapter_outcome::succeeded) << dis.error;
  EXPECT_EQ(dis.outputs["disconnected"], "1");
  EXPECT_EQ(open_sessions("wall1", 0), 0);
  auto full = login("wall1");
  ASSERT_TRUE(full.accepted && full.session);
  EXPECT_EQ(reply_value(full, "Mikrotik-Rate-Limit"), gold_rate);
  sim->stop_session(full.session->id);
}

TEST_F(radius_e2e, resume_accepts_the_login_with_the_full_rate) {
  ASSERT_EQ(provision("res1").outcome, adapter_outcome::succeeded);
  auto in = login("res1");
  ASSERT_TRUE(in.accepted && in.session);
  suspend("res1", in.session->id, "saga-r1");
  ASSERT_FALSE(login("res1").accepted);
  auto restore = twice("radius.restore_plan", "res1", {},
                       "saga-r2/restore_plan/1");
  ASSERT_EQ(restore.outcome, adapter_outcome::succeeded) << restore.error;
  EXPECT_EQ(restore.outputs["changed"], "true");
  auto sent = coa->stats().sent;
  auto dis = twice("radius.disconnect_sessions", "res1", {},
                   "saga-r2/disconnect_sessions/1");
  ASSERT_EQ(dis.outcome, adapter_outcome::succeeded) << dis.error;
  EXPECT_EQ(dis.outputs["sessions"], "0");
  EXPECT_EQ(coa->stats().sent, sent);
  auto back = login("res1");
  ASSERT_TRUE(back.accepted && back.session);
  EXPECT_EQ(reply_value(back, "Mikrotik-Rate-Limit"), gold_rate);
  EXPECT_EQ(reply_value(back, "Framed-IP-Address"), "100.64.7.9");
  sim->stop_session(back.session->id);
}

TEST_F(radius_e2e, plan_change_puts_the_new_rate_on_the_session_by_coa) {
  ASSERT_EQ(provision("chg1").outcome, adapter_outcome::succeeded);
  auto in = login("chg1");
  ASSERT_TRUE(in.accepted && in.session);
  auto set = twice("radius.set_plan_group", "chg1", {{"plan_id", "silver"}},
                   "saga-c1/set_plan_group/1");
  ASSERT_EQ(set.outcome, adapter_outcome::succeeded) << set.error;
  EXPECT_EQ(set.outputs["previous_plan_group"], "isp1.gold");
  EXPECT_EQ(set.outputs["plan_group"], "isp1.silver");
  auto acks = sim->stats().acks;
  auto change = twice("radius.coa_sessions", "chg1", {{"plan_id", "silver"}},
                      "saga-c1/coa_sessions/1", true);
  ASSERT_EQ(change.outcome, adapter_outcome::succeeded) << change.error;
  EXPECT_EQ(change.outputs["coa_acked"], "1");
  EXPECT_EQ(change.outputs["disconnected"], "0");
  EXPECT_EQ(change.outputs["session_results"],
            in.session->id + "@127.0.0.1 coa ack");
  // Two CoA-ACKs (the repeat re-applies the same rate).
  EXPECT_EQ(sim->stats().acks, acks + 2);
  auto now = sim->find(in.session->id);
  ASSERT_TRUE(now) << "the CoA must not end the session";
  EXPECT_EQ(now->attribute("Mikrotik-Rate-Limit"), silver_rate);
  EXPECT_EQ(now->framed_ip, "100.64.7.9");
  EXPECT_EQ(open_sessions("chg1", 1), 1);
  // A new login gets the new plan from FreeRADIUS too.
  auto second = login("chg1");
  ASSERT_TRUE(second.accepted && second.session);
  EXPECT_EQ(reply_value(second, "Mikrotik-Rate-Limit"), silver_rate);
  sim->stop_session(in.session->id);
  sim->stop_session(second.session->id);
}

TEST_F(radius_e2e, a_coa_nak_falls_back_to_disconnect) {
  // A NAS that does not know MikroTik's attributes: it NAKs the CoA with
  // Error-Cause 401 (Unsupported-Attribute).
  dictionary_file = rfc_only_dictionary();
  ASSERT_FALSE(dictionary_file.empty());
  auto c = sim_config();
  c.dictionary_path = dictionary_file;
  start_sim(std::move(c));
  ASSERT_EQ(provision("nak1").outcome, adapter_outcome::succeeded);
  auto in = login("nak1");
  ASSERT_TRUE(in.accepted && in.session);
  ASSERT_EQ(call("radius.set_plan_group", "sub-nak1", {{"plan_id", "silver"}},
                 "saga-n1/set_plan_group/1")
              .outcome,
            adapter_outcome::succeeded);
  auto naks = sim->stats().naks;
  auto change = twice("radius.coa_sessions", "nak1", {{"plan_id", "silver"}},
                      "saga-n1/coa_sessions/1");
  ASSERT_EQ(change.outcome, adapter_outcome::succeeded) << change.error;
  EXPECT_EQ(change.outputs["coa_acked"], "0");
  EXPECT_EQ(change.outputs["disconnected"], "1");
  EXPECT_EQ(change.outputs["session_results"],
            in.session->id + "@127.0.0.1 coa nak 401, disconnect ack");
  EXPECT_EQ(sim->stats().naks, naks + 1);
  EXPECT_FALSE(sim->find(in.session->id));
  EXPECT_EQ(open_sessions("nak1", 0), 0);
  EXPECT_EQ(db->value("SELECT acctterminatecause FROM radacct WHERE"
                      " username = 'nak1'"),
            "Admin-Reset");
}

TEST_F(radius_e2e, disconnecting_a_session_the_nas_lost_succeeds) {
  ASSERT_EQ(provision("lost1").outcome, adapter_outcome::succeeded);
  auto in = login("lost1");
  ASSERT_TRUE(in.accepted && in.session);
  // The NAS reboots: its sessions are gone, radacct still has this one open.
  start_sim();
  ASSERT_TRUE(sim->sessions().empty());
  auto naks = sim->stats().naks;
  auto dis = call("radius.disconnect_sessions", "sub-lost1", {},
                  "saga-l1/disconnect_sessions/1");
  ASSERT_EQ(dis.outcome, adapter_outcome::succeeded) << dis.error;
  EXPECT_EQ(dis.outputs["disconnected"], "1");
  EXPECT_EQ(dis.outputs["session_results"],
            in.session->id + "@127.0.0.1 disconnect nak 503");
  EXPECT_EQ(sim->stats().naks, naks + 1);
  EXPECT_EQ(coa->stats().naks, 1u);
  // Nobody sent an Accounting-Stop: radacct keeps the session open until
  // the NAS's Accounting-On (not simulated), so verification still waits.
  EXPECT_EQ(call("radius.verify_sessions_closed", "sub-lost1", {},
                 "saga-l1/verify_sessions_closed/1")
              .outcome,
            adapter_outcome::retryable_failure);
}

TEST_F(radius_e2e, a_session_on_a_nas_missing_from_the_nas_table_is_refused) {
  ASSERT_EQ(provision("unk1").outcome, adapter_outcome::succeeded);
  // A second BNG, 127.0.0.3, that FreeRADIUS accepts (it sends from
  // 127.0.0.1) but that is not in `nas`.
  auto other_cfg = sim_config("127.0.0.3", 0);
  auto other = nas_sim::simulator::start(std::move(other_cfg));
  ASSERT_TRUE(other) << render_error(other.error());
  auto in = (*other)->login("unk1", "pw-unk1");
  ASSERT_TRUE(in && in->accepted);
  ASSERT_EQ(open_sessions("unk1", 1), 1);
  auto sent = coa->stats().sent;
  for (const char* op : {"radius.disconnect_sessions", "radius.coa_sessions"}) {
    auto res = call(op, "sub-unk1", {{"plan_id", "silver"}},
                    std::string{"saga-u1/"} + op + "/1");
    EXPECT_EQ(res.outcome, adapter_outcome::permanent_failure) << op;
    EXPECT_NE(res.error.find("127.0.0.3"), std::string::npos) << res.error;
  }
  EXPECT_EQ(coa->stats().sent, sent);
  EXPECT_EQ((*other)->stats().received, 0u);
  EXPECT_EQ(sim->stats().received, 0u);
  EXPECT_EQ((*other)->sessions().size(), 1u);
  (*other)->stop_session(in->session->id);
  EXPECT_EQ(open_sessions("unk1", 0), 0);
  (*other)->stop();
}

TEST_F(radius_e2e, terminate_leaves_nothing_of_the_subscriber) {
  ASSERT_EQ(provision("term1").outcome, adapter_outcome::succeeded);
  auto in = login("term1");
  ASSERT_TRUE(in.accepted && in.session);
  suspend("term1", in.session->id, "saga-t1");
  auto gone = twice("radius.deprovision", "term1", {}, "saga-t1/deprovision/1");
  ASSERT_EQ(gone.outcome, adapter_outcome::succeeded) << gone.error;
  EXPECT_EQ(gone.outputs["changed"], "true");
  EXPECT_EQ(db->count("SELECT (SELECT count(*) FROM radcheck WHERE username ="
                      " 'term1') + (SELECT count(*) FROM radreply WHERE"
                      " username = 'term1') + (SELECT count(*) FROM"
                      " radusergroup WHERE username = 'term1') + (SELECT"
                      " count(*) FROM radius_accounts WHERE username ="
                      " 'term1')"),
            0);
  EXPECT_FALSE(login("term1").accepted);
  // Operations after the end find no account and do nothing.
  auto late = twice("radius.disconnect_sessions", "term1", {},
                    "saga-t1/disconnect_sessions/2");
  EXPECT_EQ(late.outcome, adapter_outcome::succeeded);
  EXPECT_EQ(late.outputs["sessions"], "0");
}

// -- a NAS that answers without Message-Authenticator (issue 12, item 1) ----

namespace {

// The CoA client of ispflowd for the simulator's `nas` row, told whether
// that NAS's replies must be signed; quick retransmissions.
std::shared_ptr<coa_authorization> coa_for_sim(bool require_ma) {
  coa_settings cs;
  cs.client.initial_timeout = 200ms;
  cs.client.max_timeout = 400ms;
  cs.client.max_attempts = 3;
  nas_entry sim_nas{"sim-bng", "127.0.0.1", nas_secret, "mikrotik",
                    sim_coa_port};
  sim_nas.require_message_authenticator = require_ma;
  cs.nas = {sim_nas};
  auto made = coa_authorization::make(std::move(cs));
  EXPECT_TRUE(made) << render_error(made.error());
  return made ? *made : nullptr;
}

} // namespace

TEST_F(radius_e2e, unsigned_replies_are_dropped_by_default) {
  auto c = sim_config();
  c.unsigned_replies = true;
  start_sim(std::move(c));
  coa = coa_for_sim(true);
  ASSERT_TRUE(coa);
  spawn(suspend_policy::reject);
  ASSERT_EQ(provision("ma1").outcome, adapter_outcome::succeeded);
  auto in = login("ma1");
  ASSERT_TRUE(in.accepted && in.session);
  auto dis = call("radius.disconnect_sessions", "sub-ma1", {},
                  "saga-ma1/disconnect_sessions/1");
  // Every reply dropped: a timeout, retried by the saga, never an ACK.
  EXPECT_EQ(dis.outcome, adapter_outcome::retryable_failure) << dis.error;
  EXPECT_NE(dis.error.find("timeout"), std::string::npos) << dis.error;
  EXPECT_EQ(coa->stats().acks, 0u);
  EXPECT_EQ(coa->stats().dropped_replies, 3u);
  EXPECT_EQ(sim->stats().replies_unsigned, 3u);
  EXPECT_EQ(sim->stats().replies_signed, 0u);
}

TEST_F(radius_e2e, a_nas_configured_unsigned_gets_its_replies_accepted) {
  auto c = sim_config();
  c.unsigned_replies = true;
  start_sim(std::move(c));
  coa = coa_for_sim(false);
  ASSERT_TRUE(coa);
  spawn(suspend_policy::reject);
  ASSERT_EQ(provision("ma2").outcome, adapter_outcome::succeeded);
  auto in = login("ma2");
  ASSERT_TRUE(in.accepted && in.session);
  // A CoA-ACK without attributes changes the plan on the session ...
  ASSERT_EQ(call("radius.set_plan_group", "sub-ma2", {{"plan_id", "silver"}},
                 "saga-ma2/set_plan_group/1")
              .outcome,
            adapter_outcome::succeeded);
  auto change = call("radius.coa_sessions", "sub-ma2", {{"plan_id", "silver"}},
                     "saga-ma2/coa_sessions/1");
  ASSERT_EQ(change.outcome, adapter_outcome::succeeded) << change.error;
  EXPECT_EQ(change.outputs["session_results"],
            in.session->id + "@127.0.0.1 coa ack");
  EXPECT_EQ(sim->find(in.session->id)->attribute("Mikrotik-Rate-Limit"),
            silver_rate);
  // ... and a Disconnect-ACK without attributes ends it: the simulator's
  // Accounting-Stop reaches FreeRADIUS, which closes it in radacct.
  suspend("ma2", in.session->id, "saga-ma2");
  EXPECT_EQ(coa->stats().dropped_replies, 0u);
  EXPECT_EQ(coa->stats().acks, 2u);
  EXPECT_EQ(sim->stats().replies_signed, 0u);
  EXPECT_GE(sim->stats().replies_unsigned, 2u);
}

// -- issue 17: the RADIUS features BNGs use ----------------------------------

namespace {

// The simulator's NAS suspending by CoA into a Filter-Id walled garden.
nas_policy coa_nas() {
  nas_policy p;
  p.address = "127.0.0.1";
  p.mode = disconnect_mode::coa;
  p.walled_garden = {{"Filter-Id", "walled-garden"}};
  return p;
}

} // namespace

TEST_F(radius_e2e, coa_mode_walls_a_suspended_session_and_resume_restores_it) {
  spawn(suspend_policy::reject, {coa_nas()});
  ASSERT_EQ(provision("cw1").outcome, adapter_outcome::succeeded);
  auto in = login("cw1");
  ASSERT_TRUE(in.accepted && in.session);
  auto id = in.session->id;
  // Suspend: deny, then a CoA into the walled garden instead of a DM.
  ASSERT_EQ(call("radius.deny", "sub-cw1", {}, "saga-cw1/deny/1").outcome,
            adapter_outcome::succeeded);
  auto acks = sim->stats().acks;
  auto walled = twice("radius.disconnect_sessions", "cw1", {},
                      "saga-cw1/disconnect_sessions/1", true);
  ASSERT_EQ(walled.outcome, adapter_outcome::succeeded) << walled.error;
  EXPECT_EQ(walled.outputs["coa_profile"], "walled_garden");
  EXPECT_EQ(walled.outputs["coa_acked"], "1");
  EXPECT_EQ(walled.outputs["disconnected"], "0");
  EXPECT_EQ(walled.outputs["session_results"], id + "@127.0.0.1 coa ack");
  EXPECT_EQ(sim->stats().acks, acks + 2);
  auto now = sim->find(id);
  ASSERT_TRUE(now) << "a CoA suspension must keep the session";
  EXPECT_EQ(now->attribute("Filter-Id"), "walled-garden");
  EXPECT_EQ(open_sessions("cw1", 1), 1);
  // The walled session is what suspend wanted: verification passes.
  auto verified = call("radius.verify_sessions_closed", "sub-cw1", {},
                       "saga-cw1/verify_sessions_closed/1");
  EXPECT_EQ(verified.outcome, adapter_outcome::succeeded) << verified.error;
  EXPECT_EQ(verified.outputs["walled_sessions"], "1");
  // A new login is refused (reject policy) while suspended.
  EXPECT_FALSE(login("cw1").accepted);
  // Resume: the plan back, then a CoA with the plan's attributes.
  ASSERT_EQ(call("radius.restore_plan", "sub-cw1", {},
                 "saga-cw2/restore_plan/1")
              .outcome,
            adapter_outcome::succeeded);
  auto back = call("radius.disconnect_sessions", "sub-cw1", {},
                   "saga-cw2/disconnect_sessions/1");
  ASSERT_EQ(back.outcome, adapter_outcome::succeeded) << back.error;
  EXPECT_EQ(back.outputs["coa_profile"], "plan");
  EXPECT_EQ(back.outputs["coa_acked"], "1");
  now = sim->find(id);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->attribute("Mikrotik-Rate-Limit"), gold_rate);
  // Terminate: deny walls the session again, deprovision ends it before it
  // removes the rows, so no session outlives its account.
  ASSERT_EQ(call("radius.deny", "sub-cw1", {}, "saga-cw3/deny/1").outcome,
            adapter_outcome::succeeded);
  ASSERT_EQ(call("radius.disconnect_sessions", "sub-cw1", {},
                 "saga-cw3/disconnect_sessions/1")
              .outputs["coa_profile"],
            "walled_garden");
  ASSERT_TRUE(sim->find(id));
  auto gone = call("radius.deprovision", "sub-cw1", {},
                   "saga-cw3/deprovision/1");
  ASSERT_EQ(gone.outcome, adapter_outcome::succeeded) << gone.error;
  EXPECT_EQ(gone.outputs["changed"], "true");
  EXPECT_FALSE(sim->find(id));
  EXPECT_EQ(open_sessions("cw1", 0), 0);
  EXPECT_EQ(db->count("SELECT count(*) FROM radius_accounts WHERE username ="
                      " 'cw1'"),
            0);
}

TEST_F(radius_e2e, coa_mode_falls_back_to_disconnect_when_the_nas_naks) {
  // A NAS whose dictionary lacks MikroTik's attributes and that is told to
  // wall by Mikrotik-Address-List: it NAKs the CoA (401), the adapter
  // disconnects instead, and verification waits for the Accounting-Stop.
  dictionary_file = rfc_only_dictionary();
  ASSERT_FALSE(dictionary_file.empty());
  auto c = sim_config();
  c.dictionary_path = dictionary_file;
  start_sim(std::move(c));
  auto p = coa_nas();
  p.walled_garden = {{"Mikrotik-Address-List", "walled"}};
  spawn(suspend_policy::reject, {p});
  ASSERT_EQ(provision("cw2").outcome, adapter_outcome::succeeded);
  auto in = login("cw2");
  ASSERT_TRUE(in.accepted && in.session);
  ASSERT_EQ(call("radius.deny", "sub-cw2", {}, "saga-cw4/deny/1").outcome,
            adapter_outcome::succeeded);
  auto dis = call("radius.disconnect_sessions", "sub-cw2", {},
                  "saga-cw4/disconnect_sessions/1");
  ASSERT_EQ(dis.outcome, adapter_outcome::succeeded) << dis.error;
  EXPECT_EQ(dis.outputs["session_results"],
            in.session->id + "@127.0.0.1 coa nak 401, disconnect ack");
  EXPECT_FALSE(sim->find(in.session->id));
  EXPECT_EQ(open_sessions("cw2", 0), 0);
  EXPECT_EQ(call("radius.verify_sessions_closed", "sub-cw2", {},
                 "saga-cw4/verify_sessions_closed/1")
              .outcome,
            adapter_outcome::succeeded);
}

TEST_F(radius_e2e,
       accounting_on_closes_a_rebooted_nas_sessions_so_no_dm_is_sent) {
  ASSERT_EQ(provision("boot1").outcome, adapter_outcome::succeeded);
  auto in = login("boot1");
  ASSERT_TRUE(in.accepted && in.session);
  // The NAS reboots and announces it: FreeRADIUS closes its sessions.
  auto c = sim_config();
  c.accounting_on = true;
  start_sim(std::move(c));
  EXPECT_EQ(open_sessions("boot1", 0), 0);
  EXPECT_EQ(db->value("SELECT acctterminatecause FROM radacct WHERE"
                      " username = 'boot1'"),
            "NAS-Reboot");
  auto sent = coa->stats().sent;
  auto dis = call("radius.disconnect_sessions", "sub-boot1", {},
                  "saga-boot1/disconnect_sessions/1");
  ASSERT_EQ(dis.outcome, adapter_outcome::succeeded) << dis.error;
  EXPECT_EQ(dis.outputs["sessions"], "0");
  EXPECT_EQ(coa->stats().sent, sent) << "a DM went to a dead session";
  EXPECT_EQ(sim->stats().received, 0u);
  EXPECT_EQ(call("radius.verify_sessions_closed", "sub-boot1", {},
                 "saga-boot1/verify_sessions_closed/1")
              .outcome,
            adapter_outcome::succeeded);
}

TEST_F(radius_e2e, accounting_on_from_radclient_closes_the_nas_sessions) {
  ASSERT_EQ(provision("boot2").outcome, adapter_outcome::succeeded);
  auto in = login("boot2");
  ASSERT_TRUE(in.accepted && in.session);
  // What an operator (or a NAS) sends by hand: radclient's Accounting-On.
  auto cmd = "printf 'Acct-Status-Type = Accounting-On\\nNAS-IP-Address = "
             "127.0.0.1\\nAcct-Session-Id = 0\\n' | radclient -q -r 2 -t 2 "
             "127.0.0.1:"
             + std::to_string(radius->acct_port())
             + " acct \"$ISPFLOW_RADIUS_SECRET\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_EQ(open_sessions("boot2", 0), 0);
  EXPECT_EQ(db->value("SELECT acctterminatecause FROM radacct WHERE"
                      " username = 'boot2'"),
            "NAS-Reboot");
}

TEST_F(radius_e2e,
       a_plan_session_timeout_and_interim_interval_reach_the_accept) {
  ASSERT_EQ(provision("timed1", "100.64.7.10", "timed").outcome,
            adapter_outcome::succeeded);
  auto in = login("timed1");
  ASSERT_TRUE(in.accepted && in.session);
  EXPECT_EQ(reply_value(in, "Session-Timeout"), "3600");
  EXPECT_EQ(reply_value(in, "Acct-Interim-Interval"), "300");
  EXPECT_EQ(reply_value(in, "Mikrotik-Rate-Limit"), "6000k/30000k");
  // A plan without them sends neither.
  ASSERT_EQ(provision("timed2", "100.64.7.11").outcome,
            adapter_outcome::succeeded);
  auto plain = login("timed2");
  ASSERT_TRUE(plain.accepted && plain.session);
  EXPECT_EQ(reply_value(plain, "Session-Timeout"), "");
  EXPECT_EQ(reply_value(plain, "Acct-Interim-Interval"), "");
  sim->stop_session(in.session->id);
  sim->stop_session(plain.session->id);
}

TEST_F(radius_e2e, a_dead_nas_opens_its_own_breaker_while_the_other_goes_on) {
  // Two BNGs: the simulator (127.0.0.1) and a second one, 127.0.0.2, that
  // drops every CoA/DM. Both are in `nas`; FreeRADIUS accepts the second's
  // RADIUS as localhost (it sends from 127.0.0.1).
  store st{db->dsn()};
  ASSERT_FALSE(st.sync_nas(
    {{"sim-bng", "127.0.0.1", nas_secret, "mikrotik", sim_coa_port},
     {"sim-bng-b", "127.0.0.2", nas_secret, "mikrotik", sim_coa_port}}));
  auto cb = sim_config("127.0.0.2", sim_coa_port);
  cb.coa_bind = "127.0.0.2";
  cb.faults.drop_every = 1;
  auto made_b = nas_sim::simulator::start(std::move(cb));
  ASSERT_TRUE(made_b) << render_error(made_b.error());
  auto& b = **made_b;
  coa_settings cs;
  cs.client.initial_timeout = 100ms;
  cs.client.max_timeout = 200ms;
  cs.client.max_attempts = 2;
  auto made = coa_authorization::make(std::move(cs));
  ASSERT_TRUE(made);
  coa = *made;
  resilience::registry_config rc;
  rc.defaults.minimum_number_of_calls = 2;
  rc.defaults.sliding_window_size = 2;
  rc.defaults.failure_rate_threshold = 50;
  rc.defaults.wait_duration_in_open_state = 60s;
  auto breakers = std::make_shared<resilience::breaker_registry>(rc);
  spawn(suspend_policy::reject, {}, breakers);
  std::vector<std::string> on_a, on_b;
  for (int i = 0; i < 3; ++i) {
    auto ua = "nba" + std::to_string(i), ub = "nbb" + std::to_string(i);
    ASSERT_EQ(provision(ua, "100.64.8." + std::to_string(i + 1)).outcome,
              adapter_outcome::succeeded);
    ASSERT_EQ(provision(ub, "100.64.9." + std::to_string(i + 1)).outcome,
              adapter_outcome::succeeded);
    auto ain = login(ua);
    ASSERT_TRUE(ain.accepted) << refusal(ain);
    auto bin = b.login(ub, "pw-" + ub);
    ASSERT_TRUE(bin && bin->accepted) << refusal(bin);
    ASSERT_EQ(open_sessions(ub, 1), 1);
    on_a.push_back(ua);
    on_b.push_back(ub);
  }
  auto dm = [&](const std::string& user, int n) {
    return call("radius.disconnect_sessions", "sub-" + user, {},
                "saga-" + user + "/disconnect_sessions/" + std::to_string(n));
  };
  // The dead NAS's first two calls time out: its breaker opens.
  EXPECT_EQ(dm(on_b[0], 1).outcome, adapter_outcome::retryable_failure);
  EXPECT_EQ(dm(on_a[0], 1).outcome, adapter_outcome::succeeded);
  EXPECT_EQ(dm(on_b[1], 1).outcome, adapter_outcome::retryable_failure);
  auto key_b = resilience::breaker_key{"isp1", "radius", "nas:127.0.0.2"};
  auto key_a = resilience::breaker_key{"isp1", "radius", "nas:127.0.0.1"};
  ASSERT_TRUE(breakers->find(key_b));
  EXPECT_EQ(breakers->find(key_b)->snapshot().state,
            resilience::breaker_state::open);
  // Now its subscribers park at once (nothing sent) ...
  auto received = b.stats().received;
  auto parked = dm(on_b[2], 1);
  EXPECT_EQ(parked.outcome, adapter_outcome::parked) << parked.error;
  EXPECT_GT(parked.retry_after_ms, 0);
  EXPECT_NE(parked.error.find("nas:127.0.0.2"), std::string::npos);
  EXPECT_EQ(b.stats().received, received);
  // ... while the healthy NAS's go on.
  for (size_t i = 1; i < on_a.size(); ++i) {
    auto res = dm(on_a[i], 1);
    EXPECT_EQ(res.outcome, adapter_outcome::succeeded) << res.error;
    EXPECT_EQ(res.outputs["disconnected"], "1");
  }
  EXPECT_EQ(breakers->find(key_a)->snapshot().state,
            resilience::breaker_state::closed);
  for (auto& u : on_a)
    EXPECT_EQ(open_sessions(u, 0), 0);
  b.stop();
}
