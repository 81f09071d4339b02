#pragma once

#include <string>
#include <string_view>

// What the benchmarks read of processes from /proc: CPU time and the
// machine's load average.
namespace ispflow::bench {

/// utime + stime of process `pid` in clock ticks; -1 when it is gone.
long cpu_ticks(int pid);

/// cpu_ticks of `pid` plus those of its direct children (a PostgreSQL
/// server's backends); -1 when `pid` is gone.
long cpu_ticks_with_children(int pid);

/// Clock ticks as seconds.
double ticks_to_seconds(long ticks);

/// The parent of process `pid`; -1 when it is gone.
int parent_pid(int pid);

/// The 1, 5 and 15 minute load averages, joined by `separator`.
std::string load_average(std::string_view separator = " ");

} // namespace ispflow::bench
