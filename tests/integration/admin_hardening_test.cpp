// The admin API under hostile clients: slow clients, huge chunked and
// compressed bodies, bodies without a token; /metrics that never waits for
// the database and its own listener; TLS with a certificate made here.
// Limits in these tests are generous bounds on what must happen, never
// timings.

#include "tests/integration/admin_fixture.hpp"

#include <arpa/inet.h>
#include <brotli/encode.h>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <pqxx/pqxx>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <zlib.h>

using namespace admin_fixture;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

// A TCP connection to 127.0.0.1:`port` from the local address `source`
// (any 127.0.0.0/8 address works on Linux loopback), or -1.
int connect_from(const char* source, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source, &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0
      || ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// What arrives on `fd` until the peer closes or `limit` passes.
std::string read_until_close(int fd, std::chrono::milliseconds limit) {
  std::string out;
  auto deadline = clock_type::now() + limit;
  char buf[4096];
  while (clock_type::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    auto n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0)
      out.append(buf, static_cast<size_t>(n));
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
      break;
  }
  return out;
}

struct upload {
  /// Body bytes (chunk framing included) the server let us send.
  uint64_t sent = 0;
  /// What the server answered.
  std::string answer;
};

// Sends `head` then a chunked body of up to `total` bytes, made up as it
// goes (nothing stored), and stops once the server answers or closes.
upload send_chunked(uint16_t port, const std::string& head, uint64_t total) {
  upload up;
  int fd = connect_from("127.0.0.1", port);
  if (fd < 0 || !send_all(fd, head))
    return up;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  const std::string frame = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
  size_t off = 0;
  auto deadline = clock_type::now() + 120s;
  while (up.sent < total && clock_type::now() < deadline) {
    pollfd p{fd, POLLIN | POLLOUT, 0};
    if (::poll(&p, 1, 1000) <= 0)
      continue;
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0)
      break;
    auto n = ::send(fd, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR)
        continue;
      break;
    }
    up.sent += static_cast<uint64_t>(n);
    off = (off + static_cast<size_t>(n)) % frame.size();
  }
  up.answer = read_until_close(fd, 10s);
  ::close(fd);
  return up;
}

std::string gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string brotli(const std::string& data) {
  std::string out(BrotliEncoderMaxCompressedSize(data.size()), '\0');
  size_t n = out.size();
  BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW,
                        BROTLI_MODE_TEXT, data.size(),
                        reinterpret_cast<const uint8_t*>(data.data()), &n,
                        reinterpret_cast<uint8_t*>(out.data()));
  out.resize(n);
  return out;
}

std::string status_line(const std::string& answer) {
  return answer.substr(0, answer.find("\r\n"));
}

constexpr uint64_t one_gib = uint64_t{1} << 30;

// -- slow clients
// ---------------------------------------------------------------

class admin_slow_clients : public admin_api {
protected:
  void configure(admin_settings& cfg) override {
    cfg.threads = 16;
    cfg.max_connections_per_client = 4;
    // Long enough that only the connection bounds protect the others here.
    cfg.header_timeout = 120s;
  }
};

TEST_F(admin_slow_clients, many_slow_clients_from_one_address_leave_room) {
  // 40 connections from 127.0.0.2 that send their headers a byte at a time.
  std::vector<int> slow;
  for (int i = 0; i < 40; ++i) {
    int fd = connect_from("127.0.0.2", server->port());
    ASSERT_GE(fd, 0);
    slow.push_back(fd);
  }
  std::atomic<bool> done{false};
  std::thread trickle{[&] {
    const std::string head = "GET /v1/sagas HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for (size_t i = 0; !done; ++i) {
      for (int fd : slow)
        ::send(fd, i < head.size() ? &head[i] : "a", 1,
               MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(100ms);
    }
  }};
  // Another client is answered while they trickle on.
  httplib::Client other{"127.0.0.1", server->port()};
  other.set_connection_timeout(20);
  other.set_read_timeout(20);
  auto res
    = other.Get("/v1/sagas?limit=1",
                {{"Authorization", std::string{"Bearer "} + reader_token}});
  done = true;
  trickle.join();
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  // The excess was turned away at once (a 503, then the close); four are
  // still held open, waiting for the rest of their headers.
  int held = 0;
  int answered_503 = 0;
  for (int fd : slow) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) == 0) {
      ++held;
    } else {
      char buf[16] = {0};
      if (::recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0
          && std::string_view{buf, 12} == "HTTP/1.1 503")
        ++answered_503;
    }
    ::close(fd);
  }
  EXPECT_EQ(held, 4);
  EXPECT_GT(answered_503, 0);
}

class admin_connection_bound : public admin_api {
protected:
  void configure(admin_settings& cfg) override {
    cfg.threads = 6;
    cfg.max_connections_per_client = 4;
    cfg.header_timeout = 120s;
  }
};

TEST_F(admin_connection_bound, connections_beyond_the_total_get_a_503_at_once) {
  // Six idle connections from two addresses take every place.
  std::vector<int> idle;
  for (auto source : {"127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.2",
                      "127.0.0.3", "127.0.0.3"}) {
    int fd = connect_from(source, server->port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  // A seventh client is told so instead of waiting in a queue.
  int fd = connect_from("127.0.0.4", server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto answer = read_until_close(fd, 20s);
  ::close(fd);
  EXPECT_EQ(status_line(answer), "HTTP/1.1 503 Service Unavailable") << answer;
  EXPECT_NE(answer.find("too_many_connections"), std::string::npos);
  // Once one leaves, a new client is served.
  ::close(idle.back());
  idle.pop_back();
  bool served = false;
  for (auto limit = clock_type::now() + 20s;
       !served && clock_type::now() < limit;
       std::this_thread::sleep_for(50ms)) {
    httplib::Client c{"127.0.0.1", server->port()};
    auto res = c.Get("/healthz");
    served = res && res->status == 200;
  }
  EXPECT_TRUE(served);
  for (int x : idle)
    ::close(x);
}

class admin_deadlines : public admin_api {
protected:
  void configure(admin_settings& cfg) override {
    cfg.header_timeout = 1s;
    cfg.body_timeout = 1s;
  }
};

TEST_F(admin_deadlines, a_client_too_slow_with_its_headers_is_cut_off) {
  int fd = connect_from("127.0.0.1", server->port());
  ASSERT_GE(fd, 0);
  const std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  bool closed = false;
  auto limit = clock_type::now() + 30s;
  for (size_t i = 0; !closed && clock_type::now() < limit; ++i) {
    if (::send(fd, i < head.size() ? &head[i] : "a", 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char buf[512];
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      // Cut off: closed, reset, or a 400 answer before the close.
      closed = n <= 0
               || std::string_view{buf, static_cast<size_t>(n)}.starts_with(
                 "HTTP/1.1 400");
    }
  }
  ::close(fd);
  EXPECT_TRUE(closed) << "the server still waits for the headers";
}

TEST_F(admin_deadlines, a_body_sent_too_slowly_is_cut_off) {
  int fd = connect_from("127.0.0.1", server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, std::string{"POST /v1/events/redrive HTTP/1.1\r\n"
                                       "Host: x\r\nAuthorization: Bearer "}
                             + admin_token
                             + "\r\nContent-Type: application/json\r\n"
                               "Content-Length: 1000\r\n\r\n{"));
  bool closed = false;
  auto limit = clock_type::now() + 30s;
  while (!closed && clock_type::now() < limit) {
    if (::send(fd, " ", 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0)
      closed = true;
  }
  ::close(fd);
  EXPECT_TRUE(closed) << "the server still waits for the body";
}

// -- bodies -------------------------------------------------------------------

TEST_F(admin_api, a_gigabyte_chunked_body_is_refused_without_being_read) {
  auto head = std::string{"POST /v1/events/redrive HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer "}
              + admin_token
              + "\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n";
  auto up = send_chunked(server->port(), head, one_gib);
  EXPECT_EQ(status_line(up.answer), "HTTP/1.1 413 Payload Too Large")
    << up.answer;
  EXPECT_NE(up.answer.find("body_too_large"), std::string::npos);
  // The limit is 1 MiB; socket buffers and the short drain before the
  // close account for the rest.
  EXPECT_LT(up.sent, one_gib / 8) << "the server read the body";
  // The API still answers.
  EXPECT_EQ(get("/healthz", nullptr).status, 200);
}

TEST_F(admin_api, a_body_without_a_valid_token_is_refused_before_reading) {
  const std::string head
    = "POST /v1/events/redrive HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n";
  auto up = send_chunked(server->port(), head + "\r\n", one_gib);
  EXPECT_EQ(status_line(up.answer), "HTTP/1.1 401 Unauthorized") << up.answer;
  EXPECT_LT(up.sent, one_gib / 8) << "the server read the body";
  up = send_chunked(server->port(), head + "Authorization: Bearer nope\r\n\r\n",
                    one_gib);
  EXPECT_EQ(status_line(up.answer), "HTTP/1.1 401 Unauthorized") << up.answer;
  EXPECT_LT(up.sent, one_gib / 8) << "the server read the body";
  // A declared length over the limit is refused from the headers alone.
  up
    = send_chunked(server->port(),
                   std::string{"POST /v1/events/redrive HTTP/1.1\r\nHost: x\r\n"
                               "Authorization: Bearer "}
                     + admin_token + "\r\nContent-Length: 1073741824\r\n\r\n",
                   one_gib);
  EXPECT_EQ(status_line(up.answer), "HTTP/1.1 413 Payload Too Large")
    << up.answer;
  EXPECT_LT(up.sent, one_gib / 8) << "the server read the body";
  // Only the request with a known token is audited.
  EXPECT_EQ(db.count("SELECT count(*) FROM admin_audit"), 1);
  EXPECT_EQ(db.count("SELECT count(*) FROM admin_audit WHERE status = 413"
                     " AND action = 'events.redrive'"),
            1);
}

TEST_F(admin_api, a_compressed_body_is_limited_by_its_decoded_size) {
  // 8 MiB of JSON white space around an object: a few KiB gzipped.
  auto json = std::string(8u << 20, ' ') + R"({"from":"2024-01-01T00:00:00Z",)"
              + R"("to":"2030-01-01T00:00:00Z","dry_run":true})";
  httplib::Headers h{{"Authorization", std::string{"Bearer "} + admin_token},
                     {"Content-Encoding", "gzip"}};
  auto res = client->Post("/v1/events/redrive", h, gzip(json),
                          "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413) << res->body;
  httplib::Headers hb{{"Authorization", std::string{"Bearer "} + admin_token},
                      {"Content-Encoding", "br"}};
  res = client->Post("/v1/events/redrive", hb, brotli(json),
                     "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413) << res->body;
  // The same request small enough is served.
  json = R"({"from":"2024-01-01T00:00:00Z","to":"2030-01-01T00:00:00Z",)"
         R"("dry_run":true})";
  res = client->Post("/v1/events/redrive", h, gzip(json), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

TEST_F(admin_api, bodies_on_routes_that_take_none_are_refused_unread) {
  auto head = std::string{"GET /v1/sagas HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer "}
              + admin_token + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  auto up = send_chunked(server->port(), head, one_gib);
  EXPECT_EQ(status_line(up.answer), "HTTP/1.1 400 Bad Request") << up.answer;
  EXPECT_LT(up.sent, one_gib / 8);
  head = std::string{"POST /v1/nothing HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer "}
         + admin_token + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  up = send_chunked(server->port(), head, one_gib);
  EXPECT_EQ(status_line(up.answer), "HTTP/1.1 404 Not Found") << up.answer;
  EXPECT_LT(up.sent, one_gib / 8);
}

// -- /metrics -----------------------------------------------------------------

TEST_F(admin_api, scrapes_never_wait_for_the_database) {
  // Another session holds every table the gauges read: any query of a
  // scrape would wait for it.
  pqxx::connection c{db.dsn()};
  pqxx::work locker{c};
  locker.exec("LOCK TABLE sagas, dead_letters, outbox IN ACCESS EXCLUSIVE"
              " MODE");
  httplib::Client scraper{"127.0.0.1", server->port()};
  scraper.set_read_timeout(15);
  int answered = 0;
  for (int i = 0; i < 20; ++i) {
    auto res = scraper.Get("/metrics");
    if (!res)
      break;
    if (res->status == 200
        && res->body.find(R"(ispflow_sagas{tenant="t1",type="activate",)"
                          R"(state="needs_attention"} 1)")
             != std::string::npos)
      ++answered;
  }
  locker.abort();
  EXPECT_EQ(answered, 20);
}

class admin_metrics_refresh : public admin_api {
protected:
  void configure(admin_settings& cfg) override {
    cfg.metrics_refresh = 200ms;
  }
};

TEST_F(admin_metrics_refresh, gauges_follow_the_database) {
  // A saga that becomes open is counted; one that finishes is no longer.
  db.query("UPDATE sagas SET state = 'compensating' WHERE id = 'p-0002'");
  db.query("UPDATE sagas SET state = 'cancelled' WHERE id = 's-t2'");
  const std::string opened
    = R"(ispflow_sagas{tenant="t1",type="activate",state="compensating"} 1)";
  const std::string gone = R"(ispflow_sagas{tenant="t2",)";
  bool seen = false;
  for (auto limit = clock_type::now() + 30s; !seen && clock_type::now() < limit;
       std::this_thread::sleep_for(50ms)) {
    auto res = client->Get("/metrics");
    seen = res && res->body.find(opened) != std::string::npos
           && res->body.find(gone) == std::string::npos;
  }
  EXPECT_TRUE(seen);
}

class admin_metrics_listener : public admin_api {
protected:
  void configure(admin_settings& cfg) override {
    cfg.metrics_address = "127.0.0.1";
    cfg.metrics_port = 0;
    cfg.metrics_token_sha256 = sha256_hex(metrics_token);
  }
};

TEST_F(admin_metrics_listener, metrics_are_served_only_on_their_listener) {
  ASSERT_NE(server->metrics_port(), 0);
  ASSERT_NE(server->metrics_port(), server->port());
  httplib::Client m{"127.0.0.1", server->metrics_port()};
  auto res = m.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  res = m.Get("/metrics",
              {{"Authorization", std::string{"Bearer "} + metrics_token}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("ispflow_sagas{"), std::string::npos);
  // Not the API there, and no metrics on the API's listener.
  res = m.Get("/v1/sagas",
              {{"Authorization", std::string{"Bearer "} + reader_token}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  res = client->Get(
    "/metrics", {{"Authorization", std::string{"Bearer "} + metrics_token}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

// -- TLS
// ------------------------------------------------------------------------

class admin_tls : public admin_api {
protected:
  void configure(admin_settings& cfg) override {
    ASSERT_TRUE(certificate.made) << "openssl req failed";
    cfg.tls_cert_file = certificate.cert;
    cfg.tls_key_file = certificate.key;
  }

  throwaway_certificate certificate;
};

TEST_F(admin_tls, serves_https_only_with_the_configured_certificate) {
  httplib::SSLClient https{"127.0.0.1", server->port()};
  https.set_ca_cert_path(certificate.cert.c_str());
  https.enable_server_certificate_verification(true);
  auto res
    = https.Get("/v1/sagas?limit=1",
                {{"Authorization", std::string{"Bearer "} + reader_token}});
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  // A client that does not trust the certificate gets nothing.
  httplib::SSLClient untrusting{"127.0.0.1", server->port()};
  untrusting.enable_server_certificate_verification(true);
  untrusting.set_ca_cert_path("/nonexistent");
  EXPECT_FALSE(untrusting.Get("/healthz"));
  // Plain HTTP on the TLS port gets no answer.
  httplib::Client plain{"127.0.0.1", server->port()};
  plain.set_read_timeout(5);
  auto res2 = plain.Get("/healthz");
  EXPECT_FALSE(res2 && res2->status == 200);
}

TEST(admin_server_config, refuses_unusable_tls_files_and_names_the_key) {
  admin_settings cfg;
  cfg.tls_cert_file = "/nonexistent/cert.pem";
  cfg.tls_key_file = "/nonexistent/key.pem";
  auto srv = admin_server::make(cfg, admin_deps{});
  ASSERT_FALSE(srv);
  EXPECT_NE(ispflow::render_error(srv.error()).find("admin.tls.cert_file"),
            std::string::npos)
    << ispflow::render_error(srv.error());
  cfg.tls_key_file.clear();
  srv = admin_server::make(cfg, admin_deps{});
  ASSERT_FALSE(srv);
  EXPECT_NE(ispflow::render_error(srv.error()).find("admin.tls.key_file"),
            std::string::npos);
}

} // namespace
