#include "adapters/genieacs/adapter.hpp"
#include "adapters/genieacs/wire.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/netbox/adapter.hpp"
#include "adapters/netbox/wire.hpp"
#include "adapters/resilience/guard.hpp"
#include "common/log.hpp"
#include "events/type_ids.hpp"
#include "sim/genieacs/server.hpp"
#include "sim/netbox/server.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <cstdio>
#include <curl/curl.h>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// Drives the NetBox and GenieACS adapter actors against their simulators
// (in-process, loopback) with W calls in flight, and compares each call with
// the same HTTP exchanges made by a bare libcurl easy handle.

namespace {

using namespace ispflow;
using namespace ispflow::adapters;
using clock_type = std::chrono::steady_clock;
using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;

constexpr const char* token = "0123456789abcdef0123456789abcdef01234567";
constexpr int devices = 64;

struct stats {
  std::vector<double> micros;

  double pct(double p) {
    if (micros.empty())
      return 0;
    std::sort(micros.begin(), micros.end());
    auto i = static_cast<size_t>(p * static_cast<double>(micros.size() - 1));
    return micros[i];
  }
};

// -- raw libcurl baseline
// ------------------------------------------------------

struct raw_client {
  CURL* h = curl_easy_init();
  std::string body;
  // Send `Connection: close` (as the adapters do unless reuse_connections).
  bool close = false;

  ~raw_client() {
    curl_easy_cleanup(h);
  }

  static size_t sink(char* p, size_t n, size_t m, void* ud) {
    static_cast<std::string*>(ud)->append(p, n * m);
    return n * m;
  }

  // One exchange on the kept connection; returns the status.
  long call(const char* method, const std::string& url,
            const std::string& payload, bool auth) {
    body.clear();
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (close)
      headers = curl_slist_append(headers, "Connection: close");
    std::string a = std::string{"Authorization: Token "} + token;
    if (auth)
      headers = curl_slist_append(headers, a.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (!payload.empty() || std::string{method} == "POST") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
                       static_cast<long>(payload.size()));
    }
    curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    return status;
  }
};

double since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0)
    .count();
}

// The exchanges of one allocate (look-up, prefixes, POST) and one release.
void raw_netbox(const netbox::tenant_settings& ts, int n, stats& alloc,
                stats& release) {
  raw_client c;
  c.close = !ts.reuse_connections;
  for (int i = 0; i < n; ++i) {
    auto sub = "raw-" + std::to_string(i);
    auto t0 = clock_type::now();
    c.call("GET",
           netbox::api_url(ts.base_url, "/ipam/ip-addresses/",
                           netbox::address_lookup_query(ts, sub)),
           {}, true);
    c.call("GET",
           netbox::api_url(ts.base_url, "/ipam/prefixes/",
                           netbox::prefix_query(ts, "")),
           {}, true);
    c.call("POST",
           netbox::api_url(ts.base_url, "/ipam/prefixes/1/available-ips/"),
           netbox::allocation_body(ts, sub, "k/" + sub), true);
    alloc.micros.push_back(since(t0));
    auto a = netbox::parse_address(c.body);
    auto t1 = clock_type::now();
    c.call("DELETE",
           netbox::api_url(ts.base_url, "/ipam/ip-addresses/"
                                          + std::to_string(a ? a->id : 0)
                                          + "/"),
           {}, true);
    release.micros.push_back(since(t1));
  }
}

// The exchanges of one configure (device query, task POST).
void raw_genieacs(const genieacs::tenant_settings& ts,
                  const std::vector<std::string>& serials,
                  const std::vector<std::string>& ids, int n, stats& out) {
  raw_client c;
  c.close = !ts.reuse_connections;
  for (int i = 0; i < n; ++i) {
    auto d = static_cast<size_t>(i % devices);
    auto t0 = clock_type::now();
    c.call("GET",
           genieacs::query_url(ts.base_url, "devices",
                               genieacs::device_query(serials[d], "", ""),
                               "_id"),
           {}, false);
    c.call(
      "POST",
      genieacs::task_url(ts.base_url, ids[d], ts.connection_request_timeout),
      genieacs::set_parameters_task({{genieacs::tr098_pppoe_username, "u"},
                                     {genieacs::tr098_pppoe_password, "p"}},
                                    "raw-" + std::to_string(i)),
      false);
    out.micros.push_back(since(t0));
  }
}

// -- adapter driver
// ------------------------------------------------------------

// Keeps `width` requests in flight until `total` are answered; `make(i)`
// builds request i, `next(i, reply)` may return a follow-up request (timed
// into `follow`).
struct drive_result {
  stats first;
  stats follow;
  double seconds = 0;
  int failures = 0;
  std::string last_error;
};

using make_fn = std::function<adapter_request(int)>;
using next_fn
  = std::function<std::optional<adapter_request>(int, const adapter_reply&)>;

drive_result drive(caf::actor_system& sys, api::adapter_actor target, int total,
                   int width, make_fn make, next_fn next) {
  auto result = std::make_shared<drive_result>();
  std::promise<void> done;
  auto fut = done.get_future();
  auto t0 = clock_type::now();
  sys.spawn([=, done = std::make_shared<std::promise<void>>(std::move(done))](
              caf::event_based_actor* self) {
    auto issued = std::make_shared<int>(0);
    auto finished = std::make_shared<int>(0);
    auto launch = std::make_shared<std::function<void()>>();
    auto record = [=](const adapter_reply& rep) {
      if (rep.outcome != adapter_outcome::succeeded) {
        ++result->failures;
        result->last_error = rep.error;
      }
    };
    *launch = [=] {
      if (*issued >= total)
        return;
      auto i = (*issued)++;
      auto started = clock_type::now();
      self->request(target, std::chrono::seconds{60}, invoke_atom_v, make(i))
        .then(
          [=](adapter_reply& rep) {
            result->first.micros.push_back(since(started));
            record(rep);
            auto end = [=] {
              if (++*finished == total) {
                result->seconds
                  = std::chrono::duration<double>(clock_type::now() - t0)
                      .count();
                done->set_value();
                self->quit();
              } else {
                (*launch)();
              }
            };
            auto follow = next ? next(i, rep) : std::nullopt;
            if (!follow)
              return end();
            auto t1 = clock_type::now();
            self
              ->request(target, std::chrono::seconds{60}, invoke_atom_v,
                        std::move(*follow))
              .then(
                [=](adapter_reply& rep2) {
                  result->follow.micros.push_back(since(t1));
                  record(rep2);
                  end();
                },
                [=](caf::error&) {
                  ++result->failures;
                  end();
                });
          },
          [=](caf::error& err) {
            ++result->failures;
            result->last_error = to_string(err);
            if (++*finished == total) {
              done->set_value();
              self->quit();
            } else {
              (*launch)();
            }
          });
    };
    for (int k = 0; k < width; ++k)
      (*launch)();
  });
  fut.wait();
  return *result;
}

caf::actor_system_config& bench_config(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::ispflow>();
  return cfg;
}

// Calls per second count every adapter call (allocate and release both);
// the latencies are those of the first call of each operation.
void row(const char* what, int width, drive_result& r, double raw50,
         double raw99) {
  auto n = static_cast<double>(r.first.micros.size() + r.follow.micros.size());
  auto p50 = r.first.pct(0.5);
  auto p99 = r.first.pct(0.99);
  std::printf("| %-22s | %3d | %9.0f | %8.0f | %8.0f | %8.0f | %8.0f | %d |\n",
              what, width, n / r.seconds, p50, p99, p50 - raw50, p99 - raw99,
              r.failures);
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"NetBox and GenieACS adapter calls per second and added "
               "latency against the simulators"};
  int calls = 2000;
  int raw_calls = 1000;
  std::vector<int> widths{1, 8, 32};
  app.add_option("--calls", calls, "operations per run");
  app.add_option("--raw-calls", raw_calls, "libcurl baseline operations");
  app.add_option("--inflight", widths, "requests in flight (W), repeatable");
  CLI11_PARSE(app, argc, argv);

  common::setup_logging({common::log_level::warn, common::log_format::text});
  curl_global_init(CURL_GLOBAL_DEFAULT);

  auto seed = std::string{"/tmp/ispflow-adapter-bench-netbox.yaml"};
  {
    std::ofstream f{seed};
    f << "custom_fields: [subscriber_id, idempotency_key]\n"
         "tenants: [{id: 1, slug: demo}]\n"
         "sites: [{id: 1, slug: pop-1}]\n"
         "roles: [{id: 1, slug: subscriber}]\n"
         "tags: [{id: 1, slug: subscriber}]\n"
         "prefixes: [{id: 1, prefix: 100.64.0.0/16, site: pop-1, tenant: demo,"
         " role: subscriber}]\n";
  }
  sim::netbox::options nopts;
  nopts.seed_file = seed;
  auto nb = sim::netbox::server::start(nopts);
  auto acs = sim::genieacs::server::start({});
  if (!nb || !acs) {
    std::fprintf(stderr, "cannot start the simulators\n");
    return 1;
  }
  std::vector<std::string> serials;
  std::vector<std::string> ids;
  for (int i = 0; i < devices; ++i) {
    sim::genieacs::device_seed d;
    d.oui = "A0B1C2";
    d.product_class = "Bench";
    d.serial = "BENCH-" + std::to_string(i);
    serials.push_back(d.serial);
    ids.push_back((*acs)->add_device(d));
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{bench_config(cfg)};
  auto http = http::spawn_http_actor(sys);
  // sim/netbox writes its `base` string before taking its lock, so
  // concurrent requests corrupt its heap: the NetBox adapter gets a client
  // with one connection (W requests still queue in the adapter and client).
  http::client_options one;
  one.max_connections_per_host = 1;
  auto nb_http = http::spawn_http_actor(sys, one);
  auto guard = std::make_shared<resilience::guard>();
  int run = 0;
  for (bool reuse : {false, true}) {
    netbox::tenant_settings nts;
    nts.base_url = "http://127.0.0.1:" + std::to_string((*nb)->port());
    nts.token = token;
    nts.tenant_id = 1;
    nts.site_slug = "pop-1";
    nts.reuse_connections = reuse;
    genieacs::tenant_settings gts;
    gts.base_url = "http://127.0.0.1:" + std::to_string((*acs)->port());
    gts.reuse_connections = reuse;

    stats raw_alloc;
    stats raw_release;
    stats raw_configure;
    {
      stats warm_a;
      stats warm_r;
      stats warm_c;
      raw_netbox(nts, 50, warm_a, warm_r);
      raw_genieacs(gts, serials, ids, 50, warm_c);
    }
    raw_netbox(nts, raw_calls, raw_alloc, raw_release);
    raw_genieacs(gts, serials, ids, raw_calls, raw_configure);
    auto ra50 = raw_alloc.pct(0.5);
    auto ra99 = raw_alloc.pct(0.99);
    auto rr50 = raw_release.pct(0.5);
    auto rr99 = raw_release.pct(0.99);
    auto rc50 = raw_configure.pct(0.5);
    auto rc99 = raw_configure.pct(0.99);

    netbox::adapter_settings nset;
    nset.tenants["t1"] = nts;
    genieacs::adapter_settings gset;
    gset.tenants["t1"] = gts;
    api::adapter_actor nb_actor = netbox::spawn_netbox_adapter(sys, nset,
                                                               nb_http, guard);
    api::adapter_actor acs_actor
      = genieacs::spawn_genieacs_adapter(sys, gset, http, guard);

    std::printf("\n### reuse_connections = %s\n\n", reuse ? "true" : "false");
    std::printf("raw libcurl, one easy handle, sequential, %s (us): allocate "
                "p50 %.0f p99 %.0f; release p50 %.0f p99 %.0f; configure p50 "
                "%.0f p99 %.0f\n\n",
                reuse ? "keep-alive" : "Connection: close", ra50, ra99, rr50,
                rr99, rc50, rc99);
    std::printf("| operation              |   W |  calls/s  | p50 (us) | p99 "
                "(us) | +p50 us  | +p99 us  | failed |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (auto w : widths) {
      ++run;
      auto prefix = "r" + std::to_string(run) + "-";
      auto r = drive(
        sys, nb_actor, calls, w,
        [prefix](int i) {
          adapter_request req;
          req.tenant_id = "t1";
          req.subscriber_id = prefix + std::to_string(i);
          req.system = "netbox";
          req.operation = "netbox.allocate_ip";
          req.idempotency_key = req.subscriber_id + "/allocate_ip/0";
          req.input["site"] = "pop-1";
          return req;
        },
        [prefix](int i,
                 const adapter_reply& rep) -> std::optional<adapter_request> {
          adapter_request req;
          req.tenant_id = "t1";
          req.subscriber_id = prefix + std::to_string(i);
          req.system = "netbox";
          req.operation = "netbox.release_ip";
          req.idempotency_key = req.subscriber_id + "/allocate_ip/0";
          if (auto k = rep.outputs.find("ip_id"); k != rep.outputs.end())
            req.input["ip_id"] = k->second;
          return req;
        });
      row("netbox allocate+release", w, r, ra50, ra99);
      auto p50 = r.follow.pct(0.5);
      auto p99 = r.follow.pct(0.99);
      std::printf("| %-22s | %3d | %9s | %8.0f | %8.0f | %8.0f | %8.0f | - |\n",
                  "  (release alone)", w, "-", p50, p99, p50 - rr50,
                  p99 - rr99);
      if (r.failures > 0)
        std::fprintf(stderr, "netbox failures: %d, last: %s\n", r.failures,
                     r.last_error.c_str());
      auto g = drive(
        sys, acs_actor, calls, w,
        [prefix, &serials](int i) {
          adapter_request req;
          req.tenant_id = "t1";
          req.subscriber_id = "s" + std::to_string(i);
          req.system = "genieacs";
          req.operation = "genieacs.configure_cpe";
          req.idempotency_key = prefix + std::to_string(i) + "/configure_cpe/0";
          req.input["access.cpe.serial"]
            = serials[static_cast<size_t>(i % devices)];
          req.input["credentials.username"] = "u";
          req.input["credentials.password"] = "p";
          return req;
        },
        nullptr);
      row("genieacs configure", w, g, rc50, rc99);
      if (g.failures > 0)
        std::fprintf(stderr, "genieacs failures: %d, last: %s\n", g.failures,
                     g.last_error.c_str());
    }
    caf::anon_send_exit(nb_actor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(acs_actor, caf::exit_reason::user_shutdown);
  }
  caf::anon_send_exit(http, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(nb_http, caf::exit_reason::user_shutdown);
  (*nb)->stop();
  (*acs)->stop();
  curl_global_cleanup();
  return 0;
}
