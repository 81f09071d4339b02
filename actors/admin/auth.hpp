#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ispflow::actors::admin {

/// The scopes a token may hold. `admin` includes the other two.
namespace scopes {
/// List and show sagas, dead letters and breakers.
inline constexpr std::string_view sagas_read = "sagas:read";
/// Retry, cancel, replay sagas; re-drive events and dead letters.
inline constexpr std::string_view sagas_write = "sagas:write";
/// Everything, including forcing breakers open or closed.
inline constexpr std::string_view admin = "admin";
} // namespace scopes

/// One bearer token from configuration. The token itself is never stored,
/// only its SHA-256 (see `ispflowctl token hash`).
struct token_settings {
  /// Who holds it; written to the audit table, never the token.
  std::string name;
  /// SHA-256 of the token, 64 hex digits (either case).
  std::string sha256;
  /// Any of "sagas:read", "sagas:write", "admin".
  std::vector<std::string> scopes;
  /// When set, the token sees and touches only this tenant.
  std::optional<std::string> tenant;

  friend bool operator==(const token_settings&, const token_settings&)
    = default;
};

/// The admin HTTP API.
struct admin_settings {
  /// Listen address, e.g. "127.0.0.1" or "0.0.0.0".
  std::string address = "127.0.0.1";
  /// Listen port; 0 picks a free one (see admin_server::port).
  uint16_t port = 8089;
  /// Accepted bearer tokens.
  std::vector<token_settings> tokens;
  /// When set (SHA-256 hex), /metrics requires this bearer token; otherwise
  /// /metrics needs none.
  std::optional<std::string> metrics_token_sha256;
  /// Connections served at once, one worker thread each; further
  /// connections are refused at accept (503).
  uint32_t threads = 32;
  /// Connections one client address may hold at once; further connections
  /// from it are refused at accept (503).
  uint32_t max_connections_per_client = 8;
  /// PostgreSQL connections kept open by the API.
  uint32_t db_connections = 4;
  /// Largest request body accepted, in bytes, after removing the chunked
  /// framing and any Content-Encoding (gzip, br).
  uint64_t max_body_bytes = 1 << 20;
  /// From a request's first byte (or the TLS handshake's) to the end of its
  /// headers; a slower client is cut off.
  std::chrono::milliseconds header_timeout{10'000};
  /// For a whole request body, once its headers and token were accepted.
  std::chrono::milliseconds body_timeout{30'000};
  /// How long an idle keep-alive connection is kept open.
  std::chrono::milliseconds idle_timeout{5'000};
  /// For each write of a response.
  std::chrono::milliseconds write_timeout{10'000};
  /// When set, /metrics is served only on this address (and port
  /// `metrics_port`, 0 = a free one), not on the API's.
  std::optional<std::string> metrics_address;
  uint16_t metrics_port = 0;
  /// How often the database gauges of /metrics (sagas, dead letters, outbox
  /// backlog) are recomputed in the background; scrapes never query.
  std::chrono::milliseconds metrics_refresh{15'000};
  /// PEM certificate chain and private key: when both are set, every
  /// listener of the server speaks TLS only.
  std::string tls_cert_file;
  std::string tls_key_file;

  friend bool operator==(const admin_settings&, const admin_settings&)
    = default;
};

/// Who made a request: the matched token's name, scopes and tenant.
struct principal {
  std::string name;
  std::vector<std::string> scopes;
  std::optional<std::string> tenant;

  /// True if the token holds `scope` or `admin`.
  bool has(std::string_view scope) const noexcept;

  /// True unless the token is bound to a tenant other than `tenant_id`.
  bool may_see(std::string_view tenant_id) const noexcept;
};

/// SHA-256 of `data` as 64 lower-case hex digits (OpenSSL EVP).
std::string sha256_hex(std::string_view data);

/// Why a configured token is unusable (bad hash, unknown scope, no name),
/// or nothing. Names the token, never the hash.
std::optional<std::string> check_token(const token_settings& token);

/// Matches bearer tokens against the configured hashes.
class authenticator {
public:
  /// Keeps `tokens` (hashes lower-cased).
  explicit authenticator(std::vector<token_settings> tokens);

  /// The principal of `token`, or nothing for an unknown token. Compares
  /// the token's hash with every configured hash in constant time.
  std::optional<principal> authenticate(std::string_view token) const;

  /// The token of an `Authorization: Bearer <token>` header value, or
  /// nothing when the header has another form.
  static std::optional<std::string_view>
  bearer_token(std::string_view header) noexcept;

private:
  std::vector<token_settings> tokens_;
};

/// True if `token`'s SHA-256 equals `sha256_hex` (constant time).
bool token_matches(std::string_view token, std::string_view sha256_hex);

} // namespace ispflow::actors::admin
