#pragma once

#include "adapters/voltha/mapping.hpp"
#include "adapters/voltha/settings.hpp"

#include <string>
#include <string_view>

// A small blocking libcurl helper for the ONOS olt app (basic auth), used
// only by this adapter's worker threads until the shared async HTTP client
// (adapters/http) is available.

namespace ispflow::adapters::voltha::detail {

/// Sends `method` (GET, POST, DELETE) to `settings.onos_url` + `path` with
/// basic auth and `settings.http_timeout`, and with a child span of
/// `traceparent` when that is a valid W3C traceparent. Never throws.
http_answer onos_request(const tenant_settings& settings,
                         std::string_view method, const std::string& path,
                         const std::string& traceparent = {});

} // namespace ispflow::adapters::voltha::detail
