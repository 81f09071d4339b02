#pragma once

#include "adapters/api/adapters.hpp"
#include "adapters/genieacs/intents.hpp"
#include "adapters/genieacs/settings.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/resilience/guard.hpp"
#include "events/type_ids.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <memory>
#include <string>

namespace ispflow::adapters::genieacs {

/// The GenieACS adapter: `api::genieacs_actor` plus a health probe. It
/// converts to `api::adapter_actor`.
///
/// interface adapter_actor {
///   /// genieacs.configure_cpe: finds the CPE by "access.cpe.serial" (and
///   /// "access.cpe.oui", "access.cpe.product_class" when given), chooses
///   /// its data model (TR-098 or TR-181: per product class, per tenant, or
///   /// detected from the device record), then POSTs a setParameterValues
///   /// task (PPPoE user and password from "credentials.username"/
///   /// "credentials.password", optional SSID and extra parameters) with
///   /// `connection_request` and a `uniqueKey` derived from the idempotency
///   /// key. Once the task ran, the values are read back from the device
///   /// record: a path the device lacks (GenieACS skips it silently) is a
///   /// permanent failure naming it. Outputs "cpe_id" (the device id) and
///   /// "data_model". genieacs.factory_reset: the same with a factoryReset
///   /// task; input "cpe_id", when given, skips the device look-up.
///   /// Every POST is first recorded in the intent store (operation, key ->
///   /// device, task id, post time); a later call with the same key never
///   /// posts blindly: a recorded task id is polled, a recorded post without
///   /// an answer is reconciled by `uniqueKey` and then from the device
///   /// record (`_lastInform`, `_lastBoot` after the post time).
///   /// Outcomes: 200 succeeded; 202 "Task queued but not processed",
///   /// "Device is offline" and any other 202 phrase (a failed connection
///   /// request) answer `retryable_failure`, and the next call for the same
///   /// key polls the task instead of posting again (gone without a fault =
///   /// done); 202 "Task faulted" answers `permanent_failure` with the
///   /// fault's code and message; 404 permanent; 5xx retryable; a task POST
///   /// that may have reached GenieACS without an answer is
///   /// `unknown_outcome`.
///   /// genieacs.tag_cpe (drift repair): reads the `_tags` of input
///   /// "cpe_id" and POSTs /devices/<id>/tags/<tag> for each of input
///   /// "cpe_tags.0", "cpe_tags.1", ... it lacks (an `$addToSet`: a
///   /// repeat changes nothing). A device the NBI does not have is a
///   /// permanent failure (its tags route answers 200 to that). Outputs
///   /// "cpe_id".
///   (invoke_atom, adapter_request req) -> (adapter_reply)
///   /// A cheap probe of the tenant's NBI (an empty device query, not through
///   /// the breaker): `succeeded` with output "genieacs_version".
///   (health_atom, string tenant_id) -> (adapter_reply)
/// }
///
/// Every operation asks `guard` first (key: tenant, "genieacs", base URL);
/// a call that finds its tenant at its limit of calls in flight waits for a
/// slot, at most 2 s (resilience/slot_queue.hpp, `tick_atom` looks again);
/// any other refusal, or a longer wait, answers `parked` and sends nothing. Transport failures, 5xx
/// and 429 count as breaker failures; a queued task or an offline CPE does
/// not (the ACS answered).
using adapter_actor = api::genieacs_actor::extend<
  caf::replies_to<health_atom, std::string>::with<events::adapter_reply>,
  caf::reacts_to<tick_atom>>;

/// Spawns the adapter. `http` runs its requests; `guard` (shared by every
/// adapter of the process; may be null = no breaker) admits its calls. Its
/// task intents live in memory, as long as the adapter.
adapter_actor spawn_genieacs_adapter(caf::actor_system& sys,
                                     adapter_settings settings,
                                     http::http_actor http,
                                     std::shared_ptr<resilience::guard> guard);

/// The same with the task intents in `intents` (e.g.
/// `spawn_pg_intent_store`, so that they survive a restart); a null handle
/// means in memory.
adapter_actor spawn_genieacs_adapter(caf::actor_system& sys,
                                     adapter_settings settings,
                                     http::http_actor http,
                                     std::shared_ptr<resilience::guard> guard,
                                     intent_store_actor intents);

} // namespace ispflow::adapters::genieacs
