#pragma once

#include "adapters/radius/settings.hpp"

#include <caf/expected.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

// The rows ispflow writes into FreeRADIUS's tables, as (attribute, op,
// value) triples: a plan's per-vendor reply attributes and a password's
// check item.

namespace ispflow::adapters::radius {

/// One FreeRADIUS attribute row: `attribute op value`, e.g.
/// `Mikrotik-Rate-Limit := "10000k/50000k"`.
struct sql_attribute {
  std::string name;
  /// ":=", "=", "+=", "==".
  std::string op;
  std::string value;

  friend bool operator==(const sql_attribute&, const sql_attribute&) = default;
  friend bool operator<(const sql_attribute& x, const sql_attribute& y) {
    return std::tie(x.name, x.op, x.value) < std::tie(y.name, y.op, y.value);
  }
};

/// Prints `name op value` (do not print password check items).
std::ostream& operator<<(std::ostream& os, const sql_attribute& x);

/// The radgroupreply rows of `p` for NAS vendor `v`:
/// - MikroTik: `Mikrotik-Rate-Limit := "<upload>k/<download>k"` (the
///   router's rx/tx order: rx is the client's upload);
/// - Cisco ISG: `Cisco-AVPair += "ip:sub-qos-policy-in=<policy_in>"` and
///   `"ip:sub-qos-policy-out=<policy_out>"`;
/// - Juniper: `ERX-Ingress-Policy-Name`, `ERX-Egress-Policy-Name` and
///   `ERX-Qos-Profile-Name` (each when set);
/// - any vendor: `Session-Timeout` and `Acct-Interim-Interval` when the
///   plan sets them.
/// Fails with `errc::invalid_input` when the plan lacks what the vendor
/// needs (rates for MikroTik, a policy for Cisco or Juniper).
caf::expected<std::vector<sql_attribute>> plan_reply_attributes(const plan& p,
                                                                vendor v);

/// The radcheck row holding `password` stored as `storage` (with a fresh
/// random salt for the hashed forms). Fails with `errc::invalid_input` for
/// an empty password, `errc::unspecified` if hashing fails.
caf::expected<sql_attribute> password_check_item(std::string_view password,
                                                 password_storage storage);

/// True if the radcheck row `stored` (Cleartext-Password,
/// SSHA2-512-Password or Crypt-Password) accepts `password`, as FreeRADIUS
/// reads it: an SSHA2-512-Password is hex after "0x" (the form
/// password_check_item writes), else base64 (earlier versions' form); a
/// value beginning with "0x" that is not hex accepts nothing.
bool password_matches(const sql_attribute& stored, std::string_view password);

/// True for the attribute names that hold a password in radcheck.
bool is_password_attribute(std::string_view name) noexcept;

/// Longest username ispflow provisions.
inline constexpr size_t max_username_size = 128;

/// Longest password (RFC 2865 §5.2: User-Password holds at most 128 bytes).
inline constexpr size_t max_password_size = 128;

/// Checks a RADIUS username against the rule ispflow provisions by: 1 to
/// 128 characters from `A-Z a-z 0-9 . _ - @`, starting with a letter or a
/// digit, no "..", at most one '@' and, after it, a realm with at least one
/// dot that neither starts nor ends with a dot. Such a name passes
/// FreeRADIUS's `filter_username` policy and rlm_sql's default
/// `safe_characters` unchanged, and holds nothing xlat expands ('%', '`').
/// Fails with `errc::invalid_input` naming the rule broken (never the name,
/// which may hold control characters).
caf::error check_username(std::string_view username);

/// Checks a password before it is stored as `storage`: 1 to 128 bytes
/// without control characters; with cleartext storage also no backtick, no
/// "%{" and not wholly enclosed in quotes, because FreeRADIUS's rlm_sql
/// expands a radcheck value enclosed in backticks as xlat (`%{sql:...}`,
/// `%{exec:...}`) and strips enclosing quotes. A hashed form is inert.
/// Fails with `errc::invalid_input` naming the rule (never the password).
caf::error check_password(std::string_view password, password_storage storage);

} // namespace ispflow::adapters::radius
