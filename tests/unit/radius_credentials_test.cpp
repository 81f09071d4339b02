#include "adapters/radius/attributes.hpp"
#include "adapters/radius/provisioning.hpp"
#include "adapters/radius/settings.hpp"
#include "common/config.hpp"
#include "common/hex.hpp"
#include "events/errc.hpp"

#include <cctype>
#include <cstdio>
#include <fstream>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <regex>
#include <string>
#include <unistd.h>

// What ispflow lets reach FreeRADIUS's tables: the username rule, the
// password rules per storage, hashed storage as the default, and the
// per-NAS Message-Authenticator setting of the configuration.

using namespace ispflow;
using namespace ispflow::adapters::radius;

namespace {

std::string refusal(const caf::error& err) {
  return err ? render_error(err) : std::string{};
}

std::string to_base64(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(raw.data()),
                           static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

} // namespace

TEST(radius_credentials, usernames_of_the_documented_rule_pass) {
  for (const char* ok :
       {"u", "act1", "sub-00001@demo.example", "John.Doe_2@isp.example.net",
        "0123456789", "a-b_c.d"}) {
    EXPECT_FALSE(check_username(ok))
      << ok << ": " << refusal(check_username(ok));
  }
  EXPECT_FALSE(check_username(std::string(max_username_size, 'a')));
}

TEST(radius_credentials, usernames_outside_the_rule_are_refused_naming_it) {
  struct bad_case {
    std::string name;
    std::string rule;
  };
  for (const auto& [name, rule] : std::vector<bad_case>{
         {"", "1 to 128 characters"},
         {std::string(max_username_size + 1, 'a'), "1 to 128 characters"},
         {"%{sql:SELECT 'pwn'}", "only letters, digits"},
         {"`id`", "only letters, digits"},
         {"%{exec:/bin/true}", "only letters, digits"},
         {"al ice", "only letters, digits"},
         {"alice'; DROP TABLE radcheck; --", "only letters, digits"},
         {std::string{"al\nice"}, "only letters, digits"},
         {".alice", "start with a letter or a digit"},
         {"-alice", "start with a letter or a digit"},
         {"al..ice", "\"..\""},
         {"a@b@c.example", "at most one '@'"},
         {"alice@isp", "realm after '@' needs a dot"},
         {"alice@.isp.example", "realm after '@' needs a dot"},
         {"alice@isp.example.", "realm after '@' needs a dot"},
       }) {
    auto err = check_username(name);
    ASSERT_TRUE(err) << name;
    EXPECT_TRUE(err == errc::invalid_input);
    EXPECT_NE(refusal(err).find(rule), std::string::npos) << refusal(err);
  }
}

TEST(radius_credentials, cleartext_passwords_must_not_hold_what_xlat_expands) {
  for (const char* bad :
       {"%{sql:SELECT 'pwn'}", "`%{sql:SELECT 'pwn'}`", "`/bin/true`",
        "x%{exec:/bin/true}", "\"quoted\"", "'quoted'"}) {
    auto err = check_password(bad, password_storage::cleartext);
    ASSERT_TRUE(err) << bad;
    EXPECT_TRUE(err == errc::invalid_input);
    // The refusal names the rule, never the password.
    EXPECT_EQ(refusal(err).find(bad), std::string::npos) << refusal(err);
    EXPECT_NE(refusal(err).find("cleartext storage"), std::string::npos);
    // Hashed, the same password is inert: FreeRADIUS stores and compares
    // only its hash.
    EXPECT_FALSE(check_password(bad, password_storage::ssha2_512)) << bad;
    EXPECT_FALSE(check_password(bad, password_storage::crypt_sha512)) << bad;
  }
  for (const char* ok : {"pw-act1", "50%off", "a'b\"c", "{}%", "'x"})
    EXPECT_FALSE(check_password(ok, password_storage::cleartext)) << ok;
}

TEST(radius_credentials, every_storage_refuses_empty_long_and_control_bytes) {
  for (auto storage : {password_storage::cleartext, password_storage::ssha2_512,
                       password_storage::crypt_sha512}) {
    EXPECT_TRUE(check_password("", storage));
    EXPECT_TRUE(
      check_password(std::string(max_password_size + 1, 'x'), storage));
    EXPECT_FALSE(check_password(std::string(max_password_size, 'x'), storage));
    EXPECT_TRUE(check_password(std::string{"pw\0x", 4}, storage));
    EXPECT_TRUE(check_password("pw\r\nx", storage));
  }
}

TEST(radius_credentials, hashed_storage_is_the_default) {
  tenant_settings t;
  EXPECT_EQ(t.passwords, password_storage::ssha2_512);
  EXPECT_EQ(account_spec{}.storage, password_storage::ssha2_512);
  auto cfg = common::load_config_text(R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {allow_any_source: true}
tenants: [{id: t, name: T}]
)",
                                      common::env_source::from_map({}));
  ASSERT_TRUE(cfg) << render_error(cfg.error());
  EXPECT_EQ(cfg->tenants[0].radius.password_storage, "hashed");
}

namespace {

/// A file holding `text`, removed at the end of the scope.
struct secret_file {
  std::string path;
  explicit secret_file(const std::string& text) {
    char tmpl[] = "/tmp/ispflow-nas-secret-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd >= 0)
      ::close(fd);
    path = tmpl;
    std::ofstream{path} << text << '\n';
  }
  ~secret_file() {
    std::remove(path.c_str());
  }
};

std::string nas_config(const std::string& secret_path,
                       const std::string& extra) {
  return R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {allow_any_source: true}
tenants: [{id: t, name: T}]
nas:
  - {name: bng1, address: 192.0.2.1, secret_file: ")"
         + secret_path + R"("}
  - {name: accel, address: 192.0.2.2, secret_file: ")"
         + secret_path + "\"" + extra + "}\n";
}

} // namespace

TEST(radius_credentials, nas_message_authenticator_setting_is_per_nas) {
  secret_file secret{"s3cret"};
  auto env = common::env_source::from_map({});
  auto cfg = common::load_config_text(
    nas_config(secret.path, ", require_message_authenticator: false"), env);
  ASSERT_TRUE(cfg) << render_error(cfg.error());
  ASSERT_EQ(cfg->nas.size(), 2u);
  EXPECT_TRUE(cfg->nas[0].require_message_authenticator);
  EXPECT_FALSE(cfg->nas[1].require_message_authenticator);
  // A value that is not a boolean stops start-up, naming the key.
  auto bad = common::load_config_text(
    nas_config(secret.path, ", require_message_authenticator: sometimes"), env);
  ASSERT_FALSE(bad);
  EXPECT_NE(
    render_error(bad.error()).find("nas[1].require_message_authenticator"),
    std::string::npos)
    << render_error(bad.error());
}

// FreeRADIUS takes the text of an octets attribute for hex when it begins
// with "0x" (either case): a base64 hash that began so, once in 2,048
// salts, made every login of its account fail. Written as hex, a value
// always means what it says; values earlier versions wrote in base64 are
// still read (provisioning again compares the password with them).
TEST(radius_credentials, ssha2_512_is_written_as_hex_and_read_in_both_forms) {
  auto item = password_check_item("s3cret", password_storage::ssha2_512);
  ASSERT_TRUE(item);
  EXPECT_EQ(item->name, "SSHA2-512-Password");
  // 64 bytes of SHA-512 and a 16-byte salt.
  EXPECT_TRUE(std::regex_match(item->value, std::regex{"0x[0-9a-f]{160}"}))
    << item->value;
  EXPECT_TRUE(password_matches(*item, "s3cret"));
  EXPECT_FALSE(password_matches(*item, "s3cret!"));
  auto raw = common::hex_decode(item->value.substr(2)).value_or("");
  ASSERT_EQ(raw.size(), 80u);
  auto with = [&](std::string value) {
    return sql_attribute{item->name, item->op, std::move(value)};
  };
  auto upper = item->value;
  for (auto& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto base64 = to_base64(raw);
  for (const auto& form : {upper, base64}) {
    EXPECT_TRUE(password_matches(with(form), "s3cret")) << form;
    EXPECT_FALSE(password_matches(with(form), "s3cret!")) << form;
  }
  // Cut short, or not hex after "0x" and not base64 either.
  EXPECT_FALSE(password_matches(with(item->value.substr(0, 100)), "s3cret"));
  EXPECT_FALSE(password_matches(with("0x" + std::string(160, 'g')), "s3cret"));
}
