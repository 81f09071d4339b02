#include "sim/common/host.hpp"

#include "events/errc.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ispflow::sim::common {

namespace {

uint16_t port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

// httplib 0.11.4 gives handlers no access to the connection's socket, so it
// is found by its two port numbers among the process's descriptors.
int find_socket(const httplib::Request& req) {
  if (req.local_port <= 0 || req.remote_port <= 0)
    return -1;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr)
    return -1;
  int found = -1;
  while (auto* entry = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir))
      continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local),
                    &len)
          != 0
        || port_of(local) != req.local_port)
      continue;
    sockaddr_storage peer{};
    len = sizeof(peer);
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer),
                    &len)
          != 0
        || port_of(peer) != req.remote_port)
      continue;
    found = static_cast<int>(fd);
    break;
  }
  closedir(dir);
  return found;
}

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool is_control(const httplib::Request& req) {
  return req.path.rfind("/_sim/", 0) == 0;
}

} // namespace

void reply_json(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

http_host::http_host(host_hooks hooks) : hooks_(std::move(hooks)) {
  // nop
}

http_host::~http_host() {
  stop();
}

uint16_t http_host::port() const noexcept {
  return port_.load();
}

void http_host::set_faults(fault_config cfg) {
  std::lock_guard<std::mutex> guard{mtx_};
  rng_.seed(cfg.seed);
  faults_ = std::move(cfg);
}

fault_config http_host::faults() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return faults_;
}

bool http_host::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> guard{mtx_};
  return !cv_.wait_for(guard, d, [this] { return stopping_; });
}

bool http_host::reset_connection(const httplib::Request& req) {
  int fd = find_socket(req);
  if (fd < 0)
    return false;
  // connect(AF_UNSPEC) on a connected TCP socket aborts it with a RST and
  // leaves the descriptor open, so httplib still owns and closes it.
  sockaddr addr{};
  addr.sa_family = AF_UNSPEC;
  return ::connect(fd, &addr, sizeof(addr)) == 0;
}

bool http_host::write_raw(const httplib::Request& req,
                          const httplib::Response& res) {
  int fd = find_socket(req);
  if (fd < 0)
    return false;
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " + res.reason
                    + "\r\n";
  for (const auto& [key, value] : res.headers) {
    std::string lower = key;
    for (auto& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "content-length" || lower == "connection")
      continue;
    out += key + ": " + value + "\r\n";
  }
  out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  if (req.method != "HEAD")
    out += res.body;
  bool ok = send_all(fd, out);
  ::shutdown(fd, SHUT_WR);
  return ok;
}

bool http_host::matches(const httplib::Request& req,
                        const fault_config& cfg) const {
  if (is_control(req))
    return false;
  if (!cfg.path_prefix.empty() && req.path.rfind(cfg.path_prefix, 0) != 0)
    return false;
  return cfg.method.empty() || cfg.method == req.method;
}

void http_host::consume_one() {
  // Called with mtx_ held: a fault with a count clears itself when used up.
  if (faults_.count == 0)
    return;
  if (--faults_.count == 0)
    faults_ = fault_config{};
}

http_host::verdict http_host::pre_route(const httplib::Request& req,
                                        httplib::Response& res) {
  fault_config cfg;
  bool hit = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (faults_.empty() || !matches(req, faults_))
      return verdict::pass;
    cfg = faults_;
    bool failing = cfg.status != 0 || cfg.hang || cfg.reset
                   || cfg.error_rate > 0.0;
    if (failing) {
      hit = cfg.error_rate <= 0.0
            || std::uniform_real_distribution<double>{0.0, 1.0}(rng_)
                 < cfg.error_rate;
    }
    if (hit || (cfg.latency_ms > 0 && !cfg.apply_then_reset))
      consume_one();
  }
  if (cfg.latency_ms > 0
      && !sleep_for(std::chrono::milliseconds{cfg.latency_ms})) {
    reset_connection(req);
    return verdict::reset;
  }
  if (!hit)
    return verdict::pass;
  if (cfg.hang) {
    sleep_for(std::chrono::milliseconds{cfg.hang_ms});
    reset_connection(req);
    return verdict::reset;
  }
  if (cfg.reset) {
    reset_connection(req);
    return verdict::reset;
  }
  int status = cfg.status != 0 ? cfg.status : 503;
  if (hooks_.fault_reply)
    hooks_.fault_reply(status, res);
  else
    reply_json(res, status, R"({"detail":"Simulated fault."})");
  return verdict::handled;
}

void http_host::post_route(const httplib::Request& req,
                           httplib::Response& res) {
  bool drop = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (faults_.apply_then_reset && matches(req, faults_) && req.method != "GET"
        && req.method != "HEAD"
        && res.get_header_value("X-Sim-Fault") != "injected") {
      drop = true;
      consume_one();
    }
  }
  if (drop) {
    reset_connection(req);
    return;
  }
  if (!res.reason.empty())
    write_raw(req, res);
}

std::vector<traced_request> http_host::traces() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {traces_.begin(), traces_.end()};
}

void http_host::handle_control(const httplib::Request& req,
                               httplib::Response& res) {
  if (req.path == "/_sim/faults") {
    if (req.method == "GET") {
      reply_json(res, 200, to_json(faults()));
    } else if (req.method == "POST" || req.method == "PUT") {
      auto cfg = parse_faults(req.body);
      if (!cfg) {
        reply_json(res, 400, R"({"detail":"invalid faults document"})");
        return;
      }
      if (hooks_.extra_faults)
        hooks_.extra_faults(req.body);
      set_faults(*cfg);
      reply_json(res, 200, to_json(*cfg));
    } else if (req.method == "DELETE") {
      if (hooks_.extra_faults)
        hooks_.extra_faults("{}");
      set_faults(fault_config{});
      res.status = 204;
    } else {
      res.status = 405;
      res.set_header("Allow", "GET, POST, PUT, DELETE");
    }
    return;
  }
  if (req.path == "/_sim/traces") {
    if (req.method == "GET") {
      std::string body = R"({"traces":[)";
      bool first = true;
      for (auto& t : traces()) {
        if (!first)
          body += ',';
        first = false;
        body += R"({"method":")" + json_text(t.method) + R"(","path":")"
                + json_text(t.path) + R"(","traceparent":")"
                + json_text(t.traceparent) + "\"}";
      }
      body += "]}";
      reply_json(res, 200, std::move(body));
    } else if (req.method == "DELETE") {
      std::lock_guard<std::mutex> guard{mtx_};
      traces_.clear();
      res.status = 204;
    } else {
      res.status = 405;
      res.set_header("Allow", "GET, DELETE");
    }
    return;
  }
  if (req.path == "/_sim/calls") {
    calls_.serve(req, res);
    return;
  }
  if (req.path == "/_sim/state" && req.method == "GET") {
    reply_json(res, 200, hooks_.state_json ? hooks_.state_json() : "{}");
    return;
  }
  if (hooks_.control && hooks_.control(req, res))
    return;
  reply_json(res, 404, R"({"detail":"Unknown control path."})");
}

namespace {

// A fault answers before httplib reads the request's body, which then waits
// in the connection in front of the next request. Such an answer closes the
// connection, as nginx does when it answers early.
void close_if_body_unread(const httplib::Request& req, httplib::Response& res) {
  auto length = req.get_header_value("Content-Length");
  if ((length.empty() || length == "0") && !req.has_header("Transfer-Encoding"))
    return;
  res.set_header("Connection", "close");
  if (auto* conn = adapters::http::current_connection())
    conn->close_after_response();
}

} // namespace

caf::expected<uint16_t> http_host::start(uint16_t port, fault_config faults) {
  if (server_)
    return caf::make_error(errc::unspecified,
                           std::string{"simulator already started"});
  set_faults(std::move(faults));
  server_ = std::make_unique<adapters::http::router>();
  auto& svr = *server_;
  svr.set_default_headers(hooks_.default_headers);
  svr.set_pre_routing_handler(
    [this](const httplib::Request& req, httplib::Response& res) {
      if (!is_control(req))
        calls_.record(caller_of(req.get_header_value("User-Agent")), req.method,
                      req.path);
      auto v = pre_route(req, res);
      if (v != verdict::pass)
        close_if_body_unread(req, res);
      switch (v) {
        case verdict::pass:
          return httplib::Server::HandlerResponse::Unhandled;
        case verdict::handled:
          res.set_header("X-Sim-Fault", "injected");
          return httplib::Server::HandlerResponse::Handled;
        case verdict::reset:
        default:
          res.status = 500;
          return httplib::Server::HandlerResponse::Handled;
      }
    });
  svr.set_post_routing_handler(
    [this](const httplib::Request& req, httplib::Response& res) {
      post_route(req, res);
    });
  auto dispatch = [this](const httplib::Request& req, httplib::Response& res) {
    if (is_control(req)) {
      handle_control(req, res);
      return;
    }
    // W3C Trace Context:
    // https://www.w3.org/TR/trace-context/#traceparent-header
    if (req.has_header("traceparent")) {
      std::lock_guard<std::mutex> guard{mtx_};
      traces_.push_back(
        {req.method, req.path, req.get_header_value("traceparent")});
      if (traces_.size() > 1000)
        traces_.pop_front();
    }
    if (hooks_.route)
      hooks_.route(req, res);
    else
      reply_json(res, 404, R"({"detail":"Not found."})");
  };
  svr.Get(".*", dispatch);
  svr.Post(".*", dispatch);
  svr.Put(".*", dispatch);
  svr.Patch(".*", dispatch);
  svr.Delete(".*", dispatch);
  svr.Options(".*", dispatch);
  auto served = serve_http(svr, "127.0.0.1", port);
  if (!served) {
    server_.reset();
    return served.error();
  }
  front_ = std::move(served->front);
  port_ = served->port;
  return port_.load();
}

caf::expected<served_http> serve_http(adapters::http::router& routes,
                                      const std::string& host, uint16_t port) {
  adapters::http::front_limits lim;
  // Every client is on loopback: the per-client bound is the total.
  lim.max_connections = 128;
  lim.max_per_client = 128;
  lim.idle_timeout = std::chrono::seconds{2};
  lim.max_requests_per_connection = keep_alive_requests;
  lim.listen_backlog = accept_backlog;
  lim.thread_name = "sim.http";
  served_http out;
  out.front = std::make_unique<adapters::http::front>(routes, lim, nullptr,
                                                      nullptr);
  auto bound = out.front->bind(host, port, "port");
  if (!bound)
    return bound.error();
  out.port = *bound;
  out.front->start();
  return out;
}

void http_host::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  if (front_)
    front_->stop();
  front_.reset();
  server_.reset();
}

} // namespace ispflow::sim::common
