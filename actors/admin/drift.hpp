#pragma once

#include <caf/expected.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

// POST /v1/drift/scans, GET /v1/drift/scans, GET /v1/drift/scans/{id}: drift
// scans (actors/drift) as the admin API starts and shows them; the scans
// and findings are read from schema/0013's tables.

namespace ispflow::actors::admin {

/// `ce_source` of the inbox events of drift repairs (the scanner's
/// `repair_source`): GET /v1/drift/scans/{id} finds each finding's repair
/// saga by it.
inline constexpr const char* drift_repair_source = "ispflow/drift";

/// A scan an operator asked for.
struct drift_scan_order {
  /// One tenant; empty = every tenant (tokens bound to a tenant always
  /// name theirs).
  std::string tenant;
  /// "radius", "netbox", "voltha", "genieacs"; empty = all.
  std::vector<std::string> systems;
  /// Report only: no repair, no events.
  bool dry_run = false;
  /// Start a repair saga per subscriber with repairable differences (not
  /// with `dry_run`: refused, 400).
  bool repair = false;
};

/// Starts drift scans; ispflowd implements it with the drift scanner.
/// Called from HTTP worker threads: thread-safe, quick (the scan runs
/// elsewhere).
class drift_control {
public:
  virtual ~drift_control();

  /// Queues a scan and returns its id. Fails with errc::invalid_input for
  /// an unknown tenant or system (answered 400), errc::database_unavailable
  /// (503).
  virtual caf::expected<std::string> start_scan(const drift_scan_order& x) = 0;
};

namespace detail {

/// An answer of the drift routes: a JSON body, or an error (`code` set).
struct drift_answer {
  int status = 200;
  std::string body;
  std::string code;
  std::string message;
};

/// Parses the body of POST /v1/drift/scans: {"tenant":"t", "systems":
/// ["netbox"], "dry_run":true, "repair":false}, every member optional; an
/// empty body is {}. The error text otherwise (also for repair with
/// dry_run).
std::variant<drift_scan_order, std::string>
parse_drift_scan_order(const std::string& body);

/// The drift routes over one lazily (re)opened connection; thread-safe.
class drift_routes {
public:
  /// A query parameter of the request, "" when absent.
  using param_fn = std::function<std::string(const char*)>;

  explicit drift_routes(std::string dsn);
  ~drift_routes();

  /// POST /v1/drift/scans: 202 {"id":..., "state":"queued"}. A token bound
  /// to a tenant scans only its tenant.
  drift_answer start(const drift_scan_order& order, drift_control* control,
                     const std::optional<std::string>& token_tenant);

  /// GET /v1/drift/scans: the newest scans (`limit`, default 20, at most
  /// 200), filtered by `tenant`.
  drift_answer list(const param_fn& param,
                    const std::optional<std::string>& token_tenant);

  /// GET /v1/drift/scans/{id}: the scan and its findings (at most `limit`,
  /// default 1000, at most 10000; filters `kind`, `system`), ordered by
  /// tenant, subscriber and kind; each with `repair` (the repair's inbox
  /// event id), `repair_saga_id`, `repair_state`, `repair_refused` (the
  /// router's reason) and `unrepairable` (why no repair can fix it). A token
  /// bound to a tenant sees only scans of its tenant.
  drift_answer show(const std::string& id, const param_fn& param,
                    const std::optional<std::string>& token_tenant);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace detail

} // namespace ispflow::actors::admin
