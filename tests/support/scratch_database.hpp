#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ispflow::testing {

/// A fresh, empty PostgreSQL database for one test, dropped afterwards.
/// Reads the superuser DSN from ISPFLOW_TEST_PG_DSN; when it is unset, the
/// current test fails with a message that says how to set it, and the
/// constructor throws.
class scratch_database {
public:
  /// Creates a database with a unique name.
  scratch_database();

  /// Drops the database WITH (FORCE), ending any session still on it.
  ~scratch_database();

  scratch_database(const scratch_database&) = delete;
  scratch_database& operator=(const scratch_database&) = delete;

  /// The DSN of the scratch database.
  const std::string& dsn() const {
    return dsn_;
  }

  /// The scratch database's name.
  const std::string& name() const {
    return name_;
  }

  /// Runs `sql` (one or more statements) on the scratch database in its own
  /// transaction and returns the last statement's rows; a SQL NULL is
  /// nullopt. Throws on error, so the test fails with the server's message.
  std::vector<std::vector<std::optional<std::string>>>
  query(const std::string& sql) const;

  /// The single value of a one-row, one-column `query`, "" for NULL.
  std::string value(const std::string& sql) const;

  /// The number a one-value counting query returns.
  int64_t count(const std::string& sql) const;

  /// Polls `count(sql)` every 100 ms until it equals `want` or `limit`
  /// passes; returns the last count, so a mismatch shows what was there.
  int64_t
  await_count(const std::string& sql, int64_t want,
              std::chrono::seconds limit = std::chrono::seconds{60}) const;

  /// The scans of `table` counted so far (`pg_stat_user_tables`):
  /// sequential first, then index.
  std::pair<int64_t, int64_t> scan_counts(const std::string& table) const;

  /// Polls `scan_counts(table)` every 100 ms until its index scans differ
  /// from `before`'s or `limit` passes; returns the last counts. A session
  /// reports its scans when it flushes its counters, which may wait until
  /// it has been idle for ten seconds, and always happens as it ends: end
  /// the session whose scans are awaited first.
  std::pair<int64_t, int64_t>
  await_index_scan(const std::string& table, std::pair<int64_t, int64_t> before,
                   std::chrono::seconds limit = std::chrono::seconds{30}) const;

  /// The tables whose rows in a `pg_dump --data-only` of the database hold
  /// `needle`, as text, inside a bytea column (which the dump writes as
  /// hex), or base64-encoded at any offset (as a packed outbox row holds
  /// its records' values, schema/0024). Fails the test if pg_dump fails.
  std::set<std::string> tables_holding(const std::string& needle) const;

  /// The superuser DSN from ISPFLOW_TEST_PG_DSN (fails the test if unset).
  static std::string admin_dsn();

private:
  std::string name_;
  std::string dsn_;
};

} // namespace ispflow::testing
