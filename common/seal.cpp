#include "common/seal.hpp"

#include "common/hex.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <array>
#include <caf/error.hpp>
#include <cctype>
#include <cstdint>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <optional>

namespace ispflow::common {

namespace {

constexpr std::string_view version_v1 = "v1";
constexpr size_t nonce_bytes = 12;
constexpr size_t tag_bytes = 16;

caf::error bad(std::string what) {
  return caf::make_error(errc::invalid_input, std::move(what));
}

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  auto len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                             static_cast<int>(n));
  out.resize(static_cast<size_t>(std::max(len, 0)));
  return out;
}

// Strict base64 (padded, no whitespace); nothing on malformed input.
std::optional<std::string> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0)
    return std::nullopt;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    bool pad_ok = c == '=' && i + 2 >= text.size()
                  && (i + 1 == text.size() || text[i + 1] == '=');
    if (!std::isalnum(c) && c != '+' && c != '/' && !pad_ok)
      return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  auto len
    = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(text.data()),
                      static_cast<int>(text.size()));
  if (len < 0)
    return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t pad = 0;
  if (text.back() == '=')
    ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=')
    ++pad;
  out.resize(static_cast<size_t>(len) - pad);
  return out;
}

std::string id_of(const std::string& key) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> md{};
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(),
         md.data());
  return hex_encode({reinterpret_cast<const char*>(md.data()), 8});
}

// Length-prefixed fields, so that ("a", "bc") and ("ab", "c") differ.
std::string associated_data(const seal_binding& b) {
  std::string out{"ispflow/sealed-credential/v1"};
  for (const auto* field : {&b.tenant_id, &b.subscriber_id, &b.username}) {
    auto n = static_cast<uint32_t>(field->size());
    for (int shift = 24; shift >= 0; shift -= 8)
      out += static_cast<char>((n >> shift) & 0xff);
    out += *field;
  }
  return out;
}

struct parts {
  std::string_view key_id;
  std::string_view nonce;
  std::string_view body;
};

std::optional<parts> split(std::string_view sealed) {
  std::array<std::string_view, 4> xs;
  size_t start = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    auto end = i + 1 < xs.size() ? sealed.find(':', start) : sealed.size();
    if (end == std::string_view::npos)
      return std::nullopt;
    xs[i] = sealed.substr(start, end - start);
    start = end + 1;
  }
  if (xs[0] != version_v1 || xs[1].size() != 16
      || xs[3].find(':') != std::string_view::npos)
    return std::nullopt;
  return parts{xs[1], xs[2], xs[3]};
}

using cipher_ctx
  = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

} // namespace

struct keyring::key {
  std::string id;
  std::string bytes;
};

keyring::keyring(std::vector<key> keys) : keys_(std::move(keys)) {
  // nop
}

keyring::~keyring() {
  for (auto& k : keys_)
    OPENSSL_cleanse(k.bytes.data(), k.bytes.size());
}

caf::expected<std::string> keyring::parse_key(std::string_view text) {
  if (text.size() == 2 * seal_key_bytes)
    if (auto raw = hex_decode(text))
      return std::move(*raw);
  if (auto raw = unbase64(text)) {
    if (raw->size() == seal_key_bytes)
      return std::move(*raw);
    auto n = raw->size();
    OPENSSL_cleanse(raw->data(), raw->size());
    return bad("the key is " + std::to_string(n) + " bytes (base64), not "
               + std::to_string(seal_key_bytes)
               + " (e.g. `openssl rand -hex 32`)");
  }
  return bad("expected " + std::to_string(seal_key_bytes)
             + " random bytes as 64 hex digits or as base64 (e.g. `openssl "
               "rand -hex 32`), got "
             + std::to_string(text.size()) + " characters of neither");
}

caf::expected<std::shared_ptr<const keyring>>
keyring::make(std::vector<std::string> keys) {
  if (keys.empty())
    return bad("no sealing key");
  std::vector<key> ks;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].size() != seal_key_bytes)
      return bad("sealing key " + std::to_string(i + 1) + " is "
                 + std::to_string(keys[i].size()) + " bytes, not "
                 + std::to_string(seal_key_bytes));
    auto id = id_of(keys[i]);
    for (size_t j = 0; j < ks.size(); ++j)
      if (ks[j].id == id)
        return bad("sealing key " + std::to_string(i + 1)
                   + " is the same key as key " + std::to_string(j + 1));
    ks.push_back({std::move(id), std::move(keys[i])});
  }
  return std::shared_ptr<const keyring>{new keyring{std::move(ks)}};
}

const std::string& keyring::sealing_key_id() const {
  return keys_.front().id;
}

std::vector<std::string> keyring::key_ids() const {
  std::vector<std::string> out;
  for (const auto& k : keys_)
    out.push_back(k.id);
  return out;
}

bool keyring::has_key_for(std::string_view sealed) const {
  auto id = sealed_key_id(sealed);
  return !id.empty()
         && std::any_of(keys_.begin(), keys_.end(),
                        [&](const key& k) { return k.id == id; });
}

caf::expected<std::string> keyring::seal(std::string_view secret,
                                         const seal_binding& b) const {
  const auto& k = keys_.front();
  std::array<unsigned char, nonce_bytes> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1)
    return caf::make_error(errc::unspecified, "no random nonce for sealing");
  auto aad = associated_data(b);
  cipher_ctx ctx{EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free};
  std::string body(secret.size() + tag_bytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(body.data());
  int len = 0;
  int total = 0;
  bool ok
    = ctx
      && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                            nullptr)
           == 1
      && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN,
                             static_cast<int>(nonce_bytes), nullptr)
           == 1
      && EVP_EncryptInit_ex(
           ctx.get(), nullptr, nullptr,
           reinterpret_cast<const unsigned char*>(k.bytes.data()), nonce.data())
           == 1
      && EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                           reinterpret_cast<const unsigned char*>(aad.data()),
                           static_cast<int>(aad.size()))
           == 1
      && EVP_EncryptUpdate(
           ctx.get(), out, &len,
           reinterpret_cast<const unsigned char*>(secret.data()),
           static_cast<int>(secret.size()))
           == 1;
  total = len;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), out + total, &len) == 1;
  total += len;
  ok = ok
       && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG,
                              static_cast<int>(tag_bytes), out + total)
            == 1;
  if (!ok) {
    OPENSSL_cleanse(body.data(), body.size());
    return caf::make_error(errc::unspecified, "sealing failed (OpenSSL)");
  }
  std::string result{version_v1};
  result += ':';
  result += k.id;
  result += ':';
  result += base64(nonce.data(), nonce.size());
  result += ':';
  result += base64(out, static_cast<size_t>(total) + tag_bytes);
  return result;
}

caf::expected<std::string> keyring::open(std::string_view sealed,
                                         const seal_binding& b) const {
  auto p = split(sealed);
  if (!p)
    return bad("not a sealed credential of a known version");
  auto k = std::find_if(keys_.begin(), keys_.end(),
                        [&](const key& x) { return x.id == p->key_id; });
  if (k == keys_.end())
    return bad("sealed with key " + std::string{p->key_id}
               + ", which is not configured (credentials.seal_key_files)");
  auto nonce = unbase64(p->nonce);
  auto body = unbase64(p->body);
  if (!nonce || nonce->size() != nonce_bytes || !body
      || body->size() < tag_bytes)
    return bad("not a sealed credential of a known version");
  auto aad = associated_data(b);
  auto n = body->size() - tag_bytes;
  std::string plain(n, '\0');
  auto* in = reinterpret_cast<const unsigned char*>(body->data());
  auto* out = reinterpret_cast<unsigned char*>(plain.data());
  cipher_ctx ctx{EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free};
  int len = 0;
  bool ok
    = ctx
      && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                            nullptr)
           == 1
      && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN,
                             static_cast<int>(nonce_bytes), nullptr)
           == 1
      && EVP_DecryptInit_ex(
           ctx.get(), nullptr, nullptr,
           reinterpret_cast<const unsigned char*>(k->bytes.data()),
           reinterpret_cast<const unsigned char*>(nonce->data()))
           == 1
      && EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                           reinterpret_cast<const unsigned char*>(aad.data()),
                           static_cast<int>(aad.size()))
           == 1
      && EVP_DecryptUpdate(ctx.get(), out, &len, in, static_cast<int>(n)) == 1
      && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG,
                             static_cast<int>(tag_bytes),
                             const_cast<unsigned char*>(in + n))
           == 1;
  int tail = 0;
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), out + len, &tail) == 1;
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return bad("the sealed credential does not authenticate (changed, or "
               "sealed for another account)");
  }
  return plain;
}

std::string sealed_key_id(std::string_view sealed) {
  if (auto p = split(sealed))
    return std::string{p->key_id};
  return {};
}

} // namespace ispflow::common
