// ispflow-sim: contract-faithful simulators of the network systems, on
// loopback. `ispflow-sim <name> [options]` runs one simulator until SIGINT or
// SIGTERM; its first stdout line is `listening=127.0.0.1:<port>`.
// `ispflow-sim all` runs every simulator built into this program, each as a
// child process, and prints each child's lines prefixed by its name
// (`netbox listening=127.0.0.1:<port>`).

#include <CLI/CLI.hpp>

#ifdef ISPFLOW_SIM_HAVE_NAS
#  include "sim/nas/command.hpp"
#endif
#ifdef ISPFLOW_SIM_HAVE_NETBOX
#  include "sim/netbox/command.hpp"
#endif
#ifdef ISPFLOW_SIM_HAVE_GENIEACS
#  include "sim/genieacs/command.hpp"
#endif
#ifdef ISPFLOW_SIM_HAVE_AWX
#  include "sim/awx/command.hpp"
#endif
#ifdef ISPFLOW_SIM_HAVE_VOLTHA
#  include "sim/voltha/command.hpp"
#endif

#include <csignal>
#include <cstdio>
#include <iostream>
#include <poll.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace {

struct child {
  std::string name;
  pid_t pid = -1;
  int out = -1;
  std::string pending;
};

// Prints every complete line of `c`'s output, prefixed by its name. Returns
// false at end of file.
bool pump(child& c) {
  char buf[4096];
  auto n = ::read(c.out, buf, sizeof(buf));
  if (n <= 0)
    return false;
  c.pending.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = c.pending.find('\n')) != std::string::npos) {
    std::cout << c.name << ' ' << c.pending.substr(0, nl) << '\n';
    c.pending.erase(0, nl + 1);
  }
  std::cout.flush();
  return true;
}

// Runs `ispflow-sim <name> <args...>` for every simulator, forwarding the
// stop signals to them and their output to stdout.
int run_all(const std::vector<std::string>& names,
            const std::vector<std::string>& args) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::vector<child> children;
  int rc = 0;
  for (const auto& name : names) {
    int fds[2];
    if (::pipe(fds) != 0)
      return 1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    std::vector<std::string> argv_s{"ispflow-sim", name};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    child c;
    c.name = name;
    int err = posix_spawn(&c.pid, "/proc/self/exe", &actions, &attr,
                          argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    if (err != 0) {
      std::cerr << "ispflow-sim all: cannot start " << name << '\n';
      ::close(fds[0]);
      rc = 1;
      continue;
    }
    c.out = fds[0];
    children.push_back(std::move(c));
  }
  // A self-pipe turns the stop signals into a readable descriptor.
  int sigfds[2];
  if (::pipe(sigfds) != 0)
    return 1;
  std::thread waiter{[&] {
    int sig = 0;
    while (sigwait(&stop, &sig) != 0) {
      // nop: retry on spurious failure
    }
    char b = 1;
    [[maybe_unused]] auto n = ::write(sigfds[1], &b, 1);
  }};
  bool stopping = false;
  size_t open = children.size();
  while (open > 0) {
    std::vector<pollfd> fds;
    for (auto& c : children)
      fds.push_back(pollfd{c.out, POLLIN, 0});
    fds.push_back(pollfd{sigfds[0], POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0)
      continue;
    for (size_t i = 0; i < children.size(); ++i) {
      auto& c = children[i];
      if (c.out >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
          && !pump(c)) {
        ::close(c.out);
        c.out = -1;
        --open;
      }
    }
    if (!stopping && (fds.back().revents & POLLIN)) {
      stopping = true;
      for (auto& c : children)
        ::kill(c.pid, SIGTERM);
    }
    if (!stopping && open < children.size()) {
      // A simulator ended on its own: stop the others too.
      stopping = true;
      rc = 1;
      for (auto& c : children)
        ::kill(c.pid, SIGTERM);
    }
  }
  for (auto& c : children) {
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      rc = 1;
  }
  char b = 1;
  [[maybe_unused]] auto n = ::write(sigfds[1], &b, 1);
  ::kill(::getpid(), SIGTERM);
  waiter.join();
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ispflow-sim: contract-faithful simulators of the network "
               "systems, on loopback"};
  app.require_subcommand(1);
  std::vector<std::string> names;
#ifdef ISPFLOW_SIM_HAVE_NAS
  ispflow::sim::nas::add_command(app);
  names.emplace_back("nas");
#endif
#ifdef ISPFLOW_SIM_HAVE_NETBOX
  ispflow::sim::netbox::add_command(app);
  names.emplace_back("netbox");
#endif
#ifdef ISPFLOW_SIM_HAVE_GENIEACS
  ispflow::sim::genieacs::add_command(app);
  names.emplace_back("genieacs");
#endif
#ifdef ISPFLOW_SIM_HAVE_AWX
  ispflow::sim::awx::add_command(app);
  names.emplace_back("awx");
#endif
#ifdef ISPFLOW_SIM_HAVE_VOLTHA
  ispflow::sim::voltha::add_command(app);
  names.emplace_back("voltha");
#endif
  int all_rc = 0;
  auto* all = app.add_subcommand("all", "Run every simulator (ports are "
                                        "ephemeral; each one prints "
                                        "`<name> listening=...`)");
  all->callback([&] {
    all_rc = run_all(names, {});
    throw CLI::RuntimeError{all_rc};
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
