#pragma once

#include "sagas/definition.hpp"
#include "sagas/instance.hpp"
#include "sagas/retry.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

// The saga engine's pure core: one function that takes an instance and an
// input and returns the instance's next state plus the effects to perform.
// No I/O, no clock, no randomness of its own: the shell (the saga actor and
// the store) passes `now` and a random source, persists the instance, and
// carries out the commands. See sagas/README.md for the contract.

namespace ispflow::sagas {

// -- inputs -------------------------------------------------------------------

/// Starts a `pending` instance. Steps that do not apply to the instance's
/// service type and this tenant are marked `skipped` now, once.
struct start_saga {
  tenant_profile tenant;
};

/// The step operation (action, or compensation while compensating) succeeded.
struct step_succeeded {
  /// What it produced, merged into the step's output.
  field_map outputs;
};

/// The operation failed and may succeed if tried again (5xx, timeout before
/// sending, connection refused). Counts as an attempt.
struct step_retryable_failure {
  std::string error;
};

/// The operation failed and will fail again (4xx, validation, a NAK that no
/// fallback fixes). Counts as an attempt; no retry.
struct step_permanent_failure {
  std::string error;
};

/// The request was sent but no answer came in time: the effect may or may
/// not have happened. Counts as an attempt; the next attempt (or the
/// compensation) is sent with `reconcile = true`.
struct step_unknown_outcome {
  std::string error;
};

/// Not done yet, and nothing failed: the adapter's breaker or a tenant limit
/// held the call back (nothing was sent), or the adapter polls a job that
/// is still running. Not an attempt: the step waits `retry_after` (or until
/// its deadline, if sooner), then tries again.
struct step_parked {
  std::chrono::milliseconds retry_after{5'000};
  /// Why, as the adapter said it (e.g. "AWX job 12 is running"); becomes
  /// the step's `last_error` as "parked: <reason>". Empty: not said.
  std::string reason;
  /// The effect was started and is under way (e.g. an AWX job running):
  /// the next attempt reconciles instead of starting it again.
  bool under_way = false;
};

/// What an operation answered.
using step_outcome
  = std::variant<step_succeeded, step_retryable_failure, step_permanent_failure,
                 step_unknown_outcome, step_parked>;

/// The answer to a `run_step` or `run_compensation` command.
struct step_result {
  size_t step = 0;
  /// The generation of the command; a result from another one is stale.
  int64_t generation = 0;
  step_outcome outcome;
};

/// A timer from `schedule_timer` came due.
struct timer_fired {
  size_t step = 0;
  int64_t generation = 0;
};

/// An operator cancels the saga.
struct cancel_requested {
  std::string reason;
};

/// An operator retries a saga in `needs_attention`: the stuck step (or
/// compensation) runs again under generation + 1, with fresh attempts and a
/// fresh deadline.
struct retry_requested {
  std::string reason;
};

/// The instance was just loaded after a restart or a partition move: repeat
/// whatever was in flight (same idempotency key, `reconcile = true`) and
/// re-arm a pending timer.
struct resume_after_restart {};

/// Everything that can happen to an instance.
using saga_input
  = std::variant<start_saga, step_result, timer_fired, cancel_requested,
                 retry_requested, resume_after_restart>;

// -- commands -----------------------------------------------------------------

/// One adapter operation to run.
struct operation_call {
  size_t step = 0;
  std::string step_name;
  target_system system = target_system::none;
  /// E.g. "netbox.allocate_ip" or, for a compensation, "netbox.release_ip".
  std::string operation;
  /// "<saga id>/<step name>/<generation>".
  std::string idempotency_key;
  int64_t generation = 0;
  /// Look up whether a previous attempt took effect before acting.
  bool reconcile = false;
  /// The shell reports `step_unknown_outcome` if no answer comes in time.
  std::chrono::milliseconds attempt_timeout{0};
  /// The payload and earlier steps' outputs (for a compensation, the step's
  /// own output too).
  field_map input;

  friend bool operator==(const operation_call&, const operation_call&)
    = default;
};

/// Run a step's action; answer with `step_result`.
struct run_step {
  operation_call call;

  friend bool operator==(const run_step&, const run_step&) = default;
};

/// Run a step's compensation; answer with `step_result`.
struct run_compensation {
  operation_call call;

  friend bool operator==(const run_compensation&, const run_compensation&)
    = default;
};

/// Persist a timer row; deliver `timer_fired{step, generation}` at `due`.
/// Rows are keyed by (saga id, step, generation): scheduling again replaces.
struct schedule_timer {
  time_point due;
  size_t step = 0;
  int64_t generation = 0;

  friend bool operator==(const schedule_timer&, const schedule_timer&)
    = default;
};

/// An outbox row for saga.events.v1, e.g. type "saga.step_failed". The shell
/// adds saga id, name, version, tenant, subscriber and time.
struct emit_saga_event {
  std::string type;
  /// Empty for saga-level events.
  std::string step;
  /// E.g. {"attempt": "2", "error": "..."}.
  field_map fields;

  friend bool operator==(const emit_saga_event&, const emit_saga_event&)
    = default;
};

/// An outbox row for lifecycle.events.v1: `subscriber.<verb>` or
/// `subscriber.<verb>_failed`. The shell adds tenant, subscriber, saga id
/// and causation id. Failures carry "failed_step", "error" and
/// "compensated" ("true"/"false"); both carry the definition's
/// `lifecycle_fields` found in the input view (the ids produced).
struct emit_lifecycle {
  std::string type;
  field_map fields;

  friend bool operator==(const emit_lifecycle&, const emit_lifecycle&)
    = default;
};

/// The instance reached `completed`, `compensated`, `cancelled` or
/// `needs_attention`: no effect is outstanding; the saga actor may stop.
struct finished {
  saga_state state = saga_state::completed;

  friend bool operator==(const finished&, const finished&) = default;
};

/// One thing for the shell to do after the transition is durable.
using saga_command = std::variant<run_step, run_compensation, schedule_timer,
                                  emit_saga_event, emit_lifecycle, finished>;

// -- the transition function --------------------------------------------------

/// Applies `input` to `inst` (which must fit `def`, see `check_instance`) at
/// time `now`, drawing backoff jitter from `random`. Mutates `inst` and
/// returns the commands, in order. Inputs that do not fit the instance's
/// state (stale generation, a step not in flight, a terminal saga) change
/// nothing and return no command.
///
/// The shell must persist `inst` together with the emit_* commands (outbox
/// rows) and schedule_timer commands (timer rows) in one transaction, and
/// only then send the run_* commands and act on `finished`.
std::vector<saga_command> transition(const saga_definition& def,
                                     saga_instance& inst,
                                     const saga_input& input, time_point now,
                                     const uniform_random_source& random);

/// "subscriber.<verb>" for `def`.
std::string lifecycle_type(const saga_definition& def);

/// "subscriber.<verb>_failed" for `def`.
std::string lifecycle_failed_type(const saga_definition& def);

} // namespace ispflow::sagas
