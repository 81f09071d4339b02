#include "actors/drift/compare.hpp"

#include <algorithm>

namespace ispflow::actors::drift {

namespace {

bool contains(const std::vector<std::string>& xs, std::string_view x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

std::string joined(const std::vector<std::string>& xs) {
  if (xs.empty())
    return "none";
  std::string out;
  for (const auto& x : xs) {
    if (!out.empty())
      out += ',';
    out += x;
  }
  return out;
}

void add(std::vector<finding>& out, std::string_view system,
         std::string_view kind, std::string expected, std::string observed) {
  out.push_back({std::string{system}, std::string{kind}, std::move(expected),
                 std::move(observed)});
}

void compare_radius(const desired_subscriber& want, const radius_observed& rad,
                    std::vector<finding>& out) {
  if (!rad.has_password) {
    add(out, system_radius, kinds::radius_user_missing,
        "user " + want.radius_username, "no password row");
    return;
  }
  bool walled = !want.walled_garden_group.empty()
                && contains(rad.groups, want.walled_garden_group);
  if (want.state == "active") {
    if (rad.rejected || walled)
      add(out, system_radius, kinds::radius_not_active, "not denied",
          rad.rejected ? "Auth-Type := Reject" : "group " + joined(rad.groups));
    else if (!want.plan_group.empty() && !contains(rad.groups, want.plan_group))
      add(out, system_radius, kinds::radius_plan_mismatch,
          "group " + want.plan_group, "group " + joined(rad.groups));
    return;
  }
  // suspended
  bool denied = want.suspend_policy == "walled_garden" ? walled || rad.rejected
                                                       : rad.rejected;
  if (!denied)
    add(out, system_radius, kinds::radius_not_suspended,
        want.suspend_policy == "walled_garden"
          ? "group " + want.walled_garden_group
          : std::string{"Auth-Type := Reject"},
        "group " + joined(rad.groups));
  if (rad.open_sessions > 0)
    add(out, system_radius, kinds::session_after_suspend, "0 open sessions",
        std::to_string(rad.open_sessions) + " open sessions");
}

void compare_netbox(const desired_subscriber& want, const netbox_observed& nb,
                    std::vector<finding>& out) {
  if (nb.addresses.empty())
    add(out, system_netbox, kinds::netbox_ip_missing, want.ip_address, "none");
  else if (!contains(nb.addresses, want.ip_address))
    add(out, system_netbox, kinds::netbox_ip_mismatch, want.ip_address,
        joined(nb.addresses));
}

void compare_voltha(const desired_subscriber& want, const onu_observed& onu,
                    std::vector<finding>& out) {
  if (!onu.present) {
    if (!onu.replaced_by.empty())
      add(out, system_voltha, kinds::onu_replaced, "onu " + want.onu_id,
          "onu " + onu.replaced_by);
    else
      add(out, system_voltha, kinds::onu_missing, "onu " + want.onu_id, "none");
    return;
  }
  bool disabled = want.state == "suspended" && want.suspend_disables_onu;
  std::string expected = disabled ? "DISABLED" : "ENABLED";
  if (onu.admin_state != expected)
    add(out, system_voltha, kinds::onu_state_mismatch, expected,
        onu.admin_state.empty() ? std::string{"UNKNOWN"} : onu.admin_state);
}

void compare_genieacs(const desired_subscriber& want, const cpe_observed& cpe,
                      std::vector<finding>& out) {
  if (!cpe.present) {
    add(out, system_genieacs, kinds::cpe_missing, "device " + want.cpe_id,
        "none");
    return;
  }
  if (!want.radius_username.empty()
      && cpe.pppoe_username != want.radius_username)
    add(out, system_genieacs, kinds::cpe_param_mismatch,
        "pppoe username " + want.radius_username,
        cpe.pppoe_username.empty() ? std::string{"pppoe username unset"}
                                   : "pppoe username " + cpe.pppoe_username);
  std::vector<std::string> absent;
  for (const auto& t : want.cpe_tags)
    if (!contains(cpe.tags, t))
      absent.push_back(t);
  if (!absent.empty())
    add(out, system_genieacs, kinds::cpe_tag_mismatch,
        "tags " + joined(want.cpe_tags), "tags " + joined(cpe.tags));
}

} // namespace

const std::vector<std::string_view>& all_kinds() {
  static const std::vector<std::string_view> xs{
    kinds::radius_user_missing,   kinds::radius_plan_mismatch,
    kinds::radius_not_suspended,  kinds::radius_not_active,
    kinds::session_after_suspend, kinds::netbox_ip_missing,
    kinds::netbox_ip_mismatch,    kinds::onu_missing,
    kinds::onu_replaced,          kinds::onu_state_mismatch,
    kinds::cpe_missing,           kinds::cpe_param_mismatch,
    kinds::cpe_tag_mismatch,
  };
  return xs;
}

std::string_view system_of_kind(std::string_view kind) noexcept {
  if (kind.rfind("radius_", 0) == 0 || kind == kinds::session_after_suspend)
    return system_radius;
  if (kind.rfind("netbox_", 0) == 0)
    return system_netbox;
  if (kind.rfind("onu_", 0) == 0)
    return system_voltha;
  if (kind.rfind("cpe_", 0) == 0)
    return system_genieacs;
  return {};
}

std::ostream& operator<<(std::ostream& os, const finding& x) {
  return os << x.system << '/' << x.kind << " (expected: " << x.expected
            << ", observed: " << x.observed << ')';
}

std::vector<finding> compare(const desired_subscriber& want,
                             const observation& seen) {
  std::vector<finding> out;
  if (want.state != "active" && want.state != "suspended")
    return out;
  if (seen.radius && !want.radius_username.empty())
    compare_radius(want, *seen.radius, out);
  if (seen.netbox && !want.ip_address.empty())
    compare_netbox(want, *seen.netbox, out);
  if (seen.voltha && !want.onu_id.empty() && want.service_type == "ftth")
    compare_voltha(want, *seen.voltha, out);
  if (seen.genieacs && !want.cpe_id.empty())
    compare_genieacs(want, *seen.genieacs, out);
  return out;
}

} // namespace ispflow::actors::drift
