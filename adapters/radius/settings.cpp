#include "adapters/radius/settings.hpp"

namespace ispflow::adapters::radius {

const plan* tenant_settings::find_plan(std::string_view plan_id) const {
  for (const auto& p : plans)
    if (p.id == plan_id)
      return &p;
  return nullptr;
}

std::string tenant_settings::group_of(const plan& p) const {
  if (!p.radius_group.empty())
    return p.radius_group;
  return tenant_id + "." + p.id;
}

bool tenant_settings::is_plan_group(std::string_view group) const {
  for (const auto& p : plans)
    if (group_of(p) == group)
      return true;
  return false;
}

std::string_view to_string(vendor x) noexcept {
  switch (x) {
    case vendor::mikrotik:
      return "mikrotik";
    case vendor::cisco:
      return "cisco";
    case vendor::juniper:
      return "juniper";
  }
  return "unknown";
}

std::string_view to_string(suspend_policy x) noexcept {
  switch (x) {
    case suspend_policy::walled_garden:
      return "walled_garden";
    case suspend_policy::reject:
      return "reject";
  }
  return "unknown";
}

std::string_view to_string(password_storage x) noexcept {
  switch (x) {
    case password_storage::cleartext:
      return "cleartext";
    case password_storage::ssha2_512:
      return "ssha2_512";
    case password_storage::crypt_sha512:
      return "crypt_sha512";
  }
  return "unknown";
}

std::optional<vendor> parse_vendor(std::string_view text) noexcept {
  for (auto x : {vendor::mikrotik, vendor::cisco, vendor::juniper})
    if (to_string(x) == text)
      return x;
  return std::nullopt;
}

std::optional<suspend_policy>
parse_suspend_policy(std::string_view text) noexcept {
  for (auto x : {suspend_policy::walled_garden, suspend_policy::reject})
    if (to_string(x) == text)
      return x;
  return std::nullopt;
}

std::optional<password_storage>
parse_password_storage(std::string_view text) noexcept {
  for (auto x : {password_storage::cleartext, password_storage::ssha2_512,
                 password_storage::crypt_sha512})
    if (to_string(x) == text)
      return x;
  return std::nullopt;
}

std::string_view to_string(disconnect_mode x) noexcept {
  switch (x) {
    case disconnect_mode::disconnect:
      return "disconnect";
    case disconnect_mode::coa:
      return "coa";
  }
  return "unknown";
}

std::optional<disconnect_mode>
parse_disconnect_mode(std::string_view text) noexcept {
  for (auto x : {disconnect_mode::disconnect, disconnect_mode::coa})
    if (to_string(x) == text)
      return x;
  return std::nullopt;
}

} // namespace ispflow::adapters::radius
