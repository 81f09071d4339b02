// Saga engine benchmarks against PostgreSQL (fsync on), no Kafka:
//
// (a) throughput: N FTTH activation events are inserted straight into the
//     inbox; then the saga store, timer and router start with no-op
//     adapters that succeed at once (with outputs like ip_address, onu_id).
//     Prints sagas/s and transitions/s from the router's start until all N
//     sagas are completed.
// (b) parked memory: M activation sagas whose first adapter (NetBox)
//     answers `parked` (breaker open) with a long retry_after. Prints the
//     process's VmRSS before they start and once all M are parked (each has
//     its timer row), and the difference per parked saga.
// (c) the startable poll under a backlog: the saga store prepares its poll
//     on empty tables (as a process started on a new database does), then
//     R subscriber records and a backlog of B unstarted events (one per
//     subscriber) are inserted. Prints ms per poll of `batch` events and
//     the index entries each poll read.
//
//   saga_throughput --dsn "host=... dbname=..." [--sagas N] [--parked M]
//                   [--batch B] [--backlog B --records R]

#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/scheduler.hpp"
#include "actors/timer.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/postgres/saga_store.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <string>
#include <thread>

using namespace ispflow;
using namespace std::chrono_literals;
namespace api = adapters::api;

namespace {

// Answers every request at once: succeeded with the outputs the activation
// expects, or (park) parked for an hour.
api::adapter_actor::behavior_type noop_adapter(api::adapter_actor::pointer,
                                               bool park) {
  return {
    [park](invoke_atom, const api::adapter_request& req) {
      if (park) {
        auto res = api::reply_failed(api::adapter_outcome::parked,
                                     "breaker open");
        res.retry_after_ms = 3'600'000;
        return res;
      }
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

int64_t scalar(const std::string& dsn, const std::string& sql) {
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  return tx.exec1(sql)[0].as<int64_t>();
}

void exec(const std::string& dsn, const std::string& sql) {
  pqxx::connection c{dsn};
  pqxx::work tx{c};
  tx.exec(sql);
  tx.commit();
}

// Inserts `n` FTTH activation events (subscribers prefix-000000...) into
// the inbox, as intake would have recorded them.
void insert_activations(const std::string& dsn, const std::string& prefix,
                        int n) {
  exec(dsn,
       "insert into inbox (source, event_id, type, tenant_id, subscriber_id,"
       " payload, topic, partition, \"offset\") select 'billing.bench', '"
         + prefix + "' || g, 'billing.subscription.activated', 'bench', '"
         + prefix
         + "' || lpad(g::text, 6, '0'), jsonb_build_object('schema_version',"
           " 1, 'tenant_id', 'bench', 'subscriber_id', '"
         + prefix
         + "' || lpad(g::text, 6, '0'), 'plan_id', 'fiber-100', "
           "'service_type', 'ftth', 'site', 'ams-01', 'access', "
           "jsonb_build_object('onu_serial', 'ALCL' || lpad(to_hex(g), 8, "
           "'0'))), 'billing.events.v1', g % 6, g from "
           "generate_series(1, "
         + std::to_string(n) + ") g");
}

long rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

struct engine {
  caf::actor_system& sys;
  actors::saga_store_actor store;
  actors::timer_actor timer;
  actors::saga_router_actor router;
  api::adapter_actor adapter;

  engine(caf::actor_system& s, const std::string& dsn,
         const sagas::saga_registry& registry, bool park, uint64_t batch,
         size_t writers)
    : sys(s) {
    adapter = sys.spawn(noop_adapter, park);
    actors::saga_router_settings rs;
    for (auto system :
         {sagas::target_system::radius, sagas::target_system::netbox,
          sagas::target_system::voltha, sagas::target_system::genieacs,
          sagas::target_system::awx})
      rs.adapters.set_actor(system, adapter);
    rs.adapters.set_tenant("bench", sagas::full_tenant_profile());
    store = actors::spawn_pg_saga_store(sys, {dsn, &registry, writers, {}, {}});
    timer = actors::spawn_timer(sys);
    rs.registry = &registry;
    rs.store = store;
    rs.timer = timer;
    rs.batch = batch;
    rs.poll_interval = 50ms;
    router = actors::spawn_saga_router(sys, std::move(rs));
  }

  // Waits until the router has seen `want` sagas finish (asking the router,
  // not the database, so the wait adds no load to the server measured).
  bool await_finished(uint64_t want, std::chrono::seconds limit) {
    caf::scoped_actor self{sys};
    auto start = std::chrono::steady_clock::now();
    for (;;) {
      uint64_t finished = 0;
      self->request(router, 10s, caf::get_atom_v)
        .receive(
          [&](const actors::saga_router_counts& c) { finished = c.finished; },
          [](caf::error&) {});
      if (finished >= want)
        return true;
      if (std::chrono::steady_clock::now() - start > limit)
        return false;
      std::this_thread::sleep_for(20ms);
    }
  }

  ~engine() {
    caf::scoped_actor self{sys};
    std::vector<caf::actor> all{caf::actor_cast<caf::actor>(router),
                                caf::actor_cast<caf::actor>(store),
                                caf::actor_cast<caf::actor>(timer),
                                caf::actor_cast<caf::actor>(adapter)};
    for (auto& a : all)
      self->send_exit(a, caf::exit_reason::user_shutdown);
    self->wait_for(all);
  }
};

// Waits until `sql` counts `want`; false after `limit`.
bool await_count(const std::string& dsn, const std::string& sql, int64_t want,
                 std::chrono::seconds limit) {
  auto start = std::chrono::steady_clock::now();
  while (scalar(dsn, sql) < want) {
    if (std::chrono::steady_clock::now() - start > limit)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// Index entries read so far from the indexes of inbox and subscribers, as
// the statistics report them: an idle session's report may be put off by
// up to 10 s (PostgreSQL's PGSTAT_IDLE_INTERVAL), so after 11 s of quiet.
int64_t index_entries_read(const std::string& dsn) {
  std::this_thread::sleep_for(11s);
  return scalar(dsn, "select coalesce(sum(idx_tup_read), 0)"
                     " from pg_stat_user_indexes"
                     " where relname in ('inbox', 'subscribers')");
}

// (c): returns false when the store fails.
bool startable_backlog(const std::string& dsn,
                       const sagas::saga_registry& registry, int backlog,
                       int records, uint64_t batch) {
  namespace pg = adapters::postgres;
  auto store = pg::saga_store::connect(dsn, registry);
  if (!store)
    return false;
  pg::startable_query q{batch, {}, {}};
  // Planned on empty tables: one by one at first, then a generic plan.
  for (int i = 0; i < 6; ++i)
    if (!store->next_startable(q))
      return false;
  {
    pqxx::connection c{dsn};
    pqxx::nontransaction tx{c};
    tx.exec0("insert into subscribers (tenant_id, id, state, plan_id,"
             " service_type) select 'bench', 'bk-' || g, 'active', 'p100',"
             " 'ftth' from generate_series(1, "
             + std::to_string(records) + ") g");
    tx.exec0("insert into inbox (source, event_id, type, tenant_id,"
             " subscriber_id, payload, topic, \"partition\", \"offset\")"
             " select 'billing', 'bk-' || g,"
             " 'billing.subscription.activated', 'bench', 'bk-' || g, '{}',"
             " 'billing.events.v1', 0, g from generate_series(1, "
             + std::to_string(backlog) + ") g");
  }
  auto read_before = index_entries_read(dsn);
  constexpr int polls = 20;
  size_t got = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < polls; ++i) {
    auto res = store->next_startable(q);
    if (!res)
      return false;
    got = res->size();
  }
  auto secs
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
        .count();
  auto read = index_entries_read(dsn) - read_before;
  std::printf("startable poll: %d subscriber records, backlog of %d events:"
              " %zu events per poll, %.2f ms per poll, %lld index entries"
              " read per poll\n",
              records, backlog, got, secs * 1000 / polls,
              static_cast<long long>(read / polls));
  return true;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Saga engine throughput and parked-saga memory"};
  std::string dsn;
  int n = 5000;
  int parked = 10000;
  uint64_t batch = actors::saga_router_settings{}.batch;
  size_t threads = 0;
  size_t writers = 2;
  int backlog = 0;
  int records = 100'000;
  app.add_option("--dsn", dsn, "PostgreSQL connection string (empty db)")
    ->required();
  app.add_option("--sagas", n, "activation sagas to run (0 skips)");
  app.add_option("--parked", parked, "sagas to park (0 skips)");
  app.add_option("--batch", batch,
                 "startable events fetched per poll (default: ispflowd's)");
  app.add_option("--writers", writers, "saga store writer connections");
  app.add_option("--backlog", backlog,
                 "unstarted events for the startable poll (0 skips)");
  app.add_option("--records", records,
                 "subscriber records for the startable poll");
  app.add_option("--threads", threads,
                 "actor scheduler threads (0: one per core, as ispflowd)");
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
  if (auto err = sagas::register_lifecycle_sagas(registry)) {
    std::cerr << "cannot register the sagas\n";
    return 1;
  }
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ispflow>();
  actors::tune_scheduler(cfg, threads);
  caf::actor_system sys{cfg};

  if (n > 0) {
    insert_activations(dsn, "run-", n);
    const std::string xacts
      = "select xact_commit from pg_stat_database where datname = "
        "current_database()";
    auto xact_before = scalar(dsn, xacts);
    auto start = std::chrono::steady_clock::now();
    {
      engine e{sys, dsn, registry, false, batch, writers};
      if (!e.await_finished(static_cast<uint64_t>(n), 600s)) {
        std::cerr << "timed out\n";
        return 1;
      }
      auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                                - start)
                    .count();
      auto completed
        = scalar(dsn, "select count(*) from sagas where state = 'completed'");
      if (completed != n) {
        std::cerr << "only " << completed << " of " << n
                  << " sagas completed\n";
        return 1;
      }
      // Every transition's outbox records share the ce_id prefix
      // <saga id>/<µs of the transition>/: count those prefixes.
      auto transitions = scalar(
        dsn, "select count(distinct regexp_replace(coalesce(h->>'text', "
             "convert_from(decode(h->>'value', 'base64'), 'UTF8')), "
             "'/[0-9]+$', '')) from outbox_records "
             "o, jsonb_array_elements(o.headers) h where o.topic = "
             "'saga.events.v1' and h->>'key' = 'ce_id'");
      auto saga_events = scalar(dsn, "select count(*) from outbox_records "
                                     "where topic = 'saga.events.v1'");
      auto commits = scalar(dsn, xacts) - xact_before;
      std::printf("throughput: %d activation sagas in %.2f s: %.0f sagas/s, "
                  "%lld transitions (%.0f/s), %lld saga events, %lld "
                  "committed transactions incl. reads (%.0f/s)\n",
                  n, secs, n / secs, static_cast<long long>(transitions),
                  static_cast<double>(transitions) / secs,
                  static_cast<long long>(saga_events),
                  static_cast<long long>(commits),
                  static_cast<double>(commits) / secs);
    }
  }

  if (backlog > 0
      && !startable_backlog(dsn, registry, backlog, records, batch)) {
    std::cerr << "the startable poll failed\n";
    return 1;
  }

  if (parked > 0) {
    insert_activations(dsn, "park-", parked);
    auto before = rss_kib();
    engine e{sys, dsn, registry, true, batch, writers};
    auto start = std::chrono::steady_clock::now();
    if (!await_count(dsn, "select count(*) from timers", parked, 600s)) {
      std::cerr << "timed out parking\n";
      return 1;
    }
    // Let the last parked transitions settle in the actors.
    std::this_thread::sleep_for(500ms);
    auto after = rss_kib();
    auto secs
      = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
    std::printf("parked: %d sagas parked in %.2f s; VmRSS %ld KiB before, "
                "%ld KiB parked: %.2f KiB per parked saga\n",
                parked, secs, before, after,
                static_cast<double>(after - before) / parked);
  }
  return 0;
}
