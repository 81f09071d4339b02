#include "actors/admin/server.hpp"

#include "actors/admin/cluster_view.hpp"
#include "actors/admin/request.hpp"
#include "actors/admin/store.hpp"
#include "actors/admin/subscribers.hpp"
#include "adapters/http/front.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "common/thread_name.hpp"
#include "events/cloud_event.hpp"
#include "events/errc.hpp"
#include "events/intake_check.hpp"
#include "events/json/bounded_parse.hpp"
#include "sagas/admission.hpp"
#include "sagas/json_secrets.hpp"
#include "sagas/states.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <httplib.h>
#include <map>
#include <mutex>
#include <random>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <regex>
#include <thread>

namespace ispflow::actors::admin {

namespace detail {

/// The web console's static files by name ("index.html", "app.js", ...),
/// generated from actors/admin/console/ by console/embed.cmake.
std::map<std::string, std::string> console_files();

} // namespace detail

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;
using detail::base64;
using detail::dead_letter_cursor;
using detail::id_param;
using detail::limit_param;
using detail::parse_dead_letter_cursor;
using detail::parse_saga_cursor;
using detail::saga_cursor;
using detail::time_param;
using detail::unbase64;

constexpr const char* json_type = "application/json";
constexpr uint32_t default_limit = 50;
constexpr uint32_t max_limit = 500;
constexpr uint32_t default_redrive_limit = 1000;
constexpr uint32_t max_redrive_limit = 10000;
constexpr const char* redrive_source = "ispflow/redrive";
constexpr const char* replay_source = "ispflow/replay";

// The console's own files only: no inline script or style, no other origin,
// no form submission (the token never lands in a URL), no framing.
constexpr const char* console_csp
  = "default-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

const char* console_content_type(std::string_view name) {
  if (name.ends_with(".html"))
    return "text/html; charset=utf-8";
  if (name.ends_with(".js"))
    return "text/javascript; charset=utf-8";
  if (name.ends_with(".css"))
    return "text/css; charset=utf-8";
  return "application/octet-stream";
}

// -- small codecs -------------------------------------------------------------

bool is_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    if (c < 0x80)
      n = 0;
    else if ((c >> 5) == 6)
      n = 1;
    else if ((c >> 4) == 14)
      n = 2;
    else if ((c >> 3) == 30)
      n = 3;
    else
      return false;
    if (i + n >= s.size())
      return false;
    for (size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2)
        return false;
    i += n + 1;
  }
  return true;
}

std::string uuid_v4() {
  thread_local std::mt19937_64 gen{
    std::random_device{}()
    ^ static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count())};
  uint64_t hi = gen();
  uint64_t lo = gen();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff),
                static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

bool secret_key(std::string_view key) {
  std::string k{key};
  for (auto& c : k)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto word : {"password", "secret", "token", "psk"})
    if (k.find(word) != std::string::npos)
      return true;
  return false;
}

// Replaces the values of secret-looking keys, at any depth.
void redact(rapidjson::Value& v, rapidjson::Document::AllocatorType& alloc) {
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      if (m.name.IsString()
          && secret_key({m.name.GetString(), m.name.GetStringLength()}))
        m.value.SetString("[redacted]", alloc);
      else
        redact(m.value, alloc);
    }
  } else if (v.IsArray()) {
    for (auto& x : v.GetArray())
      redact(x, alloc);
  }
}

// True for a stored payload whose credentials have lost their password
// (its saga started: schema/0019).
bool lost_credentials(const std::string& payload) {
  rapidjson::Document doc;
  events::json::parse_bounded(doc, payload);
  if (doc.HasParseError() || !doc.IsObject())
    return false;
  auto c = doc.FindMember("credentials");
  return c != doc.MemberEnd() && c->value.IsObject()
         && !c->value.HasMember("password");
}

// The bytes a settled (re-driven or dismissed) dead letter keeps: a JSON
// value without its secret-looking keys; other bytes that name a secret are
// dropped whole (nothing can tell the secret from the rest). Nothing when
// the value is kept as it is.
std::optional<std::string> settled_value(const std::string& value) {
  rapidjson::Document doc;
  events::json::parse_bounded(doc, value);
  if (!doc.HasParseError() && is_utf8(value)) {
    if (!sagas::erase_secret_members(doc))
      return std::nullopt;
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w{buf};
    doc.Accept(w);
    return std::string{buf.GetString(), buf.GetSize()};
  }
  if (secret_key(value))
    return std::string{};
  return std::nullopt;
}

void write_string(json_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_opt(json_writer& w, const std::optional<std::string>& s) {
  if (s)
    write_string(w, *s);
  else
    w.Null();
}

void write_raw(json_writer& w, const std::string& json) {
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

// -- replies ------------------------------------------------------------------

struct reply {
  int status = 200;
  std::string body;
  /// "ok" or the error code; recorded in the audit row.
  std::string result = "ok";
  /// Sent as the Location header when not empty.
  std::string location = {};
};

reply error_reply(int status, std::string_view code, std::string_view message) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  write_string(w, code);
  w.Key("message");
  write_string(w, message);
  w.EndObject();
  w.EndObject();
  return {status, buf.GetString(), std::string{code}};
}

std::string error_detail(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

bool is_ours(const caf::error& err, errc code) {
  return err.category() == caf::atom("ispflow")
         && static_cast<errc>(err.code()) == code;
}

reply from_error(const caf::error& err) {
  if (err.category() != caf::atom("ispflow"))
    return error_reply(500, "internal", to_string(err));
  auto detail = error_detail(err);
  switch (static_cast<errc>(err.code())) {
    case errc::database_unavailable:
      return error_reply(503, "database_unavailable",
                         "the database cannot be reached");
    case errc::invalid_input:
      return error_reply(400, "invalid_request", detail);
    case errc::timeout:
      return error_reply(504, "timeout", detail);
    case errc::shutting_down:
      return error_reply(503, "shutting_down", detail);
    default:
      return error_reply(500, to_string(static_cast<errc>(err.code())), detail);
  }
}

// Errors of saga_control and breaker_control: invalid_input means the
// target is in the wrong state or unknown to the engine.
reply from_control_error(const caf::error& err, int invalid_status,
                         std::string_view invalid_code) {
  if (is_ours(err, errc::invalid_input))
    return error_reply(invalid_status, invalid_code, error_detail(err));
  return from_error(err);
}

reply not_found(std::string_view what) {
  return error_reply(404, "not_found", std::string{what} + " not found");
}

reply drift_reply(detail::drift_answer a) {
  if (!a.code.empty())
    return error_reply(a.status, a.code, a.message);
  return {a.status, std::move(a.body)};
}

reply subscriber_reply(detail::subscriber_answer a) {
  if (!a.code.empty())
    return error_reply(a.status, a.code, a.message);
  return {a.status, std::move(a.body)};
}

// -- request parsing
// ------------------------------------------------------------

std::string param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string{};
}

// -- dead letters
// ---------------------------------------------------------------

struct header_view {
  std::string key;
  std::string value;
  bool null_value = false;
};

std::vector<header_view> decode_headers(const std::string& json) {
  std::vector<header_view> out;
  rapidjson::Document d;
  events::json::parse_bounded(d, json);
  if (d.HasParseError() || !d.IsArray())
    return out;
  for (auto& h : d.GetArray()) {
    if (!h.IsObject())
      continue;
    header_view x;
    if (h.HasMember("key") && h["key"].IsString()) {
      x.key = h["key"].GetString();
    } else if (h.HasMember("key_base64") && h["key_base64"].IsString()) {
      x.key = unbase64(h["key_base64"].GetString()).value_or("");
    }
    // The stored header format (adapters/postgres/README.md): clean text
    // values as "text", others base64 in "value".
    if (h.HasMember("text") && h["text"].IsString())
      x.value.assign(h["text"].GetString(), h["text"].GetStringLength());
    else if (h.HasMember("value") && h["value"].IsString())
      x.value = unbase64(h["value"].GetString()).value_or("");
    x.null_value = h.HasMember("null") && h["null"].IsBool()
                   && h["null"].GetBool();
    out.push_back(std::move(x));
  }
  return out;
}

const header_view* find_header(const std::vector<header_view>& hs,
                               std::string_view key) {
  for (auto& h : hs)
    if (h.key == key && !h.null_value)
      return &h;
  return nullptr;
}

// Bytes as a JSON string when they are text, else as "<name>_base64".
void write_bytes(json_writer& w, const char* name, const std::string& bytes) {
  if (is_utf8(bytes)) {
    w.Key(name);
    write_string(w, bytes);
  } else {
    w.Key((std::string{name} + "_base64").c_str());
    write_string(w, base64(bytes));
  }
}

void write_dead_letter(json_writer& w, const detail::dead_letter_row& x,
                       bool full) {
  auto headers = decode_headers(x.headers_json);
  w.StartObject();
  w.Key("id");
  w.Int64(x.id);
  w.Key("topic");
  write_string(w, x.topic);
  w.Key("partition");
  w.Int(x.partition);
  w.Key("offset");
  w.Int64(x.offset);
  w.Key("error");
  write_string(w, x.error);
  w.Key("detail");
  write_string(w, x.detail);
  w.Key("tenant_id");
  write_opt(w, x.tenant_id);
  w.Key("created_at");
  write_string(w, x.created_at);
  w.Key("redriven_at");
  write_opt(w, x.redriven_at);
  w.Key("dismissed_at");
  write_opt(w, x.dismissed_at);
  for (auto name : {"ce_type", "ce_id", "ce_source", "ce_subject"}) {
    auto h = find_header(headers, name);
    if (h != nullptr && is_utf8(h->value)) {
      w.Key(name);
      write_string(w, h->value);
    }
  }
  if (full) {
    if (x.key) {
      write_bytes(w, "key", *x.key);
    } else {
      w.Key("key");
      w.Null();
    }
    // A JSON value is shown parsed and redacted; other bytes as they are.
    rapidjson::Document doc;
    events::json::parse_bounded(doc, x.value);
    if (!doc.HasParseError() && is_utf8(x.value)) {
      redact(doc, doc.GetAllocator());
      w.Key("value");
      doc.Accept(w);
    } else {
      write_bytes(w, "value_text", x.value);
    }
    w.Key("headers");
    w.StartArray();
    for (auto& h : headers) {
      w.StartObject();
      write_bytes(w, "key", h.key);
      if (h.null_value) {
        w.Key("value");
        w.Null();
      } else {
        write_bytes(w, "value", h.value);
      }
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
}

events::kafka_record record_of(const detail::dead_letter_row& x,
                               const std::optional<std::string>& value) {
  events::kafka_record rec;
  rec.topic = x.topic;
  rec.partition = x.partition;
  rec.offset = x.offset;
  rec.null_key = !x.key.has_value();
  rec.key = x.key.value_or("");
  rec.value = value.value_or(x.value);
  for (auto& h : decode_headers(x.headers_json))
    rec.headers.push_back({h.key, h.value, h.null_value});
  return rec;
}

// A fresh binary-mode record for an inbox event: new identity, same data,
// same origin (topic, partition, offset) so that the partition's owner
// starts it.
events::kafka_record record_of(const detail::inbox_row& x,
                               const std::string& source,
                               const std::string& id) {
  events::cloud_event ev;
  ev.id = id;
  ev.source = source;
  ev.type = x.type;
  ev.time = x.event_time;
  ev.subject = x.subscriber_id;
  ev.tenant_id = x.tenant_id;
  ev.traceparent = x.traceparent;
  ev.data = x.payload;
  auto rec = events::encode_binary(ev, x.topic);
  rec.partition = x.partition;
  rec.offset = x.offset;
  return rec;
}

void write_accepted(json_writer& w, const events::accepted_event& ev) {
  w.StartObject();
  w.Key("source");
  write_string(w, ev.source);
  w.Key("event_id");
  write_string(w, ev.id);
  w.Key("type");
  write_string(w, ev.type);
  w.Key("tenant_id");
  write_string(w, ev.tenant_id);
  w.Key("subscriber_id");
  write_string(w, ev.subject);
  w.EndObject();
}

// What the audit row says about a request.
struct audit_note {
  std::string target;
  std::string request_json = "{}";
};

// A POST route, known before its body is read.
struct post_route {
  std::regex pattern;
  std::string name;
};

// The gauge families of /metrics that one query of the background refresh
// computes, by name.
using gauge_values = std::vector<std::pair<std::string, std::vector<sample>>>;
using gauge_source = caf::expected<gauge_values> (*)(detail::store&);

using read_handler
  = std::function<reply(const httplib::Request&, const principal&)>;
using write_handler = std::function<reply(const httplib::Request&,
                                          const principal&, audit_note&)>;

} // namespace

// -- server -------------------------------------------------------------------

struct admin_server::impl {
  admin_settings cfg;
  admin_deps deps;
  authenticator auth;
  std::unique_ptr<metrics_registry> own_metrics;
  metrics_registry* metrics = nullptr;
  std::vector<uint64_t> callbacks;
  family<counter>* requests = nullptr;
  counter* audit_failures = nullptr;
  family<counter>* refused = nullptr;
  counter* refresh_failures = nullptr;
  family<gauge>* ready_gauge = nullptr;
  family<gauge>* ready_checks = nullptr;
  detail::store db;
  detail::subscriber_routes subscribers{deps.dsn};
  detail::drift_routes drift{deps.dsn};
  std::mutex intake_mtx;
  std::optional<adapters::postgres::intake_store> intake;
  /// Connections to operator_commands not in use (one per request at most).
  std::mutex commands_mtx;
  std::vector<adapters::postgres::operator_command_store> command_pool;
  std::map<std::string, std::string> console = detail::console_files();
  adapters::http::router svr;
  /// Serves /metrics when `cfg.metrics_address` is set.
  adapters::http::router metrics_svr;
  std::vector<post_route> post_routes;
  SSL_CTX* tls = nullptr;
  std::unique_ptr<adapters::http::front> api_front;
  std::unique_ptr<adapters::http::front> metrics_front;
  bool started = false;
  uint16_t bound = 0;
  uint16_t metrics_bound = 0;
  // The database gauges, recomputed by `refresher` every metrics_refresh.
  std::vector<gauge_source> gauge_sources;
  std::mutex gauges_mtx;
  std::map<std::string, std::vector<sample>> gauges;
  std::condition_variable refresh_cv;
  bool refresh_stop = false;
  std::thread refresher;

  impl(admin_settings settings, admin_deps d)
    : cfg(std::move(settings)),
      deps(std::move(d)),
      auth(cfg.tokens),
      db(deps.dsn, std::max<uint32_t>(cfg.db_connections, 1)) {
    // nop
  }

  ~impl() {
    stop();
    if (metrics != nullptr)
      for (auto id : callbacks)
        metrics->remove_callback(id);
    adapters::http::free_tls_context(tls);
  }

  void stop() {
    if (api_front)
      api_front->stop();
    if (metrics_front)
      metrics_front->stop();
    {
      std::lock_guard<std::mutex> guard{gauges_mtx};
      refresh_stop = true;
    }
    refresh_cv.notify_all();
    if (refresher.joinable())
      refresher.join();
  }

  // Recomputes the database gauges; a failed query keeps the last values.
  void refresh_gauges() {
    auto checks = readiness();
    bool ok = true;
    for (auto& [name, why] : checks) {
      ready_checks->with({name}).set(why.empty() ? 1 : 0);
      ok = ok && why.empty();
    }
    ready_gauge->with({}).set(ok ? 1 : 0);
    for (auto src : gauge_sources) {
      caf::expected<gauge_values> xs = gauge_values{};
      try {
        xs = src(db);
      } catch (...) {
        xs = caf::make_error(errc::database_error, "gauge refresh failed");
      }
      if (!xs) {
        refresh_failures->inc();
        continue;
      }
      std::lock_guard<std::mutex> guard{gauges_mtx};
      for (auto& [name, samples] : *xs)
        gauges[name] = std::move(samples);
    }
  }

  void run_refresher() {
    common::name_this_thread("isp.admin.stats");
    std::unique_lock<std::mutex> guard{gauges_mtx};
    for (;;) {
      refresh_cv.wait_for(guard, cfg.metrics_refresh,
                          [this] { return refresh_stop; });
      if (refresh_stop)
        return;
      guard.unlock();
      refresh_gauges();
      guard.lock();
    }
  }

  caf::error init_metrics() {
    if (deps.metrics == nullptr) {
      own_metrics = std::make_unique<metrics_registry>();
      metrics = own_metrics.get();
    } else {
      metrics = deps.metrics;
    }
    auto req = metrics->counters("ispflow_admin_requests_total",
                                 "Admin API requests by route and status.",
                                 {"route", "status"});
    if (!req)
      return req.error();
    requests = *req;
    auto af = metrics->counters("ispflow_admin_audit_failures_total",
                                "Admin writes whose audit row failed.");
    if (!af)
      return af.error();
    audit_failures = &(*af)->with({});
    auto rf = metrics->counters(
      "ispflow_admin_connections_refused_total",
      "Admin connections refused at accept or in the TLS handshake, by reason"
      " (per_client, total, tls).",
      {"reason"});
    if (!rf)
      return rf.error();
    refused = *rf;
    auto gf = metrics->counters(
      "ispflow_admin_metrics_refresh_failures_total",
      "Queries of the background refresh of /metrics' database gauges that"
      " failed (their gauges keep the last values).");
    if (!gf)
      return gf.error();
    refresh_failures = &(*gf)->with({});
    metric_definer definer{*metrics};
    ready_gauge = definer.gauges(
      "ispflow_ready",
      "1 when every readiness check (as /readyz) passed at the last refresh,"
      " else 0.");
    ready_checks = definer.gauges(
      "ispflow_ready_check",
      "Readiness checks at the last refresh by name: 1 passed, 0 failed.",
      {"check"});
    if (definer.error())
      return definer.error();
    struct cb_def {
      const char* name;
      const char* help;
    };
    // Two of the refresh's three queries compute two gauges each.
    gauge_sources = {
      [](detail::store& st) -> caf::expected<gauge_values> {
        auto xs = st.outbox_gauges();
        if (!xs)
          return xs.error();
        return gauge_values{{"ispflow_outbox_backlog", std::move(xs->backlog)},
                            {"ispflow_outbox_oldest_age_seconds",
                             std::move(xs->oldest_age)}};
      },
      [](detail::store& st) -> caf::expected<gauge_values> {
        auto xs = st.dead_letters_open();
        if (!xs)
          return xs.error();
        return gauge_values{{"ispflow_dead_letters", std::move(*xs)}};
      },
      [](detail::store& st) -> caf::expected<gauge_values> {
        auto xs = st.open_saga_gauges();
        if (!xs)
          return xs.error();
        return gauge_values{{"ispflow_sagas", std::move(xs->by_state)},
                            {"ispflow_saga_oldest_active_seconds",
                             std::move(xs->oldest_active)}};
      },
    };
    for (
      auto& def :
      {cb_def{"ispflow_outbox_backlog",
              "Outbox records not yet published, by topic."},
       cb_def{
         "ispflow_dead_letters",
         "Dead letters neither re-driven nor dismissed, by tenant and error."},
       cb_def{"ispflow_sagas",
              "Open sagas (pending, running, compensating, needs_attention)"
              " by tenant, type and state; finished ones are counted by"
              " ispflow_sagas_finished_total."},
       cb_def{"ispflow_outbox_oldest_age_seconds",
              "Age of the oldest outbox record not yet published, by topic"
              " (the relay's lag; no sample when nothing is pending)."},
       cb_def{"ispflow_saga_oldest_active_seconds",
              "Seconds since the last transition of the longest-idle saga"
              " in pending, running or compensating, by tenant, type and"
              " state."}}) {
      // Scrapes read the last refresh: a scrape never queries the database.
      std::string name = def.name;
      auto id = metrics->add_callback(
        def.name, def.help, metric_kind::gauge,
        [this, name]() -> caf::expected<std::vector<sample>> {
          std::lock_guard<std::mutex> guard{gauges_mtx};
          auto i = gauges.find(name);
          if (i == gauges.end())
            return std::vector<sample>{};
          return i->second;
        });
      if (!id)
        return id.error();
      callbacks.push_back(*id);
    }
    return {};
  }

  // -- plumbing
  // -----------------------------------------------------------------

  void send(httplib::Response& res, const std::string& route, const reply& r) {
    res.status = r.status;
    res.set_content(r.body, json_type);
    if (!r.location.empty())
      res.set_header("Location", r.location);
    requests->with({route, std::to_string(r.status)}).inc();
  }

  // 401 without a known token, 403 without the scope.
  std::variant<principal, reply> authorize(const httplib::Request& req,
                                           std::string_view scope) {
    auto header = req.get_header_value("Authorization");
    auto token = authenticator::bearer_token(header);
    if (!token)
      return error_reply(401, "unauthorized", "a bearer token is required");
    auto who = auth.authenticate(*token);
    if (!who)
      return error_reply(401, "unauthorized", "unknown token");
    if (!who->has(scope))
      return error_reply(403, "forbidden",
                         "the token lacks the scope " + std::string{scope});
    return std::move(*who);
  }

  template <class F>
  reply guarded(F&& f) {
    try {
      return f();
    } catch (const std::exception& e) {
      return error_reply(500, "internal", e.what());
    } catch (...) {
      return error_reply(500, "internal", "unexpected failure");
    }
  }

  void get(const std::string& pattern, const std::string& route,
           std::string_view scope, read_handler h) {
    svr.Get(pattern, [this, route, scope, h](const httplib::Request& req,
                                             httplib::Response& res) {
      auto r = guarded([&] {
        auto who = authorize(req, scope);
        if (auto rep = std::get_if<reply>(&who)) {
          if (rep->status == 401)
            res.set_header("WWW-Authenticate", "Bearer");
          return *rep;
        }
        return h(req, std::get<principal>(who));
      });
      send(res, route, r);
    });
  }

  // -- before the body
  // -----------------------------------------------------------------

  // A POST refused before its handler ran is audited like the others when
  // its token is known (`target` is the route's first capture).
  void audit_refusal(const httplib::Request& req, const post_route& route,
                     const reply& r) {
    auto header = req.get_header_value("Authorization");
    auto token = authenticator::bearer_token(header);
    auto who = token ? auth.authenticate(*token) : std::nullopt;
    if (!who)
      return;
    detail::audit_entry e;
    e.token_name = who->name;
    e.tenant_id = who->tenant;
    e.action = route.name;
    std::smatch m;
    if (std::regex_match(req.path, m, route.pattern) && m.size() > 1)
      e.target = m[1];
    e.status = r.status;
    e.result = r.result;
    if (!db.audit(e))
      audit_failures->inc();
  }

  // Answer `res` and close the connection afterwards: the request's body,
  // if any, is left unread.
  static void close_after(httplib::Response& res) {
    res.set_header("Connection", "close");
    if (auto conn = adapters::http::current_connection())
      conn->close_after_response();
  }

  // Runs once a request's headers are in, before any byte of its body is
  // read: a body goes only to a known POST route, with a known token, and
  // a declared length within max_body_bytes (chunked and compressed bodies
  // are counted as they are decoded, see `post`). `api` is false on the
  // separate metrics listener, which takes no body at all. True if `res`
  // holds the refusal.
  bool refused_early(const httplib::Request& req, httplib::Response& res,
                     bool api) {
    bool chunked = req.has_header("Transfer-Encoding");
    bool has_length = req.has_header("Content-Length");
    uint64_t length = 0;
    std::optional<reply> r;
    if (has_length) {
      auto text = req.get_header_value("Content-Length");
      auto parsed = std::from_chars(text.data(), text.data() + text.size(),
                                    length);
      if (parsed.ec != std::errc{} || parsed.ptr != text.data() + text.size()
          || text.empty())
        r = error_reply(400, "invalid_request", "bad Content-Length");
    }
    bool has_body = chunked || length > 0;
    std::string route = "unrouted";
    const post_route* target = nullptr;
    if (api && req.method == "POST")
      for (auto& pr : post_routes)
        if (std::regex_match(req.path, pr.pattern)) {
          target = &pr;
          route = pr.name;
          break;
        }
    if (r) {
      // bad Content-Length
    } else if (target == nullptr) {
      if (has_body)
        r = req.method == "POST" || req.method == "PUT" || req.method == "PATCH"
                || req.method == "DELETE"
              ? error_reply(404, "not_found", "no such route")
              : error_reply(400, "invalid_request",
                            "this request must not carry a body");
    } else if (!chunked && !has_length) {
      r = error_reply(411, "length_required",
                      "send Content-Length or a chunked body");
    } else {
      auto header = req.get_header_value("Authorization");
      auto token = authenticator::bearer_token(header);
      if (!token)
        r = error_reply(401, "unauthorized", "a bearer token is required");
      else if (!auth.authenticate(*token))
        r = error_reply(401, "unauthorized", "unknown token");
      else if (length > cfg.max_body_bytes)
        r = body_too_large();
    }
    if (!r) {
      if (has_body)
        if (auto conn = adapters::http::current_connection())
          conn->begin_body();
      return false;
    }
    if (r->status == 401)
      res.set_header("WWW-Authenticate", "Bearer");
    else if (target != nullptr)
      audit_refusal(req, *target, *r);
    close_after(res);
    send(res, route, *r);
    return true;
  }

  reply body_too_large() const {
    return error_reply(413, "body_too_large",
                       "the body exceeds " + std::to_string(cfg.max_body_bytes)
                         + " bytes");
  }

  void guard_bodies(adapters::http::router& router, bool api) {
    router.set_pre_routing_handler(
      [this, api](const httplib::Request& req, httplib::Response& res) {
        return refused_early(req, res, api)
                 ? httplib::Server::HandlerResponse::Handled
                 : httplib::Server::HandlerResponse::Unhandled;
      });
    // "Expect: 100-continue" is answered before routing: the same checks
    // decide whether the client may send its body.
    router.set_expect_100_continue_handler(
      [this, api](const httplib::Request& req, httplib::Response& res) {
        return refused_early(req, res, api) ? res.status : 100;
      });
  }

  // Writes are audited once the token is known, whatever the outcome.
  void post(const std::string& pattern, const std::string& route,
            const std::string& action, std::string_view scope,
            write_handler h) {
    post_routes.push_back({std::regex{pattern}, route});
    svr.Post(pattern, [this, route, action, scope, h, pr = post_routes.back()](
                        const httplib::Request& req, httplib::Response& res,
                        const httplib::ContentReader& read) {
      // The token was checked before this (refused_early). The body is
      // counted as decoded: after the chunked framing and gzip/br.
      std::string body;
      bool too_large = false;
      bool complete = read([&](const char* data, size_t n) {
        if (body.size() + n > cfg.max_body_bytes) {
          too_large = true;
          return false;
        }
        body.append(data, n);
        return true;
      });
      if (!complete) {
        auto r = too_large ? body_too_large()
                           : error_reply(400, "invalid_request",
                                         "the body could not be read or "
                                         "decoded");
        audit_refusal(req, pr, r);
        close_after(res);
        send(res, route, r);
        return;
      }
      // httplib passes its own request object as const; the handlers below
      // read the body from it.
      const_cast<httplib::Request&>(req).body = std::move(body);
      audit_note note;
      if (req.matches.size() > 1)
        note.target = req.matches[1];
      std::optional<principal> who;
      auto r = guarded([&] {
        auto header = req.get_header_value("Authorization");
        auto token = authenticator::bearer_token(header);
        if (token)
          who = auth.authenticate(*token);
        auto checked = authorize(req, scope);
        if (auto rep = std::get_if<reply>(&checked)) {
          if (rep->status == 401)
            res.set_header("WWW-Authenticate", "Bearer");
          return *rep;
        }
        return h(req, std::get<principal>(checked), note);
      });
      if (who) {
        detail::audit_entry e;
        e.token_name = who->name;
        e.tenant_id = who->tenant;
        e.action = action;
        e.target = note.target;
        e.request_json = note.request_json;
        e.status = r.status;
        e.result = r.result;
        if (!db.audit(e))
          audit_failures->inc();
      }
      send(res, route, r);
    });
  }

  std::optional<reply> tenant_filter(const principal& who,
                                     std::string& tenant) {
    if (!who.tenant)
      return std::nullopt;
    if (!tenant.empty() && tenant != *who.tenant)
      return error_reply(403, "forbidden_tenant",
                         "the token is restricted to another tenant");
    tenant = *who.tenant;
    return std::nullopt;
  }

  // -- sagas
  // --------------------------------------------------------------------

  reply list_sagas(const httplib::Request& req, const principal& who) {
    detail::saga_query q;
    q.tenant = param(req, "tenant");
    if (auto r = tenant_filter(who, q.tenant))
      return *r;
    q.subscriber = param(req, "subscriber");
    q.type = param(req, "type");
    q.state = param(req, "state");
    if (!q.state.empty() && !sagas::parse_saga_state(q.state))
      return error_reply(400, "invalid_request", "unknown state " + q.state);
    auto from = time_param(param(req, "from"), "-infinity");
    auto to = time_param(param(req, "to"), "infinity");
    if (!from || !to)
      return error_reply(400, "invalid_request",
                         "from and to must be RFC 3339 date-times");
    q.from = *from;
    q.to = *to;
    auto limit = limit_param(param(req, "limit"), default_limit, max_limit);
    if (!limit)
      return error_reply(400, "invalid_request",
                         "limit must be a positive integer");
    auto cursor = param(req, "cursor");
    if (!cursor.empty()) {
      auto pos = parse_saga_cursor(cursor);
      if (!pos)
        return error_reply(400, "invalid_cursor", "the cursor is not valid");
      q.after_ts = pos->first;
      q.after_id = pos->second;
    }
    q.limit = *limit + 1;
    auto p = db.list_sagas(q);
    if (!p)
      return from_error(p.error());
    bool more = p->items.size() > *limit;
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    w.StartObject();
    w.Key("items");
    w.StartArray();
    for (size_t i = 0; i < std::min<size_t>(p->items.size(), *limit); ++i)
      write_raw(w, p->items[i]);
    w.EndArray();
    w.Key("next_cursor");
    if (more) {
      // The keyset of the last item shown; fetch the row's position again.
      auto shown = *limit;
      rapidjson::Document d;
      events::json::parse_bounded(d, p->items[shown - 1]);
      write_string(w, saga_cursor(d["created_at"].GetString(),
                                  d["id"].GetString()));
    } else {
      w.Null();
    }
    w.EndObject();
    return {200, buf.GetString()};
  }

  reply show_saga(const httplib::Request& req, const principal& who) {
    auto found = db.saga_detail(req.matches[1]);
    if (!found)
      return from_error(found.error());
    // Another tenant's saga is "not found": ids cannot be probed.
    if (!*found || !who.may_see((*found)->first))
      return not_found("saga");
    return {200, (*found)->second};
  }

  // The saga of the path, visible to `who`, or the reply to send.
  std::variant<detail::saga_ref, reply> visible_saga(const std::string& id,
                                                     const principal& who) {
    auto ref = db.find_saga(id);
    if (!ref)
      return from_error(ref.error());
    if (!*ref || !who.may_see((*ref)->tenant_id))
      return not_found("saga");
    return **ref;
  }

  // -- operator commands (commands.hpp)
  // ----------------------------------------------------------

  using command_store = adapters::postgres::operator_command_store;
  using command = adapters::postgres::operator_command;

  // A connection of the pool, or a new one; give it back when done.
  caf::expected<command_store> borrow_commands() {
    {
      std::lock_guard<std::mutex> guard{commands_mtx};
      if (!command_pool.empty()) {
        auto out = std::move(command_pool.back());
        command_pool.pop_back();
        return out;
      }
    }
    return command_store::connect(deps.dsn);
  }

  void give_back(command_store&& conn) {
    std::lock_guard<std::mutex> guard{commands_mtx};
    if (command_pool.size() < 4)
      command_pool.push_back(std::move(conn));
  }

  std::string instance() const {
    return deps.instance_id.empty() ? std::string{"local"} : deps.instance_id;
  }

  static std::string command_location(const command& c) {
    return "/v1/commands/" + c.id;
  }

  // The answer for a finished command: 200 with it when done, the error of
  // a failed one (409 conflict when the saga was in the wrong state).
  static reply finished_reply(const command& c) {
    if (c.state == "done")
      return {200, command_json(c), "ok", command_location(c)};
    int status = 500;
    if (c.error_code == "conflict")
      status = 409;
    else if (c.error_code == "timeout")
      status = 504;
    else if (c.error_code == "database_unavailable"
             || c.error_code == "shutting_down")
      status = 503;
    auto r = error_reply(status, c.error_code, c.error);
    r.location = command_location(c);
    return r;
  }

  // Records a retry or cancel; runs it here at once when this instance
  // holds the saga's partition (or runs every partition), else waits up to
  // deps.command_wait for the owner: the finished command, or 202 with it.
  reply submit_command(command_store& cmds, const std::string& saga_id,
                       const char* kind, const principal& who) {
    auto submitted = cmds.submit(uuid_v4(), saga_id, kind, who.name);
    if (!submitted)
      return from_error(submitted.error());
    if (!*submitted)
      return not_found("saga");
    auto c = std::move(**submitted);
    std::optional<int64_t> epoch;
    if (c.partition < 0 || !deps.held_epoch)
      epoch = 0;
    else
      epoch = deps.held_epoch(c.partition);
    if (epoch) {
      auto taken = cmds.take_one(c.id, instance(), *epoch);
      if (taken && *taken) {
        auto done = run_command(cmds, *deps.sagas, instance(), **taken);
        if (done)
          return finished_reply(*done);
        if (done.error() != errc::stale_epoch)
          return from_error(done.error());
        // Lost the partition meanwhile: its next owner takes it up.
      } else if (!taken && taken.error() != errc::stale_epoch) {
        return from_error(taken.error());
      }
    }
    auto deadline = std::chrono::steady_clock::now() + deps.command_wait;
    auto pause = std::chrono::milliseconds{5};
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline)
        break;
      std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
      pause = std::min(pause * 2, std::chrono::milliseconds{100});
      auto row = cmds.get(c.id);
      if (!row)
        return from_error(row.error());
      if (*row && (*row)->finished())
        return finished_reply(**row);
      if (*row)
        c = std::move(**row);
    }
    return {202, command_json(c), "ok", command_location(c)};
  }

  reply control_saga(const httplib::Request& req, const principal& who,
                     audit_note& note, bool retry) {
    std::string id = req.matches[1];
    note.target = id;
    auto ref = visible_saga(id, who);
    if (auto r = std::get_if<reply>(&ref))
      return *r;
    if (!deps.sagas)
      return error_reply(501, "not_available",
                         "saga control is not available in this process");
    auto cmds = borrow_commands();
    if (!cmds)
      return from_error(cmds.error());
    auto r = submit_command(*cmds, id, retry ? "retry" : "cancel", who);
    give_back(std::move(*cmds));
    return r;
  }

  reply show_command(const httplib::Request& req, const principal& who) {
    auto cmds = borrow_commands();
    if (!cmds)
      return from_error(cmds.error());
    auto row = cmds->get(req.matches[1]);
    give_back(std::move(*cmds));
    if (!row)
      return from_error(row.error());
    // Another tenant's command is "not found": ids cannot be probed.
    if (!*row || !who.may_see((*row)->tenant_id))
      return not_found("command");
    return {200, command_json(**row)};
  }

  // Validates `recs` as intake does and writes the accepted ones with their
  // links (links first). Fills `accepted` and `refused`. With
  // `bind_sources`, each record's source must be allowed to speak for its
  // tenant (deps.sources), as at intake.
  struct intake_result {
    std::vector<events::accepted_event> accepted;
    std::vector<events::dead_letter> refused;
    events::intake_outcome outcome;
  };

  caf::expected<intake_result>
  check_records(const std::vector<events::kafka_record>& recs,
                bool bind_sources = false, bool verify_signatures = false) {
    events::intake_settings settings;
    settings.saga_topic = deps.saga_topic;
    settings.dead_letter_topic = deps.dead_letter_topic;
    if (bind_sources)
      settings.source_allows = [this](std::string_view source,
                                      std::string_view tenant) {
        return deps.sources.allows(source, tenant);
      };
    // The producer's signature, when its source signs (an operator's
    // corrected payload cannot carry one).
    if (verify_signatures)
      settings.signing_keys = [this](std::string_view source) {
        return deps.sources.signing_keys(source);
      };
    std::map<std::string, bool, std::less<>> known;
    caf::error db_err;
    settings.known_tenant = [&](std::string_view tenant) {
      auto i = known.find(tenant);
      if (i != known.end())
        return i->second;
      auto ok = db.tenant_exists(std::string{tenant});
      if (!ok) {
        db_err = ok.error();
        return true;
      }
      known.emplace(std::string{tenant}, *ok);
      return *ok;
    };
    intake_result out;
    for (auto& rec : recs) {
      auto decision = events::check_billing_record(rec, settings);
      if (auto acc = std::get_if<events::accepted_event>(&decision))
        out.accepted.push_back(std::move(*acc));
      else
        out.refused.push_back(std::get<events::dead_letter>(decision));
    }
    if (db_err)
      return db_err;
    return out;
  }

  caf::expected<events::intake_outcome>
  write_events(const std::vector<events::accepted_event>& accepted,
               const std::vector<detail::inbox_link>& links) {
    if (auto ok = db.insert_links(links); !ok)
      return ok.error();
    std::lock_guard<std::mutex> guard{intake_mtx};
    if (!intake) {
      auto st = adapters::postgres::intake_store::connect(deps.dsn);
      if (!st)
        return st.error();
      intake.emplace(std::move(*st));
    }
    events::intake_batch batch;
    batch.accepted = accepted;
    return intake->write(batch);
  }

  reply replay_saga(const httplib::Request& req, const principal& who,
                    audit_note& note) {
    std::string id = req.matches[1];
    note.target = id;
    auto ref = visible_saga(id, who);
    if (auto r = std::get_if<reply>(&ref))
      return *r;
    auto& saga = std::get<detail::saga_ref>(ref);
    if (!saga.inbox_id)
      return error_reply(409, "no_input_event",
                         "the saga was not started by an input event");
    auto row = db.inbox_event(*saga.inbox_id);
    if (!row)
      return from_error(row.error());
    if (!*row)
      return error_reply(409, "no_input_event", "the input event is gone");
    // A password is removed from the stored event when its saga starts
    // (the saga's own row keeps it while its steps need it): replaying the
    // event would only fail RADIUS provisioning later.
    if (lost_credentials((*row)->payload))
      return error_reply(409, "secrets_removed",
                         "the input event's password was removed when its "
                         "saga started; send the event again from billing");
    auto new_id = uuid_v4();
    auto checked = check_records({record_of(**row, replay_source, new_id)});
    if (!checked)
      return from_error(checked.error());
    if (checked->accepted.empty())
      return error_reply(422, checked->refused.front().error,
                         checked->refused.front().detail);
    // Any instance may write the new inbox event (the owner of its
    // partition starts it), so the receiving instance runs the replay
    // itself and records it as a command once done or failed: a command
    // row is never left open by a receiver that stops in between (the
    // event, once written, runs either way; the client then got no reply).
    detail::inbox_link link{replay_source, new_id,  (*row)->id, id,
                            std::nullopt,  who.name};
    auto written = write_events(checked->accepted, {link});
    // The command's own record; the reply says what happened either way.
    std::optional<command> recorded;
    if (auto cmds = borrow_commands()) {
      auto cmd = written
                   ? cmds->record(uuid_v4(), id, "replay", who.name, instance(),
                                  "event " + new_id, "", "")
                   : cmds->record(uuid_v4(), id, "replay", who.name, instance(),
                                  "", command_error_code(written.error()),
                                  render_error(written.error()));
      give_back(std::move(*cmds));
      if (cmd && *cmd)
        recorded = std::move(**cmd);
    }
    if (!written)
      return from_error(written.error());
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    w.StartObject();
    // Absent only if the database failed between the event and its record:
    // the replay runs all the same.
    if (recorded) {
      w.Key("command_id");
      write_string(w, recorded->id);
    }
    w.Key("saga_id");
    write_string(w, id);
    w.Key("event");
    write_accepted(w, checked->accepted.front());
    w.EndObject();
    return {202, buf.GetString()};
  }

  // -- dead letters
  // -------------------------------------------------------------

  reply list_dead_letters(const httplib::Request& req, const principal& who) {
    detail::dead_letter_query q;
    q.tenant = param(req, "tenant");
    if (auto r = tenant_filter(who, q.tenant))
      return *r;
    q.tenant_required = who.tenant.has_value();
    q.error = param(req, "error");
    q.redriven = param(req, "redriven");
    if (!q.redriven.empty() && q.redriven != "true" && q.redriven != "false")
      return error_reply(400, "invalid_request",
                         "redriven must be true or false");
    auto from = time_param(param(req, "from"), "-infinity");
    auto to = time_param(param(req, "to"), "infinity");
    if (!from || !to)
      return error_reply(400, "invalid_request",
                         "from and to must be RFC 3339 date-times");
    q.from = *from;
    q.to = *to;
    auto limit = limit_param(param(req, "limit"), default_limit, max_limit);
    if (!limit)
      return error_reply(400, "invalid_request",
                         "limit must be a positive integer");
    auto cursor = param(req, "cursor");
    if (!cursor.empty()) {
      auto pos = parse_dead_letter_cursor(cursor);
      if (!pos)
        return error_reply(400, "invalid_cursor", "the cursor is not valid");
      q.before_id = *pos;
    }
    q.limit = *limit + 1;
    auto rows = db.list_dead_letters(q);
    if (!rows)
      return from_error(rows.error());
    bool more = rows->size() > *limit;
    if (more)
      rows->resize(*limit);
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    w.StartObject();
    w.Key("items");
    w.StartArray();
    for (auto& x : *rows)
      write_dead_letter(w, x, false);
    w.EndArray();
    w.Key("next_cursor");
    if (more)
      write_string(w, dead_letter_cursor(rows->back().id));
    else
      w.Null();
    w.EndObject();
    return {200, buf.GetString()};
  }

  std::variant<detail::dead_letter_row, reply>
  visible_dead_letter(const std::string& id_text, const principal& who) {
    auto id = id_param(id_text);
    if (!id)
      return not_found("dead letter");
    auto row = db.dead_letter(*id);
    if (!row)
      return from_error(row.error());
    if (!*row)
      return not_found("dead letter");
    auto& x = **row;
    if (who.tenant && (!x.tenant_id || *x.tenant_id != *who.tenant))
      return not_found("dead letter");
    return std::move(x);
  }

  reply show_dead_letter(const httplib::Request& req, const principal& who) {
    auto dl = visible_dead_letter(req.matches[1], who);
    if (auto r = std::get_if<reply>(&dl))
      return *r;
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    write_dead_letter(w, std::get<detail::dead_letter_row>(dl), true);
    return {200, buf.GetString()};
  }

  reply redrive_dead_letter(const httplib::Request& req, const principal& who,
                            audit_note& note) {
    note.target = req.matches[1];
    auto parsed = detail::parse_redrive_dead_letter(req.body);
    if (auto* why = std::get_if<std::string>(&parsed))
      return error_reply(400, "invalid_request", *why);
    auto& corrected
      = std::get<detail::redrive_dead_letter_request>(parsed).corrected;
    {
      // Never the payload itself: it may hold credentials.
      rapidjson::StringBuffer sb;
      json_writer sw{sb};
      sw.StartObject();
      sw.Key("corrected_payload");
      sw.Bool(corrected.has_value());
      if (corrected) {
        sw.Key("payload_bytes");
        sw.Uint64(corrected->size());
      }
      sw.EndObject();
      note.request_json = sb.GetString();
    }
    auto dl = visible_dead_letter(req.matches[1], who);
    if (auto r = std::get_if<reply>(&dl))
      return *r;
    auto& row = std::get<detail::dead_letter_row>(dl);
    if (row.redriven_at)
      return error_reply(409, "already_redriven",
                         "the dead letter was re-driven at "
                           + *row.redriven_at);
    if (row.dismissed_at)
      return error_reply(409, "dismissed",
                         "the dead letter was dismissed at "
                           + *row.dismissed_at);
    // The producer's source as it came (or as corrected): bound to its
    // tenant as at intake, a reserved "ispflow/" source refused.
    auto checked = check_records({record_of(row, corrected)}, true, !corrected);
    if (!checked)
      return from_error(checked.error());
    if (checked->accepted.empty()) {
      auto& why = checked->refused.front();
      return error_reply(422, why.error, why.detail);
    }
    auto& ev = checked->accepted.front();
    // A corrected envelope must not move the event to another tenant.
    if (!who.may_see(ev.tenant_id))
      return not_found("dead letter");
    detail::inbox_link link{ev.source,    ev.id,  std::nullopt,
                            std::nullopt, row.id, who.name};
    auto written = write_events(checked->accepted, {link});
    if (!written)
      return from_error(written.error());
    if (written->recorded == 0)
      return error_reply(409, "already_in_inbox",
                         "an event with this source and id is in the inbox");
    if (auto marked = db.mark_redriven(row.id); !marked)
      return from_error(marked.error());
    // The inbox holds the event now (with its secrets until its saga no
    // longer needs them): the dead letter keeps none.
    if (auto kept = settled_value(row.value))
      if (auto done = db.scrub_dead_letter(row.id, *kept); !done)
        return from_error(done.error());
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    w.StartObject();
    w.Key("dead_letter_id");
    w.Int64(row.id);
    w.Key("event");
    write_accepted(w, ev);
    w.EndObject();
    return {200, buf.GetString()};
  }

  reply dismiss_dead_letter(const httplib::Request& req, const principal& who,
                            audit_note& note) {
    note.target = req.matches[1];
    auto parsed = detail::parse_dismiss_dead_letter(req.body);
    if (auto* why = std::get_if<std::string>(&parsed))
      return error_reply(400, "invalid_request", *why);
    auto& reason = std::get<detail::dismiss_dead_letter_request>(parsed).reason;
    {
      rapidjson::StringBuffer sb;
      json_writer sw{sb};
      sw.StartObject();
      sw.Key("reason");
      write_string(sw, reason);
      sw.EndObject();
      note.request_json = sb.GetString();
    }
    auto dl = visible_dead_letter(req.matches[1], who);
    if (auto r = std::get_if<reply>(&dl))
      return *r;
    auto& row = std::get<detail::dead_letter_row>(dl);
    if (row.redriven_at)
      return error_reply(409, "already_redriven",
                         "the dead letter was re-driven at "
                           + *row.redriven_at);
    if (row.dismissed_at)
      return error_reply(409, "already_dismissed",
                         "the dead letter was dismissed at "
                           + *row.dismissed_at);
    auto marked = db.mark_dismissed(row.id);
    if (!marked)
      return from_error(marked.error());
    if (!*marked)
      return error_reply(
        409, "already_settled",
        "the dead letter was re-driven or dismissed meanwhile");
    // Nobody will re-drive it: it keeps no secret.
    if (auto kept = settled_value(row.value))
      if (auto done = db.scrub_dead_letter(row.id, *kept); !done)
        return from_error(done.error());
    auto now = db.dead_letter(row.id);
    if (!now)
      return from_error(now.error());
    if (!*now)
      return not_found("dead letter");
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    write_dead_letter(w, **now, false);
    return {200, buf.GetString()};
  }

  // -- events re-drive
  // ------------------------------------------------------------

  reply redrive_events(const httplib::Request& req, const principal& who,
                       audit_note& note) {
    auto parsed = detail::parse_redrive_events(req.body, default_redrive_limit,
                                               max_redrive_limit);
    if (auto* why = std::get_if<std::string>(&parsed))
      return error_reply(400, "invalid_request", *why);
    auto& body = std::get<detail::redrive_events_request>(parsed);
    const auto& from = body.from;
    const auto& to = body.to;
    auto& tenant = body.tenant;
    const auto& types = body.types;
    const bool dry_run = body.dry_run;
    const uint32_t limit = body.limit;
    note.target = from + "/" + to;
    {
      rapidjson::StringBuffer sb;
      json_writer sw{sb};
      sw.StartObject();
      sw.Key("from");
      write_string(sw, from);
      sw.Key("to");
      write_string(sw, to);
      sw.Key("tenant");
      write_string(sw, tenant);
      sw.Key("types");
      sw.StartArray();
      for (auto& t : types)
        write_string(sw, t);
      sw.EndArray();
      sw.Key("dry_run");
      sw.Bool(dry_run);
      sw.Key("limit");
      sw.Uint(limit);
      sw.EndObject();
      note.request_json = sb.GetString();
    }
    if (auto r = tenant_filter(who, tenant))
      return *r;
    auto rows = db.inbox_window(from, to, tenant, types, limit + 1);
    if (!rows)
      return from_error(rows.error());
    bool truncated = rows->size() > limit;
    if (truncated)
      rows->resize(limit);
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    w.StartObject();
    w.Key("dry_run");
    w.Bool(dry_run);
    w.Key("matched");
    w.Uint64(rows->size());
    w.Key("truncated");
    w.Bool(truncated);
    if (dry_run) {
      // Replays admission per subscriber: the state its record holds (read
      // as the saga router reads it before starting a saga), then each
      // event of the window in order, as if every saga that would start
      // completed.
      adapters::postgres::subscriber_key_list keys;
      std::map<std::pair<std::string, std::string>, sagas::subscriber_state>
        states;
      for (auto& row : *rows) {
        auto key = std::make_pair(row.tenant_id, row.subscriber_id);
        if (states.emplace(key, sagas::subscriber_state::none).second)
          keys.push_back(std::move(key));
      }
      auto records = db.subscriber_records(keys);
      if (!records)
        return from_error(records.error());
      for (size_t k = 0; k < keys.size() && k < records->size(); ++k)
        states[keys[k]] = adapters::postgres::admission_state((*records)[k]);
      std::vector<sagas::admission_decision> decisions;
      uint64_t starts = 0;
      for (auto& row : *rows) {
        auto& st = states[std::make_pair(row.tenant_id, row.subscriber_id)];
        auto d = sagas::admit(st, row.type);
        if (d.starts()) {
          ++starts;
          st = sagas::next_state(st, d.saga, sagas::saga_state::completed);
        }
        decisions.push_back(std::move(d));
      }
      w.Key("would_start");
      w.Uint64(starts);
      w.Key("would_refuse");
      w.Uint64(rows->size() - starts);
      w.Key("events");
      w.StartArray();
      for (size_t k = 0; k < rows->size(); ++k) {
        auto& row = (*rows)[k];
        auto& d = decisions[k];
        w.StartObject();
        w.Key("inbox_id");
        w.Int64(row.id);
        w.Key("source");
        write_string(w, row.source);
        w.Key("event_id");
        write_string(w, row.event_id);
        w.Key("type");
        write_string(w, row.type);
        w.Key("tenant_id");
        write_string(w, row.tenant_id);
        w.Key("subscriber_id");
        write_string(w, row.subscriber_id);
        w.Key("received_at");
        write_string(w, row.received_at);
        w.Key("decision");
        w.String(d.starts() ? "start" : "dead_letter");
        if (d.starts()) {
          w.Key("saga");
          write_string(w, d.saga);
        } else {
          w.Key("reason");
          write_string(w, d.reason);
          w.Key("detail");
          write_string(w, d.detail);
        }
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
      return {200, buf.GetString()};
    }
    std::vector<events::kafka_record> recs;
    std::vector<detail::inbox_link> links;
    for (auto& row : *rows) {
      auto id = uuid_v4();
      recs.push_back(record_of(row, redrive_source, id));
      links.push_back(
        {redrive_source, id, row.id, std::nullopt, std::nullopt, who.name});
    }
    auto checked = check_records(recs);
    if (!checked)
      return from_error(checked.error());
    events::intake_outcome outcome;
    if (!checked->accepted.empty()) {
      auto written = write_events(checked->accepted, links);
      if (!written)
        return from_error(written.error());
      outcome = *written;
      // A refused original whose copy is in the inbox now keeps no secret
      // (the copy carries them to its saga).
      std::vector<int64_t> copied;
      for (size_t k = 0, a = 0; k < rows->size(); ++k)
        if (a < checked->accepted.size()
            && checked->accepted[a].id == links[k].event_id) {
          copied.push_back((*rows)[k].id);
          ++a;
        }
      if (auto done = db.scrub_refused_events(copied); !done)
        return from_error(done.error());
    }
    w.Key("recorded");
    w.Uint(outcome.recorded);
    w.Key("refused");
    w.Uint64(checked->refused.size());
    w.Key("events");
    w.StartArray();
    size_t next = 0;
    for (size_t k = 0; k < rows->size(); ++k) {
      w.StartObject();
      w.Key("inbox_id");
      w.Int64((*rows)[k].id);
      w.Key("event_id");
      write_string(w, links[k].event_id);
      bool ok = next < checked->accepted.size()
                && checked->accepted[next].id == links[k].event_id;
      w.Key("accepted");
      w.Bool(ok);
      if (ok)
        ++next;
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return {202, buf.GetString()};
  }

  // -- breakers
  // -----------------------------------------------------------------

  reply list_breakers(const httplib::Request&, const principal& who) {
    if (!deps.breakers)
      return error_reply(501, "not_available",
                         "breakers are not available in this process");
    auto xs = deps.breakers->list();
    if (!xs)
      return from_error(xs.error());
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    w.StartObject();
    w.Key("items");
    w.StartArray();
    for (auto& b : *xs) {
      if (who.tenant && b.tenant_id != *who.tenant)
        continue;
      w.StartObject();
      w.Key("id");
      write_string(w, b.id);
      w.Key("tenant_id");
      write_string(w, b.tenant_id);
      w.Key("system");
      write_string(w, b.system);
      w.Key("state");
      write_string(w, b.state);
      w.Key("counters");
      w.StartObject();
      for (auto& [k, v] : b.counters) {
        w.Key(k.c_str());
        w.Uint64(v);
      }
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return {200, buf.GetString()};
  }

  reply force_breaker(const httplib::Request& req, const principal& who,
                      audit_note& note, bool open) {
    std::string id = req.matches[1];
    note.target = id;
    if (!deps.breakers)
      return error_reply(501, "not_available",
                         "breakers are not available in this process");
    auto xs = deps.breakers->list();
    if (!xs)
      return from_error(xs.error());
    auto i = std::find_if(xs->begin(), xs->end(),
                          [&](auto& b) { return b.id == id; });
    if (i == xs->end() || (who.tenant && i->tenant_id != *who.tenant))
      return not_found("breaker");
    auto res = open ? deps.breakers->force_open(id)
                    : deps.breakers->force_close(id);
    if (!res)
      return from_control_error(res.error(), 404, "not_found");
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    w.StartObject();
    w.Key("id");
    write_string(w, id);
    w.Key("action");
    w.String(open ? "open" : "close");
    w.EndObject();
    return {200, buf.GetString()};
  }

  // -- monitoring
  // -----------------------------------------------------------------

  void serve_metrics(const httplib::Request& req, httplib::Response& res) {
    if (cfg.metrics_token_sha256) {
      // The header must outlive the token view.
      auto header = req.get_header_value("Authorization");
      auto token = authenticator::bearer_token(header);
      if (!token || !token_matches(*token, *cfg.metrics_token_sha256)) {
        res.set_header("WWW-Authenticate", "Bearer");
        send(res, "metrics",
             error_reply(401, "unauthorized", "the metrics token is required"));
        return;
      }
    }
    // Counted before rendering, so a scrape sees itself.
    requests->with({"metrics", "200"}).inc();
    res.status = 200;
    res.set_content(metrics->render(),
                    "text/plain; version=0.0.4; charset=utf-8");
  }

  // Runs every readiness check: (name, why it failed or empty).
  std::vector<std::pair<std::string, std::string>> readiness() {
    std::vector<std::pair<std::string, std::string>> results;
    auto run = [&](const std::string& name, auto&& check) {
      std::string why;
      try {
        caf::expected<void> r = check();
        if (!r)
          why = ispflow::render_error(r.error());
      } catch (const std::exception& e) {
        why = e.what();
      } catch (...) {
        why = "probe failed";
      }
      results.emplace_back(name, why);
    };
    run("database", [this] { return db.ping(); });
    for (auto& p : deps.probes)
      run(p.name, p.check);
    return results;
  }

  reply ready() {
    auto results = readiness();
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    bool ok = std::all_of(results.begin(), results.end(),
                          [](auto& r) { return r.second.empty(); });
    w.StartObject();
    w.Key("status");
    w.String(ok ? "ready" : "not_ready");
    w.Key("failing");
    w.StartArray();
    for (auto& [name, why] : results)
      if (!why.empty())
        write_string(w, name);
    w.EndArray();
    w.Key("checks");
    w.StartArray();
    for (auto& [name, why] : results) {
      w.StartObject();
      w.Key("name");
      write_string(w, name);
      w.Key("ok");
      w.Bool(why.empty());
      if (!why.empty()) {
        w.Key("error");
        write_string(w, why);
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return {ok ? 200 : 503, buf.GetString(), ok ? "ok" : "not_ready"};
  }

  // -- web console
  // ----------------------------------------------------------------

  // A static file of the console; no token needed, the data behind it is
  // fetched from /v1 with the operator's token.
  void serve_console(const std::string& name, httplib::Response& res) {
    auto i = console.find(name);
    if (i == console.end()) {
      send(res, "console", not_found("console file"));
      return;
    }
    res.status = 200;
    res.set_header("Content-Security-Policy", console_csp);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-cache");
    res.set_content(i->second, console_content_type(name));
    requests->with({"console", "200"}).inc();
  }

  void console_routes() {
    auto to_console = [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/console/", 302);
    };
    svr.Get("/", to_console);
    svr.Get("/console", to_console);
    svr.Get("/console/",
            [this](const httplib::Request&, httplib::Response& res) {
              serve_console("index.html", res);
            });
    svr.Get(R"(/console/([A-Za-z0-9_-]+\.[a-z]+))",
            [this](const httplib::Request& req, httplib::Response& res) {
              serve_console(req.matches[1], res);
            });
  }

  void routes() {
    console_routes();
    auto rd = scopes::sagas_read;
    auto wr = scopes::sagas_write;
    get("/v1/sagas", "sagas.list", rd,
        [this](auto& q, auto& p) { return list_sagas(q, p); });
    get(R"(/v1/sagas/([^/]+))", "sagas.show", rd,
        [this](auto& q, auto& p) { return show_saga(q, p); });
    auto params = [](const httplib::Request& q) {
      return [&q](const char* name) { return param(q, name); };
    };
    get("/v1/subscribers", "subscribers.list", rd, [=, this](auto& q, auto& p) {
      return subscriber_reply(subscribers.list(params(q), p.tenant));
    });
    get(R"(/v1/subscribers/([^/]+))", "subscribers.show", rd,
        [=, this](auto& q, auto& p) {
          return subscriber_reply(
            subscribers.show(q.matches[1], params(q), p.tenant));
        });
    // Drift reconciliation (actors/admin/drift.hpp).
    get("/v1/drift/scans", "drift.list", rd, [=, this](auto& q, auto& p) {
      return drift_reply(drift.list(params(q), p.tenant));
    });
    get(R"(/v1/drift/scans/([^/]+))", "drift.show", rd,
        [=, this](auto& q, auto& p) {
          return drift_reply(drift.show(q.matches[1], params(q), p.tenant));
        });
    post("/v1/drift/scans", "drift.scan", "drift.scan", wr,
         [this](auto& q, auto& p, auto& n) {
           auto order = detail::parse_drift_scan_order(q.body);
           if (auto* why = std::get_if<std::string>(&order))
             return error_reply(400, "invalid_request", *why);
           if (!q.body.empty())
             n.request_json = q.body;
           return drift_reply(drift.start(std::get<drift_scan_order>(order),
                                          deps.drift.get(), p.tenant));
         });
    post(R"(/v1/sagas/([^/]+)/retry)", "sagas.retry", "sagas.retry", wr,
         [this](auto& q, auto& p, auto& n) {
           return control_saga(q, p, n, true);
         });
    post(R"(/v1/sagas/([^/]+)/cancel)", "sagas.cancel", "sagas.cancel", wr,
         [this](auto& q, auto& p, auto& n) {
           return control_saga(q, p, n, false);
         });
    post(R"(/v1/sagas/([^/]+)/replay)", "sagas.replay", "sagas.replay", wr,
         [this](auto& q, auto& p, auto& n) { return replay_saga(q, p, n); });
    get(R"(/v1/commands/([^/]+))", "commands.show", rd,
        [this](auto& q, auto& p) { return show_command(q, p); });
    get("/v1/dead-letters", "dead_letters.list", rd,
        [this](auto& q, auto& p) { return list_dead_letters(q, p); });
    get(R"(/v1/dead-letters/([^/]+))", "dead_letters.show", rd,
        [this](auto& q, auto& p) { return show_dead_letter(q, p); });
    post(R"(/v1/dead-letters/([^/]+)/redrive)", "dead_letters.redrive",
         "dead_letters.redrive", wr, [this](auto& q, auto& p, auto& n) {
           return redrive_dead_letter(q, p, n);
         });
    post(R"(/v1/dead-letters/([^/]+)/dismiss)", "dead_letters.dismiss",
         "dead_letters.dismiss", wr, [this](auto& q, auto& p, auto& n) {
           return dismiss_dead_letter(q, p, n);
         });
    post("/v1/events/redrive", "events.redrive", "events.redrive", wr,
         [this](auto& q, auto& p, auto& n) { return redrive_events(q, p, n); });
    get("/v1/breakers", "breakers.list", rd,
        [this](auto& q, auto& p) { return list_breakers(q, p); });
    // Several instances: who owns which partition (cluster_view.hpp).
    get("/v1/cluster", "cluster.show", rd, [this](auto&, auto&) {
      auto body = cluster_view_json(deps.dsn);
      return body ? reply{200, std::move(*body)} : from_error(body.error());
    });
    post(R"(/v1/breakers/(.+)/open)", "breakers.open", "breakers.open",
         scopes::admin, [this](auto& q, auto& p, auto& n) {
           return force_breaker(q, p, n, true);
         });
    post(R"(/v1/breakers/(.+)/close)", "breakers.close", "breakers.close",
         scopes::admin, [this](auto& q, auto& p, auto& n) {
           return force_breaker(q, p, n, false);
         });
    // /metrics on the API's listener, or on its own.
    auto& msvr = cfg.metrics_address ? metrics_svr : svr;
    msvr.Get("/metrics",
             [this](const httplib::Request& req, httplib::Response& res) {
               serve_metrics(req, res);
             });
    guard_bodies(svr, true);
    if (cfg.metrics_address) {
      guard_bodies(metrics_svr, false);
      metrics_svr.Get("/healthz",
                      [this](const httplib::Request&, httplib::Response& res) {
                        send(res, "healthz", reply{200, R"({"status":"ok"})"});
                      });
      metrics_svr.set_error_handler(
        [](const httplib::Request&, httplib::Response& res) {
          if (res.body.empty()) {
            auto r = error_reply(res.status, "not_found", "no such route");
            res.set_content(r.body, json_type);
          }
        });
    }
    svr.Get("/healthz",
            [this](const httplib::Request&, httplib::Response& res) {
              send(res, "healthz", reply{200, R"({"status":"ok"})"});
            });
    svr.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      send(res, "readyz", guarded([this] { return ready(); }));
    });
    svr.set_error_handler(
      [this](const httplib::Request&, httplib::Response& res) {
        // Only unmatched routes land here without a body of ours.
        if (res.body.empty()) {
          auto r = res.status == 404
                     ? error_reply(404, "not_found", "no such route")
                     : error_reply(res.status, "http_error", "request failed");
          res.set_content(r.body, json_type);
        }
      });
    svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        auto r = error_reply(500, "internal", "unexpected failure");
        res.status = 500;
        res.set_content(r.body, json_type);
      });
  }
};

admin_server::admin_server(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

admin_server::~admin_server() {
  stop();
}

caf::expected<std::unique_ptr<admin_server>>
admin_server::make(admin_settings settings, admin_deps deps) {
  for (auto& t : settings.tokens)
    if (auto why = check_token(t))
      return caf::make_error(errc::invalid_config, "admin.tokens: " + *why);
  if (settings.metrics_token_sha256) {
    token_settings probe{"metrics",
                         *settings.metrics_token_sha256,
                         {std::string{scopes::sagas_read}},
                         std::nullopt};
    if (check_token(probe))
      return caf::make_error(errc::invalid_config,
                             "admin.metrics.token_sha256: must be 64 hex "
                             "digits");
  }
  auto bad = [](const char* key, const char* why) {
    return caf::make_error(errc::invalid_config, std::string{key} + ": " + why);
  };
  using std::chrono::milliseconds;
  if (settings.address.empty())
    return bad("admin.listen", "no address");
  if (settings.threads == 0)
    return bad("admin.max_connections", "must be > 0");
  if (settings.max_connections_per_client == 0)
    return bad("admin.max_connections_per_client", "must be > 0");
  if (settings.max_body_bytes == 0)
    return bad("admin.max_body_bytes", "must be > 0");
  if (settings.header_timeout <= milliseconds{0})
    return bad("admin.header_timeout_ms", "must be > 0");
  if (settings.body_timeout <= milliseconds{0})
    return bad("admin.body_timeout_ms", "must be > 0");
  if (settings.idle_timeout <= milliseconds{0})
    return bad("admin.idle_timeout_ms", "must be > 0");
  if (settings.write_timeout <= milliseconds{0})
    return bad("admin.write_timeout_ms", "must be > 0");
  if (settings.metrics_refresh < milliseconds{100})
    return bad("admin.metrics.refresh_ms", "must be >= 100");
  if (settings.metrics_address && settings.metrics_address->empty())
    return bad("admin.metrics.listen", "no address");
  if (settings.tls_cert_file.empty() != settings.tls_key_file.empty())
    return bad(settings.tls_cert_file.empty() ? "admin.tls.cert_file"
                                              : "admin.tls.key_file",
               "admin.tls needs both cert_file and key_file");
  try {
    auto ptr = std::make_unique<impl>(std::move(settings), std::move(deps));
    if (!ptr->cfg.tls_cert_file.empty()) {
      auto ctx = adapters::http::make_tls_context(
        ptr->cfg.tls_cert_file, ptr->cfg.tls_key_file, "admin.tls");
      if (!ctx)
        return std::move(ctx.error());
      ptr->tls = *ctx;
    }
    if (auto err = ptr->init_metrics())
      return err;
    ptr->svr.set_payload_max_length(ptr->cfg.max_body_bytes);
    ptr->metrics_svr.set_payload_max_length(0);
    ptr->routes();
    return std::unique_ptr<admin_server>{new admin_server(std::move(ptr))};
  } catch (const std::exception& e) {
    return caf::make_error(errc::invalid_config, std::string{e.what()});
  }
}

caf::expected<uint16_t> admin_server::start() {
  auto& st = *impl_;
  if (st.started)
    return st.bound;
  adapters::http::front_limits lim;
  lim.max_connections = st.cfg.threads;
  lim.max_per_client = st.cfg.max_connections_per_client;
  lim.header_timeout = st.cfg.header_timeout;
  lim.body_timeout = st.cfg.body_timeout;
  lim.idle_timeout = st.cfg.idle_timeout;
  lim.write_timeout = st.cfg.write_timeout;
  lim.thread_name = "isp.admin";
  auto on_refused = [&st](adapters::http::refusal why) {
    st.refused
      ->with({why == adapters::http::refusal::per_client ? "per_client"
              : why == adapters::http::refusal::total    ? "total"
                                                         : "tls"})
      .inc();
  };
  st.api_front = std::make_unique<adapters::http::front>(st.svr, lim, st.tls,
                                                         on_refused);
  auto port = st.api_front->bind(st.cfg.address, st.cfg.port, "admin.listen");
  if (!port)
    return std::move(port.error());
  st.bound = *port;
  if (st.cfg.metrics_address) {
    st.metrics_front = std::make_unique<adapters::http::front>(
      st.metrics_svr, lim, st.tls, on_refused);
    auto mport = st.metrics_front->bind(
      *st.cfg.metrics_address, st.cfg.metrics_port, "admin.metrics.listen");
    if (!mport)
      return std::move(mport.error());
    st.metrics_bound = *mport;
  }
  // The first values before the first scrape, then in the background.
  st.refresh_gauges();
  st.refresher = std::thread{[&st] { st.run_refresher(); }};
  st.api_front->start();
  if (st.metrics_front)
    st.metrics_front->start();
  st.started = true;
  return st.bound;
}

void admin_server::stop() {
  if (impl_)
    impl_->stop();
}

uint16_t admin_server::port() const noexcept {
  return impl_->bound;
}

uint16_t admin_server::metrics_port() const noexcept {
  return impl_->metrics_bound;
}

} // namespace ispflow::actors::admin
