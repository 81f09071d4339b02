// ispflowd's side of systemd's notification protocol: the environment it
// reads, the datagrams it sends, and when it sends READY=1 and WATCHDOG=1.

#include "apps/ispflowd/service_notify.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"

#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <gtest/gtest.h>
#include <map>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

using namespace ispflow;
using namespace std::chrono_literals;

namespace {

auto env_of(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    if (auto i = vars.find(name); i != vars.end())
      return i->second;
    return std::nullopt;
  };
}

/// A NOTIFY_SOCKET of our own: an AF_UNIX datagram socket bound to `name`
/// (a path, or "@name" for the abstract namespace).
class listener {
public:
  explicit listener(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name_.data(), name_.size());
    auto len = offsetof(sockaddr_un, sun_path) + name_.size();
    if (name_.front() == '@')
      addr.sun_path[0] = '\0';
    else
      len += 1;
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr),
                    static_cast<socklen_t>(len))
             == 0;
  }

  ~listener() {
    ::close(fd_);
    if (name_.front() == '/')
      ::unlink(name_.c_str());
  }

  bool bound() const {
    return bound_;
  }

  /// The next datagram; empty after `wait` without one.
  std::string next(std::chrono::seconds wait = std::chrono::seconds{30}) {
    timeval tv{static_cast<time_t>(wait.count()), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    auto n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string{buf, static_cast<size_t>(n)} : std::string{};
  }

private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

std::string temp_socket_path(const char* tag) {
  return (std::filesystem::temp_directory_path()
          / ("ispflow-notify-" + std::to_string(getpid()) + "-" + tag))
    .string();
}

caf::actor_system_config& real_config(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

} // namespace

TEST(notify_target, nothing_without_notify_socket) {
  auto t = app::notify_target_of(env_of({{"WATCHDOG_USEC", "1000"}}), 1);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->socket.empty());
  EXPECT_EQ(t->watchdog.count(), 0);
}

TEST(notify_target, reads_socket_and_watchdog_for_this_process) {
  auto t = app::notify_target_of(env_of({{"NOTIFY_SOCKET", "/run/x/notify"},
                                         {"WATCHDOG_USEC", "30000000"},
                                         {"WATCHDOG_PID", "42"}}),
                                 42);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->socket, "/run/x/notify");
  EXPECT_EQ(t->watchdog, std::chrono::seconds{30});
}

TEST(notify_target, ignores_a_watchdog_meant_for_another_process) {
  auto t = app::notify_target_of(env_of({{"NOTIFY_SOCKET", "@sd"},
                                         {"WATCHDOG_USEC", "30000000"},
                                         {"WATCHDOG_PID", "41"}}),
                                 42);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->socket, "@sd");
  EXPECT_EQ(t->watchdog.count(), 0);
}

TEST(notify_target, names_the_malformed_variable) {
  auto a = app::notify_target_of(env_of({{"NOTIFY_SOCKET", "relative"}}), 1);
  ASSERT_FALSE(a);
  EXPECT_NE(render_error(a.error()).find("NOTIFY_SOCKET"), std::string::npos);
  auto b = app::notify_target_of(
    env_of({{"NOTIFY_SOCKET", "/run/n"}, {"WATCHDOG_USEC", "soon"}}), 1);
  ASSERT_FALSE(b);
  EXPECT_NE(render_error(b.error()).find("WATCHDOG_USEC"), std::string::npos);
  auto c = app::notify_target_of(
    env_of({{"NOTIFY_SOCKET", "/" + std::string(200, 'x')}}), 1);
  ASSERT_FALSE(c);
}

TEST(notify, sends_one_datagram_to_a_path) {
  auto path = temp_socket_path("path");
  listener l{path};
  ASSERT_TRUE(l.bound());
  ASSERT_TRUE(app::notify(path, "READY=1\nSTATUS=ready"));
  EXPECT_EQ(l.next(), "READY=1\nSTATUS=ready");
}

TEST(notify, sends_to_the_abstract_namespace) {
  auto name = "@ispflow-notify-" + std::to_string(getpid());
  listener l{name};
  ASSERT_TRUE(l.bound());
  ASSERT_TRUE(app::notify(name, "WATCHDOG=1"));
  EXPECT_EQ(l.next(), "WATCHDOG=1");
}

TEST(notify, fails_when_nobody_listens) {
  EXPECT_FALSE(app::notify(temp_socket_path("absent"), "READY=1"));
}

TEST(service_watch, ready_only_once_every_check_passes_then_watchdog) {
  auto path = temp_socket_path("watch");
  listener l{path};
  ASSERT_TRUE(l.bound());
  caf::actor_system_config cfg;
  caf::actor_system sys{real_config(cfg)};
  auto bus_ok = std::make_shared<std::atomic<bool>>(false);
  std::vector<actors::admin::readiness_probe> checks;
  checks.push_back({"database", [] { return caf::expected<void>{}; }});
  checks.push_back({"bus", [bus_ok]() -> caf::expected<void> {
                      if (*bus_ok)
                        return {};
                      return caf::make_error(errc::kafka_error, "down");
                    }});
  app::notify_target target{path, std::chrono::seconds{2}};
  app::service_watch watch{sys, target, std::move(checks)};
  // While "bus" fails: status names it, and never READY=1.
  std::string msg;
  for (;;) {
    msg = l.next();
    ASSERT_FALSE(msg.empty()) << "no datagram within 30 s";
    ASSERT_EQ(msg.find("READY=1"), std::string::npos) << msg;
    if (msg.find("STATUS=") != std::string::npos)
      break;
  }
  EXPECT_EQ(msg, "STATUS=waiting for: bus");
  *bus_ok = true;
  bool ready = false;
  for (int i = 0; i < 100 && !ready; ++i) {
    msg = l.next();
    ASSERT_FALSE(msg.empty()) << "no READY=1 within 30 s";
    ready = msg.find("READY=1") != std::string::npos;
  }
  ASSERT_TRUE(ready);
  // The watchdog goes on while the actor system answers.
  EXPECT_EQ(l.next(), "WATCHDOG=1");
  watch.stop();
  msg = l.next();
  while (msg == "WATCHDOG=1")
    msg = l.next();
  EXPECT_EQ(msg, "STOPPING=1");
}

TEST(service_watch, silent_without_a_notify_socket) {
  caf::actor_system_config cfg;
  caf::actor_system sys{real_config(cfg)};
  std::atomic<int> calls{0};
  std::vector<actors::admin::readiness_probe> checks;
  checks.push_back({"database", [&] {
                      ++calls;
                      return caf::expected<void>{};
                    }});
  app::service_watch watch{sys, app::notify_target{}, std::move(checks)};
  watch.stop();
  EXPECT_EQ(calls.load(), 0);
}

TEST(service_watch, watchdog_stops_while_the_actor_system_is_stuck) {
  auto path = temp_socket_path("stuck");
  listener l{path};
  ASSERT_TRUE(l.bound());
  caf::actor_system_config cfg;
  real_config(cfg).set("scheduler.max-threads", int64_t{1});
  caf::actor_system sys{cfg};
  std::vector<actors::admin::readiness_probe> checks;
  checks.push_back({"database", [] { return caf::expected<void>{}; }});
  app::service_watch watch{
    sys, {path, std::chrono::milliseconds{400}}, std::move(checks)};
  auto msg = l.next();
  while (msg == "WATCHDOG=1")
    msg = l.next();
  ASSERT_EQ(msg, "READY=1\nSTATUS=ready");
  ASSERT_EQ(l.next(), "WATCHDOG=1");
  // The only scheduler thread blocked: the heartbeat cannot answer.
  std::promise<void> started;
  std::promise<void> release;
  auto released = release.get_future().share();
  sys.spawn([&started, released] {
    started.set_value();
    released.wait();
  });
  started.get_future().wait();
  // At most one ping that was answered before the block, then none.
  msg = l.next(std::chrono::seconds{3});
  if (msg == "WATCHDOG=1")
    msg = l.next(std::chrono::seconds{3});
  EXPECT_EQ(msg, "") << "watchdog fed while no actor could run";
  release.set_value();
  EXPECT_EQ(l.next(), "WATCHDOG=1");
  watch.stop();
}
