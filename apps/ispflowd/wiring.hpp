#pragma once

#include "actors/admin/auth.hpp"
#include "actors/admin/control.hpp"
#include "actors/admin/drift.hpp"
#include "actors/admin/metrics.hpp"
#include "actors/drift/scanner.hpp"
#include "actors/intake.hpp"
#include "actors/partition_lease.hpp"
#include "actors/saga_interfaces.hpp"
#include "actors/saga_router.hpp"
#include "adapters/api/adapters.hpp"
#include "adapters/kafka/consumer.hpp"
#include "common/config.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace ispflow::adapters::resilience {
class guard;
} // namespace ispflow::adapters::resilience

// How ispflowd turns its configuration into running adapters and the admin
// API's hooks into the saga engine. main.cpp keeps the start-up order.

namespace ispflow::common {
class keyring;
} // namespace ispflow::common

namespace ispflow::app {

/// The adapters of one process.
struct adapter_runtime {
  /// Breakers and tenant limits, shared by every adapter.
  std::shared_ptr<adapters::resilience::guard> guard;
  /// The actor serving each system (for every tenant that has it).
  std::map<sagas::target_system, adapters::api::adapter_actor> actors;
  /// Every actor started, to stop at shutdown.
  std::vector<caf::actor> all;
  /// The HTTP client actor of NetBox, GenieACS and AWX (drift scans use it
  /// too); invalid when no tenant runs one of them.
  adapters::http::http_actor http;
  /// Readiness probes (one per system in use).
  std::vector<actors::admin::readiness_probe> probes;
  /// The sealing keys (credentials.seal_key_files); null when none is
  /// configured. Never logged.
  std::shared_ptr<const common::keyring> seal;
};

/// Starts the adapters the tenants need (RADIUS with its CoA client,
/// VOLTHA, AWX, NetBox, GenieACS), each behind the shared breakers. Writes
/// the NAS list into FreeRADIUS's `nas` table first.
caf::expected<adapter_runtime> start_adapters(caf::actor_system& sys,
                                              const common::config& cfg);

/// The admin API's settings from `cfg.admin`.
caf::expected<actors::admin::admin_settings>
admin_settings_of(const common::config& cfg);

/// Registers the engine's own metrics in `metrics`: adapter call latency
/// per system, operation and outcome and adapter errors by class (through
/// `router`'s step observer), sagas started and ended by tenant, type and
/// outcome (through its saga observers), and the state of every breaker
/// (at scrape time).
caf::error add_engine_metrics(actors::admin::metrics_registry& metrics,
                              actors::saga_router_settings& router,
                              const adapter_runtime& adapters);

/// The consumer lag intake last saw, for /metrics (thread-safe).
class lag_board {
public:
  void set(std::vector<adapters::kafka::partition_lag> xs);
  std::vector<adapters::kafka::partition_lag> get() const;

private:
  mutable std::mutex mtx_;
  std::vector<adapters::kafka::partition_lag> lag_;
};

/// Registers intake's counters (events recorded and duplicate, dead
/// letters by reason) and sets `intake.on_batch` to feed them.
caf::error add_intake_metrics(actors::admin::metrics_registry& metrics,
                              actors::intake_settings& intake);

/// Registers `ispflow_consumer_lag{topic,partition}` from `board`.
caf::error add_lag_metric(actors::admin::metrics_registry& metrics,
                          std::shared_ptr<lag_board> board);

/// Registers the fencing counters of this instance (label `instance`):
/// `ispflow_stale_writes_refused_total` (saga writes the store refused
/// because another instance claimed the partition) and
/// `ispflow_lease_withheld_calls_total` (adapter calls not made because the
/// partition's lease ran out) and `ispflow_partitions_lost_total`
/// (partitions found claimed by another instance).
caf::error add_cluster_metrics(actors::admin::metrics_registry& metrics,
                               std::shared_ptr<actors::lease_board> leases);

/// Retry and cancel through the saga router (blocking, bounded).
std::shared_ptr<actors::admin::saga_control>
make_saga_control(caf::actor_system& sys, actors::saga_router_actor router);

/// The breakers of `guard`, listed and forced by id
/// "<tenant>/<adapter>/<endpoint>".
std::shared_ptr<actors::admin::breaker_control>
make_breaker_control(std::shared_ptr<adapters::resilience::guard> guard);

/// Drift reconciliation: the scanner (actors/drift) over the configured
/// tenants, behind `adapters.guard`, with the drift.* rates; scheduled
/// every `drift.interval_seconds` when `drift.enabled`; its metrics in
/// `metrics`
/// (`ispflow_drift_findings_total{kind}`, `ispflow_drift_scans_total
/// {trigger,state}`, `ispflow_drift_subscribers_scanned_total`,
/// `ispflow_drift_requests_total{system}`, `ispflow_drift_repairs_total`).
struct drift_runtime {
  std::unique_ptr<actors::drift::scanner> scanner;
  /// For the admin API's POST /v1/drift/scans.
  std::shared_ptr<actors::admin::drift_control> control;
};
caf::expected<drift_runtime>
start_drift(caf::actor_system& sys, const common::config& cfg,
            const adapter_runtime& adapters,
            actors::admin::metrics_registry& metrics);

/// Starts the retention actor with `cfg.retention`'s periods and pace;
/// nothing (a null handle) when `retention.enabled` is false.
caf::actor start_retention(caf::actor_system& sys, const common::config& cfg);

} // namespace ispflow::app
