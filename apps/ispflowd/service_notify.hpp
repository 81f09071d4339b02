#pragma once

#include "actors/admin/control.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// The service manager's side of ispflowd (systemd `Type=notify`): the
// NOTIFY_SOCKET datagram protocol, written here in a few lines instead of
// linking libsystemd. See sd_notify(3) and systemd.service(5) `WatchdogSec=`.

namespace ispflow::app {

/// Where and how often to notify, as the service manager set it in the
/// environment.
struct notify_target {
  /// AF_UNIX datagram socket: an absolute path, or "@name" for the abstract
  /// namespace. Empty when no service manager listens.
  std::string socket;
  /// Expected interval of WATCHDOG=1 (`WATCHDOG_USEC`); zero = no watchdog.
  std::chrono::microseconds watchdog{0};
};

/// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID through `getenv`
/// (a watchdog meant for another pid than `self` is ignored). Fails with
/// `errc::invalid_config` naming the variable when one is malformed.
caf::expected<notify_target> notify_target_of(
  const std::function<std::optional<std::string>(const char*)>& getenv,
  long self);

/// Sends one datagram `state` (newline-separated KEY=VALUE assignments) to
/// `socket`. Fails with `errc::invalid_config` for a socket name that is
/// not a path, and `errc::unspecified` when the send fails.
caf::expected<void> notify(const std::string& socket, std::string_view state);

/// The checks of /readyz, in its order: "database" (`SELECT 1` on `dsn`)
/// and then `probes`.
std::vector<actors::admin::readiness_probe>
readiness_checks(const std::string& dsn,
                 std::vector<actors::admin::readiness_probe> probes);

/// Tells the service manager when ispflowd is ready and that it is alive:
/// READY=1 once every readiness check passes (the checks of /readyz), then
/// WATCHDOG=1 every half watchdog interval for as long as an actor of the
/// actor system answers within a quarter interval; STOPPING=1 on `stop`.
/// Runs on its own thread; does nothing without a NOTIFY_SOCKET.
class service_watch {
public:
  /// Starts watching. `checks` run on the watch's thread, `sys` must
  /// outlive the watch (or `stop` must run before it goes).
  service_watch(caf::actor_system& sys, notify_target target,
                std::vector<actors::admin::readiness_probe> checks);

  ~service_watch();

  service_watch(const service_watch&) = delete;
  service_watch& operator=(const service_watch&) = delete;

  /// Sends STOPPING=1 and joins the thread; idempotent.
  void stop();

private:
  void run();

  /// Names of the checks that fail now; empty = ready.
  std::vector<std::string> failing();

  /// Whether the heartbeat actor answered within `timeout`.
  bool alive(std::chrono::milliseconds timeout);

  /// Waits `d` unless stopped first; returns false once stopped.
  bool pause(std::chrono::milliseconds d);

  caf::actor_system& sys_;
  notify_target target_;
  std::vector<actors::admin::readiness_probe> checks_;
  caf::actor heartbeat_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

} // namespace ispflow::app
