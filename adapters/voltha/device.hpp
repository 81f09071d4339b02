#pragma once

#include <cstdint>
#include <string>
#include <string_view>

// VOLTHA's device model as plain data (no protobuf types), as read from and
// sent to `voltha.VolthaService`. Enum values are those of voltha-protos'
// common.proto.

namespace ispflow::adapters::voltha {

/// common.AdminState.Types.
enum class admin_state : uint8_t {
  unknown = 0,
  preprovisioned = 1,
  enabled = 2,
  disabled = 3,
  downloading_image = 4,
};

/// common.OperStatus.Types.
enum class oper_status : uint8_t {
  unknown = 0,
  discovered = 1,
  activating = 2,
  testing = 3,
  active = 4,
  failed = 5,
  reconciling = 6,
  reconciling_failed = 7,
  rebooted = 8,
};

/// common.ConnectStatus.Types.
enum class connect_status : uint8_t {
  unknown = 0,
  unreachable = 1,
  reachable = 2,
};

/// Upper-case protobuf name, e.g. "PREPROVISIONED".
std::string_view to_string(admin_state x) noexcept;

/// Upper-case protobuf name, e.g. "ACTIVATING".
std::string_view to_string(oper_status x) noexcept;

/// Upper-case protobuf name, e.g. "REACHABLE".
std::string_view to_string(connect_status x) noexcept;

/// The fields of device.Device that ispflow reads or writes.
struct device {
  /// Voltha's device id (a UUID on a real core).
  std::string id;
  /// Device type, e.g. "openolt" or "brcm_openomci_onu".
  std::string type;
  /// True for an OLT (root of a logical switch).
  bool root = false;
  /// The OLT's id for an ONU; the logical device id for an OLT.
  std::string parent_id;
  /// The parent's PON port number (ONUs).
  uint32_t parent_port_no = 0;
  /// Vendor name.
  std::string vendor;
  /// Model name.
  std::string model;
  /// Serial number, e.g. "BBSM00000001".
  std::string serial_number;
  /// Administrative state.
  admin_state admin = admin_state::unknown;
  /// Operational status.
  oper_status oper = oper_status::unknown;
  /// Connectivity status.
  connect_status connect = connect_status::unknown;
  /// Why the device is in its state (e.g. in FAILED).
  std::string reason;
  /// The OLT's "host:port" (the `address` oneof); empty if unset.
  std::string host_and_port;
  /// proxy_address.device_id: the OLT that proxies an ONU.
  std::string proxy_device_id;
  /// proxy_address.channel_id: the PON port index.
  uint32_t proxy_channel_id = 0;
  /// proxy_address.onu_id: the ONU's id on its PON port.
  uint32_t proxy_onu_id = 0;

  friend bool operator==(const device&, const device&) = default;
};

} // namespace ispflow::adapters::voltha
