#include "apps/ispflowd/wiring.hpp"

#include "actors/drift/scanner.hpp"
#include "actors/guarded_adapter.hpp"
#include "actors/retention.hpp"
#include "adapters/awx/adapter.hpp"
#include "adapters/genieacs/adapter.hpp"
#include "adapters/genieacs/wire.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/netbox/adapter.hpp"
#include "adapters/radius/coa_authorization.hpp"
#include "adapters/radius/provisioning.hpp"
#include "adapters/radius/radius_adapter.hpp"
#include "adapters/radius/sealed_credentials.hpp"
#include "adapters/resilience/guard.hpp"
#include "adapters/voltha/adapter.hpp"
#include "common/log.hpp"
#include "common/seal.hpp"
#include "events/errc.hpp"
#include "sagas/repair_saga.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <sstream>

namespace ispflow::app {

namespace {

// Per-origin TLS of the tenants' HTTP systems (certificates are verified
// unless a system says insecure_skip_verify, which is logged).
adapters::http::client_options http_options_of(const common::config& cfg) {
  adapters::http::client_options opts;
  auto add = [&](const common::tenant_settings& t, const char* system,
                 const std::string& url, const common::http_tls_settings& tls) {
    if (url.empty() || (tls.ca_file.empty() && !tls.insecure_skip_verify))
      return;
    auto origin = adapters::http::origin_of(url);
    if (tls.insecure_skip_verify)
      common::log_warn(
        "ispflowd",
        "TLS certificate verification is OFF for a tenant's"
        " system (insecure_skip_verify)",
        {{"tenant", t.id}, {"system", system}, {"origin", origin}});
    opts.origins.push_back(
      {origin, tls.ca_file.string(), tls.insecure_skip_verify});
  };
  for (auto& t : cfg.tenants) {
    if (t.systems.netbox)
      add(t, "netbox", t.netbox.url, t.netbox.tls);
    if (t.systems.genieacs)
      add(t, "genieacs", t.genieacs.url, t.genieacs.tls);
    if (t.systems.awx)
      add(t, "awx", t.awx.url, t.awx.tls);
  }
  return opts;
}

namespace api = adapters::api;
namespace res = adapters::resilience;
namespace radius = adapters::radius;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

res::guard_config guard_config_of(const common::config& cfg) {
  res::guard_config out;
  auto& b = out.breakers.defaults;
  b.failure_rate_threshold = cfg.breakers.failure_rate_threshold;
  b.slow_call_duration_threshold = milliseconds{cfg.breakers.slow_call_ms};
  b.sliding_window_size = cfg.breakers.window;
  b.minimum_number_of_calls = cfg.breakers.minimum_calls;
  b.wait_duration_in_open_state = milliseconds{cfg.breakers.open_ms};
  b.permitted_number_of_calls_in_half_open_state = cfg.breakers.half_open_calls;
  out.tenant_limits.max_concurrent = cfg.breakers.tenant_max_concurrent;
  return out;
}

caf::expected<radius::tenant_settings>
radius_tenant(const common::config& cfg, const common::tenant_settings& t) {
  radius::tenant_settings out;
  out.tenant_id = t.id;
  auto key = [&](const char* leaf) { return "tenants." + t.id + "." + leaf; };
  if (auto v = radius::parse_vendor(t.radius.vendor))
    out.nas_vendor = *v;
  else
    return caf::make_error(errc::invalid_config, key("radius.vendor"));
  if (auto p = radius::parse_suspend_policy(t.radius.suspend_policy))
    out.suspend = *p;
  else
    return caf::make_error(errc::invalid_config, key("radius.suspend_policy"));
  if (!t.radius.walled_garden_group.empty())
    out.walled_garden_group = t.radius.walled_garden_group;
  if (auto m = radius::parse_disconnect_mode(t.radius.disconnect_mode))
    out.sessions = *m;
  else
    return caf::make_error(errc::invalid_config, key("radius.disconnect_mode"));
  out.passwords = t.radius.password_storage == "hashed"
                    ? radius::password_storage::ssha2_512
                    : radius::password_storage::cleartext;
  for (auto& p : cfg.plans) {
    if (p.tenant != t.id)
      continue;
    radius::plan plan;
    plan.id = p.id;
    plan.download_kbps = static_cast<uint32_t>(p.download_kbps);
    plan.upload_kbps = static_cast<uint32_t>(p.upload_kbps);
    plan.radius_group = p.radius_group;
    plan.session_timeout_s = static_cast<uint32_t>(p.session_timeout_s);
    plan.interim_interval_s = static_cast<uint32_t>(p.interim_interval_s);
    if (out.nas_vendor == radius::vendor::cisco) {
      plan.policy_in = p.cisco_policy_in;
      plan.policy_out = p.cisco_policy_out;
    } else if (out.nas_vendor == radius::vendor::juniper) {
      plan.policy_in = p.juniper_policy_in;
      plan.policy_out = p.juniper_policy_out;
    }
    out.plans.push_back(std::move(plan));
  }
  return out;
}

adapters::voltha::tenant_settings
voltha_tenant(const common::tenant_settings& t) {
  adapters::voltha::tenant_settings out;
  out.grpc_address = t.voltha.grpc;
  out.onos_url = t.voltha.onos_url;
  out.onos_user = t.voltha.onos_user;
  out.onos_password = t.voltha.onos_password;
  out.tags.s_tag = static_cast<uint16_t>(t.voltha.s_tag);
  out.tags.c_tag = static_cast<uint16_t>(t.voltha.c_tag);
  out.tags.tp_id = static_cast<uint16_t>(t.voltha.tp_id);
  out.write_deadline = milliseconds{t.voltha.timeout_ms};
  out.read_deadline = milliseconds{t.voltha.timeout_ms};
  out.http_timeout = milliseconds{t.voltha.timeout_ms};
  out.confirm_interval = milliseconds{t.voltha.confirm_interval_ms};
  out.connect_point_ttl = milliseconds{t.voltha.connect_point_ttl_ms};
  out.grpc_max_receive_bytes = t.voltha.grpc_max_receive_mib * 1024 * 1024;
  return out;
}

adapters::awx::tenant_settings awx_tenant(const common::tenant_settings& t) {
  adapters::awx::tenant_settings out;
  out.base_url = t.awx.url;
  out.token = t.awx.token;
  out.activation_template = t.awx.activation_template;
  out.call_timeout = milliseconds{t.awx.timeout_ms};
  out.poll_interval = milliseconds{t.awx.poll_interval_ms};
  out.launch_check_ttl = milliseconds{t.awx.launch_check_ttl_ms};
  return out;
}

adapters::netbox::tenant_settings
netbox_tenant(const common::tenant_settings& t) {
  adapters::netbox::tenant_settings out;
  out.base_url = t.netbox.url;
  out.token = t.netbox.token;
  out.scheme = t.netbox.token_scheme == "bearer"
                 ? adapters::netbox::token_scheme::bearer
                 : adapters::netbox::token_scheme::token;
  out.tenant_slug = t.netbox.tenant;
  out.site_slug = t.netbox.site;
  out.prefix_role = t.netbox.prefix_role;
  out.call_timeout = milliseconds{t.netbox.timeout_ms};
  out.max_pages = t.netbox.max_pages;
  out.reuse_connections = t.netbox.keep_alive;
  out.prefix_cache = milliseconds{t.netbox.prefix_cache_ms};
  return out;
}

adapters::genieacs::tenant_settings
genieacs_tenant(const common::tenant_settings& t) {
  namespace acs = adapters::genieacs;
  acs::tenant_settings out;
  out.base_url = t.genieacs.url;
  out.connection_request_timeout
    = milliseconds{t.genieacs.connection_request_timeout_ms};
  out.call_timeout = milliseconds{t.genieacs.timeout_ms};
  out.reuse_connections = t.genieacs.keep_alive;
  // Both were checked when the configuration was loaded.
  out.model = acs::parse_data_model(t.genieacs.data_model)
                .value_or(acs::data_model::unknown);
  for (auto& [pc, model] : t.genieacs.product_class_data_models)
    out.product_class_models[pc]
      = acs::parse_data_model(model).value_or(acs::data_model::unknown);
  return out;
}

} // namespace

caf::expected<adapter_runtime> start_adapters(caf::actor_system& sys,
                                              const common::config& cfg) {
  adapter_runtime rt;
  auto gc = guard_config_of(cfg);
  if (auto err = res::validate(gc))
    return caf::make_error(errc::invalid_config, "breakers: " + to_string(err));
  rt.guard = std::make_shared<res::guard>(std::move(gc));
  if (!cfg.credentials.seal_keys.empty()) {
    auto ring = common::keyring::make(cfg.credentials.seal_keys);
    if (!ring)
      return caf::make_error(errc::invalid_config,
                             "credentials.seal_key_files: "
                               + render_error(ring.error()));
    rt.seal = std::move(*ring);
  }
  auto keep = [&](auto handle) {
    rt.all.push_back(caf::actor_cast<caf::actor>(handle));
  };
  bool any_radius = false, any_voltha = false, any_awx = false;
  bool any_netbox = false, any_genieacs = false;
  for (auto& t : cfg.tenants) {
    any_radius |= t.systems.radius;
    any_voltha |= t.systems.voltha;
    any_awx |= t.systems.awx;
    any_netbox |= t.systems.netbox;
    any_genieacs |= t.systems.genieacs;
  }
  if (any_radius) {
    // FreeRADIUS reads its clients (and our CoA client its targets) from
    // the `nas` table: the configured list replaces what we wrote before.
    std::vector<radius::nas_entry> nas;
    std::vector<radius::nas_policy> policies;
    for (auto& n : cfg.nas) {
      nas.push_back(radius::nas_entry{n.name, n.address, n.secret, n.vendor,
                                      static_cast<uint16_t>(n.coa_port),
                                      n.require_message_authenticator,
                                      static_cast<uint32_t>(n.max_in_flight),
                                      static_cast<double>(n.max_rate)});
      radius::nas_policy policy;
      policy.address = n.address;
      policy.mode = radius::parse_disconnect_mode(n.disconnect_mode);
      policy.walled_garden = n.walled_garden_attributes;
      policies.push_back(std::move(policy));
    }
    radius::store nas_store{cfg.postgres.dsn};
    if (auto err = nas_store.sync_nas(nas))
      return caf::make_error(errc::invalid_config,
                             "nas: not written to the nas table: "
                               + render_error(err));
    radius::adapter_config rc;
    rc.dsn = cfg.postgres.dsn;
    rc.instance_id = cfg.cluster.instance_id;
    for (auto& t : cfg.tenants) {
      if (!t.systems.radius)
        continue;
      auto ts = radius_tenant(cfg, t);
      if (!ts)
        return std::move(ts.error());
      rc.tenants.push_back(std::move(*ts));
    }
    radius::coa_settings coa_cfg;
    coa_cfg.nas = nas;
    auto coa = radius::coa_authorization::make(std::move(coa_cfg));
    if (!coa)
      return caf::make_error(errc::invalid_config,
                             "RADIUS CoA client not started: "
                               + render_error(coa.error()));
    for (size_t i = 0; i < cfg.nas.size(); ++i)
      for (auto& [name, value] : cfg.nas[i].walled_garden_attributes)
        if (auto err = (*coa)->check_attribute(name, value))
          return caf::make_error(errc::invalid_config,
                                 "nas[" + std::to_string(i)
                                   + "].walled_garden_attributes: "
                                   + render_error(err));
    rc.coa = std::move(*coa);
    rc.nas = std::move(policies);
    rc.nas_breakers = rt.guard->breakers_ptr();
    rc.seal = rt.seal;
    auto inner = radius::spawn_radius_adapter(sys, std::move(rc));
    keep(inner);
    auto outer = actors::spawn_guarded_adapter(sys, inner, rt.guard, "radius");
    keep(outer);
    rt.actors[sagas::target_system::radius] = outer;
  }
  if (any_voltha) {
    adapters::voltha::adapter_options vo;
    for (auto& t : cfg.tenants)
      if (t.systems.voltha)
        vo.tenants.emplace(t.id, voltha_tenant(t));
    auto inner = caf::actor_cast<api::adapter_actor>(
      adapters::voltha::spawn_adapter(sys, std::move(vo)));
    keep(inner);
    auto outer = actors::spawn_guarded_adapter(sys, inner, rt.guard, "voltha");
    keep(outer);
    rt.actors[sagas::target_system::voltha] = outer;
  }
  adapters::http::http_actor http;
  if (any_awx || any_netbox || any_genieacs) {
    http = adapters::http::spawn_http_actor(sys, http_options_of(cfg));
    keep(http);
    rt.http = http;
  }
  if (any_netbox) {
    adapters::netbox::adapter_settings ns;
    for (auto& t : cfg.tenants)
      if (t.systems.netbox)
        ns.tenants.emplace(t.id, netbox_tenant(t));
    auto nb = caf::actor_cast<api::adapter_actor>(
      adapters::netbox::spawn_netbox_adapter(sys, std::move(ns), http,
                                             rt.guard));
    keep(nb);
    rt.actors[sagas::target_system::netbox] = nb;
  }
  if (any_genieacs) {
    adapters::genieacs::adapter_settings gs;
    for (auto& t : cfg.tenants)
      if (t.systems.genieacs)
        gs.tenants.emplace(t.id, genieacs_tenant(t));
    // The task intents are durable (schema/0007), in a detached actor of
    // their own: a task that ran just before a crash is reconciled after the
    // restart, never posted again.
    auto intents = adapters::genieacs::spawn_pg_intent_store(sys,
                                                             cfg.postgres.dsn);
    keep(intents);
    auto acs = caf::actor_cast<api::adapter_actor>(
      adapters::genieacs::spawn_genieacs_adapter(sys, std::move(gs), http,
                                                 rt.guard, intents));
    keep(acs);
    // A drift repair's configure_cpe names the sealed password instead of
    // carrying one: the opener unseals it into that request only.
    radius::opener_config oc;
    oc.dsn = cfg.postgres.dsn;
    oc.keys = rt.seal;
    auto opener = radius::spawn_credential_opener(sys, acs, std::move(oc));
    keep(opener);
    rt.actors[sagas::target_system::genieacs] = opener;
  }
  if (any_awx) {
    adapters::awx::awx_settings as;
    for (auto& t : cfg.tenants)
      if (t.systems.awx)
        as.tenants.emplace(t.id, awx_tenant(t));
    if (auto err = adapters::awx::validate(as))
      return caf::make_error(errc::invalid_config, "awx: " + to_string(err));
    auto awx = caf::actor_cast<api::adapter_actor>(
      adapters::awx::spawn_awx_adapter(sys, std::move(as), http, rt.guard));
    keep(awx);
    rt.actors[sagas::target_system::awx] = awx;
  }
  return rt;
}

caf::expected<actors::admin::admin_settings>
admin_settings_of(const common::config& cfg) {
  actors::admin::admin_settings out;
  auto& listen = cfg.admin.listen;
  auto colon = listen.rfind(':');
  auto host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  out.address = host;
  out.port = static_cast<uint16_t>(std::stoi(listen.substr(colon + 1)));
  for (auto& t : cfg.admin.tokens) {
    actors::admin::token_settings ts;
    ts.name = t.name;
    ts.sha256 = t.sha256;
    std::istringstream in{t.scopes};
    std::string scope;
    while (std::getline(in, scope, ',')) {
      auto b = scope.find_first_not_of(" \t");
      auto e = scope.find_last_not_of(" \t");
      if (b != std::string::npos)
        ts.scopes.push_back(scope.substr(b, e - b + 1));
    }
    if (!t.tenant.empty())
      ts.tenant = t.tenant;
    out.tokens.push_back(std::move(ts));
  }
  using std::chrono::milliseconds;
  auto& a = cfg.admin;
  out.threads = static_cast<uint32_t>(a.max_connections);
  out.max_connections_per_client
    = static_cast<uint32_t>(a.max_connections_per_client);
  out.max_body_bytes = static_cast<uint64_t>(a.max_body_bytes);
  out.header_timeout = milliseconds{a.header_timeout_ms};
  out.body_timeout = milliseconds{a.body_timeout_ms};
  out.idle_timeout = milliseconds{a.idle_timeout_ms};
  out.write_timeout = milliseconds{a.write_timeout_ms};
  out.metrics_refresh = milliseconds{a.metrics_refresh_ms};
  if (!a.metrics_token_sha256.empty())
    out.metrics_token_sha256 = a.metrics_token_sha256;
  if (!a.metrics_listen.empty()) {
    auto mcolon = a.metrics_listen.rfind(':');
    auto mhost = a.metrics_listen.substr(0, mcolon);
    if (mhost.size() > 2 && mhost.front() == '[' && mhost.back() == ']')
      mhost = mhost.substr(1, mhost.size() - 2);
    out.metrics_address = mhost;
    out.metrics_port
      = static_cast<uint16_t>(std::stoi(a.metrics_listen.substr(mcolon + 1)));
  }
  out.tls_cert_file = a.tls_cert_file.string();
  out.tls_key_file = a.tls_key_file.string();
  return out;
}

caf::error add_cluster_metrics(actors::admin::metrics_registry& metrics,
                               std::shared_ptr<actors::lease_board> leases) {
  using actors::admin::sample;
  auto counter
    = [&](const char* name, const char* help,
          std::atomic<uint64_t> actors::lease_board::*field) -> caf::error {
    auto res = metrics.add_callback(
      name, help, actors::admin::metric_kind::counter,
      [leases, field]() -> caf::expected<std::vector<sample>> {
        return std::vector<sample>{
          {{{"instance", leases->instance_id()}},
           static_cast<double>(((*leases).*field).load())}};
      });
    if (!res)
      return std::move(res.error());
    return caf::none;
  };
  if (auto err = counter("ispflow_stale_writes_refused_total",
                         "Saga writes refused because another instance had"
                         " claimed the partition (fenced epoch)",
                         &actors::lease_board::stale_writes_refused))
    return err;
  if (auto err = counter("ispflow_lease_withheld_calls_total",
                         "Adapter calls not made because the partition's"
                         " lease had run out",
                         &actors::lease_board::calls_withheld))
    return err;
  return counter("ispflow_partitions_lost_total",
                 "Partitions this instance held and found claimed by another"
                 " instance (its epoch fenced)",
                 &actors::lease_board::partitions_lost);
}

caf::error add_engine_metrics(actors::admin::metrics_registry& metrics,
                              actors::saga_router_settings& router,
                              const adapter_runtime& adapters) {
  actors::admin::metric_definer def{metrics};
  auto calls = def.histograms(
    "ispflow_step_call_duration_seconds",
    "Adapter calls of saga steps by system, operation and outcome (parked"
    " calls never reached the system)",
    {"system", "operation", "outcome"});
  auto errors = def.counters(
    "ispflow_adapter_errors_total",
    "Adapter calls of saga steps that did not succeed, by system, operation"
    " and class (retryable_failure, permanent_failure, unknown_outcome,"
    " parked)",
    {"system", "operation", "class"});
  auto started = def.counters("ispflow_sagas_started_total",
                              "Sagas started, by tenant and type",
                              {"tenant", "type"});
  auto ended = def.counters(
    "ispflow_sagas_finished_total",
    "Sagas ended, by tenant, type and outcome (completed, compensated,"
    " needs_attention, cancelled)",
    {"tenant", "type", "outcome"});
  auto failed_steps = def.counters(
    "ispflow_saga_failed_steps_total",
    "Sagas that ended other than completed, by tenant, type and the step that"
    " failed",
    {"tenant", "type", "step"});
  auto repaired = def.counters("ispflow_drift_repaired_total",
                               "Differences drift repair sagas fixed (the"
                               " saga completed), by kind",
                               {"kind"});
  if (def.error())
    return def.error();
  router.on_step_call = [calls, errors](std::string_view system,
                                        std::string_view operation,
                                        events::adapter_outcome outcome,
                                        std::chrono::microseconds took) {
    std::string sys{system};
    std::string op{operation};
    std::string out{to_string(outcome)};
    if (outcome != events::adapter_outcome::succeeded)
      errors->with({sys, op, out}).inc();
    calls->with({std::move(sys), std::move(op), std::move(out)})
      .observe(std::chrono::duration<double>(took).count());
  };
  router.on_saga_started = [started](const sagas::saga_instance& inst) {
    started->with({inst.tenant_id, inst.name}).inc();
  };
  router.on_saga_finished = [ended, failed_steps,
                             repaired](const sagas::saga_instance& inst) {
    ended->with({inst.tenant_id, inst.name, std::string{to_string(inst.state)}})
      .inc();
    if (inst.state != sagas::saga_state::completed)
      failed_steps->with({inst.tenant_id, inst.name, inst.failed_step}).inc();
    else if (inst.name == sagas::repair_saga)
      for (const auto& kind : sagas::repaired_kinds(inst.payload))
        repaired->with({kind}).inc();
  };
  auto guard = adapters.guard;
  auto states = metrics.add_callback(
    "ispflow_breaker_state",
    "Circuit breaker per (tenant, adapter, endpoint): 0 closed, 1 open,"
    " 2 half_open, 3 forced_open, 4 forced_closed",
    actors::admin::metric_kind::gauge,
    [guard]() -> caf::expected<std::vector<actors::admin::sample>> {
      std::vector<actors::admin::sample> out;
      for (auto& [key, snap] : guard->breakers().snapshots())
        out.push_back({{{"tenant", key.tenant},
                        {"adapter", key.adapter},
                        {"endpoint", key.endpoint}},
                       static_cast<double>(snap.state)});
      return out;
    });
  if (!states)
    return std::move(states.error());
  auto refused = metrics.add_callback(
    "ispflow_breaker_not_permitted_calls_total",
    "Calls a breaker refused (the step parked)",
    actors::admin::metric_kind::counter,
    [guard]() -> caf::expected<std::vector<actors::admin::sample>> {
      std::vector<actors::admin::sample> out;
      for (auto& [key, snap] : guard->breakers().snapshots())
        out.push_back(
          {{{"tenant", key.tenant},
            {"adapter", key.adapter},
            {"endpoint", key.endpoint}},
           static_cast<double>(snap.metrics.number_of_not_permitted_calls)});
      return out;
    });
  if (!refused)
    return std::move(refused.error());
  return caf::none;
}

void lag_board::set(std::vector<adapters::kafka::partition_lag> xs) {
  std::lock_guard<std::mutex> guard{mtx_};
  lag_ = std::move(xs);
}

std::vector<adapters::kafka::partition_lag> lag_board::get() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return lag_;
}

caf::error add_intake_metrics(actors::admin::metrics_registry& metrics,
                              actors::intake_settings& intake) {
  actors::admin::metric_definer def{metrics};
  auto written = def.counters(
    "ispflow_intake_events_total",
    "Billing events intake wrote, by result: recorded (new in the inbox) or"
    " duplicate (already there)",
    {"result"});
  auto dead = def.counters(
    "ispflow_intake_dead_letters_total",
    "Billing records intake refused (sent to the dead-letter topic), by"
    " reason; a record read again after a crash counts again",
    {"reason"});
  if (def.error())
    return def.error();
  // Both results exist from the start, so that rate() sees the first ones.
  auto* recorded = &written->with({"recorded"});
  auto* duplicate = &written->with({"duplicate"});
  intake.on_batch = [recorded, duplicate,
                     dead](const events::intake_outcome& out,
                           const events::intake_batch& batch) {
    recorded->inc(out.recorded);
    duplicate->inc(out.duplicates);
    for (auto& dl : batch.rejected)
      dead->with({dl.error}).inc();
  };
  return caf::none;
}

caf::error add_lag_metric(actors::admin::metrics_registry& metrics,
                          std::shared_ptr<lag_board> board) {
  auto id = metrics.add_callback(
    "ispflow_consumer_lag",
    "Billing records not yet consumed, per assigned input partition (as"
    " intake last sampled it, at most every 5 s: the high watermark of the"
    " last fetch answer against the last acknowledged commit)",
    actors::admin::metric_kind::gauge,
    [board]() -> caf::expected<std::vector<actors::admin::sample>> {
      std::vector<actors::admin::sample> out;
      for (auto& p : board->get())
        out.push_back(
          {{{"topic", p.topic}, {"partition", std::to_string(p.partition)}},
           static_cast<double>(p.lag)});
      return out;
    });
  if (!id)
    return std::move(id.error());
  return caf::none;
}

namespace {

class router_control : public actors::admin::saga_control {
public:
  router_control(caf::actor_system& sys, actors::saga_router_actor router)
    : sys_(sys), router_(std::move(router)) {
    // nop
  }

  caf::expected<void> retry(const std::string& saga_id) override {
    return ask(retry_atom_v, saga_id);
  }

  caf::expected<void> cancel(const std::string& saga_id) override {
    return ask(cancel_atom_v, saga_id);
  }

  caf::expected<std::string> retry_in(const std::string& saga_id,
                                      int32_t partition) override {
    return ask_in(retry_atom_v, saga_id, partition);
  }

  caf::expected<std::string> cancel_in(const std::string& saga_id,
                                       int32_t partition) override {
    return ask_in(cancel_atom_v, saga_id, partition);
  }

private:
  // Under the epoch the router holds `partition` at (errc::stale_epoch when
  // it does not hold it).
  template <class Atom>
  caf::expected<std::string>
  ask_in(Atom atom, const std::string& saga_id, int32_t partition) {
    caf::scoped_actor self{sys_};
    caf::expected<std::string> res{std::string{}};
    self
      ->request(router_, 10s, atom, saga_id, std::string{"operator"}, partition)
      .receive([&](std::string& state) { res = std::move(state); },
               [&](caf::error& err) {
                 if (err == caf::sec::request_timeout)
                   res = caf::make_error(errc::timeout,
                                         std::string{"saga router busy"});
                 else
                   res = std::move(err);
               });
    return res;
  }

  template <class Atom>
  caf::expected<void> ask(Atom atom, const std::string& saga_id) {
    caf::scoped_actor self{sys_};
    caf::expected<void> res{caf::unit};
    self->request(router_, 10s, atom, saga_id, std::string{"operator"})
      .receive([](std::string&) {},
               [&](caf::error& err) {
                 if (err == caf::sec::request_timeout)
                   res = caf::make_error(errc::timeout,
                                         std::string{"saga router busy"});
                 else
                   res = std::move(err);
               });
    return res;
  }

  caf::actor_system& sys_;
  actors::saga_router_actor router_;
};

class guard_control : public actors::admin::breaker_control {
public:
  explicit guard_control(std::shared_ptr<res::guard> guard)
    : guard_(std::move(guard)) {
    // nop
  }

  caf::expected<std::vector<actors::admin::breaker_info>> list() override {
    std::vector<actors::admin::breaker_info> out;
    for (auto& [key, snap] : guard_->breakers().snapshots()) {
      actors::admin::breaker_info b;
      b.id = key.tenant + "/" + key.adapter + "/" + key.endpoint;
      b.tenant_id = key.tenant;
      b.system = key.adapter;
      b.state = std::string{to_string(snap.state)};
      auto& m = snap.metrics;
      b.counters["calls"] = static_cast<uint64_t>(m.number_of_calls);
      b.counters["failed_calls"]
        = static_cast<uint64_t>(m.number_of_failed_calls);
      b.counters["slow_calls"] = static_cast<uint64_t>(m.number_of_slow_calls);
      b.counters["not_permitted_calls"]
        = static_cast<uint64_t>(m.number_of_not_permitted_calls);
      b.counters["total_successful_calls"]
        = static_cast<uint64_t>(m.total_successful_calls);
      b.counters["total_failed_calls"]
        = static_cast<uint64_t>(m.total_failed_calls);
      out.push_back(std::move(b));
    }
    return out;
  }

  caf::expected<void> force_open(const std::string& id) override {
    auto b = find(id);
    if (!b)
      return std::move(b.error());
    (*b)->force_open(std::chrono::steady_clock::now());
    return caf::unit;
  }

  caf::expected<void> force_close(const std::string& id) override {
    auto b = find(id);
    if (!b)
      return std::move(b.error());
    (*b)->force_closed(std::chrono::steady_clock::now());
    return caf::unit;
  }

private:
  caf::expected<std::shared_ptr<res::circuit_breaker>>
  find(const std::string& id) {
    auto a = id.find('/');
    auto b = a == std::string::npos ? a : id.find('/', a + 1);
    if (b == std::string::npos)
      return caf::make_error(errc::invalid_input, "no breaker " + id);
    res::breaker_key key{id.substr(0, a), id.substr(a + 1, b - a - 1),
                         id.substr(b + 1)};
    if (auto found = guard_->breakers().find(key))
      return found;
    return caf::make_error(errc::invalid_input, "no breaker " + id);
  }

  std::shared_ptr<res::guard> guard_;
};

} // namespace

std::shared_ptr<actors::admin::saga_control>
make_saga_control(caf::actor_system& sys, actors::saga_router_actor router) {
  return std::make_shared<router_control>(sys, std::move(router));
}

std::shared_ptr<actors::admin::breaker_control>
make_breaker_control(std::shared_ptr<res::guard> guard) {
  return std::make_shared<guard_control>(std::move(guard));
}

caf::actor start_retention(caf::actor_system& sys, const common::config& cfg) {
  auto& r = cfg.retention;
  if (!r.enabled)
    return nullptr;
  using adapters::postgres::retention_table;
  using std::chrono::seconds;
  actors::retention_actor_settings rs;
  rs.dsn = cfg.postgres.dsn;
  rs.periods
    = {{retention_table::inbox, seconds{r.inbox_seconds}},
       {retention_table::outbox, seconds{r.outbox_seconds}},
       {retention_table::dead_letters, seconds{r.dead_letters_seconds}},
       {retention_table::sagas, seconds{r.sagas_seconds}},
       {retention_table::timers, seconds{r.timers_seconds}},
       {retention_table::audit, seconds{r.audit_seconds}},
       {retention_table::drift, seconds{r.drift_seconds}}};
  rs.batch = static_cast<size_t>(r.batch);
  rs.pause = std::chrono::milliseconds{r.pause_ms};
  rs.interval = seconds{r.interval_seconds};
  return caf::actor_cast<caf::actor>(actors::spawn_retention(sys, rs));
}

namespace {

// POST /v1/drift/scans through the scanner.
class scanner_drift_control : public actors::admin::drift_control {
public:
  explicit scanner_drift_control(actors::drift::scanner* s) : scanner_(s) {
    // nop
  }

  caf::expected<std::string>
  start_scan(const actors::admin::drift_scan_order& x) override {
    actors::drift::scan_request req;
    req.tenant_id = x.tenant;
    req.systems = x.systems;
    req.dry_run = x.dry_run;
    req.repair = x.repair;
    req.trigger = "operator";
    return scanner_->start(std::move(req));
  }

private:
  actors::drift::scanner* scanner_;
};

} // namespace

caf::expected<drift_runtime>
start_drift(caf::actor_system& sys, const common::config& cfg,
            const adapter_runtime& adapters,
            actors::admin::metrics_registry& metrics) {
  namespace drift = actors::drift;
  drift::scanner_settings s;
  s.dsn = cfg.postgres.dsn;
  s.page_size = cfg.drift.page_size;
  s.saga_topic = cfg.kafka.topics.saga;
  s.repair_topic = cfg.kafka.topics.billing;
  s.guard = adapters.guard;
  s.http = adapters.http;
  if (adapters.seal)
    s.seal_key_ids = adapters.seal->key_ids();
  auto rate = [&](int own) {
    return own > 0 ? own : cfg.drift.rate_per_second;
  };
  s.rate_per_second = {
    {"radius", rate(cfg.drift.radius_rate_per_second)},
    {"netbox", rate(cfg.drift.netbox_rate_per_second)},
    {"voltha", rate(cfg.drift.voltha_rate_per_second)},
    {"genieacs", rate(cfg.drift.genieacs_rate_per_second)},
  };
  for (const auto& t : cfg.tenants) {
    drift::tenant_view v;
    v.tenant_id = t.id;
    v.radius = t.systems.radius;
    v.netbox = t.systems.netbox;
    v.voltha = t.systems.voltha;
    v.genieacs = t.systems.genieacs;
    v.suspend_disables_onu = t.suspend_disable_onu;
    if (t.systems.radius) {
      auto rt = radius_tenant(cfg, t);
      if (!rt)
        return std::move(rt.error());
      v.suspend_policy = std::string{radius::to_string(rt->suspend)};
      v.walled_garden_group = rt->walled_garden_group;
      for (const auto& p : rt->plans)
        v.plan_groups[p.id] = rt->group_of(p);
    }
    if (t.systems.netbox)
      v.netbox_settings = netbox_tenant(t);
    if (t.systems.genieacs) {
      v.genieacs_settings = genieacs_tenant(t);
      v.cpe_tags = t.genieacs.required_tags;
    }
    if (t.systems.voltha) {
      v.voltha_grpc = t.voltha.grpc;
      v.voltha_deadline = std::max(milliseconds{t.voltha.timeout_ms},
                                   milliseconds{60'000});
    }
    s.tenants.push_back(std::move(v));
  }
  actors::admin::metric_definer def{metrics};
  auto findings = def.counters("ispflow_drift_findings_total",
                               "Differences drift scans found between the"
                               " subscriber records and the network, by"
                               " kind",
                               {"kind"});
  auto scans = def.counters("ispflow_drift_scans_total",
                            "Drift scans ended, by trigger and state",
                            {"trigger", "state"});
  auto scanned = def.counters("ispflow_drift_subscribers_scanned_total",
                              "Subscriber records drift scans compared");
  auto requests = def.counters("ispflow_drift_requests_total",
                               "Requests drift scans sent, by system (HTTP"
                               " exchanges, gRPC calls, SQL statements)",
                               {"system"});
  auto repairs = def.counters("ispflow_drift_repairs_total",
                              "Repair sagas drift scans queued (one per"
                              " subscriber with repairable differences)");
  auto unrepairable = def.counters("ispflow_drift_unrepairable_total",
                                   "Differences drift scans found that no"
                                   " repair saga can fix, by kind",
                                   {"kind"});
  if (def.error())
    return def.error();
  s.on_scan = [=](const drift::scan_summary& sum) {
    for (const auto& [kind, n] : sum.by_kind)
      findings->with({kind}).inc(static_cast<double>(n));
    scans->with({sum.trigger, sum.state}).inc();
    scanned->with({}).inc(static_cast<double>(sum.subscribers));
    for (const auto& [system, n] : sum.requests)
      requests->with({system}).inc(static_cast<double>(n));
    repairs->with({}).inc(static_cast<double>(sum.repairs));
    for (const auto& [kind, n] : sum.unrepairable)
      unrepairable->with({kind}).inc(static_cast<double>(n));
  };
  auto made = drift::scanner::make(sys, std::move(s));
  if (!made)
    return std::move(made.error());
  drift_runtime out;
  out.scanner = std::move(*made);
  out.control = std::make_shared<scanner_drift_control>(out.scanner.get());
  if (cfg.drift.enabled) {
    drift::scan_request req;
    req.trigger = "schedule";
    req.repair = cfg.drift.repair;
    out.scanner->schedule(std::chrono::seconds{cfg.drift.interval_seconds},
                          std::move(req));
  }
  return out;
}

} // namespace ispflow::app
