#pragma once

#include "sagas/definition.hpp"
#include "sagas/instance.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The drift repair saga (actors/drift): it brings one subscriber's network
// back to what the subscriber record says, without changing the record --
// but for the ONU's device id after `onu_replaced` (see
// `repair_record_fields`).
// A drift scan that finds repairable differences writes an inbox event of
// type `repair_event_type` for the subscriber (same transaction as the
// findings); the router admits it like a billing event, so the repair runs
// in the subscriber's order, fenced by the partition's epoch, persisted,
// retried and behind the same breakers as every saga.
//
// One definition holds every step a repair may need; the event's payload
// names the steps this repair runs (`drift.steps.<step>` = true, see
// `skip_rule::payload_flag`), the others are skipped when it starts. The
// steps are the lifecycle sagas' operations with the same idempotency key
// scheme (<saga id>/<step>/<generation>).
//
// ```
//  step                    operation                      for the kinds
//  restore_credentials     radius.restore_credentials     radius_user_missing
//  deny                    radius.deny                    radius_not_suspended,
//                                                         radius_user_missing
//  restore_plan            radius.restore_plan            radius_not_active,
//                                                         radius_user_missing
//  set_plan_group          radius.set_plan_group          radius_plan_mismatch
//  disconnect_sessions     radius.disconnect_sessions     radius_not_suspended,
//                                                         radius_not_active,
//                                                         session_after_suspend
//  verify_sessions_closed  radius.verify_sessions_closed  radius_not_suspended,
//                                                         session_after_suspend
//  coa_sessions            radius.coa_sessions            radius_plan_mismatch
//  provision_onu_service   voltha.provision_service       onu_replaced
//    [ftth]
//  enable_onu   [ftth]     voltha.enable_onu              onu_state_mismatch,
//                                                         onu_replaced
//  disable_onu  [ftth]     voltha.disable_onu             onu_state_mismatch,
//                                                         onu_replaced
//  assign_ip               netbox.assign_ip               netbox_ip_missing,
//                                                         netbox_ip_mismatch
//  release_stray_ips       netbox.release_stray_ips       netbox_ip_mismatch
//  tag_cpe                 genieacs.tag_cpe               cpe_tag_mismatch
//  configure_cpe           genieacs.configure_cpe         cpe_param_mismatch
//  ──▶ drift.repaired (saga.events.v1), not a lifecycle event
// ```
// (version 5; version 1, without the last four steps, restore_credentials
// and provision_onu_service, version 2, without restore_credentials,
// provision_onu_service and configure_cpe, version 3, without
// provision_onu_service and configure_cpe, and version 4, without
// configure_cpe, stay registered so that repairs written before an upgrade
// run as they started.)
//
// `cpe_param_mismatch` is repaired only when a sealing key is configured
// (credentials.seal_key_files) and the scan saw that the subscriber's
// account keeps the password sealed with one of the keys (schema/0018):
// configure_cpe runs the activation's genieacs.configure_cpe with input
// `credentials.sealed` = `radius_account`; the opener in front of the
// GenieACS adapter (adapters/radius/sealed_credentials.hpp) unseals the
// password into that one request, so no saga row, step output or event
// ever holds it.
//
// `onu_replaced` (VOLTHA has no device with the recorded id, another one
// carries the subscriber's ONU serial: the ONU was deleted or swapped and
// discovered again) provisions the subscriber's service on the device that
// now carries the serial: provision_onu_service is the activation's
// voltha.provision_service, which finds the ONU by the inherited "onu_id"
// and, that device being gone, by "access.onu_serial" (enabling it, then
// the olt app service, confirmed in programmed-subscribers), and answers
// the device id as output "onu_id", as in the activation. enable_onu or
// disable_onu then leaves the ONU as the record's state wants it (as for
// `onu_state_mismatch`; they take the new id from that output). The record
// takes that output (`repair_record_fields`): it names the device the
// subscriber's serial is on.
//
// `radius_user_missing` is repaired only when the scan saw that ispflow's
// account keeps the password row provisioning wrote (hashed password
// storage, schema/0017) or the password sealed with a configured key
// (cleartext storage, schema/0018): restore_credentials puts it back, then deny
// (a suspended subscriber, with its sessions ended) or restore_plan (an active
// one) puts back the rest of the RADIUS state, since the scan compares
// nothing else of a user without a password row.
//
// The scan writes what these steps restore into the payload: "ip_address"
// (the recorded address), "cpe_id" and "cpe_tags.<n>" (the tags the CPE
// must carry). `assign_ip` gives the recorded address back to the
// subscriber and never takes one another subscriber holds (a permanent
// failure naming the holder); for a mismatch `release_stray_ips` then
// deletes the subscriber's other addresses, since a later allocation
// reuses the subscriber's first hit, which must be the recorded one.
// No step has a compensation: undoing a repair would restore the drift. A
// failed repair ends `compensated` with its failed step (nothing undone),
// so it never blocks the subscriber's billing sagas; the next scan finds
// what is left.

namespace ispflow::sagas {

/// The name of the repair saga's definition.
inline constexpr std::string_view repair_saga = "repair";

/// The inbox event type a drift scan writes for a repair.
inline constexpr std::string_view repair_event_type = "ispflow.drift.repair";

/// The payload key prefix of the steps a repair runs ("drift.steps.deny").
inline constexpr std::string_view repair_step_flag_prefix = "drift.steps.";

/// The payload key of the subscriber state the scan repaired for
/// ("active" or "suspended"): admission refuses the repair if the state
/// changed since (admission_reasons::drift_repair_stale).
inline constexpr std::string_view repair_state_key = "drift.state";

/// The repair saga's current version.
inline constexpr int32_t repair_saga_version = 5;

/// The first version with `configure_cpe` (sealed credentials).
inline constexpr int32_t sealed_credentials_version = 5;

/// The step of a repair whose output "onu_id" the subscriber record takes
/// (`onu_replaced`).
inline constexpr std::string_view repair_onu_step = "provision_onu_service";

/// The repair saga, current version.
saga_definition make_repair_definition();

/// The repair saga at `version` (1 to 5).
saga_definition make_repair_definition(int32_t version);

/// Adds the repair definitions (every version); returns why one was
/// refused, or nothing.
std::optional<std::string> register_repair_saga(saga_registry& registry);

/// What a repair is planned from: the record's state and the kinds of the
/// differences found (actors/drift/compare.hpp names them).
struct repair_input {
  /// "active" or "suspended".
  std::string state;
  /// "ftth", "wireless", "fixed".
  std::string service_type;
  /// Tenant policy suspend.disable_onu.
  bool suspend_disables_onu = false;
  /// The kinds found, e.g. {"radius_not_active", "onu_state_mismatch"}.
  std::vector<std::string> kinds;
  /// ispflow's RADIUS account keeps the password row it wrote (a hash), so
  /// `radius_user_missing` can be repaired.
  bool stored_password = false;
  /// A sealing key is configured (credentials.seal_key_files).
  bool sealing_configured = false;
  /// The account keeps the password sealed with a configured key, so
  /// `cpe_param_mismatch` can be repaired (configure_cpe), and so can
  /// `radius_user_missing` without a stored hash (restore_credentials
  /// writes the unsealed password as the tenant stores passwords).
  bool sealed_password = false;
};

/// A kind no step repairs, and what the operator should do about it.
struct unrepairable_kind {
  std::string kind;
  std::string reason;

  friend bool operator==(const unrepairable_kind&, const unrepairable_kind&)
    = default;
};

/// What a repair does.
struct repair_plan {
  /// The steps to run, in definition order, without duplicates.
  std::vector<std::string> steps;
  /// The kinds the steps repair, in input order.
  std::vector<std::string> repaired;
  /// The kinds no step repairs, in input order, with the reason.
  std::vector<unrepairable_kind> unrepairable;

  friend bool operator==(const repair_plan&, const repair_plan&) = default;
};

/// The kinds a repair saga's payload lists as repaired
/// (`drift.findings.<n>.kind`), in order; empty for another saga.
std::vector<std::string>
repaired_kinds(const std::map<std::string, std::string>& payload);

/// The steps that repair `x.kinds` (pure). A kind is unrepairable when the
/// record lacks what a repair needs (no stored password hash:
/// `radius_user_missing` without `stored_password` nor `sealed_password`),
/// the device is gone (`onu_missing`: no device carries the serial either,
/// `cpe_missing`), ispflow keeps no sealed password the CPE would need with
/// its username (`cpe_param_mismatch` without `sealed_password`; the reason
/// says whether a sealing key is missing), the kind does not fit the state,
/// or the kind is unknown.
repair_plan plan_repair(const repair_input& x);

/// What a finished (completed, compensated or cancelled) repair changes in
/// its subscriber's record and profile: "onu_id", the output of its
/// succeeded `repair_onu_step` (the device now carrying the subscriber's
/// ONU serial); nothing else, and nothing for another saga or a repair not
/// finished. A repair has no compensation, so a step that succeeded stays
/// done whatever the saga's end. Both saga stores apply it
/// (adapters/postgres/subscriber_record.cpp, actors/saga_store.cpp).
field_map repair_record_fields(const saga_definition& def,
                               const saga_instance& inst);

} // namespace ispflow::sagas
