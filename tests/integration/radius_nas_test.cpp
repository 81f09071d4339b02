#include "adapters/radius/protocol/coa_client.hpp"
#include "adapters/radius/protocol/error_cause.hpp"
#include "adapters/radius/protocol/packet.hpp"
#include "sim/nas/control.hpp"
#include "sim/nas/simulator.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <gtest/gtest.h>
#include <httplib.h>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace ispflow::adapters::radius;
using namespace std::chrono_literals;
namespace nas = ispflow::sim::nas;

namespace {

const std::string secret = "nas-test-secret";

/// A UDP peer on an ephemeral loopback port that answers with `handler`.
class udp_peer {
public:
  using handler_fn = std::function<std::vector<uint8_t>(const packet&)>;

  explicit udp_peer(handler_fn h) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread{[this] {
      while (!done_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0)
          continue;
        std::vector<uint8_t> buf(4096);
        sockaddr_in from{};
        socklen_t flen = sizeof(from);
        auto n = ::recvfrom(fd_, buf.data(), buf.size(), 0,
                            reinterpret_cast<sockaddr*>(&from), &flen);
        if (n <= 0)
          continue;
        buf.resize(static_cast<size_t>(n));
        auto req = decode(buf);
        if (!req)
          continue;
        {
          std::lock_guard guard{mtx_};
          seen_.push_back(*req);
        }
        auto reply = handler_(*req);
        if (!reply.empty())
          ::sendto(fd_, reply.data(), reply.size(), 0,
                   reinterpret_cast<sockaddr*>(&from), flen);
      }
    }};
  }

  ~udp_peer() {
    done_ = true;
    thread_.join();
    ::close(fd_);
  }

  uint16_t port() const {
    return port_;
  }

  std::vector<packet> seen() {
    std::lock_guard guard{mtx_};
    return seen_;
  }

private:
  handler_fn handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> done_{false};
  std::thread thread_;
  std::mutex mtx_;
  std::vector<packet> seen_;
};

std::vector<uint8_t> reply_to(const packet& req, code c,
                              std::vector<attribute> attrs = {}) {
  packet r;
  r.code = c;
  r.identifier = req.identifier;
  r.attributes = std::move(attrs);
  return *encode_response(r, req.auth, secret);
}

struct radius_nas : ::testing::Test {
  std::unique_ptr<nas::simulator> sim;
  std::unique_ptr<coa_client> client;

  void start(nas::config cfg = {}) {
    cfg.secret = secret;
    auto s = nas::simulator::start(cfg);
    ASSERT_TRUE(s) << to_string(s.error());
    sim = std::move(*s);
    coa_client_config ccfg;
    ccfg.initial_timeout = 100ms;
    ccfg.max_timeout = 200ms;
    ccfg.max_attempts = 3;
    auto c = coa_client::start(ccfg);
    ASSERT_TRUE(c);
    client = std::move(*c);
  }

  nas_endpoint target(const std::string& key = secret) {
    return nas_endpoint{"127.0.0.1", sim->coa_port(), key};
  }
};

std::vector<attribute> ident(const nas::session& s) {
  return {attribute::text(attr::user_name, s.username),
          attribute::text(attr::acct_session_id, s.id),
          *attribute::ipv4(attr::nas_ip_address, "127.0.0.1")};
}

} // namespace

TEST_F(radius_nas, disconnect_of_an_open_session_is_acked_and_closes_it) {
  start();
  auto s = sim->add_session("alice", "10.20.30.40");
  auto out = client->send(target(), code::disconnect_request, ident(s));
  EXPECT_EQ(out.status, coa_status::ack);
  EXPECT_EQ(out.reply.code, code::disconnect_ack);
  EXPECT_FALSE(sim->find(s.id));
  EXPECT_EQ(sim->stats().acks, 1u);
}

TEST_F(radius_nas, disconnect_sends_accounting_stop_with_admin_reset) {
  udp_peer acct{
    [](const packet& req) { return reply_to(req, code::accounting_response); }};
  nas::config cfg;
  cfg.acct = nas::endpoint{"127.0.0.1", acct.port()};
  start(cfg);
  auto s = sim->add_session("bob", "10.0.0.9");
  auto out = client->send(target(), code::disconnect_request, ident(s));
  ASSERT_EQ(out.status, coa_status::ack);
  sim->flush_accounting();
  auto seen = acct.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].find(attr::acct_status_type)->as_u32(), 2u);
  EXPECT_EQ(seen[0].find(attr::acct_terminate_cause)->as_u32(), 6u);
  EXPECT_EQ(seen[0].find(attr::acct_session_id)->as_text(), s.id);
  EXPECT_EQ(seen[0].find(attr::framed_ip_address)->as_ipv4(), "10.0.0.9");
  EXPECT_EQ(sim->stats().accounting_stops, 1u);
}

TEST_F(radius_nas, disconnect_of_an_unknown_session_is_naked_with_503) {
  start();
  sim->add_session("alice", "10.0.0.1");
  auto out = client->send(target(), code::disconnect_request,
                          {attribute::text(attr::user_name, "mallory")});
  EXPECT_EQ(out.status, coa_status::nak);
  EXPECT_EQ(out.error_cause,
            static_cast<uint32_t>(error_cause::session_context_not_found));
  EXPECT_EQ(sim->sessions().size(), 1u);
}

TEST_F(radius_nas,
       disconnect_with_a_non_identification_attribute_is_naked_with_401) {
  start();
  auto s = sim->add_session("carol", "10.0.0.2");
  auto attrs = ident(s);
  attrs.push_back(attribute::u32(attr::session_timeout, 60));
  auto out = client->send(target(), code::disconnect_request, attrs);
  EXPECT_EQ(out.status, coa_status::nak);
  EXPECT_EQ(out.error_cause,
            static_cast<uint32_t>(error_cause::unsupported_attribute));
  EXPECT_TRUE(sim->find(s.id));
}

TEST_F(radius_nas, coa_applies_and_remembers_a_new_rate_limit) {
  start();
  auto s = sim->add_session("dave", "10.0.0.3",
                            {{"Mikrotik-Rate-Limit", "5M/10M"}});
  auto attrs = ident(s);
  attrs.push_back(attribute::text(8, "10M/25M", 14988));
  auto out = client->send(target(), code::coa_request, attrs);
  EXPECT_EQ(out.status, coa_status::ack);
  EXPECT_EQ(out.reply.code, code::coa_ack);
  auto now = sim->find(s.id);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->attribute("Mikrotik-Rate-Limit"), "10M/25M");
}

TEST_F(radius_nas, coa_matching_several_sessions_is_naked_with_508) {
  start();
  sim->add_session("erin", "10.0.0.4");
  sim->add_session("erin", "10.0.0.5");
  auto out = client->send(target(), code::coa_request,
                          {attribute::text(attr::user_name, "erin"),
                           attribute::u32(attr::session_timeout, 60)});
  EXPECT_EQ(out.status, coa_status::nak);
  EXPECT_EQ(
    out.error_cause,
    static_cast<uint32_t>(error_cause::multiple_session_selection_unsupported));
}

TEST_F(radius_nas, a_request_for_another_nas_is_naked_with_403) {
  start();
  auto s = sim->add_session("frank", "10.0.0.6");
  auto out
    = client->send(target(), code::disconnect_request,
                   {attribute::text(attr::user_name, "frank"),
                    *attribute::ipv4(attr::nas_ip_address, "192.0.2.1")});
  EXPECT_EQ(out.status, coa_status::nak);
  EXPECT_EQ(out.error_cause,
            static_cast<uint32_t>(error_cause::nas_identification_mismatch));
  EXPECT_TRUE(sim->find(s.id));
}

TEST_F(radius_nas, proxy_state_is_echoed_in_order) {
  start();
  auto s = sim->add_session("grace", "10.0.0.7");
  auto attrs = ident(s);
  attrs.push_back(attribute::text(attr::proxy_state, "first"));
  attrs.push_back(attribute::text(attr::proxy_state, "second"));
  auto out = client->send(target(), code::disconnect_request, attrs);
  ASSERT_EQ(out.status, coa_status::ack);
  auto states = out.reply.find_all(attr::proxy_state);
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0]->as_text(), "first");
  EXPECT_EQ(states[1]->as_text(), "second");
}

TEST_F(radius_nas,
       a_bad_authenticator_is_dropped_silently_so_the_client_times_out) {
  start();
  auto s = sim->add_session("henry", "10.0.0.8");
  auto out = client->send(target("wrong-secret"), code::disconnect_request,
                          ident(s));
  EXPECT_EQ(out.status, coa_status::timeout);
  EXPECT_EQ(out.attempts, 3u);
  EXPECT_EQ(sim->stats().dropped_bad_authenticator, 3u);
  EXPECT_EQ(sim->stats().naks, 0u);
  EXPECT_TRUE(sim->find(s.id));
}

TEST_F(radius_nas, an_unknown_source_is_dropped_silently) {
  nas::config cfg;
  cfg.coa_clients = {"192.0.2.10"};
  start(cfg);
  auto s = sim->add_session("ivan", "10.0.0.10");
  auto out = client->send(target(), code::disconnect_request, ident(s));
  EXPECT_EQ(out.status, coa_status::timeout);
  EXPECT_EQ(sim->stats().dropped_unknown_source, 3u);
  EXPECT_TRUE(sim->find(s.id));
}

TEST_F(radius_nas, a_stale_event_timestamp_is_dropped_silently) {
  start();
  auto s = sim->add_session("judy", "10.0.0.11");
  auto attrs = ident(s);
  attrs.push_back(attribute::u32(attr::event_timestamp, 1000));
  auto out = client->send(target(), code::disconnect_request, attrs);
  EXPECT_EQ(out.status, coa_status::timeout);
  EXPECT_EQ(sim->stats().dropped_stale, 3u);
}

TEST_F(radius_nas, a_duplicate_request_is_answered_from_the_cache) {
  start();
  auto s = sim->add_session("kim", "10.0.0.12");
  packet p;
  p.code = code::disconnect_request;
  p.identifier = 77;
  p.attributes = ident(s);
  auto wire = *encode_request(p, secret);
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(sim->coa_port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<std::vector<uint8_t>> replies;
  for (int i = 0; i < 2; ++i) {
    ::sendto(fd, wire.data(), wire.size(), 0, reinterpret_cast<sockaddr*>(&to),
             sizeof(to));
    pollfd pf{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&pf, 1, 2000), 1);
    std::vector<uint8_t> buf(4096);
    auto n = ::recv(fd, buf.data(), buf.size(), 0);
    buf.resize(static_cast<size_t>(n));
    replies.push_back(buf);
  }
  ::close(fd);
  // The second answer is the cached ACK, not a 503 for the closed session.
  EXPECT_EQ(replies[0], replies[1]);
  EXPECT_EQ(replies[1][0], static_cast<uint8_t>(code::disconnect_ack));
  EXPECT_EQ(verify_response(replies[1], p.auth, secret), verify_result::ok);
  EXPECT_EQ(sim->stats().duplicates, 1u);
  EXPECT_EQ(sim->stats().acks, 1u);
}

TEST_F(radius_nas,
       login_sends_pap_with_message_authenticator_and_starts_accounting) {
  std::string seen_password;
  udp_peer auth{[&](const packet& req) {
    auto pw = unhide_password(req.find(attr::user_password)->value, secret,
                              req.auth);
    seen_password = pw ? *pw : "";
    EXPECT_EQ(req.attributes.front().type, attr::message_authenticator);
    if (seen_password != "s3cret")
      return reply_to(req, code::access_reject);
    return reply_to(req, code::access_accept,
                    {*attribute::ipv4(attr::framed_ip_address, "10.20.30.40"),
                     attribute::text(8, "10M/25M", 14988)});
  }};
  udp_peer acct{
    [](const packet& req) { return reply_to(req, code::accounting_response); }};
  nas::config cfg;
  cfg.auth = nas::endpoint{"127.0.0.1", auth.port()};
  cfg.acct = nas::endpoint{"127.0.0.1", acct.port()};
  start(cfg);
  auto ok = sim->login("alice", "s3cret");
  ASSERT_TRUE(ok) << to_string(ok.error());
  ASSERT_TRUE(ok->accepted);
  ASSERT_TRUE(ok->session);
  EXPECT_EQ(ok->session->framed_ip, "10.20.30.40");
  EXPECT_EQ(ok->session->attribute("Mikrotik-Rate-Limit"), "10M/25M");
  auto starts = acct.seen();
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0].find(attr::acct_status_type)->as_u32(), 1u);
  EXPECT_EQ(verify_request(*encode_raw(starts[0]), secret, true),
            verify_result::ok);
  auto bad = sim->login("alice", "wrong");
  ASSERT_TRUE(bad);
  EXPECT_FALSE(bad->accepted);
  EXPECT_EQ(sim->sessions().size(), 1u);
  ASSERT_FALSE(sim->interim(ok->session->id));
  ASSERT_FALSE(sim->stop_session(ok->session->id));
  auto all = acct.seen();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].find(attr::acct_status_type)->as_u32(), 3u);
  EXPECT_EQ(all[2].find(attr::acct_status_type)->as_u32(), 2u);
  EXPECT_TRUE(sim->sessions().empty());
}

TEST_F(radius_nas, login_fails_when_radius_does_not_answer) {
  udp_peer silent{[](const packet&) { return std::vector<uint8_t>{}; }};
  nas::config cfg;
  cfg.auth = nas::endpoint{"127.0.0.1", silent.port()};
  cfg.radius_timeout = 50ms;
  cfg.radius_attempts = 2;
  start(cfg);
  auto out = sim->login("alice", "s3cret");
  EXPECT_FALSE(out);
  EXPECT_EQ(silent.seen().size(), 2u);
}

TEST_F(radius_nas, control_endpoint_lists_logs_in_and_stops_sessions) {
  udp_peer auth{[&](const packet& req) {
    return reply_to(req, code::access_accept,
                    {*attribute::ipv4(attr::framed_ip_address, "10.1.1.1")});
  }};
  nas::config cfg;
  cfg.auth = nas::endpoint{"127.0.0.1", auth.port()};
  start(cfg);
  auto control = nas::control_server::start(*sim, "127.0.0.1", 0);
  ASSERT_TRUE(control);
  httplib::Client http{"127.0.0.1", (*control)->port()};
  auto login = http.Post("/sessions/login",
                         R"({"username":"zoe","password":"pw"})",
                         "application/json");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 200);
  EXPECT_NE(login->body.find(R"("accepted":true)"), std::string::npos);
  EXPECT_NE(login->body.find("10.1.1.1"), std::string::npos);
  auto list = http.Get("/sessions");
  ASSERT_TRUE(list);
  EXPECT_NE(list->body.find(R"("username":"zoe")"), std::string::npos);
  auto id = sim->sessions().at(0).id;
  auto stop = http.Post("/sessions/" + id + "/stop", "", "application/json");
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->status, 204);
  auto again = http.Post("/sessions/" + id + "/stop", "", "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404);
  auto bad = http.Post("/sessions/login", "{", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_TRUE(sim->sessions().empty());
}

// -- replies without Message-Authenticator (issue 12, item 1) ---------------

TEST_F(radius_nas, unsigned_replies_are_acks_and_naks_as_accel_ppp_sends_them) {
  nas::config cfg;
  cfg.unsigned_replies = true;
  start(cfg);
  auto s = sim->add_session("uma", "10.0.0.20");
  auto nas_ep = target();
  nas_ep.require_message_authenticator = false;
  auto attrs = ident(s);
  attrs.push_back(attribute::text(attr::proxy_state, "echo?"));
  auto ack = client->send(nas_ep, code::disconnect_request, attrs);
  ASSERT_EQ(ack.status, coa_status::ack);
  // accel-ppp's ACK carries no attribute at all (no Message-Authenticator,
  // no Proxy-State); its NAK only Error-Cause.
  EXPECT_TRUE(ack.reply.attributes.empty());
  EXPECT_FALSE(sim->find(s.id));
  auto nak = client->send(nas_ep, code::disconnect_request, ident(s));
  ASSERT_EQ(nak.status, coa_status::nak);
  EXPECT_EQ(nak.error_cause, 503u);
  ASSERT_EQ(nak.reply.attributes.size(), 1u);
  EXPECT_EQ(nak.reply.attributes[0].type, attr::error_cause);
  auto st = sim->stats();
  EXPECT_EQ(st.replies_unsigned, 2u);
  EXPECT_EQ(st.replies_signed, 0u);
}

TEST_F(radius_nas, an_unsigned_reply_times_out_where_it_is_required) {
  nas::config cfg;
  cfg.unsigned_replies = true;
  start(cfg);
  auto s = sim->add_session("vera", "10.0.0.21");
  // The default: Message-Authenticator required.
  auto out = client->send(target(), code::disconnect_request, ident(s));
  EXPECT_EQ(out.status, coa_status::timeout);
  EXPECT_EQ(client->stats().dropped_replies, 3u);
  // The NAS acted on the first request and answered every retransmission
  // from its cache: the session is gone, the client never knew.
  EXPECT_FALSE(sim->find(s.id));
  EXPECT_EQ(sim->stats().replies_unsigned, 3u);
}

TEST_F(radius_nas, signed_replies_are_counted_and_shown_on_the_control_port) {
  start();
  auto s = sim->add_session("wes", "10.0.0.22");
  ASSERT_EQ(client->send(target(), code::disconnect_request, ident(s)).status,
            coa_status::ack);
  auto control = nas::control_server::start(*sim, "127.0.0.1", 0);
  ASSERT_TRUE(control);
  httplib::Client http{"127.0.0.1", (*control)->port()};
  auto stats = http.Get("/stats");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->status, 200);
  EXPECT_NE(stats->body.find(R"("replies_signed":1)"), std::string::npos)
    << stats->body;
  EXPECT_NE(stats->body.find(R"("replies_unsigned":0)"), std::string::npos)
    << stats->body;
  EXPECT_NE(stats->body.find(R"("acks":1)"), std::string::npos) << stats->body;
}

TEST_F(radius_nas, a_bad_message_authenticator_is_dropped_in_both_modes) {
  // A NAS whose Message-Authenticator is wrong while its Response
  // Authenticator is right: never accepted, required or not.
  udp_peer forger{[](const packet& req) {
    packet r;
    r.code = code::disconnect_ack;
    r.identifier = req.identifier;
    auto wire = *encode_response(r, req.auth, secret);
    // Message-Authenticator is the first attribute: flip one of its bytes,
    // then recompute the Response Authenticator over the changed packet.
    wire[20 + 2] ^= 0x5a;
    std::copy(req.auth.begin(), req.auth.end(), wire.begin() + 4);
    auto buf = wire;
    buf.insert(buf.end(), secret.begin(), secret.end());
    auto ra = md5(buf);
    std::copy(ra.begin(), ra.end(), wire.begin() + 4);
    return wire;
  }};
  start();
  for (bool required : {true, false}) {
    nas_endpoint ep{"127.0.0.1", forger.port(), secret};
    ep.require_message_authenticator = required;
    auto before = client->stats().dropped_replies;
    auto out = client->send(ep, code::disconnect_request,
                            {attribute::text(attr::user_name, "xena")});
    EXPECT_EQ(out.status, coa_status::timeout) << required;
    EXPECT_EQ(client->stats().dropped_replies, before + 3) << required;
  }
}

// -- per-NAS limits and fault injection (issue 17) ---------------------------

namespace {

// Submits a Disconnect-Request for each session and waits for every outcome.
std::vector<coa_outcome> disconnect_all(coa_client& client,
                                        const nas_endpoint& nas,
                                        const std::vector<nas::session>& all) {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<coa_outcome> out;
  for (const auto& s : all)
    client.submit(nas, code::disconnect_request, ident(s), [&](coa_outcome x) {
      std::lock_guard guard{mtx};
      out.push_back(std::move(x));
      cv.notify_all();
    });
  std::unique_lock lock{mtx};
  cv.wait(lock, [&] { return out.size() == all.size(); });
  return out;
}

} // namespace

TEST_F(radius_nas, a_slow_nas_sees_no_more_in_flight_than_its_cap) {
  nas::config cfg;
  cfg.faults.reply_delay = 30ms;
  start(cfg);
  std::vector<nas::session> all;
  for (int i = 0; i < 24; ++i)
    all.push_back(sim->add_session("cap" + std::to_string(i),
                                   "10.9.0." + std::to_string(i + 1)));
  auto nas_ep = target();
  nas_ep.max_in_flight = 3;
  auto out = disconnect_all(*client, nas_ep, all);
  for (const auto& x : out)
    EXPECT_EQ(x.status, coa_status::ack) << x.detail;
  auto st = sim->stats();
  // Every request waited 30 ms at the NAS, so the client always had its
  // cap out: the NAS saw exactly 3 at once, never more.
  EXPECT_EQ(st.peak_in_flight, 3u);
  EXPECT_EQ(st.in_flight, 0u);
  EXPECT_EQ(st.acks, 24u);
  EXPECT_TRUE(sim->sessions().empty());
}

TEST_F(radius_nas, a_nas_rate_limit_holds_in_every_second_the_nas_counts) {
  start();
  std::vector<nas::session> all;
  for (int i = 0; i < 60; ++i)
    all.push_back(sim->add_session("rate" + std::to_string(i),
                                   "10.8.0." + std::to_string(i + 1)));
  auto nas_ep = target();
  nas_ep.max_rate = 40;
  auto out = disconnect_all(*client, nas_ep, all);
  for (const auto& x : out)
    EXPECT_EQ(x.status, coa_status::ack) << x.detail;
  auto st = sim->stats();
  EXPECT_EQ(st.received, 60u);
  EXPECT_GE(st.peak_rate, 1u);
  EXPECT_LE(st.peak_rate, 40u);
  // The control port shows both peaks.
  auto control = nas::control_server::start(*sim, "127.0.0.1", 0);
  ASSERT_TRUE(control);
  httplib::Client http{"127.0.0.1", (*control)->port()};
  auto stats = http.Get("/stats");
  ASSERT_TRUE(stats);
  EXPECT_NE(stats->body.find("\"peak_rate\":" + std::to_string(st.peak_rate)),
            std::string::npos)
    << stats->body;
  EXPECT_NE(stats->body.find("\"peak_in_flight\":"), std::string::npos)
    << stats->body;
}

TEST_F(radius_nas, a_dropping_nas_never_answers_and_can_be_healed) {
  start();
  auto s = sim->add_session("drop1", "10.7.0.1");
  auto control = nas::control_server::start(*sim, "127.0.0.1", 0);
  ASSERT_TRUE(control);
  httplib::Client http{"127.0.0.1", (*control)->port()};
  auto set = http.Post("/faults", R"({"drop_every": 1})", "application/json");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->status, 204);
  EXPECT_EQ(sim->current_faults().drop_every, 1u);
  auto lost = client->send(target(), code::disconnect_request, ident(s));
  EXPECT_EQ(lost.status, coa_status::timeout);
  // Every transmission (3 attempts) was dropped with no effect.
  EXPECT_EQ(sim->stats().dropped_by_fault, 3u);
  EXPECT_TRUE(sim->find(s.id));
  auto bad = http.Post("/faults", R"({"drop_every": -1})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  ASSERT_EQ(
    http.Post("/faults", R"({"drop_every": 0})", "application/json")->status,
    204);
  EXPECT_EQ(client->send(target(), code::disconnect_request, ident(s)).status,
            coa_status::ack);
  EXPECT_FALSE(sim->find(s.id));
}

TEST_F(radius_nas, accounting_on_and_off_are_sent_for_the_nas) {
  udp_peer acct{
    [](const packet& req) { return reply_to(req, code::accounting_response); }};
  nas::config cfg;
  cfg.acct = nas::endpoint{"127.0.0.1", acct.port()};
  cfg.nas_ip = "127.0.0.9";
  cfg.coa_clients = {"127.0.0.1"};
  // A NAS coming back from a reboot announces itself at start.
  cfg.accounting_on = true;
  start(cfg);
  ASSERT_FALSE(sim->accounting_off());
  auto seen = acct.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].find(attr::acct_status_type)->as_u32(), 7u);
  EXPECT_EQ(seen[1].find(attr::acct_status_type)->as_u32(), 8u);
  EXPECT_EQ(seen[0].find(attr::nas_ip_address)->as_ipv4(), "127.0.0.9");
  EXPECT_TRUE(seen[0].find(attr::acct_session_id));
}
