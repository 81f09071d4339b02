#include "actors/scheduler.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/policy/work_sharing.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/scheduler/coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;

// Runs one actor on `sys` and waits for its answer.
int round_trip(caf::actor_system& sys) {
  auto doubler = sys.spawn(
    []() -> caf::behavior { return {[](int x) { return 2 * x; }}; });
  int got = 0;
  caf::scoped_actor self{sys};
  self->request(doubler, 5s, 21)
    .receive([&](int x) { got = x; }, [](caf::error&) {});
  return got;
}

// ispflowd's default: CAF's work-sharing coordinator, with the workers
// asked for; its actors run.
TEST(actors_scheduler, work_sharing_runs_the_workers_asked_for) {
  caf::actor_system_config cfg;
  ispflow::actors::tune_scheduler(cfg, 2, true);
  caf::actor_system sys{cfg};
  using sharing = caf::scheduler::coordinator<caf::policy::work_sharing>;
  auto* coordinator = dynamic_cast<sharing*>(&sys.scheduler());
  ASSERT_NE(coordinator, nullptr);
  EXPECT_EQ(coordinator->num_workers(), 2u);
  EXPECT_EQ(round_trip(sys), 42);
}

// `runtime.scheduler: stealing` (and the benches): work stealing.
TEST(actors_scheduler, work_stealing_stays_available) {
  caf::actor_system_config cfg;
  ispflow::actors::tune_scheduler(cfg, 3, false);
  caf::actor_system sys{cfg};
  using stealing = caf::scheduler::coordinator<caf::policy::work_stealing>;
  auto* coordinator = dynamic_cast<stealing*>(&sys.scheduler());
  ASSERT_NE(coordinator, nullptr);
  EXPECT_EQ(coordinator->num_workers(), 3u);
  EXPECT_EQ(round_trip(sys), 42);
}

} // namespace
