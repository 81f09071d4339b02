#pragma once

#include "events/type_ids.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <string>

namespace ispflow::actors {

/// The store: ispflow's single writer of intake results to PostgreSQL.
///
/// interface store_actor {
///   /// Writes one intake batch (inbox rows, dead letters and the outbox
///   /// rows they cause) in one transaction and replies with the counts.
///   /// Fails with errc::database_unavailable or errc::database_error; the
///   /// caller keeps the batch and retries, nothing is half-written.
///   (record_atom, intake_batch) -> (intake_outcome)
/// }
using store_actor = caf::typed_actor<caf::replies_to<
  record_atom, events::intake_batch>::with<events::intake_outcome>>;

/// What the store needs.
struct store_settings {
  /// libpq connection string (may carry a password: never logged).
  std::string dsn;
};

/// Spawns the store on a thread of its own, since libpqxx blocks.
store_actor spawn_store(caf::actor_system& sys, store_settings cfg);

} // namespace ispflow::actors
