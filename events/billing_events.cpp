#include "events/billing_events.hpp"

namespace ispflow::events {

std::ostream& operator<<(std::ostream& os, const cpe_identity& x) {
  return os << "cpe_identity{serial=" << x.serial << ", oui=" << x.oui
            << ", product_class=" << x.product_class << "}";
}

std::ostream& operator<<(std::ostream& os, const access_identifiers& x) {
  return os << "access_identifiers{onu_serial=" << x.onu_serial
            << ", pon_port=" << x.pon_port << ", nas_port_id=" << x.nas_port_id
            << ", nas_identifier=" << x.nas_identifier << ", cpe=" << x.cpe
            << "}";
}

std::ostream& operator<<(std::ostream& os, const subscriber_credentials& x) {
  // The password is a secret: print only whether there is one.
  return os << "subscriber_credentials{username=" << x.username
            << ", password=" << (x.password.empty() ? "" : "***") << "}";
}

std::ostream& operator<<(std::ostream& os, const subscription_activated& x) {
  return os << "subscription_activated{schema_version=" << x.schema_version
            << ", tenant_id=" << x.tenant_id
            << ", subscriber_id=" << x.subscriber_id
            << ", effective_at=" << x.effective_at << ", plan_id=" << x.plan_id
            << ", service_type=" << x.service_type << ", site=" << x.site
            << ", account_id=" << x.account_id << ", access=" << x.access
            << ", credentials=" << x.credentials << "}";
}

std::ostream& operator<<(std::ostream& os, const subscription_suspended& x) {
  return os << "subscription_suspended{schema_version=" << x.schema_version
            << ", tenant_id=" << x.tenant_id
            << ", subscriber_id=" << x.subscriber_id
            << ", effective_at=" << x.effective_at << ", reason=" << x.reason
            << "}";
}

std::ostream& operator<<(std::ostream& os, const subscription_resumed& x) {
  return os << "subscription_resumed{schema_version=" << x.schema_version
            << ", tenant_id=" << x.tenant_id
            << ", subscriber_id=" << x.subscriber_id
            << ", effective_at=" << x.effective_at << "}";
}

std::ostream& operator<<(std::ostream& os, const subscription_plan_changed& x) {
  return os << "subscription_plan_changed{schema_version=" << x.schema_version
            << ", tenant_id=" << x.tenant_id
            << ", subscriber_id=" << x.subscriber_id
            << ", effective_at=" << x.effective_at << ", plan_id=" << x.plan_id
            << ", previous_plan_id=" << x.previous_plan_id << "}";
}

std::ostream& operator<<(std::ostream& os, const subscription_terminated& x) {
  return os << "subscription_terminated{schema_version=" << x.schema_version
            << ", tenant_id=" << x.tenant_id
            << ", subscriber_id=" << x.subscriber_id
            << ", effective_at=" << x.effective_at << ", reason=" << x.reason
            << "}";
}

} // namespace ispflow::events
