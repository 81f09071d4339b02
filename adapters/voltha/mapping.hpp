#pragma once

#include "adapters/voltha/device.hpp"
#include "events/adapter_messages.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// How VOLTHA's gRPC status codes and the ONOS olt app's HTTP answers become
// adapter outcomes. Pure functions, no gRPC or libcurl types.

namespace ispflow::adapters::voltha {

/// gRPC status codes, numbered as on the wire (grpc::StatusCode).
enum class grpc_code : uint8_t {
  ok = 0,
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};

/// Upper-case name, e.g. "DEADLINE_EXCEEDED"; "CODE_<n>" for others.
std::string to_string(grpc_code x);

/// Whether a call only reads or changes device state.
enum class call_effect : uint8_t {
  /// ListDevices, GetDevice: repeating it is harmless.
  read,
  /// EnableDevice, DisableDevice, ...: the core may have acted.
  write,
};

/// The outcome of a failed gRPC call (`code` != ok gives a failure):
/// UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN and CANCELLED
/// are retryable; DEADLINE_EXCEEDED is retryable for a read and
/// unknown_outcome for a write (the core may have acted after we gave up);
/// NOT_FOUND, INVALID_ARGUMENT, ALREADY_EXISTS, FAILED_PRECONDITION,
/// PERMISSION_DENIED, UNAUTHENTICATED, UNIMPLEMENTED, OUT_OF_RANGE and
/// DATA_LOSS are permanent. OK is `succeeded`.
events::adapter_outcome outcome_of(grpc_code code, call_effect effect) noexcept;

/// What happened to one HTTP exchange at the transport level.
enum class http_transport : uint8_t {
  /// A status line was received.
  completed,
  /// Nothing reached the server (no connection).
  not_sent,
  /// The request was sent, then the answer was lost (timeout, reset).
  lost_after_send,
};

/// One answer of the ONOS olt app.
struct http_answer {
  /// Transport result.
  http_transport transport = http_transport::completed;
  /// HTTP status; 0 unless `completed`.
  long status = 0;
  /// Response body (ONOS puts error text in it).
  std::string body;
  /// Transport error text (libcurl), empty if `completed`.
  std::string error;
};

/// Which olt app call an answer belongs to.
enum class service_call : uint8_t {
  /// POST .../services/...
  provision,
  /// DELETE .../services/...
  remove,
  /// GET .../programmed-subscribers/...: repeating it is harmless.
  read,
};

/// True if `body` is the olt app's "ConnectPoint not found for <port>" error.
bool is_connect_point_not_found(std::string_view body) noexcept;

/// The outcome of one olt app answer at the HTTP level: 200, 201 and 204
/// succeed -- for the services routes that only means "taken in" (the olt
/// app programs flows later, and 204 also answers tags that match no SADIS
/// uniTag), so the adapter confirms with programmed-subscribers. 500
/// "ConnectPoint not found" is permanent for provision (the adapter refines
/// it with `connect_point_missing`) and success for remove (nothing to
/// remove); other 5xx, 408 and 429 are retryable; other statuses (401, 415,
/// ...) are permanent; not_sent is retryable; lost_after_send is
/// unknown_outcome, except for `read`, where it is retryable.
events::adapter_outcome outcome_of(const http_answer& answer,
                                   service_call call) noexcept;

/// The outcome of a provision answered "ConnectPoint not found", given the
/// ONU's current oper_status: ONOS learns an ONU's UNI ports only when the
/// ONU has activated, so it is retryable while the ONU is not ACTIVE and
/// permanent once it is (the UNI does not exist).
events::adapter_outcome connect_point_missing(oper_status onu) noexcept;

/// An ONU UNI as ONOS names it: ConnectPoint "<device_id>/<port_no>".
struct uni_connect_point {
  /// The OLT's ONOS device id, "of:" + the logical device's datapath id as
  /// 16 lower-case hex digits.
  std::string device_id;
  /// The UNI's logical (OpenFlow) port number.
  uint32_t port_no = 0;

  /// ConnectPoint.toString(): "<device_id>/<port_no>".
  std::string location() const;

  friend bool operator==(const uni_connect_point&, const uni_connect_point&)
    = default;
};

/// "of:" + `datapath_id` as 16 lower-case hex digits.
std::string onos_device_id(uint64_t datapath_id);

/// The olt app's port name of an ONU UNI: "<serial>-<uni>", e.g.
/// "BBSM00000001-1".
std::string port_name(std::string_view serial, uint32_t uni);

/// A service's S-tag, C-tag and technology profile id.
struct service_tags {
  /// Outer VLAN; 0 (with c_tag 0) = let the olt app read SADIS.
  uint16_t s_tag = 0;
  /// Inner VLAN.
  uint16_t c_tag = 0;
  /// Technology profile id (the olt app's default is 64).
  uint16_t tp_id = 64;
};

/// The olt app path of a service: "/onos/olt/oltapp/services/<port>" when
/// both tags are 0, else ".../services/<port>/<sTag>/<cTag>/<tpId>". The port
/// name is percent-encoded.
std::string service_path(std::string_view port, const service_tags& tags);

/// The olt app path of the services programmed on `cp`:
/// "/onos/olt/oltapp/programmed-subscribers/<device_id>/<port_no>"
/// (opencord/olt OltWebResource.java getProgrammedSubscribersByConnectPoint).
std::string programmed_path(const uni_connect_point& cp);

/// Whether a programmed-subscribers answer lists a service at `cp` with
/// `tags` (ponSTag, ponCTag, technologyProfileId), or any service at `cp`
/// when both tags are 0 (the olt app took them from SADIS); nullopt if
/// `body` is not the olt app's {"entries":[{"location":..,"tagInfo":..}]}.
std::optional<bool> lists_service(std::string_view body,
                                  const uni_connect_point& cp,
                                  const service_tags& tags);

} // namespace ispflow::adapters::voltha
