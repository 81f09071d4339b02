#include "adapters/voltha/observe.hpp"

#include "events/errc.hpp"

namespace ispflow::adapters::voltha {

observed_onus index_onus(const std::vector<device>& devices) {
  observed_onus out;
  for (const auto& d : devices) {
    if (d.root)
      continue;
    out.by_id[d.id] = observed_onu{std::string{to_string(d.admin)},
                                   std::string{to_string(d.oper)},
                                   d.serial_number};
    if (!d.serial_number.empty())
      out.id_by_serial[d.serial_number] = d.id;
  }
  return out;
}

caf::expected<observed_onus> observe_onus(device_client& client,
                                          std::chrono::milliseconds deadline) {
  auto res = client.list_devices(deadline);
  if (!res.status.ok())
    return caf::make_error(errc::unspecified,
                           "voltha: ListDevices: " + to_string(res.status.code)
                             + ": " + res.status.message);
  return index_onus(res.value);
}

} // namespace ispflow::adapters::voltha
