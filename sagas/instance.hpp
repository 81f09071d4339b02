#pragma once

#include "sagas/definition.hpp"
#include "sagas/states.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ispflow::sagas {

/// Wall-clock time as stored in PostgreSQL (timestamptz).
using time_point = std::chrono::system_clock::time_point;

/// String to string: billing payload fields and the ids a step produced.
using field_map = std::map<std::string, std::string>;

/// One step of one instance: everything the store persists per step row
/// (saga_steps). Plain data; the engine is the only writer.
struct step_record {
  step_state state = step_state::pending;
  /// Attempts of the action that got an answer (parked ones excluded).
  int32_t attempts = 0;
  /// The last error an adapter reported (forward or compensation).
  std::string last_error;
  /// What the step produced, e.g. {"ip_address": "100.64.0.7"}.
  field_map output;
  /// When the action was first tried; the step deadline counts from here.
  std::optional<time_point> first_attempt_at;
  /// Set while the step waits for a timer (backoff or parked); unset while
  /// an attempt is in flight.
  std::optional<time_point> next_attempt_at;
  /// The next attempt (action or compensation) must first look up whether
  /// the previous one took effect: its outcome is unknown.
  bool reconcile = false;
  /// The instance generation the action last ran under. A compensation is
  /// keyed with it, so it names the effect it undoes even after an operator
  /// retry moved the instance to a later generation.
  int64_t generation = 0;
  /// Attempts of the compensation that got an answer.
  int32_t compensation_attempts = 0;
  /// When the compensation was first tried; its deadline counts from here.
  std::optional<time_point> compensation_started_at;

  friend bool operator==(const step_record&, const step_record&) = default;
};

/// One saga instance: everything the store persists in the `sagas` row plus
/// its `saga_steps` rows. Plain data with value semantics.
struct saga_instance {
  /// Unique, e.g. a UUID; prefix of every idempotency key.
  std::string id;
  /// Definition name and the version this instance runs to the end.
  std::string name;
  int32_t version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  /// "ftth", "wireless" or "fixed".
  std::string service_type;
  /// The ce_id of the billing event that caused the saga.
  std::string causation;
  /// The billing payload, flattened (e.g. "plan_id", "access.onu_serial").
  field_map payload;
  saga_state state = saga_state::pending;
  /// The step in progress: forward while running, the one being undone
  /// while compensating.
  size_t cursor = 0;
  /// Part of every idempotency key. Unchanged by retries and restarts (so an
  /// adapter recognises a repeat); incremented only by an operator retry.
  int64_t generation = 0;
  /// An operator cancel arrived while an attempt was in flight; the engine
  /// compensates once that attempt answers.
  bool cancel_requested = false;
  /// The step that failed and why, once the saga stopped going forward.
  std::string failed_step;
  std::string error;
  /// The state's history, by the `now` of each transition.
  time_point created_at;
  time_point updated_at;
  /// One record per step of the definition, same order.
  std::vector<step_record> steps;
  /// W3C traceparent of the billing event that started the saga (empty when
  /// it had none): sent on with every adapter call and emitted event. Not
  /// persisted: a saga resumed after a restart carries none.
  std::string traceparent;

  friend bool operator==(const saga_instance&, const saga_instance&) = default;
};

/// The seed of a new instance.
struct instance_seed {
  std::string id;
  std::string tenant_id;
  std::string subscriber_id;
  std::string service_type;
  std::string causation;
  field_map payload;
};

/// A new `pending` instance of `def`, with one pending record per step.
saga_instance make_instance(const saga_definition& def, instance_seed seed,
                            time_point now);

/// "<saga id>/<step name>/<generation>".
std::string idempotency_key(const saga_instance& inst,
                            const saga_definition& def, size_t step,
                            int64_t generation);

/// What step `step` sees: the billing payload, overlaid by the outputs of
/// every earlier step in order (a later step's key wins). With
/// `include_own_output`, the step's own output too (compensations need it).
field_map input_view(const saga_instance& inst, size_t step,
                     bool include_own_output = false);

/// True for a flattened payload or output key that may hold a secret: its
/// name contains "password", "secret", "token", "psk" or "sealed" (any
/// case), e.g. "credentials.password", "credentials.sealed" (a sealed
/// credential or a reference to one: common/seal.hpp).
bool is_secret_field(std::string_view key) noexcept;

/// Removes every secret field (`is_secret_field`) from `inst.payload`: the
/// engine calls it once no step of the saga needs them any more.
void drop_secrets(saga_instance& inst);

/// True while `inst` may still run an operation that reads the subscriber's
/// credentials from its payload: it is not finished and a step of `def`
/// doing `radius.provision` (stores the password hashed) or
/// `genieacs.configure_cpe` (gives it to the CPE's PPPoE client) has not
/// succeeded or been skipped. The engine and the store drop secrets by it.
bool secrets_needed(const saga_definition& def, const saga_instance& inst);

/// Why `inst` does not fit `def` (other name or version, wrong number of
/// step records, cursor out of range), or nothing. The store calls it after
/// loading a row.
std::optional<std::string> check_instance(const saga_definition& def,
                                          const saga_instance& inst);

} // namespace ispflow::sagas
