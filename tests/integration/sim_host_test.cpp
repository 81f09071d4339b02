#include "sim/common/host.hpp"
#include "tests/support/sockets.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <thread>

namespace {

using namespace ispflow::sim::common;

// The server side of the request's connection, found among this process's
// sockets by its two port numbers; -1 when not found.
int server_socket(const httplib::Request& req) {
  for (auto& x : ispflow::testing::tcp_sockets())
    if (x.local_port == req.local_port && x.peer_port == req.remote_port)
      return x.fd;
  return -1;
}

// Answers with the TCP_NODELAY option of the connection it came on.
host_hooks nodelay_reporter() {
  host_hooks hooks;
  hooks.route = [](const httplib::Request& req, httplib::Response& res) {
    int fd = server_socket(req);
    int on = -1;
    socklen_t len = sizeof(on);
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) != 0)
      on = -1;
    res.set_content("nodelay=" + std::to_string(on), "text/plain");
  };
  return hooks;
}

// A response's headers and body go out in two writes: without TCP_NODELAY
// the body of every answer on a reused connection waits for the client's
// delayed ACK (~40 ms). Every request of a keep-alive connection is served
// on a socket with Nagle's algorithm off.
TEST(SimHost, AcceptedConnectionsHaveNagleOff) {
  http_host host{nodelay_reporter()};
  auto port = host.start(0, fault_config{});
  ASSERT_TRUE(port) << to_string(port.error());
  httplib::Client cli{"127.0.0.1", *port};
  cli.set_keep_alive(true);
  for (int i = 0; i < 3; ++i) {
    auto res = cli.Get("/anything");
    ASSERT_TRUE(res) << "request " << i;
    EXPECT_EQ(res->status, 200);
    EXPECT_NE(res->body, "nodelay=0") << "request " << i;
    EXPECT_NE(res->body, "nodelay=-1") << "socket not found, request " << i;
  }
  host.stop();
}

// Answers with the client port of the connection it came on.
host_hooks port_reporter() {
  host_hooks hooks;
  hooks.route = [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(std::to_string(req.remote_port), "text/plain");
  };
  return hooks;
}

// Debian's httplib closes a connection after 5 requests: under load the
// clients then open connection after connection. A simulator's connection
// serves as many as nginx's default (1,000) in front of the real systems.
TEST(SimHost, OneConnectionServesManyRequests) {
  http_host host{port_reporter()};
  auto port = host.start(0, fault_config{});
  ASSERT_TRUE(port) << to_string(port.error());
  httplib::Client cli{"127.0.0.1", *port};
  cli.set_keep_alive(true);
  std::string first;
  for (int i = 0; i < 50; ++i) {
    auto res = cli.Get("/anything");
    ASSERT_TRUE(res) << "request " << i;
    if (i == 0)
      first = res->body;
    EXPECT_EQ(res->body, first) << "a new connection for request " << i;
  }
  host.stop();
}

// Voluntary context switches of all of this process's threads so far.
long voluntary_switches() {
  long sum = 0;
  std::error_code ec;
  for (auto& task :
       std::filesystem::directory_iterator{"/proc/self/task", ec}) {
    std::ifstream in{task.path() / "status"};
    std::string line;
    while (std::getline(in, line))
      if (line.starts_with("voluntary_ctxt_switches:"))
        sum += std::stol(line.substr(line.find(':') + 1));
  }
  return sum;
}

// httplib's own server loop wakes the worker of an idle kept-alive
// connection about 180 times a second (a 10 ms select, then a 1 ms sleep):
// with a client's 16 connections per system that cost the simulators more
// than the requests did. Their front waits in poll(2) for the next request.
TEST(SimHost, AnIdleKeptAliveConnectionCostsNoWakeUps) {
  http_host host{port_reporter()};
  auto port = host.start(0, fault_config{});
  ASSERT_TRUE(port) << to_string(port.error());
  httplib::Client cli{"127.0.0.1", *port};
  cli.set_keep_alive(true);
  auto first = cli.Get("/anything");
  ASSERT_TRUE(first);
  auto before = voluntary_switches();
  std::this_thread::sleep_for(std::chrono::milliseconds{500});
  auto after = voluntary_switches();
  // This thread's own sleep, and little else.
  EXPECT_LT(after - before, 20);
  // The connection was kept: the next request comes on it.
  auto next = cli.Get("/anything");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, first->body);
  host.stop();
}

// The accept queue (what `ss -ltn` shows as Send-Q of a listening socket)
// is accept_backlog, not httplib's 5: a burst of connects that overflowed
// it had its dropped SYNs retransmitted a second later.
TEST(SimHost, ListensWithADeepAcceptQueue) {
  http_host host{port_reporter()};
  auto port = host.start(0, fault_config{});
  ASSERT_TRUE(port) << to_string(port.error());
  auto cmd = "ss -Hltn 'sport = :" + std::to_string(*port) + "' 2>&1";
  std::string out;
  if (auto* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (auto n = std::fread(buf, 1, sizeof(buf), p))
      out.append(buf, n);
    ::pclose(p);
  }
  // State, Recv-Q, Send-Q (the backlog), local address, peer address.
  char state[32] = {};
  long recv_q = -1;
  long backlog = -1;
  ASSERT_EQ(std::sscanf(out.c_str(), "%31s %ld %ld", state, &recv_q, &backlog),
            3)
    << out;
  EXPECT_STREQ(state, "LISTEN");
  long somaxconn = accept_backlog;
  if (auto* f = std::fopen("/proc/sys/net/core/somaxconn", "r")) {
    if (std::fscanf(f, "%ld", &somaxconn) != 1)
      somaxconn = accept_backlog;
    std::fclose(f);
  }
  EXPECT_EQ(backlog, std::min<long>(accept_backlog, somaxconn)) << out;
  EXPECT_GT(backlog, 5) << out;
  host.stop();
}

// Each call is recorded with its time and the calling instance (the
// User-Agent's comment, "ispflow/0.1 (node-7)"): GET /_sim/calls filters
// them by caller and time and sums them up per caller.
TEST(SimHost, RecordsTheCallerAndTimeOfEveryCall) {
  host_hooks hooks;
  hooks.route = [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  };
  http_host host{hooks};
  auto port = host.start(0, fault_config{});
  ASSERT_TRUE(port) << to_string(port.error());
  httplib::Client cli{"127.0.0.1", *port};
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  ASSERT_TRUE(cli.Get("/a", {{"User-Agent", "ispflow/0.1 (node-7)"}}));
  ASSERT_TRUE(cli.Post("/b", {{"User-Agent", "ispflow/0.1 (node-8)"}}, "",
                       "application/json"));
  ASSERT_TRUE(cli.Get("/c", {{"User-Agent", "curl/8.0"}}));
  auto all = cli.Get("/_sim/calls");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->status, 200);
  EXPECT_NE(all->body.find(R"("node-7":{"calls":1,"first_ms":)"),
            std::string::npos)
    << all->body;
  EXPECT_NE(all->body.find(R"("node-8":{"calls":1,)"), std::string::npos);
  EXPECT_NE(all->body.find(R"("":{"calls":1,)"), std::string::npos);
  EXPECT_NE(all->body.find(R"("matched":3,)"), std::string::npos);
  auto mine
    = cli.Get("/_sim/calls?caller=node-7&from_ms=" + std::to_string(before));
  ASSERT_TRUE(mine);
  EXPECT_NE(mine->body.find(R"("matched":1,)"), std::string::npos)
    << mine->body;
  EXPECT_NE(mine->body.find(R"("caller":"node-7","method":"GET","path":"/a")"),
            std::string::npos);
  auto earlier
    = cli.Get("/_sim/calls?caller=node-7&to_ms=" + std::to_string(before - 1));
  ASSERT_TRUE(earlier);
  EXPECT_NE(earlier->body.find(R"("matched":0,)"), std::string::npos)
    << earlier->body;
  ASSERT_TRUE(cli.Delete("/_sim/calls"));
  auto none = cli.Get("/_sim/calls");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->body, R"({"callers":{},"matched":0,"calls":[]})");
  host.stop();
}

TEST(SimHost, CallerIsTheLastUserAgentComment) {
  EXPECT_EQ(caller_of("ispflow/0.1 (node-1)"), "node-1");
  EXPECT_EQ(caller_of("x/1 (a) y/2 (b)"), "b");
  EXPECT_EQ(caller_of("curl/8.0"), "");
  EXPECT_EQ(caller_of(""), "");
}

} // namespace
