#pragma once

#include <caf/expected.hpp>
#include <string>
#include <vector>

namespace ispflow::adapters::postgres {

/// One schema migration: a file name that starts with its version number
/// (e.g. "0002_core.sql") and the SQL it runs.
struct migration {
  std::string name;
  std::string sql;
};

/// What `apply_migrations` did, by file name in version order.
struct migration_report {
  /// Migrations run by this call.
  std::vector<std::string> applied;
  /// Migrations that were recorded before this call (checksums matched).
  std::vector<std::string> already_applied;
};

/// The schema/*.sql files compiled into the library, sorted by name.
const std::vector<migration>& embedded_migrations();

/// Applies the embedded migrations to the database at `dsn`.
caf::expected<migration_report> apply_migrations(const std::string& dsn);

/// Applies `migrations` (in version order, whatever order they are given in)
/// to the database at `dsn`. Holds a session advisory lock for the whole run,
/// so concurrent callers apply each migration once. Each pending migration
/// runs in its own transaction together with its `schema_migrations` row.
/// Fails with `errc::migration_failed` when a migration fails (detail names
/// the file and PostgreSQL's message), when an applied migration's checksum
/// changed, or when names or versions are invalid; with
/// `errc::database_unavailable` when the database cannot be reached.
caf::expected<migration_report>
apply_migrations(const std::string& dsn,
                 const std::vector<migration>& migrations);

} // namespace ispflow::adapters::postgres
