#include "sagas/lifecycle_sagas.hpp"

#include <chrono>

namespace ispflow::sagas {

namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// Per-system defaults (radius_retry and http_retry: lifecycle_sagas.hpp).
constexpr retry_policy awx_retry{3, 5'000ms, 2.0, 60'000ms};
// Forward-only steps try harder before asking for an operator.
constexpr retry_policy persistent_retry{12, 1'000ms, 2.0, 120'000ms};

step_definition step(std::string name, target_system system, std::string action,
                     std::string compensation, retry_policy retry,
                     milliseconds attempt_timeout, milliseconds deadline) {
  step_definition result;
  result.name = std::move(name);
  result.system = system;
  result.action = std::move(action);
  result.compensation = std::move(compensation);
  result.retry = retry;
  result.attempt_timeout = attempt_timeout;
  result.deadline = deadline;
  return result;
}

step_definition radius_step(std::string name, std::string action,
                            std::string compensation) {
  return step(std::move(name), target_system::radius, std::move(action),
              std::move(compensation), radius_retry, 5s, 2min);
}

step_definition http_step(std::string name, target_system system,
                          std::string action, std::string compensation) {
  return step(std::move(name), system, std::move(action),
              std::move(compensation), http_retry, 30s, 15min);
}

step_definition ftth_only(step_definition x) {
  x.applies_when.service_types = {"ftth"};
  return x;
}

step_definition with_policy(step_definition x, std::string_view policy) {
  x.applies_when.policy = std::string{policy};
  return x;
}

step_definition forward_only(step_definition x) {
  x.retry = persistent_retry;
  x.deadline = 1h;
  return x;
}

} // namespace

saga_definition make_activate_definition() {
  saga_definition def;
  def.name = std::string{activate_saga};
  def.version = 1;
  def.lifecycle_verb = "activated";
  def.lifecycle_fields = {"ip_address", "onu_id", "cpe_id", "plan_id"};
  auto job = step("run_activation_job", target_system::awx,
                  "awx.run_activation_job", "awx.cancel_job", awx_retry, 30min,
                  2h);
  def.steps = {
    http_step("allocate_ip", target_system::netbox, "netbox.allocate_ip",
              "netbox.release_ip"),
    radius_step("provision_radius", "radius.provision", "radius.deprovision"),
    ftth_only(http_step("provision_onu_service", target_system::voltha,
                        "voltha.provision_service", "voltha.remove_service")),
    http_step("configure_cpe", target_system::genieacs,
              "genieacs.configure_cpe", ""),
    job,
  };
  return def;
}

saga_definition make_suspend_definition() {
  saga_definition def;
  def.name = std::string{suspend_saga};
  def.version = 1;
  def.lifecycle_verb = "suspended";
  // Poll radacct until the Accounting-Stop shows, for at most 60 s.
  auto verify = step("verify_sessions_closed", target_system::radius,
                     "radius.verify_sessions_closed", "",
                     retry_policy{0, 500ms, 1.5, 5'000ms}, 5s, 60s);
  def.steps = {
    radius_step("deny", "radius.deny", "radius.restore_plan"),
    radius_step("disconnect_sessions", "radius.disconnect_sessions", ""),
    verify,
    with_policy(ftth_only(http_step("disable_onu", target_system::voltha,
                                    "voltha.disable_onu", "voltha.enable_onu")),
                policy_suspend_disable_onu),
  };
  return def;
}

saga_definition make_resume_definition() {
  saga_definition def;
  def.name = std::string{resume_saga};
  def.version = 1;
  def.lifecycle_verb = "resumed";
  def.steps = {
    radius_step("restore_plan", "radius.restore_plan", "radius.deny"),
    radius_step("disconnect_sessions", "radius.disconnect_sessions", ""),
    ftth_only(http_step("enable_onu", target_system::voltha,
                        "voltha.enable_onu", "voltha.disable_onu")),
  };
  return def;
}

saga_definition make_change_plan_definition() {
  saga_definition def;
  def.name = std::string{change_plan_saga};
  def.version = 1;
  def.lifecycle_verb = "plan_changed";
  def.lifecycle_fields = {"plan_id"};
  def.steps = {
    radius_step("set_plan_group", "radius.set_plan_group",
                "radius.revert_plan_group"),
    radius_step("coa_sessions", "radius.coa_sessions", ""),
  };
  return def;
}

saga_definition make_terminate_definition() {
  saga_definition def;
  def.name = std::string{terminate_saga};
  def.version = 1;
  def.lifecycle_verb = "terminated";
  def.forward_only = true;
  def.steps = {
    forward_only(radius_step("deny", "radius.deny", "")),
    forward_only(
      radius_step("disconnect_sessions", "radius.disconnect_sessions", "")),
    forward_only(
      ftth_only(http_step("remove_onu_service", target_system::voltha,
                          "voltha.remove_service", ""))),
    forward_only(
      with_policy(http_step("factory_reset_cpe", target_system::genieacs,
                            "genieacs.factory_reset", ""),
                  policy_terminate_factory_reset)),
    forward_only(radius_step("deprovision_radius", "radius.deprovision", "")),
    forward_only(
      http_step("release_ip", target_system::netbox, "netbox.release_ip", "")),
  };
  return def;
}

std::optional<std::string> register_lifecycle_sagas(saga_registry& registry) {
  for (auto make : {make_activate_definition, make_suspend_definition,
                    make_resume_definition, make_change_plan_definition,
                    make_terminate_definition})
    if (auto why = registry.add(make()))
      return why;
  return std::nullopt;
}

std::optional<std::string_view>
saga_for_event_type(std::string_view ce_type) noexcept {
  if (ce_type == "billing.subscription.activated")
    return activate_saga;
  if (ce_type == "billing.subscription.suspended")
    return suspend_saga;
  if (ce_type == "billing.subscription.resumed")
    return resume_saga;
  if (ce_type == "billing.subscription.plan_changed")
    return change_plan_saga;
  if (ce_type == "billing.subscription.terminated")
    return terminate_saga;
  return std::nullopt;
}

} // namespace ispflow::sagas
