#pragma once

#include "adapters/postgres/retention_store.hpp"
#include "events/type_ids.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace ispflow::actors {

/// Retention: deletes old rows in small batches, table after table
/// (adapters::postgres::retention_table says what each may delete), with a
/// pause after every batch so that it never competes with the sagas for
/// long; then waits `interval` and starts over.
///
/// interface retention_actor {
///   /// Deletes one batch and schedules the next step (internal).
///   (poll_atom) -> ()
///   /// Runs one whole pass now, without pauses (tests, operators);
///   /// replies with the rows deleted.
///   (tick_atom) -> (uint64_t deleted)
/// }
using retention_actor
  = caf::typed_actor<caf::reacts_to<poll_atom>,
                     caf::replies_to<tick_atom>::with<uint64_t>>;

/// What the retention actor needs.
struct retention_actor_settings {
  /// libpq connection string (never logged).
  std::string dsn;
  /// Period per table; a table without one (or with 0) is kept forever.
  std::map<adapters::postgres::retention_table, std::chrono::seconds> periods;
  /// Rows per delete transaction.
  size_t batch = 1000;
  /// Pause after a full batch.
  std::chrono::milliseconds pause{100};
  /// Pause between passes.
  std::chrono::seconds interval{600};
  /// First pass after this delay (0 in tests that drive it by tick_atom).
  std::chrono::milliseconds first_delay{std::chrono::seconds{10}};
  /// Starts passes by itself; false = only on tick_atom.
  bool scheduled = true;
  /// Wall clock (tests pass a fixed one).
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
};

/// Spawns the retention actor on a thread of its own (libpqxx blocks).
retention_actor spawn_retention(caf::actor_system& sys,
                                retention_actor_settings cfg);

} // namespace ispflow::actors
