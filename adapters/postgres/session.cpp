#include "adapters/postgres/session.hpp"

#include <string_view>

namespace ispflow::adapters::postgres::detail {

std::string trim_message(const char* what) {
  std::string msg = what != nullptr ? what : "";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
    msg.pop_back();
  return msg;
}

namespace {

// SQLSTATE classes and codes that mean the session is gone: class 08
// (connection exception) and 57P01..57P03 (admin or crash shutdown).
bool connection_lost(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01"
         || sqlstate == "57P02" || sqlstate == "57P03";
}

} // namespace

caf::error translate_exception(std::exception_ptr ep, bool& broken) {
  try {
    std::rethrow_exception(ep);
  } catch (const pqxx::broken_connection& e) {
    broken = true;
    return caf::make_error(errc::database_unavailable, trim_message(e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    broken = true;
    return caf::make_error(errc::database_unavailable,
                           "commit outcome unknown: " + trim_message(e.what()));
  } catch (const pqxx::sql_error& e) {
    if (connection_lost(e.sqlstate())) {
      broken = true;
      return caf::make_error(errc::database_unavailable,
                             trim_message(e.what()));
    }
    return caf::make_error(errc::database_error, trim_message(e.what()));
  } catch (const std::exception& e) {
    return caf::make_error(errc::database_error, trim_message(e.what()));
  } catch (...) {
    return caf::make_error(errc::database_error,
                           std::string{"unknown exception"});
  }
}

session::session(std::string dsn, setup_fn setup)
  : dsn_(std::move(dsn)), setup_(std::move(setup)) {
  // nop
}

caf::error session::open() {
  if (conn_ && conn_->is_open())
    return {};
  conn_.reset();
  try {
    auto conn = std::make_unique<pqxx::connection>(dsn_);
    if (setup_)
      setup_(*conn);
    conn_ = std::move(conn);
    replan_.restart();
    return {};
  } catch (...) {
    bool broken = false;
    return translate_exception(std::current_exception(), broken);
  }
}

void session::replan(std::chrono::milliseconds first,
                     std::chrono::milliseconds most) {
  replan_ = replan_schedule{first, most};
}

caf::error session::translate(std::exception_ptr ep) {
  bool broken = false;
  auto err = translate_exception(ep, broken);
  if (broken)
    conn_.reset();
  else if (!conn_->is_open())
    // libpq noticed the loss while libpqxx reported something else.
    return reset_unavailable(std::move(err));
  return err;
}

caf::error session::reset_unavailable(caf::error err) {
  conn_.reset();
  std::string detail;
  if (err.context().match_elements<std::string>())
    detail = err.context().get_as<std::string>(0);
  return caf::make_error(errc::database_unavailable, std::move(detail));
}

} // namespace ispflow::adapters::postgres::detail
