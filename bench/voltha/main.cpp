// ispflow-voltha-bench: GetDevice calls of the VOLTHA adapter's gRPC client
// (device_client) against the VOLTHA simulator, which runs in a child
// process so that the measuring process's CPU is the client's alone. Rounds
// alternate abseil's deadlock detection off (as device_client::make leaves
// it) and on (the default of Debian's abseil, built without NDEBUG), each in
// a process of its own (the mode is only safe to choose before gRPC starts);
// each prints calls/s, the client's CPU per call and the latency.
//   ispflow-voltha-bench [--threads 4] [--calls 20000] [--rounds 6]

#include "adapters/voltha/device_client.hpp"
#include "adapters/voltha/grpc_runtime.hpp"
#include "sim/voltha/server.hpp"

#include <CLI/CLI.hpp>
#include <absl/synchronization/mutex.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <spawn.h>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace ispflow::adapters::voltha;
using steady = std::chrono::steady_clock;

// Runs the simulator until `stop_fd` reaches end of file (the parent ended
// or closed it); reports its gRPC port on `port_fd` (0: it did not start).
[[noreturn]] void run_simulator(int port_fd, int stop_fd, int onus) {
  ispflow::sim::voltha::options opts;
  opts.onus_per_olt = onus;
  opts.transition_delay = std::chrono::milliseconds{0};
  auto sim = ispflow::sim::voltha::server::start(opts);
  uint16_t port = sim ? (*sim)->grpc_port() : 0;
  if (write(port_fd, &port, sizeof port) != sizeof port || port == 0)
    _exit(1);
  char byte;
  while (read(stop_fd, &byte, 1) > 0) {
    // nop: only the end of file matters
  }
  (*sim)->stop();
  _exit(0);
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec)
           + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

struct round_result {
  double calls_per_second = 0;
  double cpu_us_per_call = 0;
  double p50_us = 0;
  double p99_us = 0;
  int failed = 0;
};

round_result run_round(device_client& dc, const std::vector<std::string>& ids,
                       int threads, int calls) {
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  std::vector<std::vector<double>> micros(static_cast<size_t>(threads));
  auto cpu0 = cpu_seconds();
  auto t0 = steady::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      auto& mine = micros[static_cast<size_t>(t)];
      for (int i = next++; i < calls; i = next++) {
        auto start = steady::now();
        auto got = dc.get_device(ids[static_cast<size_t>(i) % ids.size()],
                                 std::chrono::milliseconds{5000});
        mine.push_back(
          std::chrono::duration<double, std::micro>(steady::now() - start)
            .count());
        if (!got.status.ok())
          ++failed;
      }
    });
  for (auto& th : pool)
    th.join();
  auto wall = std::chrono::duration<double>(steady::now() - t0).count();
  auto cpu = cpu_seconds() - cpu0;
  std::vector<double> all;
  for (auto& m : micros)
    all.insert(all.end(), m.begin(), m.end());
  std::sort(all.begin(), all.end());
  auto at = [&](double p) {
    return all.empty() ? 0.0
                       : all[static_cast<size_t>(
                         p * static_cast<double>(all.size() - 1))];
  };
  round_result res;
  res.calls_per_second = calls / wall;
  res.cpu_us_per_call = cpu * 1e6 / calls;
  res.p50_us = at(0.50);
  res.p99_us = at(0.99);
  res.failed = failed.load();
  return res;
}

// One round in this process: the simulator in a child, then the client.
int measure(int threads, int calls, int onus, bool detection) {
  int port_pipe[2];
  int stop_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0) {
    std::perror("pipe");
    return 1;
  }
  // The child starts before this process has any thread.
  auto child = fork();
  if (child < 0) {
    std::perror("fork");
    return 1;
  }
  if (child == 0) {
    close(port_pipe[0]);
    close(stop_pipe[1]);
    run_simulator(port_pipe[1], stop_pipe[0], onus);
  }
  close(port_pipe[1]);
  close(stop_pipe[0]);
  uint16_t port = 0;
  if (read(port_pipe[0], &port, sizeof port) != sizeof port || port == 0) {
    std::fprintf(stderr, "voltha-bench: the simulator did not start\n");
    return 1;
  }
  // Before gRPC's first thread: the client's own set-up first, so that
  // making the client does not undo the mode chosen here.
  prepare_grpc_runtime();
  absl::SetMutexDeadlockDetectionMode(
    detection ? absl::OnDeadlockCycle::kAbort : absl::OnDeadlockCycle::kIgnore);
  auto made = device_client::make("127.0.0.1:" + std::to_string(port), {});
  if (!made) {
    std::fprintf(stderr, "voltha-bench: no client\n");
    return 1;
  }
  auto& dc = **made;
  std::vector<std::string> ids;
  for (int tries = 0; tries < 100 && ids.empty(); ++tries) {
    auto all = dc.list_devices(std::chrono::milliseconds{5000});
    for (auto& d : all.value)
      if (!d.root)
        ids.push_back(d.id);
    if (ids.empty())
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  if (ids.empty()) {
    std::fprintf(stderr, "voltha-bench: the simulator lists no ONU\n");
    return 1;
  }
  run_round(dc, ids, threads, std::max(calls / 10, 100)); // warm-up
  auto res = run_round(dc, ids, threads, calls);
  std::printf("abseil_deadlock_detection=%s calls_per_second=%.0f "
              "cpu_us_per_call=%.1f p50_us=%.0f p99_us=%.0f failed=%d\n",
              detection ? "on " : "off", res.calls_per_second,
              res.cpu_us_per_call, res.p50_us, res.p99_us, res.failed);
  std::fflush(stdout);
  close(stop_pipe[1]);
  int status = 0;
  waitpid(child, &status, 0);
  return res.failed == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"GetDevice calls of the VOLTHA client against the simulator"};
  int threads = 4;
  int calls = 20000;
  int rounds = 6;
  int onus = 64;
  std::string detection;
  app.add_option("--threads", threads, "calling threads")
    ->check(CLI::Range(1, 256));
  app.add_option("--calls", calls, "calls per round")
    ->check(CLI::Range(100, 10000000));
  app.add_option("--rounds", rounds, "rounds, alternating detection off/on")
    ->check(CLI::Range(1, 1000));
  app.add_option("--onus", onus, "ONUs in the simulator")
    ->check(CLI::Range(1, 4096));
  app.add_option("--detection", detection, "one round in this process")
    ->check(CLI::IsMember({"on", "off"}));
  CLI11_PARSE(app, argc, argv);
  if (!detection.empty())
    return measure(threads, calls, onus, detection == "on");
  std::printf("# voltha-bench: %d threads, %d GetDevice calls per round, "
              "%d ONUs, %u cores\n",
              threads, calls, onus, std::thread::hardware_concurrency());
  std::fflush(stdout);
  int failed = 0;
  for (int r = 0; r < rounds; ++r) {
    auto t = std::to_string(threads);
    auto c = std::to_string(calls);
    auto o = std::to_string(onus);
    std::string mode = r % 2 == 0 ? "off" : "on";
    std::vector<char*> args{argv[0],     const_cast<char*>("--threads"),
                            t.data(),    const_cast<char*>("--calls"),
                            c.data(),    const_cast<char*>("--onus"),
                            o.data(),    const_cast<char*>("--detection"),
                            mode.data(), nullptr};
    pid_t pid = 0;
    // posix_spawn returns its error; it does not set errno.
    if (auto rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr,
                              args.data(), environ);
        rc != 0) {
      std::fprintf(stderr, "voltha-bench: cannot start a round: %s\n",
                   std::strerror(rc));
      return 1;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      ++failed;
  }
  return failed == 0 ? 0 : 1;
}
