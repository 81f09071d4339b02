#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

// Drift: what the subscriber record says the network should hold (desired)
// against what each system holds (observed), as pure data and one pure
// function. The scanner (scanner.hpp) fills both sides; nothing here does
// I/O.

namespace ispflow::actors::drift {

/// The systems a scan observes, by their stable names.
inline constexpr std::string_view system_radius = "radius";
/// See `system_radius`.
inline constexpr std::string_view system_netbox = "netbox";
/// See `system_radius`.
inline constexpr std::string_view system_voltha = "voltha";
/// See `system_radius`.
inline constexpr std::string_view system_genieacs = "genieacs";

/// Every kind of difference, by its stable name (stored, counted in
/// metrics and sent in events: never rename one, only add).
namespace kinds {
/// The record has a RADIUS username; FreeRADIUS has no password row of it.
inline constexpr std::string_view radius_user_missing = "radius_user_missing";
/// An active subscriber is not in its plan's RADIUS group.
inline constexpr std::string_view radius_plan_mismatch = "radius_plan_mismatch";
/// A suspended subscriber is neither rejected nor in the walled garden.
inline constexpr std::string_view radius_not_suspended = "radius_not_suspended";
/// An active subscriber is rejected (Auth-Type := Reject) or walled.
inline constexpr std::string_view radius_not_active = "radius_not_active";
/// A suspended subscriber still has open sessions in radacct.
inline constexpr std::string_view session_after_suspend
  = "session_after_suspend";
/// NetBox has no address of the subscriber.
inline constexpr std::string_view netbox_ip_missing = "netbox_ip_missing";
/// NetBox has addresses of the subscriber, none the recorded one.
inline constexpr std::string_view netbox_ip_mismatch = "netbox_ip_mismatch";
/// VOLTHA has no device with the recorded ONU id (nor its serial).
inline constexpr std::string_view onu_missing = "onu_missing";
/// The recorded ONU is gone; another device carries its serial.
inline constexpr std::string_view onu_replaced = "onu_replaced";
/// The ONU's admin state is not the one the subscriber's state implies.
inline constexpr std::string_view onu_state_mismatch = "onu_state_mismatch";
/// GenieACS has no device with the recorded CPE id.
inline constexpr std::string_view cpe_missing = "cpe_missing";
/// The CPE's PPPoE username is not the subscriber's RADIUS username.
inline constexpr std::string_view cpe_param_mismatch = "cpe_param_mismatch";
/// The CPE lacks a tag it should carry.
inline constexpr std::string_view cpe_tag_mismatch = "cpe_tag_mismatch";
} // namespace kinds

/// Every kind in `kinds`, in declaration order (metrics pre-register them).
const std::vector<std::string_view>& all_kinds();

/// The system a kind belongs to ("radius", ...); empty for an unknown kind.
std::string_view system_of_kind(std::string_view kind) noexcept;

/// What the record (and the tenant's configuration) says one subscriber's
/// network state should be. Only `active` and `suspended` subscribers are
/// compared: the others (none, terminated, unknown) have no desired state
/// a scan can check.
struct desired_subscriber {
  /// ispflow tenant.
  std::string tenant_id;
  /// The subscriber's id in the tenant.
  std::string subscriber_id;
  /// sagas::subscriber_state as text: "active" or "suspended".
  std::string state;
  /// "ftth", "wireless", "fixed".
  std::string service_type;
  /// The billing plan.
  std::string plan_id;
  /// The plan's RADIUS group in this tenant (empty: not checked).
  std::string plan_group;
  /// RADIUS username; empty: RADIUS is not checked.
  std::string radius_username;
  /// "reject" or "walled_garden": how a suspension shows in RADIUS.
  std::string suspend_policy = "reject";
  /// The walled garden's RADIUS group (suspend_policy walled_garden).
  std::string walled_garden_group;
  /// Framed address without /len; empty: NetBox is not checked.
  std::string ip_address;
  /// VOLTHA device id of the ONU; empty: VOLTHA is not checked.
  std::string onu_id;
  /// The ONU's serial (profile "access.onu_serial"), may be empty.
  std::string onu_serial;
  /// A suspension disables the ONU (tenant policy suspend.disable_onu).
  bool suspend_disables_onu = false;
  /// GenieACS device id; empty: GenieACS is not checked.
  std::string cpe_id;
  /// Tags the CPE must carry (empty: tags are not checked).
  std::vector<std::string> cpe_tags;

  friend bool operator==(const desired_subscriber&, const desired_subscriber&)
    = default;
};

/// FreeRADIUS as observed for one username.
struct radius_observed {
  /// radcheck holds a password row (`*-Password`).
  bool has_password = false;
  /// radcheck holds `Auth-Type := Reject`.
  bool rejected = false;
  /// radusergroup, by priority.
  std::vector<std::string> groups;
  /// radacct rows without acctstoptime.
  int64_t open_sessions = 0;
  /// ispflow's account keeps the password row (hashed storage), so a
  /// missing user can be restored (sagas::repair_input::stored_password).
  bool stored_password = false;
  /// The key id of the password the account keeps sealed (schema/0018);
  /// empty when none (sagas::repair_input::sealed_password).
  std::string sealed_key_id;

  friend bool operator==(const radius_observed&, const radius_observed&)
    = default;
};

/// NetBox as observed for one subscriber: its addresses (no /len).
struct netbox_observed {
  std::vector<std::string> addresses;

  friend bool operator==(const netbox_observed&, const netbox_observed&)
    = default;
};

/// VOLTHA as observed for one ONU.
struct onu_observed {
  /// A device with the recorded id exists.
  bool present = false;
  /// Its admin_state ("ENABLED", "DISABLED", ...).
  std::string admin_state;
  /// Its oper_status.
  std::string oper_status;
  /// When absent: the id of another device with the recorded serial.
  std::string replaced_by;

  friend bool operator==(const onu_observed&, const onu_observed&) = default;
};

/// GenieACS as observed for one device.
struct cpe_observed {
  /// A device with the recorded id exists.
  bool present = false;
  /// The PPPoE username parameter (TR-098 or TR-181 path); empty when unset.
  std::string pppoe_username;
  /// `_tags`.
  std::vector<std::string> tags;

  friend bool operator==(const cpe_observed&, const cpe_observed&) = default;
};

/// What a scan read of one subscriber; an empty member = that system was
/// not observed (not selected, not run by the tenant, or its breaker
/// refused), so nothing of it is compared.
struct observation {
  std::optional<radius_observed> radius;
  std::optional<netbox_observed> netbox;
  std::optional<onu_observed> voltha;
  std::optional<cpe_observed> genieacs;
};

/// One difference between desired and observed state.
struct finding {
  /// "radius", "netbox", "voltha", "genieacs".
  std::string system;
  /// One of `kinds`.
  std::string kind;
  /// What the record implies, as text (e.g. "group plan-100").
  std::string expected;
  /// What the system holds, as text.
  std::string observed;

  friend bool operator==(const finding&, const finding&) = default;
};

/// Prints "system/kind (expected: ..., observed: ...)".
std::ostream& operator<<(std::ostream& os, const finding& x);

/// The differences of one subscriber, in system order (radius, netbox,
/// voltha, genieacs); empty when it matches or is in a state without
/// desired network state.
std::vector<finding> compare(const desired_subscriber& want,
                             const observation& seen);

} // namespace ispflow::actors::drift
