// Soak: a steady rate of mixed lifecycle billing events (activate, change
// plan, suspend, resume, terminate, and again) over a pool of subscribers,
// run by the saga store, timer and router with no-op adapters, while the
// retention actor deletes history older than a short period. No Kafka: the
// events go straight into the inbox (as intake records them) and outbox
// rows are deleted in bulk (as the relay does once Kafka has them).
//
// Every --report seconds it prints one line: sagas finished in the interval
// and per second, the database size and the row counts of the growing
// tables, p99 of the step-to-step latency (a step's start to the next
// step's start, so it includes the durable transition write) and of the
// adapter call round trip, and autovacuum's runs and dead tuples on sagas,
// saga_steps, inbox and outbox. The run ends once --sagas sagas finished.
//
//   ispflow-soak-bench --dsn "host=... dbname=..." [--sagas 1000000]
//       [--rate 500] [--subscribers 20000] [--retention 60] [--report 10]
//       [--csv soak.csv] [--max-backlog 2000]
//
// --max-backlog holds the feeder back while more than that many events wait
// unstarted in the inbox: the offered rate then follows what the engine
// holds (on a machine busy with other work), instead of a backlog growing
// without bound. The `fed` and `backlog` columns show it.
//
// --csv also writes every interval as a CSV row (header first), with the
// table sizes (MB, with indexes and TOAST), the autovacuum runs and dead
// tuples per table and the rows retention deleted so far in columns of
// their own, for plotting throughput and size over time.

#include "actors/retention.hpp"
#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/scheduler.hpp"
#include "actors/timer.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

using namespace ispflow;
using namespace std::chrono_literals;
namespace api = adapters::api;

namespace {

// Adapter round trips of the last interval, in microseconds.
struct call_times {
  std::mutex mtx;
  std::vector<int64_t> us;

  void add(std::chrono::microseconds x) {
    std::lock_guard<std::mutex> guard{mtx};
    us.push_back(x.count());
  }

  double p99_ms() {
    std::vector<int64_t> xs;
    {
      std::lock_guard<std::mutex> guard{mtx};
      xs.swap(us);
    }
    if (xs.empty())
      return 0;
    auto k = xs.size() * 99 / 100;
    std::nth_element(xs.begin(), xs.begin() + static_cast<ptrdiff_t>(k),
                     xs.end());
    return static_cast<double>(xs[k]) / 1000.0;
  }
};

api::adapter_actor::behavior_type noop_adapter(api::adapter_actor::pointer) {
  return {
    [](invoke_atom, const api::adapter_request& req) {
      api::string_map out;
      if (req.operation == "netbox.allocate_ip")
        out["ip_address"] = "100.64.0.7";
      else if (req.operation == "voltha.provision_service")
        out["onu_id"] = "onu-1";
      else if (req.operation == "genieacs.configure_cpe")
        out["cpe_id"] = "cpe-1";
      else if (req.operation == "awx.run_activation_job")
        out["job_id"] = "42";
      return api::reply_succeeded(std::move(out));
    },
  };
}

// The lifecycle every subscriber goes round: verb and payload fields.
struct verb {
  const char* type;
  const char* fields;
};

const verb cycle[] = {
  {"activated",
   R"('plan_id', 'fiber-100', 'service_type', 'ftth', 'site', 'ams-01',)"
   R"( 'access', jsonb_build_object('onu_serial', 'ALCL00000001',)"
   R"( 'nas_identifier', 'bng-1'), 'credentials',)"
   R"( jsonb_build_object('username', s || '@bench.example',)"
   R"( 'password', 'soak-secret'))"},
  {"plan_changed", R"('plan_id', 'fiber-500')"},
  {"suspended", R"('reason', 'non_payment')"},
  {"resumed", R"('reason', 'paid')"},
  {"terminated", R"('reason', 'moved')"},
};
constexpr int cycle_length = 5;

// Inserts `n` events, numbers [first, first + n): event k is for
// subscriber k % pool, its (k / pool)-th event in the cycle.
void insert_events(pqxx::connection& c, int64_t first, int64_t n,
                   int64_t pool) {
  pqxx::work tx{c};
  for (int v = 0; v < cycle_length; ++v) {
    auto sql
      = std::string{"INSERT INTO inbox (source, event_id, type,"
                    " tenant_id, subscriber_id, payload, topic,"
                    " partition, \"offset\")"
                    " SELECT 'billing.soak', 'e' || k,"
                    " 'billing.subscription."}
        + cycle[v].type
        + "', 'bench', s, jsonb_build_object('schema_version', 1,"
          " 'tenant_id', 'bench', 'subscriber_id', s, "
        + cycle[v].fields
        + "), 'billing.events.v1', (k % 6)::int, k"
          " FROM (SELECT k, 'sub-' || lpad((k % $3)::text, 7, '0') AS s"
          "         FROM generate_series($1::bigint, $1::bigint + $2 - 1)"
          " k) x WHERE (k / $3) % 5 = "
        + std::to_string(v);
    tx.exec_params(sql, first, n, pool);
  }
  tx.commit();
}

std::string row_of(pqxx::nontransaction& tx, const std::string& sql) {
  auto r = tx.exec1(sql);
  return r[0].is_null() ? "-" : r[0].as<std::string>();
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Soak: mixed lifecycle sagas at a steady rate with retention"};
  std::string dsn;
  int64_t total = 20'000;
  int rate = 300;
  int64_t pool = 5'000;
  int retention_s = 60;
  int report_s = 10;
  size_t threads = 0;
  std::string csv_path;
  int64_t max_backlog = 0;
  app.add_option("--dsn", dsn, "PostgreSQL connection string (empty db)")
    ->required();
  app.add_option("--sagas", total,
                 "sagas to finish before stopping (1000000 for the full soak)");
  app.add_option("--rate", rate, "billing events per second");
  app.add_option("--subscribers", pool, "subscribers the events go round");
  app.add_option("--retention", retention_s,
                 "retention period of every table, in seconds");
  app.add_option("--report", report_s, "seconds between report lines");
  app.add_option("--threads", threads, "actor scheduler threads (0: cores)");
  app.add_option("--max-backlog", max_backlog,
                 "feed nothing while more events wait unstarted (0: no cap)");
  app.add_option("--csv", csv_path,
                 "also write every interval as a CSV row to this file");
  CLI11_PARSE(app, argc, argv);

  common::log_settings quiet;
  quiet.level = common::log_level::error;
  common::setup_logging(quiet);
  if (auto rep = adapters::postgres::apply_migrations(dsn); !rep) {
    std::cerr << render_error(rep.error()) << '\n';
    return 1;
  }
  {
    auto db = adapters::postgres::intake_store::connect(dsn);
    if (!db || !db->upsert_tenants({{"bench", "Bench ISP"}})) {
      std::cerr << "cannot prepare the database\n";
      return 1;
    }
  }
  sagas::saga_registry registry;
  if (sagas::register_lifecycle_sagas(registry)) {
    std::cerr << "cannot register the sagas\n";
    return 1;
  }
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ispflow>();
  actors::tune_scheduler(cfg, threads);
  caf::actor_system sys{cfg};

  call_times calls;
  auto adapter = sys.spawn(noop_adapter);
  actors::saga_router_settings rs;
  for (auto system :
       {sagas::target_system::radius, sagas::target_system::netbox,
        sagas::target_system::voltha, sagas::target_system::genieacs,
        sagas::target_system::awx})
    rs.adapters.set_actor(system, adapter);
  rs.adapters.set_tenant("bench", sagas::full_tenant_profile());
  auto store = actors::spawn_pg_saga_store(sys, {dsn, &registry, 2, {}, {}});
  auto timer = actors::spawn_timer(sys);
  rs.registry = &registry;
  rs.store = store;
  rs.timer = timer;
  rs.poll_interval = 50ms;
  rs.on_step_call
    = [&calls](std::string_view, std::string_view, events::adapter_outcome,
               std::chrono::microseconds took) { calls.add(took); };
  auto router = actors::spawn_saga_router(sys, std::move(rs));
  actors::retention_actor_settings ret;
  ret.dsn = dsn;
  using adapters::postgres::retention_table;
  for (auto t : adapters::postgres::retention_tables())
    ret.periods[t] = std::chrono::seconds{retention_s};
  ret.batch = 1000;
  ret.pause = 20ms;
  ret.interval = std::chrono::seconds{std::max(1, retention_s / 6)};
  ret.first_delay = 1s;
  auto retention = actors::spawn_retention(sys, ret);

  // The feeder: `rate` events per second in 10 slices; the relay stand-in:
  // deletes the outbox rows, as the relay does with what it published.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> fed{0};
  std::thread feeder{[&] {
    pqxx::connection c{dsn};
    auto next = std::chrono::steady_clock::now();
    int64_t k = 0;
    double owed = 0;
    while (!stop) {
      bool held = false;
      if (max_backlog > 0) {
        pqxx::nontransaction q{c};
        auto waiting
          = q.exec1("SELECT count(*) FROM (SELECT 1 FROM inbox WHERE saga_id"
                    " IS NULL AND skipped_reason IS NULL LIMIT "
                    + std::to_string(max_backlog + 1) + ") x")[0]
              .as<int64_t>();
        held = waiting > max_backlog;
      }
      if (!held)
        owed += rate / 10.0;
      auto n = static_cast<int64_t>(owed);
      owed -= static_cast<double>(n);
      if (n > 0) {
        insert_events(c, k, n, pool);
        k += n;
        fed = k;
      }
      pqxx::nontransaction tx{c};
      tx.exec("DELETE FROM outbox WHERE published_at IS NULL");
      next += 100ms;
      std::this_thread::sleep_until(next);
    }
  }};

  pqxx::connection mon{dsn};
  {
    pqxx::nontransaction tx{mon};
    tx.exec("SET jit = off");
  }
  std::printf("soak: %lld sagas at %d events/s over %lld subscribers, "
              "retention %d s\n",
              static_cast<long long>(total), rate, static_cast<long long>(pool),
              retention_s);
  std::printf("%6s %9s %7s %7s %8s %9s %9s %9s %9s %8s %8s %s\n", "t_s",
              "finished", "per_s", "backlog", "db_MB", "sagas", "steps",
              "inbox", "outbox", "p99_step", "p99_call",
              "vacuum(autovacuums/dead tuples)");
  std::ofstream csv;
  if (!csv_path.empty()) {
    csv.open(csv_path, std::ios::trunc);
    if (!csv) {
      std::cerr << "cannot write " << csv_path << '\n';
      return 1;
    }
    csv << "t_s,finished,per_s,fed,db_mb,sagas_rows,steps_rows,inbox_rows,"
           "outbox_rows,sagas_mb,steps_mb,inbox_mb,outbox_mb,p99_step_ms,"
           "p99_call_ms,sagas_autovacuums,sagas_dead,steps_autovacuums,"
           "steps_dead,inbox_autovacuums,inbox_dead,outbox_autovacuums,"
           "outbox_dead,sagas_deleted,inbox_deleted,backlog\n";
    csv.flush();
  }
  caf::scoped_actor self{sys};
  auto start = std::chrono::steady_clock::now();
  uint64_t last = 0;
  auto last_t = start;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::seconds{report_s});
    uint64_t finished = 0;
    self->request(router, 10s, caf::get_atom_v)
      .receive(
        [&](const actors::saga_router_counts& c) { finished = c.finished; },
        [](caf::error&) {});
    auto now = std::chrono::steady_clock::now();
    auto dt = std::chrono::duration<double>(now - last_t).count();
    pqxx::nontransaction tx{mon};
    auto size_mb = row_of(tx, "SELECT pg_database_size(current_database())"
                              " / 1048576");
    auto count = [&](const char* t) {
      return row_of(tx, std::string{"SELECT n_live_tup FROM"
                                    " pg_stat_user_tables WHERE relname = '"}
                          + t + "'");
    };
    // Step to step, over the sagas created in the last interval (sampled).
    auto p99_step = row_of(
      tx, "SELECT round((1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY"
          " d))::numeric, 1) FROM (SELECT extract(epoch FROM"
          " st.first_attempt_at - lag(st.first_attempt_at) OVER (PARTITION"
          " BY st.saga_id ORDER BY st.idx)) AS d FROM saga_steps st WHERE"
          " st.first_attempt_at IS NOT NULL AND st.saga_id IN (SELECT id"
          " FROM sagas WHERE created_at > now() - interval '"
            + std::to_string(report_s)
            + " seconds' AND state = 'completed' LIMIT 2000)) x"
              " WHERE d IS NOT NULL");
    auto p99_call = calls.p99_ms();
    auto backlog = row_of(tx, "SELECT count(*) FROM inbox WHERE saga_id IS"
                              " NULL AND skipped_reason IS NULL");
    auto vacuum = row_of(
      tx, "SELECT string_agg(relname || '=' || autovacuum_count || '/' ||"
          " n_dead_tup, ' ' ORDER BY relname) FROM pg_stat_user_tables"
          " WHERE relname IN ('sagas', 'saga_steps', 'inbox', 'outbox')");
    std::printf("%6.0f %9llu %7.0f %7s %8s %9s %9s %9s %9s %8s %8.1f %s\n",
                std::chrono::duration<double>(now - start).count(),
                static_cast<unsigned long long>(finished),
                static_cast<double>(finished - last) / dt, backlog.c_str(),
                size_mb.c_str(), count("sagas").c_str(),
                count("saga_steps").c_str(), count("inbox").c_str(),
                count("outbox").c_str(), p99_step.c_str(), p99_call,
                vacuum.c_str());
    std::fflush(stdout);
    if (csv.is_open()) {
      // One row per interval; sizes include indexes and TOAST.
      auto col = [&](const char* t, const char* what) {
        return row_of(tx, std::string{"SELECT "} + what
                            + " FROM pg_stat_user_tables WHERE relname = '" + t
                            + "'");
      };
      const char* table_mb
        = "round(pg_total_relation_size(relid) / 1048576.0, 1)";
      csv << std::chrono::duration<double>(now - start).count() << ','
          << finished << ',' << static_cast<double>(finished - last) / dt << ','
          << fed.load() << ','
          << row_of(tx, "SELECT round(pg_database_size(current_database())"
                        " / 1048576.0, 1)")
          << ',' << count("sagas") << ',' << count("saga_steps") << ','
          << count("inbox") << ',' << count("outbox") << ','
          << col("sagas", table_mb) << ',' << col("saga_steps", table_mb) << ','
          << col("inbox", table_mb) << ',' << col("outbox", table_mb) << ','
          << p99_step << ',' << p99_call << ','
          << col("sagas", "autovacuum_count") << ','
          << col("sagas", "n_dead_tup") << ','
          << col("saga_steps", "autovacuum_count") << ','
          << col("saga_steps", "n_dead_tup") << ','
          << col("inbox", "autovacuum_count") << ','
          << col("inbox", "n_dead_tup") << ','
          << col("outbox", "autovacuum_count") << ','
          << col("outbox", "n_dead_tup") << ',' << col("sagas", "n_tup_del")
          << ',' << col("inbox", "n_tup_del") << '\n';
      csv.flush();
    }
    last = finished;
    last_t = now;
    if (static_cast<int64_t>(finished) >= total)
      break;
  }
  stop = true;
  feeder.join();
  auto secs
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
        .count();
  std::printf("soak done: %llu sagas in %.0f s (%.0f/s), %lld events fed\n",
              static_cast<unsigned long long>(last), secs,
              static_cast<double>(last) / secs,
              static_cast<long long>(fed.load()));
  std::vector<caf::actor> all{caf::actor_cast<caf::actor>(router),
                              caf::actor_cast<caf::actor>(store),
                              caf::actor_cast<caf::actor>(timer),
                              caf::actor_cast<caf::actor>(retention),
                              caf::actor_cast<caf::actor>(adapter)};
  for (auto& a : all)
    self->send_exit(a, caf::exit_reason::user_shutdown);
  self->wait_for(all);
  return 0;
}
