#include "adapters/genieacs/adapter.hpp"

#include "adapters/genieacs/wire.hpp"
#include "common/log.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

namespace ispflow::adapters::genieacs {

using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
using events::reply_failed;
using events::reply_succeeded;

namespace {

constexpr std::string_view log_name = "genieacs";
constexpr std::string_view op_configure = "genieacs.configure_cpe";
constexpr std::string_view op_reset = "genieacs.factory_reset";
// Bound on remembered queued tasks (oldest keys dropped first).
constexpr size_t max_pending = 100'000;

// A task this actor posted that GenieACS queued (not yet run).
struct pending_task {
  std::string device;
  std::string task_id;
};

struct genieacs_state {
  adapter_settings cfg;
  http::http_actor http;
  std::shared_ptr<resilience::guard> guard;
  // By "<operation>\n<idempotency key>".
  std::map<std::string, pending_task> pending;
  static inline const char* name = "ispflow.genieacs";
};

using self_ptr = adapter_actor::stateful_pointer<genieacs_state>;

struct call {
  adapter_request req;
  tenant_settings ts;
  caf::typed_response_promise<adapter_reply> promise;
  bool guarded = false;
  resilience::guard_ticket ticket;
  resilience::time_point started;
  bool system_failed = false;
  std::string memo_key;
  std::string unique_key;
  std::string task_body;
  std::string device;
};

using call_ptr = std::shared_ptr<call>;
using continuation = std::function<void(http::response&)>;

resilience::time_point now_of(self_ptr self) {
  return self->state.cfg.clock->now();
}

void finish(self_ptr self, const call_ptr& c, adapter_reply rep) {
  auto now = now_of(self);
  if (c->guarded) {
    bool failure = c->system_failed
                   && (rep.outcome == adapter_outcome::retryable_failure
                       || rep.outcome == adapter_outcome::unknown_outcome);
    self->state.guard->complete(c->ticket,
                                failure ? resilience::call_outcome::failure
                                        : resilience::call_outcome::success,
                                now - c->started, now);
    c->guarded = false;
  }
  auto level = rep.outcome == adapter_outcome::succeeded
                 ? common::log_level::debug
                 : common::log_level::info;
  common::log(level, log_name, "operation done",
              {{"tenant", c->req.tenant_id},
               {"subscriber", c->req.subscriber_id},
               {"operation", c->req.operation},
               {"key", c->req.idempotency_key},
               {"device", c->device},
               {"outcome", events::to_string(rep.outcome)},
               {"error", rep.error}});
  c->promise.deliver(std::move(rep));
}

http::request make_request(const tenant_settings& ts, std::string method,
                           std::string url, std::string body = {}) {
  http::request r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.body = std::move(body);
  r.timeout = ts.call_timeout;
  r.connect_timeout = ts.connect_timeout;
  if (!ts.reuse_connections)
    r.headers.emplace_back("Connection", "close");
  if (!r.body.empty())
    r.headers.emplace_back("Content-Type", "application/json");
  if (!ts.authorization.empty())
    r.headers.emplace_back("Authorization", ts.authorization);
  return r;
}

void send(self_ptr self, const call_ptr& c, http::request req, continuation k) {
  auto method = req.method;
  auto path = http::path_of(req.url);
  self->request(self->state.http, caf::infinite, http_atom_v, std::move(req))
    .then(
      [c, k = std::move(k), method, path](http::response& res) {
        common::log_debug(log_name, "http",
                          {{"tenant", c->req.tenant_id},
                           {"method", method},
                           {"path", path},
                           {"status", std::to_string(res.status)},
                           {"reason", res.reason},
                           {"error", http::to_string(res.error)}});
        if (!res.has_response() || res.status >= 500 || res.status == 429)
          c->system_failed = true;
        k(res);
      },
      [self, c, method](caf::error& err) {
        c->system_failed = true;
        finish(self, c,
               reply_failed(method == "POST"
                              ? adapter_outcome::unknown_outcome
                              : adapter_outcome::retryable_failure,
                            "genieacs: HTTP client failed: " + to_string(err)));
      });
}

adapter_reply transport_failure(const http::response& res, bool effectful,
                                std::string_view what) {
  auto outcome = effectful && res.request_sent
                   ? adapter_outcome::unknown_outcome
                   : adapter_outcome::retryable_failure;
  std::string msg{"genieacs: "};
  msg += what;
  msg += ": ";
  msg += http::to_string(res.error);
  if (!res.error_text.empty())
    msg += ": " + res.error_text;
  return reply_failed(outcome, std::move(msg));
}

adapter_reply status_failure(const http::response& res, std::string_view what) {
  auto outcome = res.status >= 500 || res.status == 429
                   ? adapter_outcome::retryable_failure
                   : adapter_outcome::permanent_failure;
  std::string msg{"genieacs: "};
  msg += what;
  msg += ": HTTP " + std::to_string(res.status);
  if (!res.reason.empty())
    msg += " " + res.reason;
  msg += ": " + error_text(res.status, res.body);
  return reply_failed(outcome, std::move(msg));
}

adapter_reply done_reply(const call_ptr& c) {
  return reply_succeeded({{"cpe_id", c->device}});
}

adapter_reply queued_reply(const call_ptr& c, const std::string& task_id,
                           std::string_view why) {
  std::string msg{"genieacs: task "};
  msg += task_id;
  msg += " for ";
  msg += c->device;
  msg += " is queued until the device's next inform";
  if (!why.empty()) {
    msg += " (";
    msg += why;
    msg += ")";
  }
  return reply_failed(adapter_outcome::retryable_failure, std::move(msg));
}

const std::string* input_of(const adapter_request& req, const char* key) {
  if (auto i = req.input.find(key); i != req.input.end() && !i->second.empty())
    return &i->second;
  return nullptr;
}

void remember(self_ptr self, const call_ptr& c, const std::string& task_id) {
  auto& pending = self->state.pending;
  if (pending.size() >= max_pending && !pending.count(c->memo_key))
    pending.erase(pending.begin());
  pending[c->memo_key] = pending_task{c->device, task_id};
}

void forget(self_ptr self, const call_ptr& c) {
  self->state.pending.erase(c->memo_key);
}

// Reads the task's fault: permanent with it, or still queued without one.
void check_fault(self_ptr self, const call_ptr& c, std::string task_id,
                 bool known_faulted) {
  auto fault_id = c->device + ":task_" + task_id;
  auto url = query_url(c->ts.base_url, "faults", field_query("_id", fault_id));
  send(self, c, make_request(c->ts, "GET", std::move(url)),
       [self, c, task_id, known_faulted](http::response& res) {
         std::optional<std::string> fault;
         if (res.status == 200)
           fault = first_fault(res.body);
         if (fault || known_faulted) {
           forget(self, c);
           auto why = "genieacs: task " + task_id + " on " + c->device
                      + " faulted: " + (fault ? *fault : "fault unreadable");
           // GenieACS keeps a faulted task and retries it by itself later
           // (with backoff): withdraw it, so that only an operator's retry
           // (a new task) can run the operation again, and never twice.
           auto del = make_request(c->ts, "DELETE",
                                   task_item_url(c->ts.base_url, task_id));
           return send(
             self, c, std::move(del), [self, c, why](http::response& r) {
               auto msg = why;
               if (!r.has_response() || (r.status != 200 && r.status != 404))
                 msg += " (the faulted task could not be"
                        " withdrawn: "
                        + std::to_string(r.status) + " " + r.error_text + ")";
               finish(self, c,
                      reply_failed(adapter_outcome::permanent_failure,
                                   std::move(msg)));
             });
         }
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, "faults"));
         if (res.status != 200)
           return finish(self, c, status_failure(res, "faults"));
         remember(self, c, task_id);
         finish(self, c, queued_reply(c, task_id, {}));
       });
}

// Polls a task this actor posted: gone without a fault means it ran.
void poll_task(self_ptr self, const call_ptr& c, std::string task_id) {
  auto url = query_url(c->ts.base_url, "tasks", field_query("_id", task_id),
                       "_id");
  send(self, c, make_request(c->ts, "GET", std::move(url)),
       [self, c, task_id](http::response& res) {
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, "poll"));
         if (res.status != 200)
           return finish(self, c, status_failure(res, "poll"));
         auto ids = parse_ids(res.body);
         if (!ids)
           return finish(self, c,
                         reply_failed(adapter_outcome::retryable_failure,
                                      "genieacs: poll: unreadable answer"));
         if (ids->empty()) {
           forget(self, c);
           return finish(self, c, done_reply(c));
         }
         check_fault(self, c, task_id, false);
       });
}

void post_task(self_ptr self, const call_ptr& c) {
  auto req = make_request(c->ts, "POST",
                          task_url(c->ts.base_url, c->device,
                                   c->ts.connection_request_timeout),
                          c->task_body);
  req.timeout = c->ts.connection_request_timeout + c->ts.session_allowance;
  send(self, c, std::move(req), [self, c](http::response& res) {
    if (!res.has_response())
      return finish(self, c, transport_failure(res, true, "task"));
    auto result = classify_task_reply(res.status, res.reason);
    auto task_id = parse_id(res.body).value_or(std::string{});
    switch (result) {
      case task_result::done:
        forget(self, c);
        return finish(self, c, done_reply(c));
      case task_result::queued:
        if (!task_id.empty())
          remember(self, c, task_id);
        return finish(self, c, queued_reply(c, task_id, {}));
      case task_result::connection_error:
        if (!task_id.empty())
          remember(self, c, task_id);
        return finish(self, c,
                      queued_reply(c, task_id,
                                   "connection request failed: " + res.reason));
      case task_result::faulted:
        return check_fault(self, c, task_id, true);
      case task_result::no_device:
        return finish(
          self, c,
          reply_failed(adapter_outcome::permanent_failure,
                       "genieacs: task: no such device " + c->device));
      default:
        return finish(self, c, status_failure(res, "task"));
    }
  });
}

// With reconcile: a task with our uniqueKey decides; none = post (again).
void reconcile(self_ptr self, const call_ptr& c) {
  auto url = query_url(c->ts.base_url, "tasks",
                       unique_key_query(c->device, c->unique_key), "_id");
  send(self, c, make_request(c->ts, "GET", std::move(url)),
       [self, c](http::response& res) {
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, "reconcile"));
         if (res.status != 200)
           return finish(self, c, status_failure(res, "reconcile"));
         auto ids = parse_ids(res.body);
         if (!ids)
           return finish(
             self, c,
             reply_failed(adapter_outcome::retryable_failure,
                          "genieacs: reconcile: unreadable answer"));
         if (ids->empty())
           return post_task(self, c);
         check_fault(self, c, ids->front(), false);
       });
}

void with_device(self_ptr self, const call_ptr& c) {
  auto& pending = self->state.pending;
  if (auto i = pending.find(c->memo_key);
      i != pending.end() && i->second.device == c->device)
    return poll_task(self, c, i->second.task_id);
  if (c->req.reconcile)
    return reconcile(self, c);
  post_task(self, c);
}

void find_device(self_ptr self, const call_ptr& c) {
  if (auto* id = input_of(c->req, "cpe_id");
      id != nullptr && c->req.operation == op_reset) {
    c->device = *id;
    return with_device(self, c);
  }
  const auto& in = c->req.input;
  auto get = [&in](const char* key) {
    auto i = in.find(key);
    return i == in.end() ? std::string{} : i->second;
  };
  auto serial = get("access.cpe.serial");
  auto query = device_query(serial, get("access.cpe.oui"),
                            get("access.cpe.product_class"));
  auto url = query_url(c->ts.base_url, "devices", query, "_id");
  send(self, c, make_request(c->ts, "GET", std::move(url)),
       [self, c, serial](http::response& res) {
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, "devices"));
         if (res.status != 200)
           return finish(self, c, status_failure(res, "devices"));
         auto ids = parse_ids(res.body);
         if (!ids)
           return finish(self, c,
                         reply_failed(adapter_outcome::retryable_failure,
                                      "genieacs: devices: unreadable answer"));
         if (ids->empty())
           return finish(
             self, c,
             reply_failed(adapter_outcome::permanent_failure,
                          "genieacs: no device with serial " + serial));
         if (ids->size() > 1)
           return finish(self, c,
                         reply_failed(adapter_outcome::permanent_failure,
                                      "genieacs: " + std::to_string(ids->size())
                                        + " devices with serial " + serial
                                        + " (give the OUI)"));
         c->device = ids->front();
         with_device(self, c);
       });
}

// The task body, or a failure reply when the input lacks what it needs.
std::variant<std::string, adapter_reply>
task_body_for(const tenant_settings& ts, const adapter_request& req,
              const std::string& unique_key) {
  if (req.operation == op_reset)
    return factory_reset_task(unique_key);
  auto* user = input_of(req, "credentials.username");
  auto* pass = input_of(req, "credentials.password");
  if (user == nullptr || pass == nullptr)
    return reply_failed(adapter_outcome::permanent_failure,
                        "genieacs: input credentials.username and "
                        "credentials.password are required");
  std::vector<std::pair<std::string, std::string>> values;
  values.emplace_back(ts.pppoe_username_path, *user);
  values.emplace_back(ts.pppoe_password_path, *pass);
  std::string ssid;
  if (auto* given = input_of(req, "wifi.ssid")) {
    ssid = *given;
  } else if (!ts.ssid_template.empty()) {
    ssid = ts.ssid_template;
    static constexpr std::string_view var = "{subscriber_id}";
    for (auto pos = ssid.find(var); pos != std::string::npos;
         pos = ssid.find(var, pos + req.subscriber_id.size()))
      ssid.replace(pos, var.size(), req.subscriber_id);
  }
  if (!ssid.empty())
    values.emplace_back(ts.ssid_path, ssid);
  for (const auto& x : ts.extra_parameters)
    values.push_back(x);
  return set_parameters_task(values, unique_key);
}

adapter_actor::behavior_type genieacs_fn(self_ptr self, adapter_settings cfg,
                                         http::http_actor http,
                                         std::shared_ptr<resilience::guard> g) {
  if (!cfg.clock)
    cfg.clock = std::make_shared<resilience::steady_clock_source>();
  self->state.cfg = std::move(cfg);
  self->state.http = std::move(http);
  self->state.guard = std::move(g);
  return {
    [self](invoke_atom, adapter_request& req) -> caf::result<adapter_reply> {
      auto& st = self->state;
      auto i = st.cfg.tenants.find(req.tenant_id);
      if (i == st.cfg.tenants.end())
        return reply_failed(adapter_outcome::permanent_failure,
                            "genieacs: no settings for tenant "
                              + req.tenant_id);
      if (req.operation != op_configure && req.operation != op_reset)
        return reply_failed(adapter_outcome::permanent_failure,
                            "genieacs: unknown operation " + req.operation);
      const auto& ts = i->second;
      if (input_of(req, "access.cpe.serial") == nullptr
          && (req.operation == op_configure
              || input_of(req, "cpe_id") == nullptr)) {
        if (ts.skip_without_cpe)
          return reply_succeeded({{"cpe_id", ""}});
        return reply_failed(adapter_outcome::permanent_failure,
                            "genieacs: input access.cpe.serial is missing");
      }
      auto c = std::make_shared<call>();
      c->ts = ts;
      c->unique_key = unique_key_for(req.operation, req.idempotency_key);
      auto body = task_body_for(ts, req, c->unique_key);
      if (auto* failed = std::get_if<adapter_reply>(&body))
        return std::move(*failed);
      c->task_body = std::move(std::get<std::string>(body));
      c->memo_key = req.operation + "\n" + req.idempotency_key;
      c->started = now_of(self);
      if (st.guard) {
        auto adm = st.guard->admit(req.tenant_id, "genieacs", ts.base_url,
                                   c->started);
        if (!adm) {
          common::log_debug(log_name, "parked",
                            {{"tenant", req.tenant_id},
                             {"operation", req.operation},
                             {"detail", adm.detail}});
          return adm.parked_reply();
        }
        c->ticket = std::move(adm.ticket);
        c->guarded = true;
      }
      c->req = std::move(req);
      c->promise = self->make_response_promise<adapter_reply>();
      find_device(self, c);
      return c->promise;
    },
    [self](health_atom, std::string& tenant_id) -> caf::result<adapter_reply> {
      auto& st = self->state;
      auto i = st.cfg.tenants.find(tenant_id);
      if (i == st.cfg.tenants.end())
        return reply_failed(adapter_outcome::permanent_failure,
                            "genieacs: no settings for tenant " + tenant_id);
      auto rp = self->make_response_promise<adapter_reply>();
      auto url = query_url(i->second.base_url, "devices",
                           field_query("_id", "ispflow-probe"), "_id");
      self
        ->request(st.http, caf::infinite, http_atom_v,
                  make_request(i->second, "GET", std::move(url)))
        .then(
          [rp](http::response& res) mutable {
            if (!res.has_response()) {
              rp.deliver(transport_failure(res, false, "probe"));
              return;
            }
            if (res.status != 200) {
              rp.deliver(status_failure(res, "probe"));
              return;
            }
            auto version = res.header("GenieACS-Version");
            rp.deliver(reply_succeeded(
              {{"genieacs_version",
                version ? std::string{*version} : std::string{}}}));
          },
          [rp](caf::error& err) mutable {
            rp.deliver(
              reply_failed(adapter_outcome::retryable_failure,
                           "genieacs: HTTP client failed: " + to_string(err)));
          });
      return rp;
    },
  };
}

} // namespace

adapter_actor spawn_genieacs_adapter(caf::actor_system& sys,
                                     adapter_settings settings,
                                     http::http_actor http,
                                     std::shared_ptr<resilience::guard> guard) {
  return sys.spawn(genieacs_fn, std::move(settings), std::move(http),
                   std::move(guard));
}

} // namespace ispflow::adapters::genieacs
