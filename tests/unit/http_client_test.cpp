#include "adapters/http/client.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/http/trace.hpp"
#include "common/effect_gate.hpp"
#include "common/log.hpp"
#include "events/type_ids.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <gtest/gtest.h>
#include <httplib.h>
#include <mutex>
#include <netinet/in.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace ispflow;
using namespace ispflow::adapters::http;
using namespace std::chrono_literals;

// Our assigned port range is 21870-21879; nothing listens on this one.
constexpr int closed_port = 21879;

// A cpp-httplib server on an ephemeral loopback port with the routes the
// tests need. It records the client's source port of every request, so a
// test can count the TCP connections used.
class test_server {
public:
  test_server() {
    // httplib serves one connection per pool thread; the default pool (8)
    // would serialize the concurrency test (local-stack.md §6).
    svr_.new_task_queue = [] { return new httplib::ThreadPool(128); };
    // httplib closes a connection after 5 requests by default.
    svr_.set_keep_alive_max_count(1000);
    svr_.Get("/hello",
             [this](const httplib::Request& req, httplib::Response& res) {
               note(req);
               res.set_header("X-Test", "yes");
               res.set_content("hello", "text/plain");
             });
    svr_.Post("/devices/dev1/tasks",
              [this](const httplib::Request& req, httplib::Response& res) {
                note(req);
                res.status = 202;
                res.reason = "Task queued but not processed";
                res.set_content("ct=" + req.get_header_value("Content-Type")
                                  + ";body=" + req.body,
                                "application/json");
              });
    svr_.Post("/faulted",
              [this](const httplib::Request& req, httplib::Response& res) {
                note(req);
                res.status = 202;
                res.reason = "Task faulted";
              });
    svr_.Get("/user-agent", [this](const httplib::Request& req,
                                   httplib::Response& res) {
      note(req);
      res.set_content(req.get_header_value("User-Agent"), "text/plain");
    });
    svr_.Get("/missing",
             [this](const httplib::Request& req, httplib::Response& res) {
               note(req);
               res.status = 404;
               res.set_content("No such device", "text/plain");
             });
    auto echo = [this](const httplib::Request& req, httplib::Response& res) {
      note(req);
      res.set_content(req.method + " " + req.body
                        + " ct=" + req.get_header_value("Content-Type")
                        + " auth=" + req.get_header_value("Authorization"),
                      "text/plain");
    };
    svr_.Put("/echo", echo);
    svr_.Delete("/echo", echo);
    svr_.Patch("/echo", echo);
    svr_.Post("/echo", echo);
    svr_.Get("/echo", echo);
    svr_.Get("/trace",
             [this](const httplib::Request& req, httplib::Response& res) {
               note(req);
               res.set_content(" tp=" + req.get_header_value("traceparent"),
                               "text/plain");
             });
    svr_.Get("/hang",
             [this](const httplib::Request& req, httplib::Response& res) {
               note(req);
               std::unique_lock<std::mutex> lock{mtx_};
               cv_.wait_for(lock, 5s, [this] { return released_; });
               res.set_content("late", "text/plain");
             });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread{[this] { svr_.listen_after_bind(); }};
    while (!svr_.is_running())
      std::this_thread::sleep_for(1ms);
  }

  ~test_server() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      released_ = true;
    }
    cv_.notify_all();
    svr_.stop();
    thread_.join();
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  size_t connections() {
    std::lock_guard<std::mutex> guard{mtx_};
    return source_ports_.size();
  }

private:
  void note(const httplib::Request& req) {
    std::lock_guard<std::mutex> guard{mtx_};
    source_ports_.insert(req.remote_port);
  }

  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool released_ = false;
  std::set<int> source_ports_;
};

// A raw TCP server, one connection at a time: it reads each request (head
// and Content-Length body) and either answers with `canned` (keeping the
// connection open) or, if `canned` is empty, resets the connection
// (SO_LINGER 0), as a server that crashed after reading the request.
// With `answer_first_only`, it answers only the first request of each
// connection and closes the connection on reading the second, as a server
// that acted on a request and then went away (or closed an idle connection
// just as the request arrived). cpp-httplib 0.11 cannot send a custom
// reason phrase; this can.
class raw_server {
public:
  explicit raw_server(std::string canned = {}, bool answer_first_only = false)
    : canned_(std::move(canned)), answer_first_only_(answer_first_only) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread{[this] { serve(); }};
  }

  ~raw_server() {
    ::shutdown(fd_, SHUT_RDWR);
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (conn_ >= 0)
        ::shutdown(conn_, SHUT_RDWR);
    }
    thread_.join();
    ::close(fd_);
  }

  std::string url(const std::string& path = "/tasks") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  // The request lines read so far, e.g. "POST /tasks HTTP/1.1".
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> guard{mtx_};
    return requests_;
  }

private:
  void serve() {
    for (;;) {
      int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0)
        return;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        conn_ = conn;
      }
      serve_connection(conn);
      std::lock_guard<std::mutex> guard{mtx_};
      conn_ = -1;
    }
  }

  void serve_connection(int conn) {
    std::string buf;
    char chunk[4096];
    for (int served = 0;; ++served) {
      auto head_end = buf.find("\r\n\r\n");
      while (head_end == std::string::npos) {
        auto n = ::read(conn, chunk, sizeof chunk);
        if (n <= 0) {
          ::close(conn);
          return;
        }
        buf.append(chunk, static_cast<size_t>(n));
        head_end = buf.find("\r\n\r\n");
      }
      auto head = buf.substr(0, head_end);
      size_t body_len = 0;
      auto cl = head.find("Content-Length: ");
      if (cl != std::string::npos)
        body_len = std::stoul(head.substr(cl + 16));
      while (buf.size() < head_end + 4 + body_len) {
        auto n = ::read(conn, chunk, sizeof chunk);
        if (n <= 0)
          break;
        buf.append(chunk, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> guard{mtx_};
        requests_.push_back(head.substr(0, head.find("\r\n")));
      }
      buf.erase(0, std::min(buf.size(), head_end + 4 + body_len));
      if (answer_first_only_ && served > 0) {
        ::close(conn);
        return;
      }
      if (canned_.empty()) {
        linger lg{1, 0};
        ::setsockopt(conn, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(conn);
        return;
      }
      if (::write(conn, canned_.data(), canned_.size()) < 0) {
        ::close(conn);
        return;
      }
    }
  }

  std::string canned_;
  bool answer_first_only_ = false;
  int fd_ = -1;
  int conn_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mtx_;
  std::vector<std::string> requests_;
};

// A thread-per-connection server with a large listen backlog (cpp-httplib
// 0.11 listens with a backlog of 5, so a burst of 100 connects is retried
// by the kernel for seconds on a loaded machine). Each request waits until
// `target` requests are inside the server at the same time, then answers
// "together" (or "alone" after 25 s).
class gather_server {
public:
  explicit gather_server(int target) : target_(target) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 512);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread{[this] {
      for (;;) {
        int conn = ::accept(fd_, nullptr, nullptr);
        if (conn < 0)
          return;
        std::lock_guard<std::mutex> guard{mtx_};
        ++accepted_;
        workers_.emplace_back([this, conn] { serve(conn); });
      }
    }};
  }

  ~gather_server() {
    ::shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(fd_);
    for (auto& w : workers_)
      w.join();
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/gather";
  }

  int accepted() {
    std::lock_guard<std::mutex> guard{mtx_};
    return accepted_;
  }

private:
  void serve(int conn) {
    std::string head;
    char chunk[1024];
    while (head.find("\r\n\r\n") == std::string::npos) {
      auto n = ::read(conn, chunk, sizeof chunk);
      if (n <= 0) {
        ::close(conn);
        return;
      }
      head.append(chunk, static_cast<size_t>(n));
    }
    bool all = false;
    {
      std::unique_lock<std::mutex> lock{mtx_};
      ++inside_;
      cv_.notify_all();
      all = cv_.wait_for(lock, 25s, [this] { return inside_ >= target_; });
    }
    std::string body = all ? "together" : "alone";
    auto reply = "HTTP/1.1 200 OK\r\nContent-Length: "
                 + std::to_string(body.size()) + "\r\n\r\n" + body;
    if (::write(conn, reply.data(), reply.size()) < 0) {
      // the client gave up; nothing to do
    }
    // Keep the connection until the client closes it.
    while (::read(conn, chunk, sizeof chunk) > 0) {
      // drain
    }
    ::close(conn);
  }

  int target_;
  int fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mtx_;
  std::condition_variable cv_;
  int inside_ = 0;
  int accepted_ = 0;
  std::vector<std::thread> workers_;
};

std::unique_ptr<client> make_client(client_options opts = {}) {
  auto made = client::make(std::move(opts));
  EXPECT_TRUE(made.engaged());
  return std::move(*made);
}

response call(client& c, request req) {
  std::promise<response> p;
  auto f = p.get_future();
  c.submit(std::move(req), [&p](response res) { p.set_value(std::move(res)); });
  return f.get();
}

request get(std::string url) {
  request req;
  req.method = "GET";
  req.url = std::move(url);
  return req;
}

TEST(http_client, sends_a_child_span_of_the_request_traceparent) {
  test_server srv;
  auto c = make_client();
  std::string parent
    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto req = get(srv.url("/trace"));
  req.traceparent = parent;
  auto first = call(*c, req);
  auto second = call(*c, req);
  auto tp_of = [](const std::string& body) {
    auto at = body.find(" tp=");
    return at == std::string::npos ? std::string{} : body.substr(at + 4);
  };
  auto a = tp_of(first.body);
  auto b = tp_of(second.body);
  ASSERT_EQ(a.size(), parent.size()) << first.body;
  EXPECT_EQ(a.substr(0, 36), parent.substr(0, 36)); // version and trace id
  EXPECT_EQ(a.substr(52), parent.substr(52));       // flags
  EXPECT_NE(a.substr(36, 16), parent.substr(36, 16));
  EXPECT_NE(a, b); // a span per request
  // Without (or with a malformed) traceparent, no header.
  req.traceparent = "00-not-a-trace";
  EXPECT_EQ(tp_of(call(*c, req).body), "");
  req.traceparent.clear();
  EXPECT_EQ(tp_of(call(*c, req).body), "");
}

// Several instances call the same systems: each call names its instance in
// the User-Agent comment, so that the called system (and the simulators'
// call records) can tell them apart.
TEST(http_client, names_the_instance_in_its_user_agent) {
  test_server srv;
  common::set_log_instance("node-7");
  auto named = make_client();
  EXPECT_EQ(call(*named, get(srv.url("/user-agent"))).body,
            "ispflow/0.1 (node-7)");
  // What a comment cannot hold is replaced.
  common::set_log_instance("a(b)\\c");
  EXPECT_EQ(default_user_agent(), "ispflow/0.1 (a_b__c)");
  common::set_log_instance("");
  EXPECT_EQ(default_user_agent(), "ispflow/0.1");
  auto unnamed = make_client();
  EXPECT_EQ(call(*unnamed, get(srv.url("/user-agent"))).body, "ispflow/0.1");
}

// A process whose partition leases are not confirmed (paused past its
// lease, cut off from PostgreSQL) sends nothing, even for an operation
// that began before: the request fails as not sent.
TEST(http_client, sends_nothing_while_the_effect_gate_is_closed) {
  namespace gate = common::effect_gate;
  test_server srv;
  auto client = make_client();
  gate::renew(gate::clock::now() - 1ms);
  auto refused = call(*client, get(srv.url("/hello")));
  EXPECT_FALSE(refused.has_response());
  EXPECT_FALSE(refused.request_sent);
  EXPECT_EQ(refused.error_text, gate::closed_text);
  EXPECT_EQ(srv.connections(), 0u);
  gate::renew(gate::clock::now() + 1h);
  EXPECT_EQ(call(*client, get(srv.url("/hello"))).body, "hello");
  gate::hold(gate::clock::now() + 1h);
  EXPECT_FALSE(call(*client, get(srv.url("/hello"))).has_response());
  gate::disarm();
  EXPECT_EQ(call(*client, get(srv.url("/hello"))).body, "hello");
  EXPECT_EQ(srv.connections(), 1u);
}

// A request submitted while the gate was open but not yet sent when it
// closed (waiting for a connection, or a process paused in between) is
// not sent either: the gate is checked again right before sending.
TEST(http_client, a_queued_request_is_not_sent_once_the_gate_closed) {
  namespace gate = common::effect_gate;
  test_server srv;
  client_options opts;
  opts.max_connections_per_host = 1;
  auto client = make_client(opts);
  gate::renew(gate::clock::now() + 1h);
  std::promise<response> first;
  std::promise<response> second;
  client->submit(get(srv.url("/hang")),
                 [&](response res) { first.set_value(std::move(res)); });
  client->submit(get(srv.url("/hello")),
                 [&](response res) { second.set_value(std::move(res)); });
  // The first is on the server (which holds it), the second waits.
  while (srv.connections() == 0)
    std::this_thread::sleep_for(1ms);
  gate::renew(gate::clock::now() - 1ms);
  EXPECT_EQ(first.get_future().get().body, "late");
  auto refused = second.get_future().get();
  EXPECT_FALSE(refused.has_response());
  EXPECT_FALSE(refused.request_sent);
  EXPECT_EQ(refused.error_text, gate::closed_text);
  gate::disarm();
}

TEST(http_trace, validates_and_derives_traceparents) {
  std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  EXPECT_TRUE(valid_traceparent(tp));
  EXPECT_EQ(trace_id_of(tp), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_FALSE(valid_traceparent(
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent(
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  EXPECT_FALSE(valid_traceparent(
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent(
    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent(tp + "-extra"));
  EXPECT_EQ(trace_id_of("garbage"), "");
  auto child = child_traceparent(tp);
  EXPECT_TRUE(valid_traceparent(child));
  EXPECT_EQ(trace_id_of(child), trace_id_of(tp));
  EXPECT_EQ(child_traceparent("garbage"), "");
}

TEST(http_client, returns_status_reason_headers_and_body) {
  test_server srv;
  auto c = make_client();
  auto res = call(*c, get(srv.url("/hello")));
  EXPECT_EQ(res.error, transport_error::none) << res.error_text;
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.reason, "OK");
  EXPECT_EQ(res.body, "hello");
  EXPECT_TRUE(res.request_sent);
  EXPECT_TRUE(res.is_success());
  ASSERT_TRUE(res.header("x-test").has_value());
  EXPECT_EQ(*res.header("x-test"), "yes");
  EXPECT_EQ(*res.header("CONTENT-TYPE"), "text/plain");
  EXPECT_FALSE(res.header("X-Absent").has_value());
  EXPECT_GT(res.elapsed.count(), 0);
}

TEST(http_client, exposes_the_genieacs_reason_phrase_of_a_202_verbatim) {
  raw_server srv{"HTTP/1.1 202 Task queued but not processed\r\n"
                 "GenieACS-Version: 1.2.9\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: 13\r\n\r\n"
                 "{\"_id\":\"t-1\"}"};
  auto c = make_client();
  request req;
  req.method = "POST";
  req.url = srv.url("/devices/dev1/tasks?connection_request");
  req.headers = {{"Content-Type", "application/json"}};
  req.body = R"({"name":"reboot"})";
  auto res = call(*c, req);
  EXPECT_EQ(res.status, 202) << res;
  EXPECT_EQ(res.reason, "Task queued but not processed");
  EXPECT_EQ(res.body, R"({"_id":"t-1"})");
  EXPECT_EQ(*res.header("genieacs-version"), "1.2.9");
  // The same connection carries the next exchange (an idempotent one: a
  // POST always gets a connection of its own).
  request get;
  get.url = srv.url("/tasks/?query=%7B%7D");
  res = call(*c, get);
  EXPECT_EQ(res.reason, "Task queued but not processed");
  EXPECT_EQ(srv.requests().size(), 2u);
  EXPECT_EQ(srv.requests().front(),
            "POST /devices/dev1/tasks?connection_request HTTP/1.1");
}

TEST(http_client, passes_an_empty_or_odd_reason_phrase_through) {
  raw_server faulted{"HTTP/1.1 202 Task faulted\r\nContent-Length: 0\r\n\r\n"};
  auto c = make_client();
  auto res = call(*c, get(faulted.url()));
  EXPECT_EQ(res.status, 202);
  EXPECT_EQ(res.reason, "Task faulted");
  raw_server odd{"HTTP/1.1 202 Error: connect ECONNREFUSED 10.0.0.9:7547\r\n"
                 "Content-Length: 0\r\n\r\n"};
  res = call(*c, get(odd.url()));
  EXPECT_EQ(res.reason, "Error: connect ECONNREFUSED 10.0.0.9:7547");
  raw_server none{"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"};
  res = call(*c, get(none.url()));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.reason, "");
  EXPECT_EQ(res.body, "ok");
}

TEST(http_client, reads_the_status_of_a_cpp_httplib_202) {
  test_server srv;
  auto c = make_client();
  request req;
  req.method = "POST";
  req.url = srv.url("/devices/dev1/tasks");
  req.headers = {{"Content-Type", "application/json"}};
  req.body = R"({"name":"reboot"})";
  auto res = call(*c, req);
  EXPECT_EQ(res.status, 202);
  EXPECT_EQ(res.reason, "Accepted");
  EXPECT_EQ(res.body, R"(ct=application/json;body={"name":"reboot"})");
}

TEST(http_client, reports_an_error_status_as_a_response_not_a_failure) {
  test_server srv;
  auto c = make_client();
  auto res = call(*c, get(srv.url("/missing")));
  EXPECT_EQ(res.error, transport_error::none);
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.reason, "Not Found");
  EXPECT_EQ(res.body, "No such device");
  EXPECT_FALSE(res.is_success());
}

TEST(http_client, sends_each_method_with_its_body_and_headers) {
  test_server srv;
  auto c = make_client();
  for (std::string method : {"PUT", "PATCH", "DELETE", "POST"}) {
    request req;
    req.method = method;
    req.url = srv.url("/echo");
    req.headers = {{"Authorization", "Token abc"},
                   {"Content-Type", "application/json"}};
    req.body = "{\"m\":1}";
    auto res = call(*c, req);
    EXPECT_EQ(res.status, 200) << method;
    EXPECT_EQ(res.body,
              method + " {\"m\":1} ct=application/json auth=Token abc");
  }
}

TEST(http_client, adds_no_form_content_type_to_a_body_without_one) {
  test_server srv;
  auto c = make_client();
  request req;
  req.method = "POST";
  req.url = srv.url("/echo");
  req.body = "raw";
  auto res = call(*c, req);
  EXPECT_EQ(res.body, "POST raw ct= auth=");
  req.body.clear();
  res = call(*c, req);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "POST  ct= auth=");
}

TEST(http_client, times_out_a_hanging_request_after_sending_it) {
  test_server srv;
  auto c = make_client();
  auto req = get(srv.url("/hang"));
  req.timeout = 300ms;
  auto res = call(*c, req);
  EXPECT_EQ(res.error, transport_error::timed_out) << res.error_text;
  EXPECT_TRUE(res.request_sent);
  EXPECT_EQ(res.status, 0);
  EXPECT_FALSE(res.error_text.empty());
}

TEST(http_client, reports_a_refused_connection_as_nothing_sent) {
  auto c = make_client();
  request req;
  req.method = "POST";
  req.url = "http://127.0.0.1:" + std::to_string(closed_port) + "/tasks";
  req.body = "{}";
  auto res = call(*c, req);
  EXPECT_EQ(res.error, transport_error::connect_failed) << res.error_text;
  EXPECT_FALSE(res.request_sent);
  EXPECT_TRUE(safe_to_retry(req, res));
}

TEST(http_client, reports_a_reset_after_the_request_was_read_as_lost) {
  raw_server srv; // resets after reading the request
  auto c = make_client();
  request req;
  req.method = "POST";
  req.url = srv.url();
  req.body = "{\"x\":1}";
  auto res = call(*c, req);
  ASSERT_EQ(srv.requests().size(), 1u);
  EXPECT_EQ(srv.requests().front(), "POST /tasks HTTP/1.1");
  EXPECT_EQ(res.error, transport_error::connection_lost) << res.error_text;
  EXPECT_TRUE(res.request_sent);
  // A POST whose outcome is unknown must not be repeated blindly.
  EXPECT_FALSE(safe_to_retry(req, res));
  req.method = "PUT";
  EXPECT_TRUE(safe_to_retry(req, res));
}

// libcurl sends a request again, unasked, on a new connection when a
// reused one closes before any answer. For a GET that is what a caller
// wants; a POST the server may have acted on must not go out twice.
TEST(http_client, sends_a_post_once_when_its_reused_connection_dies) {
  raw_server srv{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true};
  auto c = make_client();
  EXPECT_EQ(call(*c, get(srv.url("/a"))).status, 200);
  // The second GET reuses the connection, which closes on it: libcurl
  // sends it again on a new connection, whose first request is answered.
  auto again = call(*c, get(srv.url("/b")));
  EXPECT_EQ(again.status, 200) << again;
  EXPECT_EQ(srv.requests(),
            (std::vector<std::string>{"GET /a HTTP/1.1", "GET /b HTTP/1.1",
                                      "GET /b HTTP/1.1"}));
  // The POST reuses that new connection, which closes on it too: sent once.
  request post;
  post.method = "POST";
  post.url = srv.url("/tasks");
  post.body = "{}";
  auto res = call(*c, post);
  EXPECT_EQ(res.error, transport_error::connection_lost) << res;
  EXPECT_TRUE(res.request_sent);
  EXPECT_FALSE(safe_to_retry(post, res));
  auto seen = srv.requests();
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "POST /tasks HTTP/1.1"), 1)
    << seen.size();
  // A POST on a new connection is answered.
  EXPECT_EQ(call(*c, post).status, 200);
}

TEST(http_client, reuses_one_connection_for_sequential_posts) {
  test_server srv;
  auto c = make_client();
  for (int i = 0; i < 20; ++i) {
    request req;
    req.method = "POST";
    req.url = srv.url("/echo");
    req.body = "{}";
    auto res = call(*c, req);
    ASSERT_EQ(res.status, 200) << res;
  }
  EXPECT_EQ(srv.connections(), 1u);
}

TEST(http_client, rejects_a_bad_url_without_sending) {
  auto c = make_client();
  auto res = call(*c, get("gopher://127.0.0.1/x"));
  EXPECT_EQ(res.error, transport_error::bad_url) << res.error_text;
  EXPECT_FALSE(res.request_sent);
  res = call(*c, get("http://[::1/x"));
  EXPECT_EQ(res.error, transport_error::bad_url) << res.error_text;
}

TEST(http_client, runs_a_hundred_requests_at_the_same_time) {
  constexpr int n = 100;
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<response> results;
  {
    gather_server srv{n};
    client_options opts;
    opts.max_connections_per_host = 0;
    opts.max_cached_connections = 128;
    auto c = make_client(opts);
    for (int i = 0; i < n; ++i) {
      request req;
      req.url = srv.url();
      req.timeout = 30s;
      c->submit(req, [&](response res) {
        std::lock_guard<std::mutex> guard{mtx};
        results.push_back(std::move(res));
        cv.notify_all();
      });
    }
    {
      std::unique_lock<std::mutex> lock{mtx};
      cv.wait(lock, [&] { return results.size() == n; });
    }
    EXPECT_EQ(srv.accepted(), n);
    EXPECT_EQ(c->in_flight(), 0u);
  }
  for (const auto& res : results) {
    EXPECT_EQ(res.status, 200) << res;
    // Every request was inside the server while the others were.
    EXPECT_EQ(res.body, "together");
  }
}

TEST(http_client, reuses_one_connection_for_sequential_requests) {
  test_server srv;
  auto c = make_client();
  for (int i = 0; i < 20; ++i) {
    auto res = call(*c, get(srv.url("/hello")));
    ASSERT_EQ(res.status, 200);
  }
  EXPECT_EQ(srv.connections(), 1u);
}

TEST(http_client, caps_connections_per_host_and_reuses_them) {
  test_server srv;
  client_options opts;
  opts.max_connections_per_host = 2;
  auto c = make_client(opts);
  std::vector<std::future<response>> futures;
  std::vector<std::shared_ptr<std::promise<response>>> promises;
  for (int i = 0; i < 30; ++i) {
    auto p = std::make_shared<std::promise<response>>();
    futures.push_back(p->get_future());
    c->submit(get(srv.url("/hello")),
              [p](response res) { p->set_value(std::move(res)); });
  }
  for (auto& f : futures)
    EXPECT_EQ(f.get().status, 200);
  EXPECT_LE(srv.connections(), 2u);
  EXPECT_GE(srv.connections(), 1u);
}

TEST(http_client, completes_pending_requests_with_an_error_at_shutdown) {
  test_server srv;
  auto c = make_client();
  std::promise<response> p;
  auto f = p.get_future();
  auto req = get(srv.url("/hang"));
  req.timeout = 10s;
  c->submit(req, [&p](response res) { p.set_value(std::move(res)); });
  // Wait until the request is on the wire.
  while (srv.connections() == 0)
    std::this_thread::sleep_for(1ms);
  c->shutdown();
  auto res = f.get();
  EXPECT_EQ(res.error, transport_error::other);
  EXPECT_EQ(res.error_text, "client shut down");
  EXPECT_TRUE(res.request_sent);
  // After shutdown, submit completes at once with the same error.
  auto late = call(*c, get(srv.url("/hello")));
  EXPECT_EQ(late.error, transport_error::other);
  EXPECT_FALSE(late.request_sent);
}

TEST(http_client, may_be_destroyed_from_its_own_completion) {
  test_server srv;
  auto c = make_client();
  std::promise<int> p;
  auto f = p.get_future();
  auto* raw = c.release();
  raw->submit(get(srv.url("/hello")), [raw, &p](response res) {
    delete raw;
    p.set_value(res.status);
  });
  EXPECT_EQ(f.get(), 200);
}

TEST(http_client, classifies_retry_safety) {
  response res;
  res.status = 503;
  request req;
  req.method = "GET";
  EXPECT_TRUE(safe_to_retry(req, res));
  req.method = "POST";
  res.request_sent = true;
  EXPECT_FALSE(safe_to_retry(req, res));
  res.status = 400;
  req.method = "GET";
  EXPECT_FALSE(safe_to_retry(req, res));
  EXPECT_TRUE(is_idempotent("delete"));
  EXPECT_FALSE(is_idempotent("PATCH"));
  EXPECT_EQ(to_string(transport_error::connection_lost), "connection_lost");
}

struct http_actor_test : ::testing::Test {
  static caf::actor_system_config& config(caf::actor_system_config& cfg) {
    cfg.add_message_types<caf::id_block::ispflow>();
    return cfg;
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{config(cfg)};
};

TEST_F(http_actor_test, answers_a_request_with_the_response) {
  raw_server srv{"HTTP/1.1 202 Task queued but not processed\r\n"
                 "Content-Length: 0\r\n\r\n"};
  auto http = spawn_http_actor(sys);
  caf::scoped_actor self{sys};
  request req;
  req.method = "POST";
  req.url = srv.url("/devices/dev1/tasks");
  req.body = "{}";
  req.headers = {{"Content-Type", "application/json"}};
  response got;
  self->request(http, caf::infinite, http_atom_v, req)
    .receive([&](response& res) { got = std::move(res); },
             [&](caf::error& err) { FAIL() << caf::to_string(err); });
  EXPECT_EQ(got.status, 202);
  EXPECT_EQ(got.reason, "Task queued but not processed");
  self->send_exit(http, caf::exit_reason::user_shutdown);
}

TEST_F(http_actor_test, serves_concurrent_requests_and_transport_errors) {
  gather_server srv{10};
  client_options opts;
  opts.max_connections_per_host = 0;
  auto http = spawn_http_actor(sys, opts);
  caf::scoped_actor self{sys};
  for (int i = 0; i < 10; ++i) {
    request req;
    req.url = srv.url();
    self->send(http, http_atom_v, req);
  }
  int together = 0;
  for (int i = 0; i < 10; ++i)
    self->receive([&](response& res) { together += res.body == "together"; });
  EXPECT_EQ(together, 10);
  response refused;
  self
    ->request(http, caf::infinite, http_atom_v,
              get("http://127.0.0.1:" + std::to_string(closed_port) + "/"))
    .receive([&](response& res) { refused = std::move(res); },
             [&](caf::error& err) { FAIL() << caf::to_string(err); });
  EXPECT_EQ(refused.error, transport_error::connect_failed);
  self->send_exit(http, caf::exit_reason::user_shutdown);
}

} // namespace

TEST(http_client, path_of_keeps_only_the_path_of_a_url) {
  using ispflow::adapters::http::path_of;
  EXPECT_EQ(
    path_of("http://nb:8000/api/ipam/ip-addresses/?cf_subscriber_id=s1"),
    "/api/ipam/ip-addresses/");
  EXPECT_EQ(path_of("https://acs.example"), "/");
  EXPECT_EQ(path_of("/tasks/abc?x=1"), "/tasks/abc");
}

// -- TLS verification ---------------------------------------------------------

namespace {

// An HTTPS server on loopback with a self-signed certificate for 127.0.0.1
// made by the openssl command for this test.
class tls_server {
public:
  tls_server() {
    dir_ = ::testing::TempDir() + "http-tls-" + std::to_string(::getpid());
    std::string mk = "mkdir -p '" + dir_
                     + "' && openssl req -x509 -newkey"
                       " rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
                       " -addext subjectAltName=IP:127.0.0.1 -keyout '"
                     + key() + "' -out '" + cert() + "' >/dev/null 2>&1";
    made_ = std::system(mk.c_str()) == 0;
    if (!made_)
      return;
    svr_ = std::make_unique<httplib::SSLServer>(cert().c_str(), key().c_str());
    svr_->Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello", "text/plain");
    });
    port_ = svr_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread{[this] { svr_->listen_after_bind(); }};
    while (!svr_->is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }

  ~tls_server() {
    if (svr_) {
      svr_->stop();
      thread_.join();
    }
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  bool made() const {
    return made_ && svr_ && svr_->is_valid() && port_ > 0;
  }

  std::string cert() const {
    return dir_ + "/cert.pem";
  }

  std::string key() const {
    return dir_ + "/key.pem";
  }

  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(port_) + path;
  }

private:
  std::string dir_;
  bool made_ = false;
  std::unique_ptr<httplib::SSLServer> svr_;
  int port_ = 0;
  std::thread thread_;
};

} // namespace

TEST(http_client, refuses_an_untrusted_certificate_by_default) {
  tls_server srv;
  ASSERT_TRUE(srv.made());
  auto c = make_client();
  auto res = call(*c, get(srv.url("/hello")));
  EXPECT_EQ(res.error, transport_error::tls_failed) << res.error_text;
  EXPECT_FALSE(res.request_sent);
}

TEST(http_client, trusts_an_origin_with_its_ca_file) {
  tls_server srv;
  ASSERT_TRUE(srv.made());
  client_options opts;
  opts.origins.push_back({origin_of(srv.url("/")), srv.cert(), false});
  auto c = make_client(opts);
  auto res = call(*c, get(srv.url("/hello")));
  EXPECT_EQ(res.error, transport_error::none) << res.error_text;
  EXPECT_EQ(res.body, "hello");
  // Another origin (same host, another port) does not inherit the trust.
  auto other = srv.url("/hello");
  auto colon = other.rfind(':');
  other = other.substr(0, colon + 1) + "1" + other.substr(colon + 1);
  client_options elsewhere;
  elsewhere.origins.push_back({origin_of(other), srv.cert(), false});
  auto c2 = make_client(elsewhere);
  res = call(*c2, get(srv.url("/hello")));
  EXPECT_EQ(res.error, transport_error::tls_failed) << res.error_text;
}

TEST(http_client, skips_verification_only_when_told_for_that_origin) {
  tls_server srv;
  ASSERT_TRUE(srv.made());
  client_options opts;
  opts.origins.push_back({origin_of(srv.url("/")), "", true});
  auto c = make_client(opts);
  auto res = call(*c, get(srv.url("/hello")));
  EXPECT_EQ(res.error, transport_error::none) << res.error_text;
  EXPECT_EQ(res.body, "hello");
}

TEST(http_client, origin_of_normalizes_scheme_host_and_port) {
  EXPECT_EQ(origin_of("https://NetBox.ISP/api/?q=1"), "https://netbox.isp:443");
  EXPECT_EQ(origin_of("http://u:p@acs:7557/devices"), "http://acs:7557");
  EXPECT_EQ(origin_of("http://[::1]/x"), "http://[::1]:80");
  EXPECT_EQ(origin_of("https://[::1]:8443"), "https://[::1]:8443");
  EXPECT_EQ(origin_of("/just/a/path"), "");
}
