#pragma once

#include "sagas/retry.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ispflow::sagas {

// -- systems and tenants ------------------------------------------------------

/// The external system a step acts on; `none` for a step that needs no
/// adapter (it always applies).
enum class target_system { none, radius, netbox, voltha, genieacs, awx };

/// Stable lower-case name, e.g. "genieacs".
std::string_view to_string(target_system x) noexcept;

/// Inverse of `to_string`; nothing for an unknown name.
std::optional<target_system> parse_target_system(std::string_view str) noexcept;

/// What a tenant has and wants, as far as step selection goes. Read from the
/// tenant's configuration when a saga starts; the choice it leads to is
/// recorded in the instance (skipped steps), so later configuration changes
/// never alter a running saga.
struct tenant_profile {
  /// The systems the tenant runs, e.g. {radius, netbox, genieacs}.
  std::set<target_system> systems;
  /// Optional behaviours switched on, e.g. "suspend.disable_onu".
  std::set<std::string> policies;

  friend bool operator==(const tenant_profile&, const tenant_profile&)
    = default;
};

/// A profile with every system and no policy switched on.
tenant_profile full_tenant_profile();

// -- definitions --------------------------------------------------------------

/// When a step applies. All conditions must hold; otherwise the step is
/// `skipped` when the saga starts.
struct skip_rule {
  /// The service types ("ftth", "wireless", "fixed") the step is for; empty
  /// means every type.
  std::vector<std::string> service_types;
  /// The tenant policy that must be on, e.g. "terminate.factory_reset_cpe";
  /// empty means none is needed.
  std::string policy;
  /// The saga payload key that must hold "true", e.g.
  /// "drift.steps.deny"; empty means none is needed. Lets one definition
  /// serve sagas whose input picks the steps (repair_saga.hpp).
  std::string payload_flag;

  friend bool operator==(const skip_rule&, const skip_rule&) = default;
};

/// One step of a saga: an adapter operation, how to undo it, and how long
/// and how often to try.
struct step_definition {
  /// Unique within the saga; part of the idempotency key.
  std::string name;
  /// The system the operation runs on. A tenant without it skips the step.
  target_system system = target_system::none;
  /// The adapter operation, e.g. "netbox.allocate_ip".
  std::string action;
  /// The adapter operation that undoes `action`, e.g. "netbox.release_ip";
  /// empty when the step has none (see the saga's documentation for why).
  std::string compensation;
  /// Retries of `action`.
  retry_policy retry;
  /// Retries of `compensation`; max_attempts 0 means until the deadline.
  retry_policy compensation_retry{0, std::chrono::milliseconds{1000}, 2.0,
                                  std::chrono::milliseconds{60'000}};
  /// Bound of one attempt; the shell turns a longer wait into
  /// `unknown_outcome`.
  std::chrono::milliseconds attempt_timeout{10'000};
  /// The step fails once this much time has passed since its first attempt.
  std::chrono::milliseconds deadline{300'000};
  /// The compensation gives up (saga `needs_attention`) once this much time
  /// has passed since its first attempt.
  std::chrono::milliseconds compensation_deadline{3'600'000};
  /// When the step applies.
  skip_rule applies_when;

  /// True if the step has a compensation.
  bool compensable() const noexcept {
    return !compensation.empty();
  }

  friend bool operator==(const step_definition&, const step_definition&)
    = default;
};

/// True if `step` runs for this service type and tenant.
bool applies(const step_definition& step, std::string_view service_type,
             const tenant_profile& tenant);

/// True if `step` needs no payload flag, or `payload` (a saga's flattened
/// payload) holds its `applies_when.payload_flag` as "true".
bool requested(const step_definition& step,
               const std::map<std::string, std::string>& payload);

/// A named, versioned, ordered list of steps. Emitting the lifecycle event is
/// the engine's final act once every step is done, not a step: it is an
/// outbox row written in the same transaction as the `completed` state, so it
/// cannot fail on its own and needs no retry.
struct saga_definition {
  /// E.g. "activate".
  std::string name;
  /// Bumped whenever steps change; instances finish on their own version.
  int32_t version = 1;
  /// Run in order.
  std::vector<step_definition> steps;
  /// The verb of the lifecycle outputs: `subscriber.<verb>` on success,
  /// `subscriber.<verb>_failed` otherwise, e.g. "activated".
  std::string lifecycle_verb;
  /// Keys copied from the input view (billing payload and step outputs) into
  /// the lifecycle output when present, e.g. {"ip_address", "onu_id"}.
  std::vector<std::string> lifecycle_fields;
  /// True if failures never undo earlier steps: a failed step leads to
  /// `needs_attention` (terminate: undoing would re-activate a subscriber
  /// billing has ended).
  bool forward_only = false;

  /// The index of the step called `step_name`, if any.
  std::optional<size_t> index_of(std::string_view step_name) const;

  friend bool operator==(const saga_definition&, const saga_definition&)
    = default;
};

/// Why `def` is unusable (no name, no steps, an empty or duplicate step name,
/// a step without action, a non-positive deadline or timeout), or nothing.
std::optional<std::string> validate(const saga_definition& def);

// -- registry -----------------------------------------------------------------

/// Every known saga definition by (name, version). Running instances look up
/// the version they started with; new instances take the current (highest)
/// version. Filled once at start-up, then only read, so it needs no lock.
class saga_registry {
public:
  /// Adds `def`. Returns why it was refused (invalid, or that name and
  /// version already registered), or nothing when added.
  std::optional<std::string> add(saga_definition def);

  /// The definition `name` at `version`, or nullptr.
  const saga_definition* find(std::string_view name, int32_t version) const;

  /// The highest version of `name`, or nullptr.
  const saga_definition* current(std::string_view name) const;

  /// Every (name, version) registered, sorted.
  std::vector<std::pair<std::string, int32_t>> list() const;

private:
  std::map<std::pair<std::string, int32_t>, saga_definition, std::less<>> defs_;
};

} // namespace ispflow::sagas
