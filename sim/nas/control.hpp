#pragma once

#include "sim/nas/simulator.hpp"

#include <caf/expected.hpp>
#include <cstdint>
#include <memory>
#include <string>

namespace ispflow::sim::nas {

/// Loopback HTTP control endpoint of a simulator:
/// GET /sessions -> 200 [{"id","username","framed_ip","attributes":{..}}];
/// POST /sessions/login {"username","password"} -> 200
/// {"accepted":bool,"session":{..}|null,"reply":{..}}, 502 when FreeRADIUS
/// does not answer, 400 on bad JSON; POST /sessions/{id}/stop -> 204, 404;
/// GET /stats -> 200 {"received","acks","naks","duplicates",
/// "replies_signed","replies_unsigned","dropped_*","accounting_stops",
/// "accounting_failures"} (the CoA/DM server's counters, see coa_stats).
class control_server {
public:
  /// Binds host:port (port 0 picks one) and serves on its own thread.
  static caf::expected<std::unique_ptr<control_server>>
  start(simulator& sim, const std::string& host, uint16_t port);

  /// Stops serving.
  ~control_server();

  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  /// Bound port.
  uint16_t port() const;

  /// Stops serving and joins the thread. Idempotent.
  void stop();

private:
  struct impl;
  explicit control_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::sim::nas
