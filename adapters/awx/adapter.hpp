#pragma once

#include "adapters/api/adapters.hpp"
#include "adapters/awx/settings.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/resilience/guard.hpp"
#include "events/type_ids.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <memory>
#include <string>

namespace ispflow::adapters::awx {

/// The AWX adapter: `api::awx_actor` plus a health probe. It converts to
/// `api::adapter_actor` (a subset of its interface).
///
/// interface adapter_actor {
///   /// awx.run_activation_job or awx.cancel_job for `req.tenant_id`:
///   /// - run_activation_job: finds the job launched under
///   ///   `req.idempotency_key` (in memory, else by listing the template's
///   ///   recent jobs and matching extra_vars.ispflow_idempotency_key); if
///   ///   there is none, launches the activation template with the key in
///   ///   extra_vars. Then reads the job: `succeeded` with job_id and
///   ///   artifacts.<k> once successful, `permanent_failure` with
///   ///   job_explanation once failed/error/canceled, and `parked` with
///   ///   retry_after = poll_interval while it runs (README.md).
///   /// - cancel_job: finds the job by key and cancels it; no job, 202 and
///   ///   405 (already finished) all succeed.
///   /// Every call is admitted by the guard first: a call that finds its
///   /// tenant at its limit of calls in flight waits for a slot, at most
///   /// 2 s (resilience/slot_queue.hpp, `tick_atom` looks again); any
///   /// other refusal, or a longer wait, answers `parked` and sends
///   /// nothing.
///   (invoke_atom, adapter_request req) -> (adapter_reply)
///   /// Cheap probe of the tenant's AWX (`GET me/` with the token, not
///   /// through the breaker): `succeeded` when it answers 200.
///   (health_atom, string tenant_id) -> (adapter_reply)
/// }
using adapter_actor = api::awx_actor::extend<
  caf::replies_to<health_atom, std::string>::with<events::adapter_reply>,
  caf::reacts_to<tick_atom>>;

/// The breaker adapter name ("awx"); the endpoint is the tenant's base URL.
inline constexpr const char* breaker_adapter = "awx";

/// Spawns the adapter. `http` runs its requests; `guard` holds the
/// breakers and tenant limits (null: a guard of its own with default
/// knobs). Settings should pass `validate`; a tenant that does not is
/// answered with `permanent_failure`.
adapter_actor spawn_awx_adapter(caf::actor_system& sys, awx_settings settings,
                                http::http_actor http,
                                std::shared_ptr<resilience::guard> guard);

} // namespace ispflow::adapters::awx
