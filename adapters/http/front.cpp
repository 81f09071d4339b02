#include "adapters/http/front.hpp"

#include "common/thread_name.hpp"
#include "common/wait.hpp"
#include "events/errc.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <set>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace ispflow::adapters::http {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

thread_local connection_control* current = nullptr;

using common::millis_until;

// Waits until `fd` is ready for `events` or `deadline` passes.
bool wait_for(int fd, short events, clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, millis_until(deadline));
    if (rc > 0)
      return true;
    if (rc == 0 || errno != EINTR)
      return false;
  }
}

std::string address_of(const sockaddr_storage& ss, int* port) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof(host));
    *port = ntohs(a.sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof(host));
    *port = ntohs(a.sin6_port);
  }
  std::string out = host;
  // An IPv4 client of a dual-stack socket counts as that IPv4 address.
  if (out.starts_with("::ffff:") && out.find('.') != std::string::npos)
    out = out.substr(7);
  return out;
}

// A refused plain-text connection gets this much of an answer; the write is
// non-blocking and best effort.
constexpr std::string_view refused_answer
  = "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Connection: close\r\n"
    "Retry-After: 1\r\n"
    "Content-Length: 79\r\n\r\n"
    R"({"error":{"code":"too_many_connections","message":"connection limit reached"}})"
    "\n";

static_assert(refused_answer.size()
              == refused_answer.find("\r\n\r\n") + 4 + 79);

/// One accepted connection as httplib's Stream: buffered, non-blocking,
/// every read bounded by the current phase's deadline.
class connection final : public httplib::Stream, public connection_control {
public:
  connection(int fd, std::string peer, int peer_port, SSL* ssl,
             const front_limits& lim)
    : fd_(fd),
      peer_(std::move(peer)),
      peer_port_(peer_port),
      ssl_(ssl),
      lim_(lim) {
    // nop
  }

  ~connection() {
    if (ssl_ != nullptr)
      SSL_free(ssl_);
  }

  // -- phases -----------------------------------------------------------------

  /// A new request starts: its headers must arrive within header_timeout.
  void begin_request() {
    in_headers_ = true;
    header_bytes_ = 0;
    close_after_ = false;
    deadline_ = clock::now() + lim_.header_timeout;
  }

  void begin_body() override {
    in_headers_ = false;
    deadline_ = clock::now() + lim_.body_timeout;
  }

  void close_after_response() override {
    close_after_ = true;
  }

  bool must_close() const noexcept {
    return close_after_;
  }

  /// The TLS handshake, bounded like a request's headers.
  bool handshake() {
    auto deadline = clock::now() + lim_.header_timeout;
    for (;;) {
      int rc = SSL_accept(ssl_);
      if (rc == 1)
        return true;
      if (!wait_tls(rc, deadline))
        return false;
    }
  }

  /// True when a next request starts within `timeout`.
  bool wait_next(milliseconds timeout) {
    if (off_ < len_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0))
      return true;
    return wait_for(fd_, POLLIN, clock::now() + timeout);
  }

  /// Lets the client read our answer before the close: no more writes, and
  /// what it still sends is read and dropped for a short while. Closing
  /// with unread input would reset the connection and could lose the
  /// answer.
  void linger() {
    if (ssl_ != nullptr)
      SSL_shutdown(ssl_);
    ::shutdown(fd_, SHUT_WR);
    auto deadline = clock::now() + milliseconds{1000};
    size_t dropped = 0;
    char buf[16 * 1024];
    while (dropped < 16 * 1024 * 1024 && wait_for(fd_, POLLIN, deadline)) {
      auto n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN)))
        break;
      if (n > 0)
        dropped += static_cast<size_t>(n);
    }
  }

  // -- httplib::Stream --------------------------------------------------------

  bool is_readable() const override {
    return off_ < len_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0)
           || wait_for(fd_, POLLIN, deadline_);
  }

  bool is_writable() const override {
    return wait_for(fd_, POLLOUT, clock::now() + lim_.write_timeout);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (off_ == len_ && !fill())
      return -1;
    if (off_ == len_)
      return 0;
    auto n = std::min(size, len_ - off_);
    std::memcpy(ptr, buf_ + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    auto deadline = clock::now() + lim_.write_timeout;
    for (;;) {
      if (ssl_ != nullptr) {
        int rc = SSL_write(ssl_, ptr,
                           static_cast<int>(std::min<size_t>(size, 1 << 30)));
        if (rc > 0)
          return rc;
        if (!wait_tls(rc, deadline))
          return -1;
        continue;
      }
      auto n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n >= 0)
        return n;
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        return -1;
      if (!wait_for(fd_, POLLOUT, deadline))
        return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_;
    port = peer_port_;
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
      ip = address_of(ss, &port);
  }

  socket_t socket() const override {
    return fd_;
  }

private:
  // Reads more into the buffer; false on error, timeout or header overrun,
  // true with nothing new at the end of the stream.
  bool fill() {
    if (in_headers_ && header_bytes_ >= lim_.max_header_bytes)
      return false;
    off_ = len_ = 0;
    for (;;) {
      ssize_t n;
      if (ssl_ != nullptr) {
        int rc = SSL_read(ssl_, buf_, sizeof(buf_));
        if (rc > 0) {
          n = rc;
        } else {
          if (SSL_get_error(ssl_, rc) == SSL_ERROR_ZERO_RETURN)
            return true;
          if (!wait_tls(rc, deadline_))
            return false;
          continue;
        }
      } else {
        n = ::recv(fd_, buf_, sizeof(buf_), 0);
        if (n == 0)
          return true;
        if (n < 0) {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            return false;
          if (!wait_for(fd_, POLLIN, deadline_))
            return false;
          continue;
        }
      }
      len_ = static_cast<size_t>(n);
      if (in_headers_)
        header_bytes_ += len_;
      return true;
    }
  }

  // After an SSL call returned `rc` <= 0: waits for what it wants.
  bool wait_tls(int rc, clock::time_point deadline) const {
    switch (SSL_get_error(ssl_, rc)) {
      case SSL_ERROR_WANT_READ:
        return wait_for(fd_, POLLIN, deadline);
      case SSL_ERROR_WANT_WRITE:
        return wait_for(fd_, POLLOUT, deadline);
      default:
        ERR_clear_error();
        return false;
    }
  }

  int fd_;
  std::string peer_;
  int peer_port_;
  SSL* ssl_;
  const front_limits& lim_;
  clock::time_point deadline_ = clock::now();
  bool in_headers_ = true;
  bool close_after_ = false;
  size_t header_bytes_ = 0;
  char buf_[4096];
  size_t off_ = 0;
  size_t len_ = 0;
};

} // namespace

connection_control* current_connection() noexcept {
  return current;
}

// -- front --------------------------------------------------------------------

struct front::impl {
  router& svr;
  front_limits lim;
  SSL_CTX* tls;
  std::function<void(refusal)> on_refused;
  int listen_fd = -1;
  int wake[2] = {-1, -1};
  std::thread acceptor;
  std::unique_ptr<httplib::ThreadPool> pool;
  std::mutex mtx;
  std::set<int> open;
  std::map<std::string, uint32_t> per_client;
  uint32_t total = 0;
  std::atomic<bool> stopping{false};
  bool started = false;

  impl(router& r, front_limits l, SSL_CTX* ctx, std::function<void(refusal)> f)
    : svr(r), lim(l), tls(ctx), on_refused(std::move(f)) {
    if (tls != nullptr)
      SSL_CTX_up_ref(tls);
  }

  ~impl() {
    if (listen_fd >= 0)
      ::close(listen_fd);
    for (int fd : wake)
      if (fd >= 0)
        ::close(fd);
    if (tls != nullptr)
      SSL_CTX_free(tls);
  }

  void refuse(int fd, refusal why) {
    if (tls == nullptr) {
      [[maybe_unused]] auto n = ::send(fd, refused_answer.data(),
                                       refused_answer.size(),
                                       MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ::close(fd);
    if (on_refused)
      on_refused(why);
  }

  void accept_loop() {
    common::name_this_thread(lim.thread_name);
    for (;;) {
      pollfd ps[2] = {{listen_fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
      if (::poll(ps, 2, -1) < 0 && errno != EINTR)
        return;
      if (stopping)
        return;
      if ((ps[0].revents & POLLIN) == 0)
        continue;
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors or a client that gave up: try again shortly.
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
            || errno == ENOMEM)
          std::this_thread::sleep_for(milliseconds{10});
        continue;
      }
      int port = 0;
      auto peer = address_of(ss, &port);
      {
        std::lock_guard<std::mutex> guard{mtx};
        if (total >= lim.max_connections) {
          refuse(fd, refusal::total);
          continue;
        }
        auto& mine = per_client[peer];
        if (mine >= lim.max_per_client) {
          refuse(fd, refusal::per_client);
          continue;
        }
        ++mine;
        ++total;
        open.insert(fd);
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      pool->enqueue([this, fd, peer, port] { serve(fd, peer, port); });
    }
  }

  void serve(int fd, const std::string& peer, int port) {
    SSL* ssl = nullptr;
    if (tls != nullptr) {
      ssl = SSL_new(tls);
      if (ssl != nullptr)
        SSL_set_fd(ssl, fd);
    }
    {
      connection conn{fd, peer, port, ssl, lim};
      if (tls == nullptr || (ssl != nullptr && conn.handshake())) {
        current = &conn;
        run(conn);
        current = nullptr;
      } else if (on_refused) {
        on_refused(refusal::tls);
      }
    }
    std::lock_guard<std::mutex> guard{mtx};
    open.erase(fd);
    ::close(fd);
    --total;
    if (auto i = per_client.find(peer);
        i != per_client.end() && --i->second == 0)
      per_client.erase(i);
  }

  void run(connection& conn) {
    for (uint32_t n = 0; n < lim.max_requests_per_connection; ++n) {
      if (stopping || (n > 0 && !conn.wait_next(lim.idle_timeout)))
        return;
      conn.begin_request();
      bool last = n + 1 == lim.max_requests_per_connection;
      bool closed = false;
      bool ok = svr.serve(conn, last, closed);
      if (conn.must_close()) {
        conn.linger();
        return;
      }
      if (!ok || closed)
        return;
    }
  }
};

front::front(router& r, front_limits limits, SSL_CTX* tls,
             std::function<void(refusal)> on_refused)
  : impl_(std::make_unique<impl>(r, limits, tls, std::move(on_refused))) {
  // nop
}

front::~front() {
  stop();
}

caf::expected<uint16_t> front::bind(const std::string& address, uint16_t port,
                                    const std::string& key) {
  auto fail = [&](const std::string& why) {
    return caf::make_error(errc::invalid_config,
                           key + ": cannot bind " + address + ":"
                             + std::to_string(port) + ": " + why);
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(address.c_str(), service.c_str(), &hints, &res);
      rc != 0)
    return fail(gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard{res, freeaddrinfo};
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fail(std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0
      || ::listen(fd, impl_->lim.listen_backlog) != 0) {
    auto why = std::string{std::strerror(errno)};
    ::close(fd);
    return fail(why);
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int bound = 0;
  address_of(ss, &bound);
  if (impl_->listen_fd >= 0)
    ::close(impl_->listen_fd);
  impl_->listen_fd = fd;
  return static_cast<uint16_t>(bound);
}

void front::start() {
  auto& st = *impl_;
  if (st.started || st.listen_fd < 0)
    return;
  if (::pipe2(st.wake, O_CLOEXEC) != 0)
    return;
  st.started = true;
  st.pool = std::make_unique<httplib::ThreadPool>(st.lim.max_connections);
  st.acceptor = std::thread{[&st] { st.accept_loop(); }};
}

void front::stop() {
  auto& st = *impl_;
  if (!st.started)
    return;
  st.started = false;
  st.stopping = true;
  [[maybe_unused]] auto n = ::write(st.wake[1], "x", 1);
  st.acceptor.join();
  {
    // Workers blocked in a read or write wake up with an error.
    std::lock_guard<std::mutex> guard{st.mtx};
    for (int fd : st.open)
      ::shutdown(fd, SHUT_RDWR);
  }
  st.pool->shutdown();
  st.pool.reset();
}

// -- TLS ----------------------------------------------------------------------

caf::expected<SSL_CTX*> make_tls_context(const std::string& cert_file,
                                         const std::string& key_file,
                                         const std::string& key_prefix) {
  auto openssl_error = [] {
    char buf[256] = {0};
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    ERR_clear_error();
    return std::string{buf};
  };
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{
    SSL_CTX_new(TLS_server_method()), SSL_CTX_free};
  if (!ctx)
    return caf::make_error(errc::invalid_config,
                           key_prefix + ": " + openssl_error());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE
                                | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1)
    return caf::make_error(errc::invalid_config,
                           key_prefix + ".cert_file: cannot load \"" + cert_file
                             + "\": " + openssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM)
      != 1)
    return caf::make_error(errc::invalid_config,
                           key_prefix + ".key_file: cannot load \"" + key_file
                             + "\": " + openssl_error());
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return caf::make_error(errc::invalid_config,
                           key_prefix
                             + ".key_file: the key does not match the "
                               "certificate");
  return ctx.release();
}

void free_tls_context(SSL_CTX* ctx) noexcept {
  if (ctx != nullptr)
    SSL_CTX_free(ctx);
}

} // namespace ispflow::adapters::http
