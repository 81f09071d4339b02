#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Per-tenant RADIUS settings: which NAS vendor the tenant runs, how it
// suspends, how passwords are stored, and its plans. Plain data; the
// application maps configuration keys onto it.

namespace ispflow::adapters::radius {

/// The NAS vendor whose reply attributes carry a plan's rates or policies.
enum class vendor : uint8_t {
  /// MikroTik RouterOS: `Mikrotik-Rate-Limit`.
  mikrotik,
  /// Cisco ISG: `Cisco-AVPair` "ip:sub-qos-policy-in/out=<policy>".
  cisco,
  /// Juniper BNG (ERX dictionary): `ERX-Ingress-Policy-Name`,
  /// `ERX-Egress-Policy-Name`, `ERX-Qos-Profile-Name`.
  juniper,
};

/// How `radius.deny` keeps a subscriber out.
enum class suspend_policy : uint8_t {
  /// Swap the user's group for the walled-garden group (the login still
  /// succeeds, with the walled garden's attributes).
  walled_garden,
  /// `Auth-Type := Reject` in radcheck (the login gets Access-Reject).
  reject,
};

/// How suspend and resume reach a subscriber's open sessions on a NAS.
enum class disconnect_mode : uint8_t {
  /// Disconnect-Request: the session ends; the next login gets what
  /// FreeRADIUS now answers.
  disconnect,
  /// CoA-Request: a suspended session stays up, moved into the walled
  /// garden (the NAS's walled-garden attributes); a resumed one is moved
  /// back to its plan. A CoA-NAK falls back to Disconnect.
  coa,
};

/// How a password is written to radcheck. The hashed forms are the default:
/// a stored value FreeRADIUS can neither expand nor leak in cleartext.
enum class password_storage : uint8_t {
  /// `Cleartext-Password`: PAP, CHAP and MS-CHAP work.
  cleartext,
  /// `SSHA2-512-Password`: SHA-512(password || salt) || salt in hex after
  /// "0x" (FreeRADIUS's form for octets), 16 random salt bytes; PAP only.
  /// Values earlier versions wrote in base64 are read as well.
  ssha2_512,
  /// `Crypt-Password` with a SHA-512 crypt hash ("$6$<salt>$..."); PAP only.
  crypt_sha512,
};

/// One service plan: a RADIUS group with per-vendor reply attributes.
struct plan {
  /// The billing system's plan id ("plan_id" in saga inputs).
  std::string id;
  /// Client download rate in kbit/s (MikroTik).
  uint32_t download_kbps = 0;
  /// Client upload rate in kbit/s (MikroTik).
  uint32_t upload_kbps = 0;
  /// Policy applied to traffic from the client (Cisco sub-qos-policy-in,
  /// ERX-Ingress-Policy-Name).
  std::string policy_in;
  /// Policy applied to traffic to the client (Cisco sub-qos-policy-out,
  /// ERX-Egress-Policy-Name).
  std::string policy_out;
  /// Juniper only, optional: ERX-Qos-Profile-Name.
  std::string qos_profile;
  /// The RADIUS group name; empty means "<tenant_id>.<id>".
  std::string radius_group;
  /// Session-Timeout (RFC 2865 §5.27) in seconds; 0 = none.
  uint32_t session_timeout_s = 0;
  /// Acct-Interim-Interval (RFC 2869 §5.16) in seconds; 0 = none.
  uint32_t interim_interval_s = 0;

  friend bool operator==(const plan&, const plan&) = default;
};

/// A tenant's RADIUS settings.
struct tenant_settings {
  /// The tenant these settings belong to.
  std::string tenant_id;
  /// Vendor of the tenant's NAS fleet.
  vendor nas_vendor = vendor::mikrotik;
  /// How suspension works.
  suspend_policy suspend = suspend_policy::walled_garden;
  /// The group a walled-garden suspension assigns.
  std::string walled_garden_group = "walled_garden";
  /// The walled garden's rates or policies, written to its group when set
  /// (its `id` and `radius_group` are ignored).
  std::optional<plan> walled_garden;
  /// How suspend and resume reach open sessions on a NAS whose
  /// `nas_policy` does not say.
  disconnect_mode sessions = disconnect_mode::disconnect;
  /// How passwords are stored: hashed unless the NAS fleet needs CHAP.
  password_storage passwords = password_storage::ssha2_512;
  /// The tenant's plans.
  std::vector<plan> plans;

  /// The plan with `plan_id`, or null.
  const plan* find_plan(std::string_view plan_id) const;

  /// The RADIUS group of `p` in this tenant.
  std::string group_of(const plan& p) const;

  /// True if `group` is the group of one of this tenant's plans.
  bool is_plan_group(std::string_view group) const;
};

/// Per-NAS dynamic-authorization settings, from ispflow's configuration
/// (`nas[]`); FreeRADIUS's `nas` table has no column for them.
struct nas_policy {
  /// The NAS's address as canonical_nas_address() prints it.
  std::string address;
  /// How suspend and resume reach its sessions; none: the tenant's.
  std::optional<disconnect_mode> mode;
  /// CoA attributes (dictionary name and value) that move one of its
  /// sessions into the walled garden, e.g. `Filter-Id = walled-garden`
  /// or a vendor's service or policy name. Empty: the tenant's
  /// walled-garden plan attributes, when configured.
  std::vector<std::pair<std::string, std::string>> walled_garden;
  /// Requests in flight at once to this NAS; 0: the client's default.
  uint32_t max_in_flight = 0;
  /// New requests per second to this NAS; 0: the client's default.
  double max_rate = 0;
};

/// Stable lower-case names ("mikrotik", "walled_garden", "ssha2_512", ...).
std::string_view to_string(vendor x) noexcept;
/// See `to_string(vendor)`.
std::string_view to_string(suspend_policy x) noexcept;
/// See `to_string(vendor)`.
std::string_view to_string(password_storage x) noexcept;
/// See `to_string(vendor)`.
std::string_view to_string(disconnect_mode x) noexcept;

/// Parses a `to_string` name; nothing for an unknown one.
std::optional<vendor> parse_vendor(std::string_view text) noexcept;
/// Parses a `to_string` name; nothing for an unknown one.
std::optional<suspend_policy>
parse_suspend_policy(std::string_view text) noexcept;
/// Parses a `to_string` name; nothing for an unknown one.
std::optional<password_storage>
parse_password_storage(std::string_view text) noexcept;
/// Parses a `to_string` name; nothing for an unknown one.
std::optional<disconnect_mode>
parse_disconnect_mode(std::string_view text) noexcept;

} // namespace ispflow::adapters::radius
