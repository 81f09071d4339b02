#pragma once

#include "sagas/definition.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

// The five subscriber lifecycle sagas of design.md §4, as definitions. Each
// runs its steps top to bottom; on failure, the engine undoes the done steps
// bottom to top with the compensation named on the right ("-" = none, and
// why). A step marked [ftth] runs only for service type "ftth" (wireless and
// fixed have no PON); a step marked [policy x] only when the tenant switched
// policy x on; every step is skipped for a tenant without its system. The
// last act of a completed saga is the lifecycle output `subscriber.<verb>`,
// written with the `completed` state, not a step; a failed one emits
// `subscriber.<verb>_failed` with the failed step, the error and whether
// compensation completed.

namespace ispflow::sagas {

/// Per-system retry defaults of the lifecycle steps, shared with the drift
/// repair saga (repair_saga.hpp). RADIUS is local SQL and UDP to the NAS:
/// fast, short deadlines. The HTTP systems sit behind breakers and may be
/// slow.
inline constexpr retry_policy radius_retry{
  5, std::chrono::milliseconds{200}, 2.0, std::chrono::milliseconds{5'000}};
/// See `radius_retry`.
inline constexpr retry_policy http_retry{
  8, std::chrono::milliseconds{1'000}, 2.0, std::chrono::milliseconds{60'000}};

/// Names of the five sagas (the `name` of their definitions).
inline constexpr std::string_view activate_saga = "activate";
inline constexpr std::string_view suspend_saga = "suspend";
inline constexpr std::string_view resume_saga = "resume";
inline constexpr std::string_view change_plan_saga = "change_plan";
inline constexpr std::string_view terminate_saga = "terminate";

/// Tenant policy: suspend also disables the ONU (and resume enables it).
inline constexpr std::string_view policy_suspend_disable_onu
  = "suspend.disable_onu";
/// Tenant policy: terminate factory-resets the CPE.
inline constexpr std::string_view policy_terminate_factory_reset
  = "terminate.factory_reset_cpe";

/// activate, version 1.
///
/// ```
///  step                   operation                    compensation
///  allocate_ip            netbox.allocate_ip           netbox.release_ip
///  provision_radius       radius.provision             radius.deprovision
///    (credentials, plan group, Framed-IP-Address from allocate_ip's output)
///  provision_onu_service  voltha.provision_service     voltha.remove_service
///    [ftth]
///  configure_cpe          genieacs.configure_cpe       -  (1)
///  run_activation_job     awx.run_activation_job       awx.cancel_job  (2)
///  ──▶ subscriber.activated {ip_address, onu_id, cpe_id, plan_id}
/// ```
/// (1) A CPE's previous configuration is unknown, and a factory reset on a
/// failed activation would destroy a customer's own settings; with RADIUS
/// deprovisioned the CPE cannot get a session anyway.
/// (2) Runs only when the job step itself failed with an unknown outcome (a
/// launch may have happened): it cancels a still-running job by its key.
saga_definition make_activate_definition();

/// suspend, version 1. Deny strictly before disconnect: once deny commits, a
/// session cut by the disconnect cannot authenticate again.
///
/// ```
///  step                    operation                       compensation
///  deny                    radius.deny                     radius.restore_plan
///    (walled-garden group or Auth-Type := Reject in radcheck, committed)
///  disconnect_sessions     radius.disconnect_sessions      -  (1)
///    (Disconnect-Request or CoA per tenant policy; 503 = already gone)
///  verify_sessions_closed  radius.verify_sessions_closed   -  (2)
///    (polls radacct for Accounting-Stop; retried until a 60 s deadline)
///  disable_onu             voltha.disable_onu              voltha.enable_onu
///    [ftth] [policy suspend.disable_onu]
///  ──▶ subscriber.suspended
/// ```
/// (1) A cut session cannot be restored; after `restore_plan` the CPE simply
/// reconnects with full service.
/// (2) Read-only. If sessions are still open at the deadline the saga does
/// not claim success: the step fails, the deny is undone and billing gets
/// `subscriber.suspended_failed` naming verify_sessions_closed.
saga_definition make_suspend_definition();

/// resume, version 1.
///
/// ```
///  step                 operation                     compensation
///  restore_plan         radius.restore_plan           radius.deny
///  disconnect_sessions  radius.disconnect_sessions    -  (1)
///    (so the session re-authenticates with full service)
///  enable_onu           voltha.enable_onu             voltha.disable_onu
///    [ftth]  (idempotent: a no-op if suspend left the ONU enabled)
///  ──▶ subscriber.resumed
/// ```
/// (1) As in suspend: a cut session cannot be restored; after `deny` the
/// subscriber is back in the walled garden at the next login.
saga_definition make_resume_definition();

/// change_plan, version 1.
///
/// ```
///  step            operation              compensation
///  set_plan_group  radius.set_plan_group  radius.revert_plan_group  (1)
///  coa_sessions    radius.coa_sessions    -  (2)
///    (CoA-Request with the new rate attributes to every open session; on a
///     NAK the adapter falls back to Disconnect inside this operation)
///  ──▶ subscriber.plan_changed {plan_id}
/// ```
/// (1) The adapter reports the group it replaced as output
/// `previous_plan_group`; the revert reads it from the step's output.
/// (2) A permanent failure means neither CoA nor the Disconnect fallback
/// reached the NAS, so no session carries the new rates.
saga_definition make_change_plan_definition();

/// terminate, version 1. Forward only: nothing is ever undone (undoing would
/// re-activate a subscriber billing has ended). A step that fails after its
/// retries leaves the saga `needs_attention`; an operator retry runs it
/// again under a new generation.
///
/// ```
///  step                 operation                    compensation
///  deny                 radius.deny                  -
///  disconnect_sessions  radius.disconnect_sessions   -
///  remove_onu_service   voltha.remove_service        -   [ftth]
///  factory_reset_cpe    genieacs.factory_reset       -
///    [policy terminate.factory_reset_cpe]
///  deprovision_radius   radius.deprovision           -
///  release_ip           netbox.release_ip            -
///  ──▶ subscriber.terminated
/// ```
saga_definition make_terminate_definition();

/// Adds the five definitions; returns why one was refused, or nothing.
std::optional<std::string> register_lifecycle_sagas(saga_registry& registry);

/// The saga a billing `ce_type` starts, e.g. "activate" for
/// "billing.subscription.activated"; nothing for another type.
std::optional<std::string_view>
saga_for_event_type(std::string_view ce_type) noexcept;

} // namespace ispflow::sagas
