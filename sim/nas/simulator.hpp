#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ispflow::sim::nas {

/// A UDP peer as host and port.
struct endpoint {
  /// Numeric address or host name.
  std::string host = "127.0.0.1";
  /// UDP port; 0 disables the peer (e.g. no accounting server).
  uint16_t port = 0;
};

/// Fault injection: how the CoA/DM server misbehaves (a slow or dropping
/// NAS). Changed at run time with `simulator::set_faults`.
struct faults {
  /// Each new request is answered this long after it arrived (a slow
  /// NAS); it is in flight until then. A retransmission of a request still
  /// in flight is absorbed (counted as a duplicate, not answered twice).
  std::chrono::milliseconds reply_delay{0};
  /// Drop requests without an answer: none (0), every one (1), or every
  /// Nth (N). A dropped request has no effect, as if lost on the way.
  uint32_t drop_every = 0;

  friend bool operator==(const faults&, const faults&) = default;
};

/// Configuration of the NAS simulator.
struct config {
  /// FreeRADIUS authentication port (Access-Request).
  endpoint auth;
  /// FreeRADIUS accounting port (Accounting-Request); port 0: none sent.
  endpoint acct;
  /// Shared secret with FreeRADIUS and with CoA clients. Never logged.
  std::string secret;
  /// Our NAS-IP-Address (also checked in CoA/Disconnect-Requests).
  std::string nas_ip = "127.0.0.1";
  /// Address and port of the CoA/DM server; port 0 picks a free one.
  std::string coa_bind = "127.0.0.1";
  uint16_t coa_port = 0;
  /// Source addresses allowed to send CoA/DM; others are silently dropped.
  std::vector<std::string> coa_clients = {"127.0.0.1"};
  /// Drop CoA/DM requests without Message-Authenticator.
  bool require_message_authenticator = false;
  /// Answer like accel-ppp (accel-pppd/radius/dm_coa.c, dm_coa_send_ack /
  /// dm_coa_send_nak): ACK and NAK without Message-Authenticator, signed
  /// only by the Response Authenticator. Otherwise Message-Authenticator
  /// comes first in every reply.
  bool unsigned_replies = false;
  /// Event-Timestamp further than this from now is stale: silent drop.
  std::chrono::seconds event_timestamp_window{300};
  /// FreeRADIUS dictionary used to name and render attributes.
  std::string dictionary_path = "/usr/share/freeradius/dictionary";
  /// Per-attempt timeout and attempts towards FreeRADIUS.
  std::chrono::milliseconds radius_timeout{1000};
  uint32_t radius_attempts = 3;
  /// Accounting-Stops in flight towards FreeRADIUS at once: a NAS does not
  /// wait for one Accounting-Response before it sends the next.
  uint32_t acct_senders = 4;
  /// Send Accounting-On when started, as a NAS does after a (re)boot.
  bool accounting_on = false;
  /// Fault injection at start.
  nas::faults faults;
};

/// One subscriber session on the simulated BNG.
struct session {
  /// Acct-Session-Id.
  std::string id;
  /// User-Name.
  std::string username;
  /// Framed-IP-Address (from the Access-Accept), may be empty.
  std::string framed_ip;
  /// Authorization attributes by dictionary name with their text values,
  /// from the Access-Accept and updated by CoA (e.g. Mikrotik-Rate-Limit).
  std::vector<std::pair<std::string, std::string>> attributes;

  /// Value of an attribute by name, if present.
  std::optional<std::string> attribute(const std::string& name) const;
};

/// Result of a login attempt.
struct login_result {
  /// Access-Accept received (and Accounting-Start answered, if configured).
  bool accepted = false;
  /// Reply attributes (name, value) of the Accept or Reject.
  std::vector<std::pair<std::string, std::string>> reply;
  /// The new session on Accept.
  std::optional<nas::session> session;
};

/// Counters of the CoA/DM server.
struct coa_stats {
  /// Datagrams received.
  uint64_t received = 0;
  /// ACKs and NAKs sent for new requests.
  uint64_t acks = 0;
  uint64_t naks = 0;
  /// Retransmitted requests answered from the cache.
  uint64_t duplicates = 0;
  /// Replies sent (new and from the cache) with and without
  /// Message-Authenticator.
  uint64_t replies_signed = 0;
  uint64_t replies_unsigned = 0;
  /// Silent drops by reason.
  uint64_t dropped_unknown_source = 0;
  uint64_t dropped_malformed = 0;
  uint64_t dropped_bad_authenticator = 0;
  uint64_t dropped_stale = 0;
  /// Accounting-Stop requests FreeRADIUS answered / did not answer.
  uint64_t accounting_stops = 0;
  uint64_t accounting_failures = 0;
  /// Requests dropped by fault injection (`faults::drop_every`).
  uint64_t dropped_by_fault = 0;
  /// Most CoA/DM requests (retransmissions included) that arrived within
  /// any one second, by the kernel's receive timestamps: (t - 1 s, t].
  uint64_t peak_rate = 0;
  /// Requests accepted and not yet answered, now and at most.
  uint64_t in_flight = 0;
  uint64_t peak_in_flight = 0;
};

/// A BNG stand-in: a RADIUS client of FreeRADIUS (PAP Access-Request with
/// Message-Authenticator; Accounting Start/Interim/Stop) and an RFC 5176
/// CoA/Disconnect server (contracts.md §5.1). Thread-safe.
class simulator {
public:
  /// Loads the dictionary, binds the CoA port and starts its threads.
  static caf::expected<std::unique_ptr<simulator>> start(config cfg);

  /// Stops (see stop()).
  ~simulator();

  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  /// Access-Request (PAP) for a subscriber; on Accept opens a session and
  /// sends Accounting-Start. Errors: no/invalid reply from FreeRADIUS.
  caf::expected<login_result> login(const std::string& username,
                                    const std::string& password);

  /// Adds a session without talking to FreeRADIUS (for tests of the CoA
  /// server); returns it.
  session
  add_session(const std::string& username, const std::string& framed_ip,
              std::vector<std::pair<std::string, std::string>> attributes = {});

  /// Sends Accounting-On (RFC 2866 Acct-Status-Type 7): the NAS has
  /// (re)started and holds no session, so FreeRADIUS closes every session
  /// of this NAS-IP-Address still open in radacct.
  caf::error accounting_on();

  /// Sends Accounting-Off (Acct-Status-Type 8): the NAS goes down.
  caf::error accounting_off();

  /// Replaces the fault injection (applies to requests arriving after it).
  void set_faults(nas::faults f);

  /// The fault injection in force.
  nas::faults current_faults() const;

  /// Sends Accounting Interim-Update for a session.
  caf::error interim(const std::string& session_id);

  /// Ends a session (Acct-Terminate-Cause User-Request) with Accounting-Stop.
  /// errc::invalid_input if there is no such session.
  caf::error stop_session(const std::string& session_id);

  /// Open sessions.
  std::vector<session> sessions() const;

  /// One open session by Acct-Session-Id.
  std::optional<session> find(const std::string& session_id) const;

  /// Bound CoA/DM port.
  uint16_t coa_port() const;

  /// Counters.
  coa_stats stats() const;

  /// Waits until queued Accounting-Stops of disconnected sessions are sent.
  void flush_accounting();

  /// Stops the CoA server and the accounting worker. Idempotent.
  void stop();

private:
  struct impl;
  explicit simulator(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::sim::nas
