#pragma once

#include "sagas/definition.hpp"
#include "sagas/instance.hpp"
#include "sagas/states.hpp"

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

// What happens when billing events collide: whether the next billing event
// of a subscriber starts its saga or goes to the dead letters, and how each
// saga's end moves the subscriber's lifecycle state. Pure functions; the
// saga router keeps the state (subscribers.state) and calls them.
//
// One subscriber's sagas run one at a time, in input order, so an event is
// admitted only once the subscriber's earlier saga has ended: "suspend while
// the activation runs" is decided against the state the activation left
// (completed: active, so the suspend runs; compensated: none, so the suspend
// is dead-lettered `subscriber_not_active`). That is also why there is no
// "activating" state here: admission never sees a saga in flight.
//
// Admission, state (rows) × billing event (columns):
//
//   state       activated    suspended    resumed      plan_changed  terminated
//   none        activate     DL not_act.  DL not_act.  DL not_act.   terminate
//   active      DL already   suspend      DL already   change_plan   terminate
//   suspended   DL suspended suspend (1)  resume       DL susp. (2)  terminate
//   terminated  activate (3) DL termin.   DL termin.   DL termin.    DL termin.
//   unknown     DL attention DL attention DL attention DL attention  terminate
//
// DL = dead letter with reason: not_act. = subscriber_not_active,
// already = already_active, suspended/susp. = subscriber_suspended,
// termin. = subscriber_terminated, attention = subscriber_needs_attention.
// Any other event type: DL unknown_type.
// (1) Suspending a suspended subscriber runs the suspend saga again: every
//     step is idempotent, a changed reason (non_payment -> fraud) applies the
//     tenant's policy for it, and billing gets its `subscriber.suspended`.
// (2) change_plan swaps the RADIUS plan group and sends CoA with the new
//     rates to open sessions, which would lift a walled-garden suspension.
//     Billing re-sends (or an operator re-drives) it after the resume.
// (3) A returning customer may keep the subscriber id.
// Terminate runs from every state but `terminated`: billing ended the
// contract, and terminate's steps treat "already absent" as done (they must
// anyway, to retry after an unknown outcome), so it also clears what a
// compensated activation left (the CPE configuration) and is the one way
// out of `unknown` that needs no guess.
//
// Next state, by the saga's outcome (see `settled_outcome`):
//
//   saga         completed    compensated / cancelled   needs_attention
//   activate     active       unchanged                 unknown
//   suspend      suspended    unchanged                 unknown
//   resume       active       unchanged                 unknown
//   change_plan  unchanged    unchanged                 unknown
//   terminate    terminated   unchanged                 unknown
//
// "unchanged" is the state the saga was admitted in: compensation undid
// every done step that can be undone, and the ones that cannot (a cut
// session, a CPE configuration) do not change what the subscriber may do.

namespace ispflow::sagas {

/// A subscriber's lifecycle state between sagas. Stored as text
/// (subscribers.state): never rename one, only add.
enum class subscriber_state {
  /// Never activated, or the activation was undone.
  none,
  /// Has service.
  active,
  /// Denied or in the walled garden.
  suspended,
  /// Removed from every system.
  terminated,
  /// A saga stopped half-way (needs_attention, or abandoned there by an
  /// operator cancel): what the network holds is not known. Only terminate
  /// is admitted until an operator sets the state.
  unknown,
};

/// Stable lower-case name, e.g. "suspended".
std::string_view to_string(subscriber_state x) noexcept;

/// Inverse of `to_string`; nothing for an unknown name.
std::optional<subscriber_state>
parse_subscriber_state(std::string_view str) noexcept;

/// Prints `to_string(x)`.
std::ostream& operator<<(std::ostream& os, subscriber_state x);

/// The machine-readable reasons of refused billing events. They go into the
/// dead letter's `error` next to intake's reasons; never rename one.
namespace admission_reasons {

/// Suspend, resume or plan change for a subscriber without service.
inline constexpr std::string_view subscriber_not_active
  = "subscriber_not_active";
/// Activation or resume of a subscriber that has service.
inline constexpr std::string_view already_active = "already_active";
/// Activation or plan change of a suspended subscriber.
inline constexpr std::string_view subscriber_suspended = "subscriber_suspended";
/// Anything but a new activation after termination.
inline constexpr std::string_view subscriber_terminated
  = "subscriber_terminated";
/// Anything but terminate while the subscriber's state is unknown.
inline constexpr std::string_view subscriber_needs_attention
  = "subscriber_needs_attention";
/// Not a billing input type (the same code as intake's).
inline constexpr std::string_view unknown_type = "unknown_type";
/// A drift repair (repair_saga.hpp) of a subscriber whose state changed
/// since the scan, or that has no network state to repair any more: the
/// next scan judges it again.
inline constexpr std::string_view drift_repair_stale = "drift_repair_stale";

} // namespace admission_reasons

/// Start a saga, or refuse the event with a reason.
struct admission_decision {
  /// The saga to start, e.g. "suspend"; empty when the event is refused.
  std::string saga;
  /// One of `admission_reasons`; empty when the saga starts.
  std::string reason;
  /// For the dead letter's detail, e.g. "billing.subscription.resumed for a
  /// subscriber in state none".
  std::string detail;

  /// True if the saga starts.
  bool starts() const noexcept {
    return !saga.empty();
  }

  friend bool operator==(const admission_decision&, const admission_decision&)
    = default;
};

/// Prints "start <saga>" or "dead_letter <reason>: <detail>".
std::ostream& operator<<(std::ostream& os, const admission_decision& x);

/// What the billing event `event_type` (a `billing.subscription.*` ce_type)
/// does to a subscriber in `state`; see the table above. Call it when the
/// subscriber's earlier saga has ended, right before starting the next.
admission_decision admit(subscriber_state state, std::string_view event_type);

/// As `admit`, and also the drift repair event (`repair_event_type`, with
/// its flattened `payload`): it starts the repair saga only if `state` is
/// still the one the scan repaired for (`repair_state_key`), else it is
/// refused `drift_repair_stale`.
admission_decision admit(subscriber_state state, std::string_view event_type,
                         const field_map& payload);

/// The state after saga `saga` (a definition name) admitted in `before`
/// ended in `outcome`; see the table above. Non-final outcomes (pending,
/// running, compensating), the repair saga (it restores the network to the
/// record, whatever its outcome) and unknown sagas leave `before`. Pass
/// `settled_outcome(def, inst)`, not `inst.state`.
subscriber_state next_state(subscriber_state before, std::string_view saga,
                            saga_state outcome);

/// The outcome of `inst` as far as the subscriber is concerned: its state,
/// except that a `cancelled` instance that left effects behind counts as
/// `needs_attention`. That is an operator cancel of a saga in
/// needs_attention (abandoned: a step with a compensation is still
/// succeeded, compensating, or failed with an unknown outcome), or a cancel
/// of a forward-only saga (terminate) after a step succeeded.
saga_state settled_outcome(const saga_definition& def,
                           const saga_instance& inst);

} // namespace ispflow::sagas
