#include "adapters/radius/protocol/error_cause.hpp"

namespace ispflow::adapters::radius {

std::string_view to_string(error_cause x) {
  switch (x) {
    case error_cause::residual_context_removed:
      return "Residual-Context-Removed";
    case error_cause::invalid_eap_packet:
      return "Invalid-EAP-Packet";
    case error_cause::unsupported_attribute:
      return "Unsupported-Attribute";
    case error_cause::missing_attribute:
      return "Missing-Attribute";
    case error_cause::nas_identification_mismatch:
      return "NAS-Identification-Mismatch";
    case error_cause::invalid_request:
      return "Invalid-Request";
    case error_cause::unsupported_service:
      return "Unsupported-Service";
    case error_cause::unsupported_extension:
      return "Unsupported-Extension";
    case error_cause::invalid_attribute_value:
      return "Invalid-Attribute-Value";
    case error_cause::administratively_prohibited:
      return "Administratively-Prohibited";
    case error_cause::request_not_routable:
      return "Request-Not-Routable";
    case error_cause::session_context_not_found:
      return "Session-Context-Not-Found";
    case error_cause::session_context_not_removable:
      return "Session-Context-Not-Removable";
    case error_cause::other_proxy_processing_error:
      return "Other-Proxy-Processing-Error";
    case error_cause::resources_unavailable:
      return "Resources-Unavailable";
    case error_cause::request_initiated:
      return "Request-Initiated";
    case error_cause::multiple_session_selection_unsupported:
      return "Multiple-Session-Selection-Unsupported";
  }
  return "Unknown";
}

std::optional<error_cause> error_cause_from(uint32_t number) {
  auto x = static_cast<error_cause>(number);
  if (to_string(x) == "Unknown")
    return std::nullopt;
  return x;
}

} // namespace ispflow::adapters::radius
