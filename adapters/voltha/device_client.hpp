#pragma once

#include "adapters/voltha/device.hpp"
#include "adapters/voltha/mapping.hpp"

#include <caf/expected.hpp>
#include <chrono>
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

/// A blocking client of `voltha.VolthaService` (our subset) over one gRPC
/// channel. Every call has a deadline. Thread-safe: meant to be called from
/// worker threads, never from a CAF scheduler thread. The gRPC stub is hidden
/// behind a pimpl, so this header does not include gRPC.
class device_client {
public:
  /// Creates a client of `address` ("host:port", plaintext). The channel
  /// connects lazily, so this fails only for an empty address.
  static caf::expected<std::unique_ptr<device_client>>
  make(const std::string& address);

  /// Closes the channel.
  ~device_client();

  device_client(const device_client&) = delete;
  device_client& operator=(const device_client&) = delete;

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

  /// Finds the ONU (a non-root device) with `serial` by ListDevices; with a
  /// non-empty `parent_id`, only among that OLT's children. NOT_FOUND if
  /// there is none.
  rpc_result<device> find_onu(const std::string& serial,
                              const std::string& parent_id,
                              std::chrono::milliseconds deadline);

private:
  struct impl;
  explicit device_client(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::voltha
