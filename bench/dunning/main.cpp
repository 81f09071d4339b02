// ispflow-dunning-bench: a month-end dunning run (issue 17, item 2).
//
// Set-up (not timed): migrations, N NAS simulators on 127.0.1.1..N, each in
// `nas` with its CoA port, FreeRADIUS (deploy/local/freeradius.sh) on SQL,
// S subscribers provisioned through the store and logged in on the NASes
// round-robin (Access-Request and Accounting-Start through FreeRADIUS).
//
// Timed: every subscriber's suspension as the suspend saga runs it, through
// radius adapter actors (`--adapters`, the CoA client shared, with each NAS's
// rate limit and in-flight cap): radius.deny, then
// radius.disconnect_sessions; then the run waits until radacct holds every
// session closed by the simulators' Accounting-Stop (Admin-Reset).
//
// Checked: every account denied in FreeRADIUS (Auth-Type := Reject), every
// session closed with Admin-Reset, no NAS above its limits as the NAS
// simulators counted them (kernel receive timestamps). Printed: total time,
// per-NAS peak rate and peak in flight, and the machine's load.
#include "adapters/postgres/migrations.hpp"
#include "adapters/radius/coa_authorization.hpp"
#include "adapters/radius/provisioning.hpp"
#include "adapters/radius/radius_adapter.hpp"
#include "bench/support/proc_stats.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sim/nas/simulator.hpp"

#include <CLI/CLI.hpp>
#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace ispflow;
namespace radius = ispflow::adapters::radius;
namespace nas_sim = ispflow::sim::nas;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return out + "'";
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

int64_t count(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx{c};
  return tx.exec1(sql)[0].as<int64_t>();
}

struct options {
  std::string dsn;
  size_t subscribers = 10'000;
  int nas = 5;
  int max_rate = 500;
  int max_in_flight = 32;
  int reply_delay_ms = 2;
  int adapters = 4;
  int sql_connections = 4;
  int in_flight = 256;
  int auth_port = 21851;
  int coa_base = 21860;
  std::string script = std::string{ISPFLOW_SOURCE_DIR}
                       + "/deploy/local/freeradius.sh";
};

int run(const options& o) {
  const std::string secret = "dunning-bench-secret";
  std::printf("== dunning run: %zu subscribers on %d NASes, each NAS at most "
              "%d requests/s and %d in flight (reply delay %d ms), %d adapter "
              "actors with %d SQL connections each\n",
              o.subscribers, o.nas, o.max_rate, o.max_in_flight,
              o.reply_delay_ms, o.adapters, o.sql_connections);
  std::printf("== machine: %u cores, load average %s (shared machine: other "
              "builds may run)\n",
              std::thread::hardware_concurrency(),
              ispflow::bench::load_average().c_str());
  std::fflush(stdout);
  if (auto res = adapters::postgres::apply_migrations(o.dsn); !res) {
    std::fprintf(stderr, "migrations: %s\n", render_error(res.error()).c_str());
    return 1;
  }
  // The NASes: 127.0.1.k, CoA on coa_base + k.
  std::vector<radius::nas_entry> entries;
  for (int k = 1; k <= o.nas; ++k) {
    radius::nas_entry e{"bench-bng-" + std::to_string(k),
                        "127.0.1." + std::to_string(k), secret, "mikrotik",
                        static_cast<uint16_t>(o.coa_base + k)};
    e.max_in_flight = static_cast<uint32_t>(o.max_in_flight);
    e.max_rate = o.max_rate;
    entries.push_back(e);
  }
  radius::store st{o.dsn};
  if (auto err = st.sync_nas(entries)) {
    std::fprintf(stderr, "sync_nas: %s\n", render_error(err).c_str());
    return 1;
  }
  char dir_tmpl[] = "/tmp/ispflow-dunning-XXXXXX";
  if (::mkdtemp(dir_tmpl) == nullptr)
    return 1;
  std::string dir = dir_tmpl;
  ::setenv("ISPFLOW_RADIUS_SECRET", secret.c_str(), 1);
  auto start_cmd = o.script + " start " + shell_quote(dir) + " "
                   + shell_quote(o.dsn) + " " + std::to_string(o.auth_port)
                   + " " + std::to_string(o.auth_port + 1) + " >/dev/null";
  if (std::system(start_cmd.c_str()) != 0) {
    std::fprintf(stderr, "FreeRADIUS did not start (see %s/radius.log)\n",
                 dir.c_str());
    return 1;
  }
  struct cleanup_t {
    std::string cmd;
    ~cleanup_t() {
      [[maybe_unused]] auto rc = std::system(cmd.c_str());
    }
  } cleanup{o.script + " stop " + shell_quote(dir) + " >/dev/null; rm -rf "
            + shell_quote(dir)};

  std::vector<std::unique_ptr<nas_sim::simulator>> sims;
  for (int k = 1; k <= o.nas; ++k) {
    nas_sim::config c;
    c.auth = {"127.0.0.1", static_cast<uint16_t>(o.auth_port)};
    c.acct = {"127.0.0.1", static_cast<uint16_t>(o.auth_port + 1)};
    c.secret = secret;
    c.nas_ip = "127.0.1." + std::to_string(k);
    c.coa_bind = c.nas_ip;
    c.coa_port = static_cast<uint16_t>(o.coa_base + k);
    c.require_message_authenticator = true;
    c.faults.reply_delay = std::chrono::milliseconds{o.reply_delay_ms};
    auto s = nas_sim::simulator::start(std::move(c));
    if (!s) {
      std::fprintf(stderr, "NAS %d: %s\n", k, render_error(s.error()).c_str());
      return 1;
    }
    sims.push_back(std::move(*s));
  }

  // Set-up: provision and log in (not timed).
  radius::tenant_settings tenant;
  tenant.tenant_id = "dunning";
  tenant.suspend = radius::suspend_policy::reject;
  tenant.passwords = radius::password_storage::cleartext;
  tenant.plans = {radius::plan{"home", 100000, 20000, "", "", "", ""}};
  if (auto err = st.sync_plans(tenant)) {
    std::fprintf(stderr, "sync_plans: %s\n", render_error(err).c_str());
    return 1;
  }
  auto user_of = [](size_t i) {
    return "d" + std::to_string(i) + "@dunning.example";
  };
  auto t0 = clock_type::now();
  for (size_t i = 0; i < o.subscribers; ++i) {
    radius::account_spec spec;
    spec.tenant_id = tenant.tenant_id;
    spec.subscriber_id = "sub-" + std::to_string(i);
    spec.username = user_of(i);
    spec.password = "pw-" + std::to_string(i);
    spec.storage = tenant.passwords;
    spec.plan_group = tenant.group_of(tenant.plans[0]);
    if (auto res = st.provision(spec); !res) {
      std::fprintf(stderr, "provision %s: %s\n", spec.username.c_str(),
                   render_error(res.error()).c_str());
      return 1;
    }
  }
  std::printf("set-up: %zu accounts provisioned in %.1f s\n", o.subscribers,
              seconds_since(t0));
  t0 = clock_type::now();
  std::atomic<size_t> login_failures{0};
  {
    std::vector<std::thread> workers;
    for (int k = 0; k < o.nas; ++k)
      workers.emplace_back([&, k] {
        for (size_t i = static_cast<size_t>(k); i < o.subscribers;
             i += static_cast<size_t>(o.nas)) {
          auto res = sims[static_cast<size_t>(k)]->login(
            user_of(i), "pw-" + std::to_string(i));
          if (!res || !res->accepted)
            ++login_failures;
        }
      });
    for (auto& w : workers)
      w.join();
  }
  pqxx::connection db{o.dsn};
  auto open_sql = std::string{"SELECT count(*) FROM radacct WHERE username"
                              " LIKE '%@dunning.example' AND acctstoptime IS"
                              " NULL"};
  std::printf("set-up: %zu logged in (%zu failed) in %.1f s, %lld open in "
              "radacct\n",
              o.subscribers - login_failures.load(), login_failures.load(),
              seconds_since(t0), static_cast<long long>(count(db, open_sql)));
  std::fflush(stdout);

  // The run.
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ispflow>();
  caf::actor_system sys{cfg};
  radius::coa_settings cs;
  cs.nas = entries;
  auto coa = radius::coa_authorization::make(std::move(cs));
  if (!coa) {
    std::fprintf(stderr, "coa: %s\n", render_error(coa.error()).c_str());
    return 1;
  }
  std::vector<adapters::api::radius_actor> pool;
  for (int a = 0; a < o.adapters; ++a) {
    radius::adapter_config ac;
    ac.dsn = o.dsn;
    ac.tenants = {tenant};
    ac.coa = *coa;
    ac.sql_connections = static_cast<size_t>(o.sql_connections);
    pool.push_back(radius::spawn_radius_adapter(sys, std::move(ac)));
  }
  std::atomic<size_t> failed{0};
  std::promise<void> all_done;
  auto load_start = ispflow::bench::load_average();
  t0 = clock_type::now();
  sys.spawn([&](caf::event_based_actor* self) {
    auto next = std::make_shared<size_t>(0);
    auto done = std::make_shared<size_t>(0);
    auto request = [](size_t i, const std::string& op) {
      events::adapter_request req;
      req.tenant_id = "dunning";
      req.subscriber_id = "sub-" + std::to_string(i);
      req.system = "radius";
      req.operation = op;
      req.idempotency_key = "dunning-" + std::to_string(i) + "/" + op + "/1";
      return req;
    };
    auto finish_one = [&, done](bool ok) {
      if (!ok)
        ++failed;
      if (++*done == o.subscribers)
        all_done.set_value();
    };
    auto start_ptr = std::make_shared<std::function<void()>>();
    *start_ptr = [&, self, next, request, finish_one, start_ptr] {
      if (*next >= o.subscribers)
        return;
      auto i = (*next)++;
      auto& adapter = pool[i % pool.size()];
      self->request(adapter, 120s, invoke_atom_v, request(i, "radius.deny"))
        .then(
          [&, self, i, request, finish_one,
           start_ptr](events::adapter_reply& r) {
            if (r.outcome != events::adapter_outcome::succeeded) {
              std::fprintf(stderr, "deny %zu: %s\n", i, r.error.c_str());
              finish_one(false);
              (*start_ptr)();
              return;
            }
            self
              ->request(pool[i % pool.size()], 120s, invoke_atom_v,
                        request(i, "radius.disconnect_sessions"))
              .then(
                [i, finish_one, start_ptr](events::adapter_reply& d) {
                  bool ok = d.outcome == events::adapter_outcome::succeeded;
                  if (!ok)
                    std::fprintf(stderr, "disconnect %zu: %s\n", i,
                                 d.error.c_str());
                  finish_one(ok);
                  (*start_ptr)();
                },
                [finish_one, start_ptr](caf::error&) {
                  finish_one(false);
                  (*start_ptr)();
                });
          },
          [finish_one, start_ptr](caf::error&) {
            finish_one(false);
            (*start_ptr)();
          });
    };
    for (int k = 0; k < o.in_flight; ++k)
      (*start_ptr)();
  });
  all_done.get_future().wait();
  auto disconnected_at = seconds_since(t0);
  // Verified by Accounting-Stop: radacct has every session closed.
  auto deadline = clock_type::now() + 120s;
  int64_t still_open = count(db, open_sql);
  while (still_open > 0 && clock_type::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    still_open = count(db, open_sql);
  }
  auto total = seconds_since(t0);
  auto load_end = ispflow::bench::load_average();
  auto reset = count(db, "SELECT count(*) FROM radacct WHERE username LIKE"
                         " '%@dunning.example' AND acctterminatecause ="
                         " 'Admin-Reset'");
  auto denied = count(db, "SELECT count(*) FROM radcheck WHERE username LIKE"
                          " '%@dunning.example' AND attribute = 'Auth-Type'"
                          " AND value = 'Reject'");
  std::printf("disconnects acknowledged after %.2f s; all Accounting-Stops in "
              "radacct after %.2f s\n",
              disconnected_at, total);
  std::printf("denied in FreeRADIUS: %lld, closed with Admin-Reset: %lld, "
              "still open: %lld, failed operations: %zu\n",
              static_cast<long long>(denied), static_cast<long long>(reset),
              static_cast<long long>(still_open), failed.load());
  bool within = true;
  for (size_t k = 0; k < sims.size(); ++k) {
    sims[k]->flush_accounting();
    auto s = sims[k]->stats();
    bool ok = s.peak_rate <= static_cast<uint64_t>(o.max_rate)
              && s.peak_in_flight <= static_cast<uint64_t>(o.max_in_flight);
    within = within && ok;
    std::printf("NAS 127.0.1.%zu: %llu requests, peak %llu/s (limit %d), peak "
                "in flight %llu (cap %d), %llu Accounting-Stops%s\n",
                k + 1, static_cast<unsigned long long>(s.received),
                static_cast<unsigned long long>(s.peak_rate), o.max_rate,
                static_cast<unsigned long long>(s.peak_in_flight),
                o.max_in_flight,
                static_cast<unsigned long long>(s.accounting_stops),
                ok ? "" : "  ABOVE LIMIT");
  }
  std::printf("load average at start %s, at end %s\n", load_start.c_str(),
              load_end.c_str());
  std::printf("dunning_total_seconds=%.2f\n", total);
  bool complete = denied == static_cast<int64_t>(o.subscribers)
                  && reset == static_cast<int64_t>(o.subscribers)
                  && still_open == 0 && failed == 0;
  for (auto& a : pool)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  for (auto& s : sims)
    s->stop();
  return complete && within ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"A dunning run: N suspensions through the radius adapter, "
               "FreeRADIUS and rate-limited NAS simulators"};
  options o;
  app.add_option("--dsn", o.dsn, "PostgreSQL (a scratch database)")->required();
  app.add_option("--subscribers", o.subscribers, "subscribers suspended");
  app.add_option("--nas", o.nas, "NAS simulators (127.0.1.1..N)")
    ->check(CLI::Range(1, 200));
  app.add_option("--max-rate", o.max_rate, "requests per second per NAS")
    ->check(CLI::Range(1, 1000000));
  app
    .add_option("--max-in-flight", o.max_in_flight,
                "requests in flight per NAS")
    ->check(CLI::Range(1, 65536));
  app
    .add_option("--reply-delay-ms", o.reply_delay_ms,
                "how long each NAS takes to answer")
    ->check(CLI::Range(0, 60000));
  app.add_option("--adapters", o.adapters, "radius adapter actors")
    ->check(CLI::Range(1, 64));
  app.add_option("--sql-connections", o.sql_connections,
                 "SQL workers (connections) per adapter actor");
  app.add_option("--in-flight", o.in_flight, "suspensions in progress at once")
    ->check(CLI::Range(1, 100000));
  app.add_option("--auth-port", o.auth_port,
                 "FreeRADIUS auth port (accounting: +1)");
  app.add_option("--coa-base", o.coa_base, "NAS k listens on coa-base + k");
  app.add_option("--freeradius-script", o.script, "deploy/local/freeradius.sh");
  CLI11_PARSE(app, argc, argv);
  return run(o);
}
