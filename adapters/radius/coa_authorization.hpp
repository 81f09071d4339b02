#pragma once

#include "adapters/radius/dynamic_authorization.hpp"
#include "adapters/radius/protocol/coa_client.hpp"
#include "adapters/radius/protocol/dictionary.hpp"

#include <caf/expected.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace ispflow::adapters::radius {

/// What the CoA/Disconnect seam over the RFC 5176 client needs.
struct coa_settings {
  /// FreeRADIUS's dictionary (it names every vendor attribute a plan may
  /// carry, e.g. Mikrotik-Rate-Limit, Cisco-AVPair, ERX-*).
  std::string dictionary = "/usr/share/freeradius/dictionary";
  /// Retransmission, per-NAS window and rate limit (the defaults of NASes
  /// without their own `max_in_flight` / `max_rate`).
  coa_client_config client;
  /// The configured NASes: whether each one's replies must carry
  /// Message-Authenticator. A NAS not listed here must (the default).
  std::vector<nas_entry> nas;
};

/// `dynamic_authorization` over `coa_client`: a Disconnect-Request or
/// CoA-Request per session to the session's NAS, at the NAS's address and
/// CoA port with its secret (from the `nas` table), identified by User-Name,
/// Acct-Session-Id, NAS-IP-Address and Framed-IP-Address. Message-
/// Authenticator on every request; on replies it is required unless the
/// NAS's entry says otherwise (`nas_entry::require_message_authenticator`),
/// and always verified when present.
class coa_authorization : public dynamic_authorization {
public:
  /// Loads the dictionary and starts the client's I/O thread.
  static caf::expected<std::shared_ptr<coa_authorization>>
  make(coa_settings settings);

  ~coa_authorization() override;

  void disconnect(std::vector<session> sessions, callback done) override;

  void change(std::vector<session> sessions,
              std::vector<sql_attribute> attributes, callback done) override;

  /// Fails (errc::invalid_config, naming the attribute) when the
  /// dictionary cannot encode `value` as attribute `name`.
  caf::error check_attribute(const std::string& name,
                             const std::string& value) const;

  /// The client's counters (sent, retransmits, acks, naks, timeouts, ...).
  coa_client_stats stats() const;

private:
  coa_authorization(dictionary dict, std::unique_ptr<coa_client> client);

  /// Whether replies from the NAS at `address` must be signed.
  bool requires_message_authenticator(const std::string& address) const;

  void send_all(code kind, std::vector<session> sessions,
                std::vector<attribute> extra, callback done);

  dictionary dict_;
  std::unique_ptr<coa_client> client_;
  /// Canonical addresses of the NASes whose replies may be unsigned.
  std::set<std::string> unsigned_ok_;
  /// Per-NAS limits (in flight, per second) by canonical address.
  std::map<std::string, std::pair<uint32_t, double>> limits_;
};

} // namespace ispflow::adapters::radius
