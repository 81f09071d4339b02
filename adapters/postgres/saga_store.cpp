#include "adapters/postgres/saga_store.hpp"

#include "adapters/postgres/codec.hpp"
#include "adapters/postgres/fence.hpp"
#include "adapters/postgres/session.hpp"
#include "adapters/postgres/subscriber_record.hpp"
#include "sagas/instance.hpp"
#include "sagas/states.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <pqxx/tablewriter>
#include <rapidjson/document.h>
#include <tuple>
#include <unordered_map>

namespace ispflow::adapters::postgres {

namespace {

// Times travel as int64 microseconds since the Unix epoch, both ways, so
// that nothing is lost to float or text formatting.
#define ISPFLOW_FROM_US(x)                                                     \
  "('epoch'::timestamptz + (" x ") * interval '1 microsecond')"
#define ISPFLOW_TO_US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

// A group commit writes the saga and step rows, the timer changes and the
// outbox records of a batch, under the partition fence, in one of two ways:
// - A small batch (most of them, unless the rate is high) is one statement
//   in autocommit: the rows travel as json parameters, and the fence is a
//   common table expression of the same statement (fence_ctes). One round
//   trip, where COPY costs two per table and the transaction two more.
// - A larger batch is copied (COPY, text format) into two temporary tables,
//   the outbox rows straight into `outbox`, the fence checked, and one
//   statement applies the staged rows and the timer changes. For large
//   batches COPY is cheaper for the server: parsing megabytes of json
//   parameters (and the json_to_recordset expansion) cost it more than
//   writing the rows.
// The caller has already reduced the batch to one row per saga, per step
// and per timer key, since one statement cannot touch a row twice, and left
// out the step rows it knows are stored unchanged; a step row sent unchanged
// anyway is not rewritten (no new tuple version).
#define ISPFLOW_SAGA_IN                                                        \
  "id text, name text, version int, tenant text, subscriber text,"             \
  " service_type text, causation text, payload jsonb, state text,"             \
  " \"cursor\" int, gen bigint, cancel boolean, failed_step text, error text," \
  " created bigint, updated bigint, inbox bigint, part int, replay_of text,"   \
  " inbox_payload jsonb"
#define ISPFLOW_STEP_IN                                                        \
  "saga text, idx int, name text, state text, attempts int, last_error text,"  \
  " output jsonb, first bigint, next bigint, reconcile boolean, gen bigint,"   \
  " cattempts int, cstarted bigint"

constexpr const char* staging_sql
  = "CREATE TEMP TABLE IF NOT EXISTS ispflow_saga_in (" ISPFLOW_SAGA_IN
    ") ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS ispflow_step_in (" ISPFLOW_STEP_IN
    ") ON COMMIT DELETE ROWS;";

constexpr const char* saga_in_columns
  = "id, name, version, tenant, subscriber, service_type, causation, "
    "payload, state, \"cursor\", gen, cancel, failed_step, error, created, "
    "updated, inbox, part, replay_of, inbox_payload";
constexpr const char* step_in_columns
  = "saga, idx, name, state, attempts, last_error, output, first, next, "
    "reconcile, gen, cattempts, cstarted";

// The parts of a one-statement write that a batch may have nothing for; a
// variant without them leaves out their common table expressions, which
// cost the server even when they touch no row (each opens its table and
// every index of it). Most writes are a transition of sagas already
// stored: no inbox link, no timer.
enum write_part : unsigned {
  /// `i`: new sagas' inbox events are linked to them.
  part_inbox = 1,
  /// `st`: step rows.
  part_steps = 2,
  /// `ts` and `tc`: timers set and cleared.
  part_timers = 4,
  /// `o`: outbox records.
  part_outbox = 8,
  /// `rx`, `rw`: finished sagas' subscriber records
  /// (detail::record_ctes).
  part_record = 16,
};
constexpr unsigned all_write_parts = 31;

// The write statement. Parameters: $1 timers set, $2 timers cleared (json),
// $3 this instance's id; one statement also takes $4 the saga rows, $5 the
// step rows, $6 the outbox records (json), $7 and $8 the fence
// (fence_arrays), $9 the subscriber records (records_in_one_round's
// array), and answers five more columns: the first partition the
// fence refuses, if any (see fence_ctes' `bad`). A part left out answers
// 0 for its count; `one_statement_sql` numbers the parameters a variant
// still takes.
std::string write_statement(bool one_statement,
                            unsigned parts = all_write_parts) {
  auto has = [parts](write_part x) { return (parts & x) != 0; };
  std::string sagas_in = "ispflow_saga_in";
  std::string steps_in = "ispflow_step_in";
  std::string head = "WITH ";
  // Every write is guarded by the fence in one statement.
  std::string where;
  std::string and_fenced;
  if (one_statement) {
    sagas_in = "sin";
    steps_in = "tin";
    head += "sin AS MATERIALIZED (SELECT * FROM json_to_recordset($4::json)"
            " AS x(" ISPFLOW_SAGA_IN ")), ";
    if (has(part_steps))
      head += "tin AS (SELECT * FROM json_to_recordset($5::json)"
              " AS x(" ISPFLOW_STEP_IN ")), ";
    head += detail::fence_ctes(7, 8, 3) + ", ";
    where = " WHERE NOT EXISTS (SELECT 1 FROM bad)";
    and_fenced = " AND NOT EXISTS (SELECT 1 FROM bad)";
  }
  std::string sql = head + R"sql(s AS (
  INSERT INTO sagas AS t (id, name, version, tenant_id, subscriber_id,
                          service_type, causation, payload, state, "cursor",
                          generation, cancel_requested, failed_step, error,
                          created_at, updated_at, inbox_id, kafka_partition,
                          replay_of, owner)
  SELECT id, name, version, tenant, subscriber, service_type, causation,
         payload, state, "cursor", gen, cancel, failed_step, error,
         )sql" ISPFLOW_FROM_US("created") R"sql(,
         )sql" ISPFLOW_FROM_US("updated") R"sql(,
         inbox, part,
         -- A replay's event names the saga it replays (inbox_links).
         COALESCE(replay_of, CASE WHEN inbox IS NOT NULL THEN (
           SELECT l.replay_of FROM inbox e
             JOIN inbox_links l
               ON l.source = e.source AND l.event_id = e.event_id
            WHERE e.id = inbox) END),
         NULLIF($3::text, '')
    FROM )sql" + sagas_in
                    + where + R"sql(
  ON CONFLICT (id) DO UPDATE SET
    name = excluded.name, version = excluded.version,
    tenant_id = excluded.tenant_id, subscriber_id = excluded.subscriber_id,
    service_type = excluded.service_type, causation = excluded.causation,
    payload = excluded.payload, state = excluded.state,
    "cursor" = excluded."cursor", generation = excluded.generation,
    cancel_requested = excluded.cancel_requested,
    failed_step = excluded.failed_step, error = excluded.error,
    created_at = excluded.created_at, updated_at = excluded.updated_at,
    inbox_id = COALESCE(excluded.inbox_id, t.inbox_id),
    kafka_partition = COALESCE(excluded.kafka_partition, t.kafka_partition),
    replay_of = COALESCE(excluded.replay_of, t.replay_of),
    owner = excluded.owner
  RETURNING 1
))sql";
  if (has(part_inbox))
    sql += R"sql(, i AS (
  -- The ANY makes the planner look the events up by index: without
  -- statistics on the staging table it hashed the batch against a
  -- sequential scan of the whole inbox (below some 46,000 events).
  -- The event's secrets go (inbox_payload): the saga's row has them.
  UPDATE inbox SET saga_id = x.id,
                   payload = COALESCE(x.inbox_payload, inbox.payload)
    FROM )sql"
           + sagas_in + R"sql( x
   WHERE x.inbox IS NOT NULL AND inbox.id = x.inbox
     AND inbox.id = ANY (ARRAY(SELECT inbox FROM )sql"
           + sagas_in + R"sql(
                                WHERE inbox IS NOT NULL)))sql"
           + and_fenced + R"sql(
  RETURNING 1
))sql";
  if (has(part_steps))
    sql += R"sql(, st AS (
  INSERT INTO saga_steps AS t (saga_id, idx, name, state, attempts,
                               last_error, output, first_attempt_at,
                               next_attempt_at, reconcile, generation,
                               compensation_attempts,
                               compensation_started_at, ran_by)
  SELECT saga, idx, name, state, attempts, last_error, output,
         )sql" ISPFLOW_FROM_US("first") R"sql(,
         )sql" ISPFLOW_FROM_US("next") R"sql(,
         reconcile, gen, cattempts,
         )sql" ISPFLOW_FROM_US("cstarted") R"sql(,
         NULLIF($3::text, '')
    FROM )sql"
           + steps_in + where + R"sql(
  ON CONFLICT (saga_id, idx) DO UPDATE SET
    name = excluded.name, state = excluded.state,
    attempts = excluded.attempts, last_error = excluded.last_error,
    output = excluded.output, first_attempt_at = excluded.first_attempt_at,
    next_attempt_at = excluded.next_attempt_at,
    reconcile = excluded.reconcile, generation = excluded.generation,
    compensation_attempts = excluded.compensation_attempts,
    compensation_started_at = excluded.compensation_started_at,
    ran_by = excluded.ran_by
  WHERE (t.name, t.state, t.attempts, t.last_error, t.output,
         t.first_attempt_at, t.next_attempt_at, t.reconcile, t.generation,
         t.compensation_attempts, t.compensation_started_at)
        IS DISTINCT FROM
        (excluded.name, excluded.state, excluded.attempts,
         excluded.last_error, excluded.output, excluded.first_attempt_at,
         excluded.next_attempt_at, excluded.reconcile, excluded.generation,
         excluded.compensation_attempts, excluded.compensation_started_at)
  RETURNING 1
))sql";
  if (has(part_timers))
    sql += R"sql(, ts AS (
  INSERT INTO timers (saga_id, step, generation, due_at)
  SELECT saga, step, gen, )sql" ISPFLOW_FROM_US("due") R"sql(
    FROM json_to_recordset($1::json) AS x(
      saga text, step int, gen bigint, due bigint))sql"
           + where + R"sql(
  ON CONFLICT (saga_id, step, generation) DO UPDATE SET due_at = excluded.due_at
  RETURNING 1
), tc AS (
  DELETE FROM timers t
   USING json_to_recordset($2::json) AS x(saga text, step int, gen bigint)
   WHERE t.saga_id = x.saga AND t.step = x.step AND t.generation = x.gen
     AND t.saga_id = ANY (ARRAY(SELECT y.saga FROM json_to_recordset($2::json)
                                                 AS y(saga text))))sql"
           + and_fenced + R"sql(
  RETURNING 1
))sql";
  if (one_statement && has(part_outbox))
    // Packed rows (schema/0024), in the order of their ids, as COPY stores
    // them. The records stay json text: the server reads them only to
    // check them.
    sql += R"sql(, o AS (
  INSERT INTO outbox (topic, records, record_count, headers)
  SELECT y.topic, y.records, y.n, ')sql"
           + std::string{detail::packed_row_headers} + R"sql('
    FROM ROWS FROM (json_to_recordset($6::json)
                      AS (topic text, n int, records json))
         WITH ORDINALITY AS y(topic, n, records, k)
   WHERE NOT EXISTS (SELECT 1 FROM bad)
   ORDER BY y.k
  RETURNING 1
))sql";
  if (one_statement && has(part_record))
    sql += ", " + detail::record_ctes(9, " AND NOT EXISTS (SELECT 1 FROM bad)");
  auto count = [](bool present, const char* cte) {
    return present ? std::string{"(SELECT count(*) FROM "} + cte + ")"
                   : std::string{"0"};
  };
  sql += "\nSELECT (SELECT count(*) FROM s), " + count(has(part_inbox), "i")
         + ", " + count(has(part_steps), "st") + ", "
         + count(has(part_timers), "ts") + ", " + count(has(part_timers), "tc");
  if (one_statement)
    sql += ", " + count(has(part_outbox), "o") + R"sql(, b.p, b.ep, b.claimed,
       b.instance_id, b.epoch
  FROM (SELECT 1) AS one
  LEFT JOIN (SELECT * FROM bad ORDER BY p LIMIT 1) AS b ON true)sql";
  return sql;
}

// The parameters (of write_statement's eight) that the one-statement
// variant with `parts` takes, in order.
std::vector<int> one_statement_params(unsigned parts) {
  std::vector<int> res;
  for (int n = 1; n <= 9; ++n) {
    bool used = n == 3 || n == 4 || n == 7 || n == 8
                || ((n == 1 || n == 2) && (parts & part_timers) != 0)
                || (n == 5 && (parts & part_steps) != 0)
                || (n == 6 && (parts & part_outbox) != 0)
                || (n == 9 && (parts & part_record) != 0);
    if (used)
      res.push_back(n);
  }
  return res;
}

// The one-statement variant with `parts`, its parameters numbered as
// one_statement_params lists them (a prepared statement cannot leave one of
// its parameters unused: its type would be unknown).
std::string one_statement_sql(unsigned parts) {
  auto sql = write_statement(true, parts);
  auto params = one_statement_params(parts);
  std::string res;
  res.reserve(sql.size());
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != '$' || i + 1 >= sql.size() || sql[i + 1] < '0'
        || sql[i + 1] > '9') {
      res += sql[i];
      continue;
    }
    size_t end = i + 1;
    int n = 0;
    while (end < sql.size() && sql[end] >= '0' && sql[end] <= '9')
      n = n * 10 + (sql[end++] - '0');
    auto at = std::find(params.begin(), params.end(), n);
    res += '$';
    res += std::to_string(at - params.begin() + 1);
    i = end - 1;
  }
  return res;
}

std::string one_statement_name(unsigned parts) {
  return "ispflow_saga_write_one_" + std::to_string(parts);
}

// An unstarted event whose subscriber has no open saga and no older
// unstarted event, shared fairly between tenants. `t` lists the tenants
// with unstarted events by a skip scan of inbox_unstarted_tenant_idx (one
// index probe per tenant, however long a backlog is); each tenant not in
// $2 then gives up to ceil($1 / tenants) of its oldest startable events,
// scanned in id order through the same index; the result takes every
// tenant's first event, then every tenant's second, and so on, so that one
// tenant's burst does not hide another's events behind it. Each event
// comes with its subscriber's record (subscriber_view_of), looked up by key
// (`OFFSET 0` keeps the LATERAL a subquery per event: pulled up into a
// join, planned while the table was small, it scanned every record), which
// spares the router's admission a statement of its own.
// `OFFSET 0` keeps each NOT EXISTS a correlated subplan, looked up through
// its index by (tenant, subscriber) whatever the statistics say: as an
// anti-join, with statistics that still saw an empty inbox (a burst
// arrives faster than autovacuum analyzes), the planner scanned the whole
// unstarted index once per candidate, 0.75 s for 1,000 of 3,000 events.
// The first NOT EXISTS names "unstarted" as COALESCE(saga_id,
// skipped_reason) IS NULL, the predicate of inbox_unstarted_subscriber_idx
// alone (schema/0020): a generic plan made while the inbox was small chose
// inbox_unstarted_tenant_idx, equally cheap on paper, and each candidate
// then read every older unstarted event of its tenant (quadratic in the
// backlog, 0.4 ms a candidate at 224 behind).
#define ISPFLOW_STARTABLE_SQL(partition_filter)                                 \
  "WITH RECURSIVE t(tenant_id) AS ("                                            \
  "  (SELECT u.tenant_id FROM inbox u"                                          \
  "    WHERE u.saga_id IS NULL AND u.skipped_reason IS NULL"                    \
  "    ORDER BY u.tenant_id LIMIT 1)"                                           \
  "  UNION ALL"                                                                 \
  "  SELECT (SELECT u.tenant_id FROM inbox u"                                   \
  "           WHERE u.saga_id IS NULL AND u.skipped_reason IS NULL"             \
  "             AND u.tenant_id > t.tenant_id"                                  \
  "           ORDER BY u.tenant_id LIMIT 1)"                                    \
  "    FROM t WHERE t.tenant_id IS NOT NULL"                                    \
  "), w AS ("                                                                   \
  "  SELECT tenant_id FROM t"                                                   \
  "   WHERE tenant_id IS NOT NULL AND tenant_id <> ALL($2::text[])"             \
  "), x AS ("                                                                   \
  "  SELECT c.*,"                                                               \
  "         row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.id) AS rn"   \
  "    FROM w CROSS JOIN LATERAL ("                                             \
  "    SELECT i.id, i.source, i.event_id, i.type, i.tenant_id,"                 \
  "           i.subscriber_id, i.payload::text AS payload,"                     \
  "           COALESCE(i.traceparent, '') AS traceparent, i.\"partition\""      \
  "      FROM inbox i"                                                          \
  "     WHERE i.tenant_id = w.tenant_id"                                        \
  "       AND i.saga_id IS NULL AND i.skipped_reason IS NULL " partition_filter \
  "       AND NOT EXISTS (SELECT 1 FROM inbox e"                                \
  "            WHERE COALESCE(e.saga_id, e.skipped_reason) IS NULL"             \
  "              AND e.tenant_id = i.tenant_id"                                 \
  "              AND e.subscriber_id = i.subscriber_id AND e.id < i.id"         \
  "            OFFSET 0)"                                                       \
  "       AND NOT EXISTS (SELECT 1 FROM sagas s"                                \
  "            WHERE s.tenant_id = i.tenant_id"                                 \
  "              AND s.subscriber_id = i.subscriber_id"                         \
  "              AND s.state IN ('pending', 'running', 'compensating',"         \
  "                              'needs_attention') OFFSET 0)"                  \
  "     ORDER BY i.id"                                                          \
  "     LIMIT (SELECT ($1 + count(*) - 1) / count(*) FROM w)) c"                \
  ")"                                                                           \
  ", y AS (SELECT * FROM x ORDER BY rn, id LIMIT $1)"                           \
  "SELECT y.id, y.source, y.event_id, y.type, y.tenant_id, y.subscriber_id,"    \
  "       y.payload, y.traceparent, y.\"partition\", r.state,"                  \
  "       COALESCE(r.service_type, ''), r.profile::text,"                       \
  "       COALESCE(r.last_outcome, '')"                                         \
  "  FROM y LEFT JOIN LATERAL (SELECT * FROM subscribers r"                     \
  "        WHERE r.tenant_id = y.tenant_id AND r.id = y.subscriber_id"          \
  "        OFFSET 0) r"                                                         \
  "    ON true"                                                                 \
  " ORDER BY y.rn, y.id"

// The billing event's trace context, for a saga loaded to resume.
#define ISPFLOW_SAGA_TRACE                                                     \
  ", COALESCE((SELECT i.traceparent FROM inbox i WHERE i.id = s.inbox_id),"    \
  " '')"

#define ISPFLOW_SAGA_COLUMNS                                                   \
  "s.id, s.name, s.version, s.tenant_id, s.subscriber_id, s.service_type,"     \
  " s.causation, s.payload::text, s.state, s.\"cursor\", s.generation,"        \
  " s.cancel_requested, s.failed_step, s.error, " ISPFLOW_TO_US(               \
    "s.created_at") ", " ISPFLOW_TO_US("s.updated_at") ISPFLOW_SAGA_TRACE

#define ISPFLOW_STEP_COLUMNS                                                    \
  "st.saga_id, st.idx, st.state, st.attempts, st.last_error,"                   \
  " st.output::text, " ISPFLOW_TO_US("st.first_attempt_at") ", " ISPFLOW_TO_US( \
    "st.next_attempt_at") ", st.reconcile, st.generation,"                      \
                          " st.compensation_attempts, " ISPFLOW_TO_US(          \
                            "st.compensation_started_at")

#define ISPFLOW_ACTIVE " s.state IN ('pending', 'running', 'compensating')"

constexpr const char* skip_sql = R"sql(
WITH u AS (
  UPDATE inbox SET skipped_reason = $2
   WHERE id = $1 AND saga_id IS NULL AND skipped_reason IS NULL
  RETURNING 1
), o AS (
  INSERT INTO outbox (topic, key, value, headers)
  SELECT m->>'topic', decode(m->>'key', 'base64'),
         decode(m->>'value', 'base64'), m->'headers'
    FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS y(m, k)
   WHERE EXISTS (SELECT 1 FROM u)
   ORDER BY y.k
  RETURNING 1
)
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM o)
)sql";

void prepare(pqxx::connection& conn) {
  {
    pqxx::nontransaction tx{conn};
    tx.exec(staging_sql);
    // The startable query's estimate (a recursive CTE, a limit computed in
    // the query) is high enough for PostgreSQL 15 to JIT-compile it: ~1 s
    // of compilation for a query that runs in 5-10 ms. Nothing this store
    // runs is long enough to gain from JIT.
    tx.exec("SET jit = off");
    // A writer paused inside a transaction (SIGSTOP, a long stall) holds
    // the fence lock of its partitions, and a claim by the next owner would
    // wait for it: the server ends such a session instead.
    tx.exec("SET idle_in_transaction_session_timeout = '5s'");
  }
  conn.prepare("ispflow_saga_write", write_statement(false));
  // Registered only: libpqxx prepares each on its first use.
  for (unsigned parts = 0; parts <= all_write_parts; ++parts)
    conn.prepare(one_statement_name(parts), one_statement_sql(parts));
  detail::prepare_fence(conn);
  detail::prepare_subscriber_record(conn);
  conn.prepare("ispflow_saga_startable", ISPFLOW_STARTABLE_SQL(""));
  conn.prepare("ispflow_saga_startable_in",
               ISPFLOW_STARTABLE_SQL("AND i.\"partition\" = ANY($3::int[])"));
  conn.prepare("ispflow_saga_skip", skip_sql);
  conn.prepare("ispflow_saga_skip_state",
               "SELECT saga_id, skipped_reason FROM inbox WHERE id = $1");
  conn.prepare("ispflow_saga_active", "SELECT " ISPFLOW_SAGA_COLUMNS
                                      " FROM sagas s WHERE" ISPFLOW_ACTIVE
                                      " ORDER BY s.created_at, s.id");
  conn.prepare("ispflow_saga_active_steps",
               "SELECT " ISPFLOW_STEP_COLUMNS
               " FROM saga_steps st JOIN sagas s ON s.id = st.saga_id"
               " WHERE" ISPFLOW_ACTIVE);
  conn.prepare("ispflow_saga_active_in",
               "SELECT " ISPFLOW_SAGA_COLUMNS
               " FROM sagas s WHERE" ISPFLOW_ACTIVE
               " AND s.kafka_partition = ANY($1::int[])"
               " ORDER BY s.created_at, s.id");
  conn.prepare("ispflow_saga_active_steps_in",
               "SELECT " ISPFLOW_STEP_COLUMNS
               " FROM saga_steps st JOIN sagas s ON s.id = st.saga_id"
               " WHERE" ISPFLOW_ACTIVE
               " AND s.kafka_partition = ANY($1::int[])");
  conn.prepare("ispflow_saga_one",
               "SELECT " ISPFLOW_SAGA_COLUMNS " FROM sagas s WHERE s.id = $1");
  conn.prepare("ispflow_saga_one_steps",
               "SELECT " ISPFLOW_STEP_COLUMNS
               " FROM saga_steps st WHERE st.saga_id = $1");
  conn.prepare(
    "ispflow_timers_due",
    "SELECT saga_id, step, generation, " ISPFLOW_TO_US("due_at") " FROM timers WHERE due_at <= " ISPFLOW_FROM_US(
      "$1::bigint") " ORDER BY due_at, saga_id, step, generation LIMIT $2");
  conn.prepare("ispflow_timers_next",
               "SELECT " ISPFLOW_TO_US("min(due_at)") " FROM timers");
}

#undef ISPFLOW_STARTABLE_SQL
#undef ISPFLOW_SAGA_COLUMNS
#undef ISPFLOW_SAGA_TRACE
#undef ISPFLOW_STEP_COLUMNS
#undef ISPFLOW_ACTIVE
#undef ISPFLOW_SAGA_IN
#undef ISPFLOW_STEP_IN
#undef ISPFLOW_FROM_US
#undef ISPFLOW_TO_US

// -- encoding -----------------------------------------------------------------

int64_t to_us(sagas::time_point t) {
  return std::chrono::floor<std::chrono::microseconds>(t.time_since_epoch())
    .count();
}

sagas::time_point from_us(int64_t us) {
  return sagas::time_point{
    std::chrono::duration_cast<sagas::time_point::duration>(
      std::chrono::microseconds{us})};
}

void append_int(std::string& out, int64_t x) {
  out += std::to_string(x);
}

// `xs` as a JSON object; without its secret fields (sagas::
// is_secret_field) unless `secrets`.
void append_field_map(std::string& out, const sagas::field_map& xs,
                      bool secrets = true) {
  out += '{';
  bool first = true;
  for (auto& [k, v] : xs) {
    if (!secrets && sagas::is_secret_field(k))
      continue;
    if (!first)
      out += ',';
    first = false;
    detail::append_json_text(out, k);
    out += ':';
    detail::append_json_text(out, v);
  }
  out += '}';
}

// Fields of one COPY line (text format), tab-separated.
struct copy_line {
  std::string& out;
  bool first = true;

  void next() {
    if (!first)
      out += '\t';
    first = false;
  }
  void text(std::string_view v) {
    next();
    detail::append_copy_text(out, v);
  }
  // A JSON document for a jsonb column.
  void json(std::string_view v) {
    text(v);
  }
  void number(int64_t v) {
    next();
    append_int(out, v);
  }
  void null() {
    next();
    out += "\\N";
  }
  void end() {
    // nop
  }
};

// The names of `columns` (a column list as in COPY), unquoted.
std::vector<std::string> names_of(std::string_view columns) {
  std::vector<std::string> out;
  while (!columns.empty()) {
    auto cut = columns.find(',');
    auto name = columns.substr(0, cut);
    while (!name.empty() && (name.front() == ' ' || name.front() == '"'))
      name.remove_prefix(1);
    while (!name.empty() && name.back() == '"')
      name.remove_suffix(1);
    out.emplace_back(name);
    columns = cut == std::string_view::npos ? std::string_view{}
                                            : columns.substr(cut + 1);
  }
  return out;
}

// The same fields as one object of json_to_recordset, named `keys` in order.
struct json_row {
  std::string& out;
  const std::vector<std::string>& keys;
  size_t k = 0;

  void next() {
    out += k == 0 ? '{' : ',';
    out += '"';
    out += keys[k++];
    out += "\":";
  }
  void text(std::string_view v) {
    next();
    detail::append_json_text(out, v);
  }
  void json(std::string_view v) {
    next();
    out += v;
  }
  void number(int64_t v) {
    next();
    append_int(out, v);
  }
  void null() {
    next();
    out += "null";
  }
  void end() {
    out += '}';
  }
};

// A point in time (or none) as a field of `f` (a copy_line or json_row).
template <class Row>
void put_time(Row& f, const std::optional<sagas::time_point>& t) {
  if (t)
    f.number(to_us(*t));
  else
    f.null();
}

// What a saga's first write links: its input event, partition and the
// saga an operator replay replays (saga_write's fields of the same names).
struct first_links {
  int64_t inbox_id = 0;
  int32_t partition = -1;
  const std::string* replay_of = nullptr;
  const std::string* inbox_payload = nullptr;
};

// Appends one row of ispflow_saga_in to `f` (a copy_line or json_row).
// The payload of a saga that no longer needs its secrets (sagas::
// secrets_needed) is written without them: the engine drops them from the
// instance then, but for a saga stopped in needs_attention.
template <class Row>
void append_saga(Row&& f, std::string& scratch, const sagas::saga_instance& x,
                 const sagas::saga_definition& def, const first_links& l) {
  f.text(x.id);
  f.text(x.name);
  f.number(x.version);
  f.text(x.tenant_id);
  f.text(x.subscriber_id);
  f.text(x.service_type);
  f.text(x.causation);
  scratch.clear();
  append_field_map(scratch, x.payload, sagas::secrets_needed(def, x));
  f.json(scratch);
  f.text(sagas::to_string(x.state));
  f.number(static_cast<int64_t>(x.cursor));
  f.number(x.generation);
  f.text(x.cancel_requested ? "t" : "f");
  f.text(x.failed_step);
  f.text(x.error);
  f.number(to_us(x.created_at));
  f.number(to_us(x.updated_at));
  if (l.inbox_id > 0)
    f.number(l.inbox_id);
  else
    f.null();
  if (l.partition >= 0)
    f.number(l.partition);
  else
    f.null();
  if (l.replay_of == nullptr || l.replay_of->empty())
    f.null();
  else
    f.text(*l.replay_of);
  if (l.inbox_id > 0 && l.inbox_payload != nullptr && !l.inbox_payload->empty())
    f.json(*l.inbox_payload);
  else
    f.null();
  f.end();
}

// Appends one row of ispflow_step_in to `f` (a copy_line or json_row).
template <class Row>
void append_step(Row&& f, std::string& scratch, const std::string& saga_id,
                 size_t idx, const std::string& name,
                 const sagas::step_record& x) {
  f.text(saga_id);
  f.number(static_cast<int64_t>(idx));
  f.text(name);
  f.text(sagas::to_string(x.state));
  f.number(x.attempts);
  f.text(x.last_error);
  scratch.clear();
  append_field_map(scratch, x.output);
  f.json(scratch);
  put_time(f, x.first_attempt_at);
  put_time(f, x.next_attempt_at);
  f.text(x.reconcile ? "t" : "f");
  f.number(x.generation);
  f.number(x.compensation_attempts);
  put_time(f, x.compensation_started_at);
  f.end();
}

// Sends `lines` (COPY text format, one row per line, no final newline) to
// `table` (`columns`). libpqxx 6.4's stream_to escapes and allocates field
// by field, and has no way to send lines already formatted; its older
// tablewriter has one, and is only deprecated.
#if defined(__GNUC__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
void copy_in(pqxx::transaction_base& tx, const char* table, const char* columns,
             const std::string& lines) {
  if (lines.empty())
    return;
  std::vector<std::string> cols{columns};
  pqxx::tablewriter w{tx, table, cols.begin(), cols.end()};
  // In pieces of whole lines: each call copies its text once more.
  constexpr size_t piece = 256 * 1024;
  std::string_view rest{lines};
  while (rest.size() > piece) {
    auto cut = rest.rfind('\n', piece);
    if (cut == std::string_view::npos)
      cut = rest.find('\n', piece);
    if (cut == std::string_view::npos)
      break;
    w.write_raw_line(std::string{rest.substr(0, cut)});
    rest.remove_prefix(cut + 1);
  }
  w.write_raw_line(std::string{rest});
  w.complete();
}
#if defined(__GNUC__)
#  pragma GCC diagnostic pop
#endif

// -- decoding -----------------------------------------------------------------

caf::error corrupt(const std::string& what) {
  return caf::make_error(errc::database_error, "stored saga: " + what);
}

caf::expected<sagas::field_map> parse_field_map(const char* json,
                                                const std::string& where) {
  rapidjson::Document doc;
  doc.Parse(json);
  if (doc.HasParseError() || !doc.IsObject())
    return corrupt(where + " is not a JSON object");
  sagas::field_map result;
  for (auto& m : doc.GetObject()) {
    if (!m.value.IsString())
      return corrupt(where + " holds a value that is not a string");
    result.emplace(std::string{m.name.GetString(), m.name.GetStringLength()},
                   std::string{m.value.GetString(), m.value.GetStringLength()});
  }
  return result;
}

std::optional<sagas::time_point> optional_time(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return from_us(f.as<int64_t>());
}

caf::expected<sagas::saga_instance> decode_saga(const pqxx::row& row) {
  sagas::saga_instance x;
  x.id = row[0].as<std::string>();
  x.name = row[1].as<std::string>();
  x.version = row[2].as<int32_t>();
  x.tenant_id = row[3].as<std::string>();
  x.subscriber_id = row[4].as<std::string>();
  x.service_type = row[5].as<std::string>();
  x.causation = row[6].as<std::string>();
  auto payload = parse_field_map(row[7].c_str(), "payload of " + x.id);
  if (!payload)
    return std::move(payload.error());
  x.payload = std::move(*payload);
  auto state = sagas::parse_saga_state(row[8].c_str());
  if (!state)
    return corrupt(x.id + " has unknown state " + row[8].as<std::string>());
  x.state = *state;
  x.cursor = row[9].as<size_t>();
  x.generation = row[10].as<int64_t>();
  x.cancel_requested = row[11].as<bool>();
  x.failed_step = row[12].as<std::string>();
  x.error = row[13].as<std::string>();
  x.created_at = from_us(row[14].as<int64_t>());
  x.updated_at = from_us(row[15].as<int64_t>());
  // The trace context of the billing event, so a resumed saga's calls and
  // events stay in the event's trace.
  x.traceparent = row[16].as<std::string>();
  return x;
}

caf::expected<sagas::step_record> decode_step(const pqxx::row& row,
                                              const std::string& where) {
  sagas::step_record x;
  auto state = sagas::parse_step_state(row[2].c_str());
  if (!state)
    return corrupt(where + " has unknown state " + row[2].as<std::string>());
  x.state = *state;
  x.attempts = row[3].as<int32_t>();
  x.last_error = row[4].as<std::string>();
  auto output = parse_field_map(row[5].c_str(), "output of " + where);
  if (!output)
    return std::move(output.error());
  x.output = std::move(*output);
  x.first_attempt_at = optional_time(row[6]);
  x.next_attempt_at = optional_time(row[7]);
  x.reconcile = row[8].as<bool>();
  x.generation = row[9].as<int64_t>();
  x.compensation_attempts = row[10].as<int32_t>();
  x.compensation_started_at = optional_time(row[11]);
  return x;
}

// Decodes saga rows and attaches the step rows (in any order) to them.
caf::expected<std::vector<sagas::saga_instance>>
assemble(const pqxx::result& saga_rows, const pqxx::result& step_rows) {
  std::vector<sagas::saga_instance> result;
  result.reserve(saga_rows.size());
  std::unordered_map<std::string, size_t> index;
  for (auto row : saga_rows) {
    auto x = decode_saga(row);
    if (!x)
      return std::move(x.error());
    index.emplace(x->id, result.size());
    result.push_back(std::move(*x));
  }
  std::vector<std::vector<std::optional<sagas::step_record>>> steps(
    result.size());
  for (auto row : step_rows) {
    auto id = row[0].as<std::string>();
    auto i = index.find(id);
    if (i == index.end())
      continue; // the saga row moved out of the filter between the queries
    auto idx = row[1].as<size_t>();
    auto where = "step " + std::to_string(idx) + " of " + id;
    auto x = decode_step(row, where);
    if (!x)
      return std::move(x.error());
    auto& slots = steps[i->second];
    if (slots.size() <= idx)
      slots.resize(idx + 1);
    slots[idx] = std::move(*x);
  }
  for (size_t i = 0; i < result.size(); ++i) {
    auto& inst = result[i];
    inst.steps.reserve(steps[i].size());
    for (size_t k = 0; k < steps[i].size(); ++k) {
      if (!steps[i][k])
        return corrupt(inst.id + " lacks step row " + std::to_string(k));
      inst.steps.push_back(std::move(*steps[i][k]));
    }
  }
  return result;
}

using snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

// -- fencing (schema/0010_cluster.sql) ----------------------------------------

// The epoch each fenced partition of a batch is written under.
detail::partition_fences
fences_of(const std::vector<const saga_write*>& batch) {
  detail::partition_fences out;
  for (auto* w : batch)
    detail::add_fence(out, w->fence.partition, w->fence.epoch);
  return out;
}

} // namespace

struct saga_store::impl {
  impl(std::string dsn, const sagas::saga_registry& reg)
    : db(std::move(dsn), prepare), registry(reg) {
    // The new saga's write linked its inbox event by a sequential scan
    // of the inbox, 1.5-2.9 ms a call and growing, when its generic plan
    // was made in a benchmark's first second (docs/benchmarks.md, tenth
    // round).
    db.replan(std::chrono::seconds{1}, std::chrono::seconds{64});
  }
  detail::session db;
  sagas::saga_registry registry;
  // Per open saga, a hash of each step row as this store last committed it.
  // A transition changes one or two steps; the rest are not sent again.
  // Only confirmed commits enter; a failed write and every load drop
  // entries, so a hit always means "stored exactly so by this store".
  std::unordered_map<std::string, std::vector<size_t>> written_steps;
  // Rows of the last group commit (COPY text or json), kept for their
  // capacity: a batch is megabytes, and fresh buffers of that size cost
  // page faults every time.
  std::string outbox_lines;
  std::string saga_lines;
  std::string step_lines;
  /// See set_instance_id.
  std::string instance_id;
  uint64_t stale_refused = 0;
};

saga_store::saga_store(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

saga_store::saga_store(saga_store&&) noexcept = default;
saga_store& saga_store::operator=(saga_store&&) noexcept = default;
saga_store::~saga_store() = default;

caf::expected<saga_store>
saga_store::connect(const std::string& dsn,
                    const sagas::saga_registry& registry) {
  auto ptr = std::make_unique<impl>(dsn, registry);
  if (auto err = ptr->db.open())
    return err;
  return saga_store{std::move(ptr)};
}

caf::expected<std::vector<startable_event>>
saga_store::next_startable(const startable_query& q) {
  std::vector<startable_event> result;
  if (q.limit == 0)
    return result;
  auto rows = impl_->db.run([&](pqxx::connection& conn) {
    detail::single_read r{conn};
    auto n = static_cast<int64_t>(q.limit);
    auto skip = detail::text_array(q.skip_tenants);
    if (q.partitions.empty())
      return r.exec_prepared("ispflow_saga_startable", n, skip);
    return r.exec_prepared("ispflow_saga_startable_in", n, skip,
                           detail::int_array(q.partitions));
  });
  if (!rows)
    return std::move(rows.error());
  try {
    result.reserve(rows->size());
    for (auto row : *rows) {
      startable_event e;
      e.inbox_id = row[0].as<int64_t>();
      e.source = row[1].as<std::string>();
      e.event_id = row[2].as<std::string>();
      e.type = row[3].as<std::string>();
      e.tenant_id = row[4].as<std::string>();
      e.subscriber_id = row[5].as<std::string>();
      e.payload = row[6].as<std::string>();
      e.traceparent = row[7].as<std::string>();
      e.partition = row[8].as<int32_t>();
      e.record = detail::subscriber_view_of(row, 9);
      e.with_record = true;
      result.push_back(std::move(e));
    }
  } catch (const std::exception& e) {
    return caf::make_error(errc::database_error, std::string{e.what()});
  }
  return result;
}

caf::expected<void> saga_store::write(const std::vector<saga_write>& batch) {
  std::vector<const saga_write*> refs;
  refs.reserve(batch.size());
  for (auto& w : batch)
    refs.push_back(&w);
  return write(refs);
}

caf::expected<void>
saga_store::write(const std::vector<const saga_write*>& batch) {
  if (batch.empty())
    return {};
  // One row per saga (its last element wins; first-write links are taken
  // from whichever element carries them) and the net effect per timer key.
  struct links : first_links {
    size_t last = 0;
  };
  std::unordered_map<std::string, links> sagas_seen;
  std::vector<std::string> order;
  using timer_id = std::tuple<std::string, size_t, int64_t>;
  std::map<timer_id, std::optional<sagas::time_point>> timers;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& w = *batch[i];
    auto& inst = w.instance;
    auto def = impl_->registry.find(inst.name, inst.version);
    if (def == nullptr)
      return caf::make_error(errc::invalid_input,
                             "saga " + inst.id + ": no definition " + inst.name
                               + " v" + std::to_string(inst.version));
    if (auto why = sagas::check_instance(*def, inst))
      return caf::make_error(errc::invalid_input, std::move(*why));
    auto [it, added] = sagas_seen.try_emplace(inst.id);
    if (added)
      order.push_back(inst.id);
    auto& l = it->second;
    l.last = i;
    if (w.inbox_id > 0)
      l.inbox_id = w.inbox_id;
    if (w.partition >= 0)
      l.partition = w.partition;
    if (!w.replay_of.empty())
      l.replay_of = &w.replay_of;
    if (!w.inbox_payload.empty())
      l.inbox_payload = &w.inbox_payload;
    for (auto& t : w.timers_set)
      timers[{t.saga_id, t.step, t.generation}] = t.due_at;
    for (auto& t : w.timers_cleared)
      timers[{t.saga_id, t.step, t.generation}] = std::nullopt;
  }
  auto one_statement = order.size() <= one_statement_sagas;
  auto& outbox = impl_->outbox_lines;
  outbox.clear();
  {
    // One row per topic of the batch (see detail::pack_records).
    std::vector<const std::vector<events::kafka_record>*> records;
    records.reserve(batch.size());
    for (auto* w : batch)
      records.push_back(&w->outbox);
    auto rows = detail::pack_records(records);
    if (one_statement) {
      outbox += '[';
      for (auto& row : rows) {
        if (outbox.size() > 1)
          outbox += ',';
        outbox += "{\"topic\":";
        detail::append_json_text(outbox, row.topic);
        outbox += ",\"n\":";
        append_int(outbox, static_cast<int64_t>(row.records.size()));
        outbox += ",\"records\":";
        detail::append_records_json(outbox, row);
        outbox += '}';
      }
      outbox += ']';
    } else {
      detail::append_copy_rows(outbox, rows);
      if (!outbox.empty())
        outbox.pop_back(); // the last newline
    }
  }
  auto& saga_rows = impl_->saga_lines;
  auto& step_rows = impl_->step_lines;
  saga_rows.clear();
  step_rows.clear();
  saga_rows.reserve(order.size() * 512);
  step_rows.reserve(order.size() * 1536);
  static const auto saga_keys = names_of(saga_in_columns);
  static const auto step_keys = names_of(step_in_columns);
  // COPY lines are separated by newlines, json rows by commas in an array.
  auto separator = one_statement ? ',' : '\n';
  if (one_statement) {
    saga_rows += '[';
    step_rows += '[';
  }
  // Where the rows start (after a json array's bracket).
  auto first_row = saga_rows.size();
  // The step hashes to remember once the transaction commits.
  std::vector<std::pair<const sagas::saga_instance*, std::vector<size_t>>>
    committed;
  committed.reserve(order.size());
  std::string step;
  std::string scratch;
  std::hash<std::string> hash;
  // What the one-statement write leaves out (see write_part).
  unsigned write_parts = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    auto& l = sagas_seen[order[k]];
    if (l.inbox_id > 0)
      write_parts |= part_inbox;
    auto& inst = batch[l.last]->instance;
    if (saga_rows.size() > first_row)
      saga_rows += separator;
    auto def = impl_->registry.find(inst.name, inst.version);
    if (one_statement)
      append_saga(json_row{saga_rows, saga_keys}, scratch, inst, *def, l);
    else
      append_saga(copy_line{saga_rows}, scratch, inst, *def, l);
    auto known = impl_->written_steps.find(inst.id);
    std::vector<size_t> hashes(inst.steps.size());
    for (size_t s = 0; s < inst.steps.size(); ++s) {
      step.clear();
      if (one_statement)
        append_step(json_row{step, step_keys}, scratch, inst.id, s,
                    def->steps[s].name, inst.steps[s]);
      else
        append_step(copy_line{step}, scratch, inst.id, s, def->steps[s].name,
                    inst.steps[s]);
      hashes[s] = hash(step);
      if (known != impl_->written_steps.end()
          && known->second.size() == hashes.size()
          && known->second[s] == hashes[s])
        continue;
      if (step_rows.size() > first_row)
        step_rows += separator;
      step_rows += step;
    }
    committed.emplace_back(&inst, std::move(hashes));
  }
  if (one_statement) {
    saga_rows += ']';
    step_rows += ']';
  }
  auto fences = fences_of(batch);
  std::string timers_set = "[";
  std::string timers_cleared = "[";
  for (auto& [key, due] : timers) {
    auto& out = due ? timers_set : timers_cleared;
    if (out.size() > 1)
      out += ',';
    out += "{\"saga\":";
    detail::append_json_text(out, std::get<0>(key));
    out += ",\"step\":";
    append_int(out, static_cast<int64_t>(std::get<1>(key)));
    out += ",\"gen\":";
    append_int(out, std::get<2>(key));
    if (due) {
      out += ",\"due\":";
      append_int(out, to_us(*due));
    }
    out += '}';
  }
  timers_set += ']';
  timers_cleared += ']';
  if (step_rows.size() > 2)
    write_parts |= part_steps;
  if (timers_set.size() > 2 || timers_cleared.size() > 2)
    write_parts |= part_timers;
  if (outbox.size() > 2)
    write_parts |= part_outbox;
  // Finished sagas' subscriber records are written by the same statement,
  // unless they need more than one round (a subscriber twice in the batch):
  // then a transaction applies them round by round after it.
  std::optional<std::string> records;
  if (one_statement) {
    records = detail::records_in_one_round(impl_->registry, batch);
    if (records && !records->empty())
      write_parts |= part_record;
  }
  auto record_rows = records.value_or(std::string{});
  // A constraint the batch breaks (a second saga for one inbox event, a
  // missing inbox row) fails the same way on every retry: it is refused as
  // invalid input, not reported as a database error worth retrying.
  bool broken_constraint = false;
  auto done = impl_->db.run([&](pqxx::connection& conn) -> std::string {
    try {
      if (one_statement) {
        auto [parts, epochs] = detail::fence_arrays(fences);
        auto apply = [&](pqxx::transaction_base& tx) -> std::string {
          const std::string* all[]
            = {&timers_set, &timers_cleared, &impl_->instance_id,
               &saga_rows,  &step_rows,      &outbox,
               &parts,      &epochs,         &record_rows};
          std::vector<std::string> args;
          for (int n : one_statement_params(write_parts))
            args.push_back(*all[n - 1]);
          auto row
            = tx.exec_prepared1(one_statement_name(write_parts),
                                pqxx::prepare::make_dynamic_params(args));
          if (row[6].is_null())
            return {};
          auto holder = row[9].is_null() ? std::string{}
                                         : row[9].as<std::string>();
          return detail::stale_reason(
            row[6].as<int32_t>(), row[7].as<int64_t>(),
            row[8].as<bool>() ? &holder : nullptr,
            row[10].is_null() ? 0 : row[10].as<int64_t>());
        };
        if (records) {
          // Autocommitted: a refused write has written nothing.
          detail::single_write w{conn};
          return apply(w);
        }
        pqxx::work w{conn};
        if (auto stale = apply(w); !stale.empty())
          return stale;
        detail::record_subscribers(w, impl_->registry, batch);
        w.commit();
        return {};
      }
      pqxx::work w{conn};
      // The rows first, the fence after: a COPY waits for this process to
      // send its data, and a process paused in the middle of one (SIGSTOP)
      // leaves its server session waiting in a statement, which neither
      // idle_in_transaction_session_timeout nor statement_timeout ends. The
      // fence's share lock, which holds off the next owner's claim, is
      // taken only once every row is in; from then on the server needs
      // nothing more from this process before the commit.
      copy_in(w, "ispflow_saga_in", saga_in_columns, saga_rows);
      copy_in(w, "ispflow_step_in", step_in_columns, step_rows);
      copy_in(w, "outbox", "topic, records, record_count, headers", outbox);
      // Refused: the transaction rolls back with `w`.
      if (auto stale = detail::check_fences(w, fences, impl_->instance_id);
          !stale.empty())
        return stale;
      w.exec_prepared1("ispflow_saga_write", timers_set, timers_cleared,
                       impl_->instance_id);
      detail::record_subscribers(w, impl_->registry, batch);
      w.commit();
      return {};
    } catch (const pqxx::integrity_constraint_violation& e) {
      broken_constraint = true;
      return detail::trim_message(e.what());
    }
  });
  caf::expected<void> res;
  if (!done) {
    res = std::move(done.error());
  } else if (broken_constraint) {
    res = caf::make_error(errc::invalid_input,
                          "saga write breaks a constraint: " + *done);
  } else if (!done->empty()) {
    ++impl_->stale_refused;
    res = caf::make_error(errc::stale_epoch, std::move(*done));
  }
  auto& cache = impl_->written_steps;
  for (auto& [inst, hashes] : committed) {
    auto open = inst->state == sagas::saga_state::pending
                || inst->state == sagas::saga_state::running
                || inst->state == sagas::saga_state::compensating;
    if (res && open)
      cache.insert_or_assign(inst->id, std::move(hashes));
    else
      cache.erase(inst->id);
  }
  return res;
}

void saga_store::set_instance_id(std::string id) {
  impl_->instance_id = std::move(id);
}

uint64_t saga_store::stale_writes_refused() const {
  return impl_->stale_refused;
}

void saga_store::forget_written() {
  impl_->written_steps.clear();
}

caf::expected<void>
saga_store::skip_event(int64_t inbox_id, const std::string& reason,
                       const std::vector<events::kafka_record>& outbox,
                       const write_fence& fence) {
  std::string records;
  detail::append_records_json(records, outbox);
  detail::partition_fences fences;
  detail::add_fence(fences, fence.partition, fence.epoch);
  bool stale = false;
  auto outcome = impl_->db.run([&](pqxx::connection& conn) -> std::string {
    pqxx::work w{conn};
    if (auto why = detail::check_fences(w, fences, impl_->instance_id);
        !why.empty()) {
      stale = true;
      return why;
    }
    auto row = w.exec_prepared1("ispflow_saga_skip", inbox_id, reason, records);
    if (row[0].as<int64_t>() == 1) {
      w.commit();
      return {};
    }
    auto state = w.exec_prepared("ispflow_saga_skip_state", inbox_id);
    if (state.empty())
      return "unknown inbox event " + std::to_string(inbox_id);
    if (!state[0][0].is_null())
      return "inbox event " + std::to_string(inbox_id) + " started saga "
             + state[0][0].as<std::string>();
    // Skipped already (e.g. a retry after an unknown commit outcome).
    return {};
  });
  if (!outcome)
    return std::move(outcome.error());
  if (stale) {
    ++impl_->stale_refused;
    return caf::make_error(errc::stale_epoch, std::move(*outcome));
  }
  if (!outcome->empty())
    return caf::make_error(errc::invalid_input, std::move(*outcome));
  return {};
}

caf::expected<std::vector<sagas::saga_instance>>
saga_store::load_active(const std::vector<int32_t>& partitions) {
  auto rows = impl_->db.run([&](pqxx::connection& conn) {
    snapshot r{conn};
    if (partitions.empty())
      return std::pair{r.exec_prepared("ispflow_saga_active"),
                       r.exec_prepared("ispflow_saga_active_steps")};
    auto parts = detail::int_array(partitions);
    return std::pair{r.exec_prepared("ispflow_saga_active_in", parts),
                     r.exec_prepared("ispflow_saga_active_steps_in", parts)};
  });
  // Another instance may have written these sagas since this store did.
  impl_->written_steps.clear();
  if (!rows)
    return std::move(rows.error());
  try {
    return assemble(rows->first, rows->second);
  } catch (const std::exception& e) {
    return caf::make_error(errc::database_error, std::string{e.what()});
  }
}

caf::expected<std::optional<sagas::saga_instance>>
saga_store::load(const std::string& id) {
  auto rows = impl_->db.run([&](pqxx::connection& conn) {
    snapshot r{conn};
    return std::pair{r.exec_prepared("ispflow_saga_one", id),
                     r.exec_prepared("ispflow_saga_one_steps", id)};
  });
  impl_->written_steps.erase(id);
  if (!rows)
    return std::move(rows.error());
  try {
    auto xs = assemble(rows->first, rows->second);
    if (!xs)
      return std::move(xs.error());
    if (xs->empty())
      return std::optional<sagas::saga_instance>{};
    return std::optional<sagas::saga_instance>{std::move(xs->front())};
  } catch (const std::exception& e) {
    return caf::make_error(errc::database_error, std::string{e.what()});
  }
}

caf::expected<std::vector<timer_row>>
saga_store::due_timers(sagas::time_point now, size_t limit) {
  std::vector<timer_row> result;
  if (limit == 0)
    return result;
  auto rows = impl_->db.run([&](pqxx::connection& conn) {
    detail::single_read r{conn};
    return r.exec_prepared("ispflow_timers_due", to_us(now),
                           static_cast<int64_t>(limit));
  });
  if (!rows)
    return std::move(rows.error());
  try {
    result.reserve(rows->size());
    for (auto row : *rows)
      result.push_back({row[0].as<std::string>(), row[1].as<size_t>(),
                        row[2].as<int64_t>(), from_us(row[3].as<int64_t>())});
  } catch (const std::exception& e) {
    return caf::make_error(errc::database_error, std::string{e.what()});
  }
  return result;
}

caf::expected<std::optional<sagas::time_point>> saga_store::next_due() {
  return impl_->db.run([&](pqxx::connection& conn) {
    detail::single_read r{conn};
    auto row = r.exec_prepared1("ispflow_timers_next");
    return optional_time(row[0]);
  });
}

} // namespace ispflow::adapters::postgres
