#include "adapters/postgres/subscriber_reader.hpp"

#include "adapters/postgres/codec.hpp"
#include "adapters/postgres/session.hpp"
#include "adapters/postgres/subscriber_record.hpp"

namespace ispflow::adapters::postgres {

namespace {

// $1: a JSON array of {"t": tenant, "s": subscriber}; one row per element,
// in its order, null columns for a subscriber without a record. The
// planner counts json_to_recordset as 100 rows: joined on the keys alone it
// hashed them against a sequential scan of every subscriber, below some
// tens of thousands of them (0.7 ms per read at 1,600, growing with the
// table). `id = ANY (ARRAY(...))` lets it find them by index at any size.
constexpr const char* read_sql = R"sql(
SELECT r.state, COALESCE(r.service_type, ''), r.profile::text,
       COALESCE(r.last_outcome, '')
  FROM (SELECT (row_number() OVER ()) - 1 AS n, t, s
          FROM json_to_recordset($1::json) AS x(t text, s text)) k
  LEFT JOIN subscribers r
    ON r.tenant_id = k.t AND r.id = k.s
   AND r.id = ANY (ARRAY(SELECT y.s FROM json_to_recordset($1::json)
                                          AS y(s text)))
 ORDER BY k.n
)sql";

void prepare(pqxx::connection& conn) {
  {
    pqxx::nontransaction tx{conn};
    tx.exec("SET jit = off");
  }
  conn.prepare("ispflow_subscriber_records", read_sql);
}

std::string keys_json(const subscriber_key_list& keys) {
  std::string out = "[";
  for (auto& [tenant, subscriber] : keys) {
    if (out.size() > 1)
      out += ',';
    out += "{\"t\":";
    detail::append_json_text(out, tenant);
    out += ",\"s\":";
    detail::append_json_text(out, subscriber);
    out += '}';
  }
  out += ']';
  return out;
}

} // namespace

sagas::subscriber_state admission_state(const subscriber_view& x) noexcept {
  if (x.last_outcome == sagas::to_string(sagas::saga_state::needs_attention))
    return sagas::subscriber_state::unknown;
  return sagas::parse_subscriber_state(x.state).value_or(
    sagas::subscriber_state::unknown);
}

struct subscriber_reader::impl {
  explicit impl(std::string dsn) : db(std::move(dsn), prepare) {
    // nop
  }
  detail::session db;
};

subscriber_reader::subscriber_reader(std::unique_ptr<impl> ptr)
  : impl_(std::move(ptr)) {
  // nop
}

subscriber_reader::subscriber_reader(subscriber_reader&&) noexcept = default;
subscriber_reader&
subscriber_reader::operator=(subscriber_reader&&) noexcept = default;
subscriber_reader::~subscriber_reader() = default;

caf::expected<subscriber_reader>
subscriber_reader::connect(const std::string& dsn) {
  auto ptr = std::make_unique<impl>(dsn);
  if (auto err = ptr->db.open())
    return err;
  return subscriber_reader{std::move(ptr)};
}

caf::expected<std::vector<subscriber_view>>
subscriber_reader::read(const subscriber_key_list& keys) {
  auto json = keys_json(keys);
  return impl_->db.run([&](pqxx::connection& conn) {
    detail::single_read tx{conn};
    auto rows = tx.exec_prepared("ispflow_subscriber_records", json);
    std::vector<subscriber_view> out;
    out.reserve(rows.size());
    for (auto row : rows)
      out.push_back(detail::subscriber_view_of(row, 0));
    return out;
  });
}

} // namespace ispflow::adapters::postgres

namespace ispflow::adapters::postgres::detail {

const char* subscriber_read_statement() noexcept {
  return read_sql;
}

} // namespace ispflow::adapters::postgres::detail
