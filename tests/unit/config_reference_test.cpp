// The configuration reference (`ispflowd --print-config-reference`) covers
// the schema load_config enforces, and docs/operations.md holds it as
// generated: a key added to common/config.cpp without the docs fails here.

#include "common/config.hpp"

#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sstream>

using namespace ispflow;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

const common::config_key_doc*
find(const std::vector<common::config_key_doc>& xs, std::string_view path) {
  for (auto& x : xs)
    if (x.path == path)
      return &x;
  return nullptr;
}

constexpr std::string_view begin_marker
  = "<!-- BEGIN config-reference (generated: ispflowd "
    "--print-config-reference) -->\n";
constexpr std::string_view end_marker = "<!-- END config-reference -->";

} // namespace

TEST(config_reference, lists_every_key_with_type_default_and_variable) {
  auto ref = common::config_reference();
  std::set<std::string> paths;
  for (auto& k : ref) {
    EXPECT_TRUE(paths.insert(k.path).second) << "twice: " << k.path;
    EXPECT_FALSE(k.accepts.empty()) << k.path;
    EXPECT_TRUE(k.env.starts_with("ISPFLOW_")) << k.path;
  }
  auto max_batch = find(ref, "intake.max_batch");
  ASSERT_NE(max_batch, nullptr);
  EXPECT_EQ(max_batch->accepts, "integer 1..100000");
  EXPECT_EQ(max_batch->fallback, "1000");
  EXPECT_EQ(max_batch->env, "ISPFLOW_INTAKE_MAX_BATCH");
  auto bootstrap = find(ref, "kafka.bootstrap_servers");
  ASSERT_NE(bootstrap, nullptr);
  EXPECT_TRUE(bootstrap->required);
  auto url = find(ref, "tenants[].netbox.url");
  ASSERT_NE(url, nullptr);
  EXPECT_EQ(url->env, "ISPFLOW_TENANTS_N_NETBOX_URL");
  auto level = find(ref, "log.level");
  ASSERT_NE(level, nullptr);
  EXPECT_EQ(level->accepts, "one of: trace, debug, info, warn, error");
  EXPECT_NE(find(ref, "kafka.properties.<name>"), nullptr);
  EXPECT_NE(find(ref, "nas[].secret_file"), nullptr);
  EXPECT_NE(find(ref, "intake.sources[].tenants"), nullptr);
}

TEST(config_reference, defaults_are_what_load_config_fills_in) {
  auto cfg = common::load_config_text("kafka: {bootstrap_servers: k:9092}\n"
                                      "postgres: {dsn: host=db}\n"
                                      "intake: {allow_any_source: true}\n"
                                      "tenants: [{id: t, name: T}]\n",
                                      common::env_source::from_map({}));
  ASSERT_TRUE(cfg) << render_error(cfg.error());
  auto ref = common::config_reference();
  auto fallback = [&](std::string_view p) { return find(ref, p)->fallback; };
  EXPECT_EQ(fallback("kafka.group_id"), cfg->kafka.group_id);
  EXPECT_EQ(fallback("postgres.pool_size"),
            std::to_string(cfg->postgres.pool_size));
  EXPECT_EQ(fallback("outbox.poll_interval_ms"),
            std::to_string(cfg->outbox.poll_interval_ms));
  EXPECT_EQ(fallback("admin.listen"), cfg->admin.listen);
  EXPECT_EQ(fallback("sagas.tenant_max_running"),
            std::to_string(cfg->sagas.tenant_max_running));
  EXPECT_EQ(fallback("tenants[].awx.poll_interval_ms"),
            std::to_string(cfg->tenants[0].awx.poll_interval_ms));
}

TEST(config_reference, docs_operations_md_holds_the_generated_table) {
  auto doc = read_file(ISPFLOW_SOURCE_DIR "/docs/operations.md");
  auto b = doc.find(begin_marker);
  ASSERT_NE(b, std::string::npos)
    << "docs/operations.md lacks the line " << begin_marker;
  b += begin_marker.size();
  auto e = doc.find(end_marker, b);
  ASSERT_NE(e, std::string::npos) << "docs/operations.md lacks " << end_marker;
  EXPECT_EQ(doc.substr(b, e - b), common::config_reference_markdown())
    << "docs/operations.md is out of date: replace the table between the "
       "markers with the output of `ispflowd --print-config-reference`";
}
