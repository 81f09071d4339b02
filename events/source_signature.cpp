#include "events/source_signature.hpp"

#include "common/hex.hpp"

#include <algorithm>
#include <array>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace ispflow::events {

namespace {

constexpr std::string_view version_prefix = "v1=";
constexpr size_t mac_bytes = 32;
constexpr size_t hex_bytes = 2 * mac_bytes;

using mac = std::array<unsigned char, mac_bytes>;

mac hmac_sha256(std::string_view key, std::string_view text) {
  mac out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(),
       out.data(), &len);
  return out;
}

// The 32 bytes of 64 hex digits, or nothing.
std::optional<mac> parse_hex(std::string_view hex) {
  if (hex.size() != hex_bytes)
    return std::nullopt;
  auto raw = common::hex_decode(hex);
  if (!raw)
    return std::nullopt;
  mac out{};
  std::copy(raw->begin(), raw->end(), out.begin());
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

std::string signature_base(const cloud_event& ev, std::string_view value) {
  std::string out;
  out.reserve(64 + ev.id.size() + ev.source.size() + ev.type.size()
              + ev.tenant_id.size() + ev.subject.size() + ev.time.size()
              + value.size());
  out += "ispflow-signature-v1\n";
  for (auto* attr :
       {&ev.id, &ev.source, &ev.type, &ev.tenant_id, &ev.subject, &ev.time}) {
    out += *attr;
    out += '\n';
  }
  out += value;
  return out;
}

std::string sign_v1(std::string_view key, std::string_view base) {
  auto m = hmac_sha256(key, base);
  return std::string{version_prefix}
         + common::hex_encode(
           {reinterpret_cast<const char*>(m.data()), m.size()});
}

std::optional<std::string>
verify_signature(const cloud_event& ev, const kafka_record& rec,
                 const std::vector<std::string>& keys) {
  const kafka_header* header = nullptr;
  for (auto& h : rec.headers) {
    if (h.key != signature_header)
      continue;
    if (header)
      return "more than one " + std::string{signature_header} + " header";
    header = &h;
  }
  if (!header || header->null_value || trim(header->value).empty())
    return std::string{signature_header} + ": missing";
  for (auto [name, attr] : {std::pair{"id", &ev.id},
                            {"source", &ev.source},
                            {"type", &ev.type},
                            {"tenantid", &ev.tenant_id},
                            {"subject", &ev.subject},
                            {"time", &ev.time}})
    if (attr->find_first_of("\r\n") != std::string::npos)
      return std::string{name}
             + ": a line break cannot be signed (signature v1)";
  // The header's signatures, each "v1=<64 hex digits>".
  std::vector<mac> given;
  std::string_view rest = header->value;
  while (!rest.empty() || given.empty()) {
    auto comma = rest.find(',');
    auto item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{}
                                           : rest.substr(comma + 1);
    if (!item.starts_with(version_prefix))
      return std::string{signature_header}
             + ": expected v1=<64 hex digits> (HMAC-SHA256), comma-separated";
    auto parsed = parse_hex(item.substr(version_prefix.size()));
    if (!parsed)
      return std::string{signature_header}
             + ": expected v1=<64 hex digits> (HMAC-SHA256), comma-separated";
    given.push_back(*parsed);
    if (given.size() > 4)
      return std::string{signature_header} + ": more than 4 signatures";
  }
  auto base = signature_base(ev, rec.value);
  // Every key against every signature, whatever matches first: the time
  // taken tells nothing about which one matched or how far.
  bool ok = false;
  for (auto& key : keys) {
    auto want = hmac_sha256(key, base);
    for (auto& got : given)
      ok |= CRYPTO_memcmp(want.data(), got.data(), mac_bytes) == 0;
  }
  if (!ok)
    return std::string{signature_header}
           + ": no signature matches the key of source \"" + ev.source
           + "\" (HMAC-SHA256 of the v1 signature base)";
  return std::nullopt;
}

std::optional<std::string> check_signed_time(std::string_view time,
                                             int64_t now_ms,
                                             const signed_time_window& window) {
  if (window.max_age.count() <= 0)
    return std::nullopt;
  if (time.empty())
    return std::string{"time: missing; a signing source's events carry their"
                       " time (the signature's replay window)"};
  auto at = rfc3339_to_unix_ms(time);
  if (!at)
    return std::string{"time: not an RFC 3339 date-time"};
  auto age_ms = now_ms - *at;
  if (age_ms > window.max_age.count() * 1000)
    return "time: " + std::to_string(age_ms / 1000)
           + " s old, older than the replay window of "
           + std::to_string(window.max_age.count())
           + " s (intake.signed_max_age_seconds): a replayed record?";
  if (-age_ms > window.max_skew.count() * 1000)
    return "time: " + std::to_string(-age_ms / 1000)
           + " s ahead of this instance's clock, more than "
           + std::to_string(window.max_skew.count())
           + " s (intake.signed_max_skew_seconds)";
  return std::nullopt;
}

} // namespace ispflow::events
