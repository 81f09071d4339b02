#include "adapters/postgres/intake_store.hpp"

#include "adapters/postgres/codec.hpp"
#include "adapters/postgres/session.hpp"
#include "events/cloud_event.hpp"
#include "events/intake_check.hpp"
#include "events/intake_errors.hpp"

#include <optional>

namespace ispflow::adapters::postgres {

namespace {

// The whole batch in one statement: each table gets one jsonb parameter,
// expanded with jsonb_to_recordset; duplicates inside the batch are removed
// first (the earliest wins), ON CONFLICT skips rows already stored, and the
// outbox receives the emits of exactly the rows that RETURNING reports.
// Insertion follows batch order, so inbox and outbox ids keep input order.
constexpr const char* write_sql = R"sql(
WITH a_in AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    n int, source text, id text, type text, "time" text, tenant text,
    subject text, tp text, payload jsonb, topic text, "partition" int,
    "offset" bigint, emits jsonb)
), a AS (
  SELECT DISTINCT ON (tenant, source, id) * FROM a_in
   ORDER BY tenant, source, id, n
), ai AS (
  INSERT INTO inbox (source, event_id, type, tenant_id, subscriber_id,
                     event_time, traceparent, payload, topic, "partition",
                     "offset")
  SELECT source, id, type, tenant, subject, "time"::timestamptz, tp,
         COALESCE(payload, 'null'::jsonb), topic, "partition", "offset"
    FROM a ORDER BY n
  ON CONFLICT (tenant_id, source, event_id) DO NOTHING
  RETURNING tenant_id, source, event_id
), d_in AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(
    n int, topic text, "partition" int, "offset" bigint, key text,
    value text, headers jsonb, error text, detail text, tenant text,
    emits jsonb)
), d AS (
  SELECT DISTINCT ON (topic, "partition", "offset") * FROM d_in
   ORDER BY topic, "partition", "offset", n
), di AS (
  INSERT INTO dead_letters (topic, "partition", "offset", key, value,
                            headers, error, detail, tenant_id)
  SELECT topic, "partition", "offset", decode(key, 'base64'),
         decode(value, 'base64'), headers, error, detail, tenant
    FROM d ORDER BY n
  ON CONFLICT (topic, "partition", "offset") DO NOTHING
  RETURNING topic, "partition", "offset"
), emitted AS (
  SELECT 0 AS kind, a.n, a.emits
    FROM a JOIN ai ON ai.tenant_id = a.tenant AND ai.source = a.source
                  AND ai.event_id = a.id
  UNION ALL
  SELECT 1, d.n, d.emits
    FROM d JOIN di ON di.topic = d.topic AND di."partition" = d."partition"
                  AND di."offset" = d."offset"
), o AS (
  INSERT INTO outbox (topic, key, value, headers)
  SELECT m->>'topic', decode(m->>'key', 'base64'),
         decode(m->>'value', 'base64'), m->'headers'
    FROM emitted, jsonb_array_elements(emitted.emits) WITH ORDINALITY
         AS y(m, k)
   ORDER BY emitted.kind, emitted.n, y.k
  RETURNING 1
)
SELECT (SELECT count(*) FROM ai), (SELECT count(*) FROM di),
       (SELECT count(*) FROM o)
)sql";

constexpr const char* upsert_tenants_sql = R"sql(
INSERT INTO tenants AS t (id, name)
SELECT DISTINCT ON (id) id, name
  FROM jsonb_to_recordset($1::jsonb) AS x(n int, id text, name text)
 ORDER BY id, n DESC
ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = now()
 WHERE t.name IS DISTINCT FROM excluded.name
)sql";

void prepare(pqxx::connection& conn) {
  conn.prepare("ispflow_intake_write", write_sql);
  conn.prepare("ispflow_upsert_tenants", upsert_tenants_sql);
}

void append_nullable_text(std::string& out, const std::string& s) {
  if (s.empty())
    out += "null";
  else
    detail::append_json_text(out, s);
}

std::string accepted_json(const std::vector<events::accepted_event>& xs) {
  std::string out;
  out.reserve(xs.size() * 1024);
  out += '[';
  size_t n = 0;
  for (auto& x : xs) {
    if (n > 0)
      out += ',';
    out += "{\"n\":";
    out += std::to_string(n++);
    out += ",\"source\":";
    detail::append_json_text(out, x.source);
    out += ",\"id\":";
    detail::append_json_text(out, x.id);
    out += ",\"type\":";
    detail::append_json_text(out, x.type);
    out += ",\"time\":";
    // An unparseable ce_time must not fail the whole batch.
    if (detail::is_rfc3339(x.time))
      detail::append_json_text(out, x.time);
    else
      out += "null";
    out += ",\"tenant\":";
    detail::append_json_text(out, x.tenant_id);
    out += ",\"subject\":";
    detail::append_json_text(out, x.subject);
    out += ",\"tp\":";
    append_nullable_text(out, x.traceparent);
    // `data` is intake's validated, compact JSON: embedded as it is.
    out += ",\"payload\":";
    out += x.data.empty() ? std::string_view{"null"} : x.data;
    out += ",\"topic\":";
    detail::append_json_text(out, x.origin.topic);
    out += ",\"partition\":";
    out += std::to_string(x.origin.partition);
    out += ",\"offset\":";
    out += std::to_string(x.origin.offset);
    out += ",\"emits\":";
    detail::append_records_json(out, x.emits);
    out += '}';
  }
  out += ']';
  return out;
}

std::string dead_letters_json(const std::vector<events::dead_letter>& xs) {
  std::string out;
  out.reserve(xs.size() * 1024);
  out += '[';
  size_t n = 0;
  for (auto& x : xs) {
    auto& r = x.record;
    if (n > 0)
      out += ',';
    out += "{\"n\":";
    out += std::to_string(n++);
    out += ",\"topic\":";
    detail::append_json_text(out, r.topic);
    out += ",\"partition\":";
    out += std::to_string(r.partition);
    out += ",\"offset\":";
    out += std::to_string(r.offset);
    if (r.null_key) {
      out += ",\"key\":null";
    } else {
      out += ",\"key\":\"";
      detail::append_base64(out, r.key);
      out += '"';
    }
    out += ",\"value\":\"";
    detail::append_base64(out, r.value);
    out += "\",\"headers\":";
    detail::append_headers_json(out, r.headers);
    out += ",\"error\":";
    detail::append_json_text(out, x.error);
    out += ",\"detail\":";
    detail::append_json_text(out, x.detail);
    out += ",\"tenant\":";
    // The tenant is whatever ce_tenantid said, if it is text at all and
    // short enough to be a tenant id: an oversized one would not fit the
    // dead_letters_tenant_idx btree and fail the whole batch.
    auto tenant = r.header("ce_tenantid");
    if (tenant != nullptr && !tenant->null_value && !tenant->value.empty()
        && tenant->value.size() <= events::intake_limits::tenant_bytes
        && detail::is_clean_text(tenant->value))
      detail::append_json_text(out, tenant->value);
    else
      out += "null";
    out += ",\"emits\":";
    detail::append_records_json(out, x.emits);
    out += '}';
  }
  out += ']';
  return out;
}

} // namespace

struct intake_store::impl {
  explicit impl(std::string dsn) : db(std::move(dsn), prepare) {
    // nop
  }
  detail::session db;
};

intake_store::intake_store(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

intake_store::intake_store(intake_store&&) noexcept = default;
intake_store& intake_store::operator=(intake_store&&) noexcept = default;
intake_store::~intake_store() = default;

caf::expected<intake_store> intake_store::connect(const std::string& dsn) {
  auto ptr = std::make_unique<impl>(dsn);
  if (auto err = ptr->db.open())
    return err;
  return intake_store{std::move(ptr)};
}

namespace {

// SQLSTATE classes that mean "this data cannot be stored", as opposed to a
// lost connection or an overloaded server: 22 data exception (e.g. invalid
// UTF-8, value out of range), 23 integrity constraint violation, 54 program
// limit exceeded (e.g. an index row over the btree limit). Retrying such a
// batch as it is fails forever.
bool data_error(const std::string& sqlstate) {
  return sqlstate.rfind("22", 0) == 0 || sqlstate.rfind("23", 0) == 0
         || sqlstate.rfind("54", 0) == 0;
}

void add(events::intake_outcome& total, const events::intake_outcome& x) {
  total.recorded += x.recorded;
  total.duplicates += x.duplicates;
  total.dead_lettered += x.dead_lettered;
}

} // namespace

caf::expected<events::intake_outcome>
intake_store::write_once(const events::intake_batch& batch,
                         std::optional<std::string>& refused) {
  events::intake_outcome outcome;
  refused.reset();
  if (batch.accepted.empty() && batch.rejected.empty())
    return outcome;
  auto accepted = accepted_json(batch.accepted);
  auto rejected = dead_letters_json(batch.rejected);
  return impl_->db.run([&](pqxx::connection& conn) {
    try {
      // One statement: autocommitted (a retry after an unknown outcome
      // finds the events recorded, as duplicates).
      detail::single_write w{conn};
      auto row = w.exec_prepared1("ispflow_intake_write", accepted, rejected);
      outcome.recorded = row[0].as<uint32_t>();
      outcome.duplicates = static_cast<uint32_t>(batch.accepted.size())
                           - outcome.recorded;
      outcome.dead_lettered = row[1].as<uint32_t>();
    } catch (const pqxx::sql_error& e) {
      if (!data_error(e.sqlstate()))
        throw;
      refused = "SQLSTATE " + e.sqlstate() + ": "
                + detail::trim_message(e.what());
    }
    return outcome;
  });
}

caf::expected<events::intake_outcome>
intake_store::write(const events::intake_batch& batch) {
  std::optional<std::string> refused;
  auto res = write_once(batch, refused);
  if (!res || !refused)
    return res;
  if (batch.dead_letter_topic.empty())
    return caf::make_error(errc::database_error, *refused);
  // A data error: split the batch in halves, in order, until each refused
  // part is one record. An accepted event the database refuses becomes an
  // `unstorable` dead letter; the rest of the batch is recorded.
  auto size = batch.accepted.size() + batch.rejected.size();
  if (size == 1) {
    if (batch.accepted.empty())
      return caf::make_error(errc::database_error,
                             "dead letter not storable: " + *refused);
    auto& ev = batch.accepted.front();
    events::intake_batch single;
    single.dead_letter_topic = batch.dead_letter_topic;
    single.rejected.push_back(
      events::refuse_record(ev.origin, batch.dead_letter_topic,
                            events::intake_errors::unstorable, *refused));
    res = write_once(single, refused);
    if (res && refused)
      return caf::make_error(errc::database_error,
                             "dead letter not storable: " + *refused);
    return res;
  }
  events::intake_outcome total;
  auto half = size / 2;
  for (auto [from, to] : {std::pair{size_t{0}, half}, {half, size}}) {
    events::intake_batch part;
    part.dead_letter_topic = batch.dead_letter_topic;
    for (auto i = from; i < to; ++i) {
      if (i < batch.accepted.size())
        part.accepted.push_back(batch.accepted[i]);
      else
        part.rejected.push_back(batch.rejected[i - batch.accepted.size()]);
    }
    auto out = write(part);
    if (!out)
      return out;
    add(total, *out);
  }
  return total;
}

caf::expected<void> intake_store::upsert_tenants(
  const std::vector<std::pair<std::string, std::string>>& id_name) {
  if (id_name.empty())
    return {};
  std::string json = "[";
  size_t n = 0;
  for (auto& [id, name] : id_name) {
    if (n > 0)
      json += ',';
    json += "{\"n\":";
    json += std::to_string(n++);
    json += ",\"id\":";
    detail::append_json_text(json, id);
    json += ",\"name\":";
    detail::append_json_text(json, name);
    json += '}';
  }
  json += ']';
  return impl_->db.run([&](pqxx::connection& conn) {
    pqxx::work w{conn};
    w.exec_prepared0("ispflow_upsert_tenants", json);
    w.commit();
  });
}

} // namespace ispflow::adapters::postgres
