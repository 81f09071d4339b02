#pragma once

#include "events/adapter_messages.hpp"
#include "events/type_ids.hpp"
#include "sagas/definition.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace ispflow::common {
struct tenant_systems;
} // namespace ispflow::common

namespace ispflow::adapters::api {

// The message types live with every other message type in events/.
using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
using events::reply_failed;
using events::reply_succeeded;
using events::string_map;

/// The one message signature every adapter actor implements. Each system
/// gets its own alias below (they share the signature, so one fake or one
/// generic actor can stand in for any of them); the alias documents which
/// operations the sagas send it.
///
/// interface adapter_actor {
///   /// Runs `operation` once per (operation, idempotency key): a repeat
///   /// with the same key must not repeat the effect. With `reconcile` the
///   /// adapter first looks the effect up. Always answers; the saga actor
///   /// still bounds every request by the step's attempt_timeout and treats
///   /// silence as `unknown_outcome`.
///   (invoke_atom, adapter_request) -> (adapter_reply)
/// }
using adapter_actor = caf::typed_actor<
  caf::replies_to<invoke_atom, adapter_request>::with<adapter_reply>>;

/// FreeRADIUS (SQL rows in radcheck/radreply/radusergroup, CoA and
/// Disconnect to the NAS, session look-up in radacct). Operations:
/// radius.provision, radius.deprovision (activate, terminate);
/// radius.deny, radius.restore_plan (suspend, resume, terminate);
/// radius.disconnect_sessions (suspend, resume, terminate);
/// radius.verify_sessions_closed (suspend); radius.set_plan_group,
/// radius.revert_plan_group, radius.coa_sessions (change_plan);
/// radius.restore_credentials (drift repair).
using radius_actor = adapter_actor;

/// NetBox IPAM. Operations: netbox.allocate_ip (activate; output
/// ip_address), netbox.release_ip (compensation of activate, terminate).
using netbox_actor = adapter_actor;

/// VOLTHA / ONOS (PON). Operations: voltha.provision_service (activate;
/// output onu_id), voltha.remove_service (compensation of activate,
/// terminate), voltha.disable_onu, voltha.enable_onu (suspend, resume and
/// their compensations).
using voltha_actor = adapter_actor;

/// GenieACS (CPE). Operations: genieacs.configure_cpe (activate; output
/// cpe_id), genieacs.factory_reset (terminate).
using genieacs_actor = adapter_actor;

/// AWX automation. Operations: awx.run_activation_job (activate; output
/// job_id), awx.cancel_job (its compensation after an unknown outcome).
using awx_actor = adapter_actor;

/// Which systems each tenant has and which actor serves each system. Filled
/// at start-up, then only read (copied into the router and saga actors).
class adapter_set {
public:
  /// Declares `tenant_id` with the systems it runs and its policies (e.g.
  /// "suspend.disable_onu"). Replaces an earlier declaration.
  void set_tenant(const std::string& tenant_id, sagas::tenant_profile profile);

  /// Declares `tenant_id` from its configuration flags, with `policies`.
  void set_tenant(const std::string& tenant_id,
                  const common::tenant_systems& systems,
                  std::set<std::string> policies = {});

  /// Sets the actor serving `system` (for every tenant).
  void set_actor(sagas::target_system system, adapter_actor handle);

  /// The profile of `tenant_id`, or nothing for an unknown tenant.
  std::optional<sagas::tenant_profile>
  profile(const std::string& tenant_id) const;

  /// True if `tenant_id` is known and runs `system`.
  bool has(const std::string& tenant_id, sagas::target_system system) const;

  /// The actor serving `system`, or an invalid handle.
  adapter_actor actor(sagas::target_system system) const;

private:
  std::map<std::string, sagas::tenant_profile> tenants_;
  std::map<sagas::target_system, adapter_actor> actors_;
};

/// The systems flagged in a tenant's configuration.
std::set<sagas::target_system>
systems_of(const common::tenant_systems& systems);

} // namespace ispflow::adapters::api
