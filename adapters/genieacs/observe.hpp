#pragma once

#include "adapters/genieacs/settings.hpp"
#include "adapters/http/client.hpp"

#include <caf/expected.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Drift observation of GenieACS (actors/drift): the devices of a page of
// CPE ids, a few dozen per NBI query. Read only; the adapter (adapter.hpp)
// posts tasks.

namespace ispflow::adapters::genieacs {

/// Runs one HTTP exchange to completion (the caller's client, behind the
/// caller's breaker). Blocking.
using fetch_fn = std::function<http::response(http::request)>;

/// One CPE as a drift scan reads it.
struct observed_device {
  /// The PPPoE username at the tenant's TR-098 path, else its TR-181 path;
  /// empty when the device has neither (e.g. after a factory reset).
  std::string pppoe_username;
  /// `_tags`.
  std::vector<std::string> tags;
};

/// Ids per NBI query: each id is percent-encoded twice into the URL, and a
/// URL must stay well below the 8 KiB request lines servers accept.
inline constexpr size_t observe_chunk = 100;

/// `{"_id":{"$in":[ids]}}`.
std::string ids_query(const std::vector<std::string>& ids);

/// `_id,_tags` and the PPPoE username paths of `ts`.
std::string observe_projection(const tenant_settings& ts);

/// The devices of a JSON array of device documents, by `_id`; nothing if
/// the body is not such an array.
std::optional<std::map<std::string, observed_device>>
parse_observed(std::string_view body, const tenant_settings& ts);

/// The devices among `ids` that exist, by id (an absent id: no device),
/// queried `observe_chunk` ids at a time. `requests` counts the exchanges
/// sent. Fails (errc::unspecified, with the reason) on a transport failure,
/// a status other than 200 or an unreadable answer.
caf::expected<std::map<std::string, observed_device>>
observe_devices(const tenant_settings& ts, const std::vector<std::string>& ids,
                const fetch_fn& fetch, uint64_t& requests);

} // namespace ispflow::adapters::genieacs
