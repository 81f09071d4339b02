// ispflow-host-cost: what the machine charges for the things an activation
// does most often besides its own work, so that benchmark runs on different
// machines, or in different phases of a shared one, can be compared:
//   - a system call (getppid, which does nothing in the kernel);
//   - a wake-up round trip: two threads hand a byte back and forth through
//     two pipes, each waiting in read(), as ispflowd's threads wait for one
//     another (two wake-ups, two context switches and four system calls per
//     round trip), with both threads on one core and free to use any;
//   - a fixed piece of integer work in user space (how fast a core runs for
//     us at the moment: the host's other guests and its frequency show here).
// Each figure is the median of `--rounds` rounds.
//   ispflow-host-cost [--rounds 5] [--syscalls 100000] [--round-trips 5000]
//                     [--work 10000000]
// Prints one line: `host_cost syscall_ns=... wake_rt_one_core_us=...
// wake_rt_any_core_us=... work_ms=...` (the wake-up on one core is left
// out, as 0, on a machine with one core).

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <sched.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

double per_syscall_ns(long n) {
  auto start = steady::now();
  for (long i = 0; i < n; ++i)
    syscall(SYS_getppid);
  return seconds_since(start) / static_cast<double>(n) * 1e9;
}

// Microseconds per round trip; `one_core` puts both threads on the first
// core this process may use. Returns -1 if the pipes cannot be made or a
// transfer fails.
double per_round_trip_us(long n, bool one_core) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  cpu_set_t pinned;
  CPU_ZERO(&pinned);
  if (one_core) {
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
      return -1;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) {
        CPU_SET(c, &pinned);
        break;
      }
  }
  int ping[2];
  int pong[2];
  if (pipe(ping) != 0)
    return -1;
  if (pipe(pong) != 0) {
    close(ping[0]);
    close(ping[1]);
    return -1;
  }
  // Each side closes its write end when it stops, so that a failure on
  // either side ends the other's read.
  std::thread echo{[&] {
    if (one_core)
      sched_setaffinity(0, sizeof pinned, &pinned);
    char byte = 0;
    for (long i = 0; i < n; ++i)
      if (read(ping[0], &byte, 1) != 1 || write(pong[1], &byte, 1) != 1)
        break;
    close(pong[1]);
  }};
  if (one_core)
    sched_setaffinity(0, sizeof pinned, &pinned);
  bool ok = true;
  char byte = 0;
  auto start = steady::now();
  for (long i = 0; i < n && ok; ++i)
    ok = write(ping[1], &byte, 1) == 1 && read(pong[0], &byte, 1) == 1;
  auto elapsed = seconds_since(start);
  close(ping[1]);
  echo.join();
  close(ping[0]);
  close(pong[0]);
  if (one_core)
    sched_setaffinity(0, sizeof allowed, &allowed);
  return ok ? elapsed / static_cast<double>(n) * 1e6 : -1;
}

// Where the integer work leaves its result, so that the compiler keeps it.
volatile uint64_t work_result = 0;

// Milliseconds for `n` steps of a xorshift generator.
double work_ms(long n) {
  uint64_t x = 0x9e3779b97f4a7c15ULL ^ work_result;
  auto start = steady::now();
  for (long i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x *= 0x2545f4914f6cdd1dULL;
  }
  work_result = x;
  return seconds_since(start) * 1e3;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ispflow-host-cost: system call, wake-up and CPU costs of "
               "this machine right now"};
  int rounds = 5;
  long syscalls = 100'000;
  long round_trips = 5'000;
  long work = 10'000'000;
  app.add_option("--rounds", rounds, "Rounds; each figure is their median")
    ->check(CLI::Range(1, 1000));
  app.add_option("--syscalls", syscalls, "System calls per round")
    ->check(CLI::Range(1L, 1'000'000'000L));
  app.add_option("--round-trips", round_trips, "Wake-up round trips per round")
    ->check(CLI::Range(1L, 100'000'000L));
  app.add_option("--work", work, "Steps of integer work per round")
    ->check(CLI::Range(1L, 10'000'000'000L));
  CLI11_PARSE(app, argc, argv);

  bool several_cores = std::thread::hardware_concurrency() > 1;
  std::vector<double> sys;
  std::vector<double> one_core;
  std::vector<double> any_core;
  std::vector<double> cpu;
  for (int r = 0; r < rounds; ++r) {
    sys.push_back(per_syscall_ns(syscalls));
    one_core.push_back(several_cores ? per_round_trip_us(round_trips, true)
                                     : 0);
    any_core.push_back(per_round_trip_us(round_trips, false));
    cpu.push_back(work_ms(work));
  }
  if (median(one_core) < 0 || median(any_core) < 0) {
    std::fprintf(stderr, "ispflow-host-cost: the wake-up round trips failed "
                         "(pipes)\n");
    return 1;
  }
  std::printf("host_cost syscall_ns=%.0f wake_rt_one_core_us=%.1f "
              "wake_rt_any_core_us=%.1f work_ms=%.1f\n",
              median(sys), median(one_core), median(any_core), median(cpu));
  return 0;
}
