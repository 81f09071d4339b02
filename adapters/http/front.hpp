#pragma once

// A connection front for cpp-httplib servers: the admin server's, and the
// simulators'.
//
// cpp-httplib 0.11.4 (Debian's split build) parses and routes requests, but
// its own accept loop cannot refuse a client before a worker thread takes the
// connection, bounds each recv() but not a whole request (a client sending
// one header byte every few seconds holds a worker forever), and reads a
// body before any handler could look at the token. So the front owns the
// sockets: it accepts, counts connections per client address and in total
// (refusing the excess at once, without a worker), runs TLS, and gives
// httplib a Stream whose reads stop at a per-request deadline and header
// size. httplib's `process_request` (protected) does the HTTP.

#include <caf/expected.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <httplib.h>
#include <memory>
#include <openssl/ssl.h>
#include <string>

namespace ispflow::adapters::http {

/// Bounds of the connection front.
struct front_limits {
  /// Connections served at once (one worker thread each); more are refused.
  uint32_t max_connections = 32;
  /// Connections one client address may hold at once; more are refused.
  uint32_t max_per_client = 8;
  /// From the first byte of a request (or the TLS handshake) to the end of
  /// its headers.
  std::chrono::milliseconds header_timeout{10'000};
  /// For the whole body, once the headers were accepted.
  std::chrono::milliseconds body_timeout{30'000};
  /// How long an idle keep-alive connection is kept.
  std::chrono::milliseconds idle_timeout{5'000};
  /// For each write of the response.
  std::chrono::milliseconds write_timeout{10'000};
  /// Request line and headers, in bytes.
  size_t max_header_bytes = 64 * 1024;
  /// Requests served on one connection before it is closed.
  uint32_t max_requests_per_connection = 100;
  /// The listen queue of the bound socket.
  int listen_backlog = 128;
  /// Name of the accepting thread (at most 15 characters).
  std::string thread_name = "isp.http.front";
};

/// httplib's router with its request processing opened to the front.
class router : public httplib::Server {
public:
  /// Reads, routes and answers one request from `strm`.
  bool serve(httplib::Stream& strm, bool close_connection,
             bool& connection_closed) {
    return process_request(strm, close_connection, connection_closed,
                           [](httplib::Request&) {});
  }
};

/// What handlers may tell the front about the connection they run on. Only
/// valid on a front worker thread.
struct connection_control {
  /// The request was refused before its body was read: answer, then close.
  virtual void close_after_response() = 0;
  /// The headers were accepted: the body may take `body_timeout` from now.
  virtual void begin_body() = 0;

protected:
  ~connection_control() = default;
};

/// The connection the calling thread serves, or null.
connection_control* current_connection() noexcept;

/// Why the front turned a connection away, for metrics.
enum class refusal { per_client, total, tls };

/// Accepts, bounds and serves the connections of one listen address.
class front {
public:
  /// `tls` (may be null) is up-referenced and used for every connection.
  front(router& r, front_limits limits, SSL_CTX* tls,
        std::function<void(refusal)> on_refused);

  ~front();

  front(const front&) = delete;
  front& operator=(const front&) = delete;

  /// Binds `address:port` (port 0 picks one); returns the bound port.
  /// Fails with `errc::invalid_config` naming `key`.
  caf::expected<uint16_t> bind(const std::string& address, uint16_t port,
                               const std::string& key);

  /// Serves on background threads.
  void start();

  /// Stops accepting, cuts open connections and joins every thread;
  /// idempotent.
  void stop();

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

/// A TLS server context from PEM files (TLS 1.2 or newer); errors name
/// `key_prefix` + ".cert_file" / ".key_file".
caf::expected<SSL_CTX*> make_tls_context(const std::string& cert_file,
                                         const std::string& key_file,
                                         const std::string& key_prefix);

/// Releases a context of `make_tls_context`.
void free_tls_context(SSL_CTX* ctx) noexcept;

} // namespace ispflow::adapters::http
