#pragma once

#include "adapters/radius/protocol/packet.hpp"

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ispflow::adapters::radius {

/// A NAS that accepts dynamic authorization (RFC 5176): its address, its
/// CoA port and the shared secret for it.
struct nas_endpoint {
  /// Numeric IPv4/IPv6 address or host name.
  std::string host;
  /// UDP port (3799 by default; Cisco IOS historically 1700).
  uint16_t port = 3799;
  /// Shared secret of this NAS. Never logged.
  std::string secret;
  /// Drop replies that lack Message-Authenticator (Blast-RADIUS). Turn off
  /// only for a NAS known not to send it (accel-ppp's ACK/NAK carry no
  /// attributes at all): such a reply is then accepted on its Response
  /// Authenticator, which still binds it to the request and the secret; a
  /// reply that carries one is verified either way. ispflow takes this from
  /// its configuration (`nas[].require_message_authenticator`): the `nas`
  /// table of FreeRADIUS 3.2.1, the version deployed here, has no column
  /// for it.
  bool require_message_authenticator = true;
  /// Also accept the Message-Authenticator form FreeRADIUS 3.2.1 sends on
  /// ACK/NAK (computed with a zeroed authenticator); see verify_response.
  bool accept_zeroed_message_authenticator = true;
  /// This NAS's cap on requests in flight; 0: `window_per_nas`. Read when
  /// the client first sees the NAS (host and port).
  uint32_t max_in_flight = 0;
  /// This NAS's limit of new requests per second; 0: `rate_per_nas`. With
  /// its own limit a NAS's token bucket holds one token, so no interval of
  /// one second sees more than `max_rate` first transmissions.
  double max_rate = 0;
};

/// Final state of one CoA/Disconnect request.
enum class coa_status : uint8_t {
  /// CoA-ACK or Disconnect-ACK, verified.
  ack,
  /// CoA-NAK or Disconnect-NAK, verified; see error_cause.
  nak,
  /// No verified reply after every retransmission.
  timeout,
  /// Not sent: bad address, encoding failure, queue full, shutting down.
  error,
};

/// Stable lower-case name, e.g. "nak".
std::string_view to_string(coa_status x);

/// What happened to one request.
struct coa_outcome {
  /// ack, nak, timeout or error.
  coa_status status = coa_status::error;
  /// Error-Cause of the reply, if it carried one (NAK: 4xx/5xx, ACK: 2xx).
  std::optional<uint32_t> error_cause;
  /// The decoded reply (empty attributes unless ack/nak).
  packet reply;
  /// Transmissions made (1 = no retransmission).
  uint32_t attempts = 0;
  /// Time from first transmission to completion.
  std::chrono::microseconds latency{0};
  /// Reason for `error`; empty otherwise.
  std::string detail;
};

/// Completion callback. It runs on the client's I/O thread: keep it short,
/// do not block; it may call submit().
using coa_callback = std::function<void(coa_outcome)>;

/// Tuning of a coa_client.
struct coa_client_config {
  /// Wait before the first retransmission.
  std::chrono::milliseconds initial_timeout{1000};
  /// Each further wait is multiplied by this factor ...
  double backoff = 2.0;
  /// ... up to this bound.
  std::chrono::milliseconds max_timeout{8000};
  /// Transmissions per request, including the first (>= 1).
  uint32_t max_attempts = 4;
  /// Requests in flight per NAS; more are queued. Beyond 256 the client
  /// opens further sockets for that NAS (256 identifiers each).
  uint32_t window_per_nas = 64;
  /// New requests per second per NAS; 0 means no limit.
  double rate_per_nas = 0;
  /// Token-bucket depth of the rate limit.
  uint32_t rate_burst = 10;
  /// Queued requests per NAS beyond which submit() fails with `error`.
  size_t max_queue_per_nas = 100000;
  /// Vendor formats for encoding/decoding VSAs (default: 1,1 for all).
  vendor_format_fn formats;
};

/// Counters of a coa_client (monotonic).
struct coa_client_stats {
  /// First transmissions.
  uint64_t sent = 0;
  /// Retransmissions.
  uint64_t retransmits = 0;
  /// Requests completed per status.
  uint64_t acks = 0;
  uint64_t naks = 0;
  uint64_t timeouts = 0;
  uint64_t errors = 0;
  /// Replies dropped because an authenticator, the Message-Authenticator or
  /// the reply code did not verify (never accepted).
  uint64_t dropped_replies = 0;
  /// Replies from an unexpected source or for no outstanding identifier.
  uint64_t unmatched_replies = 0;
};

/// Asynchronous RFC 5176 client: one I/O thread polling one UDP socket per
/// NAS (more when a NAS's window exceeds 256 identifiers). Every request
/// carries Message-Authenticator as its first attribute; replies are matched
/// by identifier and source and must pass Response Authenticator and
/// Message-Authenticator checks. Retransmissions reuse identifier and
/// authenticator. Thread-safe.
class coa_client {
public:
  /// Starts the I/O thread.
  static caf::expected<std::unique_ptr<coa_client>>
  start(coa_client_config cfg = {});

  /// Stops (see stop()).
  ~coa_client();

  coa_client(const coa_client&) = delete;
  coa_client& operator=(const coa_client&) = delete;

  /// Queues a Disconnect-Request or CoA-Request with these attributes
  /// (Message-Authenticator is added). `done` is called exactly once.
  void submit(const nas_endpoint& nas, code request_code,
              std::vector<attribute> attributes, coa_callback done);

  /// Blocking convenience around submit() for tools and tests.
  coa_outcome send(const nas_endpoint& nas, code request_code,
                   std::vector<attribute> attributes);

  /// Completes every queued and in-flight request with `error` ("shutting
  /// down") and joins the I/O thread. Idempotent.
  void stop();

  /// A snapshot of the counters.
  coa_client_stats stats() const;

private:
  struct impl;
  explicit coa_client(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::radius
