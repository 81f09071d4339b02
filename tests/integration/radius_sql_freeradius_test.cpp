#include "adapters/postgres/migrations.hpp"
#include "adapters/radius/attributes.hpp"
#include "adapters/radius/provisioning.hpp"
#include "common/hex.hpp"
#include "events/errc.hpp"
#include "tests/integration/radius_sql_support.hpp"
#include "tests/support/scratch_database.hpp"

#include <array>
#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <openssl/evp.h>
#include <openssl/sha.h>

// Provisioning checked by real FreeRADIUS 3.2 (deploy/local/freeradius.sh)
// reading the rows from PostgreSQL: Access-Accept with Framed-IP-Address and
// the plan's vendor attributes, hashed passwords through PAP, both
// suspension policies, plan change, deprovision.

using namespace ispflow;
using namespace ispflow::adapters::radius;
using ispflow::testing::access_request;

namespace {

constexpr int auth_port = 21815;

plan make_plan(std::string id, uint32_t down, uint32_t up) {
  plan p;
  p.id = std::move(id);
  p.download_kbps = down;
  p.upload_kbps = up;
  p.policy_in = p.id + "-in";
  p.policy_out = p.id + "-out";
  p.qos_profile = p.id + "-qos";
  return p;
}

tenant_settings make_tenant(std::string id, vendor v) {
  tenant_settings t;
  t.tenant_id = std::move(id);
  t.nas_vendor = v;
  t.walled_garden_group = t.tenant_id + ".walled";
  t.walled_garden = make_plan("walled", 1024, 512);
  t.plans = {make_plan("gold", 50000, 10000), make_plan("silver", 20000, 5000)};
  return t;
}

// An SSHA2-512-Password as versions before schema 0022 wrote it:
// base64(SHA-512(password || salt) || salt), with the first salt (counting
// up from 0) whose value begins with "0x" or "0X" (`reads_as_hex`), or does
// not. `raw` receives the octets.
std::string base64_ssha512(const std::string& password, bool reads_as_hex,
                           std::string& raw) {
  for (uint32_t n = 0;; ++n) {
    std::string salt(16, '\0');
    for (size_t i = 0; i < 4; ++i)
      salt[i] = static_cast<char>(n >> (8 * i));
    auto input = password + salt;
    std::array<unsigned char, SHA512_DIGEST_LENGTH> digest{};
    SHA512(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
           digest.data());
    raw.assign(reinterpret_cast<const char*>(digest.data()), digest.size());
    raw += salt;
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    auto k = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                             reinterpret_cast<const unsigned char*>(raw.data()),
                             static_cast<int>(raw.size()));
    out.resize(static_cast<size_t>(k));
    bool hex_like = out[0] == '0' && (out[1] == 'x' || out[1] == 'X');
    if (hex_like == reads_as_hex)
      return out;
  }
}

// One database and one FreeRADIUS for the whole suite; each test uses its
// own usernames.
struct radius_sql_freeradius : ::testing::Test {
  static inline std::unique_ptr<ispflow::testing::scratch_database> db;
  static inline std::unique_ptr<ispflow::testing::freeradius_server> radius;
  std::unique_ptr<store> sql;

  static void SetUpTestSuite() {
    db = std::make_unique<ispflow::testing::scratch_database>();
    if (!adapters::postgres::apply_migrations(db->dsn()))
      return;
    store setup{db->dsn()};
    for (auto v : {vendor::mikrotik, vendor::cisco, vendor::juniper})
      if (setup.sync_plans(make_tenant(std::string{to_string(v)}, v)))
        return;
    radius = std::make_unique<ispflow::testing::freeradius_server>(db->dsn(),
                                                                   auth_port);
  }

  static void TearDownTestSuite() {
    radius.reset();
    db.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(radius) << "migrations or plan sync failed";
    ASSERT_TRUE(radius->ok()) << radius->log_tail();
    sql = std::make_unique<store>(db->dsn());
  }

  void provision(const std::string& tenant, const std::string& user,
                 password_storage storage = password_storage::cleartext,
                 const std::string& plan_id = "gold") {
    account_spec spec{tenant,       "sub-" + user, user,
                      "pw-" + user, storage,       tenant + "." + plan_id,
                      "100.64.1.2", nullptr};
    auto res = sql->provision(spec);
    ASSERT_TRUE(res) << render_error(res.error());
  }
};

} // namespace

TEST_F(radius_sql_freeradius, provisioned_user_gets_framed_ip_and_rate) {
  provision("mikrotik", "mt1");
  auto ans = access_request(auth_port, "mt1", "pw-mt1");
  EXPECT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.first("Framed-IP-Address"), "100.64.1.2");
  EXPECT_EQ(ans.first("Mikrotik-Rate-Limit"), "10000k/50000k");
  EXPECT_EQ(access_request(auth_port, "mt1", "wrong").code, "Access-Reject");
}

TEST_F(radius_sql_freeradius, cleartext_password_also_authenticates_chap) {
  provision("mikrotik", "chap1");
  auto ans = access_request(auth_port, "chap1", "pw-chap1", true);
  EXPECT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.first("Mikrotik-Rate-Limit"), "10000k/50000k");
}

TEST_F(radius_sql_freeradius, ssha2_512_password_authenticates_with_pap) {
  provision("mikrotik", "ssha1", password_storage::ssha2_512);
  EXPECT_EQ(db->value("SELECT attribute FROM radcheck WHERE username ="
                      " 'ssha1'"),
            "SSHA2-512-Password");
  auto ans = access_request(auth_port, "ssha1", "pw-ssha1");
  EXPECT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.first("Framed-IP-Address"), "100.64.1.2");
  EXPECT_EQ(access_request(auth_port, "ssha1", "pw-ssha2").code,
            "Access-Reject");
}

TEST_F(radius_sql_freeradius, sha512_crypt_password_authenticates_with_pap) {
  provision("mikrotik", "crypt1", password_storage::crypt_sha512);
  EXPECT_EQ(db->value("SELECT attribute FROM radcheck WHERE username ="
                      " 'crypt1'"),
            "Crypt-Password");
  EXPECT_EQ(access_request(auth_port, "crypt1", "pw-crypt1").code,
            "Access-Accept");
  EXPECT_EQ(access_request(auth_port, "crypt1", "pw-crypt").code,
            "Access-Reject");
}

TEST_F(radius_sql_freeradius, cisco_plan_sends_both_sub_qos_policies) {
  provision("cisco", "isg1");
  auto ans = access_request(auth_port, "isg1", "pw-isg1");
  ASSERT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.attributes["Cisco-AVPair"],
            (std::vector<std::string>{"ip:sub-qos-policy-in=gold-in",
                                      "ip:sub-qos-policy-out=gold-out"}));
  EXPECT_EQ(ans.first("Framed-IP-Address"), "100.64.1.2");
}

TEST_F(radius_sql_freeradius, juniper_plan_sends_erx_policies) {
  provision("juniper", "erx1");
  auto ans = access_request(auth_port, "erx1", "pw-erx1");
  ASSERT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.first("ERX-Ingress-Policy-Name"), "gold-in");
  EXPECT_EQ(ans.first("ERX-Egress-Policy-Name"), "gold-out");
  EXPECT_EQ(ans.first("ERX-Qos-Profile-Name"), "gold-qos");
}

TEST_F(radius_sql_freeradius, reject_policy_denies_and_restore_readmits) {
  provision("mikrotik", "rej1");
  ASSERT_TRUE(sql->deny("rej1", suspend_policy::reject, "mikrotik.walled"));
  EXPECT_EQ(access_request(auth_port, "rej1", "pw-rej1").code, "Access-Reject");
  ASSERT_TRUE(sql->restore_plan("rej1"));
  auto ans = access_request(auth_port, "rej1", "pw-rej1");
  EXPECT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.first("Mikrotik-Rate-Limit"), "10000k/50000k");
}

TEST_F(radius_sql_freeradius, walled_garden_policy_gives_the_walled_rate) {
  provision("mikrotik", "wg1");
  ASSERT_TRUE(
    sql->deny("wg1", suspend_policy::walled_garden, "mikrotik.walled"));
  auto walled = access_request(auth_port, "wg1", "pw-wg1");
  EXPECT_EQ(walled.code, "Access-Accept");
  EXPECT_EQ(walled.first("Mikrotik-Rate-Limit"), "512k/1024k");
  ASSERT_TRUE(sql->restore_plan("wg1"));
  EXPECT_EQ(
    access_request(auth_port, "wg1", "pw-wg1").first("Mikrotik-Rate-Limit"),
    "10000k/50000k");
}

TEST_F(radius_sql_freeradius, set_plan_group_gives_the_new_rate) {
  provision("mikrotik", "chg1");
  auto prev = sql->set_plan_group("chg1", "mikrotik.silver", "k1");
  ASSERT_TRUE(prev);
  EXPECT_EQ(*prev, "mikrotik.gold");
  auto ans = access_request(auth_port, "chg1", "pw-chg1");
  EXPECT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.first("Mikrotik-Rate-Limit"), "5000k/20000k");
  EXPECT_EQ(ans.attributes["Mikrotik-Rate-Limit"].size(), 1u);
}

TEST_F(radius_sql_freeradius, deprovisioned_user_is_gone_and_rejected) {
  provision("mikrotik", "gone1");
  ASSERT_EQ(access_request(auth_port, "gone1", "pw-gone1").code,
            "Access-Accept");
  ASSERT_TRUE(sql->deprovision("gone1"));
  EXPECT_EQ(db->count("SELECT (SELECT count(*) FROM radcheck WHERE username ="
                      " 'gone1') + (SELECT count(*) FROM radreply WHERE"
                      " username = 'gone1') + (SELECT count(*) FROM"
                      " radusergroup WHERE username = 'gone1')"),
            0);
  EXPECT_EQ(access_request(auth_port, "gone1", "pw-gone1").code,
            "Access-Reject");
}

TEST_F(radius_sql_freeradius, restored_credentials_authenticate_again) {
  provision("mikrotik", "lost1", password_storage::ssha2_512);
  ASSERT_EQ(access_request(auth_port, "lost1", "pw-lost1").code,
            "Access-Accept");
  // An engineer deletes the user's radcheck rows.
  db->query("DELETE FROM radcheck WHERE username = 'lost1'");
  ASSERT_EQ(access_request(auth_port, "lost1", "pw-lost1").code,
            "Access-Reject");
  auto res = sql->restore_credentials("lost1", owner{"mikrotik", "sub-lost1"});
  ASSERT_TRUE(res) << render_error(res.error());
  EXPECT_TRUE(*res);
  auto ans = access_request(auth_port, "lost1", "pw-lost1");
  EXPECT_EQ(ans.code, "Access-Accept");
  EXPECT_EQ(ans.first("Mikrotik-Rate-Limit"), "10000k/50000k");
  EXPECT_EQ(access_request(auth_port, "lost1", "pw-lost2").code,
            "Access-Reject");
}

TEST_F(radius_sql_freeradius, repeated_operations_keep_the_same_answer) {
  provision("mikrotik", "rep1", password_storage::ssha2_512);
  provision("mikrotik", "rep1", password_storage::ssha2_512);
  ASSERT_TRUE(sql->deny("rep1", suspend_policy::reject, "mikrotik.walled"));
  ASSERT_TRUE(sql->deny("rep1", suspend_policy::reject, "mikrotik.walled"));
  EXPECT_EQ(db->count("SELECT count(*) FROM radcheck WHERE username = 'rep1'"),
            2);
  EXPECT_EQ(access_request(auth_port, "rep1", "pw-rep1").code, "Access-Reject");
  ASSERT_TRUE(sql->restore_plan("rep1"));
  ASSERT_TRUE(sql->restore_plan("rep1"));
  EXPECT_EQ(access_request(auth_port, "rep1", "pw-rep1").code, "Access-Accept");
}

// A server that cannot bind its ports is not started, even though the
// server holding them answers Status-Server there: a test must never talk
// to another suite's FreeRADIUS (and its database) by mistake.
TEST_F(radius_sql_freeradius, a_start_on_ports_another_server_holds_fails) {
  ispflow::testing::freeradius_server second{db->dsn(), auth_port};
  EXPECT_FALSE(second.ok()) << second.log_tail();
  // The suite's server goes on answering.
  provision("mikrotik", "busy1");
  EXPECT_EQ(access_request(auth_port, "busy1", "pw-busy1").code,
            "Access-Accept");
}

// FreeRADIUS reads the text of an octets attribute as hex when it begins
// with "0x": a base64 hash beginning so (one salt in 2,048) made every
// login of its account fail. Schema 0022 writes those as hex, in radcheck
// and in the copy drift repair restores; other base64 hashes stay.
TEST_F(radius_sql_freeradius, schema_0022_mends_a_base64_hash_read_as_hex) {
  provision("mikrotik", "b64x", password_storage::ssha2_512);
  provision("mikrotik", "b64ok", password_storage::ssha2_512);
  std::string raw_x, raw_ok;
  auto old_x = base64_ssha512("pw-b64x", true, raw_x);
  auto old_ok = base64_ssha512("pw-b64ok", false, raw_ok);
  // What a version before 0022 could have written.
  auto write = [&](const std::string& user, const std::string& value) {
    db->query("UPDATE radcheck SET value = '" + value
              + "' WHERE attribute = 'SSHA2-512-Password' AND username = '"
              + user + "'; UPDATE radius_accounts SET password_value = '"
              + value + "' WHERE username = '" + user + "'");
  };
  write("b64x", old_x);
  write("b64ok", old_ok);
  EXPECT_EQ(access_request(auth_port, "b64x", "pw-b64x").code, "Access-Reject");
  EXPECT_EQ(access_request(auth_port, "b64ok", "pw-b64ok").code,
            "Access-Accept");
  // Provisioning reads the hashes as FreeRADIUS does.
  EXPECT_FALSE(
    password_matches({"SSHA2-512-Password", ":=", old_x}, "pw-b64x"));
  EXPECT_TRUE(
    password_matches({"SSHA2-512-Password", ":=", old_ok}, "pw-b64ok"));
  const adapters::postgres::migration* mend = nullptr;
  for (const auto& m : adapters::postgres::embedded_migrations())
    if (m.name == "0022_radius_ssha_hex.sql")
      mend = &m;
  ASSERT_NE(mend, nullptr);
  db->query(mend->sql);
  auto stored = [&](const std::string& user) {
    return db->value("SELECT value FROM radcheck WHERE username = '" + user
                     + "' AND attribute = 'SSHA2-512-Password'")
           + " "
           + db->value("SELECT password_value FROM radius_accounts"
                       " WHERE username = '"
                       + user + "'");
  };
  auto hex_x = "0x" + common::hex_encode(raw_x);
  EXPECT_EQ(stored("b64x"), hex_x + " " + hex_x);
  EXPECT_EQ(stored("b64ok"), old_ok + " " + old_ok);
  EXPECT_EQ(access_request(auth_port, "b64x", "pw-b64x").code, "Access-Accept");
  EXPECT_EQ(access_request(auth_port, "b64x", "pw-b64ok").code,
            "Access-Reject");
  EXPECT_EQ(access_request(auth_port, "b64ok", "pw-b64ok").code,
            "Access-Accept");
  // Run again, it changes nothing.
  db->query(mend->sql);
  EXPECT_EQ(stored("b64x"), hex_x + " " + hex_x);
  // Such a value written after 0022 ran (by an instance of an earlier
  // version during an upgrade) is mended when the account is provisioned
  // again: the stored row accepts no password, so it is written anew.
  write("b64x", old_x);
  provision("mikrotik", "b64x", password_storage::ssha2_512);
  auto now = db->value("SELECT value FROM radcheck WHERE username = 'b64x'"
                       " AND attribute = 'SSHA2-512-Password'");
  EXPECT_EQ(now.substr(0, 2), "0x");
  EXPECT_EQ(now.size(), 162u);
  EXPECT_NE(now, hex_x) << "a fresh salt";
  EXPECT_EQ(access_request(auth_port, "b64x", "pw-b64x").code, "Access-Accept");
}
