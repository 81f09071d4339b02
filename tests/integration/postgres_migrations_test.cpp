#include "adapters/postgres/migrations.hpp"
#include "events/errc.hpp"
#include "tests/support/scratch_database.hpp"

#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace pg = ispflow::adapters::postgres;
using ispflow::errc;
using ispflow::testing::scratch_database;
using testing::ElementsAre;
using testing::ElementsAreArray;
using testing::HasSubstr;
using testing::IsEmpty;

namespace {

bool has_code(const caf::error& err, errc code) {
  return err.category() == caf::atom("ispflow")
         && err.code() == static_cast<uint8_t>(code);
}

// Every file of schema/, in the order they apply.
const std::vector<std::string> schema_files{
  "0001_freeradius.sql",
  "0002_core.sql",
  "0003_sagas.sql",
  "0004_radius.sql",
  "0005_admin.sql",
  "0006_saga_lookups.sql",
  "0007_genieacs_intents.sql",
  "0008_inbox_per_tenant.sql",
  "0009_tenant_fair_startable.sql",
  "0010_cluster.sql",
  "0011_subscriber_record.sql",
  "0012_operator_commands.sql",
  "0013_drift.sql",
  "0015_radacct_open_by_username.sql",
  "0016_drift_repair.sql",
  "0017_radius_stored_password.sql",
  "0018_sealed_credentials.sql",
  "0019_inbox_without_secrets.sql",
  "0020_subscriber_lookups.sql",
  "0021_radius_first_provision.sql",
  "0022_radius_ssha_hex.sql",
  "0023_indexes_nothing_reads.sql",
  "0024_outbox_packed_rows.sql",
  "0025_radius_first_provision_by_index.sql"};

std::string table_exists_sql(const std::string& table) {
  return "SELECT to_regclass('public." + table + "') IS NOT NULL";
}

} // namespace

TEST(postgres_migrations, embeds_the_schema_files_in_order) {
  std::vector<std::string> names;
  for (auto& m : pg::embedded_migrations())
    names.push_back(m.name);
  EXPECT_THAT(names, ElementsAreArray(schema_files));
}

TEST(postgres_migrations,
     embeds_freeradius_schema_unchanged_after_one_comment) {
  std::ifstream in{"/etc/freeradius/3.0/mods-config/sql/main/postgresql/"
                   "schema.sql",
                   std::ios::binary};
  if (!in)
    GTEST_SKIP() << "FreeRADIUS's schema.sql is not installed";
  std::ostringstream buf;
  buf << in.rdbuf();
  auto upstream = buf.str();
  auto& sql = pg::embedded_migrations().at(0).sql;
  auto first_line = sql.find('\n');
  ASSERT_NE(first_line, std::string::npos);
  EXPECT_EQ(sql.substr(0, 3), "-- ");
  EXPECT_EQ(sql.substr(first_line + 1), upstream);
}

TEST(postgres_migrations, apply_on_an_empty_database_creates_all_tables) {
  scratch_database db;
  auto report = pg::apply_migrations(db.dsn());
  ASSERT_TRUE(report) << ispflow::render_error(report.error());
  EXPECT_THAT(report->applied, ElementsAreArray(schema_files));
  EXPECT_THAT(report->already_applied, IsEmpty());
  for (auto table :
       {"radacct",    "radcheck",     "radgroupcheck",   "radgroupreply",
        "radreply",   "radusergroup", "radpostauth",     "nas",
        "nasreload",  "tenants",      "plans",           "subscribers",
        "inbox",      "outbox",       "dead_letters",    "sagas",
        "saga_steps", "timers",       "radius_accounts", "admin_audit",
        "inbox_links", "genieacs_task_intents", "partition_owners",
        "cluster_instances", "operator_commands", "drift_scans",
        "drift_findings"})
    EXPECT_EQ(db.value(table_exists_sql(table)), "t") << table;
  EXPECT_EQ(db.value("SELECT string_agg(version || ':' || name, ',' "
                     "ORDER BY version) FROM schema_migrations"),
            "1:0001_freeradius.sql,2:0002_core.sql,3:0003_sagas.sql,"
            "4:0004_radius.sql,5:0005_admin.sql,6:0006_saga_lookups.sql,"
            "7:0007_genieacs_intents.sql,8:0008_inbox_per_tenant.sql,"
            "9:0009_tenant_fair_startable.sql,10:0010_cluster.sql,"
            "11:0011_subscriber_record.sql,"
            "12:0012_operator_commands.sql,13:0013_drift.sql,"
            "15:0015_radacct_open_by_username.sql,"
            "16:0016_drift_repair.sql,"
            "17:0017_radius_stored_password.sql,"
            "18:0018_sealed_credentials.sql,"
            "19:0019_inbox_without_secrets.sql,"
            "20:0020_subscriber_lookups.sql,"
            "21:0021_radius_first_provision.sql,"
            "22:0022_radius_ssha_hex.sql,"
            "23:0023_indexes_nothing_reads.sql,"
            "24:0024_outbox_packed_rows.sql,"
            "25:0025_radius_first_provision_by_index.sql");
}

TEST(postgres_migrations, applying_twice_changes_nothing) {
  scratch_database db;
  ASSERT_TRUE(pg::apply_migrations(db.dsn()));
  auto before = db.value("SELECT string_agg(version || checksum || "
                         "applied_at, ',' ORDER BY version) "
                         "FROM schema_migrations");
  auto report = pg::apply_migrations(db.dsn());
  ASSERT_TRUE(report) << ispflow::render_error(report.error());
  EXPECT_THAT(report->applied, IsEmpty());
  EXPECT_THAT(report->already_applied, ElementsAreArray(schema_files));
  EXPECT_EQ(db.value("SELECT string_agg(version || checksum || applied_at, "
                     "',' ORDER BY version) FROM schema_migrations"),
            before);
}

TEST(postgres_migrations, failing_migration_names_its_file_and_the_sql_error) {
  scratch_database db;
  std::vector<pg::migration> ms{
    {"0001_good.sql", "CREATE TABLE good (x int);"},
    {"0002_bad.sql",
     "CREATE TABLE half_done (x int);\nSELECT * FROM no_such_table;"},
    {"0003_later.sql", "CREATE TABLE later (x int);"},
  };
  auto report = pg::apply_migrations(db.dsn(), ms);
  ASSERT_FALSE(report);
  EXPECT_TRUE(has_code(report.error(), errc::migration_failed));
  auto text = ispflow::render_error(report.error());
  EXPECT_THAT(text, HasSubstr("0002_bad.sql"));
  EXPECT_THAT(text, HasSubstr("relation \"no_such_table\" does not exist"));
  EXPECT_EQ(db.value("SELECT string_agg(name, ',') FROM schema_migrations"),
            "0001_good.sql");
  EXPECT_EQ(db.value(table_exists_sql("good")), "t");
  EXPECT_EQ(db.value(table_exists_sql("half_done")), "f");
  EXPECT_EQ(db.value(table_exists_sql("later")), "f");
}

TEST(postgres_migrations, applies_in_version_order_whatever_the_list_order) {
  scratch_database db;
  std::vector<pg::migration> ms{
    {"0002_child.sql", "CREATE TABLE child (id int REFERENCES parent);"},
    {"0001_parent.sql", "CREATE TABLE parent (id int PRIMARY KEY);"},
  };
  auto report = pg::apply_migrations(db.dsn(), ms);
  ASSERT_TRUE(report) << ispflow::render_error(report.error());
  EXPECT_THAT(report->applied,
              ElementsAre("0001_parent.sql", "0002_child.sql"));
}

TEST(postgres_migrations,
     changed_checksum_of_an_applied_migration_is_an_error) {
  scratch_database db;
  ASSERT_TRUE(pg::apply_migrations(
    db.dsn(), {{"0001_a.sql", "CREATE TABLE a (x int);"}}));
  auto report = pg::apply_migrations(
    db.dsn(), {{"0001_a.sql", "CREATE TABLE a (x bigint);"}});
  ASSERT_FALSE(report);
  EXPECT_TRUE(has_code(report.error(), errc::migration_failed));
  EXPECT_THAT(ispflow::render_error(report.error()),
              HasSubstr("0001_a.sql: checksum changed"));
}

TEST(postgres_migrations, rejects_names_without_a_version_number) {
  scratch_database db;
  auto report = pg::apply_migrations(db.dsn(), {{"core.sql", "SELECT 1;"}});
  ASSERT_FALSE(report);
  EXPECT_TRUE(has_code(report.error(), errc::migration_failed));
  EXPECT_THAT(ispflow::render_error(report.error()), HasSubstr("core.sql"));
}

TEST(postgres_migrations, concurrent_apply_runs_each_migration_once) {
  scratch_database db;
  // The sleep keeps the first caller inside the lock while the second
  // arrives; without the lock the second would fail on CREATE TABLE.
  std::vector<pg::migration> ms{
    {"0001_slow.sql", "SELECT pg_sleep(0.5); CREATE TABLE slow (x int);"},
    {"0002_next.sql", "CREATE TABLE next (x int);"},
  };
  std::optional<caf::expected<pg::migration_report>> o1;
  std::optional<caf::expected<pg::migration_report>> o2;
  std::thread t1{[&] { o1 = pg::apply_migrations(db.dsn(), ms); }};
  std::thread t2{[&] { o2 = pg::apply_migrations(db.dsn(), ms); }};
  t1.join();
  t2.join();
  auto& r1 = *o1;
  auto& r2 = *o2;
  ASSERT_TRUE(r1) << ispflow::render_error(r1.error());
  ASSERT_TRUE(r2) << ispflow::render_error(r2.error());
  EXPECT_EQ(r1->applied.size() + r2->applied.size(), 2u);
  EXPECT_EQ(r1->already_applied.size() + r2->already_applied.size(), 2u);
  EXPECT_EQ(db.value("SELECT count(*) FROM schema_migrations"), "2");
}

TEST(postgres_migrations, unreachable_database_is_reported_unavailable) {
  auto report = pg::apply_migrations(
    "host=/nonexistent-ispflow-socket-dir port=1 user=postgres "
    "connect_timeout=2");
  ASSERT_FALSE(report);
  EXPECT_TRUE(has_code(report.error(), errc::database_unavailable))
    << ispflow::render_error(report.error());
}
