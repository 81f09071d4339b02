#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// An asynchronous HTTP/1.1 client on libcurl's multi interface. One client
// owns one thread that drives every transfer; completions run on it. No
// libcurl type appears in this header.

namespace ispflow::adapters::http {

/// Header name and value pairs, in wire order.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// Why a request got no HTTP response. Stored and logged as text: never
/// rename one, only add.
enum class transport_error : uint8_t {
  /// An HTTP response arrived (whatever its status).
  none,
  /// No connection: DNS failure, connection refused, or the connect timeout
  /// passed. Nothing reached the server.
  connect_failed,
  /// The request timeout passed after the connection was made.
  timed_out,
  /// The connection broke (reset, closed) before the response was complete.
  connection_lost,
  /// TLS handshake or certificate verification failed.
  tls_failed,
  /// The URL could not be parsed or names an unsupported scheme.
  bad_url,
  /// Anything else (including "client shut down").
  other,
};

/// Stable lower-case name, e.g. "connect_failed".
std::string_view to_string(transport_error x) noexcept;

/// Prints `to_string(x)`.
std::ostream& operator<<(std::ostream& os, transport_error x);

/// One HTTP request. Plain data.
struct request {
  /// "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", ...
  std::string method = "GET";
  /// Absolute URL, e.g. "http://127.0.0.1:7557/devices/?query=%7B%7D".
  std::string url;
  /// Request headers, sent as given. The client adds none except
  /// `User-Agent` (from the options) and `traceparent` (see below), and it
  /// suppresses `Expect:`.
  header_list headers;
  /// Request body; sent for every method when not empty, and for POST, PUT
  /// and PATCH even when empty (Content-Length: 0).
  std::string body;
  /// The whole exchange, from submit to the last body byte (time spent
  /// waiting for a free connection included).
  std::chrono::milliseconds timeout{10'000};
  /// The TCP (and TLS) connect phase alone.
  std::chrono::milliseconds connect_timeout{3'000};
  /// W3C trace context of the work this request is part of (e.g. the saga's
  /// billing event). When valid, the client sends a `traceparent` header
  /// with the same trace id and a new span id for this request (see
  /// trace.hpp); when empty or invalid, none.
  std::string traceparent;
};

/// The answer to one request: an HTTP response (`error == none`) or a
/// transport failure.
struct response {
  /// HTTP status, e.g. 202; 0 when `error != none`.
  int status = 0;
  /// The HTTP/1.1 reason phrase, verbatim from the status line, e.g.
  /// "Task queued but not processed". Empty if the server sent none.
  std::string reason;
  /// Response headers in wire order (names as sent).
  header_list headers;
  /// The response body.
  std::string body;
  /// `none` when a complete HTTP response arrived.
  transport_error error = transport_error::none;
  /// libcurl's description of the failure; empty when `error == none`.
  std::string error_text;
  /// False only when we know nothing reached the server (connect refused,
  /// DNS failure, TLS handshake failure, bad URL): then even a
  /// non-idempotent POST is safe to retry. True whenever the server may
  /// have seen the request, e.g. a timeout or a reset after sending.
  bool request_sent = false;
  /// From submit to completion.
  std::chrono::microseconds elapsed{0};

  /// The first header named `name` (ASCII case-insensitive), or nothing.
  std::optional<std::string_view> header(std::string_view name) const;

  /// True if an HTTP response arrived (any status).
  bool has_response() const noexcept {
    return error == transport_error::none;
  }

  /// True if an HTTP response arrived with a 2xx status.
  bool is_success() const noexcept {
    return has_response() && status >= 200 && status < 300;
  }
};

/// Prints method-less summary: status and reason, or the transport error
/// (never headers or bodies, which may carry credentials).
std::ostream& operator<<(std::ostream& os, const response& x);

/// True for methods that RFC 9110 defines as idempotent (GET, HEAD, PUT,
/// DELETE, OPTIONS, TRACE).
bool is_idempotent(std::string_view method) noexcept;

/// The path of `url` without scheme, host and query ("/" when none): what
/// may be logged of a request (queries can carry subscriber data).
std::string path_of(std::string_view url);

/// True if a retry may help: a transport failure, or status 429, 502, 503
/// or 504.
bool is_transient(const response& x) noexcept;

/// True if repeating `req` after `res` is both useful and safe: the failure
/// is transient, and either the method is idempotent or nothing was sent.
bool safe_to_retry(const request& req, const response& res) noexcept;

/// "scheme://host:port" of `url`, lower-cased, with the scheme's default
/// port made explicit (80, 443); empty when `url` has no "scheme://host".
/// User info, path and query are dropped.
std::string origin_of(std::string_view url);

/// How the certificates of one origin's servers are checked, overriding
/// the client's defaults for it (e.g. a tenant's NetBox behind a private
/// CA).
struct origin_tls {
  /// `origin_of` the system's base URL, e.g. "https://netbox.isp:443".
  std::string origin;
  /// PEM bundle of CAs trusted for this origin; empty = the client's.
  std::string ca_file;
  /// No certificate or host name check for this origin. Say so in the log.
  bool insecure_skip_verify = false;
};

/// `User-Agent` of ispflow's calls: `ispflow/0.1`, followed by
/// ` (<instance id>)` once the process named its instance
/// (`common::set_log_instance`): a called system, and the simulators'
/// call records, can tell which instance of a cluster called.
std::string default_user_agent();

/// Settings of one client.
struct client_options {
  /// Concurrent connections to one host:port; further requests wait in
  /// libcurl's queue (their timeout still runs). 0 = unlimited.
  int32_t max_connections_per_host = 16;
  /// Size of the idle connection cache kept for reuse.
  int32_t max_cached_connections = 64;
  /// Verify the server certificate and host name (https). Keep it on.
  bool verify_tls = true;
  /// PEM bundle of trusted CAs; empty = the system default.
  std::string ca_file;
  /// Per-origin trust, matched by `origin_of(request.url)`; other origins
  /// use `verify_tls` and `ca_file`.
  std::vector<origin_tls> origins;
  /// Sent as `User-Agent`; empty = none.
  std::string user_agent = default_user_agent();
  /// A larger response body fails the request with `other`.
  std::size_t max_body_bytes = 16u * 1024u * 1024u;
};

/// Called once per request with its response, on the client's thread. Keep
/// it short (e.g. `caf::anon_send` the response to an actor).
using completion = std::function<void(response)>;

/// An asynchronous HTTP/1.1 client driven by its own thread.
///
/// Connections are reused across requests (keep-alive, per host:port).
/// Every request gets exactly one completion: its response, a transport
/// failure, or, at shutdown, `other` with "client shut down".
class client {
public:
  /// Starts a client and its thread.
  static caf::expected<std::unique_ptr<client>> make(client_options opts = {});

  /// Shuts down (see `shutdown`).
  ~client();

  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Queues `req`; `done` runs later on the client thread. Thread-safe.
  /// After `shutdown`, `done` runs at once on the calling thread with
  /// `other` / "client shut down".
  void submit(request req, completion done);

  /// Stops the thread: every queued or running request completes with
  /// `other` / "client shut down" (request_sent true for those already
  /// started). Idempotent; safe to call from a completion.
  void shutdown();

  /// Requests submitted and not yet completed.
  std::size_t in_flight() const noexcept;

  /// The options the client runs with.
  const client_options& options() const noexcept;

  struct impl;

private:
  explicit client(std::shared_ptr<impl> ptr);

  std::shared_ptr<impl> impl_;
};

} // namespace ispflow::adapters::http
