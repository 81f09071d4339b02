#include "adapters/radius/observe.hpp"

#include "events/errc.hpp"

#include <exception>
#include <pqxx/pqxx>

namespace ispflow::adapters::radius {

namespace {

// One row per username of the page ($1, a text[]): whether radcheck has a
// password row and a Reject, its groups by priority, its open sessions,
// whether ispflow's account keeps its password row (never the row itself)
// and the key id of its sealed password (never the blob).
// Each subquery is an index look-up by username (radcheck_username,
// radusergroup_username, radacct_open_by_username, radius_accounts'
// unique username).
constexpr const char* observe_sql
  = "SELECT u.username, "
    "EXISTS (SELECT 1 FROM radcheck c WHERE c.username = u.username "
    "AND c.attribute LIKE '%-Password'), "
    "EXISTS (SELECT 1 FROM radcheck c WHERE c.username = u.username "
    "AND c.attribute = 'Auth-Type' AND c.value = 'Reject'), "
    "COALESCE((SELECT string_agg(g.groupname, E'\\n' "
    "ORDER BY g.priority, g.id) FROM radusergroup g "
    "WHERE g.username = u.username), ''), "
    "(SELECT count(*) FROM radacct a WHERE a.username = u.username "
    "AND a.acctstoptime IS NULL), "
    "COALESCE(r.password_value IS NOT NULL, false), "
    "COALESCE(split_part(r.password_sealed, ':', 2), '') "
    "FROM unnest($1::text[]) AS u(username) "
    "LEFT JOIN radius_accounts r ON r.username = u.username";

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::string::size_type pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos)
      end = text.size();
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

} // namespace

struct observer::impl {
  std::string dsn;
  std::unique_ptr<pqxx::connection> conn;
  uint64_t statements = 0;
};

observer::observer(std::string dsn) : impl_(std::make_unique<impl>()) {
  impl_->dsn = std::move(dsn);
}

observer::~observer() = default;
observer::observer(observer&&) noexcept = default;
observer& observer::operator=(observer&&) noexcept = default;

uint64_t observer::statements() const noexcept {
  return impl_->statements;
}

std::string text_array_literal(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char c : xs[i]) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

caf::expected<std::map<std::string, observed_user>>
observer::observe(const std::vector<std::string>& usernames) {
  std::map<std::string, observed_user> out;
  if (usernames.empty())
    return out;
  auto& st = *impl_;
  try {
    if (!st.conn || !st.conn->is_open()) {
      st.conn = std::make_unique<pqxx::connection>(st.dsn);
      // A page's estimate can pass the JIT threshold (COMMON facts): a
      // second of compilation for a millisecond query.
      pqxx::nontransaction{*st.conn}.exec("SET jit = off");
      st.conn->prepare("drift_radius_observe", observe_sql);
    }
    pqxx::read_transaction tx{*st.conn};
    ++st.statements;
    auto rows = tx.exec_prepared("drift_radius_observe",
                                 text_array_literal(usernames));
    for (const auto& row : rows) {
      observed_user u;
      u.has_password = row[1].as<bool>();
      u.rejected = row[2].as<bool>();
      u.groups = split_lines(row[3].as<std::string>());
      u.open_sessions = row[4].as<int64_t>();
      u.stored_password = row[5].as<bool>();
      u.sealed_key_id = row[6].as<std::string>();
      out[row[0].as<std::string>()] = std::move(u);
    }
    tx.commit();
    return out;
  } catch (const pqxx::broken_connection& e) {
    st.conn.reset();
    return caf::make_error(errc::database_unavailable, std::string{e.what()});
  } catch (const std::exception& e) {
    st.conn.reset();
    return caf::make_error(errc::database_unavailable, std::string{e.what()});
  }
}

} // namespace ispflow::adapters::radius
