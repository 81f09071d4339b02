#pragma once

#include <caf/expected.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// Sealed credentials: a subscriber's PPPoE password kept encrypted so that a
// drift repair can configure a factory-reset CPE again (sagas/repair_saga.hpp,
// `configure_cpe`). AES-256-GCM (OpenSSL EVP) with a fresh random 12-byte
// nonce per seal; the associated data binds the blob to (tenant, subscriber,
// username), so a blob copied to another account does not open. Stored form:
//
//   v1:<key id>:<base64 nonce>:<base64 ciphertext with the 16-byte tag>
//
// where the key id is the first 8 bytes of SHA-256 of the key, in hex: the
// keyring opens a blob with the key it names, so keys can be rotated (the
// first key seals, every configured key opens). Neither a key nor a password
// is ever logged or put in an error.

namespace ispflow::common {

/// Bytes of a sealing key (AES-256).
inline constexpr size_t seal_key_bytes = 32;

/// What a sealed blob is bound to (GCM associated data).
struct seal_binding {
  std::string tenant_id;
  std::string subscriber_id;
  std::string username;
};

/// The sealing keys of the process: the first seals, all open. Immutable
/// and thread-safe once made; the keys are wiped when it is destroyed.
class keyring {
public:
  /// A key file's trimmed content as the key: 64 hex digits or the base64
  /// of 32 bytes (`openssl rand -hex 32`, `openssl rand -base64 32`). Fails
  /// with errc::invalid_input saying what is wrong, never showing the text.
  static caf::expected<std::string> parse_key(std::string_view text);

  /// A keyring of raw 32-byte keys (the first seals). Fails with
  /// errc::invalid_input for no key, a key of another size, or a key given
  /// twice.
  static caf::expected<std::shared_ptr<const keyring>>
  make(std::vector<std::string> keys);

  ~keyring();
  keyring(const keyring&) = delete;
  keyring& operator=(const keyring&) = delete;

  /// The id of the sealing key (16 hex digits).
  const std::string& sealing_key_id() const;

  /// The ids of every key, the sealing key first.
  std::vector<std::string> key_ids() const;

  /// Whether `sealed` is of a version this code reads and names a key of
  /// this keyring (it may still fail to open: tampered, other binding).
  bool has_key_for(std::string_view sealed) const;

  /// `secret` sealed with the sealing key for `b`.
  caf::expected<std::string> seal(std::string_view secret,
                                  const seal_binding& b) const;

  /// The secret of `sealed`. Fails with errc::invalid_input for a malformed
  /// blob, an unknown key id, or a blob that does not authenticate (changed,
  /// or sealed for another binding).
  caf::expected<std::string> open(std::string_view sealed,
                                  const seal_binding& b) const;

private:
  struct key;
  explicit keyring(std::vector<key> keys);
  std::vector<key> keys_;
};

/// The key id a stored form names ("" when `sealed` is not of the form).
std::string sealed_key_id(std::string_view sealed);

} // namespace ispflow::common
