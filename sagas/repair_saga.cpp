#include "sagas/repair_saga.hpp"

#include "sagas/lifecycle_sagas.hpp"

#include <algorithm>
#include <chrono>

namespace ispflow::sagas {

namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// The lifecycle sagas' per-system retry defaults (lifecycle_sagas.hpp).

step_definition repair_step(std::string name, target_system system,
                            std::string action, retry_policy retry,
                            milliseconds attempt_timeout,
                            milliseconds deadline) {
  step_definition x;
  x.applies_when.payload_flag = std::string{repair_step_flag_prefix} + name;
  x.name = std::move(name);
  x.system = system;
  x.action = std::move(action);
  x.retry = retry;
  x.attempt_timeout = attempt_timeout;
  x.deadline = deadline;
  return x;
}

step_definition radius_step(std::string name, std::string action) {
  return repair_step(std::move(name), target_system::radius, std::move(action),
                     radius_retry, 5s, 2min);
}

step_definition onu_step(std::string name, std::string action) {
  auto x = repair_step(std::move(name), target_system::voltha,
                       std::move(action), http_retry, 30s, 15min);
  x.applies_when.service_types = {"ftth"};
  return x;
}

step_definition http_step(std::string name, target_system system,
                          std::string action) {
  return repair_step(std::move(name), system, std::move(action), http_retry,
                     30s, 15min);
}

const std::string& reason_of(std::string_view kind) {
  static const std::vector<std::pair<std::string_view, std::string>> reasons{
    {"radius_user_missing",
     "ispflow keeps no password hash of the user (passwords stored in "
     "cleartext, or provisioned before hashes were kept): billing must "
     "re-send the activation (or an operator re-drive it) to provision the "
     "RADIUS user again; with a sealing key (credentials.seal_key_files) "
     "a cleartext password is kept sealed and can be restored"},
    {"onu_missing",
     "VOLTHA has no device with the recorded id nor one carrying the "
     "subscriber's ONU serial: the ONU must be discovered by its OLT "
     "(connect it, check its serial); once it is, the next scan finds "
     "onu_replaced and repairs it"},
    {"cpe_missing",
     "GenieACS has no such device: a missing CPE cannot be configured; "
     "connect it to the ACS, then billing must re-send the activation"},
    {"cpe_param_mismatch",
     "ispflow keeps no PPPoE password and the CPE is configured with both "
     "(a CPE that lost its username, e.g. by a factory reset, lost the "
     "password too, so setting the username alone would hide the drift, "
     "not end it): billing must re-send the activation; a sealing key "
     "(credentials.seal_key_files) would make it repairable for "
     "subscribers activated once it is set"},
  };
  static const std::string unknown = "unknown kind: upgrade ispflow";
  for (auto& [k, reason] : reasons)
    if (k == kind)
      return reason;
  return unknown;
}

// -- sealed credentials (version 5) -------------------------------------------

// The step that configures the CPE's PPPoE username and password again: the
// activation's operation (same intent and read-back in the GenieACS adapter,
// behind the same breaker), the password opened from the account's sealed
// copy when the step runs (adapters/radius/sealed_credentials.hpp, input
// `credentials.sealed`), never from the saga's payload.
void add_sealed_credential_steps(saga_definition& def, int32_t version) {
  if (version >= sealed_credentials_version)
    def.steps.push_back(http_step("configure_cpe", target_system::genieacs,
                                  "genieacs.configure_cpe"));
}

// `cpe_param_mismatch`: repairable when the account keeps the password
// sealed with a configured key; else the reason says what is missing.
template <class Fix, class Refuse, class Unfit>
void plan_cpe_credentials(const repair_input& x, const std::string& kind,
                          Fix&& fix, Refuse&& refuse, Unfit&& unfit) {
  if (!x.sealing_configured)
    refuse(kind, reason_of(kind));
  else if (!x.sealed_password)
    refuse(kind,
           "ispflow keeps no sealed PPPoE password of the subscriber that a "
           "configured key opens (activated before credentials."
           "seal_key_files was set, sealed with a key no longer listed, or "
           "RADIUS not scanned): billing must re-send the activation");
  else if (x.state == "active" || x.state == "suspended")
    fix(kind, {"configure_cpe"});
  else
    unfit(kind);
}

} // namespace

saga_definition make_repair_definition() {
  return make_repair_definition(repair_saga_version);
}

saga_definition make_repair_definition(int32_t version) {
  saga_definition def;
  def.name = std::string{repair_saga};
  def.version = version;
  def.lifecycle_verb = "repaired";
  // Poll radacct until the Accounting-Stop shows, for at most 60 s.
  auto verify = repair_step("verify_sessions_closed", target_system::radius,
                            "radius.verify_sessions_closed",
                            retry_policy{0, 500ms, 1.5, 5'000ms}, 5s, 60s);
  def.steps = {};
  if (version >= 3)
    def.steps.push_back(
      radius_step("restore_credentials", "radius.restore_credentials"));
  def.steps.insert(
    def.steps.end(),
    {
      radius_step("deny", "radius.deny"),
      radius_step("restore_plan", "radius.restore_plan"),
      radius_step("set_plan_group", "radius.set_plan_group"),
      radius_step("disconnect_sessions", "radius.disconnect_sessions"),
      verify,
      radius_step("coa_sessions", "radius.coa_sessions"),
    });
  // Before enable_onu and disable_onu: they take the new device's id from
  // its output, and leave the ONU as the record's state wants it.
  if (version >= 4)
    def.steps.push_back(
      onu_step(std::string{repair_onu_step}, "voltha.provision_service"));
  def.steps.push_back(onu_step("enable_onu", "voltha.enable_onu"));
  def.steps.push_back(onu_step("disable_onu", "voltha.disable_onu"));
  if (version >= 2) {
    def.steps.push_back(
      http_step("assign_ip", target_system::netbox, "netbox.assign_ip"));
    def.steps.push_back(http_step("release_stray_ips", target_system::netbox,
                                  "netbox.release_stray_ips"));
    def.steps.push_back(
      http_step("tag_cpe", target_system::genieacs, "genieacs.tag_cpe"));
  }
  add_sealed_credential_steps(def, version);
  return def;
}

std::optional<std::string> register_repair_saga(saga_registry& registry) {
  // Older versions too: repairs written before the upgrade run as they
  // started.
  for (int32_t v = 1; v <= repair_saga_version; ++v)
    if (auto why = registry.add(make_repair_definition(v)))
      return why;
  return std::nullopt;
}

std::vector<std::string>
repaired_kinds(const std::map<std::string, std::string>& payload) {
  std::vector<std::string> out;
  for (size_t n = 0;; ++n) {
    auto i = payload.find("drift.findings." + std::to_string(n) + ".kind");
    if (i == payload.end())
      return out;
    out.push_back(i->second);
  }
}

repair_plan plan_repair(const repair_input& x) {
  repair_plan out;
  std::vector<std::string> wanted;
  bool active = x.state == "active";
  bool suspended = x.state == "suspended";
  auto fix = [&](const std::string& kind,
                 std::initializer_list<std::string_view> steps) {
    for (auto s : steps)
      wanted.emplace_back(s);
    out.repaired.push_back(kind);
  };
  auto refuse = [&](const std::string& kind, std::string reason) {
    out.unrepairable.push_back({kind, std::move(reason)});
  };
  auto unfit = [&](const std::string& kind) {
    refuse(kind, "does not apply to a subscriber in state "
                   + (x.state.empty() ? std::string{"none"} : x.state));
  };
  for (const auto& kind : x.kinds) {
    if (kind == "radius_user_missing") {
      // The password row back first; then the rest of the user's state,
      // which the scan did not compare (it stops at the missing password).
      // A hash to put back, or (cleartext storage) the sealed password.
      if (!x.stored_password && !x.sealed_password)
        refuse(kind, reason_of(kind));
      else if (active)
        fix(kind, {"restore_credentials", "restore_plan"});
      else if (suspended)
        fix(kind, {"restore_credentials", "deny", "disconnect_sessions",
                   "verify_sessions_closed"});
      else
        unfit(kind);
    } else if (kind == "radius_plan_mismatch") {
      if (active)
        fix(kind, {"set_plan_group", "coa_sessions"});
      else
        unfit(kind);
    } else if (kind == "radius_not_active") {
      if (active)
        fix(kind, {"restore_plan", "disconnect_sessions"});
      else
        unfit(kind);
    } else if (kind == "radius_not_suspended") {
      if (suspended)
        fix(kind, {"deny", "disconnect_sessions", "verify_sessions_closed"});
      else
        unfit(kind);
    } else if (kind == "session_after_suspend") {
      if (suspended)
        fix(kind, {"disconnect_sessions", "verify_sessions_closed"});
      else
        unfit(kind);
    } else if (kind == "onu_state_mismatch") {
      if (x.service_type != "ftth")
        refuse(kind, "service type " + x.service_type + " has no ONU");
      else if (suspended && x.suspend_disables_onu)
        fix(kind, {"disable_onu"});
      else if (active || suspended)
        fix(kind, {"enable_onu"});
      else
        unfit(kind);
    } else if (kind == "onu_replaced") {
      // The service on the device that now carries the serial (enabled by
      // the provisioning), then the admin state the record's state wants.
      if (x.service_type != "ftth")
        refuse(kind, "service type " + x.service_type + " has no ONU");
      else if (suspended && x.suspend_disables_onu)
        fix(kind, {repair_onu_step, "disable_onu"});
      else if (active || suspended)
        fix(kind, {repair_onu_step, "enable_onu"});
      else
        unfit(kind);
    } else if (kind == "netbox_ip_missing") {
      if (active || suspended)
        fix(kind, {"assign_ip"});
      else
        unfit(kind);
    } else if (kind == "netbox_ip_mismatch") {
      // The recorded address back, then the subscriber's others released:
      // a later allocation reuses the lowest id of the subscriber's hits,
      // which must be the recorded one.
      if (active || suspended)
        fix(kind, {"assign_ip", "release_stray_ips"});
      else
        unfit(kind);
    } else if (kind == "cpe_param_mismatch") {
      plan_cpe_credentials(x, kind, fix, refuse, unfit);
    } else if (kind == "cpe_tag_mismatch") {
      if (active || suspended)
        fix(kind, {"tag_cpe"});
      else
        unfit(kind);
    } else {
      refuse(kind, reason_of(kind));
    }
  }
  // Definition order, once each.
  for (const auto& step : make_repair_definition().steps)
    if (std::find(wanted.begin(), wanted.end(), step.name) != wanted.end())
      out.steps.push_back(step.name);
  return out;
}

field_map repair_record_fields(const saga_definition& def,
                               const saga_instance& inst) {
  field_map out;
  bool finished = inst.state == saga_state::completed
                  || inst.state == saga_state::compensated
                  || inst.state == saga_state::cancelled;
  if (inst.name != repair_saga || def.name != inst.name
      || def.version != inst.version || !finished)
    return out;
  auto idx = def.index_of(repair_onu_step);
  if (!idx || *idx >= inst.steps.size())
    return out;
  const auto& step = inst.steps[*idx];
  if (step.state != step_state::succeeded)
    return out;
  if (auto i = step.output.find("onu_id");
      i != step.output.end() && !i->second.empty())
    out.emplace(i->first, i->second);
  return out;
}

} // namespace ispflow::sagas
