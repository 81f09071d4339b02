#include "adapters/radius/protocol/coa_client.hpp"
#include "adapters/radius/protocol/error_cause.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <gtest/gtest.h>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <set>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace ispflow::adapters::radius;
using namespace std::chrono_literals;

namespace {

const std::string secret = "s3cr3t-for-tests";

/// A tiny UDP peer on an ephemeral loopback port. `handler` sees every
/// datagram and returns the bytes to answer with (empty: no answer).
class responder {
public:
  using handler_fn = std::function<std::vector<uint8_t>(
    const std::vector<uint8_t>&, const sockaddr_in&)>;

  explicit responder(handler_fn h) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    // Bursts of hundreds of datagrams must not overflow the default buffer.
    int rcvbuf = 4 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread{[this] { loop(); }};
  }

  ~responder() {
    done_ = true;
    thread_.join();
    ::close(fd_);
  }

  uint16_t port() const {
    return port_;
  }

  nas_endpoint endpoint() const {
    return nas_endpoint{"127.0.0.1", port_, secret};
  }

  /// Sends bytes to a peer from the responder's socket.
  void send_to(const std::vector<uint8_t>& bytes, const sockaddr_in& to) {
    ::sendto(fd_, bytes.data(), bytes.size(), 0,
             reinterpret_cast<const sockaddr*>(&to), sizeof(to));
  }

private:
  void loop() {
    while (!done_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      std::vector<uint8_t> buf(4096);
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      auto n = ::recvfrom(fd_, buf.data(), buf.size(), 0,
                          reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0)
        continue;
      buf.resize(static_cast<size_t>(n));
      auto reply = handler_(buf, from);
      if (!reply.empty())
        send_to(reply, from);
    }
  }

  handler_fn handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

std::vector<uint8_t> answer(const std::vector<uint8_t>& request, code c,
                            std::vector<attribute> attrs = {},
                            const std::string& key = secret) {
  auto req = decode(request);
  packet reply;
  reply.code = c;
  reply.identifier = req->identifier;
  reply.attributes = std::move(attrs);
  return *encode_response(reply, req->auth, key);
}

coa_client_config fast_config() {
  coa_client_config cfg;
  cfg.initial_timeout = 50ms;
  cfg.max_timeout = 100ms;
  cfg.max_attempts = 3;
  return cfg;
}

std::vector<attribute> ident(const std::string& user) {
  return {attribute::text(attr::user_name, user),
          attribute::text(attr::acct_session_id, "sess-" + user),
          *attribute::ipv4(attr::nas_ip_address, "127.0.0.1")};
}

} // namespace

TEST(radius_coa_client, gets_an_ack_for_a_verified_disconnect) {
  std::atomic<int> verified{0};
  responder peer{[&](const std::vector<uint8_t>& req, const sockaddr_in&) {
    if (verify_request(req, secret, true) == verify_result::ok)
      ++verified;
    auto p = decode(req);
    EXPECT_EQ(p->attributes.front().type, attr::message_authenticator);
    EXPECT_EQ(p->find(attr::user_name)->as_text(), "alice");
    return answer(req, code::disconnect_ack);
  }};
  auto client = coa_client::start(fast_config());
  ASSERT_TRUE(client);
  auto out = (*client)->send(peer.endpoint(), code::disconnect_request,
                             ident("alice"));
  EXPECT_EQ(out.status, coa_status::ack);
  EXPECT_EQ(out.attempts, 1u);
  EXPECT_EQ(out.reply.code, code::disconnect_ack);
  EXPECT_EQ(verified.load(), 1);
  EXPECT_EQ((*client)->stats().acks, 1u);
}

TEST(radius_coa_client, reports_a_nak_with_its_error_cause) {
  responder peer{[&](const std::vector<uint8_t>& req, const sockaddr_in&) {
    return answer(req, code::coa_nak, {attribute::u32(attr::error_cause, 503)});
  }};
  auto client = coa_client::start(fast_config());
  ASSERT_TRUE(client);
  auto out = (*client)->send(peer.endpoint(), code::coa_request,
                             {attribute::text(attr::user_name, "bob"),
                              attribute::text(8, "10M/25M", 14988)});
  EXPECT_EQ(out.status, coa_status::nak);
  ASSERT_TRUE(out.error_cause);
  EXPECT_EQ(error_cause_from(*out.error_cause),
            error_cause::session_context_not_found);
}

TEST(radius_coa_client,
     retransmits_with_the_same_identifier_and_authenticator) {
  std::mutex mtx;
  std::vector<std::vector<uint8_t>> seen;
  responder peer{[&](const std::vector<uint8_t>& req, const sockaddr_in&) {
    std::lock_guard guard{mtx};
    seen.push_back(req);
    if (seen.size() < 3)
      return std::vector<uint8_t>{};
    return answer(req, code::disconnect_ack);
  }};
  auto client = coa_client::start(fast_config());
  ASSERT_TRUE(client);
  auto out = (*client)->send(peer.endpoint(), code::disconnect_request,
                             ident("carol"));
  EXPECT_EQ(out.status, coa_status::ack);
  EXPECT_EQ(out.attempts, 3u);
  std::lock_guard guard{mtx};
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], seen[1]);
  EXPECT_EQ(seen[1], seen[2]);
  EXPECT_EQ((*client)->stats().retransmits, 2u);
}

TEST(radius_coa_client,
     drops_replies_signed_with_another_secret_and_times_out) {
  responder peer{[&](const std::vector<uint8_t>& req, const sockaddr_in&) {
    return answer(req, code::disconnect_ack, {}, "not-the-secret");
  }};
  auto client = coa_client::start(fast_config());
  ASSERT_TRUE(client);
  auto out = (*client)->send(peer.endpoint(), code::disconnect_request,
                             ident("dave"));
  EXPECT_EQ(out.status, coa_status::timeout);
  EXPECT_EQ(out.attempts, 3u);
  EXPECT_EQ((*client)->stats().dropped_replies, 3u);
  EXPECT_EQ((*client)->stats().acks, 0u);
}

TEST(radius_coa_client, drops_a_reply_without_message_authenticator) {
  responder peer{[&](const std::vector<uint8_t>& req, const sockaddr_in&) {
    // A correct Response Authenticator but no Message-Authenticator.
    auto p = decode(req);
    packet reply;
    reply.code = code::disconnect_ack;
    reply.identifier = p->identifier;
    reply.auth = p->auth;
    auto wire = *encode_raw(reply);
    auto buf = wire;
    buf.insert(buf.end(), secret.begin(), secret.end());
    auto ra = md5(buf);
    std::copy(ra.begin(), ra.end(), wire.begin() + 4);
    return wire;
  }};
  auto client = coa_client::start(fast_config());
  ASSERT_TRUE(client);
  auto out = (*client)->send(peer.endpoint(), code::disconnect_request,
                             ident("erin"));
  EXPECT_EQ(out.status, coa_status::timeout);
  EXPECT_GE((*client)->stats().dropped_replies, 1u);
}

TEST(radius_coa_client,
     accepts_an_unsigned_reply_only_from_a_nas_configured_so) {
  responder peer{[&](const std::vector<uint8_t>& req, const sockaddr_in&) {
    auto p = decode(req);
    packet reply;
    reply.code = code::disconnect_ack;
    reply.identifier = p->identifier;
    reply.auth = p->auth;
    auto wire = *encode_raw(reply);
    auto buf = wire;
    buf.insert(buf.end(), secret.begin(), secret.end());
    auto ra = md5(buf);
    std::copy(ra.begin(), ra.end(), wire.begin() + 4);
    return wire;
  }};
  auto client = coa_client::start(fast_config());
  ASSERT_TRUE(client);
  auto nas = peer.endpoint();
  nas.require_message_authenticator = false;
  auto out = (*client)->send(nas, code::disconnect_request, ident("ursula"));
  EXPECT_EQ(out.status, coa_status::ack);
}

TEST(radius_coa_client, drops_a_reply_with_the_wrong_code) {
  responder peer{[&](const std::vector<uint8_t>& req, const sockaddr_in&) {
    return answer(req, code::coa_ack);
  }};
  auto client = coa_client::start(fast_config());
  ASSERT_TRUE(client);
  auto out = (*client)->send(peer.endpoint(), code::disconnect_request,
                             ident("frank"));
  EXPECT_EQ(out.status, coa_status::timeout);
  EXPECT_EQ((*client)->stats().dropped_replies, 3u);
}

TEST(radius_coa_client, ignores_replies_from_another_source) {
  std::atomic<bool> forged{false};
  responder impostor{[](const std::vector<uint8_t>&, const sockaddr_in&) {
    return std::vector<uint8_t>{};
  }};
  responder peer{[&](const std::vector<uint8_t>& req, const sockaddr_in& from) {
    // A valid reply, but sent from a different port than the NAS's.
    impostor.send_to(answer(req, code::disconnect_ack), from);
    forged = true;
    return std::vector<uint8_t>{};
  }};
  auto client = coa_client::start(fast_config());
  ASSERT_TRUE(client);
  auto out = (*client)->send(peer.endpoint(), code::disconnect_request,
                             ident("grace"));
  EXPECT_TRUE(forged.load());
  EXPECT_EQ(out.status, coa_status::timeout);
  EXPECT_GE((*client)->stats().unmatched_replies, 1u);
}

TEST(radius_coa_client, keeps_at_most_the_window_in_flight) {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::pair<std::vector<uint8_t>, sockaddr_in>> held;
  bool release = false;
  responder* self = nullptr;
  responder peer{[&](const std::vector<uint8_t>& req, const sockaddr_in& from) {
    std::unique_lock lock{mtx};
    if (!release) {
      held.emplace_back(req, from);
      cv.notify_all();
      return std::vector<uint8_t>{};
    }
    return answer(req, code::disconnect_ack);
  }};
  self = &peer;
  auto cfg = fast_config();
  cfg.initial_timeout = 2000ms;
  cfg.max_timeout = 2000ms;
  cfg.window_per_nas = 5;
  auto client = coa_client::start(cfg);
  ASSERT_TRUE(client);
  std::atomic<int> acks{0};
  std::atomic<int> finished{0};
  for (int i = 0; i < 20; ++i)
    (*client)->submit(peer.endpoint(), code::disconnect_request,
                      ident("u" + std::to_string(i)), [&](coa_outcome o) {
                        if (o.status == coa_status::ack)
                          ++acks;
                        ++finished;
                      });
  {
    std::unique_lock lock{mtx};
    cv.wait(lock, [&] { return held.size() >= 5; });
    // Give the client every chance to exceed its window.
    lock.unlock();
    std::this_thread::sleep_for(200ms);
    lock.lock();
    EXPECT_EQ(held.size(), 5u);
    release = true;
    for (auto& [req, from] : held)
      self->send_to(answer(req, code::disconnect_ack), from);
  }
  while (finished.load() < 20)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(acks.load(), 20);
}

TEST(radius_coa_client, opens_more_sockets_beyond_256_identifiers) {
  std::mutex mtx;
  std::set<uint16_t> ports;
  std::set<std::pair<uint16_t, uint8_t>> distinct;
  std::vector<std::pair<std::vector<uint8_t>, sockaddr_in>> held;
  bool release = false;
  responder* self = nullptr;
  // Holds the first 300 requests unanswered, so 300 must be in flight at
  // once: more than one socket's 256 identifiers.
  responder peer{[&](const std::vector<uint8_t>& req, const sockaddr_in& from) {
    std::lock_guard guard{mtx};
    ports.insert(ntohs(from.sin_port));
    if (release)
      return answer(req, code::disconnect_ack);
    // Count distinct (port, id) pairs: retransmissions must not count.
    if (!distinct.emplace(ntohs(from.sin_port), req[1]).second)
      return std::vector<uint8_t>{};
    held.emplace_back(req, from);
    if (held.size() == 300) {
      release = true;
      for (auto& [r, f] : held)
        self->send_to(answer(r, code::disconnect_ack), f);
    }
    return std::vector<uint8_t>{};
  }};
  self = &peer;
  auto cfg = fast_config();
  cfg.initial_timeout = 3000ms;
  cfg.max_timeout = 3000ms;
  cfg.window_per_nas = 400;
  auto client = coa_client::start(cfg);
  ASSERT_TRUE(client);
  std::atomic<int> acks{0};
  std::atomic<int> finished{0};
  for (int i = 0; i < 400; ++i)
    (*client)->submit(peer.endpoint(), code::disconnect_request,
                      ident("v" + std::to_string(i)), [&](coa_outcome o) {
                        if (o.status == coa_status::ack)
                          ++acks;
                        ++finished;
                      });
  while (finished.load() < 400)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(acks.load(), 400);
  std::lock_guard guard{mtx};
  EXPECT_EQ(ports.size(), 2u);
}

TEST(radius_coa_client, times_out_when_nobody_answers) {
  responder peer{[](const std::vector<uint8_t>&, const sockaddr_in&) {
    return std::vector<uint8_t>{};
  }};
  auto client = coa_client::start(fast_config());
  ASSERT_TRUE(client);
  auto out = (*client)->send(peer.endpoint(), code::disconnect_request,
                             ident("henry"));
  EXPECT_EQ(out.status, coa_status::timeout);
  EXPECT_EQ(out.attempts, 3u);
}

TEST(radius_coa_client, fails_requests_it_cannot_send) {
  auto client = coa_client::start(fast_config());
  ASSERT_TRUE(client);
  auto bad_host
    = (*client)->send(nas_endpoint{"no-such-host.invalid", 3799, secret},
                      code::disconnect_request, ident("x"));
  EXPECT_EQ(bad_host.status, coa_status::error);
  EXPECT_NE(bad_host.detail.find("cannot resolve"), std::string::npos);
  auto bad_code = (*client)->send(nas_endpoint{"127.0.0.1", 9, secret},
                                  code::access_request, ident("x"));
  EXPECT_EQ(bad_code.status, coa_status::error);
  auto no_secret = (*client)->send(nas_endpoint{"127.0.0.1", 9, ""},
                                   code::disconnect_request, ident("x"));
  EXPECT_EQ(no_secret.status, coa_status::error);
}

TEST(radius_coa_client, completes_pending_requests_with_an_error_on_stop) {
  responder peer{[](const std::vector<uint8_t>&, const sockaddr_in&) {
    return std::vector<uint8_t>{};
  }};
  auto cfg = fast_config();
  cfg.initial_timeout = 5000ms;
  auto client = coa_client::start(cfg);
  ASSERT_TRUE(client);
  std::atomic<int> errors{0};
  for (int i = 0; i < 10; ++i)
    (*client)->submit(peer.endpoint(), code::disconnect_request,
                      ident("w" + std::to_string(i)), [&](coa_outcome o) {
                        if (o.status == coa_status::error)
                          ++errors;
                      });
  std::this_thread::sleep_for(50ms);
  (*client)->stop();
  EXPECT_EQ(errors.load(), 10);
  auto late = (*client)->send(peer.endpoint(), code::disconnect_request,
                              ident("late"));
  EXPECT_EQ(late.status, coa_status::error);
}
