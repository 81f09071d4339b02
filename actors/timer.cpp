#include "actors/timer.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <utility>

namespace ispflow::actors {

namespace {

struct timer_state {
  saga_clock clock;
  static inline const char* name = "ispflow.timer";
};

timer_actor::behavior_type
timer(timer_actor::stateful_pointer<timer_state> self, saga_clock clock) {
  self->state.clock = std::move(clock);
  return {
    [self](schedule_atom, sagas::time_point due, saga_actor& target,
           uint64_t step, int64_t generation) {
      auto& clk = self->state.clock;
      auto now = clk ? clk() : std::chrono::system_clock::now();
      auto delay = due > now
                     ? std::chrono::duration_cast<caf::timespan>(due - now)
                     : caf::timespan{0};
      self->delayed_send(target, delay, fire_atom_v, step, generation);
    },
  };
}

} // namespace

timer_actor spawn_timer(caf::actor_system& sys, saga_clock clock) {
  return sys.spawn(timer, std::move(clock));
}

} // namespace ispflow::actors
