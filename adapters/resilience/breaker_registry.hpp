#pragma once

#include "adapters/resilience/circuit_breaker.hpp"

#include <compare>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace ispflow::adapters::resilience {

/// Identifies one breaker: one per (tenant, adapter, endpoint).
struct breaker_key {
  /// The tenant id, e.g. "acme".
  std::string tenant;
  /// The system, e.g. "netbox", "genieacs".
  std::string adapter;
  /// The endpoint within it, e.g. a base URL or "default".
  std::string endpoint;

  friend auto operator<=>(const breaker_key&, const breaker_key&) = default;
  friend bool operator==(const breaker_key&, const breaker_key&) = default;
};

/// "tenant/adapter/endpoint".
std::string to_string(const breaker_key& x);

/// Prints `to_string(x)`.
std::ostream& operator<<(std::ostream& os, const breaker_key& x);

/// Which configuration a new breaker gets: the first match of
/// "tenant/adapter" in `by_tenant_adapter`, then "adapter" in `by_adapter`,
/// then `defaults`.
struct registry_config {
  breaker_config defaults;
  std::map<std::string, breaker_config> by_adapter;
  std::map<std::string, breaker_config> by_tenant_adapter;
};

/// Checks every configuration in `cfg` (see `validate(breaker_config)`).
caf::error validate(const registry_config& cfg);

/// Called after any breaker of the registry changes state, outside its lock.
using keyed_transition_listener
  = std::function<void(const breaker_key&, const breaker_transition&)>;

/// The breakers of a process, created from configuration on first use.
/// Thread-safe; breakers live as long as the registry (or a holder).
class breaker_registry {
public:
  /// An empty registry.
  explicit breaker_registry(registry_config cfg = {});

  ~breaker_registry();

  breaker_registry(const breaker_registry&) = delete;
  breaker_registry& operator=(const breaker_registry&) = delete;

  /// The breaker for `key`, created (closed, at `now`) if it is new.
  std::shared_ptr<circuit_breaker> get(const breaker_key& key, time_point now);

  /// The breaker for `key` if it exists.
  std::shared_ptr<circuit_breaker> find(const breaker_key& key) const;

  /// The configuration a breaker for `key` gets.
  breaker_config config_for(const breaker_key& key) const;

  /// Every breaker's state and counters, ordered by key.
  std::vector<std::pair<breaker_key, breaker_snapshot>> snapshots() const;

  /// Applies time-driven transitions to every breaker (see
  /// `circuit_breaker::tick`).
  void tick(time_point now);

  /// Adds a listener for every breaker, existing and future.
  void on_transition(keyed_transition_listener listener);

  /// Number of breakers.
  size_t size() const;

  struct listeners;

private:
  registry_config cfg_;
  mutable std::mutex mtx_;
  std::map<breaker_key, std::shared_ptr<circuit_breaker>> breakers_;
  std::shared_ptr<listeners> listeners_;
};

} // namespace ispflow::adapters::resilience
