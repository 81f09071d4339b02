#pragma once

#include "actors/admin/auth.hpp"
#include "actors/admin/commands.hpp"
#include "actors/admin/control.hpp"
#include "actors/admin/drift.hpp"
#include "actors/admin/metrics.hpp"
#include "events/intake_check.hpp"

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ispflow::actors::admin {

/// What the admin server works with besides its settings.
struct admin_deps {
  /// libpq DSN of the ispflow database (schema 0005 applied). Never logged.
  std::string dsn;
  /// Rendered at /metrics; the server adds its own families (requests,
  /// and database gauges computed at scrape time). Must outlive the server.
  /// When null, the server keeps a registry of its own.
  metrics_registry* metrics = nullptr;
  /// Retry and cancel; when null, those endpoints answer 501.
  std::shared_ptr<saga_control> sagas;
  /// This instance (operator_commands.taken_by); empty = "local".
  std::string instance_id;
  /// Whether (and at which epoch) this instance holds a partition: retry
  /// and cancel of a saga of a partition it holds run here at once; the
  /// others wait for the owner (`command_wait`). Empty = this process runs
  /// every partition (alone, unfenced).
  held_epoch_fn held_epoch;
  /// How long retry and cancel wait for the owner before answering 202
  /// with the command (GET /v1/commands/{id}).
  std::chrono::milliseconds command_wait{5'000};
  /// Breakers; when null, /v1/breakers answers 501.
  std::shared_ptr<breaker_control> breakers;
  /// Drift scans; when null, POST /v1/drift/scans answers 501.
  std::shared_ptr<drift_control> drift;
  /// Checked by /readyz after the server's own "database" probe.
  std::vector<readiness_probe> probes;
  /// Topic of `intake.accepted` events for re-driven events.
  std::string saga_topic = "saga.events.v1";
  /// Topic of dead-letter copies (used by intake's checks).
  std::string dead_letter_topic = "billing.events.v1.dlq";
  /// Which sources may speak for which tenants (`intake.sources`): a dead
  /// letter's re-drive passes this check as intake does, so that an
  /// operator cannot let in what a producer may not send (a reserved
  /// "ispflow/" source included). Events re-drive and replay mint records
  /// of the admin API's own reserved sources for inbox events, whose
  /// tenant was bound when intake accepted them; they skip it. The default
  /// lets any source speak for any tenant, the reserved ones excepted.
  events::source_policy sources = events::source_policy::allow_any();
};

/// The operators' HTTP API (see actors/admin/README.md for every route):
/// /v1/sagas, /v1/dead-letters, /v1/events/redrive, /v1/breakers, /metrics,
/// /healthz, /readyz, and the web console under /console/ (static files
/// built into the binary, no token needed for them; `/` redirects there).
/// Bearer tokens with scopes and tenants; every write is recorded in
/// `admin_audit`. Serves on its own threads (cpp-httplib).
class admin_server {
public:
  /// Checks the settings (tokens, address) and registers the server's
  /// metric families; does not touch the network or the database yet.
  /// Fails with `errc::invalid_config` naming the bad token or setting.
  static caf::expected<std::unique_ptr<admin_server>>
  make(admin_settings settings, admin_deps deps);

  ~admin_server();

  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  /// Binds the listen address and serves on a background thread. Returns
  /// the bound port (the chosen one when settings.port is 0). Fails with
  /// `errc::invalid_config` when the address cannot be bound.
  caf::expected<uint16_t> start();

  /// Stops serving and joins the thread; idempotent. Also run by the
  /// destructor.
  void stop();

  /// The bound port, 0 before `start`.
  uint16_t port() const noexcept;

  /// The bound port of the separate /metrics listener
  /// (`admin_settings::metrics_address`), 0 when there is none.
  uint16_t metrics_port() const noexcept;

private:
  struct impl;
  explicit admin_server(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::actors::admin
