#include "adapters/radius/protocol/coa_client.hpp"

#include "common/thread_name.hpp"
#include "events/errc.hpp"

#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <future>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <queue>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace ispflow::adapters::radius {

namespace {

using clock_type = std::chrono::steady_clock;

struct job {
  nas_endpoint nas;
  code request_code = code::disconnect_request;
  std::vector<attribute> attributes;
  coa_callback done;
};

struct pending {
  coa_callback done;
  std::vector<uint8_t> wire;
  authenticator auth{};
  code request_code = code::disconnect_request;
  std::string secret;
  bool require_ma = true;
  bool accept_zeroed_ma = true;
  clock_type::time_point first_sent;
  std::chrono::milliseconds wait{0};
  uint32_t attempts = 0;
  uint64_t seq = 0;
};

struct nas_socket {
  int fd = -1;
  std::array<std::unique_ptr<pending>, 256> slots;
  uint32_t used = 0;
  uint8_t next_id = 0;
};

struct nas_state {
  std::string key;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::vector<nas_socket> sockets;
  std::deque<job> queue;
  uint32_t in_flight = 0;
  /// Its limits: the endpoint's, else the client's.
  uint32_t window = 0;
  double rate = 0;
  double burst = 0;
  double tokens = 0;
  clock_type::time_point refilled;
};

struct timer {
  clock_type::time_point at;
  nas_state* nas = nullptr;
  size_t socket = 0;
  uint8_t id = 0;
  uint64_t seq = 0;
  friend bool operator>(const timer& a, const timer& b) {
    return a.at > b.at;
  }
};

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family)
    return false;
  if (a.ss_family == AF_INET) {
    auto& x = reinterpret_cast<const sockaddr_in&>(a);
    auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port
           && std::memcmp(&x.sin6_addr, &y.sin6_addr, 16) == 0;
  }
  return false;
}

code ack_of(code request) {
  return request == code::coa_request ? code::coa_ack : code::disconnect_ack;
}

code nak_of(code request) {
  return request == code::coa_request ? code::coa_nak : code::disconnect_nak;
}

} // namespace

std::string_view to_string(coa_status x) {
  switch (x) {
    case coa_status::ack:
      return "ack";
    case coa_status::nak:
      return "nak";
    case coa_status::timeout:
      return "timeout";
    case coa_status::error:
      return "error";
  }
  return "error";
}

struct coa_client::impl {
  coa_client_config cfg;
  int wake_fd = -1;
  std::thread worker;
  std::mutex mtx;
  std::vector<job> incoming;
  bool stopping = false;
  std::atomic<bool> joined{false};

  // Owned by the worker thread.
  std::unordered_map<std::string, std::unique_ptr<nas_state>> nases;
  std::priority_queue<timer, std::vector<timer>, std::greater<>> timers;
  uint64_t next_seq = 1;

  mutable std::mutex stats_mtx;
  coa_client_stats counters;

  void bump(uint64_t coa_client_stats::*field) {
    std::lock_guard guard{stats_mtx};
    ++(counters.*field);
  }

  static void fail(coa_callback& cb, std::string detail) {
    coa_outcome out;
    out.status = coa_status::error;
    out.detail = std::move(detail);
    if (cb)
      cb(std::move(out));
  }

  void complete(coa_callback& cb, coa_outcome out) {
    switch (out.status) {
      case coa_status::ack:
        bump(&coa_client_stats::acks);
        break;
      case coa_status::nak:
        bump(&coa_client_stats::naks);
        break;
      case coa_status::timeout:
        bump(&coa_client_stats::timeouts);
        break;
      case coa_status::error:
        bump(&coa_client_stats::errors);
        break;
    }
    if (cb)
      cb(std::move(out));
  }

  nas_state* nas_for(const nas_endpoint& ep, std::string& error) {
    auto key = ep.host + "|" + std::to_string(ep.port);
    if (auto i = nases.find(key); i != nases.end())
      return i->second.get();
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_family = AF_UNSPEC;
    addrinfo* res = nullptr;
    auto port = std::to_string(ep.port);
    int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
      error = "radius: cannot resolve NAS '" + ep.host
              + "': " + gai_strerror(rc);
      return nullptr;
    }
    auto st = std::make_unique<nas_state>();
    st->key = key;
    std::memcpy(&st->addr, res->ai_addr, res->ai_addrlen);
    st->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    st->window = ep.max_in_flight > 0 ? ep.max_in_flight : cfg.window_per_nas;
    st->rate = ep.max_rate > 0 ? ep.max_rate : cfg.rate_per_nas;
    st->burst = ep.max_rate > 0 ? 1.0 : static_cast<double>(cfg.rate_burst);
    st->tokens = st->burst;
    st->refilled = clock_type::now();
    auto* raw = st.get();
    nases.emplace(key, std::move(st));
    return raw;
  }

  int open_socket(const nas_state& nas, std::string& error) {
    int fd = ::socket(nas.addr.ss_family,
                      SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
      error = std::string{"radius: socket: "} + std::strerror(errno);
    return fd;
  }

  bool has_tokens(nas_state& nas, clock_type::time_point now) {
    if (nas.rate <= 0)
      return true;
    double elapsed = std::chrono::duration<double>(now - nas.refilled).count();
    nas.tokens = std::min<double>(nas.burst, nas.tokens + elapsed * nas.rate);
    nas.refilled = now;
    return nas.tokens >= 1.0;
  }

  // Sends queued requests of one NAS within its window and rate.
  void dispatch(nas_state& nas, clock_type::time_point now) {
    while (!nas.queue.empty() && nas.in_flight < nas.window
           && has_tokens(nas, now)) {
      // Find a free identifier on some socket, opening one if all are full.
      size_t si = 0;
      for (; si < nas.sockets.size(); ++si)
        if (nas.sockets[si].used < 256)
          break;
      if (si == nas.sockets.size()) {
        std::string error;
        int fd = open_socket(nas, error);
        if (fd < 0) {
          auto j = std::move(nas.queue.front());
          nas.queue.pop_front();
          bump(&coa_client_stats::errors);
          fail(j.done, error);
          continue;
        }
        nas.sockets.emplace_back();
        nas.sockets.back().fd = fd;
      }
      auto& sock = nas.sockets[si];
      uint8_t id = sock.next_id;
      while (sock.slots[id])
        ++id;
      sock.next_id = static_cast<uint8_t>(id + 1);
      auto j = std::move(nas.queue.front());
      nas.queue.pop_front();
      packet p;
      p.code = j.request_code;
      p.identifier = id;
      p.attributes = std::move(j.attributes);
      auto wire = encode_request(p, j.nas.secret, cfg.formats);
      if (!wire) {
        bump(&coa_client_stats::errors);
        fail(j.done, to_string(wire.error()));
        continue;
      }
      auto pd = std::make_unique<pending>();
      pd->done = std::move(j.done);
      pd->wire = std::move(*wire);
      pd->auth = p.auth;
      pd->request_code = j.request_code;
      pd->secret = std::move(j.nas.secret);
      pd->require_ma = j.nas.require_message_authenticator;
      pd->accept_zeroed_ma = j.nas.accept_zeroed_message_authenticator;
      pd->first_sent = now;
      pd->wait = cfg.initial_timeout;
      pd->attempts = 1;
      pd->seq = next_seq++;
      ::sendto(sock.fd, pd->wire.data(), pd->wire.size(), 0,
               reinterpret_cast<const sockaddr*>(&nas.addr), nas.addr_len);
      bump(&coa_client_stats::sent);
      timers.push(timer{now + pd->wait, &nas, si, id, pd->seq});
      sock.slots[id] = std::move(pd);
      ++sock.used;
      ++nas.in_flight;
      if (nas.rate > 0)
        nas.tokens -= 1.0;
    }
  }

  std::unique_ptr<pending> release(nas_state& nas, size_t si, uint8_t id) {
    auto& sock = nas.sockets[si];
    auto pd = std::move(sock.slots[id]);
    if (pd) {
      --sock.used;
      --nas.in_flight;
    }
    return pd;
  }

  void on_readable(nas_state& nas, size_t si) {
    std::array<uint8_t, max_packet_size> buf{};
    for (;;) {
      sockaddr_storage from{};
      socklen_t from_len = sizeof(from);
      auto n = ::recvfrom(nas.sockets[si].fd, buf.data(), buf.size(), 0,
                          reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0)
        return;
      std::span<const uint8_t> wire{buf.data(), static_cast<size_t>(n)};
      if (!same_address(from, nas.addr) || wire.size() < 20) {
        bump(&coa_client_stats::unmatched_replies);
        continue;
      }
      uint8_t id = wire[1];
      auto& slot = nas.sockets[si].slots[id];
      if (!slot) {
        bump(&coa_client_stats::unmatched_replies);
        continue;
      }
      auto c = static_cast<code>(wire[0]);
      auto v = verify_response(wire, slot->auth, slot->secret, slot->require_ma,
                               slot->accept_zeroed_ma);
      if (v != verify_result::ok
          || (c != ack_of(slot->request_code)
              && c != nak_of(slot->request_code))) {
        bump(&coa_client_stats::dropped_replies);
        continue;
      }
      auto decoded = decode(wire, cfg.formats);
      if (!decoded) {
        bump(&coa_client_stats::dropped_replies);
        continue;
      }
      auto pd = release(nas, si, id);
      coa_outcome out;
      out.status = c == ack_of(pd->request_code) ? coa_status::ack
                                                 : coa_status::nak;
      if (auto* ec = decoded->find(attr::error_cause))
        out.error_cause = ec->as_u32();
      out.reply = std::move(*decoded);
      out.attempts = pd->attempts;
      out.latency = std::chrono::duration_cast<std::chrono::microseconds>(
        clock_type::now() - pd->first_sent);
      complete(pd->done, std::move(out));
    }
  }

  void on_timers(clock_type::time_point now) {
    while (!timers.empty() && timers.top().at <= now) {
      auto t = timers.top();
      timers.pop();
      auto& slot = t.nas->sockets[t.socket].slots[t.id];
      if (!slot || slot->seq != t.seq)
        continue;
      if (slot->attempts < cfg.max_attempts) {
        ++slot->attempts;
        auto next = std::chrono::milliseconds{static_cast<int64_t>(
          static_cast<double>(slot->wait.count()) * cfg.backoff)};
        slot->wait = std::min(std::max(next, std::chrono::milliseconds{1}),
                              cfg.max_timeout);
        ::sendto(t.nas->sockets[t.socket].fd, slot->wire.data(),
                 slot->wire.size(), 0,
                 reinterpret_cast<const sockaddr*>(&t.nas->addr),
                 t.nas->addr_len);
        bump(&coa_client_stats::retransmits);
        t.at = now + slot->wait;
        timers.push(t);
        continue;
      }
      auto pd = release(*t.nas, t.socket, t.id);
      coa_outcome out;
      out.status = coa_status::timeout;
      out.attempts = pd->attempts;
      out.latency = std::chrono::duration_cast<std::chrono::microseconds>(
        now - pd->first_sent);
      complete(pd->done, std::move(out));
    }
  }

  void shutdown_all() {
    for (auto& [key, nas] : nases) {
      for (auto& sock : nas->sockets) {
        for (auto& slot : sock.slots)
          if (slot) {
            auto pd = std::move(slot);
            bump(&coa_client_stats::errors);
            fail(pd->done, "radius: coa client shutting down");
          }
        ::close(sock.fd);
      }
      for (auto& j : nas->queue) {
        bump(&coa_client_stats::errors);
        fail(j.done, "radius: coa client shutting down");
      }
    }
    nases.clear();
  }

  void run() {
    common::name_this_thread("isp.coa");
    std::vector<pollfd> fds;
    std::vector<std::pair<nas_state*, size_t>> owners;
    for (;;) {
      std::vector<job> batch;
      {
        std::lock_guard guard{mtx};
        batch.swap(incoming);
        if (stopping) {
          for (auto& j : batch) {
            bump(&coa_client_stats::errors);
            fail(j.done, "radius: coa client shutting down");
          }
          shutdown_all();
          return;
        }
      }
      auto now = clock_type::now();
      for (auto& j : batch) {
        std::string error;
        auto* nas = nas_for(j.nas, error);
        if (nas == nullptr) {
          bump(&coa_client_stats::errors);
          fail(j.done, error);
          continue;
        }
        if (nas->queue.size() >= cfg.max_queue_per_nas) {
          bump(&coa_client_stats::errors);
          fail(j.done, "radius: queue for NAS " + j.nas.host + " is full");
          continue;
        }
        nas->queue.push_back(std::move(j));
      }
      // Earliest time something must happen: a retransmission or a token.
      auto deadline = clock_type::time_point::max();
      for (auto& [key, nas] : nases) {
        dispatch(*nas, now);
        if (!nas->queue.empty() && nas->in_flight < nas->window
            && nas->rate > 0) {
          auto need = (1.0 - nas->tokens) / nas->rate;
          deadline = std::min(
            deadline, now
                        + std::chrono::duration_cast<clock_type::duration>(
                          std::chrono::duration<double>(std::max(need, 0.0))));
        }
      }
      if (!timers.empty())
        deadline = std::min(deadline, timers.top().at);
      fds.clear();
      owners.clear();
      fds.push_back(pollfd{wake_fd, POLLIN, 0});
      owners.emplace_back(nullptr, 0);
      for (auto& [key, nas] : nases)
        for (size_t i = 0; i < nas->sockets.size(); ++i)
          if (nas->sockets[i].used > 0) {
            fds.push_back(pollfd{nas->sockets[i].fd, POLLIN, 0});
            owners.emplace_back(nas.get(), i);
          }
      int wait_ms = -1;
      if (deadline != clock_type::time_point::max()) {
        auto left = std::chrono::duration_cast<std::chrono::microseconds>(
                      deadline - clock_type::now())
                      .count();
        wait_ms = left <= 0 ? 0 : static_cast<int>((left + 999) / 1000);
      }
      int rc = ::poll(fds.data(), fds.size(), wait_ms);
      if (rc < 0 && errno != EINTR)
        continue;
      if (rc > 0) {
        if (fds[0].revents & POLLIN) {
          uint64_t v = 0;
          [[maybe_unused]] auto r = ::read(wake_fd, &v, sizeof(v));
        }
        for (size_t i = 1; i < fds.size(); ++i)
          if (fds[i].revents & (POLLIN | POLLERR))
            on_readable(*owners[i].first, owners[i].second);
      }
      on_timers(clock_type::now());
    }
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_fd, &one, sizeof(one));
  }
};

coa_client::coa_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

caf::expected<std::unique_ptr<coa_client>>
coa_client::start(coa_client_config cfg) {
  if (cfg.max_attempts == 0)
    cfg.max_attempts = 1;
  if (cfg.window_per_nas == 0)
    cfg.window_per_nas = 1;
  if (cfg.rate_burst == 0)
    cfg.rate_burst = 1;
  auto p = std::make_unique<impl>();
  p->cfg = std::move(cfg);
  p->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (p->wake_fd < 0)
    return caf::make_error(errc::unspecified, std::string{"radius: eventfd: "}
                                                + std::strerror(errno));
  auto* raw = p.get();
  try {
    p->worker = std::thread{[raw] { raw->run(); }};
  } catch (const std::exception& e) {
    ::close(p->wake_fd);
    return caf::make_error(errc::unspecified,
                           std::string{"radius: thread: "} + e.what());
  }
  return std::unique_ptr<coa_client>{new coa_client(std::move(p))};
}

coa_client::~coa_client() {
  stop();
}

void coa_client::submit(const nas_endpoint& nas, code request_code,
                        std::vector<attribute> attributes, coa_callback done) {
  if (request_code != code::coa_request
      && request_code != code::disconnect_request) {
    impl_->bump(&coa_client_stats::errors);
    impl::fail(done, "radius: coa client sends only CoA-Request and "
                     "Disconnect-Request");
    return;
  }
  {
    std::lock_guard guard{impl_->mtx};
    if (!impl_->stopping) {
      impl_->incoming.push_back(
        job{nas, request_code, std::move(attributes), std::move(done)});
      impl_->wake();
      return;
    }
  }
  impl_->bump(&coa_client_stats::errors);
  impl::fail(done, "radius: coa client shutting down");
}

coa_outcome coa_client::send(const nas_endpoint& nas, code request_code,
                             std::vector<attribute> attributes) {
  auto promise = std::make_shared<std::promise<coa_outcome>>();
  auto future = promise->get_future();
  submit(nas, request_code, std::move(attributes),
         [promise](coa_outcome out) { promise->set_value(std::move(out)); });
  return future.get();
}

void coa_client::stop() {
  {
    std::lock_guard guard{impl_->mtx};
    impl_->stopping = true;
  }
  if (impl_->joined.exchange(true))
    return;
  impl_->wake();
  if (impl_->worker.joinable())
    impl_->worker.join();
  ::close(impl_->wake_fd);
}

coa_client_stats coa_client::stats() const {
  std::lock_guard guard{impl_->stats_mtx};
  return impl_->counters;
}

} // namespace ispflow::adapters::radius
