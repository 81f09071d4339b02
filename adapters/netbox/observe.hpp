#pragma once

#include "adapters/http/client.hpp"
#include "adapters/netbox/settings.hpp"
#include "adapters/netbox/wire.hpp"

#include <caf/expected.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

// Drift observation of NetBox (actors/drift): every address of a tenant,
// listed in pages of the server's largest size, by subscriber. Read only;
// the adapter (adapter.hpp) allocates and releases.

namespace ispflow::adapters::netbox {

/// Runs one HTTP exchange to completion (the caller's client, behind the
/// caller's breaker). Blocking.
using fetch_fn = std::function<http::response(http::request)>;

/// The query of one tenant's subscriber addresses: the tenant filter, the
/// tag (when the tenant tags its addresses), `limit` = NetBox's
/// MAX_PAGE_SIZE (1000, contracts.md 1).
query_params tenant_addresses_query(const tenant_settings& t);

/// Every address of the tenant with a subscriber custom field, as
/// subscriber id -> addresses without /len, in server order. Follows
/// `next` for at most `max_pages` pages (a tenant of 100,000 subscribers
/// takes 100). `requests` counts the exchanges sent. Fails (errc::
/// unspecified, with the reason) on a transport failure, a status other
/// than 200 or an unreadable page.
caf::expected<std::map<std::string, std::vector<std::string>>>
observe_addresses(const tenant_settings& t, const fetch_fn& fetch,
                  uint64_t& requests, int32_t max_pages = 10'000);

} // namespace ispflow::adapters::netbox
