#include "apps/ispflowd/service_notify.hpp"

#include "actors/admin/store.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace ispflow::app {

namespace {

std::optional<int64_t> parse_number(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size())
    return std::nullopt;
  return v;
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

} // namespace

caf::expected<notify_target> notify_target_of(
  const std::function<std::optional<std::string>(const char*)>& getenv,
  long self) {
  notify_target out;
  auto socket = getenv("NOTIFY_SOCKET");
  if (!socket || socket->empty())
    return out;
  if (socket->front() != '/' && socket->front() != '@')
    return caf::make_error(errc::invalid_config,
                           "NOTIFY_SOCKET: expected an absolute path or "
                           "@name (an AF_UNIX socket)");
  if (socket->size() >= sizeof(sockaddr_un::sun_path))
    return caf::make_error(errc::invalid_config, "NOTIFY_SOCKET: too long");
  out.socket = *socket;
  auto usec = getenv("WATCHDOG_USEC");
  if (!usec || usec->empty())
    return out;
  auto n = parse_number(*usec);
  if (!n || *n <= 0)
    return caf::make_error(errc::invalid_config,
                           "WATCHDOG_USEC: expected a positive integer");
  // WATCHDOG_PID names the process the watchdog is meant for; a child that
  // inherited the variables must not answer for its parent.
  if (auto pid = getenv("WATCHDOG_PID"); pid && !pid->empty()) {
    auto p = parse_number(*pid);
    if (!p)
      return caf::make_error(errc::invalid_config,
                             "WATCHDOG_PID: expected a process id");
    if (*p != self)
      return out;
  }
  out.watchdog = std::chrono::microseconds{*n};
  return out;
}

caf::expected<void> notify(const std::string& socket, std::string_view state) {
  if (socket.empty() || (socket.front() != '/' && socket.front() != '@')
      || socket.size() >= sizeof(sockaddr_un::sun_path))
    return caf::make_error(errc::invalid_config, "NOTIFY_SOCKET: bad name");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket.data(), socket.size());
  // "@name" is the abstract namespace: a leading NUL, no terminator.
  if (addr.sun_path[0] == '@')
    addr.sun_path[0] = '\0';
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path)
                                    + socket.size()
                                    + (socket.front() == '/' ? 1 : 0));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return caf::make_error(errc::unspecified,
                           std::string{"notify: socket: "} + strerror(errno));
  auto sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&addr), len);
  int err = errno;
  ::close(fd);
  if (sent < 0 || static_cast<size_t>(sent) != state.size())
    return caf::make_error(errc::unspecified,
                           std::string{"notify: send: "} + strerror(err));
  return caf::unit;
}

std::vector<actors::admin::readiness_probe>
readiness_checks(const std::string& dsn,
                 std::vector<actors::admin::readiness_probe> probes) {
  // The very query /readyz runs (the admin server's store), on a connection
  // of its own.
  auto db = std::make_shared<actors::admin::detail::store>(dsn, 1);
  std::vector<actors::admin::readiness_probe> out;
  out.push_back({"database", [db] { return db->ping(); }});
  for (auto& p : probes)
    out.push_back(std::move(p));
  return out;
}

service_watch::service_watch(caf::actor_system& sys, notify_target target,
                             std::vector<actors::admin::readiness_probe> checks)
  : sys_(sys), target_(std::move(target)), checks_(std::move(checks)) {
  if (target_.socket.empty())
    return;
  // The watchdog's proof of life: a message through the scheduler and back.
  // The answer is passed as an argument: CAF 0.17 dereferences a null
  // argument tuple when an actor is spawned without any (UBSan reports it,
  // and a stripped binary cannot match the suppression, cmake/ubsan.supp).
  heartbeat_ = sys_.spawn(
    [](bool alive) -> caf::behavior {
      return {[alive](health_atom) { return alive; }};
    },
    true);
  thread_ = std::thread{[this] { run(); }};
}

service_watch::~service_watch() {
  stop();
}

void service_watch::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopped_)
      return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
  if (heartbeat_)
    caf::anon_send_exit(heartbeat_, caf::exit_reason::user_shutdown);
  if (!target_.socket.empty())
    if (auto res = notify(target_.socket, "STOPPING=1"); !res)
      common::log_warn("ispflowd", "service manager not told",
                       {{"error", render_error(res.error())}});
}

bool service_watch::pause(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> guard{mtx_};
  return !cv_.wait_for(guard, d, [this] { return stopping_; });
}

std::vector<std::string> service_watch::failing() {
  std::vector<std::string> out;
  for (auto& c : checks_) {
    bool ok = false;
    try {
      ok = static_cast<bool>(c.check());
    } catch (...) {
      ok = false;
    }
    if (!ok)
      out.push_back(c.name);
  }
  return out;
}

bool service_watch::alive(std::chrono::milliseconds timeout) {
  bool ok = false;
  caf::scoped_actor self{sys_};
  self->request(heartbeat_, timeout, health_atom_v)
    .receive([&](bool) { ok = true; }, [&](caf::error&) { ok = false; });
  return ok;
}

void service_watch::run() {
  using namespace std::chrono;
  auto send = [this](const std::string& state) {
    if (auto res = notify(target_.socket, state); !res)
      common::log_warn("ispflowd", "service manager not told",
                       {{"error", render_error(res.error())}});
  };
  auto interval = duration_cast<milliseconds>(target_.watchdog);
  // Until ready: the checks once a second (and the watchdog fed meanwhile,
  // so that a slow dependency does not get ispflowd killed while starting).
  auto step = milliseconds{1000};
  if (interval.count() > 0)
    step = std::min(step, std::max(interval / 2, milliseconds{1}));
  std::string last;
  for (;;) {
    if (interval.count() > 0 && alive(std::max(interval / 4, milliseconds{1})))
      send("WATCHDOG=1");
    auto bad = failing();
    if (bad.empty()) {
      send("READY=1\nSTATUS=ready");
      common::log_info("ispflowd", "ready", {});
      break;
    }
    if (auto why = join(bad); why != last) {
      send("STATUS=waiting for: " + why);
      common::log_info("ispflowd", "not ready", {{"failing", why}});
      last = why;
    }
    if (!pause(step))
      return;
  }
  if (interval.count() <= 0)
    return;
  for (;;) {
    if (!pause(interval / 2))
      return;
    if (alive(std::max(interval / 4, milliseconds{1})))
      send("WATCHDOG=1");
    else
      common::log_warn("ispflowd",
                       "actor system did not answer the "
                       "watchdog's heartbeat",
                       {});
  }
}

} // namespace ispflow::app
