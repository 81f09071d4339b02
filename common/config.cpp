#include "common/config.hpp"

#include "common/seal.hpp"
#include "events/source_signature.hpp"

#include <algorithm>
#include <array>
#include <caf/error.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <libpq-fe.h>
#include <set>
#include <span>
#include <sstream>
#include <yaml-cpp/yaml.h>

extern char** environ;

namespace ispflow::common {

// -- env_source ---------------------------------------------------------------

env_source::env_source(std::optional<variables> vars) : vars_(std::move(vars)) {
  // nop
}

env_source env_source::process() {
  return env_source{std::nullopt};
}

env_source process_env() {
  return env_source::process();
}

env_source env_source::from_map(variables vars) {
  return env_source{std::move(vars)};
}

std::optional<std::string> env_source::get(std::string_view name) const {
  if (vars_) {
    if (auto i = vars_->find(name); i != vars_->end())
      return i->second;
    return std::nullopt;
  }
  std::string key{name};
  if (const char* value = std::getenv(key.c_str()))
    return std::string{value};
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>>
env_source::with_prefix(std::string_view prefix) const {
  std::vector<std::pair<std::string, std::string>> result;
  if (vars_) {
    for (auto i = vars_->lower_bound(prefix);
         i != vars_->end() && i->first.starts_with(prefix); ++i)
      result.emplace_back(i->first, i->second);
    return result;
  }
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view var{*entry};
    auto eq = var.find('=');
    if (eq == std::string_view::npos || !var.starts_with(prefix))
      continue;
    result.emplace_back(std::string{var.substr(0, eq)},
                        std::string{var.substr(eq + 1)});
  }
  std::sort(result.begin(), result.end());
  return result;
}

std::string env_name(std::string_view path) {
  std::string result = "ISPFLOW_";
  for (char ch : path) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c))
      result += static_cast<char>(std::toupper(c));
    else if (ch != ']')
      result += '_';
  }
  return result;
}

std::string postgres_settings::redacted_dsn() const {
  return redact_dsn(dsn);
}

namespace {

// -- schema -------------------------------------------------------------------

/// How a scalar value is parsed and checked.
enum class value_kind {
  /// A non-empty string.
  string,
  /// A file path; empty means "not set".
  path,
  /// An integer within [min, max].
  integer,
  /// true/false (also yes/no, on/off, 1/0).
  boolean,
  /// One of `choices`.
  choice,
  /// "host:port".
  host_port,
  /// ^[a-z0-9][a-z0-9_-]{0,62}$
  tenant_id,
};

/// A parsed scalar; `assign` reads the member that matches the key's kind.
struct parsed {
  std::string text;
  int64_t integer = 0;
  bool boolean = false;
  size_t choice = 0;
};

/// One scalar key: path relative to `Target`, type, default, constraints and
/// where the value goes.
template <class Target>
struct key_spec {
  std::string_view path;
  value_kind kind;
  bool required;
  /// The default as text, parsed like any value; unused when `required`.
  std::string_view fallback;
  int64_t min = 0;
  int64_t max = 0;
  std::span<const std::string_view> choices = {};
  void (*assign)(Target&, const parsed&) = nullptr;
};

constexpr std::array<std::string_view, 5> level_choices{
  "trace", "debug", "info", "warn", "error"};
constexpr std::array<std::string_view, 2> format_choices{"json", "text"};
constexpr std::array<std::string_view, 2> scheduler_choices{"sharing",
                                                            "stealing"};

std::string trim(std::string_view s);
std::string lower(std::string_view s);

using root_spec = key_spec<config>;
using tenant_spec = key_spec<tenant_settings>;
using plan_spec = key_spec<plan_settings>;
using nas_spec = key_spec<nas_settings>;
using token_spec = key_spec<admin_token_settings>;
using source_spec = key_spec<intake_source_settings>;

constexpr std::array<std::string_view, 3> vendor_choices{"mikrotik", "cisco",
                                                         "juniper"};
constexpr std::array<std::string_view, 2> suspend_choices{"reject",
                                                          "walled_garden"};
constexpr std::array<std::string_view, 2> password_choices{"cleartext",
                                                           "hashed"};
constexpr std::array<std::string_view, 2> disconnect_choices{"disconnect",
                                                             "coa"};
constexpr std::array<std::string_view, 3> nas_disconnect_choices{
  "tenant", "disconnect", "coa"};
constexpr std::array<std::string_view, 2> scheme_choices{"token", "bearer"};
constexpr std::array<std::string_view, 3> data_model_choices{"auto", "tr098",
                                                             "tr181"};

// clang-format off
const root_spec root_keys[] = {
  {"kafka.bootstrap_servers", value_kind::string, true, "", 0, 0, {},
   [](config& c, const parsed& v) { c.kafka.bootstrap_servers = v.text; }},
  {"kafka.group_id", value_kind::string, false, "ispflow", 0, 0, {},
   [](config& c, const parsed& v) { c.kafka.group_id = v.text; }},
  {"kafka.client_id", value_kind::string, false, "ispflowd", 0, 0, {},
   [](config& c, const parsed& v) { c.kafka.client_id = v.text; }},
  {"kafka.topics.billing", value_kind::string, false, "billing.events.v1", 0, 0, {},
   [](config& c, const parsed& v) { c.kafka.topics.billing = v.text; }},
  {"kafka.topics.lifecycle", value_kind::string, false, "lifecycle.events.v1", 0, 0, {},
   [](config& c, const parsed& v) { c.kafka.topics.lifecycle = v.text; }},
  {"kafka.topics.saga", value_kind::string, false, "saga.events.v1", 0, 0, {},
   [](config& c, const parsed& v) { c.kafka.topics.saga = v.text; }},
  {"kafka.topics.dead_letter", value_kind::string, false, "billing.events.v1.dlq", 0, 0, {},
   [](config& c, const parsed& v) { c.kafka.topics.dead_letter = v.text; }},
  {"postgres.dsn", value_kind::string, true, "", 0, 0, {},
   [](config& c, const parsed& v) { c.postgres.dsn = v.text; }},
  {"postgres.password_file", value_kind::path, false, "", 0, 0, {},
   [](config& c, const parsed& v) { c.postgres.password_file = v.text; }},
  {"postgres.pool_size", value_kind::integer, false, "4", 1, 64, {},
   [](config& c, const parsed& v) { c.postgres.pool_size = static_cast<int>(v.integer); }},
  {"intake.max_batch", value_kind::integer, false, "1000", 1, 100000, {},
   [](config& c, const parsed& v) { c.intake.max_batch = static_cast<int>(v.integer); }},
  {"intake.linger_ms", value_kind::integer, false, "5", 0, 10000, {},
   [](config& c, const parsed& v) { c.intake.linger_ms = static_cast<int>(v.integer); }},
  {"intake.allow_any_source", value_kind::boolean, false, "false", 0, 0, {},
   [](config& c, const parsed& v) { c.intake.allow_any_source = v.boolean; }},
  {"intake.signed_max_age_seconds", value_kind::integer, false, "604800", 0, 3153600000, {},
   [](config& c, const parsed& v) { c.intake.signed_max_age_seconds = v.integer; }},
  {"intake.signed_max_skew_seconds", value_kind::integer, false, "300", 0, 86400, {},
   [](config& c, const parsed& v) { c.intake.signed_max_skew_seconds = v.integer; }},
  {"outbox.batch", value_kind::integer, false, "1000", 1, 100000, {},
   [](config& c, const parsed& v) { c.outbox.batch = static_cast<int>(v.integer); }},
  {"outbox.poll_interval_ms", value_kind::integer, false, "50", 1, 60000, {},
   [](config& c, const parsed& v) { c.outbox.poll_interval_ms = static_cast<int>(v.integer); }},
  {"outbox.tail_scan", value_kind::integer, false, "2000", 0, 1000000, {},
   [](config& c, const parsed& v) { c.outbox.tail_scan = static_cast<int>(v.integer); }},
  {"runtime.worker_threads", value_kind::integer, false, "0", 0, 256, {},
   [](config& c, const parsed& v) { c.runtime.worker_threads = static_cast<int>(v.integer); }},
  {"runtime.scheduler", value_kind::choice, false, "sharing", 0, 0, scheduler_choices,
   [](config& c, const parsed& v) { c.runtime.scheduler = static_cast<scheduler_policy>(v.choice); }},
  {"sagas.tenant_max_running", value_kind::integer, false, "2000", 0, 10000000, {},
   [](config& c, const parsed& v) { c.sagas.tenant_max_running = static_cast<int>(v.integer); }},
  {"sagas.write_linger_ms", value_kind::integer, false, "50", 0, 10000, {},
   [](config& c, const parsed& v) { c.sagas.write_linger_ms = static_cast<int>(v.integer); }},
  {"retention.enabled", value_kind::boolean, false, "true", 0, 0, {},
   [](config& c, const parsed& v) { c.retention.enabled = v.boolean; }},
  {"retention.inbox_seconds", value_kind::integer, false, "1209600", 0, 3153600000, {},
   [](config& c, const parsed& v) { c.retention.inbox_seconds = v.integer; }},
  {"retention.outbox_seconds", value_kind::integer, false, "604800", 0, 3153600000, {},
   [](config& c, const parsed& v) { c.retention.outbox_seconds = v.integer; }},
  {"retention.dead_letters_seconds", value_kind::integer, false, "7776000", 0, 3153600000, {},
   [](config& c, const parsed& v) { c.retention.dead_letters_seconds = v.integer; }},
  {"retention.sagas_seconds", value_kind::integer, false, "31536000", 0, 3153600000, {},
   [](config& c, const parsed& v) { c.retention.sagas_seconds = v.integer; }},
  {"retention.timers_seconds", value_kind::integer, false, "86400", 0, 3153600000, {},
   [](config& c, const parsed& v) { c.retention.timers_seconds = v.integer; }},
  {"retention.audit_seconds", value_kind::integer, false, "31536000", 0, 3153600000, {},
   [](config& c, const parsed& v) { c.retention.audit_seconds = v.integer; }},
  {"retention.drift_seconds", value_kind::integer, false, "7776000", 0, 3153600000, {},
   [](config& c, const parsed& v) { c.retention.drift_seconds = v.integer; }},
  {"retention.batch", value_kind::integer, false, "1000", 1, 100000, {},
   [](config& c, const parsed& v) { c.retention.batch = static_cast<int>(v.integer); }},
  {"retention.pause_ms", value_kind::integer, false, "100", 0, 60000, {},
   [](config& c, const parsed& v) { c.retention.pause_ms = static_cast<int>(v.integer); }},
  {"retention.interval_seconds", value_kind::integer, false, "600", 1, 86400, {},
   [](config& c, const parsed& v) { c.retention.interval_seconds = static_cast<int>(v.integer); }},
  {"drift.enabled", value_kind::boolean, false, "false", 0, 0, {},
   [](config& c, const parsed& v) { c.drift.enabled = v.boolean; }},
  {"drift.interval_seconds", value_kind::integer, false, "86400", 60, 31536000, {},
   [](config& c, const parsed& v) { c.drift.interval_seconds = static_cast<int>(v.integer); }},
  {"drift.rate_per_second", value_kind::integer, false, "0", 0, 1000000, {},
   [](config& c, const parsed& v) { c.drift.rate_per_second = static_cast<int>(v.integer); }},
  {"drift.radius_rate_per_second", value_kind::integer, false, "0", 0, 1000000, {},
   [](config& c, const parsed& v) { c.drift.radius_rate_per_second = static_cast<int>(v.integer); }},
  {"drift.netbox_rate_per_second", value_kind::integer, false, "0", 0, 1000000, {},
   [](config& c, const parsed& v) { c.drift.netbox_rate_per_second = static_cast<int>(v.integer); }},
  {"drift.voltha_rate_per_second", value_kind::integer, false, "0", 0, 1000000, {},
   [](config& c, const parsed& v) { c.drift.voltha_rate_per_second = static_cast<int>(v.integer); }},
  {"drift.genieacs_rate_per_second", value_kind::integer, false, "0", 0, 1000000, {},
   [](config& c, const parsed& v) { c.drift.genieacs_rate_per_second = static_cast<int>(v.integer); }},
  {"drift.page_size", value_kind::integer, false, "1000", 1, 10000, {},
   [](config& c, const parsed& v) { c.drift.page_size = static_cast<int>(v.integer); }},
  {"drift.repair", value_kind::boolean, false, "false", 0, 0, {},
   [](config& c, const parsed& v) { c.drift.repair = v.boolean; }},
  {"credentials.seal_key_files", value_kind::path, false, "", 0, 0, {},
   [](config& c, const parsed& v) {
     std::istringstream in{v.text};
     for (std::string f; std::getline(in, f, ',');)
       if (auto path = trim(f); !path.empty())
         c.credentials.seal_key_files.emplace_back(path);
   }},
  {"instance.id", value_kind::path, false, "", 0, 0, {},
   [](config& c, const parsed& v) { c.cluster.instance_id = v.text; }},
  {"cluster.heartbeat_ms", value_kind::integer, false, "2000", 100, 60000, {},
   [](config& c, const parsed& v) { c.cluster.heartbeat_ms = static_cast<int>(v.integer); }},
  {"cluster.lease_ms", value_kind::integer, false, "10000", 500, 600000, {},
   [](config& c, const parsed& v) { c.cluster.lease_ms = static_cast<int>(v.integer); }},
  {"cluster.drain_ms", value_kind::integer, false, "10000", 0, 600000, {},
   [](config& c, const parsed& v) { c.cluster.drain_ms = static_cast<int>(v.integer); }},
  {"log.level", value_kind::choice, false, "info", 0, 0, level_choices,
   [](config& c, const parsed& v) { c.log.level = static_cast<log_level>(v.choice); }},
  {"log.format", value_kind::choice, false, "json", 0, 0, format_choices,
   [](config& c, const parsed& v) { c.log.format = static_cast<log_format>(v.choice); }},
  {"admin.listen", value_kind::host_port, false, "127.0.0.1:8089", 0, 0, {},
   [](config& c, const parsed& v) { c.admin.listen = v.text; }},
  {"admin.enabled", value_kind::boolean, false, "true", 0, 0, {},
   [](config& c, const parsed& v) { c.admin.enabled = v.boolean; }},
  {"admin.max_connections", value_kind::integer, false, "32", 1, 4096, {},
   [](config& c, const parsed& v) { c.admin.max_connections = static_cast<int>(v.integer); }},
  {"admin.max_connections_per_client", value_kind::integer, false, "8", 1, 4096, {},
   [](config& c, const parsed& v) { c.admin.max_connections_per_client = static_cast<int>(v.integer); }},
  {"admin.max_body_bytes", value_kind::integer, false, "1048576", 1024, 67108864, {},
   [](config& c, const parsed& v) { c.admin.max_body_bytes = v.integer; }},
  {"admin.header_timeout_ms", value_kind::integer, false, "10000", 100, 600000, {},
   [](config& c, const parsed& v) { c.admin.header_timeout_ms = static_cast<int>(v.integer); }},
  {"admin.body_timeout_ms", value_kind::integer, false, "30000", 100, 3600000, {},
   [](config& c, const parsed& v) { c.admin.body_timeout_ms = static_cast<int>(v.integer); }},
  {"admin.idle_timeout_ms", value_kind::integer, false, "5000", 100, 3600000, {},
   [](config& c, const parsed& v) { c.admin.idle_timeout_ms = static_cast<int>(v.integer); }},
  {"admin.write_timeout_ms", value_kind::integer, false, "10000", 100, 600000, {},
   [](config& c, const parsed& v) { c.admin.write_timeout_ms = static_cast<int>(v.integer); }},
  {"admin.metrics.listen", value_kind::path, false, "", 0, 0, {},
   [](config& c, const parsed& v) { c.admin.metrics_listen = v.text; }},
  {"admin.metrics.token_sha256", value_kind::path, false, "", 0, 0, {},
   [](config& c, const parsed& v) { c.admin.metrics_token_sha256 = lower(trim(v.text)); }},
  {"admin.metrics.refresh_ms", value_kind::integer, false, "15000", 100, 3600000, {},
   [](config& c, const parsed& v) { c.admin.metrics_refresh_ms = static_cast<int>(v.integer); }},
  {"admin.command_wait_ms", value_kind::integer, false, "5000", 0, 600000, {},
   [](config& c, const parsed& v) { c.admin.command_wait_ms = static_cast<int>(v.integer); }},
  {"admin.tls.cert_file", value_kind::path, false, "", 0, 0, {},
   [](config& c, const parsed& v) { c.admin.tls_cert_file = v.text; }},
  {"admin.tls.key_file", value_kind::path, false, "", 0, 0, {},
   [](config& c, const parsed& v) { c.admin.tls_key_file = v.text; }},
  {"breakers.failure_rate_threshold", value_kind::integer, false, "50", 1, 100, {},
   [](config& c, const parsed& v) { c.breakers.failure_rate_threshold = static_cast<int>(v.integer); }},
  {"breakers.slow_call_ms", value_kind::integer, false, "10000", 1, 3600000, {},
   [](config& c, const parsed& v) { c.breakers.slow_call_ms = static_cast<int>(v.integer); }},
  {"breakers.window", value_kind::integer, false, "20", 1, 100000, {},
   [](config& c, const parsed& v) { c.breakers.window = static_cast<int>(v.integer); }},
  {"breakers.minimum_calls", value_kind::integer, false, "10", 1, 100000, {},
   [](config& c, const parsed& v) { c.breakers.minimum_calls = static_cast<int>(v.integer); }},
  {"breakers.open_ms", value_kind::integer, false, "30000", 1, 86400000, {},
   [](config& c, const parsed& v) { c.breakers.open_ms = static_cast<int>(v.integer); }},
  {"breakers.half_open_calls", value_kind::integer, false, "3", 1, 10000, {},
   [](config& c, const parsed& v) { c.breakers.half_open_calls = static_cast<int>(v.integer); }},
  {"breakers.tenant_max_concurrent", value_kind::integer, false, "64", 1, 1000000, {},
   [](config& c, const parsed& v) { c.breakers.tenant_max_concurrent = static_cast<int>(v.integer); }},
};

const tenant_spec tenant_keys[] = {
  {"id", value_kind::tenant_id, true, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.id = v.text; }},
  {"name", value_kind::string, true, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.name = v.text; }},
  {"systems.radius", value_kind::boolean, false, "true", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.systems.radius = v.boolean; }},
  {"systems.netbox", value_kind::boolean, false, "false", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.systems.netbox = v.boolean; }},
  {"systems.voltha", value_kind::boolean, false, "false", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.systems.voltha = v.boolean; }},
  {"systems.genieacs", value_kind::boolean, false, "false", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.systems.genieacs = v.boolean; }},
  {"systems.awx", value_kind::boolean, false, "false", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.systems.awx = v.boolean; }},
  {"policies.suspend_disable_onu", value_kind::boolean, false, "false", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.suspend_disable_onu = v.boolean; }},
  {"policies.terminate_factory_reset_cpe", value_kind::boolean, false, "false", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.terminate_factory_reset_cpe = v.boolean; }},
  {"radius.vendor", value_kind::choice, false, "mikrotik", 0, 0, vendor_choices,
   [](tenant_settings& t, const parsed& v) { t.radius.vendor = v.text; }},
  {"radius.suspend_policy", value_kind::choice, false, "reject", 0, 0, suspend_choices,
   [](tenant_settings& t, const parsed& v) { t.radius.suspend_policy = v.text; }},
  {"radius.walled_garden_group", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.radius.walled_garden_group = v.text; }},
  {"radius.password_storage", value_kind::choice, false, "hashed", 0, 0, password_choices,
   [](tenant_settings& t, const parsed& v) { t.radius.password_storage = v.text; }},
  {"radius.disconnect_mode", value_kind::choice, false, "disconnect", 0, 0, disconnect_choices,
   [](tenant_settings& t, const parsed& v) { t.radius.disconnect_mode = v.text; }},
  {"netbox.url", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.url = v.text; }},
  {"netbox.token_file", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.token_file = v.text; }},
  {"netbox.token_scheme", value_kind::choice, false, "token", 0, 0, scheme_choices,
   [](tenant_settings& t, const parsed& v) { t.netbox.token_scheme = v.text; }},
  {"netbox.site", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.site = v.text; }},
  {"netbox.prefix_role", value_kind::string, false, "subscriber", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.prefix_role = v.text; }},
  {"netbox.tenant", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.tenant = v.text; }},
  {"netbox.ca_file", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.tls.ca_file = v.text; }},
  {"netbox.insecure_skip_verify", value_kind::boolean, false, "false", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.tls.insecure_skip_verify = v.boolean; }},
  {"netbox.timeout_ms", value_kind::integer, false, "10000", 1, 600000, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.timeout_ms = static_cast<int>(v.integer); }},
  {"netbox.max_pages", value_kind::integer, false, "50", 1, 10000, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.max_pages = static_cast<int>(v.integer); }},
  {"netbox.keep_alive", value_kind::boolean, false, "true", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.keep_alive = v.boolean; }},
  {"netbox.prefix_cache_ms", value_kind::integer, false, "60000", 0, 86400000, {},
   [](tenant_settings& t, const parsed& v) { t.netbox.prefix_cache_ms = static_cast<int>(v.integer); }},
  {"genieacs.url", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.genieacs.url = v.text; }},
  {"genieacs.connection_request_timeout_ms", value_kind::integer, false, "4000", 1, 600000, {},
   [](tenant_settings& t, const parsed& v) { t.genieacs.connection_request_timeout_ms = static_cast<int>(v.integer); }},
  {"genieacs.ca_file", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.genieacs.tls.ca_file = v.text; }},
  {"genieacs.insecure_skip_verify", value_kind::boolean, false, "false", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.genieacs.tls.insecure_skip_verify = v.boolean; }},
  {"genieacs.timeout_ms", value_kind::integer, false, "10000", 1, 600000, {},
   [](tenant_settings& t, const parsed& v) { t.genieacs.timeout_ms = static_cast<int>(v.integer); }},
  {"genieacs.keep_alive", value_kind::boolean, false, "true", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.genieacs.keep_alive = v.boolean; }},
  {"genieacs.data_model", value_kind::choice, false, "auto", 0, 0, data_model_choices,
   [](tenant_settings& t, const parsed& v) { t.genieacs.data_model = v.text; }},
  {"genieacs.product_class_data_models", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.genieacs.product_class_data_models_text = v.text; }},
  {"genieacs.required_tags", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.genieacs.required_tags_text = v.text; }},
  {"awx.url", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.awx.url = v.text; }},
  {"awx.token_file", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.awx.token_file = v.text; }},
  {"awx.activation_template", value_kind::integer, false, "0", 0, INT32_MAX, {},
   [](tenant_settings& t, const parsed& v) { t.awx.activation_template = v.integer; }},
  {"awx.ca_file", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.awx.tls.ca_file = v.text; }},
  {"awx.insecure_skip_verify", value_kind::boolean, false, "false", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.awx.tls.insecure_skip_verify = v.boolean; }},
  {"awx.timeout_ms", value_kind::integer, false, "10000", 1, 600000, {},
   [](tenant_settings& t, const parsed& v) { t.awx.timeout_ms = static_cast<int>(v.integer); }},
  {"awx.poll_interval_ms", value_kind::integer, false, "15000", 10, 3600000, {},
   [](tenant_settings& t, const parsed& v) { t.awx.poll_interval_ms = static_cast<int>(v.integer); }},
  {"awx.launch_check_ttl_ms", value_kind::integer, false, "60000", 0, 3600000, {},
   [](tenant_settings& t, const parsed& v) { t.awx.launch_check_ttl_ms = static_cast<int>(v.integer); }},
  {"voltha.grpc", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.grpc = v.text; }},
  {"voltha.onos_url", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.onos_url = v.text; }},
  {"voltha.onos_user", value_kind::string, false, "onos", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.onos_user = v.text; }},
  {"voltha.onos_password_file", value_kind::path, false, "", 0, 0, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.onos_password_file = v.text; }},
  {"voltha.s_tag", value_kind::integer, false, "0", 0, 4095, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.s_tag = static_cast<int>(v.integer); }},
  {"voltha.c_tag", value_kind::integer, false, "0", 0, 4095, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.c_tag = static_cast<int>(v.integer); }},
  {"voltha.tp_id", value_kind::integer, false, "64", 0, 65535, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.tp_id = static_cast<int>(v.integer); }},
  {"voltha.timeout_ms", value_kind::integer, false, "10000", 1, 600000, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.timeout_ms = static_cast<int>(v.integer); }},
  {"voltha.confirm_interval_ms", value_kind::integer, false, "1000", 10, 600000, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.confirm_interval_ms = static_cast<int>(v.integer); }},
  {"voltha.connect_point_ttl_ms", value_kind::integer, false, "300000", 0, 86400000, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.connect_point_ttl_ms = static_cast<int>(v.integer); }},
  {"voltha.grpc_max_receive_mib", value_kind::integer, false, "64", 4, 2047, {},
   [](tenant_settings& t, const parsed& v) { t.voltha.grpc_max_receive_mib = static_cast<int>(v.integer); }},
};

const plan_spec plan_keys[] = {
  {"tenant", value_kind::tenant_id, true, "", 0, 0, {},
   [](plan_settings& p, const parsed& v) { p.tenant = v.text; }},
  {"id", value_kind::string, true, "", 0, 0, {},
   [](plan_settings& p, const parsed& v) { p.id = v.text; }},
  {"download_kbps", value_kind::integer, true, "", 1, 100000000, {},
   [](plan_settings& p, const parsed& v) { p.download_kbps = v.integer; }},
  {"upload_kbps", value_kind::integer, true, "", 1, 100000000, {},
   [](plan_settings& p, const parsed& v) { p.upload_kbps = v.integer; }},
  {"radius_group", value_kind::path, false, "", 0, 0, {},
   [](plan_settings& p, const parsed& v) { p.radius_group = v.text; }},
  {"cisco.policy_in", value_kind::path, false, "", 0, 0, {},
   [](plan_settings& p, const parsed& v) { p.cisco_policy_in = v.text; }},
  {"cisco.policy_out", value_kind::path, false, "", 0, 0, {},
   [](plan_settings& p, const parsed& v) { p.cisco_policy_out = v.text; }},
  {"juniper.policy_in", value_kind::path, false, "", 0, 0, {},
   [](plan_settings& p, const parsed& v) { p.juniper_policy_in = v.text; }},
  {"juniper.policy_out", value_kind::path, false, "", 0, 0, {},
   [](plan_settings& p, const parsed& v) { p.juniper_policy_out = v.text; }},
  {"session_timeout_s", value_kind::integer, false, "0", 0, 2147483647, {},
   [](plan_settings& p, const parsed& v) { p.session_timeout_s = v.integer; }},
  {"interim_interval_s", value_kind::integer, false, "0", 0, 2147483647, {},
   [](plan_settings& p, const parsed& v) { p.interim_interval_s = v.integer; }},
};

const nas_spec nas_keys[] = {
  {"name", value_kind::string, true, "", 0, 0, {},
   [](nas_settings& n, const parsed& v) { n.name = v.text; }},
  {"address", value_kind::string, true, "", 0, 0, {},
   [](nas_settings& n, const parsed& v) { n.address = v.text; }},
  {"secret_file", value_kind::string, true, "", 0, 0, {},
   [](nas_settings& n, const parsed& v) { n.secret_file = v.text; }},
  {"coa_port", value_kind::integer, false, "3799", 1, 65535, {},
   [](nas_settings& n, const parsed& v) { n.coa_port = static_cast<int>(v.integer); }},
  {"vendor", value_kind::choice, false, "mikrotik", 0, 0, vendor_choices,
   [](nas_settings& n, const parsed& v) { n.vendor = v.text; }},
  {"require_message_authenticator", value_kind::boolean, false, "true", 0, 0, {},
   [](nas_settings& n, const parsed& v) { n.require_message_authenticator = v.boolean; }},
  {"disconnect_mode", value_kind::choice, false, "tenant", 0, 0, nas_disconnect_choices,
   [](nas_settings& n, const parsed& v) { n.disconnect_mode = v.text; }},
  {"walled_garden_attributes", value_kind::path, false, "", 0, 0, {},
   [](nas_settings& n, const parsed& v) { n.walled_garden_attributes_text = v.text; }},
  {"max_in_flight", value_kind::integer, false, "0", 0, 65536, {},
   [](nas_settings& n, const parsed& v) { n.max_in_flight = static_cast<int>(v.integer); }},
  {"max_rate", value_kind::integer, false, "0", 0, 1000000, {},
   [](nas_settings& n, const parsed& v) { n.max_rate = static_cast<int>(v.integer); }},
};

const token_spec token_keys[] = {
  {"name", value_kind::string, true, "", 0, 0, {},
   [](admin_token_settings& t, const parsed& v) { t.name = v.text; }},
  {"sha256", value_kind::string, true, "", 0, 0, {},
   [](admin_token_settings& t, const parsed& v) { t.sha256 = lower(trim(v.text)); }},
  {"scopes", value_kind::string, true, "", 0, 0, {},
   [](admin_token_settings& t, const parsed& v) { t.scopes = v.text; }},
  {"tenant", value_kind::path, false, "", 0, 0, {},
   [](admin_token_settings& t, const parsed& v) { t.tenant = v.text; }},
};

const source_spec source_keys[] = {
  {"source", value_kind::string, true, "", 0, 0, {},
   [](intake_source_settings& x, const parsed& v) { x.source = v.text; }},
  {"tenants", value_kind::string, true, "", 0, 0, {},
   [](intake_source_settings& x, const parsed& v) {
     std::istringstream in{v.text};
     for (std::string t; std::getline(in, t, ',');)
       if (auto id = trim(t); !id.empty())
         x.tenants.push_back(id);
   }},
  {"signing_key_file", value_kind::path, false, "", 0, 0, {},
   [](intake_source_settings& x, const parsed& v) { x.signing_key_file = v.text; }},
  {"previous_signing_key_file", value_kind::path, false, "", 0, 0, {},
   [](intake_source_settings& x, const parsed& v) { x.previous_signing_key_file = v.text; }},
};
// clang-format on

constexpr std::string_view properties_path = "kafka.properties";
/// The one key whose value may also be a YAML list (of tenant ids).
constexpr std::string_view list_valued_key = "intake.sources[].tenants";
/// A key whose value may also be a YAML list (of tags).
constexpr std::string_view tags_key = "tenants[].genieacs.required_tags";
/// A key whose value may also be a YAML list (of key files).
constexpr std::string_view seal_keys_key = "credentials.seal_key_files";
constexpr std::string_view tenants_path = "tenants";

/// A list of maps in the file: its path and the generic path of its items.
struct list_path {
  std::string_view path;
  std::string_view item;
  /// How an item is described in errors.
  std::string_view what;
};

constexpr std::array<list_path, 5> list_paths{{
  {"tenants", "tenants[]", "a list of tenants"},
  {"intake.sources", "intake.sources[]", "a list of sources"},
  {"plans", "plans[]", "a list of plans"},
  {"nas", "nas[]", "a list of NASes"},
  {"admin.tokens", "admin.tokens[]", "a list of tokens"},
}};

/// The list item path `generic` starts with, if any.
const list_path* item_of(std::string_view generic) {
  for (auto& l : list_paths)
    if (generic == l.item
        || (generic.starts_with(l.item) && generic.size() > l.item.size()
            && generic[l.item.size()] == '.'))
      return &l;
  return nullptr;
}

/// What a (generic) path denotes in the schema.
enum class shape { unknown, scalar, section, properties, list };

/// The known paths, with list items written as "tenants[]".
class schema_index {
public:
  schema_index() {
    for (const auto& k : root_keys)
      add_scalar(std::string{k.path});
    add_items("tenants[]", tenant_keys);
    add_items("plans[]", plan_keys);
    add_items("nas[]", nas_keys);
    add_items("admin.tokens[]", token_keys);
    add_items("intake.sources[]", source_keys);
    add(std::string{properties_path}, shape::properties);
    for (auto& l : list_paths)
      add(std::string{l.path}, shape::list);
  }

  shape lookup(std::string_view path) const {
    if (auto i = shapes_.find(path); i != shapes_.end())
      return i->second;
    return shape::unknown;
  }

  /// Known paths directly below `parent` ("" for the top level).
  std::vector<std::string> children(std::string_view parent) const {
    std::vector<std::string> result;
    for (const auto& [path, kind] : shapes_)
      if (parent_of(path) == parent)
        result.push_back(path);
    return result;
  }

  /// All known paths.
  std::vector<std::string> all() const {
    std::vector<std::string> result;
    for (const auto& [path, kind] : shapes_)
      result.push_back(path);
    return result;
  }

  static std::string_view parent_of(std::string_view path) {
    auto dot = path.rfind('.');
    return dot == std::string_view::npos ? std::string_view{}
                                         : path.substr(0, dot);
  }

  static std::string_view leaf_of(std::string_view path) {
    auto dot = path.rfind('.');
    return dot == std::string_view::npos ? path : path.substr(dot + 1);
  }

private:
  template <class Spec, size_t N>
  void add_items(std::string_view item, const Spec (&specs)[N]) {
    for (const auto& k : specs)
      add_scalar(std::string{item} + "." + std::string{k.path});
  }

  void add_scalar(const std::string& path) {
    add(path, shape::scalar);
    for (auto p = parent_of(path); !p.empty(); p = parent_of(p))
      if (!p.ends_with("[]"))
        shapes_.emplace(std::string{p}, shape::section);
  }

  void add(const std::string& path, shape s) {
    shapes_[path] = s;
  }

  std::map<std::string, shape, std::less<>> shapes_;
};

const schema_index& schema() {
  static const schema_index instance;
  return instance;
}

// -- helpers ------------------------------------------------------------------

/// Optimal string alignment distance (edits incl. adjacent transpositions).
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1,
                                     std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j]
        = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

/// Shows a known generic path the way a user would write it, e.g.
/// "tenants[].name" below "tenants[2]" → "tenants[2].name".
std::string display(std::string_view generic, std::string_view item_prefix) {
  if (auto l = item_of(generic); l != nullptr && !item_prefix.empty())
    return std::string{item_prefix}
           + std::string{generic.substr(l->item.size())};
  return std::string{generic};
}

/// The closest known key to the unknown `leaf` below `generic_parent`, or
/// a key elsewhere with exactly that leaf name; empty if none is close.
std::string suggest(std::string_view generic_parent, std::string_view leaf,
                    std::string_view item_prefix) {
  const auto& idx = schema();
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& candidate : idx.children(generic_parent)) {
    auto d = edit_distance(leaf, schema_index::leaf_of(candidate));
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  auto limit = std::clamp<size_t>(leaf.size() / 3, 1, 3);
  if (!best.empty() && best_distance <= limit)
    return display(best, item_prefix);
  for (const auto& candidate : idx.all())
    if (schema_index::leaf_of(candidate) == leaf)
      return display(candidate, item_prefix);
  return {};
}

std::string_view describe(YAML::NodeType::value type) {
  switch (type) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "an undefined value";
  }
}

/// A value as shown in an error: quoted, control characters escaped, long
/// values cut.
std::string quote(std::string_view s) {
  constexpr size_t max_len = 80;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += s[i];
    } else if (c < 0x20 || c == 0x7F) {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xF];
    } else {
      out += s[i];
    }
  }
  if (s.size() > max_len)
    out += "...";
  out += '"';
  return out;
}

std::string trim(std::string_view s) {
  auto is_space = [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
  };
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return std::string{s};
}

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return out;
}

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || ptr != s.data() + s.size() || s.empty())
    return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(std::string_view s) {
  auto l = lower(s);
  if (l == "true" || l == "yes" || l == "on" || l == "1")
    return true;
  if (l == "false" || l == "no" || l == "off" || l == "0")
    return false;
  return std::nullopt;
}

bool valid_tenant_id(std::string_view s) {
  auto ok_first = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (s.empty() || s.size() > 63 || !ok_first(s.front()))
    return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) {
    return ok_first(c) || c == '_' || c == '-';
  });
}

bool valid_host_port(std::string_view s) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return false;
  auto host = s.substr(0, colon);
  auto port = parse_int(s.substr(colon + 1));
  if (!port || *port < 1 || *port > 65535)
    return false;
  if (host.front() == '[')
    return host.size() > 2 && host.back() == ']';
  return host.find_first_of(":[] \t") == std::string_view::npos;
}

std::string expected_integer(int64_t min) {
  if (min == 1)
    return "a positive integer";
  if (min == 0)
    return "a non-negative integer";
  return "an integer";
}

std::string join(std::span<const std::string_view> xs) {
  std::string out;
  for (auto x : xs) {
    if (!out.empty())
      out += ", ";
    out += x;
  }
  return out;
}

/// `libpq` key/value quoting: '...' with backslash escapes.
std::string libpq_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'')
      out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

std::string percent_encode(std::string_view s) {
  constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

bool is_uri(std::string_view dsn) {
  auto l = lower(dsn.substr(0, 13));
  return l.starts_with("postgresql://") || l.starts_with("postgres://");
}

// -- loader -------------------------------------------------------------------

/// A scalar found in the file.
struct file_value {
  std::string text;
  int line = 0;
};

/// A value for one key and where it came from.
struct sourced {
  std::string text;
  std::string origin;
};

class loader {
public:
  loader(std::string source_name, const env_source& env,
         std::filesystem::path base_dir = {})
    : source_name_(std::move(source_name)),
      env_(env),
      base_dir_(std::move(base_dir)) {
    // nop
  }

  caf::expected<config> run(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string{text});
    } catch (const YAML::Exception& ex) {
      return caf::make_error(
        errc::invalid_config,
        "config: " + source_name_ + ": invalid YAML at line "
          + std::to_string(ex.mark.line + 1) + ", column "
          + std::to_string(ex.mark.column + 1) + ": " + ex.msg);
    }
    try {
      if (root.IsMap())
        walk(root, "", "", "");
      else if (!root.IsNull())
        error("config: the top level must be a map, got "
              + std::string{describe(root.Type())} + at(root));
      resolve();
    } catch (const std::exception& ex) {
      error("config: " + source_name_ + ": " + ex.what());
    }
    if (!errors_.empty()) {
      std::string detail;
      for (const auto& e : errors_) {
        if (!detail.empty())
          detail += '\n';
        detail += e;
      }
      return caf::make_error(errc::invalid_config, std::move(detail));
    }
    return std::move(cfg_);
  }

private:
  void error(std::string msg) {
    errors_.push_back(std::move(msg));
  }

  std::string file_origin(int line) const {
    return "from " + source_name_ + ", line " + std::to_string(line);
  }

  std::string at(const YAML::Node& node) const {
    return " (" + file_origin(node.Mark().line + 1) + ")";
  }

  static std::string join_path(std::string_view parent, std::string_view leaf) {
    if (parent.empty())
      return std::string{leaf};
    return std::string{parent} + "." + std::string{leaf};
  }

  /// Checks the shape of a map in the file and records its scalars.
  /// `path` is the displayed path, `generic` the schema path, `item` the
  /// displayed path of the enclosing tenant ("" outside tenants).
  void walk(const YAML::Node& map, const std::string& path,
            const std::string& generic, const std::string& item) {
    std::set<std::string> seen;
    for (const auto& entry : map) {
      const YAML::Node key_node = entry.first;
      const YAML::Node value = entry.second;
      if (!key_node.IsScalar()) {
        error("config: " + (path.empty() ? std::string{"top level"} : path)
              + ": keys must be plain names" + at(key_node));
        continue;
      }
      const auto& key = key_node.Scalar();
      auto full = join_path(path, key);
      auto full_generic = join_path(generic, key);
      if (!seen.insert(key).second) {
        error("config: " + full + ": duplicate key" + at(key_node));
        continue;
      }
      switch (schema().lookup(full_generic)) {
        case shape::scalar:
          if (value.IsScalar())
            file_values_[full] = {value.Scalar(), value.Mark().line + 1};
          else if (value.IsSequence() && full_generic == tags_key
                   && !all_scalars(value))
            error("config: " + full + ": expected a list of tags" + at(value));
          else if (value.IsSequence() && full_generic == seal_keys_key
                   && !all_scalars(value))
            error("config: " + full + ": expected a list of file paths"
                  + at(value));
          else if (value.IsSequence()
                   && (full_generic == list_valued_key
                       || full_generic == tags_key
                       || full_generic == seal_keys_key))
            file_values_[full] = {join_scalars(value), value.Mark().line + 1};
          else if (!value.IsNull())
            error("config: " + full + ": expected a single value, got "
                  + std::string{describe(value.Type())} + at(value));
          break;
        case shape::section:
          if (value.IsMap())
            walk(value, full, full_generic, item);
          else if (!value.IsNull())
            error("config: " + full + ": expected a map, got "
                  + std::string{describe(value.Type())} + at(value));
          break;
        case shape::properties:
          walk_properties(value, full);
          break;
        case shape::list:
          walk_list(value, full, full_generic);
          break;
        case shape::unknown: {
          std::string msg = "config: " + full + ": unknown key";
          if (auto s = suggest(generic, key, item); !s.empty())
            msg += " (did you mean " + s + "?)";
          error(msg + at(key_node));
          break;
        }
      }
    }
  }

  /// Whether every item of a YAML list is a scalar.
  static bool all_scalars(const YAML::Node& seq) {
    for (const auto& item : seq)
      if (!item.IsScalar())
        return false;
    return true;
  }

  /// A YAML list of scalars as comma-separated text ("" for an item that is
  /// not a scalar, which the key's check then reports).
  static std::string join_scalars(const YAML::Node& seq) {
    std::string out;
    for (const auto& item : seq) {
      if (!out.empty())
        out += ',';
      out += item.IsScalar() ? item.Scalar() : std::string{};
    }
    return out;
  }

  void walk_properties(const YAML::Node& map, const std::string& path) {
    if (map.IsNull())
      return;
    if (!map.IsMap()) {
      error("config: " + path
            + ": expected a map of librdkafka properties, got "
            + std::string{describe(map.Type())} + at(map));
      return;
    }
    for (const auto& entry : map) {
      const YAML::Node key_node = entry.first;
      const YAML::Node value = entry.second;
      if (!key_node.IsScalar()) {
        error("config: " + path + ": keys must be plain names" + at(key_node));
        continue;
      }
      auto key = key_node.Scalar();
      auto full = path + "." + key;
      if (value.IsScalar())
        properties_[key] = value.Scalar();
      else
        error("config: " + full + ": expected a string, got "
              + std::string{describe(value.Type())} + at(value));
    }
  }

  void walk_list(const YAML::Node& seq, const std::string& path,
                 const std::string& generic) {
    if (seq.IsNull())
      return;
    const list_path* def = nullptr;
    for (auto& l : list_paths)
      if (l.path == generic)
        def = &l;
    if (!seq.IsSequence()) {
      error("config: " + path + ": expected " + std::string{def->what}
            + ", got " + std::string{describe(seq.Type())} + at(seq));
      return;
    }
    file_items_[std::string{def->path}] = seq.size();
    for (size_t i = 0; i < seq.size(); ++i) {
      auto item = path + "[" + std::to_string(i) + "]";
      const YAML::Node node = seq[i];
      if (node.IsMap())
        walk(node, item, std::string{def->item}, item);
      else
        error("config: " + item + ": expected a map, got "
              + std::string{describe(node.Type())} + at(node));
    }
  }

  /// The value of `path`: environment first, then file.
  std::optional<sourced> find(const std::string& path) const {
    auto var = env_name(path);
    if (auto value = env_.get(var))
      return sourced{*value, "from " + var};
    if (auto i = file_values_.find(path); i != file_values_.end())
      return sourced{i->second.text, file_origin(i->second.line)};
    return std::nullopt;
  }

  /// Parses and checks one value; records an error and returns nullopt if
  /// it does not fit.
  template <class Target>
  std::optional<parsed> check(const key_spec<Target>& spec,
                              const std::string& path, const sourced& v) {
    auto fail = [&](const std::string& what) {
      error("config: " + path + ": " + what + " (" + v.origin + ")");
      return std::nullopt;
    };
    parsed result;
    switch (spec.kind) {
      case value_kind::string:
        if (trim(v.text).empty())
          return fail("must not be empty");
        result.text = v.text;
        break;
      case value_kind::path:
        result.text = trim(v.text);
        break;
      case value_kind::integer: {
        auto n = parse_int(trim(v.text));
        if (!n)
          return fail("expected " + expected_integer(spec.min) + ", got "
                      + quote(v.text));
        if (*n < spec.min || *n > spec.max)
          return fail(std::to_string(*n) + " is out of range, expected "
                      + std::to_string(spec.min) + ".."
                      + std::to_string(spec.max));
        result.integer = *n;
        break;
      }
      case value_kind::boolean: {
        auto b = parse_bool(trim(v.text));
        if (!b)
          return fail("expected a boolean (true or false), got "
                      + quote(v.text));
        result.boolean = *b;
        break;
      }
      case value_kind::choice: {
        auto l = lower(trim(v.text));
        auto i = std::find(spec.choices.begin(), spec.choices.end(), l);
        if (i == spec.choices.end())
          return fail("expected one of " + join(spec.choices) + ", got "
                      + quote(v.text));
        result.choice = static_cast<size_t>(i - spec.choices.begin());
        result.text = l;
        break;
      }
      case value_kind::host_port: {
        auto t = trim(v.text);
        if (!valid_host_port(t))
          return fail("expected host:port with a port in 1..65535, got "
                      + quote(v.text));
        result.text = t;
        break;
      }
      case value_kind::tenant_id:
        if (!valid_tenant_id(v.text))
          return fail("expected a tenant id matching "
                      "^[a-z0-9][a-z0-9_-]{0,62}$, got "
                      + quote(v.text));
        result.text = v.text;
        break;
    }
    return result;
  }

  /// Fills `target` from the keys in `specs`, below `prefix`.
  template <class Target, size_t N>
  void apply(Target& target, const key_spec<Target> (&specs)[N],
             const std::string& prefix) {
    for (const auto& spec : specs) {
      auto path = join_path(prefix, spec.path);
      auto value = find(path);
      if (!value) {
        if (spec.required) {
          error("config: " + path + ": required key is missing (set it in "
                + source_name_ + " or in " + env_name(path) + ")");
          continue;
        }
        value = sourced{std::string{spec.fallback}, "default"};
      }
      if (auto p = check(spec, path, *value))
        spec.assign(target, *p);
    }
  }

  void resolve() {
    apply(cfg_, root_keys, "");
    resolve_properties();
    resolve_tenants();
    resolve_list("plans", plan_keys, cfg_.plans);
    resolve_list("nas", nas_keys, cfg_.nas);
    resolve_list("admin.tokens", token_keys, cfg_.admin.tokens);
    resolve_list("intake.sources", source_keys, cfg_.intake.sources);
    resolve_password();
    resolve_adapters();
    resolve_admin();
    resolve_credentials();
    resolve_postgres_tls();
  }

  /// `file` (relative to the configuration file's folder unless it came
  /// from the environment) made absolute; records an error naming `key`
  /// when it cannot be read. Only opened, never logged.
  void resolve_file(std::filesystem::path& file, const std::string& key) {
    auto origin = find(key);
    auto where = origin ? " (" + origin->origin + ")" : std::string{};
    if (file.is_relative() && !base_dir_.empty() && origin
        && !origin->origin.starts_with("from ISPFLOW_"))
      file = base_dir_ / file;
    std::ifstream in{file, std::ios::binary};
    if (!in)
      error("config: " + key + ": cannot read " + quote(file.string()) + ": "
            + std::strerror(errno) + where);
  }

  static bool is_sha256_hex(std::string_view s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
             return std::isxdigit(static_cast<unsigned char>(c)) != 0;
           });
  }

  /// The admin API's listeners, metrics token and TLS files; each tenant's
  /// HTTP trust settings.
  /// credentials.seal_key_files: each file private to the service, holding
  /// one 32-byte key; the keys distinct. Never shows a key.
  void resolve_credentials() {
    auto detail = [](const caf::error& err) {
      const auto& ctx = err.context();
      return ctx.size() == 1 && ctx.match_element<std::string>(0)
               ? ctx.get_as<std::string>(0)
               : render_error(err);
    };
    auto& c = cfg_.credentials;
    auto key = std::string{seal_keys_key};
    c.seal_keys.clear();
    std::vector<std::string> raw;
    for (auto& file : c.seal_key_files) {
      auto text = read_private_secret(file, key);
      if (text.empty())
        continue;
      auto parsed = keyring::parse_key(text);
      if (!parsed) {
        error("config: " + key + ": " + quote(file.string()) + ": "
              + detail(parsed.error()));
        continue;
      }
      raw.push_back(*parsed);
      c.seal_keys.push_back(std::move(*parsed));
    }
    if (!raw.empty() && raw.size() == c.seal_key_files.size())
      if (auto ring = keyring::make(std::move(raw)); !ring)
        error("config: " + key + ": " + detail(ring.error()));
  }

  void resolve_admin() {
    auto& a = cfg_.admin;
    if (!a.metrics_listen.empty()) {
      if (!valid_host_port(a.metrics_listen))
        error("config: admin.metrics.listen: expected host:port with a port in"
              " 1..65535, got "
              + quote(a.metrics_listen));
      else if (a.metrics_listen == a.listen)
        error("config: admin.metrics.listen: must differ from admin.listen");
    }
    if (!a.metrics_token_sha256.empty()
        && !is_sha256_hex(a.metrics_token_sha256))
      error("config: admin.metrics.token_sha256: expected 64 hex digits"
            " (ispflowctl token hash)");
    if (a.tls_cert_file.empty() != a.tls_key_file.empty())
      error(std::string{"config: "}
            + (a.tls_cert_file.empty() ? "admin.tls.cert_file"
                                       : "admin.tls.key_file")
            + ": required when the other of admin.tls.cert_file and"
              " admin.tls.key_file is set");
    if (!a.tls_cert_file.empty())
      resolve_file(a.tls_cert_file, "admin.tls.cert_file");
    if (!a.tls_key_file.empty())
      resolve_file(a.tls_key_file, "admin.tls.key_file");
    for (size_t i = 0; i < cfg_.tenants.size(); ++i) {
      auto& t = cfg_.tenants[i];
      auto item = "tenants[" + std::to_string(i) + "].";
      auto check = [&](http_tls_settings& tls, const char* system) {
        auto key = item + system;
        if (!tls.ca_file.empty() && tls.insecure_skip_verify)
          error("config: " + key + ".insecure_skip_verify: set either it or "
                + system + ".ca_file, not both");
        if (!tls.ca_file.empty())
          resolve_file(tls.ca_file, key + ".ca_file");
      };
      check(t.netbox.tls, "netbox");
      check(t.genieacs.tls, "genieacs");
      check(t.awx.tls, "awx");
    }
  }

  /// libpq's TLS options in postgres.dsn: a known sslmode and readable
  /// certificate files. libpq would only say so at the first connection.
  void resolve_postgres_tls() {
    auto& dsn = cfg_.postgres.dsn;
    if (dsn.empty())
      return;
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
    if (opts == nullptr) {
      // libpq's message may quote the string, password included.
      if (err != nullptr)
        PQfreemem(err);
      error("config: postgres.dsn: not a libpq connection string (key=value"
            " pairs or a postgresql:// URI)");
      return;
    }
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> guard{
      opts, PQconninfoFree};
    for (auto* o = opts; o->keyword != nullptr; ++o) {
      if (o->val == nullptr)
        continue;
      std::string_view key{o->keyword};
      std::string value{o->val};
      if (key == "sslmode") {
        static constexpr std::array<std::string_view, 6> modes{
          "disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
        if (std::find(modes.begin(), modes.end(), value) == modes.end())
          error("config: postgres.dsn: sslmode " + quote(value)
                + " is not one of disable, allow, prefer, require, verify-ca,"
                  " verify-full");
      } else if (key == "sslrootcert" || key == "sslcert" || key == "sslkey"
                 || key == "sslcrl") {
        std::ifstream in{value, std::ios::binary};
        if (!in)
          error("config: postgres.dsn: " + std::string{key} + ": cannot read "
                + quote(value) + ": " + std::strerror(errno));
      }
    }
  }

  /// Items of list `path` in the file, plus those only the environment
  /// names (ISPFLOW_<PATH>_<N>_...).
  template <class Spec, size_t N>
  size_t item_count(const std::string& path, const Spec (&specs)[N]) {
    auto count = file_items_[path];
    for (;; ++count) {
      auto item = path + "[" + std::to_string(count) + "]";
      bool any = std::any_of(
        std::begin(specs), std::end(specs), [&](const Spec& spec) {
          return env_.get(env_name(join_path(item, spec.path))).has_value();
        });
      if (!any)
        break;
    }
    return count;
  }

  template <class Target, size_t N>
  void resolve_list(const std::string& path, const key_spec<Target> (&specs)[N],
                    std::vector<Target>& out) {
    auto count = item_count(path, specs);
    for (size_t i = 0; i < count; ++i) {
      Target x;
      apply(x, specs, path + "[" + std::to_string(i) + "]");
      out.push_back(std::move(x));
    }
  }

  /// The trimmed content of the secret file named by key `key`; records an
  /// error (never showing the content) when it cannot be read or is empty.
  std::string read_secret(std::filesystem::path file, const std::string& key) {
    auto origin = find(key);
    auto where = origin ? " (" + origin->origin + ")" : std::string{};
    // Relative to the configuration file's folder (not for the environment).
    if (file.is_relative() && !base_dir_.empty() && origin
        && !origin->origin.starts_with("from ISPFLOW_"))
      file = base_dir_ / file;
    std::ifstream in{file, std::ios::binary};
    if (!in) {
      auto reason = std::string{std::strerror(errno)};
      error("config: " + key + ": cannot read " + quote(file.string()) + ": "
            + reason + where);
      return {};
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    auto secret = trim(buf.str());
    if (secret.empty())
      error("config: " + key + ": " + quote(file.string()) + " is empty"
            + where);
    return secret;
  }

  void require(bool ok, const std::string& key, const std::string& why) {
    if (!ok)
      error("config: " + key + ": required " + why + " (set it in "
            + source_name_ + " or in " + env_name(key) + ")");
  }

  /// Endpoints, secrets and cross references that depend on other keys.
  void resolve_adapters() {
    std::set<std::string> tenant_ids;
    for (auto& t : cfg_.tenants)
      tenant_ids.insert(t.id);
    for (size_t i = 0; i < cfg_.tenants.size(); ++i) {
      auto& t = cfg_.tenants[i];
      auto item = "tenants[" + std::to_string(i) + "]";
      auto key = [&](std::string_view leaf) {
        return item + "." + std::string{leaf};
      };
      if (t.radius.suspend_policy == "walled_garden")
        require(!t.radius.walled_garden_group.empty(),
                key("radius.walled_garden_group"),
                "when radius.suspend_policy is walled_garden");
      if (t.systems.netbox) {
        require(!t.netbox.url.empty(), key("netbox.url"),
                "when systems.netbox is true");
        require(!t.netbox.site.empty(), key("netbox.site"),
                "when systems.netbox is true");
        require(!t.netbox.token_file.empty(), key("netbox.token_file"),
                "when systems.netbox is true");
        if (!t.netbox.token_file.empty())
          t.netbox.token = read_secret(t.netbox.token_file,
                                       key("netbox.token_file"));
        if (t.netbox.tenant.empty())
          t.netbox.tenant = t.id;
      }
      if (t.systems.genieacs)
        require(!t.genieacs.url.empty(), key("genieacs.url"),
                "when systems.genieacs is true");
      // "<product class>=<tr098|tr181>[,...]"
      std::string_view pcs = t.genieacs.product_class_data_models_text;
      while (!pcs.empty()) {
        auto comma = pcs.find(',');
        auto item_text = pcs.substr(0, comma);
        pcs = comma == std::string_view::npos ? std::string_view{}
                                              : pcs.substr(comma + 1);
        auto eq = item_text.find('=');
        auto pc = item_text.substr(0, eq);
        auto model = eq == std::string_view::npos ? std::string_view{}
                                                  : item_text.substr(eq + 1);
        if (pc.empty() || (model != "tr098" && model != "tr181")) {
          error("config: " + key("genieacs.product_class_data_models") + ": "
                + quote(std::string{item_text})
                + " is not <product class>=tr098 or <product class>=tr181");
          continue;
        }
        t.genieacs.product_class_data_models[std::string{pc}]
          = std::string{model};
      }
      // "<tag>[,...]": the characters GenieACS's tag routes accept.
      // Every item counts, an empty one too (a YAML item that is not a
      // scalar arrives empty).
      std::string_view tags = t.genieacs.required_tags_text;
      for (bool more = !trim(tags).empty(); more;) {
        auto comma = tags.find(',');
        auto tag = std::string{trim(tags.substr(0, comma))};
        more = comma != std::string_view::npos;
        if (more)
          tags = tags.substr(comma + 1);
        bool ok = !tag.empty();
        for (char c : tag)
          ok = ok
               && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                   || (c >= '0' && c <= '9') || c == '_' || c == '-');
        if (!ok) {
          error("config: " + key("genieacs.required_tags") + ": " + quote(tag)
                + " is not a tag (letters, digits, _ and -)");
          continue;
        }
        if (std::find(t.genieacs.required_tags.begin(),
                      t.genieacs.required_tags.end(), tag)
            == t.genieacs.required_tags.end())
          t.genieacs.required_tags.push_back(std::move(tag));
      }
      if (t.systems.awx) {
        require(!t.awx.url.empty(), key("awx.url"), "when systems.awx is true");
        require(!t.awx.token_file.empty(), key("awx.token_file"),
                "when systems.awx is true");
        require(t.awx.activation_template > 0, key("awx.activation_template"),
                "(a job template id) when systems.awx is true");
        if (!t.awx.token_file.empty())
          t.awx.token = read_secret(t.awx.token_file, key("awx.token_file"));
      }
      if (t.systems.voltha) {
        require(!t.voltha.grpc.empty(), key("voltha.grpc"),
                "when systems.voltha is true");
        require(!t.voltha.onos_url.empty(), key("voltha.onos_url"),
                "when systems.voltha is true");
        if (!t.voltha.onos_password_file.empty())
          t.voltha.onos_password = read_secret(
            t.voltha.onos_password_file, key("voltha.onos_password_file"));
      }
    }
    resolve_sources(tenant_ids);
    std::set<std::pair<std::string, std::string>> plans;
    for (size_t i = 0; i < cfg_.plans.size(); ++i) {
      auto& p = cfg_.plans[i];
      auto item = "plans[" + std::to_string(i) + "]";
      if (!p.tenant.empty() && tenant_ids.count(p.tenant) == 0)
        error("config: " + item + ".tenant: unknown tenant " + quote(p.tenant));
      if (!plans.emplace(p.tenant, p.id).second)
        error("config: " + item + ".id: duplicate plan " + quote(p.id)
              + " of tenant " + quote(p.tenant));
      if (p.radius_group.empty())
        p.radius_group = p.tenant + "-" + p.id;
    }
    std::set<std::string> addresses;
    for (size_t i = 0; i < cfg_.nas.size(); ++i) {
      auto& n = cfg_.nas[i];
      auto item = "nas[" + std::to_string(i) + "]";
      if (!n.address.empty() && !addresses.insert(n.address).second)
        error("config: " + item + ".address: duplicate NAS address "
              + quote(n.address));
      if (!n.secret_file.empty())
        n.secret = read_secret(n.secret_file, item + ".secret_file");
      // "Name=value;Name=value": the CoA of a walled-garden suspension.
      std::string_view attrs = n.walled_garden_attributes_text;
      while (!attrs.empty()) {
        auto semi = attrs.find(';');
        auto text = trim(attrs.substr(0, semi));
        attrs = semi == std::string_view::npos ? std::string_view{}
                                               : attrs.substr(semi + 1);
        if (text.empty())
          continue;
        auto eq = text.find('=');
        auto name = eq == std::string::npos ? std::string{}
                                            : trim(text.substr(0, eq));
        auto value = eq == std::string::npos ? std::string{}
                                             : trim(text.substr(eq + 1));
        if (name.empty() || value.empty()) {
          error("config: " + item + ".walled_garden_attributes: " + quote(text)
                + " is not <attribute>=<value>");
          continue;
        }
        n.walled_garden_attributes.emplace_back(name, value);
      }
      bool coa = n.disconnect_mode == "coa";
      if (n.disconnect_mode == "tenant")
        for (const auto& t : cfg_.tenants)
          coa = coa || t.radius.disconnect_mode == "coa";
      if (coa && n.walled_garden_attributes.empty())
        require(false, item + ".walled_garden_attributes",
                "when this NAS suspends by CoA (its disconnect_mode or a "
                "tenant's radius.disconnect_mode is coa)");
    }
    for (size_t i = 0; i < cfg_.admin.tokens.size(); ++i) {
      auto& tok = cfg_.admin.tokens[i];
      auto item = "admin.tokens[" + std::to_string(i) + "]";
      bool hex
        = tok.sha256.size() == 64
          && std::all_of(tok.sha256.begin(), tok.sha256.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) != 0;
             });
      if (!tok.sha256.empty() && !hex)
        error("config: " + item
              + ".sha256: expected 64 hex digits (ispflowctl token hash)");
      std::string scope;
      std::istringstream in{tok.scopes};
      while (std::getline(in, scope, ',')) {
        auto sc = trim(scope);
        if (sc != "sagas:read" && sc != "sagas:write" && sc != "admin")
          error("config: " + item + ".scopes: unknown scope " + quote(sc)
                + ", expected sagas:read, sagas:write or admin");
      }
      if (!tok.tenant.empty() && tenant_ids.count(tok.tenant) == 0)
        error("config: " + item + ".tenant: unknown tenant "
              + quote(tok.tenant));
    }
  }

  /// intake.sources against the tenants; required unless
  /// intake.allow_any_source. Refusing to start is the safe way to upgrade:
  /// without a mapping every event would be dead-lettered.
  void resolve_sources(const std::set<std::string>& tenant_ids) {
    auto& in = cfg_.intake;
    if (in.sources.empty() && !in.allow_any_source) {
      error("config: intake.sources: required: list each billing producer's "
            "ce_source with the tenants it may speak for, e.g. \"sources: "
            "[{source: billing.example, tenants: [demo]}]\" (or set "
            "intake.allow_any_source: true to let any source speak for any "
            "tenant, as before) (set it in "
            + source_name_ + " or in " + env_name("intake.sources[0].source")
            + ")");
      return;
    }
    std::map<std::string, std::string> seen;
    for (size_t i = 0; i < in.sources.size(); ++i) {
      auto& x = in.sources[i];
      auto item = "intake.sources[" + std::to_string(i) + "]";
      if (x.source.size() > 256)
        error("config: " + item
              + ".source: longer than 256 bytes, the "
                "limit of ce_source");
      if (x.source.rfind("ispflow/", 0) == 0)
        error("config: " + item + ".source: " + quote(x.source)
              + ": sources starting with \"ispflow/\" are reserved for "
                "operator-made events");
      if (!x.source.empty()) {
        auto [pos, fresh] = seen.emplace(x.source, item + ".source");
        if (!fresh)
          error("config: " + item + ".source: duplicate source "
                + quote(x.source) + " (also " + pos->second + ")");
      }
      auto has_tenants = find(item + ".tenants").has_value();
      if (x.tenants.empty() && has_tenants)
        error("config: " + item + ".tenants: expected tenant ids (or \"*\")");
      for (auto& t : x.tenants)
        if (t != "*" && tenant_ids.count(t) == 0)
          error("config: " + item + ".tenants: unknown tenant " + quote(t));
      if (!x.previous_signing_key_file.empty() && x.signing_key_file.empty())
        error("config: " + item
              + ".previous_signing_key_file: set only together with " + item
              + ".signing_key_file (during a key rotation)");
      x.signing_keys.clear();
      for (auto [file, name] :
           {std::pair{&x.signing_key_file, ".signing_key_file"},
            {&x.previous_signing_key_file, ".previous_signing_key_file"}}) {
        if (file->empty() || x.signing_key_file.empty())
          continue;
        auto key = item + name;
        auto text = read_private_secret(*file, key);
        if (text.empty())
          continue;
        if (text.size() < events::min_signing_key_bytes)
          error("config: " + key + ": the key is shorter than "
                + std::to_string(events::min_signing_key_bytes)
                + " bytes (e.g. `openssl rand -hex 32`)");
        x.signing_keys.push_back(std::move(text));
      }
    }
    // A signed record replayed after retention forgot its id must be older
    // than the replay window: the window and the clock skew fit within the
    // inbox's retention (the dedupe window).
    auto signs = std::any_of(in.sources.begin(), in.sources.end(), [](auto& x) {
      return !x.signing_key_file.empty();
    });
    auto inbox = cfg_.retention.inbox_seconds;
    if (signs && cfg_.retention.enabled && inbox > 0) {
      if (in.signed_max_age_seconds == 0)
        error("config: intake.signed_max_age_seconds: 0 (no replay window) "
              "while retention.inbox_seconds forgets event ids after "
              + std::to_string(inbox)
              + " s: a signed record replayed after that would act again; "
                "set a window of at most retention.inbox_seconds - "
                "intake.signed_max_skew_seconds");
      else if (in.signed_max_age_seconds + in.signed_max_skew_seconds > inbox)
        error("config: intake.signed_max_age_seconds: "
              + std::to_string(in.signed_max_age_seconds) + " + "
              + std::to_string(in.signed_max_skew_seconds)
              + " s (intake.signed_max_skew_seconds) exceeds "
                "retention.inbox_seconds ("
              + std::to_string(inbox)
              + "): a signed record replayed after retention forgot its id "
                "would still be in its window");
    }
  }

  /// read_secret for a key that other users must not reach: a file that
  /// others may read or write, or the group may write, is refused.
  std::string read_private_secret(std::filesystem::path file,
                                  const std::string& key) {
    namespace fs = std::filesystem;
    auto origin = find(key);
    auto shown = file;
    if (file.is_relative() && !base_dir_.empty() && origin
        && !origin->origin.starts_with("from ISPFLOW_"))
      shown = base_dir_ / file;
    std::error_code ec;
    auto st = fs::status(shown, ec);
    if (!ec && fs::exists(st)) {
      auto loose = st.permissions()
                   & (fs::perms::others_all | fs::perms::group_write);
      if (loose != fs::perms::none) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o",
                      static_cast<unsigned>(st.permissions()) & 07777u);
        error("config: " + key + ": " + quote(shown.string())
              + " is accessible by other users (mode " + mode
              + "); make it readable by the service only, e.g. chmod 600");
        return {};
      }
    }
    return read_secret(file, key);
  }

  void resolve_properties() {
    std::set<std::string> consumed;
    for (auto& [key, value] : properties_) {
      auto var = env_name(std::string{properties_path} + "." + key);
      if (auto v = env_.get(var)) {
        value = *v;
        consumed.insert(var);
      }
    }
    auto prefix = env_name(properties_path) + "_";
    for (const auto& [var, value] : env_.with_prefix(prefix)) {
      if (consumed.count(var) > 0 || var.size() == prefix.size())
        continue;
      auto key = lower(std::string_view{var}.substr(prefix.size()));
      std::replace(key.begin(), key.end(), '_', '.');
      properties_[key] = value;
    }
    cfg_.kafka.properties = properties_;
  }

  void resolve_tenants() {
    // Tenants beyond those in the file may come from the environment alone.
    auto count = item_count(std::string{tenants_path}, tenant_keys);
    if (count == 0) {
      error("config: tenants: at least one tenant is required (a list of "
            "{id, name})");
      return;
    }
    std::map<std::string, std::string> ids;
    for (size_t i = 0; i < count; ++i) {
      auto item = std::string{tenants_path} + "[" + std::to_string(i) + "]";
      tenant_settings tenant;
      apply(tenant, tenant_keys, item);
      if (!tenant.id.empty()) {
        auto [pos, fresh] = ids.emplace(tenant.id, item + ".id");
        if (!fresh)
          error("config: " + item + ".id: duplicate tenant id "
                + quote(tenant.id) + " (also " + pos->second + ")");
      }
      cfg_.tenants.push_back(std::move(tenant));
    }
  }

  void resolve_password() {
    auto& pg = cfg_.postgres;
    if (pg.password_file.empty() || pg.dsn.empty())
      return;
    const std::string key = "postgres.password_file";
    auto origin = find(key);
    auto where = origin ? " (" + origin->origin + ")" : std::string{};
    if (redact_dsn(pg.dsn) != pg.dsn) {
      error("config: " + key
            + ": postgres.dsn already contains a password; "
              "set only one of them"
            + where);
      return;
    }
    std::ifstream in{pg.password_file, std::ios::binary};
    if (!in) {
      auto reason = std::string{std::strerror(errno)};
      error("config: " + key + ": cannot read "
            + quote(pg.password_file.string()) + ": " + reason + where);
      return;
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    auto password = trim(buf.str());
    if (password.empty()) {
      error("config: " + key + ": " + quote(pg.password_file.string())
            + " is empty" + where);
      return;
    }
    if (is_uri(pg.dsn)) {
      pg.dsn += pg.dsn.find('?') == std::string::npos ? '?' : '&';
      pg.dsn += "password=" + percent_encode(password);
    } else {
      if (!trim(pg.dsn).empty())
        pg.dsn += ' ';
      pg.dsn += "password=" + libpq_quote(password);
    }
  }

  std::string source_name_;
  const env_source& env_;
  std::filesystem::path base_dir_;
  std::vector<std::string> errors_;
  std::map<std::string, file_value> file_values_;
  std::map<std::string, std::string> properties_;
  std::map<std::string, size_t> file_items_;
  config cfg_;
};

} // namespace

caf::expected<config> load_config_text(std::string_view yaml,
                                       const env_source& env) {
  try {
    return loader{"the YAML text", env}.run(yaml);
  } catch (const std::exception& ex) {
    return caf::make_error(errc::invalid_config,
                           std::string{"config: "} + ex.what());
  }
}

caf::expected<config> load_config(const std::filesystem::path& file,
                                  const env_source& env) {
  try {
    std::ifstream in{file, std::ios::binary};
    if (!in) {
      auto reason = std::string{std::strerror(errno)};
      return caf::make_error(errc::invalid_config, "config: cannot read "
                                                     + quote(file.string())
                                                     + ": " + reason);
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    return loader{file.string(), env, file.parent_path()}.run(buf.str());
  } catch (const std::exception& ex) {
    return caf::make_error(errc::invalid_config,
                           std::string{"config: "} + ex.what());
  }
}

// -- reference ----------------------------------------------------------------

namespace {

template <class Target>
config_key_doc doc_of(std::string_view prefix, const key_spec<Target>& k) {
  config_key_doc d;
  d.path = std::string{prefix} + std::string{k.path};
  switch (k.kind) {
    case value_kind::string:
      d.accepts = "text";
      break;
    case value_kind::path:
      d.accepts = "text, may be empty";
      break;
    case value_kind::integer:
      d.accepts = "integer " + std::to_string(k.min) + ".."
                  + std::to_string(k.max);
      break;
    case value_kind::boolean:
      d.accepts = "boolean";
      break;
    case value_kind::choice:
      d.accepts = "one of: " + join(k.choices);
      break;
    case value_kind::host_port:
      d.accepts = "host:port";
      break;
    case value_kind::tenant_id:
      d.accepts = "tenant id, `^[a-z0-9][a-z0-9_-]{0,62}$`";
      break;
  }
  if (d.path == list_valued_key)
    d.accepts = "list of tenant ids, or comma-separated text; `*` = all";
  if (d.path == seal_keys_key)
    d.accepts = "list of file paths, or comma-separated text";
  if (d.path == tags_key)
    d.accepts = "list of tags `[A-Za-z0-9_-]+`, or comma-separated text";
  d.required = k.required;
  if (!k.required)
    d.fallback = std::string{k.fallback};
  std::string indexed;
  for (size_t i = 0; i < d.path.size(); ++i) {
    if (d.path.compare(i, 2, "[]") == 0) {
      indexed += "[N]";
      ++i;
    } else {
      indexed += d.path[i];
    }
  }
  d.env = env_name(indexed);
  return d;
}

template <class Target, size_t N>
void add_docs(std::vector<config_key_doc>& out, std::string_view prefix,
              const key_spec<Target> (&specs)[N]) {
  for (const auto& k : specs)
    out.push_back(doc_of(prefix, k));
}

} // namespace

std::vector<config_key_doc> config_reference() {
  std::vector<config_key_doc> out;
  add_docs(out, "", root_keys);
  config_key_doc props;
  props.path = std::string{properties_path} + ".<name>";
  props.accepts = "text (a librdkafka property, passed through)";
  props.env = env_name(properties_path) + "_<NAME>";
  out.push_back(std::move(props));
  add_docs(out, "intake.sources[].", source_keys);
  add_docs(out, "admin.tokens[].", token_keys);
  add_docs(out, "tenants[].", tenant_keys);
  add_docs(out, "plans[].", plan_keys);
  add_docs(out, "nas[].", nas_keys);
  return out;
}

std::string config_reference_markdown() {
  auto cell = [](std::string_view s) {
    std::string out;
    for (char c : s)
      out += c == '|' ? std::string{"\\|"} : std::string(1, c);
    return out;
  };
  std::string out = "| key | accepts | default | environment |\n"
                    "| --- | --- | --- | --- |\n";
  for (const auto& d : config_reference()) {
    std::string fallback = d.required           ? "required"
                           : d.fallback.empty() ? "not set"
                                                : "`" + d.fallback + "`";
    out += "| `" + cell(d.path) + "` | " + cell(d.accepts) + " | "
           + cell(fallback) + " | `" + d.env + "` |\n";
  }
  return out;
}

} // namespace ispflow::common
