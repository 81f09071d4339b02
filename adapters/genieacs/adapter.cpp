#include "adapters/genieacs/adapter.hpp"

#include "adapters/genieacs/wire.hpp"
#include "adapters/resilience/slot_queue.hpp"
#include "common/log.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <chrono>
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
constexpr std::string_view op_tag = "genieacs.tag_cpe";

struct genieacs_state {
  adapter_settings cfg;
  http::http_actor http;
  std::shared_ptr<resilience::guard> guard;
  // Calls that found their tenant at its limit, waiting for a slot.
  resilience::slot_queue slots;
  intent_store_actor intents;
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
  std::string unique_key;
  std::string task_body;
  std::string device;
  std::string product_class;
  data_model detected = data_model::unknown;
  data_model model = data_model::unknown;
  // configure_cpe: what the task sets (read back after it ran).
  std::vector<std::pair<std::string, std::string>> values;
  // The durable intent of this (operation, key), once loaded or written.
  task_intent intent;
  // tag_cpe: the tags still to add.
  std::vector<std::string> tags;
};

using call_ptr = std::shared_ptr<call>;
using continuation = std::function<void(http::response&)>;

resilience::time_point now_of(self_ptr self) {
  return self->state.cfg.clock->now();
}

void arm_tick(self_ptr self) {
  auto& st = self->state;
  if (st.slots.arm_tick())
    self->delayed_send(self, resilience::slot_queue::tick_interval(*st.guard),
                       tick_atom_v);
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

bool is_reset(const call_ptr& c) {
  return c->req.operation == op_reset;
}

void finish(self_ptr self, const call_ptr& c, adapter_reply rep) {
  auto now = now_of(self);
  if (c->guarded) {
    bool failure = c->system_failed
                   && (rep.outcome == adapter_outcome::retryable_failure
                       || rep.outcome == adapter_outcome::unknown_outcome);
    rep = self->state.guard->settle(c->ticket,
                                    failure ? resilience::call_outcome::failure
                                            : resilience::call_outcome::success,
                                    now - c->started, now, std::move(rep));
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
  if (self->state.guard) {
    // The freed slot goes to the tenant's next waiting call.
    self->state.slots.drain(*self->state.guard, c->req.tenant_id, now);
    arm_tick(self);
  }
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
  req.traceparent = c->req.traceparent;
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

// -- intents ------------------------------------------------------------------

// The call's intent names its operation, key, tenant, device and
// `uniqueKey`, and is in `state`.
void name_intent(const call_ptr& c, intent_state state) {
  c->intent.operation = c->req.operation;
  c->intent.idempotency_key = c->req.idempotency_key;
  c->intent.tenant_id = c->req.tenant_id;
  c->intent.device = c->device;
  c->intent.unique_key = c->unique_key;
  c->intent.state = state;
}

// Records the call's intent in `state`; `k(true)` once durable. A failure
// is logged and `k(false)` called: before a POST that means "do not post".
void save_intent(self_ptr self, const call_ptr& c, intent_state state,
                 std::string task_id, std::function<void(bool)> k) {
  name_intent(c, state);
  if (!task_id.empty())
    c->intent.task_id = std::move(task_id);
  self->request(self->state.intents, caf::infinite, save_atom_v, c->intent)
    .then([k](bool) { k(true); },
          [c, k](caf::error& err) {
            common::log_warn(
              log_name, "intent not recorded",
              {{"tenant", c->req.tenant_id},
               {"operation", c->req.operation},
               {"key", c->req.idempotency_key},
               {"device", c->device},
               {"state", std::string{to_string(c->intent.state)}},
               {"error", to_string(err)}});
            k(false);
          });
}

// Records that the call's task ran (`done`) without holding the call up:
// only a `posting` intent must be durable before what follows it. A later
// call with the same key still reads it (the store applies one key's saves
// and look-ups in the order the adapter sends them), and if it is lost a
// reconcile finds the task done (the configuration reads back, the reset
// CPE booted). A failure is logged.
void note_done(self_ptr self, const call_ptr& c, std::string task_id) {
  save_intent(self, c, intent_state::done, std::move(task_id), [](bool) {});
}

// -- outcomes -----------------------------------------------------------------

void post_task(self_ptr self, const call_ptr& c);

// configure_cpe: reads the values back from the device record. GenieACS
// skips a path the device does not have (200, no fault), so a task that
// "ran" may have set nothing.
// With `repost` (a reconcile that does not know whether the task ran),
// values that differ mean it did not: the task is posted.
void read_back(self_ptr self, const call_ptr& c, bool repost = false) {
  std::vector<std::string> paths;
  std::string projection;
  for (const auto& [path, value] : c->values) {
    paths.push_back(path);
    if (!projection.empty())
      projection += ',';
    projection += path;
  }
  auto url = query_url(c->ts.base_url, "devices", field_query("_id", c->device),
                       projection);
  send(
    self, c, make_request(c->ts, "GET", std::move(url)),
    [self, c, paths, repost](http::response& res) {
      if (!res.has_response())
        return finish(self, c, transport_failure(res, false, "read-back"));
      if (res.status != 200)
        return finish(self, c, status_failure(res, "read-back"));
      auto parsed = parse_values(res.body, paths);
      if (!parsed)
        return finish(self, c,
                      reply_failed(adapter_outcome::retryable_failure,
                                   "genieacs: read-back: unreadable answer"));
      if (!*parsed)
        return finish(self, c,
                      reply_failed(adapter_outcome::permanent_failure,
                                   "genieacs: read-back: device " + c->device
                                     + " is gone"));
      const auto& got = **parsed;
      std::string missing;
      std::string differ;
      for (const auto& [path, value] : c->values) {
        auto i = got.find(path);
        auto& list = i == got.end() ? missing : differ;
        if (i != got.end() && i->second == value)
          continue;
        if (!list.empty())
          list += ", ";
        list += path;
      }
      auto model = std::string{to_string(c->model)};
      if (!missing.empty())
        return finish(
          self, c,
          reply_failed(adapter_outcome::permanent_failure,
                       "genieacs: device " + c->device + " has no " + missing
                         + " (written as " + model
                         + "; GenieACS skips parameters a device lacks,"
                           " so nothing was set there): set the tenant's"
                           " genieacs.data_model or its product class's"));
      if (!differ.empty() && repost)
        return post_task(self, c);
      if (!differ.empty())
        return finish(self, c,
                      reply_failed(adapter_outcome::retryable_failure,
                                   "genieacs: device " + c->device
                                     + " reads back other values at "
                                     + differ));
      finish(self, c,
             reply_succeeded({{"cpe_id", c->device}, {"data_model", model}}));
    });
}

// The task ran: configure_cpe reads its values back, factory_reset is done.
void task_done(self_ptr self, const call_ptr& c) {
  if (is_reset(c))
    return finish(self, c, reply_succeeded({{"cpe_id", c->device}}));
  read_back(self, c);
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
           auto why = "genieacs: task " + task_id + " on " + c->device
                      + " faulted: " + (fault ? *fault : "fault unreadable");
           c->intent.detail = why;
           // GenieACS keeps a faulted task and retries it by itself later
           // (with backoff): withdraw it, so that only an operator's retry
           // (a new task) can run the operation again, and never twice.
           auto withdraw = [self, c, task_id, why](bool) {
             auto del = make_request(c->ts, "DELETE",
                                     task_item_url(c->ts.base_url, task_id));
             send(self, c, std::move(del), [self, c, why](http::response& r) {
               auto msg = why;
               if (!r.has_response() || (r.status != 200 && r.status != 404))
                 msg += " (the faulted task could not be"
                        " withdrawn: "
                        + std::to_string(r.status) + " " + r.error_text + ")";
               finish(self, c,
                      reply_failed(adapter_outcome::permanent_failure,
                                   std::move(msg)));
             });
           };
           return save_intent(self, c, intent_state::faulted, task_id,
                              withdraw);
         }
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, "faults"));
         if (res.status != 200)
           return finish(self, c, status_failure(res, "faults"));
         save_intent(self, c, intent_state::queued, task_id,
                     [self, c, task_id](bool) {
                       finish(self, c, queued_reply(c, task_id, {}));
                     });
       });
}

// Polls a task this adapter posted: gone without a fault means it ran.
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
           note_done(self, c, task_id);
           return task_done(self, c);
         }
         check_fault(self, c, task_id, false);
       });
}

// An intent posted without a known answer (the process died, or the answer
// was lost) and no task with its uniqueKey queued: GenieACS's device record
// decides. No session since the post time means the task never reached the
// ACS (it would still be queued), so posting is safe. A session since then
// means it may have run and been deleted: a factory reset counts as done
// once the CPE booted after the post time, and is never posted again; a
// configuration counts as done when its values read back.
void decide_from_record(self_ptr self, const call_ptr& c) {
  auto url = query_url(c->ts.base_url, "devices", field_query("_id", c->device),
                       "_lastInform,_lastBoot,_lastBootstrap");
  send(self, c, make_request(c->ts, "GET", std::move(url)),
       [self, c](http::response& res) {
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, "reconcile"));
         if (res.status != 200)
           return finish(self, c, status_failure(res, "reconcile"));
         auto parsed = parse_device_times(res.body);
         if (!parsed)
           return finish(
             self, c,
             reply_failed(adapter_outcome::retryable_failure,
                          "genieacs: reconcile: unreadable device record"));
         if (!*parsed)
           return finish(self, c,
                         reply_failed(adapter_outcome::permanent_failure,
                                      "genieacs: reconcile: device " + c->device
                                        + " is gone"));
         const auto& t = **parsed;
         auto since = c->intent.posted_at_ms
                      - c->ts.clock_skew_allowance.count();
         bool session = t.last_inform >= since;
         common::log_info(
           log_name, "reconcile from the device record",
           {{"tenant", c->req.tenant_id},
            {"operation", c->req.operation},
            {"key", c->req.idempotency_key},
            {"device", c->device},
            {"posted_at_ms", std::to_string(c->intent.posted_at_ms)},
            {"last_inform_ms", std::to_string(t.last_inform)},
            {"last_boot_ms",
             std::to_string(std::max(t.last_boot, t.last_bootstrap))}});
         if (!session)
           return post_task(self, c);
         if (!is_reset(c))
           return read_back(self, c, true);
         if (std::max(t.last_boot, t.last_bootstrap) >= since) {
           note_done(self, c, {});
           return task_done(self, c);
         }
         finish(self, c,
                reply_failed(adapter_outcome::retryable_failure,
                             "genieacs: the factory reset of " + c->device
                               + " posted at "
                               + std::to_string(c->intent.posted_at_ms)
                               + " ms may have run (a session followed, no"
                                 " task is queued): waiting for the device to"
                                 " boot, it is not posted again"));
       });
}

// A task with our uniqueKey decides; none found: the device record decides
// when we know we posted (`have_intent`), else post (again), which the
// uniqueKey makes safe for a task still queued.
void reconcile(self_ptr self, const call_ptr& c, bool have_intent) {
  auto url = query_url(c->ts.base_url, "tasks",
                       unique_key_query(c->device, c->unique_key), "_id");
  send(self, c, make_request(c->ts, "GET", std::move(url)),
       [self, c, have_intent](http::response& res) {
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
         if (!ids->empty())
           return check_fault(self, c, ids->front(), false);
         if (have_intent)
           return decide_from_record(self, c);
         post_task(self, c);
       });
}

// The call's intent about to be recorded `posting`, posted now.
void stamp_posting(const call_ptr& c) {
  name_intent(c, intent_state::posting);
  c->intent.task_id.clear();
  c->intent.detail.clear();
  c->intent.posted_at_ms = wall_ms();
}

void send_task(self_ptr self, const call_ptr& c);

void post_task(self_ptr self, const call_ptr& c) {
  // The intent is durable before the POST leaves: whatever happens after,
  // a restart finds it.
  stamp_posting(c);
  save_intent(self, c, intent_state::posting, {}, [self, c](bool ok) {
    if (!ok)
      return finish(self, c,
                    reply_failed(adapter_outcome::retryable_failure,
                                 "genieacs: the task intent could not be"
                                 " recorded; nothing was posted"));
    send_task(self, c);
  });
}

// Posts the task whose `posting` intent is durable.
void send_task(self_ptr self, const call_ptr& c) {
  auto req = make_request(c->ts, "POST",
                          task_url(c->ts.base_url, c->device,
                                   c->ts.connection_request_timeout),
                          c->task_body);
  req.timeout = c->ts.connection_request_timeout + c->ts.session_allowance;
  send(self, c, std::move(req), [self, c](http::response& res) {
    if (!res.has_response()) {
      auto rep = transport_failure(res, true, "task");
      if (res.request_sent)
        return finish(self, c, std::move(rep));
      return save_intent(self, c, intent_state::unsent, {},
                         [self, c, rep](bool) { finish(self, c, rep); });
    }
    auto result = classify_task_reply(res.status, res.reason);
    auto task_id = parse_id(res.body).value_or(std::string{});
    auto queued = [self, c, task_id](std::string why) {
      return [self, c, task_id, why](bool) {
        finish(self, c, queued_reply(c, task_id, why));
      };
    };
    switch (result) {
      case task_result::done:
        note_done(self, c, task_id);
        return task_done(self, c);
      case task_result::queued:
        return save_intent(self, c, intent_state::queued, task_id, queued({}));
      case task_result::offline:
        return save_intent(self, c, intent_state::queued, task_id,
                           queued("device is offline: GenieACS could not"
                                  " reach it with a connection request"));
      case task_result::connection_error:
        return save_intent(self, c, intent_state::queued, task_id,
                           queued("connection request failed: " + res.reason));
      case task_result::faulted:
        return check_fault(self, c, task_id, true);
      case task_result::no_device:
        return save_intent(self, c, intent_state::unsent, {}, [self, c](bool) {
          finish(self, c,
                 reply_failed(adapter_outcome::permanent_failure,
                              "genieacs: task: no such device " + c->device));
        });
      case task_result::rejected: {
        auto rep = status_failure(res, "task");
        return save_intent(self, c, intent_state::unsent, {},
                           [self, c, rep](bool) { finish(self, c, rep); });
      }
      default:
        // 5xx and the unexpected: the task may exist; the intent stays
        // "posting" and the next attempt reconciles.
        return finish(self, c, status_failure(res, "task"));
    }
  });
}

// The task body for the chosen data model, or a failure reply.
std::optional<adapter_reply> prepare_task(const call_ptr& c) {
  const auto& ts = c->ts;
  const auto& req = c->req;
  if (is_reset(c)) {
    c->task_body = factory_reset_task(c->unique_key);
    return std::nullopt;
  }
  c->model = choose_data_model(ts, c->product_class, c->detected);
  bool tr181 = c->model == data_model::tr181;
  auto* user = input_of(req, "credentials.username");
  auto* pass = input_of(req, "credentials.password");
  if (user == nullptr || pass == nullptr)
    return reply_failed(adapter_outcome::permanent_failure,
                        "genieacs: input credentials.username and "
                        "credentials.password are required");
  auto& values = c->values;
  values.clear();
  values.emplace_back(
    tr181 ? ts.tr181_pppoe_username_path : ts.pppoe_username_path, *user);
  values.emplace_back(
    tr181 ? ts.tr181_pppoe_password_path : ts.pppoe_password_path, *pass);
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
    values.emplace_back(tr181 ? ts.tr181_ssid_path : ts.ssid_path, ssid);
  for (const auto& x : ts.extra_parameters)
    values.push_back(x);
  c->task_body = set_parameters_task(values, c->unique_key);
  return std::nullopt;
}

// What the intent of a call found on record decides (see with_device).
void with_intent(self_ptr self, const call_ptr& c, intent_lookup& found) {
  bool mine = found.found && found.intent.device == c->device;
  if (!mine) {
    if (c->req.reconcile)
      return reconcile(self, c, false);
    return post_task(self, c);
  }
  c->intent = std::move(found.intent);
  switch (c->intent.state) {
    case intent_state::done:
      return task_done(self, c);
    case intent_state::faulted:
      return finish(self, c,
                    reply_failed(adapter_outcome::permanent_failure,
                                 c->intent.detail));
    case intent_state::unsent:
      return post_task(self, c);
    case intent_state::queued:
    case intent_state::posting:
      if (!c->intent.task_id.empty())
        return poll_task(self, c, c->intent.task_id);
      return reconcile(self, c, true);
  }
}

// The intent of (operation, key) decides: none means post. Except on a
// reconcile, the look-up records the `posting` intent when there is none,
// in the same round trip, and the task is posted at once.
void with_device(self_ptr self, const call_ptr& c) {
  if (auto failed = prepare_task(c))
    return finish(self, c, std::move(*failed));
  auto unreadable = [self, c](caf::error& err) {
    finish(
      self, c,
      reply_failed(adapter_outcome::retryable_failure,
                   "genieacs: task intents unreadable: " + to_string(err)));
  };
  if (c->req.reconcile) {
    self
      ->request(self->state.intents, caf::infinite, load_atom_v,
                c->req.operation, c->req.idempotency_key)
      .then([self, c](intent_lookup& found) { with_intent(self, c, found); },
            unreadable);
    return;
  }
  stamp_posting(c);
  self->request(self->state.intents, caf::infinite, load_atom_v, c->intent)
    .then(
      [self, c](intent_lookup& found) {
        if (!found.found)
          return send_task(self, c);
        with_intent(self, c, found);
      },
      unreadable);
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
  c->product_class = get("access.cpe.product_class");
  auto query = device_query(serial, get("access.cpe.oui"), c->product_class);
  auto url = query_url(c->ts.base_url, "devices", query,
                       device_lookup_projection());
  send(self, c, make_request(c->ts, "GET", std::move(url)),
       [self, c, serial](http::response& res) {
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, "devices"));
         if (res.status != 200)
           return finish(self, c, status_failure(res, "devices"));
         auto found = parse_devices(res.body);
         if (!found)
           return finish(self, c,
                         reply_failed(adapter_outcome::retryable_failure,
                                      "genieacs: devices: unreadable answer"));
         if (found->empty())
           return finish(
             self, c,
             reply_failed(adapter_outcome::permanent_failure,
                          "genieacs: no device with serial " + serial));
         if (found->size() > 1)
           return finish(
             self, c,
             reply_failed(adapter_outcome::permanent_failure,
                          "genieacs: " + std::to_string(found->size())
                            + " devices with serial " + serial
                            + " (give the OUI)"));
         auto& d = found->front();
         c->device = d.id;
         if (!d.product_class.empty())
           c->product_class = d.product_class;
         c->detected = d.model;
         with_device(self, c);
       });
}

// -- tag_cpe ------------------------------------------------------------------

// Adds the tags left in c->tags one by one: `POST /devices/<id>/tags/<tag>`
// is an `$addToSet`, so a repeat (a retry) changes nothing.
void add_next_tag(self_ptr self, const call_ptr& c) {
  if (c->tags.empty())
    return finish(self, c, reply_succeeded({{"cpe_id", c->device}}));
  auto tag = c->tags.back();
  send(self, c,
       make_request(c->ts, "POST", tag_url(c->ts.base_url, c->device, tag)),
       [self, c, tag](http::response& res) {
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, "tag " + tag));
         if (res.status != 200)
           return finish(self, c, status_failure(res, "tag " + tag));
         c->tags.pop_back();
         add_next_tag(self, c);
       });
}

// The NBI answers 200 to a tag of a device it does not have (an updateOne
// that matched nothing): the device's tags are read first, which also
// leaves out the tags it already carries.
void tag_cpe(self_ptr self, const call_ptr& c) {
  auto url = query_url(c->ts.base_url, "devices", field_query("_id", c->device),
                       "_id,_tags");
  send(self, c, make_request(c->ts, "GET", std::move(url)),
       [self, c](http::response& res) {
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, "devices"));
         if (res.status != 200)
           return finish(self, c, status_failure(res, "devices"));
         auto found = parse_tags(res.body);
         if (!found)
           return finish(self, c,
                         reply_failed(adapter_outcome::retryable_failure,
                                      "genieacs: devices: unreadable answer"));
         if (!*found)
           return finish(self, c,
                         reply_failed(adapter_outcome::permanent_failure,
                                      "genieacs: no device " + c->device));
         const auto& has = **found;
         c->tags.erase(std::remove_if(c->tags.begin(), c->tags.end(),
                                      [&](const std::string& t) {
                                        return std::find(has.begin(), has.end(),
                                                         t)
                                               != has.end();
                                      }),
                       c->tags.end());
         std::reverse(c->tags.begin(), c->tags.end());
         add_next_tag(self, c);
       });
}

// Input "cpe_tags.0", "cpe_tags.1", ... in order, empty ones left out.
std::vector<std::string> input_tags(const adapter_request& req) {
  std::vector<std::string> out;
  for (size_t n = 0;; ++n) {
    auto i = req.input.find("cpe_tags." + std::to_string(n));
    if (i == req.input.end())
      return out;
    if (!i->second.empty()
        && std::find(out.begin(), out.end(), i->second) == out.end())
      out.push_back(i->second);
  }
}

adapter_actor::behavior_type
genieacs_fn(self_ptr self, adapter_settings cfg, http::http_actor http,
            std::shared_ptr<resilience::guard> g, intent_store_actor intents) {
  if (!cfg.clock)
    cfg.clock = std::make_shared<resilience::steady_clock_source>();
  self->state.cfg = std::move(cfg);
  self->state.http = std::move(http);
  self->state.guard = std::move(g);
  if (!intents) {
    // Without a durable store the intents live as long as this actor.
    intents = spawn_memory_intent_store(self->home_system());
    self->link_to(intents);
  }
  self->state.intents = std::move(intents);
  return {
    [self](invoke_atom, adapter_request& req) -> caf::result<adapter_reply> {
      auto& st = self->state;
      auto i = st.cfg.tenants.find(req.tenant_id);
      if (i == st.cfg.tenants.end())
        return reply_failed(adapter_outcome::permanent_failure,
                            "genieacs: no settings for tenant "
                              + req.tenant_id);
      bool is_tag = req.operation == op_tag;
      if (req.operation != op_configure && req.operation != op_reset && !is_tag)
        return reply_failed(adapter_outcome::permanent_failure,
                            "genieacs: unknown operation " + req.operation);
      const auto& ts = i->second;
      std::vector<std::string> tags;
      if (is_tag) {
        if (input_of(req, "cpe_id") == nullptr)
          return reply_failed(adapter_outcome::permanent_failure,
                              "genieacs: input cpe_id is missing");
        tags = input_tags(req);
        if (tags.empty())
          return reply_failed(adapter_outcome::permanent_failure,
                              "genieacs: input cpe_tags.0 is missing");
      } else if (input_of(req, "access.cpe.serial") == nullptr
                 && (req.operation == op_configure
                     || input_of(req, "cpe_id") == nullptr)) {
        if (ts.skip_without_cpe)
          return reply_succeeded({{"cpe_id", ""}});
        return reply_failed(adapter_outcome::permanent_failure,
                            "genieacs: input access.cpe.serial is missing");
      }
      if (req.operation == op_configure
          && (input_of(req, "credentials.username") == nullptr
              || input_of(req, "credentials.password") == nullptr))
        return reply_failed(adapter_outcome::permanent_failure,
                            "genieacs: input credentials.username and "
                            "credentials.password are required");
      auto c = std::make_shared<call>();
      c->ts = ts;
      c->unique_key = unique_key_for(req.operation, req.idempotency_key);
      c->req = std::move(req);
      c->promise = self->make_response_promise<adapter_reply>();
      if (is_tag) {
        c->device = *input_of(c->req, "cpe_id");
        c->tags = std::move(tags);
      }
      auto go = [self, c] {
        c->started = now_of(self);
        if (c->req.operation == op_tag)
          tag_cpe(self, c);
        else
          find_device(self, c);
      };
      if (!st.guard) {
        go();
        return c->promise;
      }
      // At the tenant's limit the call waits for a slot (at most the
      // queue's max_wait) instead of parking at once.
      st.slots.admit(*st.guard, c->req.tenant_id, "genieacs", ts.base_url,
                     now_of(self), resilience::resume_call(c, go));
      arm_tick(self);
      return c->promise;
    },
    [self](tick_atom) {
      auto& st = self->state;
      st.slots.on_tick();
      st.slots.drain_all(*st.guard, now_of(self));
      arm_tick(self);
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
  return spawn_genieacs_adapter(sys, std::move(settings), std::move(http),
                                std::move(guard), intent_store_actor{});
}

adapter_actor spawn_genieacs_adapter(caf::actor_system& sys,
                                     adapter_settings settings,
                                     http::http_actor http,
                                     std::shared_ptr<resilience::guard> guard,
                                     intent_store_actor intents) {
  return sys.spawn(genieacs_fn, std::move(settings), std::move(http),
                   std::move(guard), std::move(intents));
}

} // namespace ispflow::adapters::genieacs
