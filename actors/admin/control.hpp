#pragma once

#include <caf/expected.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

// What the admin API asks of the live engine. ispflowd implements these
// against the saga router and the breakers; tests use fakes. Calls come from
// the HTTP worker threads: implementations must be thread-safe and may block
// (e.g. a scoped_actor request with a timeout).

namespace ispflow::actors::admin {

/// Operator actions on running sagas.
class saga_control {
public:
  virtual ~saga_control();

  /// Retries a `needs_attention` (or failed) saga from its failed step.
  /// Fails with `errc::invalid_input` when the saga is unknown or not in a
  /// state that can be retried (answered 409), `errc::timeout` (504),
  /// `errc::shutting_down` or `errc::database_unavailable` (503).
  virtual caf::expected<void> retry(const std::string& saga_id) = 0;

  /// Cancels a saga (compensating what is done); errors as `retry`.
  virtual caf::expected<void> cancel(const std::string& saga_id) = 0;

  /// As `retry`, for a saga of Kafka partition `partition` (-1 = none):
  /// the engine writes the retry under the epoch it holds the partition at
  /// and fails with `errc::stale_epoch` when it does not hold it. Replies
  /// with the state the saga runs in. The default calls `retry` and replies
  /// "accepted".
  virtual caf::expected<std::string> retry_in(const std::string& saga_id,
                                              int32_t partition);

  /// As `retry_in`, for `cancel`.
  virtual caf::expected<std::string> cancel_in(const std::string& saga_id,
                                               int32_t partition);
};

/// One circuit breaker as the admin API lists it.
struct breaker_info {
  /// Stable id used in /v1/breakers/{id}/open|close, e.g. "t1/netbox".
  std::string id;
  /// The tenant the breaker belongs to; empty for a shared one.
  std::string tenant_id;
  /// The downstream system, e.g. "netbox".
  std::string system;
  /// "closed", "open", "half_open", or a forced state.
  std::string state;
  /// Counters as the breaker keeps them, e.g. {"failures", 3}.
  std::map<std::string, uint64_t> counters;

  friend bool operator==(const breaker_info&, const breaker_info&) = default;
};

/// Operator access to the circuit breakers.
class breaker_control {
public:
  virtual ~breaker_control();

  /// Every breaker with its state and counters.
  virtual caf::expected<std::vector<breaker_info>> list() = 0;

  /// Forces breaker `id` open until `force_close`. Fails with
  /// `errc::invalid_input` for an unknown id (answered 404).
  virtual caf::expected<void> force_open(const std::string& id) = 0;

  /// Forces breaker `id` closed (resets its counters); as `force_open`.
  virtual caf::expected<void> force_close(const std::string& id) = 0;
};

/// One named readiness check for /readyz, e.g. {"bus", ...}. Called on
/// every /readyz request from an HTTP worker thread; must be quick.
struct readiness_probe {
  std::string name;
  std::function<caf::expected<void>()> check;
};

} // namespace ispflow::actors::admin
