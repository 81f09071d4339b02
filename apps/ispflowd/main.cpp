// ispflowd: consumes billing events, records them durably exactly once,
// dead-letters bad input with a reason, runs one durable saga per lifecycle
// change against the network systems' adapters, and publishes what follows
// through the transactional outbox.

#include "actors/admin/commands.hpp"
#include "actors/admin/server.hpp"
#include "actors/deadline_watch.hpp"
#include "actors/event_sink.hpp"
#include "actors/intake.hpp"
#include "actors/outbox_relay.hpp"
#include "actors/partition_lease.hpp"
#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/scheduler.hpp"
#include "actors/store.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/resilience/breaker_events.hpp"
#include "adapters/resilience/guard.hpp"
#include "apps/ispflowd/service_notify.hpp"
#include "apps/ispflowd/wiring.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "sagas/repair_saga.hpp"

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <unistd.h>

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

// Tells the partition keeper which input partitions the consumer group
// hands out and takes back; it claims them and tells the saga router.
class partition_follower : public adapters::kafka::rebalance_listener {
public:
  partition_follower(actors::partition_keeper_actor router, std::string topic)
    : router_(std::move(router)), topic_(std::move(topic)) {
    // nop
  }

  void on_assigned(
    const std::vector<adapters::kafka::topic_partition>& parts) override {
    caf::anon_send(router_, open_atom_v, of_topic(parts));
  }

  void on_revoked(
    const std::vector<adapters::kafka::topic_partition>& parts) override {
    caf::anon_send(router_, close_atom_v, of_topic(parts));
  }

private:
  std::vector<int32_t>
  of_topic(const std::vector<adapters::kafka::topic_partition>& parts) const {
    std::vector<int32_t> res;
    for (auto& p : parts)
      if (p.topic == topic_)
        res.push_back(p.partition);
    return res;
  }

  actors::partition_keeper_actor router_;
  std::string topic_;
};

// instance.id, or the host name and process id; checks the cluster keys.
caf::error resolve_cluster(common::config& cfg) {
  auto& c = cfg.cluster;
  if (c.instance_id.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
      std::snprintf(host, sizeof(host), "ispflowd");
    c.instance_id = std::string{host} + "-" + std::to_string(getpid());
  }
  if (c.instance_id.size() > 128)
    return caf::make_error(errc::invalid_config,
                           "instance.id: at most 128 characters");
  for (unsigned char ch : c.instance_id)
    if (!std::isalnum(ch) && ch != '-' && ch != '_' && ch != '.' && ch != ':')
      return caf::make_error(errc::invalid_config,
                             "instance.id: only letters, digits and - _ . :");
  if (c.lease_ms <= 2 * c.heartbeat_ms)
    return caf::make_error(errc::invalid_config,
                           "cluster.lease_ms: must be more than twice"
                           " cluster.heartbeat_ms");
  // A paused instance must stop calling before the group gives its
  // partitions away: lease < session timeout - the group's heartbeat.
  long session = 45'000;
  long group_heartbeat = 3'000;
  for (auto& [k, v] : cfg.kafka.properties) {
    if (k == "session.timeout.ms")
      session = std::atol(v.c_str());
    else if (k == "heartbeat.interval.ms")
      group_heartbeat = std::atol(v.c_str());
  }
  // A shorter group session (e.g. the local stack's 4 s) shortens the
  // lease to two thirds of what it leaves, renewed four times per lease.
  if (c.lease_ms >= session - group_heartbeat) {
    auto room = session - group_heartbeat;
    if (room < 600)
      return caf::make_error(errc::invalid_config,
                             "kafka.properties: session.timeout.ms minus"
                             " heartbeat.interval.ms leaves no room for a"
                             " partition lease (cluster.lease_ms)");
    c.lease_ms = static_cast<int>(room * 2 / 3);
    c.heartbeat_ms = std::max(100, c.lease_ms / 4);
  }
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
  bool print_reference = false;
  app.add_option("-c,--config", config_file,
                 "YAML configuration file (required)");
  app.add_flag("--check-config", check_only,
               "Validate the configuration and exit");
  app.add_flag("--print-config-reference", print_reference,
               "Print every configuration key with its default (Markdown) "
               "and exit");
  CLI11_PARSE(app, argc, argv);
  if (print_reference) {
    std::cout << common::config_reference_markdown();
    return 0;
  }
  if (config_file.empty()) {
    std::cerr << "ispflowd: --config is required\n";
    return 2;
  }

  auto cfg = common::load_config(config_file, common::process_env());
  if (!cfg) {
    std::cerr << "ispflowd: "
              << common::escape_control(render_error(cfg.error())) << '\n';
    return 2;
  }
  if (auto err = resolve_cluster(*cfg)) {
    std::cerr << "ispflowd: " << common::escape_control(render_error(err))
              << '\n';
    return 2;
  }
  common::set_log_instance(cfg->cluster.instance_id);
  common::setup_logging(cfg->log);
  common::log_info(
    "ispflowd", "cluster settings",
    {{"lease_ms", std::to_string(cfg->cluster.lease_ms)},
     {"heartbeat_ms", std::to_string(cfg->cluster.heartbeat_ms)}});
  if (check_only) {
    std::cout << "configuration OK\n";
    return 0;
  }
  auto service_manager = app::notify_target_of(
    [](const char* name) -> std::optional<std::string> {
      if (const char* v = std::getenv(name))
        return std::string{v};
      return std::nullopt;
    },
    static_cast<long>(getpid()));
  if (!service_manager)
    return fail("service manager environment invalid", service_manager.error());

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
  actors::tune_scheduler(
    caf_cfg, static_cast<size_t>(cfg->runtime.worker_threads),
    cfg->runtime.scheduler == common::scheduler_policy::sharing);
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
  // The saga writers ring it after each commit: the relay publishes the
  // new rows at once instead of at its next poll.
  auto outbox_written = std::make_shared<common::doorbell>();
  relay_cfg.doorbell = outbox_written;
  auto relay_leading = std::make_shared<std::atomic<bool>>(false);
  relay_cfg.leading = relay_leading;
  relay_cfg.lease_idle_timeout
    = std::chrono::milliseconds{cfg->cluster.lease_ms};
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
  // Who may speak for which tenant (intake.sources).
  auto sources = cfg->intake.allow_any_source
                   ? events::source_policy::allow_any()
                   : events::source_policy{};
  for (auto& x : cfg->intake.sources) {
    sources.allow(x.source, x.tenants);
    // A source with a key signs every event (ispflow-signature).
    sources.require_signature(x.source, x.signing_keys);
  }
  if (cfg->intake.allow_any_source)
    common::log_warn("ispflowd", "intake.allow_any_source is set: any "
                                 "ce_source may speak for any tenant");
  intake_cfg.check.source_allows = [sources](std::string_view source,
                                             std::string_view tenant) {
    return sources.allows(source, tenant);
  };
  intake_cfg.check.signing_keys = [sources](std::string_view source) {
    return sources.signing_keys(source);
  };
  intake_cfg.check.signed_window.max_age
    = std::chrono::seconds{cfg->intake.signed_max_age_seconds};
  intake_cfg.check.signed_window.max_skew
    = std::chrono::seconds{cfg->intake.signed_max_skew_seconds};
  // The saga engine: one store connection writing transitions in group
  // commits, and the router that starts a saga per accepted event.
  sagas::saga_registry registry;
  if (auto why = sagas::register_lifecycle_sagas(registry))
    return fail("saga definitions invalid",
                caf::make_error(errc::invalid_config, *why));
  if (auto why = sagas::register_repair_saga(registry))
    return fail("saga definitions invalid",
                caf::make_error(errc::invalid_config, *why));
  actors::pg_saga_store_settings saga_store_cfg;
  saga_store_cfg.dsn = cfg->postgres.dsn;
  saga_store_cfg.registry = &registry;
  saga_store_cfg.instance_id = cfg->cluster.instance_id;
  saga_store_cfg.outbox_written = outbox_written;
  auto saga_store = actors::spawn_pg_saga_store(sys, saga_store_cfg);
  // Old rows go in small batches (retention.*); open work never does.
  auto retention = app::start_retention(sys, *cfg);
  actors::saga_router_settings router_cfg;
  router_cfg.registry = &registry;
  router_cfg.store = saga_store;
  router_cfg.outputs.saga_topic = cfg->kafka.topics.saga;
  router_cfg.outputs.lifecycle_topic = cfg->kafka.topics.lifecycle;
  router_cfg.dead_letter_topic = cfg->kafka.topics.dead_letter;
  router_cfg.follow_assignment = true;
  auto leases = std::make_shared<actors::lease_board>(cfg->cluster.instance_id);
  router_cfg.leases = leases;
  router_cfg.tenant_max_running
    = static_cast<size_t>(cfg->sagas.tenant_max_running);
  router_cfg.write_linger
    = std::chrono::milliseconds{cfg->sagas.write_linger_ms};
  router_cfg.deadlines = std::make_shared<actors::deadline_watch>();
  for (auto& t : cfg->tenants) {
    std::set<std::string> policies;
    if (t.suspend_disable_onu)
      policies.emplace(sagas::policy_suspend_disable_onu);
    if (t.terminate_factory_reset_cpe)
      policies.emplace(sagas::policy_terminate_factory_reset);
    router_cfg.adapters.set_tenant(t.id, t.systems, std::move(policies));
  }
  auto adapters = app::start_adapters(sys, *cfg);
  if (!adapters)
    return fail("adapters not started", adapters.error());
  for (auto& [system, handle] : adapters->actors)
    router_cfg.adapters.set_actor(system, handle);
  // A tenant whose adapter calls queue deeper than its limit starts no new
  // saga until they drain (its events wait in the inbox).
  router_cfg.tenant_saturated = [guard = adapters->guard](const std::string& t) {
    return guard->tenant_limits().saturated(t);
  };
  actors::admin::metrics_registry metrics;
  if (auto err = app::add_engine_metrics(metrics, router_cfg, *adapters))
    return fail("metrics not registered", err);
  // Breaker transitions go to saga.events.v1 through the outbox.
  auto breaker_events = actors::spawn_event_sink(sys, cfg->postgres.dsn);
  adapters::resilience::publish_breaker_transitions(
    adapters->guard->breakers(),
    [breaker_events](events::kafka_record rec) {
      caf::anon_send(breaker_events, record_atom_v,
                     std::vector<events::kafka_record>{std::move(rec)});
    },
    router_cfg.outputs);
  if (auto err = app::add_cluster_metrics(metrics, leases))
    return fail("metrics not registered", err);
  auto router = actors::spawn_saga_router(sys, std::move(router_cfg));
  // Partition ownership: claims on assignment, heartbeats, the fence epochs.
  actors::partition_keeper_settings keeper_cfg;
  keeper_cfg.dsn = cfg->postgres.dsn;
  keeper_cfg.board = leases;
  keeper_cfg.router = router;
  keeper_cfg.heartbeat = std::chrono::milliseconds{cfg->cluster.heartbeat_ms};
  keeper_cfg.lease = std::chrono::milliseconds{cfg->cluster.lease_ms};
  keeper_cfg.relay_role = [relay_leading] { return relay_leading->load(); };
  auto keeper = actors::spawn_partition_keeper(sys, std::move(keeper_cfg));

  // Drift reconciliation: scans on demand (admin API) and on schedule.
  auto drift = app::start_drift(sys, *cfg, *adapters, metrics);
  if (!drift)
    return fail("drift reconciliation not started", drift.error());
  // Operator commands (retry, cancel) of the partitions this instance
  // holds, whichever instance's admin API received them.
  auto saga_control = app::make_saga_control(sys, router);
  auto held_epoch = [leases](int32_t p) -> std::optional<int64_t> {
    auto e = leases->epoch(p);
    if (e && leases->valid(p, *e, actors::lease_board::clock::now()))
      return e;
    return std::nullopt;
  };
  actors::admin::command_pickup_settings pickup_cfg;
  pickup_cfg.dsn = cfg->postgres.dsn;
  pickup_cfg.instance_id = cfg->cluster.instance_id;
  pickup_cfg.sagas = saga_control;
  pickup_cfg.held = [leases] {
    std::map<int32_t, int64_t> out;
    auto now = actors::lease_board::clock::now();
    for (auto& [p, l] : leases->snapshot())
      if (now < l.valid_until)
        out.emplace(p, l.epoch);
    return out;
  };
  pickup_cfg.poll = std::chrono::milliseconds{cfg->cluster.heartbeat_ms};
  auto pickup = actors::admin::spawn_command_pickup(sys, std::move(pickup_cfg));

  // Operators: the admin API (and console) over the same database, with
  // retry and cancel through the router and the adapters' breakers.
  std::unique_ptr<actors::admin::admin_server> admin;
  if (cfg->admin.enabled) {
    auto admin_cfg = app::admin_settings_of(*cfg);
    if (!admin_cfg)
      return fail("admin API misconfigured", admin_cfg.error());
    actors::admin::admin_deps deps;
    deps.dsn = cfg->postgres.dsn;
    deps.metrics = &metrics;
    deps.sagas = saga_control;
    deps.instance_id = cfg->cluster.instance_id;
    deps.held_epoch = held_epoch;
    deps.command_wait = std::chrono::milliseconds{cfg->admin.command_wait_ms};
    deps.breakers = app::make_breaker_control(adapters->guard);
    deps.drift = drift->control;
    deps.probes = adapters->probes;
    deps.saga_topic = cfg->kafka.topics.saga;
    deps.dead_letter_topic = cfg->kafka.topics.dead_letter;
    deps.sources = sources;
    auto made = actors::admin::admin_server::make(std::move(*admin_cfg),
                                                  std::move(deps));
    if (!made)
      return fail("admin API misconfigured", made.error());
    admin = std::move(*made);
    auto port = admin->start();
    if (!port)
      return fail("admin API not started", port.error());
    common::log_info("ispflowd", "admin API listening",
                     {{"listen", cfg->admin.listen}});
  }

  intake_cfg.listener
    = std::make_shared<partition_follower>(keeper, cfg->kafka.topics.billing);
  intake_cfg.on_recorded = [router] { caf::anon_send(router, nudge_atom_v); };
  auto lag = std::make_shared<app::lag_board>();
  intake_cfg.on_lag = [lag](std::vector<adapters::kafka::partition_lag> xs) {
    lag->set(std::move(xs));
  };
  if (auto err = app::add_intake_metrics(metrics, intake_cfg))
    return fail("metrics not registered", err);
  if (auto err = app::add_lag_metric(metrics, lag))
    return fail("metrics not registered", err);
  auto intake = actors::spawn_intake(sys, intake_cfg, store);
  if (!intake)
    return fail("intake not started", intake.error());

  common::log_info("ispflowd", "started",
                   {{"bootstrap_servers", cfg->kafka.bootstrap_servers},
                    {"group_id", cfg->kafka.group_id},
                    {"topic", cfg->kafka.topics.billing},
                    {"instance", cfg->cluster.instance_id},
                    {"tenants", std::to_string(cfg->tenants.size())}});
  // systemd (Type=notify): READY=1 once the checks of /readyz pass, then
  // WATCHDOG=1 while the actor system answers.
  app::service_watch watch{sys, *service_manager,
                           app::readiness_checks(cfg->postgres.dsn,
                                                 adapters->probes)};

  int sig = 0;
  sigwait(&stop_signals, &sig);
  // STOPPING=1 to the service manager.
  watch.stop();
  common::log_info("ispflowd", "stopping", {{"signal", std::to_string(sig)}});

  // Graceful hand-over (issue 13): take no operator command and start no
  // saga any more; let the adapter calls in flight answer (bounded by
  // cluster.drain_ms) and write their outcomes, while the partitions are
  // still held; then leave the consumer group (offsets are committed with
  // each recorded batch), which releases the partitions in partition_owners
  // so that the next owner claims them at once instead of waiting for the
  // lease to run out.
  int rc = 0;
  caf::scoped_actor self{sys};
  self->send_exit(pickup, caf::exit_reason::user_shutdown);
  auto held_at_stop = leases->snapshot().size();
  auto drained = actors::drain_saga_router(
    sys, router, leases.get(),
    std::chrono::milliseconds{cfg->cluster.drain_ms});
  common::log_info(
    "ispflowd", "drained",
    {{"sagas", std::to_string(drained.sagas)},
     {"sagas_left", std::to_string(drained.sagas_left)},
     {"calls_in_flight", std::to_string(drained.calls)},
     {"calls_drained", std::to_string(drained.calls - drained.calls_left)},
     {"calls_left", std::to_string(drained.calls_left)},
     {"took_ms", std::to_string(drained.took.count())},
     {"drain_ms", std::to_string(cfg->cluster.drain_ms)}});

  // Order matters: stop reading, let the store finish, then drain the outbox.
  self->request(*intake, 60s, stop_atom_v)
    .receive([](uint64_t) {},
             [&](caf::error& err) {
               rc = fail("intake did not stop cleanly", err);
             });
  if (admin)
    admin->stop();
  // A running drift scan ends after its current page.
  drift->scanner->stop();
  // Sagas stop between transitions; each resumes where it stood at the
  // next start (same keys, reconcile first).
  self->send_exit(router, caf::exit_reason::user_shutdown);
  self->wait_for(router);
  // Leaving the group released the partitions (revoke); this also marks
  // the instance stopped for GET /v1/cluster.
  self->request(keeper, 10s, stop_atom_v)
    .receive(
      [&](uint64_t) {
        common::log_info("ispflowd", "partitions released",
                         {{"partitions", std::to_string(held_at_stop)}});
      },
      [&](caf::error& err) {
        common::log_warn("ispflowd", "partitions not released",
                         {{"error", render_error(err)}});
      });
  self->send_exit(keeper, caf::exit_reason::user_shutdown);
  for (auto& a : adapters->all)
    self->send_exit(a, caf::exit_reason::user_shutdown);
  self->request(*relay, 60s, stop_atom_v)
    .receive([](int64_t) {},
             [&](caf::error& err) {
               rc = fail("outbox relay did not stop cleanly", err);
             });
  self->send_exit(breaker_events, caf::exit_reason::user_shutdown);
  if (retention)
    self->send_exit(retention, caf::exit_reason::user_shutdown);
  self->send_exit(saga_store, caf::exit_reason::user_shutdown);
  self->send_exit(store, caf::exit_reason::user_shutdown);
  common::log_info("ispflowd", "stopped", {});
  return rc;
}
