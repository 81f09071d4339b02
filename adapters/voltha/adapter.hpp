#pragma once

#include "adapters/api/adapters.hpp"
#include "adapters/voltha/settings.hpp"
#include "events/type_ids.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <string>

namespace ispflow::adapters::voltha {

class device_client;

/// The VOLTHA adapter: `api::voltha_actor` plus a health probe.
///
/// interface adapter_actor {
///   /// voltha.provision_service, voltha.remove_service, voltha.disable_onu,
///   /// voltha.enable_onu for `req.tenant_id` (see run_operation).
///   (invoke_atom, adapter_request req) -> (adapter_reply)
///   /// A cheap probe of the tenant's VOLTHA (ListDevices with the probe
///   /// deadline): `succeeded` when it answers, else the failure.
///   (health_atom, string tenant_id) -> (adapter_reply)
/// }
///
/// The gRPC and HTTP calls run on the actor's own worker threads; the
/// scheduler threads never wait for the network.
using adapter_actor = api::voltha_actor::extend<
  caf::replies_to<health_atom, std::string>::with<events::adapter_reply>>;

/// Spawns the adapter actor with its worker threads; they stop when the
/// actor exits.
adapter_actor spawn_adapter(caf::actor_system& sys, adapter_options opts);

/// Runs one operation to its end, blocking (the actor calls it on a worker):
/// - voltha.provision_service: finds the ONU ("onu_id" if given, else
///   "access.onu_serial"), enables it unless it is ENABLED, POSTs the olt
///   app service for "<serial>-<uni>" with the tenant's (or the input's)
///   tags unless programmed-subscribers already lists it, and succeeds
///   (output "onu_id") once programmed-subscribers lists it -- until then
///   `parked` with `retry_after_ms` = `confirm_interval`. "ConnectPoint not
///   found" is retryable while the ONU is not ACTIVE, permanent once it is.
/// - voltha.remove_service: DELETEs that service (a missing ONU or connect
///   point succeeds) and succeeds once programmed-subscribers no longer
///   lists it, `parked` until then.
/// - voltha.disable_onu / voltha.enable_onu: by "onu_id" if given, else by
///   serial; an ONU already in the target state succeeds.
/// The ONOS password never appears in the reply.
events::adapter_reply run_operation(const tenant_settings& settings,
                                    device_client& devices,
                                    const events::adapter_request& req);

/// The health probe: ListDevices with `settings.probe_deadline`.
events::adapter_reply run_probe(const tenant_settings& settings,
                                device_client& devices);

} // namespace ispflow::adapters::voltha
