#include "adapters/awx/adapter.hpp"

#include "adapters/awx/protocol.hpp"
#include "adapters/resilience/slot_queue.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace ispflow::adapters::awx {

namespace {

using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
using resilience::call_outcome;

constexpr std::string_view run_job_op = "awx.run_activation_job";
constexpr std::string_view cancel_op = "awx.cancel_job";
constexpr std::string_view log_name = "awx";

// One operation in flight: its request, the tenant's settings, the promise
// to answer and the guard ticket to return.
struct operation {
  adapter_request req;
  tenant_settings ts;
  caf::typed_response_promise<adapter_reply> promise;
  resilience::guard_ticket ticket;
  resilience::time_point started;
  int32_t pages = 0;
};

using op_ptr = std::shared_ptr<operation>;

// A template's launch prompts and when they were read.
struct checked_prompts {
  launch_prompts prompts;
  resilience::time_point read_at;
};

struct awx_state {
  awx_settings settings;
  // Why a tenant's settings are unusable (validate), by tenant.
  std::map<std::string, std::string> invalid;
  http::http_actor http;
  std::shared_ptr<resilience::guard> guard;
  // Calls that found their tenant at its limit, waiting for a slot.
  resilience::slot_queue slots;
  std::shared_ptr<resilience::clock> clock;
  // Idempotency key -> job id, a bounded cache in front of the look-up.
  std::map<std::string, int64_t> known;
  std::deque<std::string> known_order;
  // The launch prompts of each (tenant, base URL, template), read before a
  // launch and trusted for the tenant's launch_check_ttl.
  std::map<std::string, checked_prompts> prompts;
  static inline const char* name = "ispflow.awx";
};

using self_ptr = adapter_actor::stateful_pointer<awx_state>;

// -- known jobs ---------------------------------------------------------------

std::string cache_key(const adapter_request& req) {
  return req.tenant_id + '\x1f' + req.idempotency_key;
}

std::optional<int64_t> known_job(self_ptr self, const adapter_request& req) {
  auto& known = self->state.known;
  if (auto i = known.find(cache_key(req)); i != known.end())
    return i->second;
  return std::nullopt;
}

void remember(self_ptr self, const adapter_request& req, int64_t job) {
  auto& st = self->state;
  auto key = cache_key(req);
  if (st.known.emplace(key, job).second)
    st.known_order.push_back(key);
  else
    st.known[key] = job;
  while (st.known_order.size()
         > std::max<size_t>(st.settings.known_jobs_capacity, 1)) {
    st.known.erase(st.known_order.front());
    st.known_order.pop_front();
  }
}

void forget(self_ptr self, const adapter_request& req) {
  self->state.known.erase(cache_key(req));
}

// -- HTTP ---------------------------------------------------------------------

http::request make_request(const tenant_settings& ts, std::string method,
                           std::string url, std::string body = {}) {
  http::request r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.timeout = ts.call_timeout;
  r.connect_timeout = ts.connect_timeout;
  r.headers.emplace_back("Accept", "application/json");
  // Connections are reused: adapters/http gives the launch POST (not
  // idempotent) a connection of its own, which libcurl never re-sends a
  // request on (README.md).
  if (!ts.token.empty())
    r.headers.emplace_back("Authorization", "Bearer " + ts.token);
  if (r.method == "POST") {
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = std::move(body);
  }
  return r;
}

// Sends `r` and calls `f` with its response; a CAF error (the HTTP actor is
// gone) becomes a transport failure that may have been sent. The request
// has no CAF timeout, as the NetBox and GenieACS adapters' have none: the
// HTTP actor answers every request within its own bounds (`timeout` and
// `connect_timeout`, which libcurl enforces), and CAF 0.17 never withdraws
// a request's timeout, so each would wake CAF's clock thread and this
// actor once more when it fell due, long after the answer
// (docs/benchmarks.md, sixteenth round).
template <class F>
void send_http(self_ptr self, http::request r, F f) {
  self->request(self->state.http, caf::infinite, http_atom_v, std::move(r))
    .then([f](http::response& res) mutable { f(res); },
          [f](caf::error& err) mutable {
            http::response res;
            res.error = http::transport_error::other;
            res.error_text = "HTTP actor: " + render_error(err);
            res.request_sent = true;
            f(res);
          });
}

// send_http for a request made on behalf of `op`: it carries the trace of
// op's saga.
template <class F>
void send_traced(self_ptr self, const op_ptr& op, http::request r, F f) {
  r.traceparent = op->req.traceparent;
  send_http(self, std::move(r), std::move(f));
}

// -- completion ---------------------------------------------------------------

void arm_tick(self_ptr self) {
  auto& st = self->state;
  if (st.slots.arm_tick())
    self->delayed_send(self, resilience::slot_queue::tick_interval(*st.guard),
                       tick_atom_v);
}

void finish(self_ptr self, const op_ptr& op, adapter_reply reply,
            call_outcome health) {
  auto& st = self->state;
  auto now = st.clock->now();
  reply = st.guard->settle(op->ticket, health, now - op->started, now,
                           std::move(reply));
  auto outcome = std::string{to_string(reply.outcome)};
  auto level = reply.outcome == adapter_outcome::succeeded
                   || reply.outcome == adapter_outcome::parked
                 ? common::log_level::debug
                 : common::log_level::warn;
  common::log(level, log_name, "operation answered",
              {{"tenant", op->req.tenant_id},
               {"operation", op->req.operation},
               {"key", op->req.idempotency_key},
               {"outcome", outcome},
               {"error", reply.error}});
  op->promise.deliver(std::move(reply));
  // The freed slot goes to the tenant's next waiting call.
  st.slots.drain(*st.guard, op->req.tenant_id, now);
  arm_tick(self);
}

std::string template_path(const tenant_settings& ts, std::string_view tail) {
  return "job_templates/" + std::to_string(ts.activation_template) + "/"
         + std::string{tail};
}

std::string job_path(int64_t job, std::string_view tail = {}) {
  return "jobs/" + std::to_string(job) + "/" + std::string{tail};
}

// -- look-up by key -----------------------------------------------------------

using lookup_continuation = std::function<void(std::optional<int64_t>)>;

void lookup_page(self_ptr self, op_ptr op, std::string url,
                 lookup_continuation then) {
  auto req = make_request(op->ts, "GET", std::move(url));
  send_traced(self, op, std::move(req), [self, op, then](http::response& res) {
    if (res.status != 200)
      return finish(self, op, failure_reply("job look-up", res, false),
                    health_of(res));
    auto page = parse_job_page(res.body);
    if (!page)
      return finish(
        self, op,
        events::reply_failed(adapter_outcome::retryable_failure,
                             "AWX job look-up: " + render_error(page.error())),
        call_outcome::failure);
    for (const auto& job : page->jobs)
      if (job.idempotency_key == op->req.idempotency_key)
        return then(job.id);
    if (page->next.empty())
      return then(std::nullopt);
    if (++op->pages >= op->ts.max_lookup_pages)
      return finish(
        self, op,
        events::reply_failed(adapter_outcome::retryable_failure,
                             "AWX job look-up: more than "
                               + std::to_string(op->ts.max_lookup_pages)
                               + " pages of jobs in the look-up window; raise "
                                 "max_lookup_pages or lower lookup_window"),
        call_outcome::success);
    lookup_page(self, op, resolve_link(op->ts.base_url, page->next), then);
  });
}

// Finds the job launched under the request's key: the cache, else the
// template's jobs created within the look-up window (newest first).
void find_job(self_ptr self, op_ptr op, lookup_continuation then) {
  if (auto job = known_job(self, op->req))
    return then(*job);
  auto& st = self->state;
  auto wall = st.settings.wall_clock ? st.settings.wall_clock()
                                     : std::chrono::system_clock::now();
  auto from = wall - op->ts.lookup_window;
  if (op->req.saga_created_ms > 0) {
    // No job of this key is older than its saga.
    auto created = std::chrono::system_clock::time_point{
      std::chrono::milliseconds{op->req.saga_created_ms}};
    from = std::max(from, created - op->ts.clock_skew);
  }
  auto since = iso8601(from);
  auto url = join_url(op->ts.base_url,
                      "jobs/?job_template="
                        + std::to_string(op->ts.activation_template)
                        + "&created__gt=" + since + "&order_by=-id&page_size="
                        + std::to_string(op->ts.page_size));
  lookup_page(self, op, std::move(url),
              [self, op, then](std::optional<int64_t> job) {
                if (job)
                  remember(self, op->req, *job);
                then(job);
              });
}

// -- awx.run_activation_job ---------------------------------------------------

void poll(self_ptr self, op_ptr op, int64_t job) {
  auto url = join_url(op->ts.base_url, job_path(job));
  send_traced(
    self, op, make_request(op->ts, "GET", std::move(url)),
    [self, op, job](http::response& res) {
      if (res.status == 404) {
        forget(self, op->req);
        return finish(self, op,
                      events::reply_failed(adapter_outcome::permanent_failure,
                                           "AWX job " + std::to_string(job)
                                             + " no longer exists (404)"),
                      call_outcome::success);
      }
      if (res.status != 200)
        return finish(self, op,
                      failure_reply("poll of job " + std::to_string(job), res,
                                    false),
                      health_of(res));
      auto info = parse_job(res.body);
      if (!info)
        return finish(self, op,
                      events::reply_failed(adapter_outcome::retryable_failure,
                                           "AWX poll of job "
                                             + std::to_string(job) + ": "
                                             + render_error(info.error())),
                      call_outcome::failure);
      finish(self, op, job_reply(*info, op->ts.poll_interval),
             call_outcome::success);
    });
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

std::string prompts_key(const op_ptr& op) {
  return op->req.tenant_id + '\x1f' + op->ts.base_url + '\x1f'
         + std::to_string(op->ts.activation_template);
}

// The template dropped launch fields we rely on: the job runs without our
// key (or limit, or inventory), possibly already. Cancel it and fail for
// good: this is the template's configuration, not something a retry fixes.
// The cached prompts were wrong (the template changed since they were read):
// the next launch reads them again.
void reject_ignored(self_ptr self, op_ptr op, int64_t job,
                    std::vector<std::string> dropped, bool key_ignored) {
  self->state.prompts.erase(prompts_key(op));
  auto id = std::to_string(job);
  std::vector<std::string> enable;
  for (const auto& f : dropped)
    enable.push_back(prompt_of(f));
  auto error = "AWX job template " + std::to_string(op->ts.activation_template)
               + " ignored the launch fields " + join(dropped)
               + (key_ignored ? " (including " + std::string{key_var} + ")"
                              : std::string{})
               + ": enable 'Prompt on launch' for them on the template ("
               + join(enable) + ") (configuration); job " + id;
  auto url = join_url(op->ts.base_url, job_path(job, "cancel/"));
  send_traced(self, op, make_request(op->ts, "POST", std::move(url)),
              [self, op, error](http::response& res) {
                std::string text = error;
                if (res.status == 202)
                  text += " was canceled";
                else if (res.status == 405)
                  text += " had already finished without them";
                else
                  text += " could not be canceled ("
                          + (res.has_response()
                               ? "HTTP " + std::to_string(res.status)
                               : std::string{to_string(res.error)})
                          + "): cancel it in AWX";
                finish(self, op,
                       events::reply_failed(adapter_outcome::permanent_failure,
                                            std::move(text)),
                       call_outcome::success);
              });
}

void launch(self_ptr self, op_ptr op) {
  auto url = join_url(op->ts.base_url, template_path(op->ts, "launch/"));
  auto body = launch_body(op->ts, op->req);
  send_traced(
    self, op, make_request(op->ts, "POST", std::move(url), std::move(body)),
    [self, op](http::response& res) {
      auto what = "launch of job template "
                  + std::to_string(op->ts.activation_template);
      if (res.status != 201 && res.status != 202) {
        auto reply = failure_reply(what, res, true);
        if (res.status == 400
            && res.body.find("cannot accept variables") != std::string::npos)
          reply.error += " (the template prompts for no variables: enable "
                         "'Prompt on launch' for Variables or a survey; "
                         "configuration)";
        return finish(self, op, std::move(reply), health_of(res));
      }
      auto info = parse_launch(res);
      if (!info)
        return finish(self, op,
                      events::reply_failed(adapter_outcome::unknown_outcome,
                                           "AWX " + what + ": "
                                             + render_error(info.error())
                                             + "; the job may exist"),
                      call_outcome::success);
      remember(self, op->req, info->job);
      auto id = std::to_string(info->job);
      common::log_info(log_name, "job launched",
                       {{"tenant", op->req.tenant_id},
                        {"key", op->req.idempotency_key},
                        {"job", id}});
      auto sent = launch_fields(op->ts, op->req);
      std::vector<std::string> dropped;
      for (const auto& f : info->ignored)
        if (std::find(sent.begin(), sent.end(), f) != sent.end())
          dropped.push_back(f);
      if (!dropped.empty() || info->key_ignored)
        return reject_ignored(self, op, info->job, std::move(dropped),
                              info->key_ignored);
      if (is_terminal(info->status))
        return poll(self, op, info->job);
      job_info job;
      job.id = info->job;
      job.status = info->status;
      finish(self, op, job_reply(job, op->ts.poll_interval),
             call_outcome::success);
    });
}

// Launches if the template prompts for every field the tenant sends;
// otherwise refuses for good, naming the prompts to enable, and launches
// nothing (AWX would start the job without them: 201 + ignored_fields).
void launch_if_prompted(self_ptr self, op_ptr op, const launch_prompts& p) {
  auto missing = missing_prompts(p, op->ts);
  if (missing.empty())
    return launch(self, op);
  std::string why;
  for (const auto& m : missing) {
    why += why.empty() ? "" : "; ";
    if (m == "ask_variables_on_launch")
      why += "ask_variables_on_launch is off, so AWX would drop extra_vars "
             "(the idempotency key included)"
             + std::string{
               p.survey_enabled ? " except the survey's own variables" : ""};
    else if (m == "ask_limit_on_launch")
      why += "ask_limit_on_launch is off, so AWX would drop the limit and "
             "run against the whole inventory";
    else
      why += m + " is off, so AWX would drop the inventory";
  }
  finish(self, op,
         events::reply_failed(
           adapter_outcome::permanent_failure,
           "AWX job template " + std::to_string(op->ts.activation_template)
             + " does not prompt on launch for what ispflow sends (" + why
             + "): enable 'Prompt on launch' for " + join(missing)
             + " on the template (configuration); nothing was launched"),
         call_outcome::success);
}

// Reads the template's launch prompts (`GET job_templates/<id>/launch/`)
// unless a reading younger than launch_check_ttl is cached, then launches
// or refuses.
void check_prompts_then_launch(self_ptr self, op_ptr op) {
  auto& st = self->state;
  auto key = prompts_key(op);
  auto now = st.clock->now();
  if (auto i = st.prompts.find(key);
      i != st.prompts.end() && op->ts.launch_check_ttl.count() > 0
      && now - i->second.read_at < op->ts.launch_check_ttl)
    return launch_if_prompted(self, op, i->second.prompts);
  auto url = join_url(op->ts.base_url, template_path(op->ts, "launch/"));
  send_traced(
    self, op, make_request(op->ts, "GET", std::move(url)),
    [self, op, key](http::response& res) {
      auto what = "launch prompts of job template "
                  + std::to_string(op->ts.activation_template);
      if (res.status != 200)
        return finish(self, op, failure_reply(what, res, false),
                      health_of(res));
      auto p = parse_launch_prompts(res.body);
      if (!p)
        return finish(
          self, op,
          events::reply_failed(adapter_outcome::retryable_failure,
                               "AWX " + what + ": " + render_error(p.error())),
          call_outcome::failure);
      auto& state = self->state;
      state.prompts[key] = checked_prompts{*p, state.clock->now()};
      common::log_debug(
        log_name, "launch prompts read",
        {{"tenant", op->req.tenant_id},
         {"template", std::to_string(op->ts.activation_template)},
         {"ask_variables_on_launch", p->ask_variables ? "true" : "false"},
         {"ask_limit_on_launch", p->ask_limit ? "true" : "false"}});
      launch_if_prompted(self, op, *p);
    });
}

void run_activation_job(self_ptr self, op_ptr op) {
  // Without reconcile, no earlier attempt under this key launched a job
  // this adapter does not know: the saga reconciles every attempt after an
  // unknown outcome, a restart, or a park that named its job (a park with
  // outputs). So a first launch lists no jobs: listing them costs a page
  // per page_size jobs launched since the saga began.
  if (!op->req.reconcile && !known_job(self, op->req))
    return check_prompts_then_launch(self, op);
  find_job(self, op, [self, op](std::optional<int64_t> job) {
    if (job)
      poll(self, op, *job);
    else
      check_prompts_then_launch(self, op);
  });
}

// -- awx.cancel_job -----------------------------------------------------------

void cancel_job(self_ptr self, op_ptr op) {
  find_job(self, op, [self, op](std::optional<int64_t> job) {
    if (!job)
      return finish(self, op, events::reply_succeeded(), call_outcome::success);
    auto url = join_url(op->ts.base_url, job_path(*job, "cancel/"));
    auto id = std::to_string(*job);
    send_traced(
      self, op, make_request(op->ts, "POST", std::move(url)),
      [self, op, id](http::response& res) {
        // 405: the job already finished; 404: it is gone.
        if (res.status == 202 || res.status == 405 || res.status == 404)
          return finish(self, op, events::reply_succeeded({{"job_id", id}}),
                        call_outcome::success);
        finish(self, op, failure_reply("cancel of job " + id, res, false),
               health_of(res));
      });
  });
}

// -- behavior -----------------------------------------------------------------

adapter_actor::behavior_type
awx_behavior(self_ptr self, awx_settings settings, http::http_actor http,
             std::shared_ptr<resilience::guard> g) {
  auto& init = self->state;
  for (auto& [tenant, ts] : settings.tenants) {
    ts.base_url = normalized_base_url(ts.base_url);
    awx_settings one;
    one.tenants.emplace(tenant, ts);
    if (auto err = validate(one))
      init.invalid.emplace(tenant, render_error(err));
  }
  init.settings = std::move(settings);
  init.http = std::move(http);
  init.guard = g ? std::move(g) : std::make_shared<resilience::guard>();
  init.clock = init.settings.clock
                 ? init.settings.clock
                 : std::make_shared<resilience::steady_clock_source>();
  return {
    [self](invoke_atom, adapter_request& req) -> caf::result<adapter_reply> {
      auto& st = self->state;
      auto t = st.settings.tenants.find(req.tenant_id);
      if (t == st.settings.tenants.end())
        return events::reply_failed(adapter_outcome::permanent_failure,
                                    "no AWX settings for tenant "
                                      + req.tenant_id);
      if (auto i = st.invalid.find(req.tenant_id); i != st.invalid.end())
        return events::reply_failed(adapter_outcome::permanent_failure,
                                    i->second);
      if (req.operation != run_job_op && req.operation != cancel_op)
        return events::reply_failed(adapter_outcome::permanent_failure,
                                    "AWX adapter: unknown operation "
                                      + req.operation);
      if (req.idempotency_key.empty())
        return events::reply_failed(adapter_outcome::permanent_failure,
                                    "AWX adapter: empty idempotency key");
      auto op = std::make_shared<operation>();
      op->ts = t->second;
      op->promise = self->make_response_promise<adapter_reply>();
      op->req = std::move(req);
      // At the tenant's limit the call waits for a slot (at most the
      // queue's max_wait) instead of parking at once.
      st.slots.admit(*st.guard, op->req.tenant_id, breaker_adapter,
                     op->ts.base_url, st.clock->now(),
                     [self, op](resilience::admission adm) {
                       if (!adm) {
                         op->promise.deliver(adm.parked_reply());
                         return;
                       }
                       op->ticket = std::move(adm.ticket);
                       op->started = self->state.clock->now();
                       if (op->req.operation == run_job_op)
                         run_activation_job(self, op);
                       else
                         cancel_job(self, op);
                     });
      arm_tick(self);
      return op->promise;
    },
    [self](tick_atom) {
      auto& st = self->state;
      st.slots.on_tick();
      st.slots.drain_all(*st.guard, st.clock->now());
      arm_tick(self);
    },
    [self](health_atom, std::string& tenant) -> caf::result<adapter_reply> {
      auto& st = self->state;
      auto t = st.settings.tenants.find(tenant);
      if (t == st.settings.tenants.end())
        return events::reply_failed(adapter_outcome::permanent_failure,
                                    "no AWX settings for tenant " + tenant);
      auto promise = self->make_response_promise<adapter_reply>();
      const auto& ts = t->second;
      send_http(self, make_request(ts, "GET", join_url(ts.base_url, "me/")),
                [promise](http::response& res) mutable {
                  if (res.status == 200)
                    promise.deliver(events::reply_succeeded());
                  else
                    promise.deliver(failure_reply("health probe", res, false));
                });
      return promise;
    },
  };
}

} // namespace

adapter_actor spawn_awx_adapter(caf::actor_system& sys, awx_settings settings,
                                http::http_actor http,
                                std::shared_ptr<resilience::guard> guard) {
  return sys.spawn(awx_behavior, std::move(settings), std::move(http),
                   std::move(guard));
}

} // namespace ispflow::adapters::awx
