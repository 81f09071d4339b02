#include "common/config.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <map>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using ispflow::common::config;
using ispflow::common::env_name;
using ispflow::common::env_source;
using ispflow::common::load_config;
using ispflow::common::load_config_text;
using ispflow::common::log_format;
using ispflow::common::log_level;
using testing::HasSubstr;
using testing::Not;

namespace {

constexpr const char* minimal_yaml = R"(
kafka:
  bootstrap_servers: 127.0.0.1:9092
postgres:
  dsn: host=127.0.0.1 port=5432 user=postgres dbname=ispflow
intake: {sources: [{source: s, tenants: "*"}]}
tenants:
  - id: demo
    name: Demo ISP
)";

env_source no_env() {
  return env_source::from_map({});
}

/// The error detail of a failed load; fails the test if the load succeeded.
std::string failure(const caf::expected<config>& res) {
  if (res) {
    ADD_FAILURE() << "expected the configuration to be rejected";
    return {};
  }
  EXPECT_EQ(res.error().code(),
            static_cast<uint8_t>(ispflow::errc::invalid_config));
  EXPECT_EQ(res.error().category(), caf::atom("ispflow"));
  const auto& ctx = res.error().context();
  if (ctx.size() != 1 || !ctx.match_element<std::string>(0)) {
    ADD_FAILURE() << "error without a string detail";
    return {};
  }
  return ctx.get_as<std::string>(0);
}

size_t line_count(const std::string& s) {
  return s.empty()
           ? 0
           : 1 + static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

/// A temporary file removed at scope exit.
struct temp_file {
  explicit temp_file(const std::string& content) {
    std::string tmpl = testing::TempDir() + "ispflow-config-XXXXXX";
    int fd = ::mkstemp(tmpl.data());
    EXPECT_GE(fd, 0);
    ::close(fd);
    path = tmpl;
    std::ofstream out{path, std::ios::binary};
    out << content;
  }
  ~temp_file() {
    std::remove(path.c_str());
  }
  std::string path;
};

} // namespace

// -- defaults -----------------------------------------------------------------

TEST(config, applies_defaults_to_keys_not_set) {
  auto res = load_config_text(minimal_yaml, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  const auto& c = *res;
  EXPECT_EQ(c.kafka.bootstrap_servers, "127.0.0.1:9092");
  EXPECT_EQ(c.kafka.group_id, "ispflow");
  EXPECT_EQ(c.kafka.client_id, "ispflowd");
  EXPECT_EQ(c.kafka.topics.billing, "billing.events.v1");
  EXPECT_EQ(c.kafka.topics.lifecycle, "lifecycle.events.v1");
  EXPECT_EQ(c.kafka.topics.saga, "saga.events.v1");
  EXPECT_EQ(c.kafka.topics.dead_letter, "billing.events.v1.dlq");
  EXPECT_TRUE(c.kafka.properties.empty());
  EXPECT_EQ(c.postgres.dsn,
            "host=127.0.0.1 port=5432 user=postgres dbname=ispflow");
  EXPECT_TRUE(c.postgres.password_file.empty());
  EXPECT_EQ(c.postgres.pool_size, 4);
  EXPECT_EQ(c.intake.max_batch, 1000);
  EXPECT_EQ(c.runtime.worker_threads, 0);
  EXPECT_EQ(c.runtime.scheduler, ispflow::common::scheduler_policy::sharing);
  EXPECT_EQ(c.sagas.tenant_max_running, 2000);
  EXPECT_EQ(c.sagas.write_linger_ms, 50);
  EXPECT_EQ(c.intake.linger_ms, 5);
  EXPECT_EQ(c.outbox.batch, 1000);
  EXPECT_EQ(c.outbox.poll_interval_ms, 50);
  EXPECT_EQ(c.outbox.tail_scan, 2000);
  EXPECT_EQ(c.log.level, log_level::info);
  EXPECT_EQ(c.log.format, log_format::json);
  EXPECT_EQ(c.admin.listen, "127.0.0.1:8089");
  ASSERT_EQ(c.tenants.size(), 1u);
  EXPECT_EQ(c.tenants[0].id, "demo");
  EXPECT_EQ(c.tenants[0].name, "Demo ISP");
  // Only RADIUS unless a tenant names its other systems (and endpoints).
  EXPECT_TRUE(c.tenants[0].systems.radius);
  EXPECT_FALSE(c.tenants[0].systems.netbox);
  EXPECT_FALSE(c.tenants[0].systems.voltha);
  EXPECT_FALSE(c.tenants[0].systems.genieacs);
  EXPECT_FALSE(c.tenants[0].systems.awx);
  EXPECT_TRUE(c.plans.empty());
  EXPECT_TRUE(c.nas.empty());
  EXPECT_TRUE(c.admin.tokens.empty());
}

TEST(config, schema_defaults_match_the_struct_defaults) {
  auto res = load_config_text(minimal_yaml, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  config plain;
  EXPECT_EQ(res->kafka.topics, plain.kafka.topics);
  EXPECT_EQ(res->kafka.group_id, plain.kafka.group_id);
  EXPECT_EQ(res->kafka.client_id, plain.kafka.client_id);
  EXPECT_EQ(res->postgres.pool_size, plain.postgres.pool_size);
  EXPECT_EQ(res->intake.max_batch, plain.intake.max_batch);
  EXPECT_EQ(res->intake.linger_ms, plain.intake.linger_ms);
  EXPECT_EQ(res->intake.allow_any_source, plain.intake.allow_any_source);
  EXPECT_EQ(res->outbox, plain.outbox);
  EXPECT_EQ(res->sagas, plain.sagas);
  EXPECT_EQ(res->log.level, plain.log.level);
  EXPECT_EQ(res->log.format, plain.log.format);
  EXPECT_EQ(res->admin, plain.admin);
  EXPECT_EQ(res->breakers, plain.breakers);
  EXPECT_EQ(res->tenants[0].systems, ispflow::common::tenant_systems{});
}

TEST(config, keeps_netbox_and_genieacs_connections_alive_unless_told) {
  auto res = load_config_text(minimal_yaml, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_TRUE(res->tenants.at(0).netbox.keep_alive);
  EXPECT_TRUE(res->tenants.at(0).genieacs.keep_alive);
  res = load_config_text(minimal_yaml,
                         env_source::from_map({
                           {"ISPFLOW_TENANTS_0_NETBOX_KEEP_ALIVE", "false"},
                           {"ISPFLOW_TENANTS_0_GENIEACS_KEEP_ALIVE", "false"},
                         }));
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_FALSE(res->tenants.at(0).netbox.keep_alive);
  EXPECT_FALSE(res->tenants.at(0).genieacs.keep_alive);
  auto bad = failure(load_config_text(
    minimal_yaml, env_source::from_map(
                    {{"ISPFLOW_TENANTS_0_GENIEACS_KEEP_ALIVE", "sometimes"}})));
  EXPECT_NE(bad.find("tenants[0].genieacs.keep_alive"), std::string::npos)
    << bad;
}

TEST(config, reads_every_key_from_the_file) {
  auto res = load_config_text(R"(
kafka:
  bootstrap_servers: k1:9092,k2:9092
  group_id: g
  client_id: c
  topics: {billing: b, lifecycle: l, saga: s, dead_letter: d}
  properties:
    security.protocol: SSL
    queue.buffering.max.ms: 7
postgres:
  dsn: postgresql://u@db/x
  pool_size: 64
intake: {max_batch: 100000, linger_ms: 0, allow_any_source: true}
outbox: {batch: 1, poll_interval_ms: 60000, tail_scan: 0}
runtime: {worker_threads: 3, scheduler: stealing}
sagas: {tenant_max_running: 0, write_linger_ms: 0}
log: {level: debug, format: text}
admin: {listen: "[::1]:9000"}
tenants:
  - {id: a-1, name: A, systems: {radius: false, netbox: no, voltha: off, genieacs: 1, awx: false},
     genieacs: {url: "http://acs:7557", connection_request_timeout_ms: 9000}}
  - {id: b_2, name: B}
)",
                              no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  const auto& c = *res;
  EXPECT_EQ(c.kafka.bootstrap_servers, "k1:9092,k2:9092");
  EXPECT_EQ(c.kafka.group_id, "g");
  EXPECT_EQ(c.kafka.client_id, "c");
  EXPECT_EQ(c.kafka.topics,
            (ispflow::common::kafka_topics{"b", "l", "s", "d"}));
  EXPECT_EQ(c.kafka.properties,
            (std::map<std::string, std::string>{
              {"security.protocol", "SSL"}, {"queue.buffering.max.ms", "7"}}));
  EXPECT_EQ(c.postgres.dsn, "postgresql://u@db/x");
  EXPECT_EQ(c.postgres.pool_size, 64);
  EXPECT_EQ(c.intake.max_batch, 100000);
  EXPECT_EQ(c.intake.linger_ms, 0);
  EXPECT_EQ(c.outbox.batch, 1);
  EXPECT_EQ(c.outbox.poll_interval_ms, 60000);
  EXPECT_EQ(c.outbox.tail_scan, 0);
  EXPECT_EQ(c.runtime.worker_threads, 3);
  EXPECT_EQ(c.runtime.scheduler, ispflow::common::scheduler_policy::stealing);
  EXPECT_EQ(c.sagas.tenant_max_running, 0);
  EXPECT_EQ(c.sagas.write_linger_ms, 0);
  EXPECT_EQ(c.log.level, log_level::debug);
  EXPECT_EQ(c.log.format, log_format::text);
  EXPECT_EQ(c.admin.listen, "[::1]:9000");
  ASSERT_EQ(c.tenants.size(), 2u);
  EXPECT_EQ(c.tenants[0].id, "a-1");
  EXPECT_EQ(c.tenants[0].systems, (ispflow::common::tenant_systems{
                                    false, false, false, true, false}));
  EXPECT_EQ(c.tenants[0].genieacs.url, "http://acs:7557");
  EXPECT_EQ(c.tenants[0].genieacs.connection_request_timeout_ms, 9000);
  EXPECT_EQ(c.tenants[1].id, "b_2");
  EXPECT_EQ(c.tenants[1].name, "B");
}

// -- environment overrides ----------------------------------------------------

TEST(config, env_name_upper_cases_the_path_and_flattens_indexes) {
  EXPECT_EQ(env_name("kafka.bootstrap_servers"),
            "ISPFLOW_KAFKA_BOOTSTRAP_SERVERS");
  EXPECT_EQ(env_name("postgres.dsn"), "ISPFLOW_POSTGRES_DSN");
  EXPECT_EQ(env_name("tenants[0].name"), "ISPFLOW_TENANTS_0_NAME");
  EXPECT_EQ(env_name("tenants[12].systems.awx"),
            "ISPFLOW_TENANTS_12_SYSTEMS_AWX");
}

TEST(config, every_scalar_key_is_overridable_from_the_environment) {
  auto env = env_source::from_map({
    {"ISPFLOW_KAFKA_BOOTSTRAP_SERVERS", "bus:1"},
    {"ISPFLOW_KAFKA_GROUP_ID", "grp"},
    {"ISPFLOW_KAFKA_CLIENT_ID", "cli"},
    {"ISPFLOW_KAFKA_TOPICS_BILLING", "tb"},
    {"ISPFLOW_KAFKA_TOPICS_LIFECYCLE", "tl"},
    {"ISPFLOW_KAFKA_TOPICS_SAGA", "ts"},
    {"ISPFLOW_KAFKA_TOPICS_DEAD_LETTER", "td"},
    {"ISPFLOW_POSTGRES_DSN", "host=db port=1 dbname=x"},
    {"ISPFLOW_POSTGRES_POOL_SIZE", "9"},
    {"ISPFLOW_INTAKE_MAX_BATCH", "77"},
    {"ISPFLOW_INTAKE_LINGER_MS", "0"},
    {"ISPFLOW_OUTBOX_BATCH", "12"},
    {"ISPFLOW_OUTBOX_POLL_INTERVAL_MS", "13"},
    {"ISPFLOW_OUTBOX_TAIL_SCAN", "14"},
    {"ISPFLOW_LOG_LEVEL", "warn"},
    {"ISPFLOW_LOG_FORMAT", "text"},
    {"ISPFLOW_ADMIN_LISTEN", "0.0.0.0:1234"},
    {"ISPFLOW_TENANTS_0_ID", "acme"},
    {"ISPFLOW_TENANTS_0_NAME", "Acme Net"},
    {"ISPFLOW_TENANTS_0_SYSTEMS_RADIUS", "false"},
    {"ISPFLOW_TENANTS_0_SYSTEMS_NETBOX", "false"},
    {"ISPFLOW_TENANTS_0_SYSTEMS_VOLTHA", "false"},
    {"ISPFLOW_TENANTS_0_SYSTEMS_GENIEACS", "true"},
    {"ISPFLOW_TENANTS_0_GENIEACS_URL", "http://acs:7557"},
    {"ISPFLOW_TENANTS_0_SYSTEMS_AWX", "false"},
  });
  auto res = load_config_text(minimal_yaml, env);
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  const auto& c = *res;
  EXPECT_EQ(c.kafka.bootstrap_servers, "bus:1");
  EXPECT_EQ(c.kafka.group_id, "grp");
  EXPECT_EQ(c.kafka.client_id, "cli");
  EXPECT_EQ(c.kafka.topics,
            (ispflow::common::kafka_topics{"tb", "tl", "ts", "td"}));
  EXPECT_EQ(c.postgres.dsn, "host=db port=1 dbname=x");
  EXPECT_EQ(c.postgres.pool_size, 9);
  EXPECT_EQ(c.intake.max_batch, 77);
  EXPECT_EQ(c.intake.linger_ms, 0);
  EXPECT_EQ(c.outbox.batch, 12);
  EXPECT_EQ(c.outbox.poll_interval_ms, 13);
  EXPECT_EQ(c.outbox.tail_scan, 14);
  EXPECT_EQ(c.log.level, log_level::warn);
  EXPECT_EQ(c.log.format, log_format::text);
  EXPECT_EQ(c.admin.listen, "0.0.0.0:1234");
  ASSERT_EQ(c.tenants.size(), 1u);
  EXPECT_EQ(c.tenants[0].id, "acme");
  EXPECT_EQ(c.tenants[0].name, "Acme Net");
  EXPECT_EQ(c.tenants[0].systems, (ispflow::common::tenant_systems{
                                    false, false, false, true, false}));
  EXPECT_EQ(c.tenants[0].genieacs.url, "http://acs:7557");
}

TEST(config, environment_supplies_required_keys_missing_from_the_file) {
  auto env = env_source::from_map({
    {"ISPFLOW_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:40000"},
    {"ISPFLOW_POSTGRES_DSN", "host=127.0.0.1 port=55432"},
    {"ISPFLOW_TENANTS_0_ID", "demo"},
    {"ISPFLOW_TENANTS_0_NAME", "Demo ISP"},
    {"ISPFLOW_INTAKE_SOURCES_0_SOURCE", "billing.example"},
    {"ISPFLOW_INTAKE_SOURCES_0_TENANTS", "demo"},
  });
  auto res = load_config_text("", env);
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->kafka.bootstrap_servers, "127.0.0.1:40000");
  ASSERT_EQ(res->tenants.size(), 1u);
  EXPECT_EQ(res->tenants[0].name, "Demo ISP");
}

TEST(config, environment_adds_tenants_after_those_in_the_file) {
  auto env = env_source::from_map({
    {"ISPFLOW_TENANTS_1_ID", "second"},
    {"ISPFLOW_TENANTS_1_NAME", "Second ISP"},
    {"ISPFLOW_TENANTS_1_SYSTEMS_GENIEACS", "yes"},
    {"ISPFLOW_TENANTS_1_GENIEACS_URL", "http://acs:7557"},
  });
  auto res = load_config_text(minimal_yaml, env);
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  ASSERT_EQ(res->tenants.size(), 2u);
  EXPECT_EQ(res->tenants[0].id, "demo");
  EXPECT_EQ(res->tenants[1].id, "second");
  EXPECT_EQ(res->tenants[1].name, "Second ISP");
  EXPECT_TRUE(res->tenants[1].systems.genieacs);
  EXPECT_TRUE(res->tenants[1].systems.radius);
}

TEST(config, env_tenant_without_its_required_keys_is_reported) {
  auto env = env_source::from_map({{"ISPFLOW_TENANTS_1_NAME", "Nameless"}});
  auto detail = failure(load_config_text(minimal_yaml, env));
  EXPECT_THAT(detail,
              HasSubstr("config: tenants[1].id: required key is missing"));
  EXPECT_THAT(detail, HasSubstr("ISPFLOW_TENANTS_1_ID"));
}

TEST(config, kafka_properties_come_from_the_environment_with_dotted_names) {
  auto env = env_source::from_map({
    {"ISPFLOW_KAFKA_PROPERTIES_SECURITY_PROTOCOL", "SASL_SSL"},
    {"ISPFLOW_KAFKA_PROPERTIES_SASL_MECHANISMS", "PLAIN"},
    {"ISPFLOW_KAFKA_PROPERTIES_QUEUE_BUFFERING_MAX_MS", "3"},
    {"ISPFLOW_KAFKA_PROPERTIESX", "ignored"},
  });
  auto res = load_config_text(minimal_yaml, env);
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->kafka.properties, (std::map<std::string, std::string>{
                                     {"security.protocol", "SASL_SSL"},
                                     {"sasl.mechanisms", "PLAIN"},
                                     {"queue.buffering.max.ms", "3"}}));
}

TEST(config, env_overrides_a_kafka_property_from_the_file) {
  auto res
    = load_config_text(R"(
kafka:
  bootstrap_servers: b:1
  properties:
    security.protocol: PLAINTEXT
    statistics.interval.ms: 1000
postgres: {dsn: host=x}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T}]
)",
                       env_source::from_map({
                         {"ISPFLOW_KAFKA_PROPERTIES_SECURITY_PROTOCOL", "SSL"},
                       }));
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->kafka.properties, (std::map<std::string, std::string>{
                                     {"security.protocol", "SSL"},
                                     {"statistics.interval.ms", "1000"}}));
}

TEST(config, process_environment_source_reads_real_variables) {
  ::setenv("ISPFLOW_COMMON_TEST_PROBE", "v1", 1);
  auto env = ispflow::common::process_env();
  EXPECT_EQ(env.get("ISPFLOW_COMMON_TEST_PROBE"), "v1");
  EXPECT_EQ(env.get("ISPFLOW_COMMON_TEST_UNSET_PROBE"), std::nullopt);
  auto found = env.with_prefix("ISPFLOW_COMMON_TEST_");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].first, "ISPFLOW_COMMON_TEST_PROBE");
  EXPECT_EQ(found[0].second, "v1");
  ::unsetenv("ISPFLOW_COMMON_TEST_PROBE");
}

// -- errors -------------------------------------------------------------------

TEST(config, unknown_key_is_reported_with_its_path_and_a_suggestion) {
  auto detail = failure(load_config_text(R"(
kafka:
  bootstrap_server: b:1
postgres: {dsn: host=x}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T, sytems: {radius: true}}]
)",
                                         no_env()));
  EXPECT_THAT(detail,
              HasSubstr("config: kafka.bootstrap_server: unknown key (did you "
                        "mean kafka.bootstrap_servers?)"));
  EXPECT_THAT(detail, HasSubstr("line 3"));
  EXPECT_THAT(detail, HasSubstr("config: tenants[0].sytems: unknown key (did "
                                "you mean tenants[0].systems?)"));
}

TEST(config, unknown_key_far_from_any_known_key_has_no_suggestion) {
  auto detail = failure(load_config_text(
    std::string{minimal_yaml} + "zookeeper: {hosts: z}\n", no_env()));
  EXPECT_THAT(detail, HasSubstr("config: zookeeper: unknown key"));
  EXPECT_THAT(detail, Not(HasSubstr("did you mean")));
}

TEST(config, misplaced_key_suggests_the_section_it_belongs_to) {
  auto detail = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1, max_batch: 5}
postgres: {dsn: host=x}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T}]
)",
                                         no_env()));
  EXPECT_THAT(detail, HasSubstr("config: kafka.max_batch: unknown key (did you "
                                "mean intake.max_batch?)"));
}

TEST(config, wrong_type_in_the_file_names_key_expectation_and_line) {
  auto detail = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: host=x}
intake:
  max_batch: abc
tenants: [{id: t, name: T, systems: {awx: maybe}}]
)",
                                         no_env()));
  EXPECT_THAT(detail,
              HasSubstr("config: intake.max_batch: expected a positive "
                        "integer, got \"abc\" (from the YAML text, line 5)"));
  EXPECT_THAT(detail, HasSubstr("config: tenants[0].systems.awx: expected a "
                                "boolean (true or false), got \"maybe\""));
}

TEST(config, wrong_type_from_the_environment_names_the_variable) {
  auto env = env_source::from_map({{"ISPFLOW_INTAKE_MAX_BATCH", "abc"}});
  auto detail = failure(load_config_text(minimal_yaml, env));
  EXPECT_EQ(detail, "config: intake.max_batch: expected a positive integer, "
                    "got \"abc\" (from ISPFLOW_INTAKE_MAX_BATCH)");
}

TEST(config, structure_of_the_wrong_kind_is_a_type_error) {
  auto detail = failure(load_config_text(R"(
kafka: {bootstrap_servers: [a, b]}
postgres: host=x
intake: {sources: [{source: s, tenants: "*"}]}
tenants: {id: t}
)",
                                         no_env()));
  EXPECT_THAT(detail, HasSubstr("config: kafka.bootstrap_servers: expected a "
                                "single value, got a list"));
  EXPECT_THAT(detail,
              HasSubstr("config: postgres: expected a map, got a scalar"));
  EXPECT_THAT(detail, HasSubstr("config: tenants: expected a list of tenants, "
                                "got a map"));
}

TEST(config, value_out_of_range_is_reported_with_the_range) {
  auto env = env_source::from_map({{"ISPFLOW_POSTGRES_POOL_SIZE", "65"}});
  auto detail = failure(load_config_text(
    std::string{minimal_yaml}
      + "outbox: {tail_scan: -1}\nsagas: {tenant_max_running: -5}\n",
    env));
  EXPECT_THAT(detail, HasSubstr("config: sagas.tenant_max_running: -5 is out "
                                "of range, expected 0..10000000"));
  EXPECT_THAT(detail, HasSubstr("config: postgres.pool_size: 65 is out of "
                                "range, expected 1..64 (from "
                                "ISPFLOW_POSTGRES_POOL_SIZE)"));
  EXPECT_THAT(detail, HasSubstr("config: outbox.tail_scan: -1 is out of range, "
                                "expected 0..1000000"));
}

TEST(config, value_not_in_the_enum_lists_the_choices) {
  auto env = env_source::from_map({{"ISPFLOW_LOG_FORMAT", "xml"}});
  auto detail = failure(load_config_text(
    std::string{minimal_yaml} + "log: {level: verbose}\n", env));
  EXPECT_THAT(detail, HasSubstr("config: log.level: expected one of trace, "
                                "debug, info, warn, error, got \"verbose\""));
  EXPECT_THAT(detail, HasSubstr("config: log.format: expected one of json, "
                                "text, got \"xml\" (from ISPFLOW_LOG_FORMAT)"));
}

TEST(config, admin_listen_must_be_host_and_port) {
  auto env = env_source::from_map({{"ISPFLOW_ADMIN_LISTEN", "localhost"}});
  auto detail = failure(load_config_text(minimal_yaml, env));
  EXPECT_THAT(detail, HasSubstr("config: admin.listen: expected host:port"));
}

TEST(config, missing_required_keys_are_each_reported) {
  auto detail = failure(load_config_text("log: {level: info}\n", no_env()));
  EXPECT_THAT(detail, HasSubstr("config: kafka.bootstrap_servers: required key "
                                "is missing (set it in the YAML text or in "
                                "ISPFLOW_KAFKA_BOOTSTRAP_SERVERS)"));
  EXPECT_THAT(detail,
              HasSubstr("config: postgres.dsn: required key is missing"));
  EXPECT_THAT(detail,
              HasSubstr("config: tenants: at least one tenant is required"));
  EXPECT_THAT(detail, HasSubstr("config: intake.sources: required: "));
  EXPECT_EQ(line_count(detail), 4u);
}

TEST(config, empty_tenant_list_is_rejected) {
  auto detail = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: host=x}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: []
)",
                                         no_env()));
  EXPECT_EQ(detail, "config: tenants: at least one tenant is required (a list "
                    "of {id, name})");
}

TEST(config, empty_required_string_is_rejected) {
  auto env = env_source::from_map({{"ISPFLOW_POSTGRES_DSN", ""}});
  auto detail = failure(load_config_text(minimal_yaml, env));
  EXPECT_EQ(detail, "config: postgres.dsn: must not be empty (from "
                    "ISPFLOW_POSTGRES_DSN)");
}

TEST(config, duplicate_tenant_id_names_both_entries) {
  auto detail = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: host=x}
intake: {sources: [{source: s, tenants: "*"}]}
tenants:
  - {id: demo, name: A}
  - {id: other, name: B}
  - {id: demo, name: C}
)",
                                         no_env()));
  EXPECT_EQ(detail, "config: tenants[2].id: duplicate tenant id \"demo\" "
                    "(also tenants[0].id)");
}

TEST(config, bad_tenant_id_is_rejected_with_the_pattern) {
  auto detail = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: host=x}
intake: {sources: [{source: s, tenants: "*"}]}
tenants:
  - {id: Demo ISP, name: A}
  - {id: _x, name: B}
  - {id: ok, name: C}
)",
                                         no_env()));
  EXPECT_THAT(detail, HasSubstr("config: tenants[0].id: expected a tenant id "
                                "matching ^[a-z0-9][a-z0-9_-]{0,62}$, got "
                                "\"Demo ISP\""));
  EXPECT_THAT(detail, HasSubstr("config: tenants[1].id: expected a tenant id"));
  EXPECT_EQ(line_count(detail), 2u);
}

TEST(config, tenant_id_longer_than_63_characters_is_rejected) {
  auto env
    = env_source::from_map({{"ISPFLOW_TENANTS_0_ID", std::string(64, 'a')}});
  auto detail = failure(load_config_text(minimal_yaml, env));
  EXPECT_THAT(detail, HasSubstr("config: tenants[0].id: expected a tenant id"));
  auto ok = load_config_text(
    minimal_yaml,
    env_source::from_map({{"ISPFLOW_TENANTS_0_ID", std::string(63, 'a')}}));
  EXPECT_TRUE(ok);
}

TEST(config, collects_every_error_not_just_the_first) {
  auto env = env_source::from_map({{"ISPFLOW_OUTBOX_BATCH", "0"}});
  auto detail = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1, grup_id: g}
intake: {linger_ms: 20000}
log: {format: yaml}
tenants: [{id: t, name: T}, {id: t, name: U}]
)",
                                         env));
  EXPECT_THAT(detail, HasSubstr("kafka.grup_id: unknown key (did you mean "
                                "kafka.group_id?)"));
  EXPECT_THAT(detail, HasSubstr("postgres.dsn: required key is missing"));
  EXPECT_THAT(detail, HasSubstr("intake.linger_ms: 20000 is out of range"));
  EXPECT_THAT(detail, HasSubstr("outbox.batch: 0 is out of range"));
  EXPECT_THAT(detail, HasSubstr("log.format: expected one of json, text"));
  EXPECT_THAT(detail, HasSubstr("tenants[1].id: duplicate tenant id"));
  EXPECT_THAT(detail, HasSubstr("intake.sources: required"));
  EXPECT_EQ(line_count(detail), 7u);
}

TEST(config, duplicate_key_in_a_map_is_reported) {
  auto detail = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: host=x}
intake:
  max_batch: 5
  max_batch: 6
tenants: [{id: t, name: T}]
)",
                                         no_env()));
  EXPECT_THAT(detail, HasSubstr("config: intake.max_batch: duplicate key"));
}

TEST(config, invalid_yaml_reports_line_and_column) {
  auto detail = failure(load_config_text("kafka: [unclosed\n", no_env()));
  EXPECT_THAT(detail, HasSubstr("config: the YAML text: invalid YAML at line"));
}

TEST(config, missing_file_is_reported_with_its_path) {
  auto detail = failure(load_config("/nonexistent/ispflow.yaml", no_env()));
  EXPECT_THAT(detail,
              HasSubstr("config: cannot read \"/nonexistent/ispflow.yaml\""));
}

TEST(config, errors_from_a_file_name_the_file) {
  temp_file f{std::string{minimal_yaml} + "outbox: {batch: x}\n"};
  auto detail = failure(load_config(f.path, no_env()));
  EXPECT_THAT(detail, HasSubstr("(from " + f.path + ", line"));
}

// -- password file ------------------------------------------------------------

TEST(config, password_file_is_appended_to_the_dsn_and_never_redacted_out) {
  temp_file pw{"  s3cr'et\\x \n"};
  auto env
    = env_source::from_map({{"ISPFLOW_POSTGRES_PASSWORD_FILE", pw.path}});
  auto res = load_config_text(minimal_yaml, env);
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->postgres.password_file, pw.path);
  EXPECT_EQ(res->postgres.dsn, "host=127.0.0.1 port=5432 user=postgres "
                               "dbname=ispflow password='s3cr\\'et\\\\x'");
  auto shown = res->postgres.redacted_dsn();
  EXPECT_THAT(shown, Not(HasSubstr("s3cr")));
  EXPECT_EQ(shown, "host=127.0.0.1 port=5432 user=postgres dbname=ispflow "
                   "password=***");
}

TEST(config, password_file_with_a_uri_dsn_becomes_a_query_parameter) {
  temp_file pw{"p@ss word\n"};
  auto res = load_config_text(
    R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "postgresql://ispflow@db:5432/ispflow?sslmode=require"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T}]
)",
    env_source::from_map({{"ISPFLOW_POSTGRES_PASSWORD_FILE", pw.path}}));
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->postgres.dsn, "postgresql://ispflow@db:5432/ispflow?"
                               "sslmode=require&password=p%40ss%20word");
  EXPECT_EQ(
    res->postgres.redacted_dsn(),
    "postgresql://ispflow@db:5432/ispflow?sslmode=require&password=***");
}

TEST(config, unreadable_or_empty_password_file_is_an_error_naming_the_key) {
  auto env = env_source::from_map(
    {{"ISPFLOW_POSTGRES_PASSWORD_FILE", "/nonexistent/pgpass"}});
  auto detail = failure(load_config_text(minimal_yaml, env));
  EXPECT_THAT(detail, HasSubstr("config: postgres.password_file: cannot read "
                                "\"/nonexistent/pgpass\""));
  EXPECT_THAT(detail, HasSubstr("(from ISPFLOW_POSTGRES_PASSWORD_FILE)"));
  temp_file empty{" \n"};
  auto detail2 = failure(load_config_text(
    minimal_yaml,
    env_source::from_map({{"ISPFLOW_POSTGRES_PASSWORD_FILE", empty.path}})));
  EXPECT_THAT(detail2, HasSubstr("config: postgres.password_file:"));
  EXPECT_THAT(detail2, HasSubstr("is empty"));
}

TEST(config, password_file_and_a_password_in_the_dsn_conflict) {
  temp_file pw{"filepw"};
  auto env = env_source::from_map({
    {"ISPFLOW_POSTGRES_DSN", "host=x password=inline"},
    {"ISPFLOW_POSTGRES_PASSWORD_FILE", pw.path},
  });
  auto detail = failure(load_config_text(minimal_yaml, env));
  EXPECT_THAT(detail, HasSubstr("config: postgres.password_file: postgres.dsn "
                                "already contains a password"));
  EXPECT_THAT(detail, Not(HasSubstr("inline")));
  EXPECT_THAT(detail, Not(HasSubstr("filepw")));
}

// -- the shipped configuration ------------------------------------------------

TEST(config, deploy_local_configuration_loads_without_error) {
  auto res = load_config(ISPFLOW_DEPLOY_LOCAL_CONFIG, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  ASSERT_EQ(res->tenants.size(), 1u);
  EXPECT_EQ(res->tenants[0].id, "demo");
  EXPECT_EQ(res->tenants[0].name, "Demo ISP");
  EXPECT_EQ(res->kafka.bootstrap_servers, "127.0.0.1:9092");
  EXPECT_EQ(res->postgres.dsn,
            "host=127.0.0.1 port=55432 user=postgres dbname=ispflow");
  // The demo's secrets come from files next to the configuration.
  EXPECT_FALSE(res->tenants[0].netbox.token.empty());
  EXPECT_FALSE(res->tenants[0].awx.token.empty());
  ASSERT_EQ(res->nas.size(), 1u);
  EXPECT_FALSE(res->nas[0].secret.empty());
  EXPECT_FALSE(res->plans.empty());
  EXPECT_FALSE(res->admin.tokens.empty());
}

TEST(config, deploy_local_configuration_takes_the_demo_overrides) {
  auto env = env_source::from_map({
    {"ISPFLOW_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:39092"},
    {"ISPFLOW_POSTGRES_DSN",
     "host=/tmp/pg/sock port=55432 user=postgres dbname=ispflow"},
  });
  auto res = load_config(ISPFLOW_DEPLOY_LOCAL_CONFIG, env);
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->kafka.bootstrap_servers, "127.0.0.1:39092");
  EXPECT_EQ(res->postgres.dsn,
            "host=/tmp/pg/sock port=55432 user=postgres dbname=ispflow");
}

// -- adapters, plans, NASes, admin tokens -------------------------------------

TEST(config, a_system_without_its_endpoint_names_the_missing_keys) {
  auto detail = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants:
  - {id: t, name: T, systems: {netbox: true, awx: true}}
)",
                                         no_env()));
  EXPECT_THAT(detail, HasSubstr("config: tenants[0].netbox.url: required when "
                                "systems.netbox is true"));
  EXPECT_THAT(detail, HasSubstr("tenants[0].netbox.site"));
  EXPECT_THAT(detail, HasSubstr("tenants[0].netbox.token_file"));
  EXPECT_THAT(detail, HasSubstr("tenants[0].awx.activation_template"));
  EXPECT_THAT(detail, HasSubstr("ISPFLOW_TENANTS_0_AWX_URL"));
}

TEST(config, awx_launch_check_ttl_and_netbox_max_pages_are_read_and_bounded) {
  auto yaml = [](const std::string& awx, const std::string& netbox) {
    return R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants:
  - {id: t, name: T, awx: {)"
           + awx + R"(}, netbox: {)" + netbox + R"(}}
)";
  };
  auto defaults = load_config_text(yaml("url: x", "url: y"), no_env());
  ASSERT_TRUE(defaults) << ispflow::render_error(defaults.error());
  EXPECT_EQ(defaults->tenants[0].awx.launch_check_ttl_ms, 60000);
  EXPECT_EQ(defaults->tenants[0].netbox.max_pages, 50);
  auto set = load_config_text(yaml("launch_check_ttl_ms: 0", "max_pages: 7"),
                              no_env());
  ASSERT_TRUE(set) << ispflow::render_error(set.error());
  EXPECT_EQ(set->tenants[0].awx.launch_check_ttl_ms, 0);
  EXPECT_EQ(set->tenants[0].netbox.max_pages, 7);
  auto detail = failure(load_config_text(
    yaml("launch_check_ttl_ms: -1", "max_pages: 0"), no_env()));
  EXPECT_THAT(detail, HasSubstr("tenants[0].awx.launch_check_ttl_ms"));
  EXPECT_THAT(detail, HasSubstr("tenants[0].netbox.max_pages"));
}

// Against simulators that answer at once, a bench polls AWX jobs and the
// olt app every 10 ms; below that the key is refused.
TEST(config, awx_poll_and_olt_confirm_intervals_go_down_to_10_ms) {
  auto yaml = [](const std::string& awx, const std::string& voltha) {
    return R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants:
  - {id: t, name: T, awx: {)"
           + awx + R"(}, voltha: {)" + voltha + R"(}}
)";
  };
  auto fast = load_config_text(
    yaml("poll_interval_ms: 10", "confirm_interval_ms: 10"), no_env());
  ASSERT_TRUE(fast) << ispflow::render_error(fast.error());
  EXPECT_EQ(fast->tenants[0].awx.poll_interval_ms, 10);
  EXPECT_EQ(fast->tenants[0].voltha.confirm_interval_ms, 10);
  auto detail = failure(load_config_text(
    yaml("poll_interval_ms: 9", "confirm_interval_ms: 9"), no_env()));
  EXPECT_THAT(detail, HasSubstr("tenants[0].awx.poll_interval_ms"));
  EXPECT_THAT(detail, HasSubstr("tenants[0].voltha.confirm_interval_ms"));
}

TEST(config, adapter_secrets_are_read_from_files_and_never_shown) {
  temp_file token{"  nb-secret-token \n"};
  temp_file empty{"\n"};
  auto yaml = R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants:
  - id: t
    name: T
    systems: {netbox: true}
    netbox: {url: "http://nb", site: s1, token_file: ")"
              + token.path + R"(", token_scheme: bearer}
)";
  auto res = load_config_text(yaml, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->tenants[0].netbox.token, "nb-secret-token");
  EXPECT_EQ(res->tenants[0].netbox.token_scheme, "bearer");
  // The NetBox tenant defaults to the tenant id.
  EXPECT_EQ(res->tenants[0].netbox.tenant, "t");
  auto env = env_source::from_map(
    {{"ISPFLOW_TENANTS_0_NETBOX_TOKEN_FILE", empty.path}});
  auto detail = failure(load_config_text(yaml, env));
  EXPECT_THAT(detail, HasSubstr("config: tenants[0].netbox.token_file:"));
  EXPECT_THAT(detail, HasSubstr("is empty"));
  EXPECT_THAT(detail, HasSubstr("ISPFLOW_TENANTS_0_NETBOX_TOKEN_FILE"));
}

TEST(config, plans_nas_and_tokens_are_lists_checked_against_the_tenants) {
  temp_file secret{"nas-secret\n"};
  auto yaml = R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T}]
plans:
  - {tenant: t, id: p100, download_kbps: 100000, upload_kbps: 20000}
  - {tenant: t, id: p1g, download_kbps: 1000000, upload_kbps: 200000,
     radius_group: gold, cisco: {policy_in: IN1G, policy_out: OUT1G}}
nas:
  - {name: bng1, address: 192.0.2.1, secret_file: ")"
              + secret.path + R"(", coa_port: 1700, vendor: cisco}
admin:
  tokens:
    - {name: noc, sha256: 61112491D046C3F6F8AB801F170D9B2D0C734A17CEFF60DEE92123FB507CFC3F, scopes: "sagas:read, sagas:write"}
    - {name: t-ro, sha256: 61112491d046c3f6f8ab801f170d9b2d0c734a17ceff60dee92123fb507cfc3f, scopes: "sagas:read", tenant: t}
)";
  auto res = load_config_text(yaml, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  ASSERT_EQ(res->plans.size(), 2u);
  EXPECT_EQ(res->plans[0].radius_group, "t-p100");
  EXPECT_EQ(res->plans[1].radius_group, "gold");
  EXPECT_EQ(res->plans[1].cisco_policy_in, "IN1G");
  EXPECT_EQ(res->plans[1].download_kbps, 1000000);
  ASSERT_EQ(res->nas.size(), 1u);
  EXPECT_EQ(res->nas[0].secret, "nas-secret");
  EXPECT_EQ(res->nas[0].coa_port, 1700);
  EXPECT_EQ(res->nas[0].vendor, "cisco");
  ASSERT_EQ(res->admin.tokens.size(), 2u);
  EXPECT_EQ(res->admin.tokens[0].sha256,
            "61112491d046c3f6f8ab801f170d9b2d0c734a17ceff60dee92123fb507cfc3f");
  EXPECT_EQ(res->admin.tokens[1].tenant, "t");
  // Wrong references and values are named.
  auto bad = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T}]
plans:
  - {tenant: nope, id: p, download_kbps: 1, upload_kbps: 1}
  - {tenant: t, id: p, download_kbps: 1, upload_kbps: 1}
  - {tenant: t, id: p, download_kbps: 1, upload_kbps: 1}
admin:
  tokens:
    - {name: x, sha256: abc, scopes: "sagas:read,root", tenant: other}
)",
                                      no_env()));
  EXPECT_THAT(bad, HasSubstr("config: plans[0].tenant: unknown tenant"));
  EXPECT_THAT(bad, HasSubstr("config: plans[2].id: duplicate plan"));
  EXPECT_THAT(bad, HasSubstr("config: admin.tokens[0].sha256: expected 64 "
                             "hex digits"));
  EXPECT_THAT(bad, HasSubstr("config: admin.tokens[0].scopes: unknown scope "
                             "\"root\""));
  EXPECT_THAT(bad, HasSubstr("config: admin.tokens[0].tenant: unknown tenant"));
  auto typo = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T}]
plans: [{tenant: t, id: p, download_kbps: 1, uplod_kbps: 1}]
)",
                                       no_env()));
  EXPECT_THAT(typo, HasSubstr("config: plans[0].uplod_kbps: unknown key (did "
                              "you mean plans[0].upload_kbps?)"));
}

TEST(config, nas_disconnect_mode_limits_and_plan_timers_are_read_and_checked) {
  temp_file secret{"nas-secret\n"};
  auto yaml = R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T}]
plans:
  - {tenant: t, id: p, download_kbps: 100, upload_kbps: 20,
     session_timeout_s: 86400, interim_interval_s: 300}
nas:
  - {name: bng1, address: 192.0.2.1, secret_file: ")"
              + secret.path + R"(", disconnect_mode: coa,
     walled_garden_attributes: "Filter-Id = walled-garden; Mikrotik-Address-List=wg",
     max_in_flight: 16, max_rate: 200}
  - {name: bng2, address: 192.0.2.2, secret_file: ")"
              + secret.path + R"("}
)";
  auto res = load_config_text(yaml, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->plans[0].session_timeout_s, 86400);
  EXPECT_EQ(res->plans[0].interim_interval_s, 300);
  ASSERT_EQ(res->nas.size(), 2u);
  EXPECT_EQ(res->nas[0].disconnect_mode, "coa");
  using attrs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(
    res->nas[0].walled_garden_attributes,
    (attrs{{"Filter-Id", "walled-garden"}, {"Mikrotik-Address-List", "wg"}}));
  EXPECT_EQ(res->nas[0].max_in_flight, 16);
  EXPECT_EQ(res->nas[0].max_rate, 200);
  EXPECT_EQ(res->nas[1].disconnect_mode, "tenant");
  EXPECT_EQ(res->nas[1].max_in_flight, 0);
  // A NAS that suspends by CoA needs its walled-garden attributes: by its
  // own mode or by a tenant's; malformed pairs and modes are named.
  auto bad = failure(load_config_text(R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T, radius: {disconnect_mode: coa}}]
nas:
  - {name: a, address: 192.0.2.1, secret_file: ")"
                                        + secret.path + R"("}
  - {name: b, address: 192.0.2.2, secret_file: ")"
                                        + secret.path + R"(",
     disconnect_mode: disconnect}
  - {name: c, address: 192.0.2.3, secret_file: ")"
                                        + secret.path + R"(",
     walled_garden_attributes: "Filter-Id"}
  - {name: d, address: 192.0.2.4, secret_file: ")"
                                        + secret.path + R"(",
     disconnect_mode: sometimes, max_rate: -1}
)",
                                      no_env()));
  EXPECT_THAT(bad, HasSubstr("config: nas[0].walled_garden_attributes: "
                             "required when this NAS suspends by CoA"));
  EXPECT_THAT(bad, Not(HasSubstr("nas[1].walled_garden_attributes")));
  EXPECT_THAT(bad, HasSubstr("config: nas[2].walled_garden_attributes: "
                             "\"Filter-Id\" is not <attribute>=<value>"));
  EXPECT_THAT(bad, HasSubstr("nas[3].disconnect_mode"));
  EXPECT_THAT(bad, HasSubstr("nas[3].max_rate"));
}

// -- intake.sources -----------------------------------------------------------

constexpr const char* two_tenants = R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: host=x}
tenants: [{id: acme, name: A}, {id: beta, name: B}]
)";

ispflow::common::intake_source_settings
unsigned_source(std::string source, std::vector<std::string> tenants) {
  ispflow::common::intake_source_settings out;
  out.source = std::move(source);
  out.tenants = std::move(tenants);
  return out;
}

TEST(config, intake_sources_are_required_unless_any_source_is_allowed) {
  auto detail = failure(load_config_text(two_tenants, no_env()));
  EXPECT_EQ(detail,
            "config: intake.sources: required: list each billing producer's "
            "ce_source with the tenants it may speak for, e.g. \"sources: "
            "[{source: billing.example, tenants: [demo]}]\" (or set "
            "intake.allow_any_source: true to let any source speak for any "
            "tenant, as before) (set it in the YAML text or in "
            "ISPFLOW_INTAKE_SOURCES_0_SOURCE)");
  auto any = load_config_text(
    two_tenants,
    env_source::from_map({{"ISPFLOW_INTAKE_ALLOW_ANY_SOURCE", "true"}}));
  ASSERT_TRUE(any) << ispflow::render_error(any.error());
  EXPECT_TRUE(any->intake.allow_any_source);
  EXPECT_TRUE(any->intake.sources.empty());
}

TEST(config, intake_sources_take_a_list_or_comma_separated_tenants) {
  auto res = load_config_text(
    std::string{two_tenants}
      + "intake:\n  sources:\n"
        "    - {source: billing://acme, tenants: [acme]}\n"
        "    - {source: billing://group, tenants: \"acme, beta\"}\n",
    env_source::from_map({{"ISPFLOW_INTAKE_SOURCES_2_SOURCE", "crm"},
                          {"ISPFLOW_INTAKE_SOURCES_2_TENANTS", "*"}}));
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->intake.sources,
            (std::vector{unsigned_source("billing://acme", {"acme"}),
                         unsigned_source("billing://group", {"acme", "beta"}),
                         unsigned_source("crm", {"*"})}));
  EXPECT_FALSE(res->intake.allow_any_source);
}

TEST(config, intake_sources_are_checked_against_the_tenants) {
  auto detail = failure(load_config_text(
    std::string{two_tenants}
      + "intake:\n  sources:\n"
        "    - {source: billing://acme, tenants: [acme, gamma]}\n"
        "    - {source: billing://acme, tenants: [beta]}\n"
        "    - {source: ispflow/redrive, tenants: [acme]}\n"
        "    - {source: billing://x}\n",
    no_env()));
  EXPECT_THAT(detail, HasSubstr("config: intake.sources[0].tenants: unknown "
                                "tenant \"gamma\""));
  EXPECT_THAT(detail, HasSubstr("config: intake.sources[1].source: duplicate "
                                "source \"billing://acme\" (also "
                                "intake.sources[0].source)"));
  EXPECT_THAT(detail, HasSubstr("config: intake.sources[2].source: "
                                "\"ispflow/redrive\": sources starting with "
                                "\"ispflow/\" are reserved"));
  EXPECT_THAT(detail, HasSubstr("config: intake.sources[3].tenants: required "
                                "key is missing"));
  EXPECT_EQ(line_count(detail), 4u);
}

constexpr const char* any_source = "intake:\n  allow_any_source: true\n";

TEST(config, seal_key_files_are_read_sealing_key_first) {
  temp_file current{std::string(64, 'c') + "\n"};
  // base64 of 32 'a' bytes.
  temp_file previous{"YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=\n"};
  auto res = load_config_text(std::string{two_tenants} + any_source
                                + "credentials:\n  seal_key_files: ["
                                + current.path + ", " + previous.path + "]\n",
                              no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->credentials.seal_key_files,
            (std::vector<std::filesystem::path>{current.path, previous.path}));
  EXPECT_EQ(res->credentials.seal_keys,
            (std::vector{std::string(32, '\xcc'), std::string(32, 'a')}));
  // The environment: comma-separated paths.
  auto env = load_config_text(
    std::string{two_tenants} + any_source,
    env_source::from_map({{"ISPFLOW_CREDENTIALS_SEAL_KEY_FILES",
                           previous.path + "," + current.path}}));
  ASSERT_TRUE(env) << ispflow::render_error(env.error());
  EXPECT_EQ(env->credentials.seal_keys,
            (std::vector{std::string(32, 'a'), std::string(32, '\xcc')}));
  // Not set: nothing is sealed.
  auto none = load_config_text(std::string{two_tenants} + any_source, no_env());
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->credentials.seal_key_files.empty());
  EXPECT_TRUE(none->credentials.seal_keys.empty());
}

TEST(config, bad_seal_key_files_stop_start_up_naming_the_key) {
  temp_file loose{std::string(64, 'a')};
  ::chmod(loose.path.c_str(), 0644);
  temp_file short_key{"c2VjcmV0"};
  temp_file words{"correct horse battery staple"};
  auto res = load_config_text(std::string{two_tenants} + any_source
                                + "credentials:\n  seal_key_files:\n    - "
                                + loose.path + "\n    - " + short_key.path
                                + "\n    - " + words.path
                                + "\n    - /nonexistent/seal.key\n",
                              no_env());
  auto detail = failure(res);
  EXPECT_THAT(detail,
              HasSubstr("config: credentials.seal_key_files: \"" + loose.path
                        + "\" is accessible by other users (mode "
                          "0644)"));
  EXPECT_THAT(detail, HasSubstr("config: credentials.seal_key_files: \""
                                + short_key.path
                                + "\": the key is 6 bytes (base64), not 32"));
  EXPECT_THAT(detail, HasSubstr("config: credentials.seal_key_files: \""
                                + words.path + "\": expected 32 random bytes"));
  EXPECT_THAT(detail, HasSubstr("config: credentials.seal_key_files: cannot "
                                "read \"/nonexistent/seal.key\""));
  EXPECT_EQ(line_count(detail), 4u);
  EXPECT_THAT(detail, Not(HasSubstr("horse")));
  EXPECT_THAT(detail, Not(HasSubstr("c2VjcmV0")));
  // The same key twice.
  temp_file one{std::string(64, 'b')};
  temp_file same{std::string(64, 'B')};
  auto twice = load_config_text(std::string{two_tenants} + any_source
                                  + "credentials:\n  seal_key_files: ["
                                  + one.path + ", " + same.path + "]\n",
                                no_env());
  EXPECT_THAT(failure(twice),
              HasSubstr("config: credentials.seal_key_files: sealing key 2 "
                        "is the same key as key 1"));
  // A list of maps is not a list of paths.
  auto maps = load_config_text(std::string{two_tenants} + any_source
                                 + "credentials:\n  seal_key_files: [{a: b}]\n",
                               no_env());
  EXPECT_THAT(failure(maps), HasSubstr("config: credentials.seal_key_files: "
                                       "expected a list of file paths"));
}

TEST(config, intake_source_signing_keys_are_read_current_first) {
  // mkstemp makes the files readable by their owner only.
  temp_file current{"  " + std::string(64, 'c') + "\n"};
  temp_file previous{std::string(40, 'p')};
  auto res = load_config_text(
    std::string{two_tenants}
      + "intake:\n  sources:\n"
        "    - {source: billing://acme, tenants: [acme], signing_key_file: "
      + current.path + ", previous_signing_key_file: " + previous.path
      + "}\n"
        "    - {source: billing://beta, tenants: [beta]}\n",
    no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  auto& acme = res->intake.sources.at(0);
  EXPECT_EQ(acme.signing_key_file, current.path);
  EXPECT_EQ(acme.previous_signing_key_file, previous.path);
  EXPECT_EQ(acme.signing_keys,
            (std::vector{std::string(64, 'c'), std::string(40, 'p')}));
  EXPECT_TRUE(res->intake.sources.at(1).signing_keys.empty());
}

TEST(config, bad_intake_source_signing_keys_stop_start_up_naming_the_key) {
  temp_file loose{std::string(64, 'l')};
  ::chmod(loose.path.c_str(), 0644);
  temp_file group_writable{std::string(64, 'g')};
  ::chmod(group_writable.path.c_str(), 0620);
  temp_file group_readable{std::string(64, 'r')};
  ::chmod(group_readable.path.c_str(), 0640);
  temp_file short_key{"secret"};
  auto res = load_config_text(
    std::string{two_tenants}
      + "intake:\n  sources:\n"
        "    - {source: s0, tenants: [acme], signing_key_file: "
      + loose.path + "}\n    - {source: s1, tenants: [acme], signing_key_file: "
      + group_writable.path
      + "}\n    - {source: s2, tenants: [acme], signing_key_file: "
      + short_key.path
      + "}\n    - {source: s3, tenants: [acme], previous_signing_key_file: "
      + group_readable.path
      + "}\n    - {source: s4, tenants: [acme], signing_key_file: "
        "/nonexistent/key}\n",
    no_env());
  auto detail = failure(res);
  EXPECT_THAT(detail, HasSubstr("config: intake.sources[0].signing_key_file: \""
                                + loose.path
                                + "\" is accessible by other users (mode "
                                  "0644); make it readable by the service "
                                  "only, e.g. chmod 600"));
  EXPECT_THAT(detail, HasSubstr("config: intake.sources[1].signing_key_file: \""
                                + group_writable.path
                                + "\" is accessible by other users (mode "
                                  "0620)"));
  EXPECT_THAT(detail, HasSubstr("config: intake.sources[2].signing_key_file: "
                                "the key is shorter than 32 bytes"));
  EXPECT_THAT(detail,
              HasSubstr("config: intake.sources[3].previous_signing_key_file: "
                        "set only together with "
                        "intake.sources[3].signing_key_file"));
  EXPECT_THAT(detail, HasSubstr("config: intake.sources[4].signing_key_file: "
                                "cannot read \"/nonexistent/key\""));
  EXPECT_EQ(line_count(detail), 5u);
  // Never the content of a key file.
  EXPECT_THAT(detail, Not(HasSubstr(std::string(64, 'l'))));
  EXPECT_THAT(detail, Not(HasSubstr("secret")));
  // A group-readable key (e.g. for the service's group) is fine.
  auto ok = load_config_text(std::string{two_tenants}
                               + "intake:\n  sources:\n"
                                 "    - {source: s0, tenants: [acme], "
                                 "signing_key_file: "
                               + group_readable.path + "}\n",
                             no_env());
  ASSERT_TRUE(ok) << ispflow::render_error(ok.error());
  EXPECT_EQ(ok->intake.sources.at(0).signing_keys,
            std::vector{std::string(64, 'r')});
}

// A signing source's replay window must fit in the inbox's dedupe window:
// else a signed record replayed after retention forgot its id would act
// again. Start-up stops naming the key; the defaults fit.
TEST(config, a_replay_window_longer_than_the_inbox_retention_stops_start_up) {
  temp_file key{std::string(64, 'k')};
  ::chmod(key.path.c_str(), 0600);
  auto with = [&](const std::string& extra) {
    return load_config_text(std::string{two_tenants}
                              + "intake:\n  sources:\n"
                                "    - {source: s0, tenants: [acme], "
                                "signing_key_file: "
                              + key.path + "}\n" + extra,
                            no_env());
  };
  auto ok = with("");
  ASSERT_TRUE(ok) << ispflow::render_error(ok.error());
  EXPECT_EQ(ok->intake.signed_max_age_seconds, 7 * 86'400);
  EXPECT_EQ(ok->intake.signed_max_skew_seconds, 300);
  auto too_long = with("  signed_max_age_seconds: 1209500\n");
  EXPECT_THAT(failure(too_long),
              HasSubstr("config: intake.signed_max_age_seconds: 1209500 + 300 "
                        "s (intake.signed_max_skew_seconds) exceeds "
                        "retention.inbox_seconds (1209600)"));
  auto none = with("  signed_max_age_seconds: 0\n");
  EXPECT_THAT(failure(none),
              HasSubstr("config: intake.signed_max_age_seconds: 0 (no replay "
                        "window) while retention.inbox_seconds forgets event "
                        "ids after 1209600 s"));
  // Shorter retention, shorter window: fine.
  auto short_both = with("  signed_max_age_seconds: 3000\n"
                         "retention:\n  inbox_seconds: 3600\n");
  ASSERT_TRUE(short_both) << ispflow::render_error(short_both.error());
  // Without a signing source the window is not judged.
  auto unsigned_only = load_config_text(
    std::string{two_tenants}
      + "intake:\n  sources:\n    - {source: s0, tenants: [acme]}\n"
        "  signed_max_age_seconds: 0\n",
    no_env());
  ASSERT_TRUE(unsigned_only) << ispflow::render_error(unsigned_only.error());
}

TEST(config, deploy_local_config_binds_the_demo_source_to_the_demo_tenant) {
  auto res = load_config(ISPFLOW_DEPLOY_LOCAL_CONFIG, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->intake.sources,
            (std::vector{unsigned_source("billing.example", {"demo"})}));
  EXPECT_FALSE(res->intake.allow_any_source);
}

// -- admin hardening, metrics and TLS keys ------------------------------------

TEST(config, admin_limits_metrics_and_tls_keys_are_read) {
  temp_file cert{"cert"};
  temp_file key{"key"};
  auto sha = std::string(64, 'A');
  auto res = load_config_text(std::string{minimal_yaml} + R"(
admin:
  max_connections: 64
  max_connections_per_client: 4
  max_body_bytes: 65536
  header_timeout_ms: 2000
  body_timeout_ms: 3000
  idle_timeout_ms: 4000
  write_timeout_ms: 5000
  metrics:
    listen: 127.0.0.1:9100
    token_sha256: )" + sha + R"(
    refresh_ms: 1000
  tls:
    cert_file: )" + cert.path + R"(
    key_file: )" + key.path + "\n",
                              no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  auto& a = res->admin;
  EXPECT_EQ(a.max_connections, 64);
  EXPECT_EQ(a.max_connections_per_client, 4);
  EXPECT_EQ(a.max_body_bytes, 65536);
  EXPECT_EQ(a.header_timeout_ms, 2000);
  EXPECT_EQ(a.body_timeout_ms, 3000);
  EXPECT_EQ(a.idle_timeout_ms, 4000);
  EXPECT_EQ(a.write_timeout_ms, 5000);
  EXPECT_EQ(a.metrics_listen, "127.0.0.1:9100");
  EXPECT_EQ(a.metrics_token_sha256, std::string(64, 'a'));
  EXPECT_EQ(a.metrics_refresh_ms, 1000);
  EXPECT_EQ(a.tls_cert_file, cert.path);
  EXPECT_EQ(a.tls_key_file, key.path);
}

TEST(config, bad_admin_metrics_and_tls_keys_are_named) {
  auto detail = failure(load_config_text(std::string{minimal_yaml} + R"(
admin:
  max_connections_per_client: 0
  metrics: {listen: "nowhere", token_sha256: "abc"}
  tls: {cert_file: /nonexistent/cert.pem}
)",
                                         no_env()));
  EXPECT_THAT(detail, HasSubstr("config: admin.max_connections_per_client:"));
  EXPECT_THAT(detail, HasSubstr("config: admin.metrics.listen: expected "
                                "host:port"));
  EXPECT_THAT(detail, HasSubstr("config: admin.metrics.token_sha256: expected "
                                "64 hex digits"));
  EXPECT_THAT(detail, HasSubstr("config: admin.tls.key_file: required"));
  EXPECT_THAT(detail, HasSubstr("config: admin.tls.cert_file: cannot read "
                                "\"/nonexistent/cert.pem\""));
  detail = failure(load_config_text(std::string{minimal_yaml} + R"(
admin: {listen: "127.0.0.1:9000", metrics: {listen: "127.0.0.1:9000"}}
)",
                                    no_env()));
  EXPECT_THAT(detail, HasSubstr("config: admin.metrics.listen: must differ"));
}

TEST(config, postgres_sslmode_is_checked_and_named) {
  auto with_dsn = [](const std::string& dsn) {
    return load_config_text(
      R"(
kafka: {bootstrap_servers: b:1}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T}]
)",
      env_source::from_map({{"ISPFLOW_POSTGRES_DSN", dsn}}));
  };
  auto detail = failure(with_dsn("host=db sslmode=bogus password=hunter2"));
  EXPECT_THAT(detail, HasSubstr("config: postgres.dsn: sslmode \"bogus\" is "
                                "not one of disable, allow, prefer, require, "
                                "verify-ca, verify-full"));
  EXPECT_THAT(detail, Not(HasSubstr("hunter2")));
  detail = failure(with_dsn("postgresql://u:hunter2@db/x?sslmode=verify_full"));
  EXPECT_THAT(detail, HasSubstr("sslmode \"verify_full\""));
  EXPECT_THAT(detail, Not(HasSubstr("hunter2")));
  detail = failure(
    with_dsn("host=db sslmode=verify-full sslrootcert=/nonexistent/ca.pem"));
  EXPECT_THAT(detail, HasSubstr("config: postgres.dsn: sslrootcert: cannot "
                                "read \"/nonexistent/ca.pem\""));
  detail = failure(with_dsn("host=db 'unterminated password=hunter2"));
  EXPECT_THAT(detail, HasSubstr("config: postgres.dsn: not a libpq"));
  EXPECT_THAT(detail, Not(HasSubstr("hunter2")));
  temp_file ca{"ca"};
  for (auto mode :
       {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}) {
    auto res = with_dsn(std::string{"host=db sslmode="} + mode
                        + " sslrootcert=" + ca.path);
    EXPECT_TRUE(res) << mode << ": " << ispflow::render_error(res.error());
  }
}

// librdkafka's TLS and SASL settings pass through kafka.properties as given
// (ispflowd hands them to every client; librdkafka refuses unknown keys and
// bad values when the client is made).
TEST(config, kafka_tls_and_sasl_properties_pass_through) {
  auto res = load_config_text(
    minimal_yaml,
    env_source::from_map({
      {"ISPFLOW_KAFKA_PROPERTIES_SECURITY_PROTOCOL", "SASL_SSL"},
      {"ISPFLOW_KAFKA_PROPERTIES_SSL_CA_LOCATION", "/etc/ispflow/kafka-ca.pem"},
      {"ISPFLOW_KAFKA_PROPERTIES_SASL_MECHANISM", "SCRAM-SHA-512"},
      {"ISPFLOW_KAFKA_PROPERTIES_SASL_USERNAME", "ispflow"},
      {"ISPFLOW_KAFKA_PROPERTIES_SASL_PASSWORD", "s3cret"},
    }));
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  auto& p = res->kafka.properties;
  EXPECT_EQ(p.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(p.at("ssl.ca.location"), "/etc/ispflow/kafka-ca.pem");
  EXPECT_EQ(p.at("sasl.mechanism"), "SCRAM-SHA-512");
  EXPECT_EQ(p.at("sasl.username"), "ispflow");
  EXPECT_EQ(p.at("sasl.password"), "s3cret");
  res = load_config_text(R"(
kafka:
  bootstrap_servers: b:9093
  properties:
    security.protocol: SSL
    ssl.certificate.location: /etc/ispflow/client.pem
    ssl.key.location: /etc/ispflow/client.key
    ssl.endpoint.identification.algorithm: https
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants: [{id: t, name: T}]
)",
                         no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->kafka.properties.at("security.protocol"), "SSL");
  EXPECT_EQ(res->kafka.properties.at("ssl.key.location"),
            "/etc/ispflow/client.key");
  EXPECT_EQ(res->kafka.properties.at("ssl.endpoint.identification.algorithm"),
            "https");
}

TEST(config, tenant_http_tls_keys_are_read_and_checked) {
  temp_file ca{"ca"};
  temp_file tok{"token"};
  auto yaml = R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants:
  - id: t
    name: T
    systems: {netbox: true, genieacs: true}
    netbox: {url: "https://nb", site: s, token_file: )"
              + tok.path + ", ca_file: " + ca.path + R"(}
    genieacs: {url: "https://acs", insecure_skip_verify: true}
)";
  auto res = load_config_text(yaml, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  auto& t = res->tenants[0];
  EXPECT_EQ(t.netbox.tls.ca_file, ca.path);
  EXPECT_FALSE(t.netbox.tls.insecure_skip_verify);
  EXPECT_TRUE(t.genieacs.tls.insecure_skip_verify);
  EXPECT_TRUE(t.awx.tls.ca_file.empty());
  auto detail = failure(load_config_text(
    R"(
kafka: {bootstrap_servers: b:1}
postgres: {dsn: "host=db"}
intake: {sources: [{source: s, tenants: "*"}]}
tenants:
  - id: t
    name: T
    netbox: {ca_file: /nonexistent/ca.pem}
    awx: {ca_file: )"
      + ca.path + R"(, insecure_skip_verify: true}
)",
    no_env()));
  EXPECT_THAT(detail, HasSubstr("config: tenants[0].netbox.ca_file: cannot "
                                "read \"/nonexistent/ca.pem\""));
  EXPECT_THAT(detail, HasSubstr("config: tenants[0].awx.insecure_skip_verify: "
                                "set either it or awx.ca_file"));
}

// -- genieacs data models
// ------------------------------------------------------

TEST(config, genieacs_data_models_are_read_per_tenant_and_product_class) {
  auto env = env_source::from_map(
    {{"ISPFLOW_TENANTS_0_GENIEACS_DATA_MODEL", "tr181"},
     {"ISPFLOW_TENANTS_0_GENIEACS_PRODUCT_CLASS_DATA_MODELS",
      "EX220=tr181,HG8245H=tr098"}});
  auto c = load_config_text(minimal_yaml, env);
  ASSERT_TRUE(c) << failure(c);
  EXPECT_EQ(c->tenants[0].genieacs.data_model, "tr181");
  EXPECT_EQ(c->tenants[0].genieacs.product_class_data_models,
            (std::map<std::string, std::string>{{"EX220", "tr181"},
                                                {"HG8245H", "tr098"}}));
  auto dflt = load_config_text(minimal_yaml, no_env());
  ASSERT_TRUE(dflt);
  EXPECT_EQ(dflt->tenants[0].genieacs.data_model, "auto");
}

TEST(config, bad_genieacs_data_models_are_named) {
  auto env = env_source::from_map(
    {{"ISPFLOW_TENANTS_0_GENIEACS_DATA_MODEL", "tr069"},
     {"ISPFLOW_TENANTS_0_GENIEACS_PRODUCT_CLASS_DATA_MODELS", "EX220=tr69"}});
  auto detail = failure(load_config_text(minimal_yaml, env));
  EXPECT_THAT(detail, HasSubstr("tenants[0].genieacs.data_model"));
  EXPECT_THAT(detail,
              HasSubstr("tenants[0].genieacs.product_class_data_models: "
                        "\"EX220=tr69\""));
}

TEST(config, genieacs_required_tags_are_a_list_or_text) {
  auto listed = load_config_text(
    std::string{minimal_yaml}
      + "    genieacs: {required_tags: [ispflow, plan-p100, ftth_1]}\n",
    no_env());
  ASSERT_TRUE(listed) << failure(listed);
  EXPECT_EQ(listed->tenants[0].genieacs.required_tags,
            (std::vector<std::string>{"ispflow", "plan-p100", "ftth_1"}));
  auto env = env_source::from_map(
    {{"ISPFLOW_TENANTS_0_GENIEACS_REQUIRED_TAGS", "a, b,a"}});
  auto text = load_config_text(minimal_yaml, env);
  ASSERT_TRUE(text) << failure(text);
  EXPECT_EQ(text->tenants[0].genieacs.required_tags,
            (std::vector<std::string>{"a", "b"}));
  auto dflt = load_config_text(minimal_yaml, no_env());
  ASSERT_TRUE(dflt);
  EXPECT_TRUE(dflt->tenants[0].genieacs.required_tags.empty());
}

TEST(config, bad_genieacs_required_tags_stop_start_up_naming_the_key) {
  for (auto bad :
       {"[\"has space\"]", "[\"a/b\"]", "[ok, \"\"]", "[\"t\u00e4g\"]"}) {
    auto detail = failure(
      load_config_text(std::string{minimal_yaml}
                         + "    genieacs: {required_tags: " + bad + "}\n",
                       no_env()));
    EXPECT_THAT(detail, HasSubstr("tenants[0].genieacs.required_tags: "))
      << bad;
    EXPECT_THAT(detail, HasSubstr("is not a tag")) << bad;
  }
  // A list of maps is no list of tags.
  auto detail = failure(load_config_text(
    std::string{minimal_yaml} + "    genieacs: {required_tags: [{a: b}]}\n",
    no_env()));
  EXPECT_THAT(detail, HasSubstr("tenants[0].genieacs.required_tags: "
                                "expected a list of tags"));
}

TEST(config, retention_periods_default_long_and_refuse_bad_values) {
  auto res = load_config_text(minimal_yaml, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_TRUE(res->retention.enabled);
  EXPECT_EQ(res->retention.inbox_seconds, 14 * 86'400);
  EXPECT_EQ(res->retention.sagas_seconds, 365 * 86'400);
  EXPECT_EQ(res->retention.outbox_seconds, 7 * 86'400);
  EXPECT_EQ(res->retention.batch, 1000);
  auto env = env_source::from_map({{"ISPFLOW_RETENTION_BATCH", "0"}});
  auto ok = load_config_text(
    std::string{minimal_yaml}
      + "retention: {inbox_seconds: 0, sagas_seconds: 60, pause_ms: 0}\n",
    no_env());
  ASSERT_TRUE(ok) << ispflow::render_error(ok.error());
  EXPECT_EQ(ok->retention.inbox_seconds, 0) << "0 keeps forever";
  EXPECT_EQ(ok->retention.sagas_seconds, 60);
  auto detail = failure(load_config_text(
    std::string{minimal_yaml}
      + "retention: {outbox_seconds: -1, interval_seconds: 0}\n",
    env));
  EXPECT_THAT(detail, HasSubstr("config: retention.outbox_seconds: -1 is out "
                                "of range"));
  EXPECT_THAT(detail, HasSubstr("config: retention.interval_seconds: 0 is out "
                                "of range"));
  EXPECT_THAT(detail, HasSubstr("config: retention.batch: 0 is out of range"));
}

TEST(config, drift_retention_defaults_to_90_days_and_refuses_bad_values) {
  auto res = load_config_text(minimal_yaml, no_env());
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(res->retention.drift_seconds, 90 * 86'400);
  auto keep = load_config_text(
    std::string{minimal_yaml} + "retention: {drift_seconds: 0}\n", no_env());
  ASSERT_TRUE(keep) << ispflow::render_error(keep.error());
  EXPECT_EQ(keep->retention.drift_seconds, 0) << "0 keeps forever";
  auto env
    = env_source::from_map({{"ISPFLOW_RETENTION_DRIFT_SECONDS", "3600"}});
  auto from_env = load_config_text(minimal_yaml, env);
  ASSERT_TRUE(from_env) << ispflow::render_error(from_env.error());
  EXPECT_EQ(from_env->retention.drift_seconds, 3600);
  EXPECT_THAT(failure(load_config_text(std::string{minimal_yaml}
                                         + "retention: {drift_seconds: -5}\n",
                                       no_env())),
              HasSubstr("config: retention.drift_seconds: -5 is out of range"));
  EXPECT_THAT(
    failure(load_config_text(std::string{minimal_yaml}
                               + "retention: {drift_seconds: ninety days}\n",
                             no_env())),
    HasSubstr("retention.drift_seconds"));
}

TEST(config, cluster_keys_have_defaults_and_ranges) {
  auto env = env_source::from_map({});
  auto c = load_config_text(std::string{minimal_yaml}, env);
  ASSERT_TRUE(c) << ispflow::render_error(c.error());
  EXPECT_EQ(c->cluster.instance_id, "");
  EXPECT_EQ(c->cluster.heartbeat_ms, 2000);
  EXPECT_EQ(c->cluster.lease_ms, 10000);
  EXPECT_EQ(c->cluster.drain_ms, 10000);
  auto named = load_config_text(std::string{minimal_yaml}
                                  + "instance: {id: node-a}\n"
                                    "cluster: {lease_ms: 6000}\n",
                                env);
  ASSERT_TRUE(named) << ispflow::render_error(named.error());
  EXPECT_EQ(named->cluster.instance_id, "node-a");
  EXPECT_EQ(named->cluster.lease_ms, 6000);
  auto detail = failure(load_config_text(
    std::string{minimal_yaml} + "cluster: {lease_ms: 100}\n", env));
  EXPECT_THAT(detail, HasSubstr("config: cluster.lease_ms: 100 is out of "
                                "range, expected 500..600000"));
}
