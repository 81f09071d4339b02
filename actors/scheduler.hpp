#pragma once

#include <caf/fwd.hpp>
#include <cstddef>

namespace ispflow::actors {

/// Sets up CAF's work-stealing scheduler for ispflow: `worker_threads`
/// workers (0: one per CPU core; CAF's own default is at least four,
/// which on a two-core host only adds threads competing with PostgreSQL),
/// and a short spin before an idle worker backs off. CAF's moderate phase
/// polls 500 times with 50 µs sleeps, so every idle worker woke 20,000
/// times a second; on a two-core machine that took a quarter of the
/// saga engine's throughput (docs/benchmarks.md).
///
/// With `work_sharing`, CAF's work-sharing policy instead: one queue, and
/// idle workers wait on a condition variable until work is queued, so an
/// instance that mostly waits on PostgreSQL and the network (ispflowd)
/// does not spend its CPU on polling (docs/benchmarks.md, "scheduler").
void tune_scheduler(caf::actor_system_config& cfg, size_t worker_threads,
                    bool work_sharing = false);

} // namespace ispflow::actors
