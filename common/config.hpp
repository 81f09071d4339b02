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

/// `intake.sources[i]`: one producer of billing events and the tenants it
/// may speak for.
struct intake_source_settings {
  /// The producer's `ce_source`, exactly (at most 256 bytes; not starting
  /// with "ispflow/", which operator-made events use).
  std::string source;
  /// Tenant ids it may name in `ce_tenantid`; "*" = every tenant. In YAML a
  /// list (`[acme, beta]`) or comma-separated text (also in the environment,
  /// ISPFLOW_INTAKE_SOURCES_0_TENANTS=acme,beta).
  std::vector<std::string> tenants;
  /// `signing_key_file`: file whose trimmed content (at least 32 bytes) is
  /// the HMAC-SHA256 key the source signs its events with (header
  /// `ispflow-signature`, events/source_signature.hpp). Set, every event of
  /// the source must carry a valid signature or is dead-lettered
  /// (`signature_invalid`). Not readable or writable by other users.
  std::filesystem::path signing_key_file;
  /// `previous_signing_key_file`: during a key rotation, the key being
  /// retired, accepted as well until it is removed.
  std::filesystem::path previous_signing_key_file;
  /// Loaded from the two files (current key first); empty without a
  /// `signing_key_file`. Never logged.
  std::vector<std::string> signing_keys;

  friend bool
  operator==(const intake_source_settings&, const intake_source_settings&)
    = default;
};

/// `intake`: batching of consumed events and who may send them.
struct intake_settings {
  /// Most events handled in one batch, 1..100000.
  int max_batch = 1000;
  /// Longest wait for a batch to fill, in milliseconds, 0..10000.
  int linger_ms = 5;
  /// `intake.sources`: which `ce_source` may speak for which tenants; an
  /// event naming another tenant is dead-lettered (`tenant_not_allowed`).
  /// Required unless `allow_any_source` is true.
  std::vector<intake_source_settings> sources;
  /// `intake.allow_any_source`: accept any source for any configured tenant
  /// (the behaviour before `intake.sources` existed). Default false.
  bool allow_any_source = false;
  /// `intake.signed_max_age_seconds`: the replay window of a signing
  /// source's events: one whose `time` is older is refused
  /// (`signature_invalid`); 0 = no window. Must leave room within
  /// `retention.inbox_seconds` (the dedupe window). 7 days.
  int64_t signed_max_age_seconds = 7 * 86'400;
  /// `intake.signed_max_skew_seconds`: how far ahead of this instance's
  /// clock a signed event's `time` may be. 5 minutes.
  int64_t signed_max_skew_seconds = 300;

  friend bool operator==(const intake_settings&, const intake_settings&)
    = default;
};

/// How the actor system's workers find work.
enum class scheduler_policy : uint8_t {
  /// One shared queue; an idle worker sleeps until work is queued.
  sharing,
  /// A queue per worker; an idle worker polls and steals.
  stealing,
};

/// `runtime`: the actor system's threads.
struct runtime_settings {
  /// Scheduler worker threads, 0..256; 0 = one per CPU core.
  int worker_threads = 0;
  /// `sharing` (default) or `stealing`: CAF's work stealing has idle
  /// workers poll with 50 µs sleeps, a context switch each, and
  /// with a network of systems to wait on they are idle most of the time
  /// (docs/benchmarks.md, "scheduler").
  scheduler_policy scheduler = scheduler_policy::sharing;

  friend bool operator==(const runtime_settings&, const runtime_settings&)
    = default;
};

/// `instance` and `cluster`: this instance among several on one database
/// and one consumer group.
struct cluster_settings {
  /// `instance.id`: names the instance in logs, sagas.owner, the saga
  /// timeline and GET /v1/cluster; "" = host name and process id.
  std::string instance_id;
  /// `cluster.heartbeat_ms`: how often partition leases are renewed,
  /// 100..60000.
  int heartbeat_ms = 2'000;
  /// `cluster.lease_ms`: how long a lease lasts after its renewal was sent,
  /// 500..600000; more than twice heartbeat_ms and below the consumer
  /// group's session timeout minus its heartbeat interval.
  int lease_ms = 10'000;
  /// `cluster.drain_ms`: on SIGTERM, how long calls in flight may answer
  /// before the partitions are released, 0..600000.
  int drain_ms = 10'000;

  friend bool operator==(const cluster_settings&, const cluster_settings&)
    = default;
};

/// `sagas`: the saga engine.
struct saga_settings {
  /// Most sagas one tenant runs at once on this instance, 0..10000000;
  /// 0 = no limit. Its further events wait in the inbox.
  int tenant_max_running = 2'000;
  /// How long a saga whose calls are out waits for their answers before it
  /// writes its transitions, in milliseconds, 0..10000: how far at most
  /// the database trails the saga, beyond the write in flight. A saga's
  /// first write and its end never wait (actors/README.md, run ahead).
  int write_linger_ms = 50;

  friend bool operator==(const saga_settings&, const saga_settings&) = default;
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

/// `retention`: batch deletion of old rows (actors/retention.hpp). Periods
/// in seconds, 0 = keep forever. Open sagas, unpublished outbox rows,
/// unstarted inbox events and dead letters no operator re-drove or
/// dismissed are never deleted, whatever their age.
struct retention_settings {
  /// Runs retention on this instance.
  bool enabled = true;
  /// Inbox events (the dedupe window: an event id is forgotten after it, so
  /// it must exceed the billing topic's Kafka retention). 14 days.
  int64_t inbox_seconds = 14 * 86'400;
  /// Outbox rows an earlier version marked published by setting
  /// `published_at` (the relay now deletes a row once Kafka has it). 7 days.
  int64_t outbox_seconds = 7 * 86'400;
  /// Re-driven or dismissed dead letters. 90 days.
  int64_t dead_letters_seconds = 90 * 86'400;
  /// Finished sagas with their step rows (and timers). 365 days.
  int64_t sagas_seconds = 365 * 86'400;
  /// Timer rows left behind by finished sagas. 1 day.
  int64_t timers_seconds = 86'400;
  /// Admin API audit rows. 365 days.
  int64_t audit_seconds = 365 * 86'400;
  /// Finished drift scans with their findings (those of a repair still to
  /// run or open stay). 90 days.
  int64_t drift_seconds = 90 * 86'400;
  /// Most rows deleted per transaction, 1..100000.
  int batch = 1000;
  /// Pause between two batches, in milliseconds, 0..60000 (the rate limit).
  int pause_ms = 100;
  /// Pause between two passes over every table, in seconds, 1..86400.
  int interval_seconds = 600;

  friend bool operator==(const retention_settings&, const retention_settings&)
    = default;
};

/// `credentials`: subscriber credentials ispflow keeps sealed
/// (common/seal.hpp).
struct credentials_settings {
  /// `credentials.seal_key_files`: files each holding a sealing key (32
  /// random bytes as 64 hex digits or base64, e.g. `openssl rand -hex 32`),
  /// readable by the service only. The first seals, every one opens (a key
  /// rotation lists the new key first and keeps the old ones until nothing
  /// is sealed with them). Empty: no password is kept, and a CPE that lost
  /// its PPPoE credentials cannot be repaired. In YAML a list; in the
  /// environment comma-separated paths.
  std::vector<std::filesystem::path> seal_key_files;
  /// The keys read from `seal_key_files`, in order (raw 32 bytes each).
  /// Never logged.
  std::vector<std::string> seal_keys;

  friend bool
  operator==(const credentials_settings&, const credentials_settings&)
    = default;
};

/// `drift`: drift reconciliation (actors/drift): scans that compare every
/// subscriber record with what the network systems hold.
struct drift_settings {
  /// Runs the scheduled scan on this instance (operators' scans through the
  /// admin API run regardless).
  bool enabled = false;
  /// Seconds between two scheduled scans (the first one after this long).
  int interval_seconds = 86'400;
  /// Requests per second a scan sends to each system; 0 = no limit.
  int rate_per_second = 0;
  /// Per system ("radius", "netbox", "voltha", "genieacs"), wins over
  /// `rate_per_second`; 0 = that one.
  int radius_rate_per_second = 0;
  int netbox_rate_per_second = 0;
  int voltha_rate_per_second = 0;
  int genieacs_rate_per_second = 0;
  /// Subscriber records read (and observed) per page.
  int page_size = 1'000;
  /// The scheduled scan starts a repair saga per subscriber with
  /// repairable differences (operators ask per scan).
  bool repair = false;

  friend bool operator==(const drift_settings&, const drift_settings&)
    = default;
};

/// `admin.tokens[i]`: one bearer token of the admin API, stored hashed.
struct admin_token_settings {
  /// Shown in the audit table.
  std::string name;
  /// SHA-256 of the token, 64 hex digits (`ispflowctl token hash`).
  std::string sha256;
  /// Comma-separated: sagas:read, sagas:write, admin.
  std::string scopes;
  /// Restricts the token to one tenant; empty = all tenants.
  std::string tenant;

  friend bool
  operator==(const admin_token_settings&, const admin_token_settings&)
    = default;
};

/// `admin`: the admin HTTP API.
struct admin_settings {
  /// "host:port" to listen on ("[::1]:8089" for IPv6).
  std::string listen = "127.0.0.1:8089";
  /// Switches the admin API off (e.g. for a batch-only instance).
  bool enabled = true;
  /// `admin.tokens`: who may call the API.
  std::vector<admin_token_settings> tokens;
  /// Connections served at once (one thread each), 1..4096; more are
  /// refused.
  int max_connections = 32;
  /// Connections one client address may hold, 1..4096; more are refused.
  int max_connections_per_client = 8;
  /// Largest request body after chunked framing and gzip/br are removed.
  int64_t max_body_bytes = 1 << 20;
  /// Request line and headers must arrive within this, in milliseconds.
  int header_timeout_ms = 10'000;
  /// A whole body must arrive within this, in milliseconds.
  int body_timeout_ms = 30'000;
  /// An idle keep-alive connection is closed after this, in milliseconds.
  int idle_timeout_ms = 5'000;
  /// Each write of a response, in milliseconds.
  int write_timeout_ms = 10'000;
  /// `admin.metrics.listen`: "host:port" of a separate /metrics listener;
  /// empty = /metrics on `listen`.
  std::string metrics_listen;
  /// `admin.metrics.token_sha256`: SHA-256 (64 hex) of the bearer token
  /// /metrics requires; empty = no token.
  std::string metrics_token_sha256;
  /// `admin.metrics.refresh_ms`: how often the database gauges of /metrics
  /// are recomputed (in the background, never per scrape).
  int metrics_refresh_ms = 15'000;
  /// `admin.command_wait_ms`: how long a retry or cancel of a saga whose
  /// partition another instance owns waits for that owner to act before
  /// answering 202 with the command (GET /v1/commands/{id}).
  int command_wait_ms = 5'000;
  /// `admin.tls.cert_file` / `admin.tls.key_file`: PEM files; both set =
  /// HTTPS only on every admin listener.
  std::filesystem::path tls_cert_file;
  std::filesystem::path tls_key_file;

  friend bool operator==(const admin_settings&, const admin_settings&)
    = default;
};

/// TLS of one tenant's HTTP system (`tenants[i].<system>.ca_file`,
/// `.insecure_skip_verify`). Certificates are verified by default.
struct http_tls_settings {
  /// PEM bundle of the CAs trusted for this system; empty = the system's
  /// default CAs.
  std::filesystem::path ca_file;
  /// Turns certificate and host name verification off (logged as a
  /// warning at start-up). For laboratories only.
  bool insecure_skip_verify = false;

  friend bool operator==(const http_tls_settings&, const http_tls_settings&)
    = default;
};

/// `breakers`: the circuit breaker of every (tenant, adapter, endpoint)
/// and the per-tenant limit of calls in flight.
struct breaker_settings {
  /// Percent of failed calls in the window at which a breaker opens.
  int failure_rate_threshold = 50;
  /// A call slower than this counts as slow; 100 % slow calls open it too.
  int slow_call_ms = 10'000;
  /// Calls in the sliding window.
  int window = 20;
  /// Calls needed before the rate means anything.
  int minimum_calls = 10;
  /// How long an open breaker waits before letting probes through.
  int open_ms = 30'000;
  /// Probe calls let through while half open.
  int half_open_calls = 3;
  /// Calls one tenant may have in flight per process.
  int tenant_max_concurrent = 64;

  friend bool operator==(const breaker_settings&, const breaker_settings&)
    = default;
};

/// `plans[i]`: one plan of one tenant, written to FreeRADIUS as a group.
struct plan_settings {
  std::string tenant;
  std::string id;
  /// Subscriber download and upload rates in kbit/s.
  int64_t download_kbps = 0;
  int64_t upload_kbps = 0;
  /// The radgroupreply group; default "<tenant>-<id>".
  std::string radius_group;
  /// Cisco ISG QoS policy maps (ip:sub-qos-policy-in/out); optional.
  std::string cisco_policy_in;
  std::string cisco_policy_out;
  /// Juniper ERX ingress / egress policy names; optional.
  std::string juniper_policy_in;
  std::string juniper_policy_out;
  /// Session-Timeout and Acct-Interim-Interval in seconds; 0 = none.
  int64_t session_timeout_s = 0;
  int64_t interim_interval_s = 0;

  friend bool operator==(const plan_settings&, const plan_settings&) = default;
};

/// `nas[i]`: a NAS (BNG) that sends RADIUS and receives CoA/Disconnect,
/// synced into FreeRADIUS's `nas` table.
struct nas_settings {
  /// nas.shortname.
  std::string name;
  /// nas.nasname: the NAS's IP address, as it appears in radacct.
  std::string address;
  /// File whose trimmed content is the shared secret.
  std::filesystem::path secret_file;
  /// Loaded from `secret_file`; never logged.
  std::string secret;
  /// UDP port of its CoA/Disconnect server (RFC 5176: 3799).
  int coa_port = 3799;
  /// Attribute dialect: mikrotik, cisco, juniper.
  std::string vendor = "mikrotik";
  /// Drop CoA/Disconnect replies without Message-Authenticator. false for a
  /// NAS that never sends it (accel-ppp): such replies are then accepted on
  /// their Response Authenticator; one that carries it is always verified.
  bool require_message_authenticator = true;
  /// How suspend and resume reach its sessions: tenant (the tenant's
  /// `radius.disconnect_mode`), disconnect or coa.
  std::string disconnect_mode = "tenant";
  /// `walled_garden_attributes`: the CoA attributes that move a session
  /// into the walled garden, "Name=value;Name=value" as written.
  std::string walled_garden_attributes_text;
  /// Parsed from the text: (dictionary name, value) pairs.
  std::vector<std::pair<std::string, std::string>> walled_garden_attributes;
  /// CoA/Disconnect requests in flight at once; 0 = the client's default.
  int max_in_flight = 0;
  /// New CoA/Disconnect requests per second; 0 = the client's default.
  int max_rate = 0;

  friend bool operator==(const nas_settings&, const nas_settings&) = default;
};

/// `tenants[i].systems`: which network systems a tenant uses.
struct tenant_systems {
  /// FreeRADIUS (SQL provisioning, CoA/Disconnect).
  bool radius = true;
  /// NetBox IPAM (needs tenants[i].netbox).
  bool netbox = false;
  /// VOLTHA / ONOS (PON) (needs tenants[i].voltha).
  bool voltha = false;
  /// GenieACS (CPE) (needs tenants[i].genieacs).
  bool genieacs = false;
  /// AWX (automation jobs).
  bool awx = false;

  friend bool operator==(const tenant_systems&, const tenant_systems&)
    = default;
};

/// `tenants[i].radius`: how RADIUS is provisioned for a tenant.
struct tenant_radius_settings {
  /// Plan attributes dialect when the NAS does not say: mikrotik, cisco,
  /// juniper.
  std::string vendor = "mikrotik";
  /// How suspend denies: reject (Auth-Type := Reject) or walled_garden.
  std::string suspend_policy = "reject";
  /// The group a walled-garden suspension moves the user to.
  std::string walled_garden_group;
  /// hashed (salted SHA-512, PAP only) or cleartext (needed for CHAP).
  std::string password_storage = "hashed";
  /// How suspend cuts sessions: disconnect or coa.
  std::string disconnect_mode = "disconnect";

  friend bool
  operator==(const tenant_radius_settings&, const tenant_radius_settings&)
    = default;
};

/// `tenants[i].netbox`: the tenant's NetBox.
struct tenant_netbox_settings {
  std::string url;
  /// File holding the API token; the token is loaded into `token`.
  std::filesystem::path token_file;
  std::string token;
  /// token (v1, "Token <t>") or bearer (v2, "Bearer nbt_...").
  std::string token_scheme = "token";
  /// Site slug and prefix role slug the subscriber prefixes carry.
  std::string site;
  std::string prefix_role = "subscriber";
  /// NetBox tenant slug (default: the tenant id).
  std::string tenant;
  int timeout_ms = 10'000;
  /// Pages of one look-up followed (`next`) before it fails.
  int max_pages = 50;
  /// Keep connections open between requests (false: `Connection: close`).
  bool keep_alive = true;
  /// How long an allocation reuses the prefix list it read (0 = read it
  /// for every allocation).
  int prefix_cache_ms = 60'000;
  http_tls_settings tls;

  friend bool
  operator==(const tenant_netbox_settings&, const tenant_netbox_settings&)
    = default;
};

/// `tenants[i].genieacs`: the tenant's GenieACS NBI.
struct tenant_genieacs_settings {
  std::string url;
  /// How long GenieACS waits for the CPE's session per task.
  int connection_request_timeout_ms = 4'000;
  int timeout_ms = 10'000;
  /// Keep connections open between requests (false: `Connection: close`).
  bool keep_alive = true;
  http_tls_settings tls;
  /// The CPEs' data model root: "auto" (detected per device), "tr098" or
  /// "tr181".
  std::string data_model = "auto";
  /// Per product class, wins over `data_model`: product class -> "tr098" or
  /// "tr181" (`product_class_data_models: "EX220=tr181,HG8245H=tr098"`).
  std::map<std::string, std::string> product_class_data_models;
  /// The key's text as written (parsed into the map at load).
  std::string product_class_data_models_text;
  /// Tags every CPE of the tenant must carry (`required_tags: [a, b]`, or
  /// "a,b"); a drift scan reports a CPE without one (cpe_tag_mismatch) and
  /// its repair adds it. Each `[A-Za-z0-9_-]+`, the characters GenieACS's
  /// tag routes accept. Empty: tags are not checked.
  std::vector<std::string> required_tags;
  /// The key's text as written (parsed into `required_tags` at load).
  std::string required_tags_text;

  friend bool
  operator==(const tenant_genieacs_settings&, const tenant_genieacs_settings&)
    = default;
};

/// `tenants[i].awx`: the tenant's AWX / AAP controller.
struct tenant_awx_settings {
  /// API base, e.g. https://awx.example/api/v2/.
  std::string url;
  std::filesystem::path token_file;
  std::string token;
  /// Job template launched by activations.
  int64_t activation_template = 0;
  int timeout_ms = 10'000;
  /// How often a running job is looked at (the step waits, parked, between
  /// looks).
  int poll_interval_ms = 15'000;
  /// How long the template's launch prompts, read before a launch, are
  /// trusted; 0 = read before every launch.
  int launch_check_ttl_ms = 60'000;
  http_tls_settings tls;

  friend bool operator==(const tenant_awx_settings&, const tenant_awx_settings&)
    = default;
};

/// `tenants[i].voltha`: the tenant's VOLTHA and ONOS olt app.
struct tenant_voltha_settings {
  /// VOLTHA northbound gRPC "host:port".
  std::string grpc;
  /// ONOS REST base, e.g. http://onos:8181.
  std::string onos_url;
  std::string onos_user = "onos";
  std::filesystem::path onos_password_file;
  std::string onos_password;
  /// Service tags and technology profile of subscriber services.
  int s_tag = 0;
  int c_tag = 0;
  int tp_id = 64;
  int timeout_ms = 10'000;
  /// How often a step waiting for the olt app to program (or remove) a
  /// service looks at programmed-subscribers, in ms.
  int confirm_interval_ms = 1'000;
  /// How long the UNI ports read from an OLT's logical device are trusted
  /// (each use also checks the port still belongs to the ONU), in ms; 0 =
  /// read them for every look-up.
  int connect_point_ttl_ms = 300'000;
  /// The largest VOLTHA gRPC answer accepted, in MiB (gRPC's default, 4,
  /// is too small for ListDevices of a large core).
  int grpc_max_receive_mib = 64;

  friend bool
  operator==(const tenant_voltha_settings&, const tenant_voltha_settings&)
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
  /// `policies.suspend_disable_onu`, `policies.terminate_factory_reset_cpe`.
  bool suspend_disable_onu = false;
  bool terminate_factory_reset_cpe = false;
  tenant_radius_settings radius;
  tenant_netbox_settings netbox;
  tenant_genieacs_settings genieacs;
  tenant_awx_settings awx;
  tenant_voltha_settings voltha;

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
  /// `runtime`.
  runtime_settings runtime;
  /// `sagas`.
  saga_settings sagas;
  /// `retention`.
  retention_settings retention;
  /// `drift`.
  drift_settings drift;
  /// `credentials`.
  credentials_settings credentials;
  /// `log`.
  log_settings log;
  /// `instance`, `cluster`.
  cluster_settings cluster;
  /// `admin`.
  admin_settings admin;
  /// `breakers`.
  breaker_settings breakers;
  /// `tenants`, at least one after a successful load.
  std::vector<tenant_settings> tenants;
  /// `plans`: every tenant's plans.
  std::vector<plan_settings> plans;
  /// `nas`: the NASes ispflow may send CoA/Disconnect to.
  std::vector<nas_settings> nas;
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

// -- reference ----------------------------------------------------------------

/// One key of the configuration schema, as `load_config` checks it.
struct config_key_doc {
  /// Path with list items as "[]", e.g. "tenants[].netbox.url"; a map's
  /// free-form keys as "<name>", e.g. "kafka.properties.<name>".
  std::string path;
  /// What it accepts, e.g. "integer 1..64" or "one of: json, text".
  std::string accepts;
  /// Start-up stops without it (within its list item, for list keys).
  bool required = false;
  /// The default as written in YAML; empty when there is none.
  std::string fallback;
  /// The overriding environment variable, list indexes as N, e.g.
  /// "ISPFLOW_TENANTS_N_NETBOX_URL".
  std::string env;
};

/// Every key `load_config` knows, in the schema's order.
std::vector<config_key_doc> config_reference();

/// `config_reference()` as a Markdown table (what
/// `ispflowd --print-config-reference` prints and docs/operations.md holds).
std::string config_reference_markdown();

} // namespace ispflow::common
