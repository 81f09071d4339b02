#include "adapters/radius/attributes.hpp"

#include "common/hex.hpp"
#include "events/errc.hpp"

#include <array>
#include <crypt.h>
#include <cstring>
#include <memory>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace ispflow::adapters::radius {

namespace {

constexpr std::string_view cleartext_attr = "Cleartext-Password";
constexpr std::string_view ssha512_attr = "SSHA2-512-Password";
constexpr std::string_view crypt_attr = "Crypt-Password";
constexpr size_t salt_size = 16;
constexpr size_t sha512_size = 64;

caf::error invalid(std::string detail) {
  return caf::make_error(errc::invalid_input, std::move(detail));
}

std::string base64_encode(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                           static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  if (text.empty() || text.size() % 4 != 0)
    return false;
  out.assign(3 * (text.size() / 4), '\0');
  auto n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(text.data()),
                           static_cast<int>(text.size()));
  if (n < 0)
    return false;
  size_t pad = 0;
  if (text.back() == '=')
    ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=')
    ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return true;
}

bool sha512(std::string_view a, std::string_view b,
            std::array<unsigned char, sha512_size>& digest) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(),
                                                              &EVP_MD_CTX_free};
  unsigned int len = 0;
  return ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr) == 1
         && EVP_DigestUpdate(ctx.get(), a.data(), a.size()) == 1
         && EVP_DigestUpdate(ctx.get(), b.data(), b.size()) == 1
         && EVP_DigestFinal_ex(ctx.get(), digest.data(), &len) == 1
         && len == sha512_size;
}

// SHA-512(password || salt) || salt, the octets of an SSHA2-512-Password.
caf::expected<std::string> ssha512_octets(std::string_view password,
                                          std::string_view salt) {
  std::array<unsigned char, sha512_size> digest{};
  if (!sha512(password, salt, digest))
    return caf::make_error(errc::unspecified, "SHA-512 failed");
  std::string raw(reinterpret_cast<const char*>(digest.data()), digest.size());
  OPENSSL_cleanse(digest.data(), digest.size());
  raw.append(salt);
  return raw;
}

// The octets of a stored SSHA2-512-Password as FreeRADIUS reads them:
// after "0x" (either case) hex, as ispflow writes it, and nothing else
// (FreeRADIUS fails the row, so a base64 value of earlier versions that
// happens to begin so accepts no password); otherwise base64, as earlier
// versions wrote it.
bool ssha512_decode(std::string_view text, std::string& out) {
  if (text.size() >= 2 && text[0] == '0'
      && (text[1] == 'x' || text[1] == 'X')) {
    auto raw = common::hex_decode(text.substr(2));
    if (!raw)
      return false;
    out = std::move(*raw);
    return true;
  }
  return base64_decode(text, out);
}

// crypt_r with `setting` ("$6$salt$..." or a full hash); "" on failure.
std::string sha512_crypt(std::string_view password,
                         const std::string& setting) {
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  std::string pw{password};
  const char* res = crypt_r(pw.c_str(), setting.c_str(), data.get());
  OPENSSL_cleanse(pw.data(), pw.size());
  if (res == nullptr || res[0] == '*')
    return {};
  return res;
}

} // namespace

std::ostream& operator<<(std::ostream& os, const sql_attribute& x) {
  return os << x.name << ' ' << x.op << " \"" << x.value << '"';
}

bool is_password_attribute(std::string_view name) noexcept {
  return name == cleartext_attr || name == ssha512_attr || name == crypt_attr
         || name.ends_with("-Password");
}

caf::expected<std::vector<sql_attribute>> plan_reply_attributes(const plan& p,
                                                                vendor v) {
  std::vector<sql_attribute> out;
  switch (v) {
    case vendor::mikrotik:
      if (p.download_kbps == 0 || p.upload_kbps == 0)
        return invalid("plan " + p.id
                       + " needs download_kbps and upload_kbps for MikroTik");
      // rx/tx from the router's side: rx is what the client uploads.
      out.push_back({"Mikrotik-Rate-Limit", ":=",
                     std::to_string(p.upload_kbps) + "k/"
                       + std::to_string(p.download_kbps) + "k"});
      break;
    case vendor::cisco:
      if (p.policy_in.empty() && p.policy_out.empty())
        return invalid("plan " + p.id
                       + " needs policy_in or policy_out for "
                         "Cisco ISG");
      // Cisco-AVPair is multi-valued: `+=` keeps both rows in the reply.
      if (!p.policy_in.empty())
        out.push_back(
          {"Cisco-AVPair", "+=", "ip:sub-qos-policy-in=" + p.policy_in});
      if (!p.policy_out.empty())
        out.push_back(
          {"Cisco-AVPair", "+=", "ip:sub-qos-policy-out=" + p.policy_out});
      break;
    case vendor::juniper:
      if (p.policy_in.empty() && p.policy_out.empty() && p.qos_profile.empty())
        return invalid("plan " + p.id
                       + " needs policy_in, policy_out or "
                         "qos_profile for Juniper");
      if (!p.policy_in.empty())
        out.push_back({"ERX-Ingress-Policy-Name", ":=", p.policy_in});
      if (!p.policy_out.empty())
        out.push_back({"ERX-Egress-Policy-Name", ":=", p.policy_out});
      if (!p.qos_profile.empty())
        out.push_back({"ERX-Qos-Profile-Name", ":=", p.qos_profile});
      break;
  }
  // Standard attributes every BNG honours in an Access-Accept (and in a
  // CoA-Request, RFC 5176 §3.6): how long a session may last and how often
  // it sends Interim-Update.
  if (p.session_timeout_s > 0)
    out.push_back(
      {"Session-Timeout", ":=", std::to_string(p.session_timeout_s)});
  if (p.interim_interval_s > 0)
    out.push_back(
      {"Acct-Interim-Interval", ":=", std::to_string(p.interim_interval_s)});
  return out;
}

caf::expected<sql_attribute> password_check_item(std::string_view password,
                                                 password_storage storage) {
  if (password.empty())
    return invalid("empty password");
  if (storage == password_storage::cleartext)
    return sql_attribute{std::string{cleartext_attr},
                         ":=", std::string{password}};
  std::array<unsigned char, salt_size> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1)
    return caf::make_error(errc::unspecified, "no random salt");
  if (storage == password_storage::ssha2_512) {
    auto raw = ssha512_octets(
      password, std::string_view{reinterpret_cast<const char*>(salt.data()),
                                 salt.size()});
    if (!raw)
      return raw.error();
    // FreeRADIUS reads the value of an octets attribute as hex when it
    // starts with "0x" (either case), and as-is otherwise, after which PAP
    // tries base64. A base64 value begins with "0x" or "0X" once in 2,048
    // salts, and FreeRADIUS then rejects every login of the account:
    // written as hex, every value means what it says.
    auto value = "0x" + common::hex_encode(*raw);
    OPENSSL_cleanse(raw->data(), raw->size());
    return sql_attribute{std::string{ssha512_attr}, ":=", std::move(value)};
  }
  // crypt(3) salts use the alphabet [./0-9A-Za-z]: base64 with '+' -> '.'.
  auto text = base64_encode(salt.data(), salt.size()).substr(0, 16);
  for (auto& c : text)
    if (c == '+')
      c = '.';
  auto value = sha512_crypt(password, "$6$" + text + "$");
  if (value.empty())
    return caf::make_error(errc::unspecified, "crypt failed");
  return sql_attribute{std::string{crypt_attr}, ":=", std::move(value)};
}

bool password_matches(const sql_attribute& stored, std::string_view password) {
  if (stored.name == cleartext_attr)
    return stored.value.size() == password.size()
           && CRYPTO_memcmp(stored.value.data(), password.data(),
                            password.size())
                == 0;
  if (stored.name == ssha512_attr) {
    std::string raw;
    if (!ssha512_decode(stored.value, raw) || raw.size() <= sha512_size)
      return false;
    auto want = ssha512_octets(password,
                               std::string_view{raw}.substr(sha512_size));
    return want && want->size() == raw.size()
           && CRYPTO_memcmp(want->data(), raw.data(), raw.size()) == 0;
  }
  if (stored.name == crypt_attr) {
    if (!stored.value.starts_with("$6$"))
      return false;
    auto got = sha512_crypt(password, stored.value);
    return !got.empty() && got.size() == stored.value.size()
           && CRYPTO_memcmp(got.data(), stored.value.data(), got.size()) == 0;
  }
  return false;
}

caf::error check_username(std::string_view username) {
  auto refuse = [](const char* rule) {
    return invalid(std::string{"RADIUS username refused: "} + rule);
  };
  if (username.empty() || username.size() > max_username_size)
    return refuse("it must be 1 to 128 characters long");
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9');
  };
  for (char c : username)
    if (!alnum(c) && c != '.' && c != '_' && c != '-' && c != '@')
      return refuse("only letters, digits, '.', '_', '-' and '@' are allowed");
  if (!alnum(username.front()))
    return refuse("it must start with a letter or a digit");
  if (username.find("..") != std::string_view::npos)
    return refuse("it must not contain \"..\"");
  auto at = username.find('@');
  if (at != std::string_view::npos) {
    auto realm = username.substr(at + 1);
    if (realm.find('@') != std::string_view::npos)
      return refuse("it may contain at most one '@'");
    if (realm.empty() || realm.front() == '.' || realm.back() == '.'
        || realm.find('.') == std::string_view::npos)
      return refuse("the realm after '@' needs a dot and must neither start "
                    "nor end with one");
  }
  return {};
}

caf::error check_password(std::string_view password, password_storage storage) {
  auto refuse = [](const char* rule) {
    return invalid(std::string{"RADIUS password refused: "} + rule);
  };
  if (password.empty() || password.size() > max_password_size)
    return refuse("it must be 1 to 128 bytes long");
  for (char c : password) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      return refuse("it must not contain control characters");
  }
  if (storage != password_storage::cleartext)
    return {};
  if (password.find('`') != std::string_view::npos
      || password.find("%{") != std::string_view::npos)
    return refuse("with cleartext storage it must not contain a backtick or "
                  "\"%{\" (FreeRADIUS would expand it); use hashed storage");
  auto first = password.front();
  if (password.size() >= 2 && (first == '\'' || first == '"')
      && password.back() == first)
    return refuse("with cleartext storage it must not be enclosed in quotes "
                  "(FreeRADIUS would strip them)");
  return {};
}

} // namespace ispflow::adapters::radius
