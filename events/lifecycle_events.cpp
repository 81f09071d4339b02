#include "events/lifecycle_events.hpp"

namespace ispflow::events {

namespace {

template <class T>
std::ostream& common_fields(std::ostream& os, const char* name, const T& x) {
  return os << name << "{schema_version=" << x.schema_version
            << ", tenant_id=" << x.tenant_id
            << ", subscriber_id=" << x.subscriber_id
            << ", saga_id=" << x.saga_id << ", causation_id=" << x.causation_id;
}

} // namespace

std::string failed_event_type(const std::string& verb) {
  return "subscriber." + verb + "_failed";
}

std::ostream& operator<<(std::ostream& os, const subscriber_activated& x) {
  return common_fields(os, "subscriber_activated", x)
         << ", plan_id=" << x.plan_id << ", ip_address=" << x.ip_address
         << ", onu_id=" << x.onu_id << ", cpe_id=" << x.cpe_id << "}";
}

std::ostream& operator<<(std::ostream& os, const subscriber_suspended& x) {
  return common_fields(os, "subscriber_suspended", x) << "}";
}

std::ostream& operator<<(std::ostream& os, const subscriber_resumed& x) {
  return common_fields(os, "subscriber_resumed", x) << "}";
}

std::ostream& operator<<(std::ostream& os, const subscriber_plan_changed& x) {
  return common_fields(os, "subscriber_plan_changed", x)
         << ", plan_id=" << x.plan_id << "}";
}

std::ostream& operator<<(std::ostream& os, const subscriber_terminated& x) {
  return common_fields(os, "subscriber_terminated", x) << "}";
}

std::ostream& operator<<(std::ostream& os, const subscriber_failed& x) {
  return common_fields(os, "subscriber_failed", x)
         << ", failed_step=" << x.failed_step << ", error=" << x.error
         << ", compensated=" << (x.compensated ? "true" : "false") << "}";
}

} // namespace ispflow::events
