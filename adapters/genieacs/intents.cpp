#include "adapters/genieacs/intents.hpp"

#include "adapters/postgres/session.hpp"
#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

namespace ispflow::adapters::genieacs {

std::string_view to_string(intent_state x) noexcept {
  switch (x) {
    case intent_state::posting:
      return "posting";
    case intent_state::queued:
      return "queued";
    case intent_state::done:
      return "done";
    case intent_state::faulted:
      return "faulted";
    case intent_state::unsent:
      break;
  }
  return "unsent";
}

bool parse_intent_state(std::string_view text, intent_state& out) noexcept {
  for (auto x :
       {intent_state::posting, intent_state::queued, intent_state::done,
        intent_state::faulted, intent_state::unsent})
    if (text == to_string(x)) {
      out = x;
      return true;
    }
  return false;
}

namespace {

// -- PostgreSQL ---------------------------------------------------------------

// An intent's columns as load_sql reads them (intent_of), and its insert
// from parameters $1..$9 (save_atom's order).
#define ISPFLOW_INTENT_COLUMNS                                                 \
  "tenant_id, device_id, unique_key, task_id, state, detail,"                  \
  " (extract(epoch FROM posted_at) * 1000)::bigint"
#define ISPFLOW_INTENT_INSERT                                                  \
  "INSERT INTO genieacs_task_intents (operation, idempotency_key,"             \
  " tenant_id, device_id, unique_key, task_id, state, detail, posted_at)"      \
  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"                                   \
  " to_timestamp($9::double precision / 1000))"                                \
  " ON CONFLICT (operation, idempotency_key)"

constexpr const char* load_sql
  = "SELECT " ISPFLOW_INTENT_COLUMNS " FROM genieacs_task_intents"
    " WHERE operation = $1 AND idempotency_key = $2";

constexpr const char* save_sql = ISPFLOW_INTENT_INSERT
  " DO UPDATE SET"
  " tenant_id = EXCLUDED.tenant_id, device_id = EXCLUDED.device_id,"
  " unique_key = EXCLUDED.unique_key, task_id = EXCLUDED.task_id,"
  " state = EXCLUDED.state, detail = EXCLUDED.detail,"
  " posted_at = EXCLUDED.posted_at, updated_at = now()";

// save_sql's insert when the key has no intent; else the stored intent, as
// load_sql reads it. The select's snapshot predates the insert: it sees the
// row only when the insert found it there. A row committed by another
// session while the insert waited is seen by neither (no row, nothing
// inserted): the store then reads it with load_sql.
constexpr const char* load_or_insert_sql
  = "WITH ins AS (" ISPFLOW_INTENT_INSERT " DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), " ISPFLOW_INTENT_COLUMNS
    " FROM (SELECT 1) AS one LEFT JOIN genieacs_task_intents"
    " ON operation = $1 AND idempotency_key = $2";

#undef ISPFLOW_INTENT_INSERT
#undef ISPFLOW_INTENT_COLUMNS

constexpr const char* purge_sql
  = "DELETE FROM genieacs_task_intents"
    " WHERE updated_at < now() - make_interval(hours => $1)";

// An intent from columns first.. of `r` (tenant_id, device_id, unique_key,
// task_id, state, detail, posted_at in ms).
task_intent intent_of(const pqxx::row& r, int first, std::string operation,
                      std::string key) {
  task_intent x;
  x.operation = std::move(operation);
  x.idempotency_key = std::move(key);
  x.tenant_id = r[first].as<std::string>();
  x.device = r[first + 1].as<std::string>();
  x.unique_key = r[first + 2].as<std::string>();
  x.task_id = r[first + 3].as<std::string>();
  if (!parse_intent_state(r[first + 4].as<std::string>(), x.state))
    x.state = intent_state::posting;
  x.detail = r[first + 5].as<std::string>();
  x.posted_at_ms = r[first + 6].as<int64_t>();
  return x;
}

struct pg_state {
  /// One lazily (re)opened connection; its error translation is the
  /// PostgreSQL adapter's (a broken connection: database_unavailable, and
  /// the next call reconnects).
  std::optional<postgres::detail::session> db;
  static inline const char* name = "ispflow.genieacs.intents";

  // Runs `f` on its one statement (a look-up or an upsert), without a
  // transaction block (postgres::detail::single_read and single_write).
  template <class F>
  auto single(F&& f) {
    return db->run([&](pqxx::connection& conn) {
      postgres::detail::single_write w{conn};
      return f(w);
    });
  }
};

intent_store_actor::behavior_type
pg_store(intent_store_actor::stateful_pointer<pg_state> self, std::string dsn,
         int64_t retention_hours) {
  common::name_this_thread("isp.acs.intent");
  // Every fresh connection prepares the statements and purges intents
  // untouched for the retention (an index range: cheap, whichever of the
  // stores connects first).
  self->state.db.emplace(
    std::move(dsn), [retention_hours](pqxx::connection& conn) {
      conn.prepare("genieacs_intent_load", load_sql);
      conn.prepare("genieacs_intent_save", save_sql);
      conn.prepare("genieacs_intent_load_or_insert", load_or_insert_sql);
      conn.prepare("genieacs_intent_purge", purge_sql);
      pqxx::work purge{conn};
      purge.exec_prepared("genieacs_intent_purge",
                          static_cast<int>(retention_hours));
      purge.commit();
    });
  return {
    [self](load_atom, std::string& operation,
           std::string& key) -> caf::result<intent_lookup> {
      auto res = self->state.single([&](pqxx::nontransaction& w) {
        intent_lookup out;
        auto rows = w.exec_prepared("genieacs_intent_load", operation, key);
        if (rows.empty())
          return out;
        out.found = true;
        out.intent = intent_of(rows[0], 0, operation, key);
        return out;
      });
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [self](load_atom, task_intent& x) -> caf::result<intent_lookup> {
      auto res = self->state.single([&](pqxx::nontransaction& w) {
        intent_lookup out;
        auto row = w.exec_prepared1("genieacs_intent_load_or_insert",
                                    x.operation, x.idempotency_key, x.tenant_id,
                                    x.device, x.unique_key, x.task_id,
                                    std::string{to_string(x.state)}, x.detail,
                                    x.posted_at_ms);
        if (row[0].as<int64_t>() == 1)
          return out;
        if (row[1].is_null()) {
          // Committed by another session while the insert waited.
          auto rows = w.exec_prepared("genieacs_intent_load", x.operation,
                                      x.idempotency_key);
          if (rows.empty())
            throw pqxx::failure{"genieacs task intent " + x.operation + " "
                                + x.idempotency_key
                                + ": neither inserted nor found"};
          out.found = true;
          out.intent = intent_of(rows[0], 0, x.operation, x.idempotency_key);
          return out;
        }
        out.found = true;
        out.intent = intent_of(row, 1, x.operation, x.idempotency_key);
        return out;
      });
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [self](save_atom, task_intent& x) -> caf::result<bool> {
      auto res = self->state.single([&](pqxx::nontransaction& w) {
        w.exec_prepared("genieacs_intent_save", x.operation, x.idempotency_key,
                        x.tenant_id, x.device, x.unique_key, x.task_id,
                        std::string{to_string(x.state)}, x.detail,
                        x.posted_at_ms);
        return true;
      });
      if (!res)
        return std::move(res.error());
      return *res;
    },
  };
}

// The front of several PostgreSQL stores: each (operation, key) always goes
// to the same one, so one operation's intents stay in order, while the
// operations of different CPEs commit on different connections.
struct shards_state {
  std::vector<intent_store_actor> shards;
  static inline const char* name = "ispflow.genieacs.intents";

  const intent_store_actor& of(const std::string& operation,
                               const std::string& key) const {
    auto h = std::hash<std::string>{}(operation + '\n' + key);
    return shards[h % shards.size()];
  }
};

intent_store_actor::behavior_type
shards_front(intent_store_actor::stateful_pointer<shards_state> self,
             std::vector<intent_store_actor> shards) {
  for (auto& x : shards)
    self->link_to(x);
  self->state.shards = std::move(shards);
  return {
    [self](load_atom, std::string& operation, std::string& key) {
      const auto& to = self->state.of(operation, key);
      return self->delegate(to, load_atom_v, std::move(operation),
                            std::move(key));
    },
    [self](save_atom, task_intent& x) {
      const auto& to = self->state.of(x.operation, x.idempotency_key);
      return self->delegate(to, save_atom_v, std::move(x));
    },
    [self](load_atom, task_intent& x) {
      const auto& to = self->state.of(x.operation, x.idempotency_key);
      return self->delegate(to, load_atom_v, std::move(x));
    },
  };
}

// -- memory -------------------------------------------------------------------

struct memory_state {
  size_t capacity = 0;
  std::map<std::pair<std::string, std::string>, task_intent> rows;
  std::deque<std::pair<std::string, std::string>> order;
  static inline const char* name = "ispflow.genieacs.intents";
};

void memory_save(memory_state& st, task_intent x) {
  std::pair<std::string, std::string> k{x.operation, x.idempotency_key};
  if (st.rows.count(k) == 0) {
    while (st.rows.size() >= st.capacity && !st.order.empty()) {
      st.rows.erase(st.order.front());
      st.order.pop_front();
    }
    st.order.push_back(k);
  }
  st.rows[k] = std::move(x);
}

intent_store_actor::behavior_type
memory_store(intent_store_actor::stateful_pointer<memory_state> self,
             size_t capacity) {
  self->state.capacity = capacity == 0 ? 1 : capacity;
  return {
    [self](load_atom, std::string& operation, std::string& key) {
      intent_lookup out;
      auto& rows = self->state.rows;
      if (auto i = rows.find({operation, key}); i != rows.end()) {
        out.found = true;
        out.intent = i->second;
      }
      return out;
    },
    [self](save_atom, task_intent& x) {
      memory_save(self->state, std::move(x));
      return true;
    },
    [self](load_atom, task_intent& x) {
      intent_lookup out;
      auto& rows = self->state.rows;
      if (auto i = rows.find({x.operation, x.idempotency_key});
          i != rows.end()) {
        out.found = true;
        out.intent = i->second;
        return out;
      }
      memory_save(self->state, std::move(x));
      return out;
    },
  };
}

} // namespace

intent_store_actor
spawn_pg_intent_store(caf::actor_system& sys, std::string dsn,
                      std::chrono::hours retention, size_t connections) {
  auto hours = static_cast<int64_t>(retention.count());
  if (connections <= 1)
    return sys.spawn<caf::detached>(pg_store, std::move(dsn), hours);
  std::vector<intent_store_actor> shards;
  for (size_t i = 0; i < connections; ++i)
    shards.push_back(sys.spawn<caf::detached>(pg_store, dsn, hours));
  return sys.spawn(shards_front, std::move(shards));
}

intent_store_actor spawn_memory_intent_store(caf::actor_system& sys,
                                             size_t capacity) {
  return sys.spawn(memory_store, capacity);
}

} // namespace ispflow::adapters::genieacs
