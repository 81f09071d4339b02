#include "tests/support/scratch_database.hpp"

#include "adapters/postgres/codec.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <gtest/gtest.h>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace ispflow::testing {

namespace {

std::string unique_name() {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  return "ispflow_test_" + std::to_string(::getpid()) + "_"
         + std::to_string(counter++) + "_" + std::to_string(rd() % 1000000);
}

// libpq keeps the last of repeated keywords, so appending dbname overrides
// the one in a key=value DSN; a URI takes it as a query parameter.
std::string with_dbname(const std::string& dsn, const std::string& db) {
  if (dsn.rfind("postgres://", 0) == 0 || dsn.rfind("postgresql://", 0) == 0)
    return dsn + (dsn.find('?') == std::string::npos ? "?" : "&")
           + "dbname=" + db;
  return dsn + " dbname=" + db;
}

} // namespace

std::string scratch_database::admin_dsn() {
  const char* env = std::getenv("ISPFLOW_TEST_PG_DSN");
  if (env == nullptr || *env == '\0') {
    const char* msg
      = "ISPFLOW_TEST_PG_DSN is not set. Run this test through ctest (the "
        "`pg` fixture sets it) or start a server with "
        "deploy/local/pg.sh start DIR PORT and export "
        "ISPFLOW_TEST_PG_DSN=\"host=DIR/sock port=PORT user=postgres "
        "dbname=postgres\"";
    ADD_FAILURE() << msg;
    throw std::runtime_error(msg);
  }
  return env;
}

scratch_database::scratch_database() {
  auto admin = admin_dsn();
  name_ = unique_name();
  pqxx::connection conn{admin};
  pqxx::nontransaction{conn}.exec("CREATE DATABASE " + conn.quote_name(name_));
  dsn_ = with_dbname(admin, name_);
}

scratch_database::~scratch_database() {
  try {
    pqxx::connection conn{admin_dsn()};
    pqxx::nontransaction{conn}.exec("DROP DATABASE IF EXISTS "
                                    + conn.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "could not drop scratch database " << name_ << ": "
                  << e.what();
  }
}

std::vector<std::vector<std::optional<std::string>>>
scratch_database::query(const std::string& sql) const {
  pqxx::connection conn{dsn_};
  pqxx::work w{conn};
  auto res = w.exec(sql);
  w.commit();
  std::vector<std::vector<std::optional<std::string>>> rows;
  for (auto row : res) {
    auto& out = rows.emplace_back();
    for (auto field : row)
      out.push_back(field.is_null() ? std::nullopt
                                    : std::optional{field.as<std::string>()});
  }
  return rows;
}

std::string scratch_database::value(const std::string& sql) const {
  auto rows = query(sql);
  if (rows.size() != 1 || rows[0].size() != 1)
    throw std::runtime_error("expected one value from: " + sql);
  return rows[0][0].value_or("");
}

int64_t scratch_database::count(const std::string& sql) const {
  return std::stoll(value(sql));
}

int64_t scratch_database::await_count(const std::string& sql, int64_t want,
                                      std::chrono::seconds limit) const {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto n = count(sql);
  while (n != want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    n = count(sql);
  }
  return n;
}

std::pair<int64_t, int64_t>
scratch_database::scan_counts(const std::string& table) const {
  pqxx::connection conn{dsn_};
  pqxx::read_transaction r{conn};
  auto row = r.exec_params1("SELECT seq_scan, idx_scan FROM"
                            " pg_stat_user_tables WHERE relname = $1",
                            table);
  return {row[0].as<int64_t>(), row[1].as<int64_t>()};
}

std::pair<int64_t, int64_t>
scratch_database::await_index_scan(const std::string& table,
                                   std::pair<int64_t, int64_t> before,
                                   std::chrono::seconds limit) const {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto now = scan_counts(table);
  while (now.second == before.second
         && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    now = scan_counts(table);
  }
  return now;
}

std::set<std::string>
scratch_database::tables_holding(const std::string& needle) const {
  std::string hex;
  for (unsigned char c : needle) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", c);
    hex += buf;
  }
  // The base64 text of `needle` after 0, 1 or 2 other bytes: the
  // characters that only its own bytes decide.
  std::vector<std::string> forms{needle, hex};
  for (size_t lead = 0; lead < 3; ++lead) {
    auto bytes = std::string(lead, '\0') + needle;
    // Whole groups of three bytes only: a padded last group depends on
    // what follows the needle.
    bytes.resize(bytes.size() / 3 * 3);
    std::string b64;
    adapters::postgres::detail::append_base64(b64, bytes);
    size_t skip = lead == 0 ? 0 : lead + 1;
    if (b64.size() > skip + 4)
      forms.push_back(b64.substr(skip));
  }
  auto cmd = "pg_dump --data-only --dbname='" + dsn_ + "'";
  auto* dump = ::popen(cmd.c_str(), "r");
  EXPECT_NE(dump, nullptr);
  std::string text;
  char buf[4096];
  for (size_t n;
       dump != nullptr && (n = std::fread(buf, 1, sizeof buf, dump)) > 0;)
    text.append(buf, n);
  EXPECT_EQ(dump != nullptr ? ::pclose(dump) : -1, 0) << "pg_dump failed";
  // COPY public.<table> (...) FROM stdin; rows; \.
  std::set<std::string> out;
  std::string table;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("COPY public.", 0) == 0)
      table = line.substr(12, line.find(' ', 12) - 12);
    else if (line == "\\.")
      table.clear();
    else if (!table.empty()
             && std::any_of(forms.begin(), forms.end(), [&](auto& f) {
                  return line.find(f) != std::string::npos;
                }))
      out.insert(table);
  }
  return out;
}

} // namespace ispflow::testing
