#pragma once

#include "adapters/api/adapters.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/netbox/settings.hpp"
#include "adapters/resilience/guard.hpp"
#include "events/type_ids.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <memory>
#include <string>

namespace ispflow::adapters::netbox {

/// The NetBox IPAM adapter: `api::netbox_actor` plus a health probe. It
/// converts to `api::adapter_actor`.
///
/// interface adapter_actor {
///   /// netbox.allocate_ip: looks the subscriber's address up by custom
///   /// field first (always: NetBox's POST is not idempotent) and reuses a
///   /// hit; else lists the tenant's active prefixes of the site and role
///   /// and POSTs available-ips on each in turn until one is not full
///   /// (409). Outputs "ip_address" (no /len), "ip_id", "prefix".
///   /// netbox.release_ip: DELETEs input "ip_id", or every address found by
///   /// the subscriber's custom field; 204 and 404 both succeed.
///   /// netbox.assign_ip (drift repair): gives input "ip_address" (the
///   /// recorded address, no /len) back to the subscriber. Looks it up by
///   /// address in every tenant first; held by another subscriber or
///   /// NetBox tenant: permanent failure naming the holder (never taken);
///   /// unassigned or lacking tenant or tag: PATCHed; absent: POSTed to
///   /// ip-addresses with the mask length of input "prefix" or of the
///   /// tenant's prefix that holds it. Outputs "ip_address", "ip_id",
///   /// "prefix".
///   /// netbox.release_stray_ips (drift repair): DELETEs every address of
///   /// the subscriber (custom field) but input "ip_address"; permanent
///   /// failure, deleting nothing, if the subscriber does not hold it.
///   (invoke_atom, adapter_request req) -> (adapter_reply)
///   /// A cheap probe of the tenant's NetBox (GET /api/status/, not through
///   /// the breaker): `succeeded` with output "netbox_version", else the
///   /// failure.
///   (health_atom, string tenant_id) -> (adapter_reply)
/// }
///
/// Every operation asks `guard` first (key: tenant, "netbox", base URL): a
/// call that finds its tenant at its limit of calls in flight waits for a
/// slot, at most 2 s (resilience/slot_queue.hpp, `tick_atom` looks again);
/// any other refusal, or a longer wait, answers `parked` and sends nothing. Transport failures and 5xx
/// count as breaker failures; 4xx answers as successes (NetBox is up).
using adapter_actor = api::netbox_actor::extend<
  caf::replies_to<health_atom, std::string>::with<events::adapter_reply>,
  caf::reacts_to<tick_atom>>;

/// Spawns the adapter. `http` runs its requests; `guard` (shared by every
/// adapter of the process; may be null = no breaker) admits its calls.
adapter_actor spawn_netbox_adapter(caf::actor_system& sys,
                                   adapter_settings settings,
                                   http::http_actor http,
                                   std::shared_ptr<resilience::guard> guard);

} // namespace ispflow::adapters::netbox
