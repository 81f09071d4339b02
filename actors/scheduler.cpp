#include "actors/scheduler.hpp"

#include <algorithm>
#include <caf/actor_system_config.hpp>
#include <cstdint>
#include <thread>

namespace ispflow::actors {

void tune_scheduler(caf::actor_system_config& cfg, size_t worker_threads,
                    bool work_sharing) {
  if (worker_threads == 0)
    worker_threads = std::max(1u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", static_cast<int64_t>(worker_threads));
  cfg.set("work-stealing.moderate-poll-attempts", int64_t{10});
  if (work_sharing)
    cfg.set("scheduler.policy", caf::atom("sharing"));
}

} // namespace ispflow::actors
