// ispflowd: consumes billing events, records them durably exactly once,
// dead-letters bad input with a reason, and publishes what follows through
// the transactional outbox.

#include "actors/intake.hpp"
#include "actors/outbox_relay.hpp"
#include "actors/store.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <csignal>
#include <iostream>
#include <thread>

namespace {

using namespace ispflow;
using namespace std::chrono_literals;

adapters::kafka::client_settings kafka_settings(const common::config& cfg) {
  adapters::kafka::client_settings out;
  out.bootstrap_servers = cfg.kafka.bootstrap_servers;
  out.client_id = cfg.kafka.client_id;
  out.group_id = cfg.kafka.group_id;
  for (auto& [k, v] : cfg.kafka.properties)
    out.extra.emplace_back(k, v);
  return out;
}

// Applies the schema, waiting a while for a database that is still starting.
caf::error migrate(const common::config& cfg) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    auto rep = adapters::postgres::apply_migrations(cfg.postgres.dsn);
    if (rep) {
      common::log_info("ispflowd", "schema ready",
                       {{"applied", std::to_string(rep->applied.size())}});
      return caf::none;
    }
    if (rep.error() != errc::database_unavailable
        || std::chrono::steady_clock::now() > deadline)
      return std::move(rep.error());
    common::log_warn("ispflowd", "waiting for PostgreSQL",
                     {{"dsn", common::redact_dsn(cfg.postgres.dsn)}});
    std::this_thread::sleep_for(1s);
  }
}

caf::error sync_tenants(const common::config& cfg) {
  auto db = adapters::postgres::intake_store::connect(cfg.postgres.dsn);
  if (!db)
    return std::move(db.error());
  std::vector<std::pair<std::string, std::string>> tenants;
  for (auto& t : cfg.tenants)
    tenants.emplace_back(t.id, t.name);
  if (auto res = db->upsert_tenants(tenants); !res)
    return std::move(res.error());
  return caf::none;
}

int fail(const char* what, const caf::error& err) {
  common::log_error("ispflowd", what, {{"error", render_error(err)}});
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ispflowd: ISP subscriber lifecycle orchestrator"};
  std::string config_file;
  bool check_only = false;
  app.add_option("-c,--config", config_file, "YAML configuration file")
    ->required();
  app.add_flag("--check-config", check_only,
               "Validate the configuration and exit");
  CLI11_PARSE(app, argc, argv);

  auto cfg = common::load_config(config_file, common::process_env());
  if (!cfg) {
    std::cerr << "ispflowd: " << render_error(cfg.error()) << '\n';
    return 2;
  }
  common::setup_logging(cfg->log);
  if (check_only) {
    std::cout << "configuration OK\n";
    return 0;
  }

  // Signals go to sigwait below, not to whichever thread happens to run.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  if (auto err = migrate(*cfg))
    return fail("schema migration failed", err);
  if (auto err = sync_tenants(*cfg))
    return fail("tenant sync failed", err);

  caf::actor_system_config caf_cfg;
  caf_cfg.add_message_types<caf::id_block::ispflow>();
  caf::actor_system sys{caf_cfg};

  auto kafka = kafka_settings(*cfg);
  auto store = actors::spawn_store(sys, {cfg->postgres.dsn});

  actors::outbox_relay_settings relay_cfg;
  relay_cfg.kafka = kafka;
  relay_cfg.dsn = cfg->postgres.dsn;
  relay_cfg.batch = static_cast<size_t>(cfg->outbox.batch);
  relay_cfg.poll_interval
    = std::chrono::milliseconds{cfg->outbox.poll_interval_ms};
  relay_cfg.tail_scan = cfg->outbox.tail_scan;
  auto relay = actors::spawn_outbox_relay(sys, relay_cfg);
  if (!relay)
    return fail("outbox relay not started", relay.error());

  actors::intake_settings intake_cfg;
  intake_cfg.kafka = kafka;
  intake_cfg.topics = {cfg->kafka.topics.billing};
  intake_cfg.max_batch = static_cast<size_t>(cfg->intake.max_batch);
  intake_cfg.linger = std::chrono::milliseconds{cfg->intake.linger_ms};
  intake_cfg.check.saga_topic = cfg->kafka.topics.saga;
  intake_cfg.check.dead_letter_topic = cfg->kafka.topics.dead_letter;
  std::set<std::string, std::less<>> tenant_ids;
  for (auto& t : cfg->tenants)
    tenant_ids.insert(t.id);
  intake_cfg.check.known_tenant = [tenant_ids](std::string_view id) {
    return tenant_ids.find(id) != tenant_ids.end();
  };
  auto intake = actors::spawn_intake(sys, intake_cfg, store);
  if (!intake)
    return fail("intake not started", intake.error());

  common::log_info("ispflowd", "started",
                   {{"bootstrap_servers", cfg->kafka.bootstrap_servers},
                    {"group_id", cfg->kafka.group_id},
                    {"topic", cfg->kafka.topics.billing},
                    {"tenants", std::to_string(cfg->tenants.size())}});

  int sig = 0;
  sigwait(&stop_signals, &sig);
  common::log_info("ispflowd", "stopping", {{"signal", std::to_string(sig)}});

  // Order matters: stop reading, let the store finish, then drain the outbox.
  int rc = 0;
  caf::scoped_actor self{sys};
  self->request(*intake, 60s, stop_atom_v)
    .receive([](uint64_t) {},
             [&](caf::error& err) {
               rc = fail("intake did not stop cleanly", err);
             });
  self->request(*relay, 60s, stop_atom_v)
    .receive([](int64_t) {},
             [&](caf::error& err) {
               rc = fail("outbox relay did not stop cleanly", err);
             });
  self->send_exit(store, caf::exit_reason::user_shutdown);
  common::log_info("ispflowd", "stopped", {});
  return rc;
}
