#pragma once

#include "adapters/radius/attributes.hpp"
#include "adapters/radius/provisioning.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

// The seam between the radius adapter actor and an RFC 5176 CoA/Disconnect
// client: the actor finds the sessions (radacct + nas), the client talks to
// the NAS. Implemented over the client in adapters/radius/protocol/ and by
// fakes in tests.

namespace ispflow::adapters::radius {

/// How one CoA-Request or Disconnect-Request ended.
enum class da_result : uint8_t {
  /// CoA-ACK / Disconnect-ACK.
  ack,
  /// CoA-NAK / Disconnect-NAK (see `error_cause`).
  nak,
  /// No valid answer after the client's retransmissions: the NAS may or
  /// may not have acted.
  timeout,
  /// Not sent (bad address, socket error, ...).
  error,
};

/// The result for one session.
struct da_outcome {
  da_result result = da_result::error;
  /// Error-Cause (RFC 5176 §3.5) of a NAK or ACK, 0 when absent.
  uint32_t error_cause = 0;
  /// What happened, for logs and replies; never a secret.
  std::string detail;
};

/// Sends Disconnect and CoA requests to NASes. Implementations are
/// thread-safe and call `done` exactly once, from any thread, with one
/// outcome per session in the order given.
class dynamic_authorization {
public:
  /// Receives the outcomes of one call.
  using callback = std::function<void(std::vector<da_outcome>)>;

  virtual ~dynamic_authorization();

  /// A Disconnect-Request to each session's NAS (User-Name,
  /// Acct-Session-Id, NAS-IP-Address, and Framed-IP-Address when known).
  virtual void disconnect(std::vector<session> sessions, callback done) = 0;

  /// A CoA-Request carrying `attributes` (a plan's reply rows) to each
  /// session's NAS, identified as for `disconnect`.
  virtual void change(std::vector<session> sessions,
                      std::vector<sql_attribute> attributes, callback done)
    = 0;
};

} // namespace ispflow::adapters::radius
