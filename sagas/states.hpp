#pragma once

#include <iosfwd>
#include <optional>
#include <string_view>

// The states a saga and each of its steps move through. They are stored as
// text in PostgreSQL (sagas.state, saga_steps.state), so the names below are
// part of the storage contract: never rename one, only add.

namespace ispflow::sagas {

/// Where a saga instance is in its life.
///
/// ```
///   pending ──start──▶ running ──all steps done──▶ completed
///      │                 │
///      │ cancel          │ a step failed (permanent, attempts exhausted,
///      │                 │ deadline passed) or an operator cancelled
///      │                 ▼
///      │            compensating ──every undo done──▶ compensated
///      │                 │        (or, after a cancel, cancelled)
///      │                 │ an undo failed permanently or past its deadline
///      │                 ▼
///      │           needs_attention ──operator retry──▶ compensating
///      │                 └──────────operator cancel──▶ cancelled
///      └───────────────────────────────────────────▶ cancelled
/// ```
/// A forward-only saga (terminate) goes from `running` straight to
/// `needs_attention` when a step fails, and an operator retry takes it back
/// to `running`: it never undoes anything.
enum class saga_state {
  pending,
  running,
  completed,
  compensating,
  compensated,
  needs_attention,
  cancelled,
};

/// Where one step of an instance is.
///
/// ```
///   pending ──▶ running ──▶ succeeded ──▶ compensating ──▶ compensated
///      │           │
///      ▼           ▼
///   skipped      failed ──(unknown outcome only)──▶ compensating
/// ```
/// A `succeeded` step whose definition has no compensation stays `succeeded`
/// while the saga compensates around it.
enum class step_state {
  pending,
  running,
  succeeded,
  failed,
  compensating,
  compensated,
  skipped,
};

/// Stable lower-case name, e.g. "needs_attention".
std::string_view to_string(saga_state x) noexcept;

/// Stable lower-case name, e.g. "compensating".
std::string_view to_string(step_state x) noexcept;

/// Inverse of `to_string`; nothing for an unknown name.
std::optional<saga_state> parse_saga_state(std::string_view str) noexcept;

/// Inverse of `to_string`; nothing for an unknown name.
std::optional<step_state> parse_step_state(std::string_view str) noexcept;

/// Prints `to_string(x)`.
std::ostream& operator<<(std::ostream& os, saga_state x);

/// Prints `to_string(x)`.
std::ostream& operator<<(std::ostream& os, step_state x);

/// True for `completed`, `compensated` and `cancelled`: no input changes the
/// instance any more.
bool is_terminal(saga_state x) noexcept;

} // namespace ispflow::sagas
