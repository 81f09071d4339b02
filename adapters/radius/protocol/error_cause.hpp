#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ispflow::adapters::radius {

/// Error-Cause (attribute 101) values of RFC 5176 §3.5, named as in
/// FreeRADIUS's dictionary.rfc3576/rfc5176.
enum class error_cause : uint32_t {
  residual_context_removed = 201,
  invalid_eap_packet = 202,
  unsupported_attribute = 401,
  missing_attribute = 402,
  nas_identification_mismatch = 403,
  invalid_request = 404,
  unsupported_service = 405,
  unsupported_extension = 406,
  invalid_attribute_value = 407,
  administratively_prohibited = 501,
  request_not_routable = 502,
  session_context_not_found = 503,
  session_context_not_removable = 504,
  other_proxy_processing_error = 505,
  resources_unavailable = 506,
  request_initiated = 507,
  multiple_session_selection_unsupported = 508,
};

/// RFC name of a value, e.g. "Session-Context-Not-Found"; "Unknown" if the
/// number is not one of RFC 5176's.
std::string_view to_string(error_cause x);

/// The value for a number, if RFC 5176 names it.
std::optional<error_cause> error_cause_from(uint32_t number);

/// True for 2xx values (sent with an ACK), false for 4xx/5xx (NAK).
constexpr bool is_success(error_cause x) {
  return static_cast<uint32_t>(x) < 300;
}

} // namespace ispflow::adapters::radius
