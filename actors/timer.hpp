#pragma once

#include "actors/saga_interfaces.hpp"

#include <caf/fwd.hpp>
#include <functional>

namespace ispflow::actors {

/// The wall clock the saga engine reads (`now` of each transition).
using saga_clock = std::function<sagas::time_point()>;

/// Spawns the timer actor (scheduled). `clock` says what time it is now
/// (empty: the system clock); a due time `d` is delivered after `d - now`
/// of actor-clock time with `delayed_send`, so CAF's test_coordinator
/// drives it with `advance_time` and nothing sleeps. Durable rows are the
/// store's business (written in the saga's transaction); after a restart
/// the engine's resume re-arms them through this actor.
timer_actor spawn_timer(caf::actor_system& sys, saga_clock clock = {});

} // namespace ispflow::actors
