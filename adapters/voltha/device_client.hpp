#pragma once

#include "adapters/voltha/device.hpp"
#include "adapters/voltha/mapping.hpp"

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ispflow::adapters::voltha {

/// The status of one gRPC call.
struct rpc_status {
  /// gRPC status code.
  grpc_code code = grpc_code::ok;
  /// The server's (or the channel's) message.
  std::string message;

  /// True if `code` is ok.
  bool ok() const noexcept {
    return code == grpc_code::ok;
  }
};

/// The status of one gRPC call and, if it is ok, its value.
template <class T>
struct rpc_result {
  /// How the call ended.
  rpc_status status;
  /// The answer; default-constructed unless `status.ok()`.
  T value{};
};

/// How a client's channel is set up.
struct client_options {
  /// The largest answer accepted, in bytes. gRPC's default is 4 MiB, which a
  /// ListDevices of some 18,000 devices exceeds (RESOURCE_EXHAUSTED).
  int max_receive_bytes = 64 * 1024 * 1024;
};

/// A blocking client of `voltha.VolthaService` (our subset) over one gRPC
/// channel. Every call has a deadline. Thread-safe: meant to be called from
/// worker threads, never from a CAF scheduler thread. The gRPC stub is hidden
/// behind a pimpl, so this header does not include gRPC.
class device_client {
public:
  /// Creates a client of `address` ("host:port", plaintext). The channel
  /// connects lazily, so this fails only for an empty address or a
  /// `max_receive_bytes` below 4 MiB.
  static caf::expected<std::unique_ptr<device_client>>
  make(const std::string& address, client_options opts = {});

  /// Closes the channel.
  ~device_client();

  device_client(const device_client&) = delete;
  device_client& operator=(const device_client&) = delete;

  /// While alive, every call made on this thread carries W3C trace context:
  /// a child span of `parent` (a traceparent) as the gRPC metadata
  /// `traceparent`. An empty or malformed `parent` sends nothing.
  class trace_scope {
  public:
    explicit trace_scope(const std::string& parent);
    ~trace_scope();
    trace_scope(const trace_scope&) = delete;
    trace_scope& operator=(const trace_scope&) = delete;

  private:
    std::string previous_;
  };

  /// ListDevices.
  rpc_result<std::vector<device>>
  list_devices(std::chrono::milliseconds deadline);

  /// GetDevice(id).
  rpc_result<device> get_device(const std::string& id,
                                std::chrono::milliseconds deadline);

  /// CreateDevice(d): preprovisions an OLT (type and host_and_port).
  rpc_result<device> create_device(const device& d,
                                   std::chrono::milliseconds deadline);

  /// EnableDevice(id).
  rpc_status enable_device(const std::string& id,
                           std::chrono::milliseconds deadline);

  /// DisableDevice(id).
  rpc_status disable_device(const std::string& id,
                            std::chrono::milliseconds deadline);

  /// RebootDevice(id).
  rpc_status reboot_device(const std::string& id,
                           std::chrono::milliseconds deadline);

  /// DeleteDevice(id).
  rpc_status delete_device(const std::string& id,
                           std::chrono::milliseconds deadline);

  /// Finds the ONU (a non-root device) with `serial`; with a non-empty
  /// `parent_id`, only among that OLT's children. NOT_FOUND if there is
  /// none. VolthaService has no look-up by serial, so this remembers the id
  /// of every ONU seen by a ListDevices and tries GetDevice(id) first
  /// (checking the serial); only a miss lists all devices.
  rpc_result<device> find_onu(const std::string& serial,
                              const std::string& parent_id,
                              std::chrono::milliseconds deadline);

  /// The ONOS connect point of the UNI port named `port_name`
  /// ("<serial>-<uni>") under the OLT `olt_id`: the OLT's logical device
  /// (GetDevice: parent_id), its datapath id (GetLogicalDevice) and the
  /// logical port of that name (ListLogicalDevicePorts) -- the port ONOS
  /// learns from VOLTHA. NOT_FOUND while the port does not exist (an ONU
  /// that has not activated yet).
  ///
  /// Every read remembers all the OLT's UNI ports. With `max_age` > 0 and
  /// the ONU's device id `onu_id`, a port remembered less than `max_age`
  /// ago answers without a call, if VOLTHA listed it for that same ONU
  /// device (a re-discovered ONU gets a new device id, and may get another
  /// port number). A port not remembered is always read.
  rpc_result<uni_connect_point>
  find_uni_port(const std::string& olt_id, const std::string& port_name,
                std::chrono::milliseconds deadline,
                const std::string& onu_id = {},
                std::chrono::milliseconds max_age = {});

  /// Number of ListLogicalDevicePorts calls made (what the port memory
  /// saves).
  uint64_t port_listings() const;

private:
  struct impl;
  explicit device_client(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::voltha
