#include "adapters/http/client.hpp"

#include "adapters/http/trace.hpp"
#include "common/effect_gate.hpp"
#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <curl/curl.h>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace ispflow::adapters::http {

namespace {

using steady = std::chrono::steady_clock;

constexpr std::string_view shut_down_text = "client shut down";

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::tolower(static_cast<unsigned char>(x))
                     == std::tolower(static_cast<unsigned char>(y));
            });
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty()
         && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'
             || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

void ensure_global_init() {
  static std::once_flag flag;
  std::call_once(flag, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One request on its way. Owned by the client thread once started.
struct transfer {
  request req;
  completion done;
  response res;
  steady::time_point submitted;
  std::size_t max_body = 0;
  bool body_overflow = false;
  /// Stopped by the effect gate right before sending (on_prereq).
  bool withheld = false;
  /// A non-idempotent request: sent at most once (see configure).
  bool once_only = false;
  /// How often libcurl was about to send the request (on_prereq).
  int sends = 0;
  /// libcurl was about to send a once-only request a second time, after a
  /// reused connection died without an answer; stopped (on_prereq).
  bool resend_refused = false;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  char error_buffer[CURL_ERROR_SIZE] = {};

  transfer() = default;
  transfer(const transfer&) = delete;
  transfer& operator=(const transfer&) = delete;

  ~transfer() {
    if (headers != nullptr)
      curl_slist_free_all(headers);
    if (easy != nullptr)
      curl_easy_cleanup(easy);
  }
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto len = size * count;
  std::string_view line{data, len};
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new status line (e.g. after a 100 Continue): start over.
    t->res.headers.clear();
    t->res.reason.clear();
    t->res.status = 0;
    auto sp = line.find(' ');
    if (sp != std::string_view::npos) {
      auto rest = line.substr(sp + 1);
      int status = 0;
      auto [ptr, ec] = std::from_chars(
        rest.data(), rest.data() + std::min<size_t>(rest.size(), 3), status);
      if (ec == std::errc{})
        t->res.status = status;
      auto sp2 = rest.find(' ');
      if (sp2 != std::string_view::npos)
        t->res.reason = std::string{rest.substr(sp2 + 1)};
    }
    return len;
  }
  if (line.empty())
    return len;
  if ((line.front() == ' ' || line.front() == '\t')
      && !t->res.headers.empty()) {
    // Obsolete line folding: continue the previous value.
    auto& value = t->res.headers.back().second;
    value += ' ';
    value += trim(line);
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos)
    return len;
  t->res.headers.emplace_back(std::string{trim(line.substr(0, colon))},
                              std::string{trim(line.substr(colon + 1))});
  return len;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto len = size * count;
  if (t->res.body.size() + len > t->max_body) {
    t->body_overflow = true;
    return 0; // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->res.body.append(data, len);
  return len;
}

// Called by libcurl right before it sends the request, once per attempt:
// the last moment before a request goes out on its connection. A request
// submitted before the process paused (SIGSTOP, a stall) is not sent once
// this instance's leases are unconfirmed (common/effect_gate.hpp).
int on_prereq(void* user, char*, char*, int, int) {
  auto* t = static_cast<transfer*>(user);
  if (!common::effect_gate::open()) {
    t->withheld = true;
    return CURL_PREREQFUNC_ABORT;
  }
  // libcurl sends a request again, unasked, on a new connection when a
  // reused keep-alive connection closes or resets before any answer:
  // harmless for GET, a second effect for a POST (a second NetBox address,
  // a second AWX job) if the server did act on the first before it went.
  if (t->once_only && t->sends > 0) {
    t->resend_refused = true;
    return CURL_PREREQFUNC_ABORT;
  }
  ++t->sends;
  return CURL_PREREQFUNC_OK;
}

bool is_tls_error(CURLcode rc) noexcept {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
      return true;
    default:
      return false;
  }
}

// True if the server may have seen the request: libcurl counted request
// bytes, got response bytes, or had a connection ready for the transfer.
bool maybe_sent(CURL* easy) {
  long request_size = 0;
  long header_size = 0;
  curl_off_t pretransfer_us = 0;
  curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);
  curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &header_size);
  curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
  return request_size > 0 || header_size > 0 || pretransfer_us > 0;
}

void classify(transfer& t, CURLcode rc) {
  auto& res = t.res;
  if (rc == CURLE_OK) {
    long code = 0;
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &code);
    res.status = static_cast<int>(code);
    res.error = transport_error::none;
    res.request_sent = true;
    return;
  }
  if (t.withheld) {
    res.error = transport_error::other;
    res.error_text = common::effect_gate::closed_text;
    res.request_sent = false;
    res.status = 0;
    return;
  }
  if (t.resend_refused) {
    // The first attempt went out on a connection that then died: the
    // server may have acted on it. The caller decides, as after a reset.
    res.error = transport_error::connection_lost;
    res.error_text = "the reused connection closed before any answer; "
                     "not sent again";
    res.request_sent = true;
    res.status = 0;
    return;
  }
  res.error_text = t.error_buffer[0] != '\0' ? std::string{t.error_buffer}
                                             : curl_easy_strerror(rc);
  auto sent = maybe_sent(t.easy);
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      res.error = transport_error::connect_failed;
      res.request_sent = false;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      // Timed out before any connection was ready (connect phase, or
      // queued for a free connection): nothing can have reached the server.
      res.error = sent ? transport_error::timed_out
                       : transport_error::connect_failed;
      res.request_sent = sent;
      break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      res.error = transport_error::bad_url;
      res.request_sent = false;
      break;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
      res.error = transport_error::connection_lost;
      res.request_sent = true;
      break;
    case CURLE_WRITE_ERROR:
      res.error = transport_error::other;
      res.request_sent = true;
      if (t.body_overflow)
        res.error_text = "response body larger than "
                         + std::to_string(t.max_body) + " bytes";
      break;
    default:
      if (is_tls_error(rc)) {
        res.error = transport_error::tls_failed;
        // The handshake failed: no HTTP request went out.
        res.request_sent = false;
      } else {
        res.error = transport_error::other;
        res.request_sent = sent;
      }
  }
  // A transport failure carries no HTTP response.
  res.status = 0;
}

} // namespace

std::string_view to_string(transport_error x) noexcept {
  switch (x) {
    case transport_error::none:
      return "none";
    case transport_error::connect_failed:
      return "connect_failed";
    case transport_error::timed_out:
      return "timed_out";
    case transport_error::connection_lost:
      return "connection_lost";
    case transport_error::tls_failed:
      return "tls_failed";
    case transport_error::bad_url:
      return "bad_url";
    case transport_error::other:
      return "other";
  }
  return "other";
}

std::ostream& operator<<(std::ostream& os, transport_error x) {
  return os << to_string(x);
}

std::optional<std::string_view> response::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name))
      return std::string_view{value};
  return std::nullopt;
}

std::ostream& operator<<(std::ostream& os, const response& x) {
  if (x.has_response())
    return os << x.status << ' ' << x.reason;
  return os << x.error << " (" << x.error_text
            << (x.request_sent ? ", request sent)" : ", nothing sent)");
}

std::string default_user_agent() {
  std::string ua = "ispflow/0.1";
  auto id = common::current_log_instance();
  if (id.empty())
    return ua;
  // A User-Agent comment is ctext (RFC 9110 section 5.6.5): no controls,
  // no parentheses or backslash.
  for (auto& c : id)
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f || c == '('
        || c == ')' || c == '\\')
      c = '_';
  ua += " (";
  ua += id;
  ua += ')';
  return ua;
}

std::string path_of(std::string_view url) {
  auto scheme = url.find("://");
  auto start = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  if (start == std::string_view::npos)
    return "/";
  return std::string{url.substr(start, url.find('?', start) - start)};
}

std::string origin_of(std::string_view url) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0)
    return {};
  std::string scheme{url.substr(0, sep)};
  for (auto& c : scheme)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto rest = url.substr(sep + 3);
  auto authority = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  std::string host{authority};
  std::string port;
  // "[v6]:port", "host:port" or a bare host.
  auto close = authority.rfind(']');
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos
      && (close == std::string_view::npos || colon > close)) {
    host = std::string{authority.substr(0, colon)};
    port = std::string{authority.substr(colon + 1)};
  }
  if (host.empty())
    return {};
  for (auto& c : host)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (port.empty())
    port = scheme == "https" ? "443" : scheme == "http" ? "80" : "";
  return scheme + "://" + host + (port.empty() ? "" : ":" + port);
}

bool is_idempotent(std::string_view method) noexcept {
  for (auto m : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
    if (iequals(method, m))
      return true;
  return false;
}

bool is_transient(const response& x) noexcept {
  if (!x.has_response())
    return x.error != transport_error::bad_url;
  return x.status == 429 || x.status == 502 || x.status == 503
         || x.status == 504;
}

bool safe_to_retry(const request& req, const response& res) noexcept {
  return is_transient(res) && (is_idempotent(req.method) || !res.request_sent);
}

struct client::impl {
  client_options opts;
  CURLM* multi = nullptr;

  std::mutex mtx;
  std::deque<std::unique_ptr<transfer>> incoming; // guarded by mtx
  bool stopping = false;                          // guarded by mtx

  std::atomic<std::size_t> pending{0};
  std::mutex join_mtx; // one joiner at a time
  std::thread worker;
  std::thread::id worker_id;

  // Client thread only.
  std::unordered_map<CURL*, std::unique_ptr<transfer>> running;

  ~impl() {
    if (multi != nullptr)
      curl_multi_cleanup(multi);
  }

  void finish(std::unique_ptr<transfer> t) {
    t->res.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      steady::now() - t->submitted);
    auto done = std::move(t->done);
    auto res = std::move(t->res);
    t.reset();
    pending.fetch_sub(1, std::memory_order_relaxed);
    if (done) {
      try {
        done(std::move(res));
      } catch (...) {
        // A completion must not take the client thread down.
      }
    }
  }

  static void fail(transfer& t, transport_error err, std::string text,
                   bool sent) {
    t.res.status = 0;
    t.res.error = err;
    t.res.error_text = std::move(text);
    t.res.request_sent = sent;
  }

  bool configure(transfer& t) {
    auto* e = curl_easy_init();
    if (e == nullptr)
      return false;
    t.easy = e;
    t.max_body = opts.max_body_bytes;
    auto& req = t.req;
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(
      e, CURLOPT_TIMEOUT_MS,
      static_cast<long>(std::max<int64_t>(req.timeout.count(), 1)));
    curl_easy_setopt(
      e, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(std::max<int64_t>(req.connect_timeout.count(), 1)));
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error_buffer);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, &on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, &t);
    // Certificates are verified unless the origin (or the whole client) is
    // explicitly configured otherwise.
    bool verify = opts.verify_tls;
    const std::string* ca_file = &opts.ca_file;
    if (!opts.origins.empty()) {
      auto origin = origin_of(req.url);
      for (auto& o : opts.origins)
        if (o.origin == origin) {
          verify = !o.insecure_skip_verify;
          if (!o.ca_file.empty())
            ca_file = &o.ca_file;
          break;
        }
    }
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    if (!ca_file->empty())
      curl_easy_setopt(e, CURLOPT_CAINFO, ca_file->c_str());
    if (!opts.user_agent.empty())
      curl_easy_setopt(e, CURLOPT_USERAGENT, opts.user_agent.c_str());

    const auto& m = req.method;
    auto with_body = !req.body.empty() || iequals(m, "POST")
                     || iequals(m, "PUT") || iequals(m, "PATCH");
    // A non-idempotent request reuses a keep-alive connection like any
    // other, but is sent at most once: on_prereq stops libcurl's own resend
    // after a reused connection died without an answer, and the caller gets
    // `connection_lost` with the request sent. That race needs the server
    // to close an idle connection just as the request goes out, so such a
    // request takes only a connection idle for less than a second (servers
    // close idle ones after 2 s or more: gunicorn 2, Node 5, nginx 75);
    // an older one is closed and a new one opened.
    t.once_only = !is_idempotent(m);
    if (t.once_only)
      curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 1L);
    if (iequals(m, "HEAD")) {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (iequals(m, "GET") && !with_body) {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
      if (!iequals(m, "POST"))
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m.c_str());
      if (with_body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(req.body.size()));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req.body.data());
      }
    }

    bool has_content_type = false;
    for (const auto& [name, value] : req.headers) {
      if (iequals(name, "Content-Type"))
        has_content_type = true;
      // "Name;" is libcurl's syntax for a header with an empty value.
      auto line = value.empty() ? name + ";" : name + ": " + value;
      auto* next = curl_slist_append(t.headers, line.c_str());
      if (next == nullptr)
        return false;
      t.headers = next;
    }
    if (auto tp = child_traceparent(req.traceparent); !tp.empty()) {
      auto line = "traceparent: " + tp;
      auto* next = curl_slist_append(t.headers, line.c_str());
      if (next == nullptr)
        return false;
      t.headers = next;
    }
    // No 100-continue round trip, and no form content type by default.
    for (const char* extra : {"Expect:", "Content-Type:"}) {
      if (std::string_view{extra} == "Content-Type:"
          && (has_content_type || !with_body))
        continue;
      auto* next = curl_slist_append(t.headers, extra);
      if (next == nullptr)
        return false;
      t.headers = next;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers);
    return true;
  }

  void start(std::unique_ptr<transfer> t) {
    if (!configure(*t)) {
      fail(*t, transport_error::other, "cannot set up the transfer", false);
      finish(std::move(t));
      return;
    }
    if (auto rc = curl_multi_add_handle(multi, t->easy); rc != CURLM_OK) {
      fail(*t, transport_error::other, curl_multi_strerror(rc), false);
      finish(std::move(t));
      return;
    }
    auto* key = t->easy;
    running.emplace(key, std::move(t));
  }

  void collect() {
    int left = 0;
    while (auto* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      auto* easy = msg->easy_handle;
      auto rc = msg->data.result;
      curl_multi_remove_handle(multi, easy);
      auto i = running.find(easy);
      if (i == running.end())
        continue;
      auto t = std::move(i->second);
      running.erase(i);
      classify(*t, rc);
      finish(std::move(t));
    }
  }

  void run() {
    common::name_this_thread("isp.http");
    for (;;) {
      std::deque<std::unique_ptr<transfer>> batch;
      bool stop = false;
      {
        std::lock_guard<std::mutex> guard{mtx};
        batch.swap(incoming);
        stop = stopping;
      }
      if (stop) {
        for (auto& t : batch) {
          fail(*t, transport_error::other, std::string{shut_down_text}, false);
          finish(std::move(t));
        }
        break;
      }
      for (auto& t : batch)
        start(std::move(t));
      int still_running = 0;
      curl_multi_perform(multi, &still_running);
      collect();
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
    // Shutting down: everything still running ends now.
    for (auto& [easy, t] : running) {
      curl_multi_remove_handle(multi, easy);
      fail(*t, transport_error::other, std::string{shut_down_text},
           maybe_sent(easy));
      finish(std::move(t));
    }
    running.clear();
    // Submissions that raced with the stop flag.
    std::deque<std::unique_ptr<transfer>> late;
    {
      std::lock_guard<std::mutex> guard{mtx};
      late.swap(incoming);
    }
    for (auto& t : late) {
      fail(*t, transport_error::other, std::string{shut_down_text}, false);
      finish(std::move(t));
    }
  }
};

client::client(std::shared_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

caf::expected<std::unique_ptr<client>> client::make(client_options opts) {
  try {
    ensure_global_init();
    auto ptr = std::make_shared<impl>();
    ptr->opts = std::move(opts);
    ptr->multi = curl_multi_init();
    if (ptr->multi == nullptr)
      return caf::make_error(errc::unspecified,
                             std::string{"curl_multi_init failed"});
    curl_multi_setopt(
      ptr->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
      static_cast<long>(std::max(ptr->opts.max_connections_per_host, 0)));
    curl_multi_setopt(
      ptr->multi, CURLMOPT_MAXCONNECTS,
      static_cast<long>(std::max(ptr->opts.max_cached_connections, 1)));
    // The thread holds the state too, so a client destroyed from one of its
    // own completions can let the thread finish on its own.
    ptr->worker = std::thread{[self = ptr] { self->run(); }};
    ptr->worker_id = ptr->worker.get_id();
    return std::unique_ptr<client>{new client(std::move(ptr))};
  } catch (const std::exception& ex) {
    return caf::make_error(errc::unspecified,
                           std::string{"cannot start the HTTP client: "}
                             + ex.what());
  }
}

client::~client() {
  shutdown();
  std::lock_guard<std::mutex> guard{impl_->join_mtx};
  if (impl_->worker.joinable()) {
    // Only reached when destroyed from a completion on the worker itself.
    impl_->worker.detach();
  }
}

void client::submit(request req, completion done) {
  auto t = std::make_unique<transfer>();
  t->req = std::move(req);
  t->done = std::move(done);
  t->submitted = steady::now();
  impl_->pending.fetch_add(1, std::memory_order_relaxed);
  if (!common::effect_gate::open()) {
    // Nothing is sent while this instance's leases are unconfirmed.
    impl::fail(*t, transport_error::other,
               std::string{common::effect_gate::closed_text}, false);
    impl_->finish(std::move(t));
    return;
  }
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (!impl_->stopping) {
      impl_->incoming.push_back(std::move(t));
    }
  }
  if (t) {
    impl::fail(*t, transport_error::other, std::string{shut_down_text}, false);
    impl_->finish(std::move(t));
    return;
  }
  curl_multi_wakeup(impl_->multi);
}

void client::shutdown() {
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->stopping = true;
  }
  curl_multi_wakeup(impl_->multi);
  if (std::this_thread::get_id() == impl_->worker_id)
    return; // the loop ends once the running completion returns
  std::lock_guard<std::mutex> guard{impl_->join_mtx};
  if (impl_->worker.joinable())
    impl_->worker.join();
}

std::size_t client::in_flight() const noexcept {
  return impl_->pending.load(std::memory_order_relaxed);
}

const client_options& client::options() const noexcept {
  return impl_->opts;
}

} // namespace ispflow::adapters::http
