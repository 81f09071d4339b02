#include "actors/drift/scanner.hpp"

#include "adapters/genieacs/observe.hpp"
#include "adapters/netbox/observe.hpp"
#include "adapters/postgres/codec.hpp"
#include "adapters/radius/observe.hpp"
#include "adapters/resilience/guard.hpp"
#include "adapters/voltha/device_client.hpp"
#include "adapters/voltha/observe.hpp"
#include "common/thread_name.hpp"
#include "events/cloud_event.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sagas/repair_saga.hpp"

#include <algorithm>
#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <set>
#include <thread>
#include <variant>

namespace ispflow::actors::drift {

namespace {

namespace res = adapters::resilience;
namespace http = adapters::http;

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;
using steady = std::chrono::steady_clock;

const std::vector<std::string>& system_names() {
  static const std::vector<std::string> xs{std::string{system_radius},
                                           std::string{system_netbox},
                                           std::string{system_voltha},
                                           std::string{system_genieacs}};
  return xs;
}

std::string new_scan_id() {
  static std::mutex mtx;
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t r = 0;
  {
    std::lock_guard<std::mutex> guard{mtx};
    r = rng();
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  char buf[64];
  std::snprintf(buf, sizeof(buf), "drift-%lld-%08x", static_cast<long long>(us),
                static_cast<unsigned>(r & 0xffffffffu));
  return buf;
}

void put(json_writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// One page of subscriber records, keyset-paginated by id within a tenant;
// only states with a desired network state (compare.hpp).
constexpr const char* page_sql
  = "SELECT id, state, service_type, COALESCE(plan_id, ''), "
    "COALESCE(radius_username, ''), COALESCE(ip_address, ''), "
    "COALESCE(onu_id, ''), COALESCE(cpe_id, ''), "
    "COALESCE(profile->>'access.onu_serial', '') "
    "FROM subscribers WHERE tenant_id = $1 AND id > $2 "
    "AND state IN ('active', 'suspended') ORDER BY id LIMIT $3";

// The findings of a page ($2, a JSON array), the page's events ($3, the
// outbox's record format), its repair events ($5: inbox rows of type
// sagas::repair_event_type, on the partition of the subscriber's latest
// input event, else partition 0 of topic $7) and the scan's progress, in
// one transaction. A subscriber whose earlier repair has not started or
// ended gets no second one; its findings say so. The event ids derive from
// scan, tenant and subscriber: a page written again adds nothing.
constexpr const char* page_write_sql = R"sql(
WITH r AS (
  INSERT INTO inbox (source, event_id, type, tenant_id, subscriber_id,
                     event_time, payload, topic, "partition", "offset")
  SELECT $6, x.event_id, $8, x.tenant_id, x.subscriber_id, now(), x.payload,
         COALESCE(l.topic, $7), COALESCE(l."partition", 0),
         COALESCE(l."offset", 0)
    FROM jsonb_to_recordset($5::jsonb) AS x(event_id text, tenant_id text,
         subscriber_id text, payload jsonb)
    LEFT JOIN LATERAL (
      SELECT i.topic, i."partition", i."offset" FROM inbox i
       WHERE i.tenant_id = x.tenant_id AND i.subscriber_id = x.subscriber_id
       ORDER BY i.id DESC LIMIT 1) l ON true
   WHERE NOT EXISTS (
           SELECT 1 FROM inbox e
            WHERE e.tenant_id = x.tenant_id
              AND e.subscriber_id = x.subscriber_id AND e.type = $8
              -- Unstarted, as inbox_unstarted_subscriber_idx's predicate
              -- says it (schema/0020): a probe of that index.
              AND COALESCE(e.saga_id, e.skipped_reason) IS NULL)
     AND NOT EXISTS (
           SELECT 1 FROM sagas s
            WHERE s.tenant_id = x.tenant_id
              AND s.subscriber_id = x.subscriber_id AND s.name = $9
              AND s.state IN ('pending', 'running', 'compensating',
                              'needs_attention'))
  ON CONFLICT (tenant_id, source, event_id) DO NOTHING
  RETURNING tenant_id, event_id
), f AS (
  INSERT INTO drift_findings (scan_id, tenant_id, subscriber_id, system, kind,
                              expected, observed, repair, unrepairable)
  SELECT $1, x.tenant_id, x.subscriber_id, x.system, x.kind, x.expected,
         x.observed,
         CASE WHEN x.repair IS NULL THEN NULL
              WHEN EXISTS (SELECT 1 FROM r WHERE r.tenant_id = x.tenant_id
                                             AND r.event_id = x.repair)
              THEN x.repair
              ELSE 'not started: an earlier repair of the subscriber has '
                   || 'not ended' END,
         x.unrepairable
    FROM jsonb_to_recordset($2::jsonb) AS x(tenant_id text,
         subscriber_id text, system text, kind text, expected text,
         observed text, repair text, unrepairable text)
  ON CONFLICT DO NOTHING
  RETURNING 1
), o AS (
  INSERT INTO outbox (topic, key, value, headers)
  SELECT m->>'topic', decode(m->>'key', 'base64'),
         decode(m->>'value', 'base64'), m->'headers'
    FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS y(m, k)
   ORDER BY y.k
  RETURNING 1
)
UPDATE drift_scans
   SET subscribers = subscribers + $4,
       findings = findings + (SELECT count(*) FROM f),
       repairs = repairs + (SELECT count(*) FROM r)
 WHERE id = $1
RETURNING (SELECT count(*) FROM r)
)sql";

// Paces requests to one system at `rate` per second.
struct pacer {
  int rate = 0;
  steady::time_point next{};

  void wait() {
    if (rate <= 0)
      return;
    auto now = steady::now();
    if (next > now)
      std::this_thread::sleep_for(next - now);
    next = std::max(next, now) + std::chrono::nanoseconds{1'000'000'000 / rate};
  }
};

// One subscriber of a page with what was observed of it.
struct entry {
  desired_subscriber want;
  observation seen;
  std::vector<finding> found;
  /// The repair's inbox event id; empty: none planned.
  std::string repair;
  /// Its payload (JSON).
  std::string repair_payload;
  /// The kinds it repairs, and why the others are not.
  std::set<std::string> repaired;
  std::map<std::string, std::string> unrepairable;
};

} // namespace

struct scanner::impl {
  caf::actor_system& sys;
  scanner_settings cfg;
  std::thread worker;
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<std::pair<std::string, scan_request>> queue;
  std::optional<std::pair<std::chrono::seconds, scan_request>> periodic;
  steady::time_point next_periodic{};
  bool stopping = false;
  std::atomic<bool> stop_flag{false};

  impl(caf::actor_system& s, scanner_settings c) : sys(s), cfg(std::move(c)) {
    // nop
  }

  // -- validation and the scans table -------------------------------------

  caf::error check(const scan_request& req) const {
    if (!req.tenant_id.empty()
        && std::none_of(cfg.tenants.begin(), cfg.tenants.end(),
                        [&](const tenant_view& t) {
                          return t.tenant_id == req.tenant_id;
                        }))
      return caf::make_error(errc::invalid_input,
                             "unknown tenant " + req.tenant_id);
    if (req.repair && req.dry_run)
      return caf::make_error(errc::invalid_input,
                             "repair and dry_run exclude each other: a dry "
                             "run only reports");
    for (const auto& s : req.systems)
      if (std::find(system_names().begin(), system_names().end(), s)
          == system_names().end())
        return caf::make_error(errc::invalid_input,
                               "unknown system " + s
                                 + " (radius, netbox, voltha, genieacs)");
    return {};
  }

  caf::expected<std::string> record(const scan_request& req) {
    auto id = new_scan_id();
    try {
      pqxx::connection conn{cfg.dsn};
      pqxx::work tx{conn};
      std::vector<std::string> systems = req.systems;
      tx.exec_params("INSERT INTO drift_scans (id, tenant_id, systems, "
                     "dry_run, repair, trigger, state) VALUES ($1, "
                     "NULLIF($2, ''), $3::text[], $4, $5, $6, 'queued')",
                     id, req.tenant_id,
                     adapters::postgres::detail::text_array(systems),
                     req.dry_run, req.repair, req.trigger);
      tx.commit();
      return id;
    } catch (const std::exception& e) {
      return caf::make_error(errc::database_unavailable,
                             std::string{"drift: cannot record the scan: "}
                               + e.what());
    }
  }

  void finish(pqxx::connection& conn, const scan_summary& s) {
    rapidjson::StringBuffer req_buf;
    json_writer rw{req_buf};
    rw.StartObject();
    for (const auto& [k, v] : s.requests) {
      rw.Key(k.c_str());
      rw.Uint64(v);
    }
    rw.EndObject();
    rapidjson::StringBuffer un_buf;
    json_writer uw{un_buf};
    uw.StartObject();
    for (const auto& [k, v] : s.unobserved)
      put(uw, k.c_str(), v);
    uw.EndObject();
    pqxx::work tx{conn};
    tx.exec_params("UPDATE drift_scans SET state = $2, error = NULLIF($3, ''), "
                   "requests = $4::jsonb, unobserved = $5::jsonb, "
                   "finished_at = now() WHERE id = $1",
                   s.id, s.state, s.error, std::string{req_buf.GetString()},
                   std::string{un_buf.GetString()});
    tx.commit();
  }

  // -- observation --------------------------------------------------------

  bool selected(const scan_request& req, std::string_view system) const {
    return req.systems.empty()
           || std::find(req.systems.begin(), req.systems.end(), system)
                != req.systems.end();
  }

  // Asks the guard for a call of `system` at `endpoint`; waits out tenant
  // limits for a while, gives up on an open breaker.
  std::variant<std::optional<res::guard_ticket>, std::string>
  admit(const std::string& tenant, const std::string& system,
        const std::string& endpoint) {
    if (!cfg.guard)
      return std::optional<res::guard_ticket>{};
    for (int attempt = 0;; ++attempt) {
      auto adm = cfg.guard->admit(tenant, system, endpoint, steady::now());
      if (adm)
        return std::optional<res::guard_ticket>{std::move(adm.ticket)};
      if (adm.reason != res::park_reason::tenant_limit || attempt >= 100
          || stop_flag)
        return adm.detail.empty() ? std::string{to_string(adm.reason)}
                                  : adm.detail;
      std::this_thread::sleep_for(adm.retry_after);
    }
  }

  void complete(const std::optional<res::guard_ticket>& ticket, bool ok,
                steady::time_point started) {
    if (!cfg.guard || !ticket)
      return;
    auto now = steady::now();
    cfg.guard->complete(
      *ticket, ok ? res::call_outcome::success : res::call_outcome::failure,
      now - started, now);
  }

  http::response send_http(http::request req) {
    caf::scoped_actor self{sys};
    http::response out;
    self->request(cfg.http, caf::infinite, http_atom_v, std::move(req))
      .receive([&](http::response& r) { out = std::move(r); },
               [&](caf::error& e) {
                 out.error = http::transport_error::other;
                 out.error_text = to_string(e);
               });
    return out;
  }

  // A fetch function for one system of one tenant: paced, guarded, counted.
  std::function<http::response(http::request)>
  fetch_for(const std::string& tenant, const std::string& system,
            const std::string& endpoint, pacer& pace) {
    return [this, tenant, system, endpoint, &pace](http::request req) {
      pace.wait();
      auto adm = admit(tenant, system, endpoint);
      if (auto* why = std::get_if<std::string>(&adm)) {
        http::response r;
        r.error = http::transport_error::other;
        r.error_text = "not admitted: " + *why;
        return r;
      }
      auto& ticket = std::get<std::optional<res::guard_ticket>>(adm);
      auto started = steady::now();
      auto res = send_http(std::move(req));
      // A 4xx is a healthy system's answer (as for the steps' calls).
      complete(ticket, res.has_response() && res.status < 500, started);
      return res;
    };
  }

  // -- one scan -----------------------------------------------------------

  scan_summary execute(const std::string& id, const scan_request& req) {
    scan_summary sum;
    sum.id = id;
    sum.trigger = req.trigger;
    try {
      pqxx::connection conn{cfg.dsn};
      pqxx::nontransaction{conn}.exec("SET jit = off");
      conn.prepare("drift_page", page_sql);
      conn.prepare("drift_page_write", page_write_sql);
      {
        pqxx::work tx{conn};
        tx.exec_params("UPDATE drift_scans SET state = 'running', "
                       "started_at = now() WHERE id = $1",
                       id);
        tx.commit();
      }
      std::map<std::string, pacer> pacers;
      for (const auto& s : system_names()) {
        auto i = cfg.rate_per_second.find(s);
        pacers[s].rate = i == cfg.rate_per_second.end() ? 0 : i->second;
      }
      adapters::radius::observer radius{cfg.dsn};
      for (const auto& t : cfg.tenants) {
        if (!req.tenant_id.empty() && t.tenant_id != req.tenant_id)
          continue;
        if (stop_flag)
          break;
        scan_tenant(conn, radius, t, id, req, pacers, sum);
      }
      sum.requests[std::string{system_radius}] += radius.statements();
      sum.state = stop_flag ? "failed" : "completed";
      if (stop_flag)
        sum.error = "stopped";
      finish(conn, sum);
    } catch (const std::exception& e) {
      sum.state = "failed";
      sum.error = e.what();
      try {
        pqxx::connection conn{cfg.dsn};
        finish(conn, sum);
      } catch (const std::exception&) {
        // nop: the row stays "running"; the summary carries the error
      }
    }
    if (cfg.on_scan)
      cfg.on_scan(sum);
    return sum;
  }

  void unobserved(scan_summary& sum, std::string_view system,
                  const std::string& why) {
    sum.unobserved.emplace(std::string{system}, why);
  }

  void scan_tenant(pqxx::connection& conn, adapters::radius::observer& radius,
                   const tenant_view& t, const std::string& id,
                   const scan_request& req, std::map<std::string, pacer>& pace,
                   scan_summary& sum) {
    auto sys_name = [](std::string_view s) { return std::string{s}; };
    bool use_radius = t.radius && selected(req, system_radius);
    bool use_netbox = t.netbox && selected(req, system_netbox);
    bool use_voltha = t.voltha && selected(req, system_voltha);
    bool use_genieacs = t.genieacs && selected(req, system_genieacs);
    // NetBox and VOLTHA: once per scan and tenant.
    std::optional<std::map<std::string, std::vector<std::string>>> addresses;
    if (use_netbox) {
      auto fetch = fetch_for(t.tenant_id, sys_name(system_netbox),
                             t.netbox_settings.base_url,
                             pace[sys_name(system_netbox)]);
      auto got = adapters::netbox::observe_addresses(
        t.netbox_settings, fetch, sum.requests[sys_name(system_netbox)]);
      if (got)
        addresses = std::move(*got);
      else
        unobserved(sum, system_netbox, to_string(got.error()));
    }
    std::optional<adapters::voltha::observed_onus> onus;
    if (use_voltha)
      onus = observe_voltha(t, pace[sys_name(system_voltha)], sum);
    std::optional<std::function<http::response(http::request)>> acs_fetch;
    if (use_genieacs)
      acs_fetch = fetch_for(t.tenant_id, sys_name(system_genieacs),
                            t.genieacs_settings.base_url,
                            pace[sys_name(system_genieacs)]);
    std::string after;
    for (;;) {
      if (stop_flag)
        return;
      std::vector<entry> page;
      {
        pqxx::read_transaction tx{conn};
        auto rows = tx.exec_prepared("drift_page", t.tenant_id, after,
                                     static_cast<int64_t>(cfg.page_size));
        for (const auto& row : rows) {
          entry e;
          auto& d = e.want;
          d.tenant_id = t.tenant_id;
          d.subscriber_id = row[0].as<std::string>();
          d.state = row[1].as<std::string>();
          d.service_type = row[2].as<std::string>();
          d.plan_id = row[3].as<std::string>();
          d.radius_username = row[4].as<std::string>();
          d.ip_address = row[5].as<std::string>();
          d.onu_id = row[6].as<std::string>();
          d.cpe_id = row[7].as<std::string>();
          d.onu_serial = row[8].as<std::string>();
          if (auto g = t.plan_groups.find(d.plan_id); g != t.plan_groups.end())
            d.plan_group = g->second;
          d.suspend_policy = t.suspend_policy;
          d.walled_garden_group = t.walled_garden_group;
          d.suspend_disables_onu = t.suspend_disables_onu;
          d.cpe_tags = t.cpe_tags;
          page.push_back(std::move(e));
        }
        tx.commit();
      }
      if (page.empty())
        return;
      after = page.back().want.subscriber_id;
      if (use_radius)
        observe_radius(radius, t, page, pace[sys_name(system_radius)], sum);
      if (addresses)
        for (auto& e : page) {
          auto i = addresses->find(e.want.subscriber_id);
          e.seen.netbox = netbox_observed{};
          if (i != addresses->end())
            e.seen.netbox->addresses = i->second;
        }
      if (onus)
        for (auto& e : page) {
          onu_observed o;
          auto i = onus->by_id.find(e.want.onu_id);
          if (i != onus->by_id.end()) {
            o.present = true;
            o.admin_state = i->second.admin_state;
            o.oper_status = i->second.oper_status;
          } else if (!e.want.onu_serial.empty()) {
            auto s = onus->id_by_serial.find(e.want.onu_serial);
            if (s != onus->id_by_serial.end())
              o.replaced_by = s->second;
          }
          e.seen.voltha = std::move(o);
        }
      if (acs_fetch)
        observe_genieacs(t, page, *acs_fetch, sum);
      write_page(conn, t, id, req, page, sum);
      if (page.size() < static_cast<size_t>(cfg.page_size))
        return;
    }
  }

  std::optional<adapters::voltha::observed_onus>
  observe_voltha(const tenant_view& t, pacer& pace, scan_summary& sum) {
    auto client = adapters::voltha::device_client::make(t.voltha_grpc);
    if (!client) {
      unobserved(sum, system_voltha, to_string(client.error()));
      return std::nullopt;
    }
    pace.wait();
    auto adm = admit(t.tenant_id, std::string{system_voltha}, "default");
    if (auto* why = std::get_if<std::string>(&adm)) {
      unobserved(sum, system_voltha, "not admitted: " + *why);
      return std::nullopt;
    }
    auto started = steady::now();
    ++sum.requests[std::string{system_voltha}];
    auto got = adapters::voltha::observe_onus(**client, t.voltha_deadline);
    complete(std::get<std::optional<res::guard_ticket>>(adm),
             static_cast<bool>(got), started);
    if (!got) {
      unobserved(sum, system_voltha, to_string(got.error()));
      return std::nullopt;
    }
    return std::move(*got);
  }

  void observe_radius(adapters::radius::observer& radius, const tenant_view& t,
                      std::vector<entry>& page, pacer& pace,
                      scan_summary& sum) {
    std::vector<std::string> names;
    for (const auto& e : page)
      if (!e.want.radius_username.empty())
        names.push_back(e.want.radius_username);
    if (names.empty())
      return;
    pace.wait();
    auto adm = admit(t.tenant_id, std::string{system_radius}, "default");
    if (auto* why = std::get_if<std::string>(&adm)) {
      unobserved(sum, system_radius, "not admitted: " + *why);
      return;
    }
    auto started = steady::now();
    auto got = radius.observe(names);
    complete(std::get<std::optional<res::guard_ticket>>(adm),
             static_cast<bool>(got), started);
    if (!got) {
      unobserved(sum, system_radius, to_string(got.error()));
      return;
    }
    for (auto& e : page) {
      auto i = got->find(e.want.radius_username);
      if (i == got->end())
        continue;
      e.seen.radius
        = radius_observed{i->second.has_password,    i->second.rejected,
                          i->second.groups,          i->second.open_sessions,
                          i->second.stored_password, i->second.sealed_key_id};
    }
  }

  void observe_genieacs(const tenant_view& t, std::vector<entry>& page,
                        const std::function<http::response(http::request)>& f,
                        scan_summary& sum) {
    std::vector<std::string> ids;
    for (const auto& e : page)
      if (!e.want.cpe_id.empty())
        ids.push_back(e.want.cpe_id);
    if (ids.empty())
      return;
    auto got = adapters::genieacs::observe_devices(
      t.genieacs_settings, ids, f, sum.requests[std::string{system_genieacs}]);
    if (!got) {
      unobserved(sum, system_genieacs, to_string(got.error()));
      return;
    }
    for (auto& e : page) {
      cpe_observed c;
      if (auto i = got->find(e.want.cpe_id); i != got->end()) {
        c.present = true;
        c.pppoe_username = i->second.pppoe_username;
        c.tags = i->second.tags;
      }
      e.seen.genieacs = std::move(c);
    }
  }

  // -- results ------------------------------------------------------------

  events::kafka_record event(const std::string& type, const std::string& id,
                             const entry& e) {
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    w.StartObject();
    w.Key("schema_version");
    w.Int(1);
    put(w, "scan_id", id);
    put(w, "tenant_id", e.want.tenant_id);
    put(w, "subscriber_id", e.want.subscriber_id);
    w.Key("findings");
    w.StartArray();
    for (const auto& f : e.found) {
      w.StartObject();
      put(w, "system", f.system);
      put(w, "kind", f.kind);
      put(w, "expected", f.expected);
      put(w, "observed", f.observed);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    events::cloud_event ev;
    ev.id = id + "/" + e.want.subscriber_id + "/" + type;
    ev.source = cfg.source;
    ev.type = type;
    ev.time = events::rfc3339_now();
    ev.subject = e.want.subscriber_id;
    ev.tenant_id = e.want.tenant_id;
    ev.data = buf.GetString();
    return events::encode_binary(ev, cfg.saga_topic);
  }

  // Plans the repair of `e` (sagas::plan_repair): the unrepairable kinds
  // with their reasons always; with `repair`, the inbox event of the
  // repair saga when a step applies.
  void plan(const tenant_view& t, const std::string& id, bool repair,
            entry& e) {
    sagas::repair_input in;
    in.state = e.want.state;
    in.service_type = e.want.service_type;
    in.suspend_disables_onu = e.want.suspend_disables_onu;
    in.stored_password = e.seen.radius && e.seen.radius->stored_password;
    // The password sealed with a key this process holds (schema/0018).
    const auto& keys = cfg.seal_key_ids;
    in.sealing_configured = !keys.empty();
    in.sealed_password = e.seen.radius && !e.seen.radius->sealed_key_id.empty()
                         && std::find(keys.begin(), keys.end(),
                                      e.seen.radius->sealed_key_id)
                              != keys.end();
    for (const auto& f : e.found)
      in.kinds.push_back(f.kind);
    auto p = sagas::plan_repair(in);
    for (auto& u : p.unrepairable)
      e.unrepairable.emplace(u.kind, u.reason);
    if (!repair || p.steps.empty())
      return;
    e.repaired.insert(p.repaired.begin(), p.repaired.end());
    e.repair = id + "/" + t.tenant_id + "/" + e.want.subscriber_id;
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    w.StartObject();
    w.Key("schema_version");
    w.Int(1);
    put(w, "tenant_id", e.want.tenant_id);
    put(w, "subscriber_id", e.want.subscriber_id);
    // What the NetBox and GenieACS steps restore, from the record (the
    // saga's payload otherwise holds only what its profile inherited).
    auto runs = [&p](std::string_view step) {
      return std::find(p.steps.begin(), p.steps.end(), step) != p.steps.end();
    };
    if (runs("assign_ip") || runs("release_stray_ips"))
      put(w, "ip_address", e.want.ip_address);
    if (runs("tag_cpe")) {
      put(w, "cpe_id", e.want.cpe_id);
      w.Key("cpe_tags");
      w.StartArray();
      for (const auto& tag : e.want.cpe_tags)
        w.String(tag.c_str(), static_cast<rapidjson::SizeType>(tag.size()));
      w.EndArray();
    }
    // configure_cpe's password is opened from the account when it runs
    // (adapters/radius/sealed_credentials.hpp), never written here.
    if (runs("configure_cpe")) {
      w.Key("credentials");
      w.StartObject();
      put(w, "sealed", "radius_account");
      w.EndObject();
    }
    w.Key("drift");
    w.StartObject();
    put(w, "scan_id", id);
    put(w, "state", e.want.state);
    w.Key("steps");
    w.StartObject();
    for (const auto& step : p.steps) {
      w.Key(step.c_str());
      w.Bool(true);
    }
    w.EndObject();
    w.Key("findings");
    w.StartArray();
    for (const auto& f : e.found) {
      if (e.repaired.count(f.kind) == 0)
        continue;
      w.StartObject();
      put(w, "system", f.system);
      put(w, "kind", f.kind);
      put(w, "expected", f.expected);
      put(w, "observed", f.observed);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    w.EndObject();
    e.repair_payload = buf.GetString();
  }

  void write_page(pqxx::connection& conn, const tenant_view& t,
                  const std::string& id, const scan_request& req,
                  std::vector<entry>& page, scan_summary& sum) {
    std::vector<events::kafka_record> records;
    for (auto& e : page) {
      e.found = compare(e.want, e.seen);
      if (e.found.empty())
        continue;
      for (const auto& f : e.found)
        ++sum.by_kind[f.kind];
      sum.findings += static_cast<int64_t>(e.found.size());
      plan(t, id, req.repair && !req.dry_run, e);
      for (const auto& [kind, why] : e.unrepairable)
        ++sum.unrepairable[kind];
      if (req.dry_run)
        continue;
      records.push_back(event("drift.detected", id, e));
    }
    sum.subscribers += static_cast<int64_t>(page.size());
    rapidjson::StringBuffer buf;
    json_writer w{buf};
    w.StartArray();
    for (const auto& e : page)
      for (const auto& f : e.found) {
        w.StartObject();
        put(w, "tenant_id", e.want.tenant_id);
        put(w, "subscriber_id", e.want.subscriber_id);
        put(w, "system", f.system);
        put(w, "kind", f.kind);
        put(w, "expected", f.expected);
        put(w, "observed", f.observed);
        w.Key("repair");
        if (e.repaired.count(f.kind) > 0)
          w.String(e.repair.c_str());
        else
          w.Null();
        w.Key("unrepairable");
        if (auto u = e.unrepairable.find(f.kind); u != e.unrepairable.end())
          w.String(u->second.c_str());
        else
          w.Null();
        w.EndObject();
      }
    w.EndArray();
    rapidjson::StringBuffer rbuf;
    json_writer rw{rbuf};
    rw.StartArray();
    for (const auto& e : page) {
      if (e.repair.empty())
        continue;
      rw.StartObject();
      put(rw, "event_id", e.repair);
      put(rw, "tenant_id", e.want.tenant_id);
      put(rw, "subscriber_id", e.want.subscriber_id);
      rw.Key("payload");
      rw.RawValue(e.repair_payload.c_str(), e.repair_payload.size(),
                  rapidjson::kObjectType);
      rw.EndObject();
    }
    rw.EndArray();
    std::string outbox;
    adapters::postgres::detail::append_records_json(outbox, records);
    pqxx::work tx{conn};
    auto res = tx.exec_prepared(
      "drift_page_write", id, std::string{buf.GetString()}, outbox,
      static_cast<int64_t>(page.size()), std::string{rbuf.GetString()},
      cfg.repair_source, cfg.repair_topic,
      std::string{sagas::repair_event_type}, std::string{sagas::repair_saga});
    tx.commit();
    if (!res.empty())
      sum.repairs += res[0][0].as<int64_t>();
  }

  // -- the thread ---------------------------------------------------------

  void loop() {
    common::name_this_thread("isp.drift");
    std::unique_lock<std::mutex> lk{mtx};
    while (!stopping) {
      if (queue.empty()) {
        if (periodic) {
          if (steady::now() >= next_periodic) {
            next_periodic = steady::now() + periodic->first;
            auto req = periodic->second;
            lk.unlock();
            if (auto id = record(req))
              execute(*id, req);
            lk.lock();
            continue;
          }
          cv.wait_until(lk, next_periodic);
        } else {
          cv.wait(lk);
        }
        continue;
      }
      auto job = std::move(queue.front());
      queue.pop_front();
      lk.unlock();
      execute(job.first, job.second);
      lk.lock();
    }
  }
};

scanner::scanner(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

scanner::~scanner() {
  stop();
}

caf::expected<std::unique_ptr<scanner>>
scanner::make(caf::actor_system& sys, scanner_settings settings) {
  if (settings.page_size < 1 || settings.page_size > 10'000)
    return caf::make_error(errc::invalid_config,
                           "drift.page_size must be within 1..10000");
  for (const auto& [system, rate] : settings.rate_per_second)
    if (rate < 0)
      return caf::make_error(errc::invalid_config,
                             "drift rate of " + system + " is negative");
  auto ptr = std::make_unique<impl>(sys, std::move(settings));
  auto* raw = ptr.get();
  ptr->worker = std::thread{[raw] { raw->loop(); }};
  return std::unique_ptr<scanner>{new scanner(std::move(ptr))};
}

caf::expected<std::string> scanner::start(scan_request req) {
  if (auto err = impl_->check(req))
    return err;
  auto id = impl_->record(req);
  if (!id)
    return id;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->queue.emplace_back(*id, std::move(req));
  }
  impl_->cv.notify_all();
  return id;
}

caf::expected<scan_summary> scanner::run(scan_request req) {
  if (auto err = impl_->check(req))
    return err;
  auto id = impl_->record(req);
  if (!id)
    return id.error();
  return impl_->execute(*id, req);
}

void scanner::schedule(std::chrono::seconds interval, scan_request req) {
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->periodic.emplace(interval, std::move(req));
    impl_->next_periodic = steady::now() + interval;
  }
  impl_->cv.notify_all();
}

void scanner::stop() {
  if (!impl_)
    return;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->stopping = true;
  }
  impl_->stop_flag = true;
  impl_->cv.notify_all();
  if (impl_->worker.joinable())
    impl_->worker.join();
}

} // namespace ispflow::actors::drift
