#include "actors/admin/store.hpp"

#include "events/errc.hpp"

#include <algorithm>
#include <mutex>
#include <pqxx/pqxx>
#include <type_traits>

namespace ispflow::actors::admin::detail {

namespace {

// Timestamps as RFC 3339 UTC text with microseconds: exact enough to be
// read back as a keyset position.
std::string ts(const std::string& col) {
  return "to_char(" + col
         + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
}

// Keys of flattened payloads and outputs that may hold secrets.
constexpr const char* secret_keys = "(password|secret|token|psk)";

std::string redacted(const std::string& col) {
  return std::string{"(SELECT COALESCE(jsonb_object_agg(k, CASE WHEN k ~* '"}
         + secret_keys + "' THEN to_jsonb('[redacted]'::text) ELSE v END), "
         + "'{}'::jsonb) FROM jsonb_each(" + col + ") AS e(k, v))";
}

std::string opt_text(const pqxx::field& f) {
  return f.is_null() ? std::string{} : f.as<std::string>();
}

std::optional<std::string> nullable(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return f.as<std::string>();
}

std::string bytes(const pqxx::field& f) {
  pqxx::binarystring b{f};
  return b.str();
}

const std::string saga_item_sql = "json_build_object('id', s.id, 'type', "
                                  "s.name, 'version', s.version, "
                                  "'tenant_id', s.tenant_id, "
                                  "'subscriber_id', s.subscriber_id, "
                                  "'service_type', s.service_type, "
                                  "'state', s.state, 'failed_step', "
                                  "s.failed_step, 'error', s.error, "
                                  "'causation', s.causation, 'created_at', "
                                  + ts("s.created_at") + ", 'updated_at', "
                                  + ts("s.updated_at")
                                  + ", 'replay_of', s.replay_of, "
                                    "'inbox_id', s.inbox_id)";

const std::string dead_letter_cols
  = "id, topic, \"partition\", \"offset\", key, value, headers::text, "
    "error, detail, tenant_id, "
    + ts("created_at") + ", " + ts("redriven_at") + ", " + ts("dismissed_at");

dead_letter_row to_dead_letter(const pqxx::row& r) {
  dead_letter_row x;
  x.id = r[0].as<int64_t>();
  x.topic = r[1].as<std::string>();
  x.partition = r[2].as<int32_t>();
  x.offset = r[3].as<int64_t>();
  if (!r[4].is_null())
    x.key = bytes(r[4]);
  x.value = bytes(r[5]);
  x.headers_json = r[6].as<std::string>();
  x.error = r[7].as<std::string>();
  x.detail = r[8].as<std::string>();
  x.tenant_id = nullable(r[9]);
  x.created_at = r[10].as<std::string>();
  x.redriven_at = nullable(r[11]);
  x.dismissed_at = nullable(r[12]);
  return x;
}

const std::string inbox_cols = "id, source, event_id, type, tenant_id, "
                               "subscriber_id, "
                               + ts("event_time")
                               + ", traceparent, payload::text, topic, "
                                 "\"partition\", \"offset\", "
                               + ts("received_at");

inbox_row to_inbox(const pqxx::row& r) {
  inbox_row x;
  x.id = r[0].as<int64_t>();
  x.source = r[1].as<std::string>();
  x.event_id = r[2].as<std::string>();
  x.type = r[3].as<std::string>();
  x.tenant_id = r[4].as<std::string>();
  x.subscriber_id = r[5].as<std::string>();
  x.event_time = opt_text(r[6]);
  x.traceparent = opt_text(r[7]);
  x.payload = r[8].as<std::string>();
  x.topic = r[9].as<std::string>();
  x.partition = r[10].as<int32_t>();
  x.offset = r[11].as<int64_t>();
  x.received_at = r[12].as<std::string>();
  return x;
}

std::string json_text_array(const std::vector<std::string>& xs) {
  std::string out = "[";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char c : xs[i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      } else {
        out += c;
      }
    }
    out += '"';
  }
  out += ']';
  return out;
}

} // namespace

struct store::impl {
  std::string dsn;
  size_t max_idle;
  std::mutex mtx;
  std::vector<std::unique_ptr<pqxx::connection>> idle;
  std::mutex records_mtx;
  std::optional<adapters::postgres::subscriber_reader> records;

  std::unique_ptr<pqxx::connection> acquire() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (!idle.empty()) {
        auto c = std::move(idle.back());
        idle.pop_back();
        return c;
      }
    }
    return std::make_unique<pqxx::connection>(dsn);
  }

  void release(std::unique_ptr<pqxx::connection> c) {
    std::lock_guard<std::mutex> guard{mtx};
    if (idle.size() < max_idle)
      idle.push_back(std::move(c));
  }

  // Runs f(conn) on a pooled connection; a broken connection is dropped.
  template <class F>
  auto run(F&& f)
    -> caf::expected<decltype(f(std::declval<pqxx::connection&>()))> {
    using result = decltype(f(std::declval<pqxx::connection&>()));
    std::unique_ptr<pqxx::connection> conn;
    try {
      conn = acquire();
      if constexpr (std::is_void_v<result>) {
        f(*conn);
        release(std::move(conn));
        return caf::expected<void>{};
      } else {
        auto res = f(*conn);
        release(std::move(conn));
        return res;
      }
    } catch (const pqxx::broken_connection& e) {
      return caf::make_error(errc::database_unavailable, std::string{e.what()});
    } catch (const pqxx::data_exception& e) {
      if (conn)
        release(std::move(conn));
      return caf::make_error(errc::invalid_input, std::string{e.what()});
    } catch (const pqxx::sql_error& e) {
      if (conn)
        release(std::move(conn));
      return caf::make_error(errc::database_error, std::string{e.what()});
    } catch (const std::exception& e) {
      return caf::make_error(errc::database_error, std::string{e.what()});
    }
  }
};

store::store(std::string dsn, size_t max_idle)
  : impl_(std::make_unique<impl>()) {
  impl_->dsn = std::move(dsn);
  impl_->max_idle = max_idle;
}

store::~store() = default;

caf::expected<void> store::ping() {
  return impl_->run([](pqxx::connection& c) {
    pqxx::nontransaction w{c};
    w.exec("SELECT 1");
  });
}

caf::expected<page> store::list_sagas(const saga_query& q) {
  static const std::string sql
    = "SELECT " + saga_item_sql + "::text, " + ts("s.created_at")
      + ", s.id FROM sagas s"
        " WHERE ($1 = '' OR s.tenant_id = $1)"
        " AND ($2 = '' OR s.subscriber_id = $2)"
        " AND ($3 = '' OR s.name = $3) AND ($4 = '' OR s.state = $4)"
        " AND s.created_at >= $5::timestamptz"
        " AND s.created_at < $6::timestamptz"
        // The first page starts at 'infinity', before every created_at.
        " AND (s.created_at, s.id) < ($7::timestamptz, $8)"
        " ORDER BY s.created_at DESC, s.id DESC LIMIT $9";
  return impl_->run([&](pqxx::connection& c) {
    pqxx::read_transaction w{c};
    auto rows = w.exec_params(sql, q.tenant, q.subscriber, q.type, q.state,
                              q.from, q.to, q.after_ts, q.after_id,
                              static_cast<int64_t>(q.limit));
    page p;
    for (const auto& r : rows) {
      p.items.push_back(r[0].as<std::string>());
      p.last_ts = r[1].as<std::string>();
      p.last_id = r[2].as<std::string>();
    }
    return p;
  });
}

caf::expected<std::optional<std::pair<std::string, std::string>>>
store::saga_detail(const std::string& id) {
  static const std::string sql
    = "SELECT s.tenant_id, (" + saga_item_sql
      + "::jsonb || jsonb_build_object("
        "'payload', "
      + redacted("s.payload")
      + ", 'cursor', s.\"cursor\", 'generation', s.generation,"
        " 'owner', s.owner,"
        " 'cancel_requested', s.cancel_requested,"
        " 'input', (SELECT jsonb_build_object('inbox_id', i.id, 'source',"
        " i.source, 'event_id', i.event_id, 'type', i.type, 'event_time', "
      + ts("i.event_time") + ", 'received_at', " + ts("i.received_at")
      + ", 'topic', i.topic, 'partition', i.\"partition\", 'offset',"
        " i.\"offset\") FROM inbox i WHERE i.id = s.inbox_id),"
        " 'steps', COALESCE((SELECT jsonb_agg(jsonb_build_object("
        "'idx', t.idx, 'name', t.name, 'state', t.state, 'attempts',"
        " t.attempts, 'ran_by', t.ran_by, 'last_error', t.last_error,"
        " 'output', "
      + redacted("t.output") + ", 'first_attempt_at', "
      + ts("t.first_attempt_at") + ", 'next_attempt_at', "
      + ts("t.next_attempt_at")
      + ", 'reconcile', t.reconcile, 'generation', t.generation,"
        " 'compensation_attempts', t.compensation_attempts,"
        " 'compensation_started_at', "
      + ts("t.compensation_started_at")
      + ") ORDER BY t.idx) FROM saga_steps t WHERE t.saga_id = s.id),"
        " '[]'::jsonb),"
        " 'replays', COALESCE((SELECT jsonb_agg(r.id ORDER BY r.created_at)"
        " FROM sagas r WHERE r.replay_of = s.id), '[]'::jsonb),"
        " 'pending_replays', COALESCE((SELECT jsonb_agg(jsonb_build_object("
        "'source', l.source, 'event_id', l.event_id, 'created_at', "
      + ts("l.created_at")
      + ") ORDER BY l.created_at) FROM inbox_links l WHERE l.replay_of ="
        " s.id), '[]'::jsonb)))::text FROM sagas s WHERE s.id = $1";
  return impl_->run([&](pqxx::connection& c)
                      -> std::optional<std::pair<std::string, std::string>> {
    pqxx::read_transaction w{c};
    auto rows = w.exec_params(sql, id);
    if (rows.empty())
      return std::nullopt;
    return std::make_pair(rows[0][0].as<std::string>(),
                          rows[0][1].as<std::string>());
  });
}

caf::expected<std::optional<saga_ref>> store::find_saga(const std::string& id) {
  return impl_->run([&](pqxx::connection& c) -> std::optional<saga_ref> {
    pqxx::read_transaction w{c};
    auto rows = w.exec_params(
      "SELECT tenant_id, state, inbox_id FROM sagas WHERE id = $1", id);
    if (rows.empty())
      return std::nullopt;
    saga_ref ref;
    ref.tenant_id = rows[0][0].as<std::string>();
    ref.state = rows[0][1].as<std::string>();
    if (!rows[0][2].is_null())
      ref.inbox_id = rows[0][2].as<int64_t>();
    return ref;
  });
}

caf::expected<std::vector<dead_letter_row>>
store::list_dead_letters(const dead_letter_query& q) {
  static const std::string sql
    = "SELECT " + dead_letter_cols
      + " FROM dead_letters WHERE ($1 = '' OR tenant_id = $1)"
        " AND (NOT $2 OR tenant_id IS NOT NULL)"
        " AND ($3 = '' OR error = $3)"
        " AND ($4 = '' OR (redriven_at IS NOT NULL) = ($4 = 'true'))"
        " AND created_at >= $5::timestamptz AND created_at < $6::timestamptz"
        " AND id < $7 ORDER BY id DESC LIMIT $8";
  return impl_->run([&](pqxx::connection& c) {
    pqxx::read_transaction w{c};
    auto rows = w.exec_params(sql, q.tenant, q.tenant_required, q.error,
                              q.redriven, q.from, q.to, q.before_id,
                              static_cast<int64_t>(q.limit));
    std::vector<dead_letter_row> out;
    for (const auto& r : rows)
      out.push_back(to_dead_letter(r));
    return out;
  });
}

caf::expected<std::optional<dead_letter_row>> store::dead_letter(int64_t id) {
  static const std::string sql = "SELECT " + dead_letter_cols
                                 + " FROM dead_letters WHERE id = $1";
  return impl_->run([&](pqxx::connection& c) -> std::optional<dead_letter_row> {
    pqxx::read_transaction w{c};
    auto rows = w.exec_params(sql, id);
    if (rows.empty())
      return std::nullopt;
    return to_dead_letter(rows[0]);
  });
}

caf::expected<std::vector<inbox_row>>
store::inbox_window(const std::string& from, const std::string& to,
                    const std::string& tenant,
                    const std::vector<std::string>& types, uint32_t limit) {
  static const std::string sql
    = "SELECT " + inbox_cols
      + " FROM inbox WHERE received_at >= $1::timestamptz"
        " AND received_at < $2::timestamptz AND ($3 = '' OR tenant_id = $3)"
        " AND (jsonb_array_length($4::jsonb) = 0 OR type IN (SELECT"
        " jsonb_array_elements_text($4::jsonb))) ORDER BY id LIMIT $5";
  return impl_->run([&](pqxx::connection& c) {
    pqxx::read_transaction w{c};
    auto rows = w.exec_params(sql, from, to, tenant, json_text_array(types),
                              static_cast<int64_t>(limit));
    std::vector<inbox_row> out;
    for (const auto& r : rows)
      out.push_back(to_inbox(r));
    return out;
  });
}

caf::expected<std::optional<inbox_row>> store::inbox_event(int64_t id) {
  static const std::string sql = "SELECT " + inbox_cols
                                 + " FROM inbox WHERE id = $1";
  return impl_->run([&](pqxx::connection& c) -> std::optional<inbox_row> {
    pqxx::read_transaction w{c};
    auto rows = w.exec_params(sql, id);
    if (rows.empty())
      return std::nullopt;
    return to_inbox(rows[0]);
  });
}

caf::expected<std::vector<adapters::postgres::subscriber_view>>
store::subscriber_records(const adapters::postgres::subscriber_key_list& keys) {
  // One reader, on a connection of its own, shared by the (rare) dry runs.
  std::lock_guard<std::mutex> guard{impl_->records_mtx};
  if (!impl_->records) {
    auto conn = adapters::postgres::subscriber_reader::connect(impl_->dsn);
    if (!conn)
      return std::move(conn.error());
    impl_->records.emplace(std::move(*conn));
  }
  return impl_->records->read(keys);
}

caf::expected<bool> store::tenant_exists(const std::string& id) {
  return impl_->run([&](pqxx::connection& c) {
    pqxx::read_transaction w{c};
    return !w.exec_params("SELECT 1 FROM tenants WHERE id = $1", id).empty();
  });
}

caf::expected<void> store::insert_links(const std::vector<inbox_link>& links) {
  return impl_->run([&](pqxx::connection& c) {
    pqxx::work w{c};
    for (auto& l : links) {
      // NULLIF turns the "none" sentinels into SQL NULL.
      w.exec_params(
        "INSERT INTO inbox_links (source, event_id, redrive_of, replay_of,"
        " dead_letter_id, token_name) VALUES ($1, $2, NULLIF($3, -1),"
        " NULLIF($4, ''), NULLIF($5, -1), $6) ON CONFLICT DO NOTHING",
        l.source, l.event_id, l.redrive_of.value_or(-1),
        l.replay_of.value_or(std::string{}), l.dead_letter_id.value_or(-1),
        l.token_name);
    }
    w.commit();
  });
}

caf::expected<bool> store::mark_redriven(int64_t id) {
  return impl_->run([&](pqxx::connection& c) {
    pqxx::work w{c};
    auto rows = w.exec_params("UPDATE dead_letters SET redriven_at = now()"
                              " WHERE id = $1 AND redriven_at IS NULL"
                              " RETURNING 1",
                              id);
    w.commit();
    return !rows.empty();
  });
}

caf::expected<bool> store::mark_dismissed(int64_t id) {
  return impl_->run([&](pqxx::connection& c) {
    pqxx::work w{c};
    auto rows = w.exec_params("UPDATE dead_letters SET dismissed_at = now()"
                              " WHERE id = $1 AND dismissed_at IS NULL"
                              " AND redriven_at IS NULL RETURNING 1",
                              id);
    w.commit();
    return !rows.empty();
  });
}

caf::expected<void> store::scrub_dead_letter(int64_t id,
                                             const std::string& value) {
  return impl_->run([&](pqxx::connection& c) {
    pqxx::work w{c};
    pqxx::binarystring bytes{value};
    w.exec_params("UPDATE dead_letters SET value = $2 WHERE id = $1"
                  " AND (redriven_at IS NOT NULL OR dismissed_at IS NOT NULL)",
                  id, bytes);
    w.commit();
  });
}

caf::expected<void>
store::scrub_refused_events(const std::vector<int64_t>& ids) {
  if (ids.empty())
    return {};
  std::string arr = "{";
  for (auto id : ids) {
    if (arr.size() > 1)
      arr += ',';
    arr += std::to_string(id);
  }
  arr += '}';
  return impl_->run([&](pqxx::connection& c) {
    pqxx::work w{c};
    w.exec_params("UPDATE inbox SET payload = ispflow_strip_secrets(payload)"
                  " WHERE id = ANY($1::bigint[]) AND skipped_reason IS NOT"
                  " NULL AND ispflow_has_secrets(payload)",
                  arr);
    w.commit();
  });
}

caf::expected<void> store::audit(const audit_entry& e) {
  return impl_->run([&](pqxx::connection& c) {
    pqxx::work w{c};
    w.exec_params("INSERT INTO admin_audit (token_name, tenant_id, action,"
                  " target, request, status, result) VALUES ($1,"
                  " NULLIF($2, ''), $3, $4, $5::jsonb, $6, $7)",
                  e.token_name, e.tenant_id.value_or(std::string{}), e.action,
                  e.target, e.request_json, e.status, e.result);
    w.commit();
  });
}

// Only a plan that walks an index reads no more than the gauges count:
// the planner prices a table scan by the table's pages and live rows, and
// cannot know that the index entries of the rows deleted since the last
// vacuum are mostly marked dead already. A refresh is one read-only
// transaction per statement; the setting ends with it.
const char* const store::gauge_plan_setting = "SET LOCAL enable_seqscan = off";

// In the relay's order (ORDER BY id), so that the walk is the primary key.
// The outbox holds only what is still to publish (schema 0023); rows an
// earlier version marked published wait for retention and are not counted.
// Counted in records: a row of a saga write packs several (schema 0024).
const char* const store::outbox_gauges_sql
  = "SELECT topic, sum(record_count), EXTRACT(EPOCH FROM now() -"
    " min(created_at))::float8 FROM (SELECT topic, record_count, created_at"
    " FROM outbox WHERE published_at IS NULL ORDER BY id) AS o GROUP BY topic"
    " ORDER BY topic";

// The predicate of sagas_subscriber_open_idx (schema/0003_sagas.sql), so
// that only that index can serve it: the index of active sagas by partition
// (sagas_partition_active_idx) holds the entries of as many finished sagas,
// which no lookup of the saga store marks dead between vacuums.
const char* const store::open_saga_gauges_sql
  = "SELECT tenant_id, name, state, count(*), EXTRACT(EPOCH FROM now() -"
    " min(updated_at))::float8 FROM sagas WHERE state IN ('pending',"
    " 'running', 'compensating', 'needs_attention') GROUP BY 1, 2, 3"
    " ORDER BY 1, 2, 3";

caf::expected<store::outbox_samples> store::outbox_gauges() {
  return impl_->run([](pqxx::connection& c) {
    pqxx::read_transaction w{c};
    w.exec(gauge_plan_setting);
    outbox_samples out;
    for (const auto& r : w.exec(outbox_gauges_sql)) {
      label_pairs topic{{"topic", r[0].as<std::string>()}};
      out.backlog.push_back(sample{topic, r[1].as<double>()});
      out.oldest_age.push_back(
        sample{std::move(topic), std::max(0.0, r[2].as<double>())});
    }
    return out;
  });
}

caf::expected<std::vector<sample>> store::dead_letters_open() {
  return impl_->run([](pqxx::connection& c) {
    pqxx::read_transaction w{c};
    auto rows = w.exec("SELECT COALESCE(tenant_id, ''), error, count(*) FROM"
                       " dead_letters WHERE redriven_at IS NULL AND"
                       " dismissed_at IS NULL GROUP BY 1, 2"
                       " ORDER BY 1, 2");
    std::vector<sample> out;
    for (const auto& r : rows)
      out.push_back(sample{{{"tenant", r[0].as<std::string>()},
                            {"error", r[1].as<std::string>()}},
                           r[2].as<double>()});
    return out;
  });
}

caf::expected<store::open_saga_samples> store::open_saga_gauges() {
  return impl_->run([](pqxx::connection& c) {
    pqxx::read_transaction w{c};
    w.exec(gauge_plan_setting);
    open_saga_samples out;
    for (const auto& r : w.exec(open_saga_gauges_sql)) {
      auto state = r[2].as<std::string>();
      label_pairs labels{{"tenant", r[0].as<std::string>()},
                         {"type", r[1].as<std::string>()},
                         {"state", state}};
      out.by_state.push_back(sample{labels, r[3].as<double>()});
      // Waiting for an operator is not idling: ispflow_sagas counts those.
      if (state != "needs_attention")
        out.oldest_active.push_back(
          sample{std::move(labels), std::max(0.0, r[4].as<double>())});
    }
    return out;
  });
}

} // namespace ispflow::actors::admin::detail
