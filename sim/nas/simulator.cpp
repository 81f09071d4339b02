#include "sim/nas/simulator.hpp"

#include "adapters/radius/protocol/dictionary.hpp"
#include "adapters/radius/protocol/error_cause.hpp"
#include "adapters/radius/protocol/packet.hpp"
#include "common/wait.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <queue>
#include <set>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace ispflow::sim::nas {

namespace radius = ispflow::adapters::radius;
using radius::attribute;
using radius::code;
using radius::packet;
namespace attr = radius::attr;

namespace {

using clock_type = std::chrono::steady_clock;

caf::error failure(errc code, std::string detail) {
  return caf::make_error(code, std::move(detail));
}

// Attributes that identify a NAS or a session (RFC 5176 §3).
const std::set<uint32_t> identification = {
  attr::user_name,
  attr::nas_ip_address,
  attr::nas_port,
  attr::framed_ip_address,
  attr::called_station_id,
  attr::calling_station_id,
  attr::nas_identifier,
  attr::acct_session_id,
  attr::acct_multi_session_id,
  attr::nas_port_id,
  attr::chargeable_user_identity,
  attr::nas_ipv6_address,
  attr::framed_ipv6_prefix,
};

// Attributes that may accompany any request without being "changes".
const std::set<uint32_t> meta = {
  attr::state,           attr::proxy_state,
  attr::event_timestamp, attr::message_authenticator,
  attr::service_type,
};

bool resolve(const endpoint& ep, sockaddr_storage& out, socklen_t& len) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  auto port = std::to_string(ep.port);
  if (getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res) != 0
      || res == nullptr)
    return false;
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

std::string address_of(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, buf,
              sizeof(buf));
  else if (a.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr,
              buf, sizeof(buf));
  return buf;
}

uint16_t port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return 0;
}

struct cached_reply {
  std::vector<uint8_t> wire;
  clock_type::time_point at;
  bool is_signed = true;
  /// Still waiting for its (delayed) first transmission.
  bool pending = false;
};

// A reply held back by `faults::reply_delay`.
struct due_reply {
  clock_type::time_point at;
  std::string key;
  sockaddr_storage to{};
  socklen_t to_len = 0;
  friend bool operator>(const due_reply& x, const due_reply& y) {
    return x.at > y.at;
  }
};

// A reply as accel-ppp builds it (accel-pppd/radius/dm_coa.c:
// dm_coa_send_ack / dm_coa_send_nak, whose NAK carries a "TODO: We need to
// add Message-Authenticator attribute here"): Error-Cause at most (no
// Message-Authenticator, no State or Proxy-State echoed), and the Response
// Authenticator MD5(Code|Id|Length|Request Authenticator|Attributes|Secret).
caf::expected<std::vector<uint8_t>>
encode_unsigned_reply(packet reply, const radius::authenticator& request_auth,
                      const std::string& secret,
                      const radius::vendor_format_fn& formats) {
  reply.remove(attr::message_authenticator);
  reply.remove(attr::proxy_state);
  reply.remove(attr::state);
  reply.auth = request_auth;
  auto wire = radius::encode_raw(reply, formats);
  if (!wire)
    return wire.error();
  std::vector<uint8_t> buf = *wire;
  buf.insert(buf.end(), secret.begin(), secret.end());
  auto digest = radius::md5(buf);
  std::copy(digest.begin(), digest.end(), wire->begin() + 4);
  return wire;
}

} // namespace

std::optional<std::string> session::attribute(const std::string& name) const {
  for (auto& [k, v] : attributes)
    if (k == name)
      return v;
  return std::nullopt;
}

struct simulator::impl {
  config cfg;
  radius::dictionary dict;
  int coa_fd = -1;
  uint16_t bound_port = 0;
  std::atomic<bool> stopping{false};
  std::thread coa_thread;
  std::vector<std::thread> acct_threads;

  mutable std::mutex mtx;
  std::map<std::string, session> open;
  std::map<std::string, clock_type::time_point> started;
  uint64_t next_session = 1;
  uint32_t next_port = 1;
  coa_stats counters;

  std::mutex acct_mtx;
  std::condition_variable acct_cv;
  std::deque<std::pair<session, uint32_t>> acct_queue;
  size_t acct_busy = 0;

  std::map<std::string, cached_reply> cache;
  // Owned by the CoA thread: replies held back, earliest first.
  std::priority_queue<due_reply, std::vector<due_reply>, std::greater<>> due;
  // Kernel receive times (ns) of the requests of the last second.
  std::deque<int64_t> arrivals;
  // Guarded by mtx: the fault injection and its drop counter.
  nas::faults fault;
  uint64_t seen_for_drop = 0;

  std::mutex radius_mtx;
  uint8_t next_id = 0;

  // -- RADIUS client towards FreeRADIUS --------------------------------------

  caf::expected<packet> exchange(const endpoint& ep, packet request) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (!resolve(ep, addr, len))
      return failure(errc::invalid_config, "nas: cannot resolve " + ep.host);
    {
      std::lock_guard guard{radius_mtx};
      request.identifier = next_id++;
    }
    auto wire = radius::encode_request(request, cfg.secret, dict.formats());
    if (!wire)
      return wire.error();
    int fd = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return failure(errc::unspecified, "nas: socket failed");
    std::vector<uint8_t> buf(radius::max_packet_size);
    for (uint32_t attempt = 0; attempt < cfg.radius_attempts; ++attempt) {
      ::sendto(fd, wire->data(), wire->size(), 0,
               reinterpret_cast<const sockaddr*>(&addr), len);
      auto deadline = clock_type::now() + cfg.radius_timeout;
      for (;;) {
        auto left = common::millis_until(deadline);
        if (left <= 0)
          break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, left) <= 0)
          continue;
        sockaddr_storage from{};
        socklen_t from_len = sizeof(from);
        auto n = ::recvfrom(fd, buf.data(), buf.size(), 0,
                            reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 20 || buf[1] != request.identifier)
          continue;
        std::span<const uint8_t> reply{buf.data(), static_cast<size_t>(n)};
        // A present Message-Authenticator must verify; FreeRADIUS 3.2.1
        // does not add one to every reply, so it is not required here.
        if (radius::verify_response(reply, request.auth, cfg.secret, false)
            != radius::verify_result::ok)
          continue;
        auto decoded = radius::decode(reply, dict.formats());
        ::close(fd);
        return decoded;
      }
    }
    ::close(fd);
    return failure(errc::timeout, "nas: no valid reply from " + ep.host + ":"
                                    + std::to_string(ep.port));
  }

  caf::error account(const session& s, uint32_t status,
                     uint32_t terminate_cause = 0) {
    if (cfg.acct.port == 0)
      return {};
    packet p;
    p.code = code::accounting_request;
    p.add(attribute::u32(attr::acct_status_type, status));
    p.add(attribute::text(attr::acct_session_id, s.id));
    p.add(attribute::text(attr::user_name, s.username));
    if (auto ip = attribute::ipv4(attr::nas_ip_address, cfg.nas_ip))
      p.add(*ip);
    if (auto ip = attribute::ipv4(attr::framed_ip_address, s.framed_ip))
      p.add(*ip);
    if (status != 1) {
      uint32_t secs = 0;
      {
        std::lock_guard guard{mtx};
        if (auto i = started.find(s.id); i != started.end())
          secs = static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::seconds>(clock_type::now()
                                                             - i->second)
              .count());
      }
      p.add(attribute::u32(attr::acct_session_time, secs));
      p.add(attribute::u32(attr::acct_input_octets, 0));
      p.add(attribute::u32(attr::acct_output_octets, 0));
    }
    if (terminate_cause != 0)
      p.add(attribute::u32(attr::acct_terminate_cause, terminate_cause));
    auto reply = exchange(cfg.acct, std::move(p));
    if (!reply)
      return reply.error();
    if (reply->code != code::accounting_response)
      return failure(errc::unspecified, "nas: unexpected accounting reply");
    return {};
  }

  // Accounting-On / -Off (RFC 2866 §5.1: Acct-Status-Type 7 / 8). FreeRADIUS
  // answers them with the `accounting-on` query of rlm_sql
  // (raddb/mods-config/sql/main/postgresql/queries.conf, "Bulk update"
  // strategy): every radacct row of this NAS-IP-Address still open is
  // closed with Acct-Terminate-Cause NAS-Reboot.
  caf::error account_on_off(uint32_t status) {
    if (cfg.acct.port == 0)
      return {};
    packet p;
    p.code = code::accounting_request;
    p.add(attribute::u32(attr::acct_status_type, status));
    p.add(attribute::text(attr::acct_session_id, "00000000"));
    if (auto ip = attribute::ipv4(attr::nas_ip_address, cfg.nas_ip))
      p.add(*ip);
    auto wall = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    p.add(attribute::u32(attr::event_timestamp, static_cast<uint32_t>(wall)));
    auto reply = exchange(cfg.acct, std::move(p));
    if (!reply)
      return reply.error();
    if (reply->code != code::accounting_response)
      return failure(errc::unspecified, "nas: unexpected accounting reply");
    return {};
  }

  void acct_loop() {
    for (;;) {
      std::pair<session, uint32_t> item;
      {
        std::unique_lock lock{acct_mtx};
        acct_cv.wait(lock, [&] { return stopping || !acct_queue.empty(); });
        if (acct_queue.empty())
          return;
        item = std::move(acct_queue.front());
        acct_queue.pop_front();
        ++acct_busy;
      }
      auto err = account(item.first, 2, item.second);
      {
        std::lock_guard guard{mtx};
        if (err)
          ++counters.accounting_failures;
        else if (cfg.acct.port != 0)
          ++counters.accounting_stops;
        started.erase(item.first.id);
      }
      {
        std::lock_guard lock{acct_mtx};
        --acct_busy;
      }
      acct_cv.notify_all();
    }
  }

  // -- CoA / Disconnect server ------------------------------------------------

  std::vector<std::string> matching(const packet& req) {
    std::vector<std::string> ids;
    for (auto& [id, s] : open) {
      bool ok = true;
      for (auto& a : req.attributes) {
        if (a.vendor != 0)
          continue;
        if (a.type == attr::user_name)
          ok = ok && a.as_text() == s.username;
        else if (a.type == attr::acct_session_id
                 || a.type == attr::acct_multi_session_id)
          ok = ok && a.as_text() == s.id;
        else if (a.type == attr::framed_ip_address)
          ok = ok && a.as_ipv4() == s.framed_ip;
      }
      if (ok)
        ids.push_back(id);
    }
    return ids;
  }

  bool identifies_session(const packet& req) {
    for (auto& a : req.attributes)
      if (a.vendor == 0
          && (a.type == attr::user_name || a.type == attr::acct_session_id
              || a.type == attr::acct_multi_session_id
              || a.type == attr::framed_ip_address
              || a.type == attr::calling_station_id
              || a.type == attr::chargeable_user_identity))
        return true;
    return false;
  }

  // Builds the ACK or NAK for a verified request.
  packet handle(const packet& req) {
    bool is_coa = req.code == code::coa_request;
    packet reply;
    reply.identifier = req.identifier;
    auto nak = [&](radius::error_cause cause) {
      reply.code = is_coa ? code::coa_nak : code::disconnect_nak;
      reply.add(
        attribute::u32(attr::error_cause, static_cast<uint32_t>(cause)));
    };
    std::vector<const attribute*> changes;
    bool unsupported = false;
    for (auto& a : req.attributes) {
      bool known = a.vendor == 0
                   && (identification.contains(a.type)
                       || meta.contains(a.type));
      if (known)
        continue;
      if (!is_coa)
        unsupported = true;
      else if (dict.find(a.vendor, a.type) == nullptr)
        unsupported = true;
      else
        changes.push_back(&a);
    }
    std::lock_guard guard{mtx};
    if (auto* st = req.find(attr::service_type);
        st != nullptr && st->as_u32() == 17u) {
      nak(radius::error_cause::unsupported_service);
    } else if (unsupported) {
      nak(radius::error_cause::unsupported_attribute);
    } else if (auto* ip = req.find(attr::nas_ip_address);
               ip != nullptr && ip->as_ipv4() != cfg.nas_ip) {
      nak(radius::error_cause::nas_identification_mismatch);
    } else if (!identifies_session(req)) {
      nak(radius::error_cause::missing_attribute);
    } else {
      auto ids = matching(req);
      if (ids.empty()) {
        nak(radius::error_cause::session_context_not_found);
      } else if (is_coa && ids.size() > 1) {
        nak(radius::error_cause::multiple_session_selection_unsupported);
      } else if (is_coa) {
        auto& s = open[ids.front()];
        for (auto* a : changes) {
          auto name = dict.name_of(*a);
          auto value = dict.format(*a);
          auto it = std::find_if(s.attributes.begin(), s.attributes.end(),
                                 [&](auto& kv) { return kv.first == name; });
          if (it != s.attributes.end())
            it->second = value;
          else
            s.attributes.emplace_back(name, value);
        }
        reply.code = code::coa_ack;
      } else {
        {
          std::lock_guard lock{acct_mtx};
          for (auto& id : ids) {
            // 6 = Admin-Reset.
            acct_queue.emplace_back(open[id], 6);
            open.erase(id);
          }
        }
        acct_cv.notify_all();
        reply.code = code::disconnect_ack;
      }
    }
    if (reply.code == code::coa_ack || reply.code == code::disconnect_ack)
      ++counters.acks;
    else
      ++counters.naks;
    for (auto& a : req.attributes)
      if (a.vendor == 0
          && (a.type == attr::proxy_state || a.type == attr::state))
        reply.add(a);
    return reply;
  }

  void on_datagram(std::span<const uint8_t> wire, const sockaddr_storage& from,
                   socklen_t from_len, int64_t arrived_ns) {
    auto source = address_of(from);
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard guard{mtx};
      ++counters.received;
      if (std::find(cfg.coa_clients.begin(), cfg.coa_clients.end(), source)
          == cfg.coa_clients.end()) {
        ++counters.dropped_unknown_source;
        return;
      }
      // The peak rate: requests within (t - 1 s, t].
      arrivals.push_back(arrived_ns);
      while (!arrivals.empty()
             && arrivals.front() <= arrived_ns - 1'000'000'000)
        arrivals.pop_front();
      counters.peak_rate = std::max<uint64_t>(counters.peak_rate,
                                              arrivals.size());
      if (fault.drop_every > 0 && ++seen_for_drop % fault.drop_every == 0) {
        ++counters.dropped_by_fault;
        return;
      }
      delay = fault.reply_delay;
    }
    auto req = radius::decode(wire, dict.formats());
    if (!req
        || (req->code != code::coa_request
            && req->code != code::disconnect_request)) {
      std::lock_guard guard{mtx};
      ++counters.dropped_malformed;
      return;
    }
    auto now = clock_type::now();
    std::string key = source + "|" + std::to_string(port_of(from)) + "|"
                      + std::to_string(req->identifier) + "|"
                      + std::string(req->auth.begin(), req->auth.end());
    std::erase_if(cache, [&](auto& kv) {
      return now - kv.second.at > std::chrono::seconds{30};
    });
    if (auto hit = cache.find(key); hit != cache.end()) {
      if (hit->second.pending) {
        // Still being worked on (a slow NAS): the reply will come.
        std::lock_guard guard{mtx};
        ++counters.duplicates;
        return;
      }
      {
        std::lock_guard guard{mtx};
        ++counters.duplicates;
        ++(hit->second.is_signed ? counters.replies_signed
                                 : counters.replies_unsigned);
      }
      ::sendto(coa_fd, hit->second.wire.data(), hit->second.wire.size(), 0,
               reinterpret_cast<const sockaddr*>(&from), from_len);
      return;
    }
    if (radius::verify_request(wire, cfg.secret,
                               cfg.require_message_authenticator)
        != radius::verify_result::ok) {
      std::lock_guard guard{mtx};
      ++counters.dropped_bad_authenticator;
      return;
    }
    if (auto* ts = req->find(attr::event_timestamp)) {
      auto sent = ts->as_u32();
      auto wall = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
      if (!sent
          || std::llabs(wall - static_cast<int64_t>(*sent))
               > cfg.event_timestamp_window.count()) {
        std::lock_guard guard{mtx};
        ++counters.dropped_stale;
        return;
      }
    }
    auto reply = handle(*req);
    bool is_signed = !cfg.unsigned_replies;
    auto out = is_signed ? radius::encode_response(reply, req->auth, cfg.secret,
                                                   dict.formats())
                         : encode_unsigned_reply(std::move(reply), req->auth,
                                                 cfg.secret, dict.formats());
    if (!out)
      return;
    {
      std::lock_guard guard{mtx};
      ++counters.in_flight;
      counters.peak_in_flight = std::max(counters.peak_in_flight,
                                         counters.in_flight);
    }
    if (delay.count() > 0) {
      cache[key] = cached_reply{std::move(*out), now, is_signed, true};
      due.push(due_reply{now + delay, key, from, from_len});
      return;
    }
    cache[key] = cached_reply{std::move(*out), now, is_signed};
    send_reply(cache[key], from, from_len);
  }

  void send_reply(cached_reply& r, const sockaddr_storage& to,
                  socklen_t to_len) {
    r.pending = false;
    {
      std::lock_guard guard{mtx};
      --counters.in_flight;
      ++(r.is_signed ? counters.replies_signed : counters.replies_unsigned);
    }
    ::sendto(coa_fd, r.wire.data(), r.wire.size(), 0,
             reinterpret_cast<const sockaddr*>(&to), to_len);
  }

  // Sends the held-back replies that are due; returns the wait until the
  // next one (at most 100 ms).
  int send_due() {
    auto now = clock_type::now();
    while (!due.empty() && due.top().at <= now) {
      auto d = due.top();
      due.pop();
      if (auto i = cache.find(d.key); i != cache.end() && i->second.pending)
        send_reply(i->second, d.to, d.to_len);
    }
    if (due.empty())
      return 100;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
                  due.top().at - now)
                  .count();
    return static_cast<int>(std::clamp<int64_t>(wait + 1, 1, 100));
  }

  void coa_loop() {
    std::vector<uint8_t> buf(radius::max_packet_size);
    std::array<char, CMSG_SPACE(sizeof(timespec))> control{};
    while (!stopping) {
      pollfd p{coa_fd, POLLIN, 0};
      int ready = ::poll(&p, 1, send_due());
      if (ready <= 0)
        continue;
      sockaddr_storage from{};
      iovec iov{buf.data(), buf.size()};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof(from);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      auto n = ::recvmsg(coa_fd, &msg, 0);
      if (n <= 0)
        continue;
      // The kernel's receive time, not when this thread got to it: a
      // thread that fell behind must not see a burst that never was.
      int64_t arrived_ns = 0;
      for (auto* c = CMSG_FIRSTHDR(&msg); c != nullptr;
           c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts{};
          std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
          arrived_ns = int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
        }
      if (arrived_ns == 0)
        arrived_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
      on_datagram({buf.data(), static_cast<size_t>(n)}, from, msg.msg_namelen,
                  arrived_ns);
    }
  }
};

simulator::simulator(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

caf::expected<std::unique_ptr<simulator>> simulator::start(config cfg) {
  if (cfg.secret.empty())
    return failure(errc::invalid_config, "nas: a shared secret is required");
  auto p = std::make_unique<impl>();
  auto dict = radius::dictionary::load(cfg.dictionary_path);
  if (!dict)
    return dict.error();
  p->dict = std::move(*dict);
  p->cfg = std::move(cfg);
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (!resolve(endpoint{p->cfg.coa_bind, p->cfg.coa_port}, addr, len))
    return failure(errc::invalid_config,
                   "nas: cannot resolve " + p->cfg.coa_bind);
  p->coa_fd = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (p->coa_fd < 0
      || ::bind(p->coa_fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (p->coa_fd >= 0)
      ::close(p->coa_fd);
    return failure(errc::invalid_config, "nas: cannot bind the CoA port "
                                           + std::to_string(p->cfg.coa_port)
                                           + ": " + std::strerror(errno));
  }
  int on = 1;
  ::setsockopt(p->coa_fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
  p->fault = p->cfg.faults;
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  ::getsockname(p->coa_fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  p->bound_port = port_of(bound);
  auto* raw = p.get();
  p->coa_thread = std::thread{[raw] { raw->coa_loop(); }};
  for (uint32_t k = 0; k < std::max(p->cfg.acct_senders, uint32_t{1}); ++k)
    p->acct_threads.emplace_back([raw] { raw->acct_loop(); });
  std::unique_ptr<simulator> sim{new simulator(std::move(p))};
  if (sim->impl_->cfg.accounting_on)
    if (auto err = sim->accounting_on())
      return err;
  return sim;
}

simulator::~simulator() {
  stop();
}

caf::expected<login_result> simulator::login(const std::string& username,
                                             const std::string& password) {
  auto& im = *impl_;
  uint32_t port = 0;
  {
    std::lock_guard guard{im.mtx};
    port = im.next_port++;
  }
  packet req;
  req.code = code::access_request;
  req.add(attribute::text(attr::user_name, username));
  req.add(attribute::text(attr::user_password, password));
  if (auto ip = attribute::ipv4(attr::nas_ip_address, im.cfg.nas_ip))
    req.add(*ip);
  req.add(attribute::u32(attr::nas_port, port));
  // Service-Type Framed-User, NAS-Port-Type Ethernet.
  req.add(attribute::u32(attr::service_type, 2));
  req.add(attribute::u32(attr::nas_port_type, 15));
  auto reply = im.exchange(im.cfg.auth, std::move(req));
  if (!reply)
    return reply.error();
  login_result out;
  for (auto& a : reply->attributes)
    if (!(a.vendor == 0 && a.type == attr::message_authenticator))
      out.reply.emplace_back(im.dict.name_of(a), im.dict.format(a));
  if (reply->code != code::access_accept)
    return out;
  session s;
  s.username = username;
  if (auto* ip = reply->find(attr::framed_ip_address))
    s.framed_ip = ip->as_ipv4().value_or("");
  s.attributes = out.reply;
  {
    std::lock_guard guard{im.mtx};
    char id[32];
    std::snprintf(id, sizeof(id), "%08llX",
                  static_cast<unsigned long long>(im.next_session++));
    s.id = id;
    im.started[s.id] = clock_type::now();
  }
  if (auto err = im.account(s, 1)) {
    std::lock_guard guard{im.mtx};
    im.started.erase(s.id);
    return err;
  }
  {
    std::lock_guard guard{im.mtx};
    im.open[s.id] = s;
  }
  out.accepted = true;
  out.session = std::move(s);
  return out;
}

session simulator::add_session(
  const std::string& username, const std::string& framed_ip,
  std::vector<std::pair<std::string, std::string>> attributes) {
  std::lock_guard guard{impl_->mtx};
  session s;
  char id[32];
  std::snprintf(id, sizeof(id), "%08llX",
                static_cast<unsigned long long>(impl_->next_session++));
  s.id = id;
  s.username = username;
  s.framed_ip = framed_ip;
  s.attributes = std::move(attributes);
  impl_->open[s.id] = s;
  impl_->started[s.id] = clock_type::now();
  return s;
}

caf::error simulator::accounting_on() {
  return impl_->account_on_off(7);
}

caf::error simulator::accounting_off() {
  return impl_->account_on_off(8);
}

void simulator::set_faults(nas::faults f) {
  std::lock_guard guard{impl_->mtx};
  impl_->fault = f;
}

nas::faults simulator::current_faults() const {
  std::lock_guard guard{impl_->mtx};
  return impl_->fault;
}

caf::error simulator::interim(const std::string& session_id) {
  auto s = find(session_id);
  if (!s)
    return failure(errc::invalid_input, "nas: no session " + session_id);
  return impl_->account(*s, 3);
}

caf::error simulator::stop_session(const std::string& session_id) {
  std::optional<session> s;
  {
    std::lock_guard guard{impl_->mtx};
    auto i = impl_->open.find(session_id);
    if (i == impl_->open.end())
      return failure(errc::invalid_input, "nas: no session " + session_id);
    s = std::move(i->second);
    impl_->open.erase(i);
  }
  // 1 = User-Request.
  auto err = impl_->account(*s, 2, 1);
  std::lock_guard guard{impl_->mtx};
  impl_->started.erase(session_id);
  return err;
}

std::vector<session> simulator::sessions() const {
  std::lock_guard guard{impl_->mtx};
  std::vector<session> out;
  for (auto& [id, s] : impl_->open)
    out.push_back(s);
  return out;
}

std::optional<session> simulator::find(const std::string& session_id) const {
  std::lock_guard guard{impl_->mtx};
  auto i = impl_->open.find(session_id);
  if (i == impl_->open.end())
    return std::nullopt;
  return i->second;
}

uint16_t simulator::coa_port() const {
  return impl_->bound_port;
}

coa_stats simulator::stats() const {
  std::lock_guard guard{impl_->mtx};
  return impl_->counters;
}

void simulator::flush_accounting() {
  std::unique_lock lock{impl_->acct_mtx};
  impl_->acct_cv.wait(lock, [&] {
    return impl_->acct_queue.empty() && impl_->acct_busy == 0;
  });
}

void simulator::stop() {
  if (impl_->stopping.exchange(true))
    return;
  // An accounting sender that found `stopping` false may not wait yet:
  // taking its mutex before the notify makes sure it either saw the flag or
  // waits, so no sender is left waiting for ever (a lost wake-up hung a
  // test that restarted the NAS).
  { std::lock_guard lock{impl_->acct_mtx}; }
  impl_->acct_cv.notify_all();
  if (impl_->coa_thread.joinable())
    impl_->coa_thread.join();
  for (auto& t : impl_->acct_threads)
    if (t.joinable())
      t.join();
  impl_->acct_threads.clear();
  ::close(impl_->coa_fd);
}

} // namespace ispflow::sim::nas
