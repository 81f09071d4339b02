#pragma once

#include "adapters/voltha/device.hpp"
#include "adapters/voltha/device_client.hpp"

#include <caf/expected.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

// Drift observation of VOLTHA (actors/drift): every ONU by one ListDevices
// (VolthaService has no look-up by a set of ids or serials, and one list
// per scan costs less than a GetDevice per subscriber). Read only.

namespace ispflow::adapters::voltha {

/// One ONU as a drift scan reads it.
struct observed_onu {
  /// "ENABLED", "DISABLED", ... (voltha-protos common.proto names).
  std::string admin_state;
  /// "ACTIVE", "DISCOVERED", ...
  std::string oper_status;
  /// Its serial number.
  std::string serial;
};

/// The ONUs (non-root devices) of a VOLTHA.
struct observed_onus {
  /// By device id.
  std::map<std::string, observed_onu> by_id;
  /// Device id by serial number.
  std::map<std::string, std::string> id_by_serial;
};

/// The ONUs among `devices` (root devices, the OLTs, are left out).
observed_onus index_onus(const std::vector<device>& devices);

/// ListDevices on `client`, indexed. Fails (errc::unspecified, with the
/// gRPC status) when the call fails.
caf::expected<observed_onus> observe_onus(device_client& client,
                                          std::chrono::milliseconds deadline);

} // namespace ispflow::adapters::voltha
