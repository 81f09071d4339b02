#include "actors/admin/auth.hpp"

#include "common/hex.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace ispflow::actors::admin {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

// Equal-length comparison whose time does not depend on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace

bool principal::has(std::string_view scope) const noexcept {
  return std::any_of(scopes.begin(), scopes.end(), [&](const std::string& s) {
    return s == scope || s == scopes::admin;
  });
}

bool principal::may_see(std::string_view tenant_id) const noexcept {
  return !tenant || *tenant == tenant_id;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(),
                                                              EVP_MD_CTX_free};
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1
      || EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1
      || EVP_DigestFinal_ex(ctx.get(), md.data(), &len) != 1)
    return {};
  return common::hex_encode({reinterpret_cast<const char*>(md.data()), len});
}

std::optional<std::string> check_token(const token_settings& token) {
  if (token.name.empty())
    return std::string{"a token has no name"};
  if (!is_hex64(token.sha256))
    return "token " + token.name + ": sha256 must be 64 hex digits";
  if (token.scopes.empty())
    return "token " + token.name + ": no scopes";
  for (auto& s : token.scopes)
    if (s != scopes::sagas_read && s != scopes::sagas_write
        && s != scopes::admin)
      return "token " + token.name + ": unknown scope " + s;
  if (token.tenant && token.tenant->empty())
    return "token " + token.name + ": empty tenant";
  return std::nullopt;
}

authenticator::authenticator(std::vector<token_settings> tokens)
  : tokens_(std::move(tokens)) {
  for (auto& t : tokens_)
    t.sha256 = lower(t.sha256);
}

std::optional<principal>
authenticator::authenticate(std::string_view token) const {
  if (token.empty())
    return std::nullopt;
  auto digest = sha256_hex(token);
  // Every configured hash is compared, so timing does not reveal which one
  // (if any) matched.
  const token_settings* found = nullptr;
  for (auto& t : tokens_)
    if (constant_time_equal(digest, t.sha256) && found == nullptr)
      found = &t;
  if (found == nullptr)
    return std::nullopt;
  return principal{found->name, found->scopes, found->tenant};
}

std::optional<std::string_view>
authenticator::bearer_token(std::string_view header) noexcept {
  constexpr std::string_view prefix = "bearer ";
  if (header.size() <= prefix.size())
    return std::nullopt;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != prefix[i])
      return std::nullopt;
  auto token = header.substr(prefix.size());
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\r'))
    token.remove_suffix(1);
  if (token.empty())
    return std::nullopt;
  return token;
}

bool token_matches(std::string_view token, std::string_view sha256) {
  return constant_time_equal(sha256_hex(token), lower(sha256));
}

} // namespace ispflow::actors::admin
