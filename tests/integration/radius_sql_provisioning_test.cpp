#include "adapters/postgres/migrations.hpp"
#include "adapters/postgres/partition_owners.hpp"
#include "adapters/radius/attributes.hpp"
#include "adapters/radius/observe.hpp"
#include "adapters/radius/provisioning.hpp"
#include "events/errc.hpp"
#include "tests/support/scratch_database.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

// SQL provisioning against real PostgreSQL: exact rows in FreeRADIUS's
// tables, idempotence, suspension by both policies, plan changes, session
// look-up. (FreeRADIUS itself is exercised in radius_sql_freeradius_test.)

using namespace ispflow;
using namespace ispflow::adapters::radius;

namespace {

plan gold() {
  plan p;
  p.id = "gold";
  p.download_kbps = 50000;
  p.upload_kbps = 10000;
  return p;
}

struct radius_sql_provisioning : ::testing::Test {
  ispflow::testing::scratch_database db;
  std::unique_ptr<store> sql;
  tenant_settings tenant;

  void SetUp() override {
    ASSERT_TRUE(adapters::postgres::apply_migrations(db.dsn()));
    sql = std::make_unique<store>(db.dsn());
    tenant.tenant_id = "acme";
    tenant.plans = {gold()};
    auto silver = gold();
    silver.id = "silver";
    silver.download_kbps = 20000;
    silver.upload_kbps = 5000;
    tenant.plans.push_back(silver);
    tenant.walled_garden = plan{"wg", 512, 256, "", "", "", ""};
    ASSERT_FALSE(sql->sync_plans(tenant));
  }

  account_spec alice(password_storage storage = password_storage::cleartext) {
    return {"acme",  "sub-1",     "alice",      "s3cret",
            storage, "acme.gold", "100.64.0.7", nullptr};
  }

  // Every row of `user` as "table|attribute|op|value" (or
  // "radusergroup|group|priority"), sorted.
  std::string rows(const std::string& user) {
    std::string out;
    for (const auto& r : db.query(
           "SELECT t || '|' || a FROM ("
           " SELECT 'radcheck' t, attribute || '|' || op || '|' || value a,"
           " id FROM radcheck WHERE username = '"
           + user
           + "'"
             " UNION ALL SELECT 'radreply', attribute || '|' || op || '|' ||"
             " value, id FROM radreply WHERE username = '"
           + user
           + "'"
             " UNION ALL SELECT 'radusergroup', groupname || '|' || priority,"
             " id FROM radusergroup WHERE username = '"
           + user
           + "') x"
             " ORDER BY 1"))
      out += *r[0] + "\n";
    return out;
  }

  // Row ids of `user`, to see that a repeat rewrote nothing.
  std::string ids(const std::string& user) {
    return db.value(
      "SELECT string_agg(x, ',' ORDER BY x) FROM ("
      " SELECT 'c' || id x FROM radcheck WHERE username = '"
      + user
      + "'"
        " UNION ALL SELECT 'r' || id FROM radreply WHERE username = '"
      + user
      + "' UNION ALL SELECT 'g' || id FROM radusergroup WHERE username = '"
      + user + "') y");
  }
};

} // namespace

TEST(radius_plan_attributes, mikrotik_rate_limit_is_upload_then_download) {
  auto rows = plan_reply_attributes(gold(), vendor::mikrotik);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front(),
            (sql_attribute{"Mikrotik-Rate-Limit", ":=", "10000k/50000k"}));
}

TEST(radius_plan_attributes, cisco_gets_both_sub_qos_policies_appended) {
  auto p = gold();
  p.policy_in = "UP-10M";
  p.policy_out = "DOWN-50M";
  auto rows = plan_reply_attributes(p, vendor::cisco);
  ASSERT_TRUE(rows);
  EXPECT_EQ(*rows,
            (std::vector<sql_attribute>{
              {"Cisco-AVPair", "+=", "ip:sub-qos-policy-in=UP-10M"},
              {"Cisco-AVPair", "+=", "ip:sub-qos-policy-out=DOWN-50M"}}));
}

TEST(radius_plan_attributes, juniper_gets_erx_policy_names) {
  auto p = gold();
  p.policy_in = "in-10m";
  p.policy_out = "out-50m";
  p.qos_profile = "gold-qos";
  auto rows = plan_reply_attributes(p, vendor::juniper);
  ASSERT_TRUE(rows);
  EXPECT_EQ(*rows, (std::vector<sql_attribute>{
                     {"ERX-Ingress-Policy-Name", ":=", "in-10m"},
                     {"ERX-Egress-Policy-Name", ":=", "out-50m"},
                     {"ERX-Qos-Profile-Name", ":=", "gold-qos"}}));
}

TEST(radius_plan_attributes, rejects_a_plan_missing_what_the_vendor_needs) {
  auto no_policy = plan_reply_attributes(gold(), vendor::cisco);
  ASSERT_FALSE(no_policy);
  EXPECT_EQ(no_policy.error(), errc::invalid_input);
  auto no_rate = gold();
  no_rate.upload_kbps = 0;
  EXPECT_FALSE(plan_reply_attributes(no_rate, vendor::mikrotik));
}

TEST(radius_passwords, hashed_forms_accept_only_the_password) {
  for (auto storage :
       {password_storage::ssha2_512, password_storage::crypt_sha512}) {
    auto a = password_check_item("s3cret", storage);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value.find("s3cret"), std::string::npos);
    EXPECT_TRUE(password_matches(*a, "s3cret")) << to_string(storage);
    EXPECT_FALSE(password_matches(*a, "s3cret!")) << to_string(storage);
    auto b = password_check_item("s3cret", storage);
    ASSERT_TRUE(b);
    EXPECT_NE(a->value, b->value) << "salts must differ";
  }
  auto crypt = password_check_item("pw", password_storage::crypt_sha512);
  ASSERT_TRUE(crypt);
  EXPECT_EQ(crypt->name, "Crypt-Password");
  EXPECT_EQ(crypt->value.rfind("$6$", 0), 0u);
  EXPECT_FALSE(password_check_item("", password_storage::cleartext));
}

TEST_F(radius_sql_provisioning, provision_writes_exactly_the_account_rows) {
  auto res = sql->provision(alice());
  ASSERT_TRUE(res) << render_error(res.error());
  EXPECT_TRUE(*res);
  EXPECT_EQ(rows("alice"), "radcheck|Cleartext-Password|:=|s3cret\n"
                           "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                           "radusergroup|acme.gold|1\n");
  EXPECT_EQ(db.value("SELECT plan_group || denied::text FROM radius_accounts"
                     " WHERE tenant_id = 'acme' AND subscriber_id = 'sub-1'"),
            "acme.goldfalse");
}

TEST_F(radius_sql_provisioning, repeating_provision_changes_nothing) {
  for (auto storage : {password_storage::cleartext, password_storage::ssha2_512,
                       password_storage::crypt_sha512}) {
    auto spec = alice(storage);
    ASSERT_TRUE(sql->provision(spec));
    auto before = ids("alice") + rows("alice");
    auto again = sql->provision(spec);
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again) << to_string(storage);
    EXPECT_EQ(ids("alice") + rows("alice"), before) << to_string(storage);
  }
}

TEST_F(radius_sql_provisioning, provision_replaces_a_stale_hash_and_auth_type) {
  ASSERT_TRUE(sql->provision(alice(password_storage::ssha2_512)));
  ASSERT_TRUE(sql->deny("alice", suspend_policy::reject, "walled_garden"));
  auto spec = alice(password_storage::ssha2_512);
  spec.password = "n3w";
  ASSERT_TRUE(sql->provision(spec));
  EXPECT_EQ(db.count("SELECT count(*) FROM radcheck WHERE username = 'alice'"),
            1);
  auto stored = db.query("SELECT attribute, op, value FROM radcheck"
                         " WHERE username = 'alice'");
  sql_attribute a{*stored[0][0], *stored[0][1], *stored[0][2]};
  EXPECT_EQ(a.name, "SSHA2-512-Password");
  EXPECT_TRUE(password_matches(a, "n3w"));
  EXPECT_FALSE(password_matches(a, "s3cret"));
}

TEST_F(radius_sql_provisioning, refuses_a_username_of_another_subscriber) {
  ASSERT_TRUE(sql->provision(alice()));
  auto other = alice();
  other.subscriber_id = "sub-2";
  auto res = sql->provision(other);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::invalid_input);
  EXPECT_EQ(db.value("SELECT subscriber_id FROM radius_accounts"
                     " WHERE username = 'alice'"),
            "sub-1");
}

// A first provision writes every row in one statement only when neither
// the username nor the subscriber has any yet; otherwise the general path
// decides, as before.
TEST_F(radius_sql_provisioning,
       a_first_provision_defers_to_rows_already_there) {
  // The subscriber already holds a username: a second one is refused.
  ASSERT_TRUE(sql->provision(alice()));
  auto second = alice();
  second.username = "alice2";
  auto res = sql->provision(second);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::invalid_input);
  EXPECT_THAT(render_error(res.error()),
              ::testing::HasSubstr("already has RADIUS"));
  EXPECT_EQ(rows("alice2"), "");
  // Rows written outside ispflow, without an account, are taken over:
  // replaced by exactly the account's rows.
  db.query("INSERT INTO radcheck (username, attribute, op, value)"
           " VALUES ('bob', 'Cleartext-Password', ':=', 'old'),"
           " ('bob', 'Simultaneous-Use', ':=', '1')");
  auto bob = alice();
  bob.subscriber_id = "sub-2";
  bob.username = "bob";
  res = sql->provision(bob);
  ASSERT_TRUE(res) << render_error(res.error());
  EXPECT_TRUE(*res);
  EXPECT_EQ(rows("bob"), "radcheck|Cleartext-Password|:=|s3cret\n"
                         "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                         "radusergroup|acme.gold|1\n");
  // A first provision without an address writes no radreply row.
  auto carol = alice();
  carol.subscriber_id = "sub-3";
  carol.username = "carol";
  carol.framed_ip.clear();
  ASSERT_TRUE(sql->provision(carol));
  EXPECT_EQ(rows("carol"), "radcheck|Cleartext-Password|:=|s3cret\n"
                           "radusergroup|acme.gold|1\n");
}

// A first provision looks for rows already there by index, whatever the
// statistics say. The session plans the function's look-ups while the
// tables are a page or two, never analyzed: a sequential scan of
// radusergroup is the cheapest way then, and the plan is kept as the
// table grows, reading every row of it on each activation (schema/0025).
TEST_F(radius_sql_provisioning, a_first_provision_reads_by_index_unanalyzed) {
  db.query("ALTER TABLE radusergroup SET (autovacuum_enabled = false)");
  pqxx::connection conn{db.dsn()};
  auto first_provision = [&](pqxx::transaction_base& tx,
                             const std::string& user) {
    return tx
      .exec_params1("SELECT outcome FROM ispflow_radius_first_provision("
                    "$1, 'acme', $1, 'Cleartext-Password', ':=', 's3cret',"
                    " '100.64.0.7', 'acme.gold', NULL, NULL, NULL, NULL, 0,"
                    " 0, 'node-a')",
                    user)[0]
      .as<std::string>();
  };
  // Past the five custom plans, to the generic one the session keeps.
  for (int i = 0; i < 6; ++i) {
    pqxx::nontransaction tx{conn};
    EXPECT_EQ(first_provision(tx, "early-" + std::to_string(i)), "written");
  }
  db.query("INSERT INTO radusergroup (username, groupname, priority)"
           " SELECT 'later-' || i, 'acme.gold', 1"
           " FROM generate_series(1, 5000) i");
  pqxx::work tx{conn};
  // This transaction's own scans, counted before they are reported.
  auto scans = [&tx] {
    auto row = tx.exec1("SELECT seq_scan, idx_scan FROM"
                        " pg_stat_xact_user_tables"
                        " WHERE relname = 'radusergroup'");
    return std::pair{row[0].as<int64_t>(), row[1].as<int64_t>()};
  };
  auto before = scans();
  EXPECT_EQ(first_provision(tx, "late"), "written");
  auto after = scans();
  EXPECT_EQ(after.first - before.first, 0) << "sequential scans";
  EXPECT_EQ(after.second - before.second, 1) << "index scans";
  tx.commit();
  EXPECT_EQ(rows("late"), "radcheck|Cleartext-Password|:=|s3cret\n"
                          "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                          "radusergroup|acme.gold|1\n");
}

// A provision batch answers each account as `provision` would; the first
// provisions among them share one transaction (their rows one xmin).
TEST_F(radius_sql_provisioning, a_provision_batch_answers_each_account) {
  ASSERT_TRUE(sql->provision(alice(password_storage::ssha2_512)));
  auto dave = alice(password_storage::ssha2_512);
  dave.username = "dave";
  dave.subscriber_id = "sub-d";
  ASSERT_TRUE(sql->provision(dave));
  // Usernames and subscribers distinct, as the adapter hands them over.
  std::vector<account_spec> specs;
  auto add = [&](const std::string& user, const std::string& sub) {
    auto spec = alice(password_storage::ssha2_512);
    spec.username = user;
    spec.subscriber_id = sub;
    specs.push_back(spec);
  };
  add("b0", "sub-b0");
  add("alice", "sub-1"); // a repeat: changes nothing
  add("b1", "sub-b1");
  add("dave", "sub-x");   // dave is sub-d's: refused
  add("b bad", "sub-b2"); // refused by check_username
  add("b3", "sub-b3");
  specs.back().framed_ip.clear();
  add("b4", "sub-d"); // sub-d has a username already: refused
  auto res = sql->provision_batch(specs);
  ASSERT_EQ(res.size(), specs.size());
  for (size_t i : {0, 2, 5}) {
    ASSERT_TRUE(res[i]) << i << ": " << render_error(res[i].error());
    EXPECT_TRUE(*res[i]) << i;
  }
  ASSERT_TRUE(res[1]) << render_error(res[1].error());
  EXPECT_FALSE(*res[1]);
  for (size_t i : {3, 4, 6}) {
    ASSERT_FALSE(res[i]) << i;
    EXPECT_EQ(res[i].error(), errc::invalid_input) << i;
  }
  EXPECT_THAT(render_error(res[6].error()),
              ::testing::HasSubstr("already has RADIUS"));
  // The same rows as `provision` writes, the password hashed.
  for (const auto& user : {"b0", "b1"}) {
    auto stored = db.query("SELECT attribute, op, value FROM radcheck"
                           " WHERE username = '"
                           + std::string{user} + "'");
    ASSERT_EQ(stored.size(), 1u) << user;
    sql_attribute a{*stored[0][0], *stored[0][1], *stored[0][2]};
    EXPECT_EQ(a.name, "SSHA2-512-Password");
    EXPECT_TRUE(password_matches(a, "s3cret"));
    EXPECT_EQ(db.value("SELECT groupname FROM radusergroup WHERE username = '"
                       + std::string{user} + "'"),
              "acme.gold");
    EXPECT_EQ(db.value("SELECT value FROM radreply WHERE username = '"
                       + std::string{user} + "'"),
              "100.64.0.7");
    EXPECT_EQ(db.value("SELECT password_value FROM radius_accounts WHERE"
                       " username = '"
                       + std::string{user} + "'"),
              a.value);
  }
  EXPECT_EQ(rows("b3").find("radreply"), std::string::npos);
  EXPECT_EQ(db.value("SELECT subscriber_id FROM radius_accounts"
                     " WHERE username = 'dave'"),
            "sub-d");
  EXPECT_EQ(db.count("SELECT count(*) FROM radius_accounts WHERE username IN"
                     " ('b bad', 'b4')"),
            0);
  EXPECT_EQ(db.count("SELECT count(DISTINCT xmin::text) FROM radius_accounts"
                     " WHERE username IN ('b0', 'b1', 'b3')"),
            1);
}

// A stale lease refuses its own account's first provision; the others of
// the batch are written.
TEST_F(radius_sql_provisioning, a_stale_lease_refuses_only_its_own_provision) {
  auto owners = adapters::postgres::partition_owners::connect(db.dsn());
  ASSERT_TRUE(owners) << render_error(owners.error());
  auto e3 = owners->claim("node-a", 3);
  auto e4 = owners->claim("node-a", 4);
  ASSERT_TRUE(e3 && e4);
  ASSERT_TRUE(owners->claim("node-b", 4));
  auto a = alice();
  a.lease = {"node-a", 3, *e3};
  auto b = alice();
  b.username = "bob";
  b.subscriber_id = "sub-2";
  b.lease = {"node-a", 4, *e4};
  auto res = sql->provision_batch({a, b});
  ASSERT_EQ(res.size(), 2u);
  ASSERT_TRUE(res[0]) << render_error(res[0].error());
  EXPECT_TRUE(*res[0]);
  ASSERT_FALSE(res[1]);
  EXPECT_EQ(res[1].error(), errc::stale_epoch);
  EXPECT_EQ(rows("bob"), "");
  EXPECT_NE(rows("alice"), "");
}

// A batch whose statement fails as a whole (here a trigger refuses one
// username's row) wrote nothing; each account then goes on its own, and
// only the refused one fails.
TEST_F(radius_sql_provisioning,
       a_failed_batch_statement_provisions_one_by_one) {
  db.query("CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS"
           " $$ BEGIN IF NEW.username = 'boom' THEN RAISE EXCEPTION"
           " 'refused by the test'; END IF; RETURN NEW; END $$");
  db.query("CREATE TRIGGER refuse_boom BEFORE INSERT ON radcheck FOR EACH ROW"
           " EXECUTE FUNCTION refuse_boom()");
  std::vector<account_spec> specs;
  for (const std::string user : {"c0", "boom", "c1"}) {
    auto spec = alice();
    spec.username = user;
    spec.subscriber_id = "sub-" + user;
    specs.push_back(spec);
  }
  auto res = sql->provision_batch(specs);
  ASSERT_EQ(res.size(), 3u);
  ASSERT_TRUE(res[0]) << render_error(res[0].error());
  EXPECT_TRUE(*res[0]);
  ASSERT_TRUE(res[2]) << render_error(res[2].error());
  EXPECT_TRUE(*res[2]);
  ASSERT_FALSE(res[1]);
  EXPECT_EQ(res[1].error(), errc::database_error);
  EXPECT_THAT(render_error(res[1].error()),
              ::testing::HasSubstr("refused by the test"));
  EXPECT_EQ(rows("boom"), "");
  EXPECT_EQ(db.count("SELECT count(*) FROM radius_accounts"), 2);
  // One by one: two commits.
  EXPECT_EQ(db.count("SELECT count(DISTINCT xmin::text) FROM radius_accounts"),
            2);
}

TEST_F(radius_sql_provisioning, refuses_an_invalid_framed_ip) {
  auto spec = alice();
  spec.framed_ip = "100.64.0.999";
  auto res = sql->provision(spec);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::invalid_input);
  EXPECT_EQ(rows("alice"), "");
}

TEST_F(radius_sql_provisioning, deny_by_reject_puts_auth_type_in_radcheck) {
  ASSERT_TRUE(sql->provision(alice()));
  auto res = sql->deny("alice", suspend_policy::reject, "walled_garden");
  ASSERT_TRUE(res);
  EXPECT_TRUE(*res);
  EXPECT_EQ(rows("alice"), "radcheck|Auth-Type|:=|Reject\n"
                           "radcheck|Cleartext-Password|:=|s3cret\n"
                           "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                           "radusergroup|acme.gold|1\n");
  EXPECT_EQ(db.count("SELECT count(*) FROM radreply WHERE attribute ="
                     " 'Auth-Type'"),
            0);
  auto before = ids("alice");
  auto again = sql->deny("alice", suspend_policy::reject, "walled_garden");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(ids("alice"), before);
  auto restored = sql->restore_plan("alice");
  ASSERT_TRUE(restored);
  EXPECT_TRUE(*restored);
  EXPECT_EQ(rows("alice"), "radcheck|Cleartext-Password|:=|s3cret\n"
                           "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                           "radusergroup|acme.gold|1\n");
  auto twice = sql->restore_plan("alice");
  ASSERT_TRUE(twice);
  EXPECT_FALSE(*twice);
}

TEST_F(radius_sql_provisioning, deny_by_walled_garden_swaps_the_group) {
  ASSERT_TRUE(sql->provision(alice()));
  ASSERT_TRUE(sql->deny("alice", suspend_policy::walled_garden, "acme.wg"));
  EXPECT_EQ(rows("alice"), "radcheck|Cleartext-Password|:=|s3cret\n"
                           "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                           "radusergroup|acme.wg|1\n");
  EXPECT_EQ(db.value("SELECT plan_group || denied::text FROM radius_accounts"
                     " WHERE username = 'alice'"),
            "acme.goldtrue");
  auto again = sql->deny("alice", suspend_policy::walled_garden, "acme.wg");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  ASSERT_TRUE(sql->restore_plan("alice"));
  EXPECT_EQ(rows("alice"), "radcheck|Cleartext-Password|:=|s3cret\n"
                           "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                           "radusergroup|acme.gold|1\n");
}

TEST_F(radius_sql_provisioning, deny_leaves_an_unknown_user_alone) {
  auto res = sql->deny("nobody", suspend_policy::reject, "walled_garden");
  ASSERT_TRUE(res);
  EXPECT_FALSE(*res);
  EXPECT_EQ(rows("nobody"), "");
}

// Many denies in one transaction: each is applied and answered as a single
// deny would be, a bad one fails alone.
TEST_F(radius_sql_provisioning, a_deny_batch_denies_each_user_on_its_own) {
  auto spec = [&](std::string sub, std::string user) {
    auto a = alice();
    a.subscriber_id = std::move(sub);
    a.username = std::move(user);
    return a;
  };
  ASSERT_TRUE(sql->provision(spec("sub-1", "u1")));
  ASSERT_TRUE(sql->provision(spec("sub-2", "u2")));
  ASSERT_TRUE(sql->provision(spec("sub-3", "u3")));
  ASSERT_TRUE(sql->provision(spec("sub-4", "u4")));
  ASSERT_TRUE(sql->deny("u3", suspend_policy::reject, "acme.wg"));
  auto wall = [](std::string user, std::string sub) {
    return deny_request{std::move(user), owner{"acme", std::move(sub)},
                        suspend_policy::walled_garden, "acme.wg"};
  };
  auto reject = [](std::string user, std::string sub) {
    return deny_request{std::move(user), owner{"acme", std::move(sub)},
                        suspend_policy::reject, ""};
  };
  auto res = sql->deny_batch({
    reject("", "sub-1"),   // by the subscriber's account
    wall("u2", "sub-2"),   // by username
    reject("", "sub-9"),   // no account
    reject("u4", "sub-5"), // another subscriber's username
    reject("", "sub-3"),   // already denied
  });
  ASSERT_TRUE(res) << render_error(res.error());
  ASSERT_EQ(res->size(), 5u);
  EXPECT_EQ((*res)[0].username, "u1");
  EXPECT_TRUE((*res)[0].changed);
  EXPECT_FALSE((*res)[0].error);
  EXPECT_TRUE((*res)[1].changed);
  EXPECT_EQ((*res)[2].username, "");
  EXPECT_FALSE((*res)[2].changed);
  EXPECT_FALSE((*res)[2].error);
  EXPECT_EQ((*res)[3].error, errc::invalid_input);
  EXPECT_FALSE((*res)[3].changed);
  EXPECT_EQ((*res)[4].username, "u3");
  EXPECT_FALSE((*res)[4].changed);
  EXPECT_EQ(rows("u1"), "radcheck|Auth-Type|:=|Reject\n"
                        "radcheck|Cleartext-Password|:=|s3cret\n"
                        "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                        "radusergroup|acme.gold|1\n");
  EXPECT_EQ(rows("u2"), "radcheck|Cleartext-Password|:=|s3cret\n"
                        "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                        "radusergroup|acme.wg|1\n");
  // The refused one is untouched.
  EXPECT_EQ(rows("u4"), "radcheck|Cleartext-Password|:=|s3cret\n"
                        "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                        "radusergroup|acme.gold|1\n");
  EXPECT_EQ(db.count("SELECT count(*) FROM radius_accounts WHERE denied"), 3);
}

// The batch's changes are written by one statement: a user named twice (by
// username and by its account) gets one Auth-Type row, not two.
TEST_F(radius_sql_provisioning,
       a_user_named_twice_in_a_deny_batch_changes_once) {
  ASSERT_TRUE(sql->provision(alice()));
  auto res = sql->deny_batch(
    {deny_request{"alice", owner{"acme", alice().subscriber_id},
                  suspend_policy::reject, ""},
     deny_request{"", owner{"acme", alice().subscriber_id},
                  suspend_policy::reject, ""}});
  ASSERT_TRUE(res) << render_error(res.error());
  ASSERT_EQ(res->size(), 2u);
  EXPECT_TRUE((*res)[0].changed);
  EXPECT_TRUE((*res)[1].changed);
  EXPECT_EQ(rows("alice"), "radcheck|Auth-Type|:=|Reject\n"
                           "radcheck|Cleartext-Password|:=|s3cret\n"
                           "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                           "radusergroup|acme.gold|1\n");
}

TEST_F(radius_sql_provisioning, set_plan_group_returns_the_replaced_group) {
  ASSERT_TRUE(sql->provision(alice()));
  auto prev = sql->set_plan_group("alice", "acme.silver", "saga-1/set/1");
  ASSERT_TRUE(prev);
  EXPECT_EQ(*prev, "acme.gold");
  EXPECT_NE(rows("alice").find("radusergroup|acme.silver|1"),
            std::string::npos);
  EXPECT_EQ(rows("alice").find("acme.gold"), std::string::npos);
  auto before = ids("alice");
  auto again = sql->set_plan_group("alice", "acme.silver", "saga-1/set/1");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, "acme.gold") << "a repeat reports the first previous group";
  EXPECT_EQ(ids("alice"), before);
  auto back = sql->set_plan_group("alice", "acme.gold", "saga-1/set/1#revert");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, "acme.silver");
  EXPECT_NE(rows("alice").find("radusergroup|acme.gold|1"), std::string::npos);
}

TEST_F(radius_sql_provisioning,
       set_plan_group_while_denied_applies_on_restore) {
  ASSERT_TRUE(sql->provision(alice()));
  ASSERT_TRUE(sql->deny("alice", suspend_policy::walled_garden, "acme.wg"));
  ASSERT_TRUE(sql->set_plan_group("alice", "acme.silver", "k"));
  EXPECT_NE(rows("alice").find("radusergroup|acme.wg|1"), std::string::npos);
  ASSERT_TRUE(sql->restore_plan("alice"));
  EXPECT_NE(rows("alice").find("radusergroup|acme.silver|1"),
            std::string::npos);
}

// A write made for a saga under a partition lease commits only while its
// instance holds the partition at that epoch: an instance paused while
// another took the partition over (and may have moved the subscriber on)
// writes nothing when it resumes.
TEST_F(radius_sql_provisioning,
       a_write_under_a_lease_claimed_over_writes_nothing) {
  auto owners = adapters::postgres::partition_owners::connect(db.dsn());
  ASSERT_TRUE(owners) << render_error(owners.error());
  auto e1 = owners->claim("node-a", 3);
  ASSERT_TRUE(e1) << render_error(e1.error());
  auto spec = alice();
  spec.lease = {"node-a", 3, *e1};
  ASSERT_TRUE(sql->provision(spec));
  auto provisioned = rows("alice");
  auto e2 = owners->claim("node-b", 3);
  ASSERT_TRUE(e2) << render_error(e2.error());
  owner stale{"acme", "sub-1", {"node-a", 3, *e1}};
  auto deny = sql->deny("alice", suspend_policy::reject, "", stale);
  ASSERT_FALSE(deny);
  EXPECT_EQ(deny.error(), errc::stale_epoch);
  EXPECT_NE(render_error(deny.error()).find("node-b holds epoch 2"),
            std::string::npos)
    << render_error(deny.error());
  auto group = sql->set_plan_group("alice", "acme.silver", "k", stale);
  ASSERT_FALSE(group);
  EXPECT_EQ(group.error(), errc::stale_epoch);
  auto gone = sql->deprovision("alice", stale);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error(), errc::stale_epoch);
  EXPECT_EQ(rows("alice"), provisioned);
  EXPECT_EQ(db.value("SELECT plan_group || denied::text FROM radius_accounts"),
            "acme.goldfalse");
  // A partition nobody claimed refuses as well; the new owner writes.
  EXPECT_EQ(sql
              ->deny("alice", suspend_policy::reject, "",
                     owner{"acme", "sub-1", {"node-b", 7, 1}})
              .error(),
            errc::stale_epoch);
  auto ok = sql->deny("alice", suspend_policy::reject, "",
                      owner{"acme", "sub-1", {"node-b", 3, *e2}});
  ASSERT_TRUE(ok) << render_error(ok.error());
  EXPECT_TRUE(*ok);
  EXPECT_NE(rows("alice").find("Auth-Type|:=|Reject"), std::string::npos);
}

// A username's first provision is one statement (schema/0021) that checks
// the fence itself: under a lease claimed over, or a partition nobody
// claimed, it writes no row and names who holds the partition; under the
// current lease it writes them all.
TEST_F(radius_sql_provisioning,
       a_first_provision_under_a_stale_lease_writes_nothing) {
  auto owners = adapters::postgres::partition_owners::connect(db.dsn());
  ASSERT_TRUE(owners) << render_error(owners.error());
  auto e1 = owners->claim("node-a", 5);
  ASSERT_TRUE(e1) << render_error(e1.error());
  auto e2 = owners->claim("node-b", 5);
  ASSERT_TRUE(e2) << render_error(e2.error());
  auto spec = alice();
  spec.lease = {"node-a", 5, *e1};
  auto stale = sql->provision(spec);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error(), errc::stale_epoch);
  EXPECT_NE(render_error(stale.error())
              .find("partition 5 written under epoch " + std::to_string(*e1)
                    + ", but node-b holds epoch " + std::to_string(*e2)),
            std::string::npos)
    << render_error(stale.error());
  spec.lease = {"node-a", 6, 1};
  auto unclaimed = sql->provision(spec);
  ASSERT_FALSE(unclaimed);
  EXPECT_NE(render_error(unclaimed.error()).find("nobody claimed it"),
            std::string::npos)
    << render_error(unclaimed.error());
  EXPECT_EQ(rows("alice"), "");
  EXPECT_EQ(db.value("SELECT count(*) FROM radius_accounts"), "0");
  spec.lease = {"node-b", 5, *e2};
  auto ok = sql->provision(spec);
  ASSERT_TRUE(ok) << render_error(ok.error());
  EXPECT_TRUE(*ok);
  EXPECT_EQ(db.value("SELECT username || plan_group FROM radius_accounts"),
            "aliceacme.gold");
  EXPECT_EQ(rows("alice"), "radcheck|Cleartext-Password|:=|s3cret\n"
                           "radreply|Framed-IP-Address|:=|100.64.0.7\n"
                           "radusergroup|acme.gold|1\n");
}

// One stale lease in a deny batch refuses the whole batch: nothing is
// written, and every deny of it may be retried.
TEST_F(radius_sql_provisioning, one_stale_lease_refuses_a_whole_deny_batch) {
  auto owners = adapters::postgres::partition_owners::connect(db.dsn());
  ASSERT_TRUE(owners) << render_error(owners.error());
  auto e3 = owners->claim("node-a", 3);
  auto e4 = owners->claim("node-a", 4);
  ASSERT_TRUE(e3 && e4);
  auto second = alice();
  second.subscriber_id = "sub-2";
  second.username = "bob";
  ASSERT_TRUE(sql->provision(alice()));
  ASSERT_TRUE(sql->provision(second));
  ASSERT_TRUE(owners->claim("node-b", 4));
  auto res = sql->deny_batch(
    {deny_request{"alice", owner{"acme", "sub-1", {"node-a", 3, *e3}},
                  suspend_policy::reject, ""},
     deny_request{"bob", owner{"acme", "sub-2", {"node-a", 4, *e4}},
                  suspend_policy::reject, ""}});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::stale_epoch);
  EXPECT_EQ(db.count("SELECT count(*) FROM radius_accounts WHERE denied"), 0);
  EXPECT_EQ(db.count("SELECT count(*) FROM radcheck WHERE attribute ="
                     " 'Auth-Type'"),
            0);
}

TEST_F(radius_sql_provisioning, deprovision_removes_every_row_of_the_user) {
  ASSERT_TRUE(sql->provision(alice()));
  ASSERT_TRUE(sql->deny("alice", suspend_policy::reject, "walled_garden"));
  auto res = sql->deprovision("alice");
  ASSERT_TRUE(res);
  EXPECT_TRUE(*res);
  EXPECT_EQ(rows("alice"), "");
  EXPECT_EQ(db.count("SELECT count(*) FROM radius_accounts"), 0);
  auto again = sql->deprovision("alice");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_GT(db.count("SELECT count(*) FROM radgroupreply"), 0)
    << "plan groups stay";
}

TEST_F(radius_sql_provisioning, the_account_keeps_the_hashed_password_row) {
  for (auto storage :
       {password_storage::ssha2_512, password_storage::crypt_sha512}) {
    ASSERT_TRUE(sql->provision(alice(storage)));
    // Exactly the radcheck row, attribute, op and hashed value.
    EXPECT_EQ(db.value("SELECT password_attribute || '|' || password_op ||"
                       " '|' || password_value FROM radius_accounts"
                       " WHERE username = 'alice'"),
              db.value("SELECT attribute || '|' || op || '|' || value"
                       " FROM radcheck WHERE username = 'alice'"))
      << to_string(storage);
    auto again = sql->provision(alice(storage));
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again) << to_string(storage);
  }
  // Cleartext: nothing kept (a re-provision in cleartext drops the hash).
  ASSERT_TRUE(sql->provision(alice(password_storage::cleartext)));
  EXPECT_EQ(db.count("SELECT count(*) FROM radius_accounts"
                     " WHERE password_attribute IS NULL"
                     " AND password_op IS NULL AND password_value IS NULL"),
            1);
  observer obs{db.dsn()};
  auto seen = obs.observe({"alice"});
  ASSERT_TRUE(seen);
  EXPECT_FALSE(seen->at("alice").stored_password);
  ASSERT_TRUE(sql->provision(alice(password_storage::ssha2_512)));
  seen = obs.observe({"alice"});
  ASSERT_TRUE(seen);
  EXPECT_TRUE(seen->at("alice").stored_password);
  EXPECT_TRUE(seen->at("alice").has_password);
}

TEST_F(radius_sql_provisioning, restore_credentials_puts_the_password_back) {
  ASSERT_TRUE(sql->provision(alice(password_storage::ssha2_512)));
  ASSERT_TRUE(sql->deny("alice", suspend_policy::reject, "walled_garden"));
  auto before = rows("alice");
  // Deleted behind ispflow's back: the password row only.
  db.query("DELETE FROM radcheck WHERE username = 'alice'"
           " AND attribute = 'SSHA2-512-Password'");
  observer obs{db.dsn()};
  auto seen = obs.observe({"alice"});
  ASSERT_TRUE(seen);
  EXPECT_FALSE(seen->at("alice").has_password);
  EXPECT_TRUE(seen->at("alice").stored_password);
  // Another subscriber's call writes nothing.
  auto foreign = sql->restore_credentials("alice", owner{"acme", "sub-2"});
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error(), errc::invalid_input);
  EXPECT_EQ(db.count("SELECT count(*) FROM radcheck WHERE username = 'alice'"
                     " AND attribute LIKE '%-Password'"),
            0);
  auto res = sql->restore_credentials("alice", owner{"acme", "sub-1"});
  ASSERT_TRUE(res) << render_error(res.error());
  EXPECT_TRUE(*res);
  EXPECT_EQ(rows("alice"), before) << "the deny stays";
  auto stored = db.query("SELECT attribute, op, value FROM radcheck"
                         " WHERE username = 'alice'"
                         " AND attribute = 'SSHA2-512-Password'");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_TRUE(password_matches(
    sql_attribute{*stored[0][0], *stored[0][1], *stored[0][2]}, "s3cret"));
  auto again = sql->restore_credentials("alice", owner{"acme", "sub-1"});
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(rows("alice"), before);
  // Every row gone: only the password comes back (the group is
  // restore_plan's).
  db.query("DELETE FROM radcheck WHERE username = 'alice'");
  db.query("DELETE FROM radusergroup WHERE username = 'alice'");
  ASSERT_TRUE(sql->restore_credentials("alice", owner{"acme", "sub-1"}));
  EXPECT_EQ(db.count("SELECT count(*) FROM radcheck WHERE username = 'alice'"),
            1);
  EXPECT_EQ(db.count("SELECT count(*) FROM radusergroup"
                     " WHERE username = 'alice'"),
            0);
}

TEST_F(radius_sql_provisioning, restore_credentials_needs_a_stored_hash) {
  // Cleartext storage keeps nothing to restore from.
  ASSERT_TRUE(sql->provision(alice(password_storage::cleartext)));
  db.query("DELETE FROM radcheck WHERE username = 'alice'");
  auto res = sql->restore_credentials("alice", owner{"acme", "sub-1"});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::invalid_input);
  EXPECT_NE(render_error(res.error()).find("no stored password hash"),
            std::string::npos);
  EXPECT_EQ(db.count("SELECT count(*) FROM radcheck WHERE username = 'alice'"),
            0);
  // An account provisioned before the hash was kept: the same.
  ASSERT_TRUE(sql->provision(alice(password_storage::ssha2_512)));
  auto hash = db.value("SELECT value FROM radcheck WHERE username = 'alice'");
  db.query("UPDATE radius_accounts SET password_attribute = NULL,"
           " password_op = NULL, password_value = NULL");
  db.query("DELETE FROM radcheck WHERE username = 'alice'");
  res = sql->restore_credentials("alice", owner{"acme", "sub-1"});
  ASSERT_FALSE(res);
  EXPECT_EQ(render_error(res.error()).find(hash), std::string::npos)
    << "never the hash";
  // Nobody's username: nothing to restore.
  res = sql->restore_credentials("bob", owner{"acme", "sub-1"});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::invalid_input);
  // The schema refuses a kept cleartext password.
  EXPECT_ANY_THROW(db.query(
    "UPDATE radius_accounts SET password_attribute ="
    " 'Cleartext-Password', password_op = ':=', password_value = 'x'"));
}

TEST_F(radius_sql_provisioning, sync_plans_writes_groups_and_the_plans_table) {
  EXPECT_EQ(db.value("SELECT string_agg(groupname || ' ' || attribute || ' '"
                     " || op || ' ' || value, ';' ORDER BY groupname)"
                     " FROM radgroupreply"),
            "acme.gold Mikrotik-Rate-Limit := 10000k/50000k;"
            "acme.silver Mikrotik-Rate-Limit := 5000k/20000k;"
            "walled_garden Mikrotik-Rate-Limit := 256k/512k");
  EXPECT_EQ(db.value("SELECT radius_group || ' ' || (attributes->>"
                     "'download_kbps') || ' ' || (attributes->'reply'->0->>"
                     "'value') FROM plans WHERE tenant_id = 'acme' AND id ="
                     " 'gold'"),
            "acme.gold 50000 10000k/50000k");
  auto stamp = db.value("SELECT string_agg(updated_at::text || "
                        "radius_group, ',') FROM plans");
  auto ids_before = db.value("SELECT string_agg(id::text, ',' ORDER BY id)"
                             " FROM radgroupreply");
  ASSERT_FALSE(sql->sync_plans(tenant));
  EXPECT_EQ(db.value("SELECT string_agg(updated_at::text || radius_group, ',')"
                     " FROM plans"),
            stamp);
  EXPECT_EQ(db.value("SELECT string_agg(id::text, ',' ORDER BY id)"
                     " FROM radgroupreply"),
            ids_before);
}

TEST_F(radius_sql_provisioning, open_sessions_come_with_their_nas) {
  ASSERT_TRUE(sql->provision(alice()));
  db.query("INSERT INTO nas (nasname, shortname, type, ports, secret)"
           " VALUES ('192.0.2.1', 'bng1', 'mikrotik', 3799, 'nas-secret');"
           "INSERT INTO radacct (acctsessionid, acctuniqueid, username,"
           " nasipaddress, nasportid, framedipaddress, acctstarttime)"
           " VALUES ('s-1', 'u-1', 'alice', '192.0.2.1', 'pppoe-1',"
           " '100.64.0.7', now()),"
           " ('s-0', 'u-0', 'alice', '192.0.2.1', NULL, NULL, now());"
           "UPDATE radacct SET acctstoptime = now() WHERE acctsessionid ="
           " 's-0'");
  auto sessions = sql->open_sessions("alice");
  ASSERT_TRUE(sessions) << render_error(sessions.error());
  ASSERT_EQ(sessions->size(), 1u);
  const auto& s = sessions->front();
  EXPECT_EQ(s.nas_address, "192.0.2.1");
  EXPECT_EQ(s.acct_session_id, "s-1");
  EXPECT_EQ(s.framed_ip, "100.64.0.7");
  EXPECT_EQ(s.nas_port_id, "pppoe-1");
  EXPECT_EQ(s.nas_secret, "nas-secret");
  EXPECT_EQ(s.coa_port, 3799);
  EXPECT_EQ(s.nas_type, "mikrotik");
  auto n = sql->count_open_sessions("alice");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1);
}

TEST_F(radius_sql_provisioning, refuses_a_session_on_a_nas_missing_from_nas) {
  db.query("INSERT INTO radacct (acctsessionid, acctuniqueid, username,"
           " nasipaddress, acctstarttime) VALUES ('s-9', 'u-9', 'bob',"
           " '198.51.100.9', now())");
  auto sessions = sql->open_sessions("bob");
  ASSERT_FALSE(sessions);
  EXPECT_EQ(sessions.error(), errc::invalid_input);
  EXPECT_NE(render_error(sessions.error()).find("198.51.100.9"),
            std::string::npos);
}

TEST(radius_sql_store, an_unreachable_database_is_unavailable) {
  store sql{"host=127.0.0.1 port=1 dbname=none connect_timeout=2"};
  auto res = sql.deprovision("alice");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::database_unavailable);
}
