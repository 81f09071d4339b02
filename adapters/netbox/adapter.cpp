#include "adapters/netbox/adapter.hpp"

#include "adapters/netbox/wire.hpp"
#include "adapters/resilience/slot_queue.hpp"
#include "common/log.hpp"

#include <algorithm>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <charconv>
#include <functional>
#include <map>
#include <utility>
#include <vector>

namespace ispflow::adapters::netbox {

using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
using events::reply_failed;
using events::reply_succeeded;

namespace {

constexpr std::string_view log_name = "netbox";
constexpr std::string_view op_allocate = "netbox.allocate_ip";
constexpr std::string_view op_release = "netbox.release_ip";
constexpr std::string_view op_assign = "netbox.assign_ip";
constexpr std::string_view op_release_stray = "netbox.release_stray_ips";

// A prefix list read for allocations (tenant_settings::prefix_cache).
struct cached_prefixes {
  std::vector<prefix_ref> prefixes;
  resilience::time_point read_at;
};

struct netbox_state {
  adapter_settings cfg;
  http::http_actor http;
  std::shared_ptr<resilience::guard> guard;
  // Calls that found their tenant at its limit, waiting for a slot.
  resilience::slot_queue slots;
  // By ispflow tenant and the request's site.
  std::map<std::pair<std::string, std::string>, cached_prefixes> prefixes;
  static inline const char* name = "ispflow.netbox";
};

using self_ptr = adapter_actor::stateful_pointer<netbox_state>;

// One operation in flight: its request, settings, promise and guard ticket,
// and what the steps so far learned.
struct call {
  adapter_request req;
  tenant_settings ts;
  caf::typed_response_promise<adapter_reply> promise;
  bool guarded = false;
  resilience::guard_ticket ticket;
  resilience::time_point started;
  // Set when NetBox failed (transport error, 5xx, 429): the breaker counts
  // a failure only then.
  bool system_failed = false;
  std::vector<prefix_ref> prefixes;
  // `prefixes` came from the cache: read again before giving up on them.
  bool from_cache = false;
  // Prefixes that answered full in this call (skipped after a new read).
  std::vector<int64_t> full_prefixes;
  // Addresses of the look-up, every page.
  std::vector<address_ref> found;
  size_t next_prefix = 0;
  std::string last_conflict;
  std::vector<int64_t> to_delete;
  // assign_ip, release_stray_ips: the recorded address (no /len).
  std::string address;
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
  r.headers.emplace_back("Accept", "application/json");
  if (!r.body.empty())
    r.headers.emplace_back("Content-Type", "application/json");
  if (!ts.token.empty())
    r.headers.emplace_back("Authorization",
                           authorization_value(ts.scheme, ts.token));
  return r;
}

// Sends `req`; `k` gets the response. A CAF error (the HTTP actor is gone)
// ends the call: unknown for a POST (it may have been sent), else retryable.
void send(self_ptr self, const call_ptr& c, http::request req, continuation k) {
  req.traceparent = c->req.traceparent;
  auto method = req.method;
  auto path = http::path_of(req.url);
  self->request(self->state.http, caf::infinite, http_atom_v, std::move(req))
    .then(
      [self, c, k = std::move(k), method, path](http::response& res) {
        common::log_debug(log_name, "http",
                          {{"tenant", c->req.tenant_id},
                           {"method", method},
                           {"path", path},
                           {"status", std::to_string(res.status)},
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
                            "netbox: HTTP client failed: " + to_string(err)));
      });
}

// A transport failure: unknown if a non-idempotent request may have reached
// NetBox, else retryable.
adapter_reply transport_failure(const http::response& res, bool effectful,
                                std::string_view what) {
  auto outcome = effectful && res.request_sent
                   ? adapter_outcome::unknown_outcome
                   : adapter_outcome::retryable_failure;
  std::string msg{"netbox: "};
  msg += what;
  msg += ": ";
  msg += http::to_string(res.error);
  if (!res.error_text.empty())
    msg += ": " + res.error_text;
  return reply_failed(outcome, std::move(msg));
}

// An unexpected status: 5xx and 429 retryable, anything else permanent.
adapter_reply status_failure(const http::response& res, std::string_view what) {
  auto outcome = res.status >= 500 || res.status == 429
                   ? adapter_outcome::retryable_failure
                   : adapter_outcome::permanent_failure;
  std::string msg{"netbox: "};
  msg += what;
  msg += ": HTTP " + std::to_string(res.status) + ": "
         + error_message(res.status, res.body);
  return reply_failed(outcome, std::move(msg));
}

// What a filter of ours names and where its value came from.
std::pair<std::string, std::string> filter_origin(const tenant_settings& ts,
                                                  const std::string& filter) {
  if (filter == "tenant" || filter == "tenant_id")
    return {"tenant", "netbox.tenant of the tenant's configuration"};
  if (filter == "site" || filter == "site_id")
    return {"site", ts.site_id > 0 || !ts.site_slug.empty()
                      ? "netbox.site of the tenant's configuration"
                      : "the request's input \"site\""};
  if (filter == "role" || filter == "role_id")
    return {"prefix role", "netbox.prefix_role of the tenant's configuration"};
  return {filter, "filter " + filter};
}

// A look-up NetBox refused: a 400 naming filter values it does not know
// ("Select a valid choice") is permanent and says which slug, which filter
// and where the value came from; anything else as status_failure.
adapter_reply lookup_failure(const tenant_settings& ts,
                             const http::response& res, std::string_view what) {
  if (res.status == 400) {
    auto unknown = unknown_choices(res.body);
    if (!unknown.empty()) {
      std::string msg{"netbox: "};
      msg += what;
      msg += ": ";
      for (size_t i = 0; i < unknown.size(); ++i) {
        auto [noun, origin] = filter_origin(ts, unknown[i].filter);
        msg += (i > 0 ? "; " : "") + std::string{"NetBox has no "} + noun + " '"
               + unknown[i].value + "' (" + origin + "; filter "
               + unknown[i].filter + ": " + unknown[i].message + ")";
      }
      return reply_failed(adapter_outcome::permanent_failure, std::move(msg));
    }
  }
  return status_failure(res, what);
}

// Reads every page of the list at `url`: `on_page` takes each body (false:
// unreadable), following `next` until it is null, at most ts.max_pages
// pages; then `done`. A server whose MAX_PAGE_SIZE is below our `limit`
// answers with fewer results and a `next` link.
void list_pages(self_ptr self, const call_ptr& c, std::string url,
                std::string what,
                std::function<bool(const std::string&)> on_page,
                std::function<void()> done, int32_t page = 1) {
  send(self, c, make_request(c->ts, "GET", std::move(url)),
       [self, c, what, on_page, done, page](http::response& res) {
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, what));
         if (res.status != 200)
           return finish(self, c, lookup_failure(c->ts, res, what));
         if (!on_page(res.body))
           return finish(
             self, c,
             reply_failed(adapter_outcome::retryable_failure,
                          "netbox: " + what + ": unreadable answer"));
         auto next = next_link(res.body);
         if (next.empty())
           return done();
         if (page >= std::max<int32_t>(c->ts.max_pages, 1))
           return finish(
             self, c,
             reply_failed(adapter_outcome::permanent_failure,
                          "netbox: " + what + ": more than "
                            + std::to_string(c->ts.max_pages)
                            + " pages of results (NetBox's MAX_PAGE_SIZE is "
                              "below the look-up's limit); raise "
                              "netbox.max_pages"));
         list_pages(self, c, follow_link(c->ts.base_url, next), what, on_page,
                    done, page + 1);
       });
}

// Every address of the subscriber look-up, exact matches only, into
// c->found; then `done`.
void find_addresses(self_ptr self, const call_ptr& c,
                    std::function<void()> done) {
  auto url = api_url(c->ts.base_url, "/ipam/ip-addresses/",
                     address_lookup_query(c->ts, c->req.subscriber_id));
  list_pages(
    self, c, std::move(url), "look-up",
    [c](const std::string& body) {
      auto xs = parse_addresses(body, c->ts.subscriber_field);
      if (!xs)
        return false;
      for (auto& x : exact_matches(std::move(*xs), c->req.subscriber_id))
        c->found.push_back(std::move(x));
      return true;
    },
    std::move(done));
}

adapter_reply address_reply(const address_ref& a, std::string prefix) {
  events::string_map out;
  out["ip_address"] = std::string{address_without_length(a.address)};
  out["ip_id"] = std::to_string(a.id);
  out["prefix"] = std::move(prefix);
  return reply_succeeded(std::move(out));
}

const std::string* input_of(const adapter_request& req, const char* key) {
  if (auto i = req.input.find(key); i != req.input.end() && !i->second.empty())
    return &i->second;
  return nullptr;
}

// -- allocate_ip --------------------------------------------------------------

void try_next_prefix(self_ptr self, const call_ptr& c);

// Reads every page of the tenant's prefixes (with the request's site) into
// `c->prefixes`, then runs `then`.
void list_tenant_prefixes(self_ptr self, const call_ptr& c,
                          std::function<void()> then) {
  auto* site = input_of(c->req, "site");
  auto url = api_url(c->ts.base_url, "/ipam/prefixes/",
                     prefix_query(c->ts, site ? *site : std::string{}));
  list_pages(
    self, c, std::move(url), "prefixes",
    [c](const std::string& body) {
      auto xs = parse_prefixes(body);
      if (!xs)
        return false;
      c->prefixes.insert(c->prefixes.end(), xs->begin(), xs->end());
      return true;
    },
    std::move(then));
}

std::pair<std::string, std::string> prefix_cache_key(const call_ptr& c) {
  auto* site = input_of(c->req, "site");
  return {c->req.tenant_id, site ? *site : std::string{}};
}

// The allocation's prefixes: the tenant's cached list while it is fresh
// (tenant_settings::prefix_cache), else read (and cached).
void list_prefixes(self_ptr self, const call_ptr& c) {
  auto& cache = self->state.prefixes;
  auto key = prefix_cache_key(c);
  if (c->ts.prefix_cache.count() > 0) {
    if (auto i = cache.find(key); i != cache.end()) {
      if (now_of(self) - i->second.read_at < c->ts.prefix_cache) {
        c->prefixes = i->second.prefixes;
        c->from_cache = true;
        c->next_prefix = 0;
        return try_next_prefix(self, c);
      }
      cache.erase(i);
    }
  }
  c->prefixes.clear();
  c->from_cache = false;
  list_tenant_prefixes(self, c, [self, c, key = std::move(key)] {
    if (c->prefixes.empty())
      return finish(self, c,
                    reply_failed(adapter_outcome::permanent_failure,
                                 "netbox: no active prefix with role '"
                                   + c->ts.prefix_role
                                   + "' for this tenant and site"));
    if (c->ts.prefix_cache.count() > 0)
      self->state.prefixes[key] = cached_prefixes{c->prefixes, now_of(self)};
    // Those this call found full before the new read stay skipped.
    std::erase_if(c->prefixes, [c](const prefix_ref& p) {
      return std::find(c->full_prefixes.begin(), c->full_prefixes.end(), p.id)
             != c->full_prefixes.end();
    });
    c->next_prefix = 0;
    try_next_prefix(self, c);
  });
}

// A cached list failed the allocation (every prefix full, or one gone):
// read it again and go on with what it holds.
void reread_prefixes(self_ptr self, const call_ptr& c) {
  self->state.prefixes.erase(prefix_cache_key(c));
  list_prefixes(self, c);
}

void try_next_prefix(self_ptr self, const call_ptr& c) {
  if (c->next_prefix >= c->prefixes.size() && c->from_cache)
    return reread_prefixes(self, c);
  if (c->next_prefix >= c->prefixes.size())
    return finish(
      self, c,
      reply_failed(adapter_outcome::permanent_failure,
                   "netbox: all " + std::to_string(c->full_prefixes.size())
                     + " prefixes are full; last: " + c->last_conflict));
  const auto& p = c->prefixes[c->next_prefix];
  auto url = api_url(c->ts.base_url, "/ipam/prefixes/" + std::to_string(p.id)
                                       + "/available-ips/");
  auto body = allocation_body(c->ts, c->req.subscriber_id,
                              c->req.idempotency_key);
  send(self, c, make_request(c->ts, "POST", std::move(url), std::move(body)),
       [self, c](http::response& res) {
         const auto& px = c->prefixes[c->next_prefix];
         if (!res.has_response())
           return finish(
             self, c, transport_failure(res, true, "allocate in " + px.prefix));
         // 409 since NetBox 3.1.1; 204 with the same detail before it.
         if (res.status == 409 || res.status == 204) {
           c->last_conflict = px.prefix + ": "
                              + error_message(res.status, res.body);
           common::log_debug(log_name, "prefix full",
                             {{"tenant", c->req.tenant_id},
                              {"prefix", px.prefix}});
           c->full_prefixes.push_back(px.id);
           ++c->next_prefix;
           return try_next_prefix(self, c);
         }
         // A cached prefix deleted since: read the list again.
         if (res.status == 404 && c->from_cache)
           return reread_prefixes(self, c);
         if (res.status != 201 && res.status != 200)
           return finish(self, c,
                         status_failure(res, "allocate in " + px.prefix));
         auto a = parse_address(res.body);
         if (!a)
           return finish(self, c,
                         reply_failed(adapter_outcome::unknown_outcome,
                                      "netbox: allocated in " + px.prefix
                                        + " but the answer is unreadable"));
         finish(self, c, address_reply(*a, px.prefix));
       });
}

void allocate(self_ptr self, const call_ptr& c) {
  // Always look first: a POST after a lost answer would allocate twice.
  // Every page: the subscriber's address may be past the first.
  find_addresses(self, c, [self, c] {
    auto& xs = c->found;
    if (xs.empty())
      return list_prefixes(self, c);
    auto first = std::min_element(xs.begin(), xs.end(),
                                  [](const auto& x, const auto& y) {
                                    return x.id < y.id;
                                  });
    if (xs.size() > 1)
      common::log_warn(log_name, "subscriber holds several addresses",
                       {{"tenant", c->req.tenant_id},
                        {"subscriber", c->req.subscriber_id},
                        {"count", std::to_string(xs.size())}});
    auto net = ipv4_network_of(first->address);
    finish(self, c, address_reply(*first, net ? *net : std::string{}));
  });
}

// -- release_ip ---------------------------------------------------------------

void delete_next(self_ptr self, const call_ptr& c) {
  if (c->to_delete.empty())
    return finish(self, c, reply_succeeded());
  auto id = c->to_delete.back();
  auto url = api_url(c->ts.base_url,
                     "/ipam/ip-addresses/" + std::to_string(id) + "/");
  send(self, c, make_request(c->ts, "DELETE", std::move(url)),
       [self, c, id](http::response& res) {
         // DELETE is idempotent: a lost answer is simply retried.
         if (!res.has_response())
           return finish(self, c, transport_failure(res, false, "release"));
         if (res.status != 204 && res.status != 200 && res.status != 404)
           return finish(
             self, c,
             status_failure(res, "release address " + std::to_string(id)));
         c->to_delete.pop_back();
         delete_next(self, c);
       });
}

void release(self_ptr self, const call_ptr& c) {
  if (auto* text = input_of(c->req, "ip_id")) {
    int64_t id = 0;
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(),
                                     id);
    if (ec != std::errc{} || ptr != text->data() + text->size() || id <= 0)
      return finish(self, c,
                    reply_failed(adapter_outcome::permanent_failure,
                                 "netbox: input ip_id is not an id"));
    c->to_delete.push_back(id);
    return delete_next(self, c);
  }
  // Every page first, then the deletes: deleting while paging would shift
  // the offsets under the look-up.
  find_addresses(self, c, [self, c] {
    for (const auto& a : c->found)
      c->to_delete.push_back(a.id);
    delete_next(self, c);
  });
}

// -- assign_ip ----------------------------------------------------------------

// Creates the recorded address as `cidr` ("a.b.c.d/len"), the subscriber's.
void create_address(self_ptr self, const call_ptr& c, const std::string& cidr) {
  auto url = api_url(c->ts.base_url, "/ipam/ip-addresses/");
  auto body = assignment_body(c->ts, cidr, c->req.subscriber_id,
                              c->req.idempotency_key);
  send(self, c, make_request(c->ts, "POST", std::move(url), std::move(body)),
       [self, c, cidr](http::response& res) {
         // Lost after sending: unknown; the next attempt's look-up by
         // address finds what this one created.
         if (!res.has_response())
           return finish(self, c,
                         transport_failure(res, true, "create " + cidr));
         if (res.status != 201 && res.status != 200)
           return finish(self, c, status_failure(res, "create " + cidr));
         auto a = parse_address(res.body);
         if (!a)
           return finish(self, c,
                         reply_failed(adapter_outcome::unknown_outcome,
                                      "netbox: created " + cidr
                                        + " but the answer is unreadable"));
         finish(self, c, address_reply(*a, ipv4_network_of(cidr).value_or("")));
       });
}

// The mask length of a new address: the input "prefix" (the allocation's)
// when it holds the address, else the tenant's prefix that holds it.
void create_in_prefix(self_ptr self, const call_ptr& c) {
  if (auto* p = input_of(c->req, "prefix"))
    if (auto cidr = address_in_prefix(c->address, *p))
      return create_address(self, c, *cidr);
  list_tenant_prefixes(self, c, [self, c] {
    for (const auto& p : c->prefixes)
      if (auto cidr = address_in_prefix(c->address, p.prefix))
        return create_address(self, c, *cidr);
    finish(self, c,
           reply_failed(adapter_outcome::permanent_failure,
                        "netbox: no active prefix with role '"
                          + c->ts.prefix_role + "' of this tenant holds "
                          + c->address));
  });
}

void assign(self_ptr self, const call_ptr& c) {
  // Always look first (by address, every tenant): the POST is not
  // idempotent, and an address another subscriber holds is never taken.
  auto url = api_url(c->ts.base_url, "/ipam/ip-addresses/",
                     address_query(c->address));
  list_pages(
    self, c, std::move(url), "look-up of " + c->address,
    [c](const std::string& body) {
      auto xs = parse_addresses(body, c->ts.subscriber_field);
      if (!xs)
        return false;
      c->found.insert(c->found.end(), xs->begin(), xs->end());
      return true;
    },
    [self, c] {
      auto plan = plan_assignment(c->ts, c->req.subscriber_id,
                                  c->req.idempotency_key, c->found);
      using action = assignment::action;
      switch (plan.what) {
        case action::refuse:
          return finish(self, c,
                        reply_failed(adapter_outcome::permanent_failure,
                                     "netbox: " + plan.reason
                                       + ": never taken for subscriber "
                                       + c->req.subscriber_id));
        case action::done: {
          auto a = std::find_if(c->found.begin(), c->found.end(),
                                [&](auto& x) { return x.id == plan.id; });
          return finish(
            self, c,
            address_reply(*a, ipv4_network_of(a->address).value_or("")));
        }
        case action::create:
          return create_in_prefix(self, c);
        case action::claim:
          break;
      }
      auto id = plan.id;
      auto item = api_url(c->ts.base_url,
                          "/ipam/ip-addresses/" + std::to_string(id) + "/");
      send(self, c,
           make_request(c->ts, "PATCH", std::move(item), std::move(plan.body)),
           [self, c, id](http::response& res) {
             // The PATCH sets fixed values: a lost answer is retried.
             if (!res.has_response())
               return finish(self, c, transport_failure(res, false, "claim"));
             // Deleted since the look-up: the next attempt creates it.
             auto what = "claim address " + std::to_string(id);
             if (res.status == 404)
               return finish(self, c,
                             reply_failed(adapter_outcome::retryable_failure,
                                          "netbox: " + what + ": gone"));
             if (res.status != 200)
               return finish(self, c, status_failure(res, what));
             auto a = parse_address(res.body);
             if (!a)
               return finish(
                 self, c,
                 reply_failed(adapter_outcome::retryable_failure,
                              "netbox: " + what + ": unreadable answer"));
             finish(self, c,
                    address_reply(*a,
                                  ipv4_network_of(a->address).value_or("")));
           });
    });
}

// -- release_stray_ips --------------------------------------------------------

void release_stray(self_ptr self, const call_ptr& c) {
  find_addresses(self, c, [self, c] {
    bool kept = false;
    for (const auto& a : c->found) {
      if (address_without_length(a.address) == c->address)
        kept = true;
      else
        c->to_delete.push_back(a.id);
    }
    // Never leave the subscriber without its address.
    if (!kept)
      return finish(self, c,
                    reply_failed(adapter_outcome::permanent_failure,
                                 "netbox: subscriber " + c->req.subscriber_id
                                   + " does not hold " + c->address
                                   + ": its other addresses stay"));
    delete_next(self, c);
  });
}

// -- the actor ----------------------------------------------------------------

adapter_actor::behavior_type netbox_fn(self_ptr self, adapter_settings cfg,
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
                            "netbox: no settings for tenant " + req.tenant_id);
      bool is_allocate = req.operation == op_allocate;
      bool by_address = req.operation == op_assign
                        || req.operation == op_release_stray;
      if (!is_allocate && !by_address && req.operation != op_release)
        return reply_failed(adapter_outcome::permanent_failure,
                            "netbox: unknown operation " + req.operation);
      if (req.subscriber_id.empty()
          && (is_allocate || by_address || req.input.count("ip_id") == 0))
        return reply_failed(adapter_outcome::permanent_failure,
                            "netbox: request without a subscriber id");
      std::string address;
      if (by_address) {
        auto* ip = input_of(req, "ip_address");
        if (ip == nullptr || !address_in_prefix(*ip, *ip + "/32"))
          return reply_failed(adapter_outcome::permanent_failure,
                              ip == nullptr
                                ? "netbox: input ip_address is missing"
                                : "netbox: input ip_address is not an IPv4 "
                                  "address without /len: "
                                    + *ip);
        address = *ip;
      }
      auto c = std::make_shared<call>();
      c->ts = i->second;
      c->req = std::move(req);
      c->promise = self->make_response_promise<adapter_reply>();
      c->address = std::move(address);
      auto go = [self, c] {
        c->started = now_of(self);
        if (c->req.operation == op_allocate)
          allocate(self, c);
        else if (c->req.operation == op_assign)
          assign(self, c);
        else if (c->req.operation == op_release_stray)
          release_stray(self, c);
        else
          release(self, c);
      };
      if (!st.guard) {
        go();
        return c->promise;
      }
      // At the tenant's limit the call waits for a slot (at most the
      // queue's max_wait) instead of parking at once.
      st.slots.admit(*st.guard, c->req.tenant_id, "netbox", c->ts.base_url,
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
                            "netbox: no settings for tenant " + tenant_id);
      auto rp = self->make_response_promise<adapter_reply>();
      auto req = make_request(i->second, "GET",
                              api_url(i->second.base_url, "/status/"));
      self->request(st.http, caf::infinite, http_atom_v, std::move(req))
        .then(
          [rp](http::response& res) mutable {
            if (!res.has_response()) {
              rp.deliver(transport_failure(res, false, "status"));
              return;
            }
            if (res.status != 200) {
              rp.deliver(status_failure(res, "status"));
              return;
            }
            auto version = res.header("API-Version");
            events::string_map out;
            out["netbox_version"] = version ? std::string{*version}
                                            : std::string{};
            rp.deliver(reply_succeeded(std::move(out)));
          },
          [rp](caf::error& err) mutable {
            rp.deliver(
              reply_failed(adapter_outcome::retryable_failure,
                           "netbox: HTTP client failed: " + to_string(err)));
          });
      return rp;
    },
  };
}

} // namespace

adapter_actor spawn_netbox_adapter(caf::actor_system& sys,
                                   adapter_settings settings,
                                   http::http_actor http,
                                   std::shared_ptr<resilience::guard> guard) {
  return sys.spawn(netbox_fn, std::move(settings), std::move(http),
                   std::move(guard));
}

} // namespace ispflow::adapters::netbox
