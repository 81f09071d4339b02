#pragma once

#include "events/records.hpp"
#include "events/type_ids.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <string>
#include <vector>

namespace ispflow::actors {

/// Writes records that belong to no saga transition (circuit breaker
/// transitions) into the outbox, so the relay publishes them like the rest.
///
/// interface event_sink_actor {
///   /// Appends the records in order; on a store failure keeps them and
///   /// tries again with backoff (up to 10,000 records held, the oldest
///   /// dropped beyond that with a warning).
///   (record_atom, vector<kafka_record>) -> ()
///   /// Internal: try the held records again.
///   (tick_atom) -> ()
/// }
using event_sink_actor = caf::typed_actor<
  caf::reacts_to<record_atom, std::vector<events::kafka_record>>,
  caf::reacts_to<tick_atom>>;

/// Spawns the sink on a thread of its own (libpqxx blocks) over `dsn`.
event_sink_actor spawn_event_sink(caf::actor_system& sys, std::string dsn);

} // namespace ispflow::actors
