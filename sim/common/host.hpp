#pragma once

#include "adapters/http/front.hpp"
#include "sim/common/call_log.hpp"
#include "sim/common/faults.hpp"

#include <atomic>
#include <caf/expected.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <httplib.h>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace ispflow::sim::common {

/// Callbacks through which a simulator plugs into an `http_host`.
struct host_hooks {
  /// Handles every request outside `/_sim/` (all methods).
  std::function<void(const httplib::Request&, httplib::Response&)> route;
  /// Body of `GET /_sim/state` (a JSON document).
  std::function<std::string()> state_json;
  /// Handles simulator-specific control requests under `/_sim/`; returns
  /// false when the path is not one of them (404).
  std::function<bool(const httplib::Request&, httplib::Response&)> control;
  /// Called with the JSON of `POST /_sim/faults` (and the start-up faults),
  /// so a simulator can read keys of its own.
  std::function<void(std::string_view)> extra_faults;
  /// Fills an injected error response (default: JSON `{"detail":...}`).
  std::function<void(int status, httplib::Response&)> fault_reply;
  /// Headers on every response (e.g. `GenieACS-Version`).
  httplib::Headers default_headers;
};

/// One request that carried a W3C `traceparent` header.
struct traced_request {
  std::string method;
  std::string path;
  std::string traceparent;
};

/// A cpp-httplib server on 127.0.0.1 with fault injection and the control
/// endpoints `POST|GET|DELETE /_sim/faults`, `GET /_sim/state`, and
/// `GET|DELETE /_sim/traces`: the `traceparent` headers of the last 1,000
/// requests outside `/_sim/` that had one, oldest first, as
/// `{"traces":[{"method":..,"path":..,"traceparent":..}]}` (what a test
/// checks trace propagation with); `GET|DELETE /_sim/calls`: every request
/// outside `/_sim/` with its arrival time and calling instance (the
/// `User-Agent` comment, see `call_log`), faulted ones included.
///
/// Responses that set `Response::reason` are written to the socket by the
/// host itself (httplib 0.11.4 always sends the standard reason phrase), with
/// `Connection: close`: this is how a custom HTTP/1.1 reason phrase reaches
/// the wire.
class http_host {
public:
  /// Creates a stopped host.
  explicit http_host(host_hooks hooks);

  ~http_host();

  http_host(const http_host&) = delete;
  http_host& operator=(const http_host&) = delete;

  /// Binds 127.0.0.1:`port` (0 = ephemeral) and serves on a thread of its
  /// own; returns the bound port.
  caf::expected<uint16_t> start(uint16_t port, fault_config faults);

  /// Stops serving and wakes every sleeping or hanging handler. Idempotent.
  void stop();

  /// The bound port, 0 before start.
  uint16_t port() const noexcept;

  /// Replaces the injected faults.
  void set_faults(fault_config cfg);

  /// The injected faults now in force.
  fault_config faults() const;

  /// The recorded `traceparent` headers, oldest first (see above).
  std::vector<traced_request> traces() const;

  /// Sleeps up to `d`; returns false when woken because the host stops.
  bool sleep_for(std::chrono::milliseconds d);

  /// Aborts the connection of `req` with a TCP reset, without an answer.
  /// Returns false when the socket could not be found.
  static bool reset_connection(const httplib::Request& req);

  /// Writes `res` to the connection of `req` with its own reason phrase and
  /// half-closes it. Returns false when the socket could not be found.
  static bool write_raw(const httplib::Request& req,
                        const httplib::Response& res);

private:
  enum class verdict { pass, handled, reset };

  bool matches(const httplib::Request& req, const fault_config& cfg) const;
  verdict pre_route(const httplib::Request& req, httplib::Response& res);
  void post_route(const httplib::Request& req, httplib::Response& res);
  void handle_control(const httplib::Request& req, httplib::Response& res);
  void consume_one();

  host_hooks hooks_;
  std::unique_ptr<adapters::http::router> server_;
  std::unique_ptr<adapters::http::front> front_;
  std::atomic<uint16_t> port_{0};
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  fault_config faults_;
  std::mt19937_64 rng_;
  std::deque<traced_request> traces_;
  call_log calls_;
};

/// Fills `res` with a JSON body and status.
void reply_json(httplib::Response& res, int status, std::string body);

/// The accept queue a simulator listens with.
constexpr int accept_backlog = 1024;

/// Requests a connection serves before a simulator closes it (nginx's
/// `keepalive_requests` default, in front of NetBox, AWX and GenieACS).
constexpr size_t keep_alive_requests = 1000;

/// A simulator's HTTP server, bound and serving.
struct served_http {
  std::unique_ptr<adapters::http::front> front;
  uint16_t port = 0;
};

/// Serves the routes of `routes` on `host:port` (0: a free port) as every
/// simulator does, through the connection front of adapters/http rather
/// than httplib's own accept loop. Debian's libcpp-httplib listens with a
/// backlog of 5 and closes a connection after 5 requests (both compiled
/// into the library), so that under load the accept queue overflowed and
/// every dropped SYN cost its client a one-second retransmission; and its
/// worker of an idle kept-alive connection wakes about 180 times a second
/// (a 10 ms select, then a 1 ms sleep), which with ispflowd's 16
/// connections per system cost the simulators more than the requests did.
/// The front listens with `accept_backlog`, serves `keep_alive_requests`
/// per connection, waits for the next one in poll(2) for up to 2 s, and
/// sets TCP_NODELAY (httplib writes headers and body in two send()s).
caf::expected<served_http> serve_http(adapters::http::router& routes,
                                      const std::string& host, uint16_t port);

} // namespace ispflow::sim::common
