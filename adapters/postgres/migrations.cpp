#include "adapters/postgres/migrations.hpp"

#include "adapters/postgres/session.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <map>
#include <pqxx/pqxx>

namespace ispflow::adapters::postgres {

namespace detail {

// Defined in the source generated from schema/*.sql at build time.
std::vector<migration> embedded_migration_list();

} // namespace detail

namespace {

// pg_advisory_lock key shared by every ispflowd; never change it.
constexpr const char* lock_key = "29384923211428983";

struct numbered {
  int version;
  const migration* m;
};

caf::error fail(std::string detail) {
  return caf::make_error(errc::migration_failed, std::move(detail));
}

caf::expected<std::vector<numbered>>
order(const std::vector<migration>& migrations) {
  std::vector<numbered> result;
  for (auto& m : migrations) {
    size_t digits = 0;
    while (digits < m.name.size() && digits < 9 && m.name[digits] >= '0'
           && m.name[digits] <= '9')
      ++digits;
    if (digits == 0)
      return fail(m.name + ": name does not start with a version number");
    result.push_back({std::stoi(m.name.substr(0, digits)), &m});
  }
  std::sort(result.begin(), result.end(),
            [](auto& x, auto& y) { return x.version < y.version; });
  for (size_t i = 1; i < result.size(); ++i)
    if (result[i].version == result[i - 1].version)
      return fail(result[i - 1].m->name + " and " + result[i].m->name
                  + ": same version number");
  return result;
}

caf::expected<migration_report> run(pqxx::connection& conn,
                                    const std::vector<numbered>& todo) {
  migration_report report;
  {
    pqxx::work w{conn};
    w.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
           "version int PRIMARY KEY, name text NOT NULL, "
           "checksum text NOT NULL, "
           "applied_at timestamptz NOT NULL DEFAULT now())");
    w.commit();
  }
  std::map<int, std::pair<std::string, std::string>> recorded;
  {
    pqxx::read_transaction r{conn};
    for (auto row : r.exec("SELECT version, name, checksum "
                           "FROM schema_migrations"))
      recorded[row[0].as<int>()] = {row[1].as<std::string>(),
                                    row[2].as<std::string>()};
  }
  for (auto& item : todo) {
    auto& m = *item.m;
    pqxx::work w{conn};
    auto checksum
      = w.exec_params1("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                       m.sql)[0]
          .as<std::string>();
    if (auto i = recorded.find(item.version); i != recorded.end()) {
      if (i->second.second != checksum)
        return fail(m.name + ": checksum changed since it was applied as "
                    + i->second.first);
      report.already_applied.push_back(m.name);
      continue;
    }
    try {
      w.exec(m.sql);
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate().rfind("08", 0) == 0 || e.sqlstate().rfind("57P", 0) == 0)
        throw;
      return fail(m.name + ": " + detail::trim_message(e.what()));
    }
    w.exec_params("INSERT INTO schema_migrations (version, name, checksum) "
                  "VALUES ($1, $2, $3)",
                  item.version, m.name, checksum);
    w.commit();
    report.applied.push_back(m.name);
  }
  return report;
}

} // namespace

const std::vector<migration>& embedded_migrations() {
  static const std::vector<migration> list = [] {
    auto xs = detail::embedded_migration_list();
    std::sort(xs.begin(), xs.end(),
              [](auto& x, auto& y) { return x.name < y.name; });
    return xs;
  }();
  return list;
}

caf::expected<migration_report> apply_migrations(const std::string& dsn) {
  return apply_migrations(dsn, embedded_migrations());
}

caf::expected<migration_report>
apply_migrations(const std::string& dsn,
                 const std::vector<migration>& migrations) {
  auto todo = order(migrations);
  if (!todo)
    return std::move(todo.error());
  detail::session db{dsn, nullptr};
  auto result = db.run([&](pqxx::connection& conn) {
    // A session lock: released explicitly below, or by the server when the
    // connection ends, whatever happens in between.
    pqxx::nontransaction{conn}.exec(std::string{"SELECT pg_advisory_lock("}
                                    + lock_key + ")");
    auto report = run(conn, *todo);
    pqxx::nontransaction{conn}.exec(std::string{"SELECT pg_advisory_unlock("}
                                    + lock_key + ")");
    return report;
  });
  if (!result)
    return std::move(result.error());
  return std::move(*result);
}

} // namespace ispflow::adapters::postgres
