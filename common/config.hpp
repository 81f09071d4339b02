#pragma once

#include "common/log.hpp"
#include "events/errc.hpp"

#include <caf/expected.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ispflow::common {

// -- configuration structs ----------------------------------------------------
// Plain data; the defaults below are the documented defaults (see
// deploy/local/ispflow.yaml). `load_config` fills them from YAML and the
// environment.

/// `kafka.topics`: topic names.
struct kafka_topics {
  /// Input from billing.
  std::string billing = "billing.events.v1";
  /// Outcome per subscriber.
  std::string lifecycle = "lifecycle.events.v1";
  /// Saga and step transitions.
  std::string saga = "saga.events.v1";
  /// Input that could not be accepted.
  std::string dead_letter = "billing.events.v1.dlq";

  friend bool operator==(const kafka_topics&, const kafka_topics&) = default;
};

/// `kafka`: connection to the Kafka cluster.
struct kafka_settings {
  /// `bootstrap.servers`, e.g. "127.0.0.1:9092" (required).
  std::string bootstrap_servers;
  /// Consumer group id.
  std::string group_id = "ispflow";
  /// librdkafka `client.id`.
  std::string client_id = "ispflowd";
  /// Topic names.
  kafka_topics topics;
  /// Extra librdkafka properties, passed through as given, e.g.
  /// {"security.protocol", "SSL"}. May hold secrets (sasl.password): never
  /// log the values.
  std::map<std::string, std::string> properties;

  friend bool operator==(const kafka_settings&, const kafka_settings&)
    = default;
};

/// `postgres`: connection to PostgreSQL.
struct postgres_settings {
  /// libpq connection string (key/value or URI) as ispflowd must use it: if
  /// `password_file` is set, the password is already appended. Never log it;
  /// use `redacted_dsn()`.
  std::string dsn;
  /// File whose trimmed content is the password; empty if not set.
  std::filesystem::path password_file;
  /// Connections in the pool, 1..64.
  int pool_size = 4;

  /// `dsn` with any password replaced by "***"; safe to log.
  std::string redacted_dsn() const;

  friend bool operator==(const postgres_settings&, const postgres_settings&)
    = default;
};

/// `intake`: batching of consumed events.
struct intake_settings {
  /// Most events handled in one batch, 1..100000.
  int max_batch = 1000;
  /// Longest wait for a batch to fill, in milliseconds, 0..10000.
  int linger_ms = 5;

  friend bool operator==(const intake_settings&, const intake_settings&)
    = default;
};

/// `outbox`: the relay that publishes outbox rows.
struct outbox_settings {
  /// Most rows published per round, 1..100000.
  int batch = 1000;
  /// Pause between polls when idle, in milliseconds, 1..60000.
  int poll_interval_ms = 50;
  /// Rows re-checked behind the last published id, 0..1000000.
  int tail_scan = 2000;

  friend bool operator==(const outbox_settings&, const outbox_settings&)
    = default;
};

/// `admin`: the admin HTTP API.
struct admin_settings {
  /// "host:port" to listen on ("[::1]:8089" for IPv6).
  std::string listen = "127.0.0.1:8089";

  friend bool operator==(const admin_settings&, const admin_settings&)
    = default;
};

/// `tenants[i].systems`: which network systems a tenant uses.
struct tenant_systems {
  /// FreeRADIUS (SQL provisioning, CoA/Disconnect).
  bool radius = true;
  /// NetBox IPAM.
  bool netbox = true;
  /// VOLTHA / ONOS (PON).
  bool voltha = true;
  /// GenieACS (CPE).
  bool genieacs = true;
  /// AWX (automation jobs).
  bool awx = false;

  friend bool operator==(const tenant_systems&, const tenant_systems&)
    = default;
};

/// `tenants[i]`: one ISP served by this instance.
struct tenant_settings {
  /// Matches ^[a-z0-9][a-z0-9_-]{0,62}$, unique among tenants.
  std::string id;
  /// Display name.
  std::string name;
  /// Network systems in use.
  tenant_systems systems;

  friend bool operator==(const tenant_settings&, const tenant_settings&)
    = default;
};

/// The whole configuration of ispflowd.
struct config {
  /// `kafka`.
  kafka_settings kafka;
  /// `postgres`.
  postgres_settings postgres;
  /// `intake`.
  intake_settings intake;
  /// `outbox`.
  outbox_settings outbox;
  /// `log`.
  log_settings log;
  /// `admin`.
  admin_settings admin;
  /// `tenants`, at least one after a successful load.
  std::vector<tenant_settings> tenants;
};

// -- environment --------------------------------------------------------------

/// Where `ISPFLOW_*` overrides come from: the process environment in
/// production, a map in tests.
class env_source {
public:
  /// Variables as name/value pairs.
  using variables = std::map<std::string, std::string, std::less<>>;

  /// Reads the process environment (getenv / environ) on each look-up.
  static env_source process();

  /// Serves exactly the given variables.
  static env_source from_map(variables vars);

  /// The value of variable `name`, if set.
  std::optional<std::string> get(std::string_view name) const;

  /// All variables whose name starts with `prefix`, sorted by name.
  std::vector<std::pair<std::string, std::string>>
  with_prefix(std::string_view prefix) const;

private:
  explicit env_source(std::optional<variables> vars);

  /// Empty for the process environment.
  std::optional<variables> vars_;
};

/// The process environment; same as `env_source::process()`.
env_source process_env();

/// The environment variable that overrides the key at `path`, e.g.
/// "tenants[0].name" → "ISPFLOW_TENANTS_0_NAME".
std::string env_name(std::string_view path);

// -- loading ------------------------------------------------------------------

/// Reads the YAML file `file`, applies `ISPFLOW_*` overrides from `env`,
/// fills defaults, validates against the schema and reads
/// `postgres.password_file`. On failure returns `errc::invalid_config` whose
/// detail lists every problem found, one per line, each naming its key, e.g.
/// `config: intake.max_batch: expected a positive integer, got "abc" (from
/// ISPFLOW_INTAKE_MAX_BATCH)`.
caf::expected<config> load_config(const std::filesystem::path& file,
                                  const env_source& env);

/// Like `load_config`, but from YAML text (used by tests).
caf::expected<config> load_config_text(std::string_view yaml,
                                       const env_source& env);

} // namespace ispflow::common
