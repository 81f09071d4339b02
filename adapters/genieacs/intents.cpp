#include "adapters/genieacs/intents.hpp"

#include "adapters/postgres/codec.hpp"
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

// What a save replaces in an intent already stored.
#define ISPFLOW_INTENT_SET                                                     \
  " DO UPDATE SET"                                                             \
  " tenant_id = EXCLUDED.tenant_id, device_id = EXCLUDED.device_id,"           \
  " unique_key = EXCLUDED.unique_key, task_id = EXCLUDED.task_id,"             \
  " state = EXCLUDED.state, detail = EXCLUDED.detail,"                         \
  " posted_at = EXCLUDED.posted_at, updated_at = now()"

constexpr const char* save_sql = ISPFLOW_INTENT_INSERT ISPFLOW_INTENT_SET;

// save_sql for several intents of distinct keys, as arrays in save_sql's
// parameter order (the held-back `done` intents).
constexpr const char* save_many_sql
  = "INSERT INTO genieacs_task_intents (operation, idempotency_key,"
    " tenant_id, device_id, unique_key, task_id, state, detail, posted_at)"
    " SELECT o, k, t, d, u, ti, s, de, to_timestamp(p::double precision"
    " / 1000) FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[])"
    " AS x(o, k, t, d, u, ti, s, de, p)"
    " ON CONFLICT (operation, idempotency_key)" ISPFLOW_INTENT_SET;
#undef ISPFLOW_INTENT_SET

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

using intent_key = std::pair<std::string, std::string>;

// A `done` intent held back (spawn_pg_intent_store's `done_linger`) and
// the answers that wait for its write: a save of the same key replaced an
// earlier one, whose answer waits as well.
struct held_save {
  task_intent intent;
  std::vector<caf::typed_response_promise<bool>> answers;
};

// At most this many intents held back: then they are written at once.
constexpr size_t max_held = 64;

// Answers the saves that waited for a write with its outcome.
void answer(std::vector<caf::typed_response_promise<bool>>& answers,
            const caf::expected<bool>& res) {
  for (auto& rp : answers) {
    if (res)
      rp.deliver(true);
    else
      rp.deliver(res.error());
  }
}

struct pg_state {
  /// One lazily (re)opened connection; its error translation is the
  /// PostgreSQL adapter's (a broken connection: database_unavailable, and
  /// the next call reconnects).
  std::optional<postgres::detail::session> db;
  std::chrono::milliseconds linger{0};
  /// The `done` intents not written yet, by (operation, key).
  std::map<intent_key, held_save> held;
  /// A tick_atom to self is on its way.
  bool tick_due = false;
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

using pg_store_ptr = intent_store_actor::stateful_pointer<pg_state>;

// Writes the held intents in one statement and answers their saves.
void write_held(pg_store_ptr self) {
  auto held = std::move(self->state.held);
  self->state.held.clear();
  if (held.empty())
    return;
  std::vector<std::string> operation, key, tenant, device, unique_key, task,
    state, detail;
  std::vector<int64_t> posted;
  for (auto& entry : held) {
    const auto& x = entry.second.intent;
    operation.push_back(x.operation);
    key.push_back(x.idempotency_key);
    tenant.push_back(x.tenant_id);
    device.push_back(x.device);
    unique_key.push_back(x.unique_key);
    task.push_back(x.task_id);
    state.emplace_back(to_string(x.state));
    detail.push_back(x.detail);
    posted.push_back(x.posted_at_ms);
  }
  namespace pd = postgres::detail;
  auto res = self->state.single([&](pqxx::nontransaction& w) {
    w.exec_prepared("genieacs_intent_save_many", pd::text_array(operation),
                    pd::text_array(key), pd::text_array(tenant),
                    pd::text_array(device), pd::text_array(unique_key),
                    pd::text_array(task), pd::text_array(state),
                    pd::text_array(detail), pd::int_array(posted));
    return true;
  });
  for (auto& entry : held)
    answer(entry.second.answers, res);
}

// The held intent of `k`, if any.
const task_intent* held_intent(const pg_state& st, const intent_key& k) {
  auto i = st.held.find(k);
  return i != st.held.end() ? &i->second.intent : nullptr;
}

intent_store_actor::behavior_type pg_store(pg_store_ptr self, std::string dsn,
                                           int64_t retention_hours,
                                           std::chrono::milliseconds linger) {
  common::name_this_thread("isp.acs.intent");
  self->state.linger = linger;
  // An exit writes what is held back first (a normal one, from a link,
  // ends nothing: CAF's default).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (!msg.reason)
      return;
    write_held(self);
    self->quit(std::move(msg.reason));
  });
  // Every fresh connection prepares the statements and purges intents
  // untouched for the retention (an index range: cheap, whichever of the
  // stores connects first).
  self->state.db.emplace(
    std::move(dsn), [retention_hours](pqxx::connection& conn) {
      conn.prepare("genieacs_intent_load", load_sql);
      conn.prepare("genieacs_intent_save", save_sql);
      conn.prepare("genieacs_intent_save_many", save_many_sql);
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
      if (auto* x = held_intent(self->state, {operation, key}))
        return intent_lookup{true, *x};
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
      // A held intent is newer than the row its key already has.
      if (auto* y = held_intent(self->state, {x.operation, x.idempotency_key}))
        return intent_lookup{true, *y};
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
      auto& st = self->state;
      intent_key k{x.operation, x.idempotency_key};
      if (x.state == intent_state::done && st.linger.count() > 0) {
        auto rp = self->make_response_promise<bool>();
        auto& h = st.held[k];
        h.intent = std::move(x);
        h.answers.push_back(rp);
        if (st.held.size() >= max_held) {
          write_held(self);
        } else if (!st.tick_due) {
          st.tick_due = true;
          self->delayed_send(self, st.linger, tick_atom_v);
        }
        return rp;
      }
      // This save replaces one held back: it answers that one too.
      std::vector<caf::typed_response_promise<bool>> replaced;
      if (auto i = st.held.find(k); i != st.held.end()) {
        replaced = std::move(i->second.answers);
        st.held.erase(i);
      }
      auto res = st.single([&](pqxx::nontransaction& w) {
        w.exec_prepared("genieacs_intent_save", x.operation, x.idempotency_key,
                        x.tenant_id, x.device, x.unique_key, x.task_id,
                        std::string{to_string(x.state)}, x.detail,
                        x.posted_at_ms);
        return true;
      });
      answer(replaced, res);
      if (!res)
        return std::move(res.error());
      return *res;
    },
    [self](tick_atom) {
      self->state.tick_due = false;
      write_held(self);
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
    [](tick_atom) {
      // Each store writes what it holds back on its own ticks.
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
    [](tick_atom) {
      // Nothing is held back.
    },
  };
}

} // namespace

intent_store_actor
spawn_pg_intent_store(caf::actor_system& sys, std::string dsn,
                      std::chrono::hours retention, size_t connections,
                      std::chrono::milliseconds done_linger) {
  auto hours = static_cast<int64_t>(retention.count());
  if (connections <= 1)
    return sys.spawn<caf::detached>(pg_store, std::move(dsn), hours,
                                    done_linger);
  std::vector<intent_store_actor> shards;
  for (size_t i = 0; i < connections; ++i)
    shards.push_back(
      sys.spawn<caf::detached>(pg_store, dsn, hours, done_linger));
  return sys.spawn(shards_front, std::move(shards));
}

intent_store_actor spawn_memory_intent_store(caf::actor_system& sys,
                                             size_t capacity) {
  return sys.spawn(memory_store, capacity);
}

} // namespace ispflow::adapters::genieacs
