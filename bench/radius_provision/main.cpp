// ispflow-radius-provision-bench: first provisions of RADIUS accounts, one
// statement (and commit) each against batches of them in one statement
// (store::provision_batch, what the radius adapter's SQL workers run for
// provisions that queued up while they were busy).
//
// Set-up (not timed): migrations, a tenant's plans, partitions 0-15 claimed
// by this program (every account is written under a lease, as a saga's
// call is). Timed: `--accounts` new accounts per round from `--workers`
// threads, each with its own store (connection), taking `--batch`
// accounts at a time; the rounds alternate the batch sizes given, so a
// drift of the machine hits all of them alike, and the tables are vacuumed
// between rounds (autovacuum off for them), so its work lands in none. Printed
// per round: provisions/s, and CPU per provision of PostgreSQL's processes
// (read from /proc: the server must run on this machine) and of this program.
#include "adapters/postgres/migrations.hpp"
#include "adapters/postgres/partition_owners.hpp"
#include "adapters/radius/provisioning.hpp"
#include "bench/support/proc_stats.hpp"
#include "events/errc.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <pqxx/pqxx>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

using namespace ispflow;
namespace radius = ispflow::adapters::radius;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int32_t partitions = 16;

// CPU seconds of the postmaster `server` and its backends.
double server_cpu(int server) {
  auto ticks = ispflow::bench::cpu_ticks_with_children(server);
  return ticks < 0 ? 0.0 : ispflow::bench::ticks_to_seconds(ticks);
}

double own_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct options {
  std::string dsn;
  size_t accounts = 4000;
  int workers = 4;
  std::vector<size_t> batches = {1, 16};
  int rounds = 6;
};

int run(const options& o) {
  std::printf("== RADIUS first provisions: %zu accounts per round, %d "
              "workers, batch sizes alternating",
              o.accounts, o.workers);
  for (auto b : o.batches)
    std::printf(" %zu", b);
  std::printf(", %d rounds\n== machine: %u cores, load average %s\n", o.rounds,
              std::thread::hardware_concurrency(),
              ispflow::bench::load_average().c_str());
  std::fflush(stdout);
  if (auto res = adapters::postgres::apply_migrations(o.dsn); !res) {
    std::fprintf(stderr, "migrations: %s\n", render_error(res.error()).c_str());
    return 1;
  }
  int server = -1;
  {
    pqxx::connection c{o.dsn};
    pqxx::nontransaction tx{c};
    int backend = tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
    server = ispflow::bench::parent_pid(backend);
    if (server <= 0) {
      std::fprintf(stderr, "PostgreSQL is not on this machine: /proc/%d\n",
                   backend);
      return 1;
    }
  }
  radius::tenant_settings tenant;
  tenant.tenant_id = "bench";
  tenant.plans = {radius::plan{"home", 100000, 20000, "", "", "", ""}};
  radius::store setup{o.dsn};
  if (auto err = setup.sync_plans(tenant)) {
    std::fprintf(stderr, "sync_plans: %s\n", render_error(err).c_str());
    return 1;
  }
  auto owners = adapters::postgres::partition_owners::connect(o.dsn);
  if (!owners) {
    std::fprintf(stderr, "partition_owners: %s\n",
                 render_error(owners.error()).c_str());
    return 1;
  }
  std::vector<int64_t> epochs;
  for (int32_t p = 0; p < partitions; ++p) {
    auto e = owners->claim("bench", p);
    if (!e) {
      std::fprintf(stderr, "claim %d: %s\n", p,
                   render_error(e.error()).c_str());
      return 1;
    }
    epochs.push_back(*e);
  }
  const auto group = tenant.group_of(tenant.plans[0]);
  {
    // Vacuumed between the rounds instead (below).
    pqxx::connection c{o.dsn};
    pqxx::nontransaction tx{c};
    for (const char* t :
         {"radius_accounts", "radcheck", "radreply", "radusergroup"})
      tx.exec(std::string{"ALTER TABLE "} + t
              + " SET (autovacuum_enabled = false)");
  }
  // One store per worker, connected before the first round.
  std::vector<radius::store> stores;
  for (int w = 0; w < o.workers; ++w) {
    stores.emplace_back(o.dsn);
    radius::account_spec warm{"bench",
                              "warm-" + std::to_string(w),
                              "warm-" + std::to_string(w),
                              "pw-warm",
                              radius::password_storage::ssha2_512,
                              group,
                              "",
                              nullptr};
    if (auto res = stores.back().provision(warm); !res) {
      std::fprintf(stderr, "warm-up: %s\n", render_error(res.error()).c_str());
      return 1;
    }
  }
  int failed_rounds = 0;
  for (int r = 0; r < o.rounds; ++r) {
    auto batch = o.batches[static_cast<size_t>(r) % o.batches.size()];
    std::atomic<size_t> next{0};
    std::atomic<size_t> failures{0};
    auto spec_of = [&](size_t i) {
      auto id = std::to_string(r) + "-" + std::to_string(i);
      radius::account_spec s{"bench",
                             "sub-" + id,
                             "rp" + id + "@bench.example",
                             "pw-" + id,
                             radius::password_storage::ssha2_512,
                             group,
                             "100.64." + std::to_string(i / 250 % 250) + "."
                               + std::to_string(i % 250 + 1),
                             nullptr};
      auto p = static_cast<int32_t>(i % partitions);
      s.lease = {"bench", p, epochs[static_cast<size_t>(p)]};
      return s;
    };
    // Not timed: the tables' vacuum and analyze, which autovacuum would
    // otherwise run in whichever round crosses its thresholds.
    {
      pqxx::connection c{o.dsn};
      pqxx::nontransaction tx{c};
      tx.exec("VACUUM (ANALYZE) radius_accounts, radcheck, radreply,"
              " radusergroup");
    }
    auto pg0 = server_cpu(server);
    auto me0 = own_cpu();
    auto t0 = clock_type::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < o.workers; ++w)
      threads.emplace_back([&, w] {
        auto& st = stores[static_cast<size_t>(w)];
        for (;;) {
          auto first = next.fetch_add(batch);
          if (first >= o.accounts)
            return;
          std::vector<radius::account_spec> specs;
          for (auto i = first; i < std::min(first + batch, o.accounts); ++i)
            specs.push_back(spec_of(i));
          for (auto& res : st.provision_batch(specs))
            if (!res || !*res)
              failures.fetch_add(1);
        }
      });
    for (auto& t : threads)
      t.join();
    auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    auto pg = server_cpu(server) - pg0;
    auto me = own_cpu() - me0;
    auto n = static_cast<double>(o.accounts);
    std::printf("round %d batch=%zu: %zu accounts in %.2f s, %.0f "
                "provisions/s, PostgreSQL CPU %.3f ms and bench CPU %.3f ms "
                "per provision, failures %zu, load %s\n",
                r + 1, batch, o.accounts, secs, n / secs, pg * 1e3 / n,
                me * 1e3 / n, failures.load(),
                ispflow::bench::load_average().c_str());
    std::fflush(stdout);
    if (failures.load() != 0)
      ++failed_rounds;
  }
  // Every account of every round is there, once.
  pqxx::connection c{o.dsn};
  pqxx::nontransaction tx{c};
  auto written
    = tx.exec1("SELECT count(*) FROM radius_accounts a JOIN radcheck c USING"
               " (username) WHERE a.username LIKE 'rp%'")[0]
        .as<size_t>();
  auto want = o.accounts * static_cast<size_t>(o.rounds);
  std::printf("accounts written: %zu of %zu\n", written, want);
  return failed_rounds == 0 && written == want ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"First provisions of RADIUS accounts, one by one and batched"};
  options o;
  app.add_option("--dsn", o.dsn, "libpq connection string (a fresh database)")
    ->required();
  app.add_option("--accounts", o.accounts, "New accounts per round")
    ->check(CLI::Range(1, 10'000'000));
  app.add_option("--workers", o.workers, "Threads, each with its connection")
    ->check(CLI::Range(1, 64));
  app.add_option("--batch", o.batches, "Batch sizes, alternated by round")
    ->check(CLI::Range(1, 1024));
  app.add_option("--rounds", o.rounds, "Rounds")->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ispflow-radius-provision-bench: %s\n", e.what());
    return 1;
  }
}
