#pragma once

// Internal to ispflow_adapters_postgres: not a public header.

#include "adapters/postgres/replan.hpp"
#include "events/errc.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>
#include <utility>

namespace ispflow::adapters::postgres::detail {

/// How a read of one statement runs: without a transaction block. A
/// read_transaction added BEGIN, SET TRANSACTION READ ONLY and ROLLBACK,
/// three more round trips per read (2.8 reads per activation).
using single_read = pqxx::nontransaction;

/// How a write of one statement runs: autocommitted, without BEGIN and
/// COMMIT (one statement is atomic on its own; a connection lost during
/// it leaves the outcome as unknown as a lost COMMIT would). Two round
/// trips fewer per write.
using single_write = pqxx::nontransaction;

/// One lazily opened libpqxx connection with error translation: a broken
/// connection becomes `errc::database_unavailable` and is dropped, so the
/// next call reconnects; any other failure becomes `errc::database_error`
/// with the server's message.
class session {
public:
  /// Called on every fresh connection, e.g. to prepare statements.
  using setup_fn = std::function<void(pqxx::connection&)>;

  session(std::string dsn, setup_fn setup);

  /// Opens the connection if needed; fails as `run` does.
  caf::error open();

  /// Makes `run` drop the connection's cached plans on `replan_schedule`
  /// (first, most).
  void replan(std::chrono::milliseconds first, std::chrono::milliseconds most);

  /// How often `run` dropped the cached plans.
  uint64_t replans() const noexcept {
    return replan_.count();
  }

  /// Runs `f(conn)` and returns its result, translating exceptions.
  template <class F>
  auto run(F&& f)
    -> caf::expected<decltype(f(std::declval<pqxx::connection&>()))> {
    if (auto err = open())
      return err;
    try {
      replan_.run_if_due(*conn_);
      if constexpr (std::is_void_v<decltype(f(*conn_))>) {
        f(*conn_);
        return caf::expected<void>{};
      } else {
        return f(*conn_);
      }
    } catch (...) {
      return translate(std::current_exception());
    }
  }

private:
  caf::error translate(std::exception_ptr ep);
  caf::error reset_unavailable(caf::error err);

  std::string dsn_;
  setup_fn setup_;
  std::unique_ptr<pqxx::connection> conn_;
  replan_schedule replan_;
};

/// Maps a libpqxx (or other) exception to our error category. Sets `broken`
/// when the connection can no longer be used.
caf::error translate_exception(std::exception_ptr ep, bool& broken);

/// A server message without its trailing newline.
std::string trim_message(const char* what);

} // namespace ispflow::adapters::postgres::detail
