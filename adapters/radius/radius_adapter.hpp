#pragma once

#include "adapters/api/adapters.hpp"
#include "adapters/radius/dynamic_authorization.hpp"
#include "adapters/radius/settings.hpp"
#include "adapters/resilience/breaker_registry.hpp"

#include <caf/fwd.hpp>
#include <memory>
#include <string>
#include <vector>

// The radius adapter actor the sagas call (adapters::api::radius_actor).
//
// interface radius_actor {
//   /// radius.provision        credentials.username, credentials.password,
//   ///                         plan_id, [ip_address] -> rows written
//   ///                         (and the password sealed, with a keyring)
//   /// radius.deprovision      every row of the user removed (sessions a
//   ///                         CoA left in the walled garden disconnected
//   ///                         first)
//   /// radius.deny             walled-garden group or Auth-Type := Reject
//   /// radius.restore_plan     the plan group back, no Auth-Type
//   /// radius.set_plan_group   plan_id -> output previous_plan_group
//   /// radius.revert_plan_group  previous_plan_group -> that group back
//   /// radius.verify_sessions_closed  succeeded when radacct has no open
//   ///                         session of the user (but those a CoA keeps
//   ///                         in the walled garden), else retryable_failure
//   /// radius.disconnect_sessions  Disconnect-Request to every open session
//   ///                         (NAK 503 = already gone); on a NAS in
//   ///                         disconnect_mode coa a CoA-Request instead:
//   ///                         into the walled garden while the account is
//   ///                         denied, back to its plan otherwise
//   ///                         (Disconnect on a NAK)
//   /// radius.coa_sessions     CoA-Request with plan_id's attributes to every
//   ///                         open session, Disconnect on a NAK
//   /// radius.restore_credentials  the password row provision wrote, back
//   ///                         in radcheck when it has none (hashed storage;
//   ///                         cleartext storage from the sealed password
//   ///                         when a keyring is configured; else
//   ///                         permanent_failure)
//   (invoke_atom, adapter_request) -> (adapter_reply)
// }
//
// The user is "credentials.username" from the input (checked by
// check_username), else the username of the subscriber's radius_accounts
// row. Every operation acts for the request's (tenant, subscriber): a
// username whose account belongs to another tenant or subscriber is refused
// before any row is written or any CoA/DM sent. Every operation is
// idempotent, so a `reconcile` request simply runs again. A lost database
// answers retryable_failure, and so does a write under a partition lease
// another instance has claimed since (nothing is written; the saga's own
// next write is refused the same way), bad input (unknown tenant or plan,
// missing or refused credentials, another tenant's username, a NAS missing from
// `nas`) permanent_failure.

namespace ispflow::common {
class keyring;
} // namespace ispflow::common

namespace ispflow::adapters::radius {

/// What the adapter needs.
struct adapter_config {
  /// libpq connection string of the database holding FreeRADIUS's tables.
  std::string dsn;
  /// This instance's id (instance.id): a request made under a partition
  /// lease (adapter_request::partition, epoch) writes only while this
  /// instance holds it (radius::partition_lease).
  std::string instance_id;
  /// Settings of every tenant served (others are refused).
  std::vector<tenant_settings> tenants;
  /// The CoA/Disconnect client; when null, radius.disconnect_sessions and
  /// radius.coa_sessions answer permanent_failure "coa client not wired"
  /// for a user with open sessions.
  std::shared_ptr<dynamic_authorization> coa;
  /// Per-NAS settings (disconnect mode, walled-garden CoA attributes); a
  /// NAS not listed follows its tenant.
  std::vector<nas_policy> nas;
  /// Breakers per NAS, keyed (tenant, "radius", "nas:<address>"); null:
  /// none. A Disconnect or CoA to a NAS whose breaker is open is not sent:
  /// the operation answers `parked` with `retry_after_ms`, so one dead NAS
  /// parks only its own subscribers. A NAS that answered (ACK or NAK)
  /// counts as a success, one that did not (timeout) as a failure.
  std::shared_ptr<resilience::breaker_registry> nas_breakers;
  /// SQL workers, each with its own PostgreSQL connection, that run the
  /// operations touching only the database (provision, deprovision without
  /// a CoA, deny, restore_plan, set/revert_plan_group,
  /// verify_sessions_closed, restore_credentials). The operations of one
  /// subscriber always go to the same worker, in order; different subscribers'
  /// run in parallel. 0: the adapter runs them itself, one at a time.
  size_t sql_connections = 4;
  /// The sealing keys (credentials.seal_key_files): set, radius.provision
  /// also keeps the password sealed in the account (schema/0018) for a
  /// drift repair of the CPE; null, it keeps none.
  std::shared_ptr<const common::keyring> seal;
};

/// Spawns the adapter as a detached actor (libpqxx blocks). It writes each
/// tenant's plans (radgroupreply, plans table) before its first operation
/// for that tenant.
api::radius_actor spawn_radius_adapter(caf::actor_system& sys,
                                       adapter_config cfg);

} // namespace ispflow::adapters::radius
