#pragma once

#include "actors/drift/compare.hpp"
#include "adapters/genieacs/settings.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/netbox/settings.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ispflow::adapters::resilience {
class guard;
} // namespace ispflow::adapters::resilience

namespace ispflow::actors::drift {

/// One tenant as a scan sees it: which systems it runs and what its
/// configuration implies for the desired state.
struct tenant_view {
  /// ispflow tenant id.
  std::string tenant_id;
  /// The systems the tenant runs.
  bool radius = false;
  bool netbox = false;
  bool voltha = false;
  bool genieacs = false;
  /// "reject" or "walled_garden".
  std::string suspend_policy = "reject";
  /// The walled garden's RADIUS group.
  std::string walled_garden_group;
  /// RADIUS group by plan id (a plan absent here: the group is not judged).
  std::map<std::string, std::string> plan_groups;
  /// Tenant policy suspend.disable_onu.
  bool suspend_disables_onu = false;
  /// The tenant's NetBox (used when `netbox`).
  adapters::netbox::tenant_settings netbox_settings;
  /// The tenant's GenieACS NBI (used when `genieacs`).
  adapters::genieacs::tenant_settings genieacs_settings;
  /// Tags every CPE of the tenant must carry (`_tags`); empty = tags are
  /// not checked.
  std::vector<std::string> cpe_tags;
  /// The tenant's VOLTHA gRPC address (used when `voltha`).
  std::string voltha_grpc;
  /// Deadline of the ListDevices of a scan.
  std::chrono::milliseconds voltha_deadline{60'000};
};

/// What to scan.
struct scan_request {
  /// One tenant; empty = every configured tenant.
  std::string tenant_id;
  /// Systems to compare ("radius", "netbox", "voltha", "genieacs"); empty =
  /// all.
  std::vector<std::string> systems;
  /// Report only: no repair, no events.
  bool dry_run = false;
  /// Start a repair saga per subscriber with repairable differences; not
  /// with `dry_run` (refused).
  bool repair = false;
  /// "operator" or "schedule".
  std::string trigger = "operator";
};

/// The outcome of one scan (also stored in drift_scans).
struct scan_summary {
  std::string id;
  /// The request's trigger ("operator", "schedule").
  std::string trigger;
  /// "completed" or "failed".
  std::string state;
  /// Why it failed.
  std::string error;
  /// Subscribers compared.
  int64_t subscribers = 0;
  /// Differences found.
  int64_t findings = 0;
  /// Repairs queued (inbox events of repair sagas written).
  int64_t repairs = 0;
  /// Differences by kind.
  std::map<std::string, int64_t> by_kind;
  /// Differences no repair saga can fix, by kind (marked with the reason).
  std::map<std::string, int64_t> unrepairable;
  /// Requests sent, by system (HTTP exchanges, gRPC calls, SQL statements).
  std::map<std::string, uint64_t> requests;
  /// Systems not (fully) observed, with the first reason.
  std::map<std::string, std::string> unobserved;
};

/// What a scanner needs.
struct scanner_settings {
  /// The ispflow database (subscriber records, FreeRADIUS tables, drift
  /// tables, outbox). Never logged.
  std::string dsn;
  /// The configured tenants.
  std::vector<tenant_view> tenants;
  /// Records per page (one RADIUS statement per page).
  int page_size = 1'000;
  /// Requests per second to each system; absent or 0 = no limit.
  std::map<std::string, int> rate_per_second;
  /// Topic of drift.detected events (drift.repaired is the repair saga's).
  std::string saga_topic = "saga.events.v1";
  /// `ce_source` of those events.
  std::string source = "ispflow/drift";
  /// Breakers and tenant limits shared with the saga steps; null = none.
  std::shared_ptr<adapters::resilience::guard> guard;
  /// Runs the HTTP requests (NetBox, GenieACS).
  adapters::http::http_actor http;
  /// `ce_source` of the repair sagas' inbox events.
  std::string repair_source = "ispflow/drift";
  /// The inbox topic of a repair of a subscriber without input events
  /// (their partition otherwise): the billing topic.
  std::string repair_topic = "billing.events.v1";
  /// The ids of the configured sealing keys (common::keyring::key_ids);
  /// empty: none, so `cpe_param_mismatch` stays unrepairable.
  std::vector<std::string> seal_key_ids;
  /// Called after every scan (e.g. metrics), on the scan's thread.
  std::function<void(const scan_summary&)> on_scan;
};

/// Scans subscriber records against the network systems: per tenant, one
/// NetBox listing and one VOLTHA ListDevices per scan, one FreeRADIUS
/// statement per page of records, one GenieACS query per 100 CPEs; every
/// request through the guard (breaker and tenant limit of the same key as
/// the saga steps' calls) and the per-system rate. Findings are stored per
/// page (schema/0013) with their drift.detected events (outbox); a refused
/// or failing system is recorded as unobserved and its differences are not
/// judged. Scans run one at a time on the scanner's own thread.
class scanner {
public:
  /// Checks the settings; fails with errc::invalid_config.
  static caf::expected<std::unique_ptr<scanner>>
  make(caf::actor_system& sys, scanner_settings settings);

  ~scanner();
  scanner(const scanner&) = delete;
  scanner& operator=(const scanner&) = delete;

  /// Records a queued scan (drift_scans) and returns its id; the scanner's
  /// thread runs it. Fails with errc::invalid_input for an unknown tenant
  /// or system, errc::database_unavailable when it cannot be recorded.
  caf::expected<std::string> start(scan_request req);

  /// Records and runs a scan on the calling thread (tools, tests, bench).
  caf::expected<scan_summary> run(scan_request req);

  /// Queues `req` every `interval` (the first after one interval).
  void schedule(std::chrono::seconds interval, scan_request req);

  /// Stops the thread after the running scan's current page; idempotent.
  void stop();

private:
  struct impl;
  explicit scanner(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::actors::drift
