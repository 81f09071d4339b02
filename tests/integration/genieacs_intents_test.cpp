// The GenieACS adapter's task intents in PostgreSQL (schema/0007): written
// before the task POST, they survive a restart, so a factory reset that ran
// just before the process died is reconciled instead of posted again.

#include "adapters/genieacs/adapter.hpp"
#include "adapters/genieacs/intents.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/resilience/guard.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sim/genieacs/server.hpp"
#include "tests/support/scratch_database.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <gtest/gtest.h>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace ispflow;
using namespace ispflow::adapters;
using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
using genieacs::intent_state;
using genieacs::task_intent;

const std::string dev_a = "202BC1-BM632w-0000000001";

struct genieacs_intents : ::testing::Test {
  ispflow::testing::scratch_database db;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<sim::genieacs::server> srv;
  http::http_actor http;
  genieacs::intent_store_actor store;
  genieacs::adapter_actor adapter;

  void SetUp() override {
    auto migrated = postgres::apply_migrations(db.dsn());
    ASSERT_TRUE(migrated) << render_error(migrated.error());
    auto s = sim::genieacs::server::start({});
    ASSERT_TRUE(s);
    srv = std::move(*s);
    cfg.add_message_types<caf::id_block::ispflow>();
    sys = std::make_unique<caf::actor_system>(cfg);
    start();
  }

  void TearDown() override {
    stop(caf::exit_reason::user_shutdown);
    sys.reset();
    if (srv)
      srv->stop();
  }

  // Everything a process has: the HTTP actor, the store, the adapter.
  void start() {
    http = http::spawn_http_actor(*sys);
    store = genieacs::spawn_pg_intent_store(*sys, db.dsn());
    genieacs::tenant_settings ts;
    ts.base_url = "http://127.0.0.1:" + std::to_string(srv->port());
    ts.connection_request_timeout = 500ms;
    ts.session_allowance = 15s;
    genieacs::adapter_settings as;
    as.tenants["t1"] = ts;
    adapter = genieacs::spawn_genieacs_adapter(
      *sys, as, http, std::make_shared<resilience::guard>(), store);
  }

  // Handles are dropped too: the actor system waits for its detached
  // actors (the PostgreSQL store) to be destroyed.
  void stop(caf::exit_reason why) {
    caf::anon_send_exit(adapter, why);
    caf::anon_send_exit(store, why);
    caf::anon_send_exit(http, why);
    adapter = nullptr;
    store = nullptr;
    http = nullptr;
  }

  adapter_request reset(bool reconcile) {
    adapter_request req;
    req.tenant_id = "t1";
    req.subscriber_id = "sub-1";
    req.system = "genieacs";
    req.operation = "genieacs.factory_reset";
    req.idempotency_key = "saga-9/factory_reset_cpe/0";
    req.reconcile = reconcile;
    req.input["access.cpe.serial"] = "0000000001";
    return req;
  }

  adapter_reply ask(adapter_request req) {
    adapter_reply res;
    caf::scoped_actor self{*sys};
    self->request(adapter, 30s, invoke_atom_v, std::move(req))
      .receive([&](adapter_reply& r) { res = std::move(r); },
               [&](caf::error& err) {
                 ADD_FAILURE() << to_string(err);
                 res.outcome = adapter_outcome::permanent_failure;
               });
    return res;
  }

  // A `posting` intent of tenant t1 for dev_a.
  static task_intent intent(std::string operation, std::string key,
                            int64_t posted_at_ms) {
    task_intent x;
    x.unique_key = "ispflow:" + operation + ":" + key;
    x.operation = std::move(operation);
    x.idempotency_key = std::move(key);
    x.tenant_id = "t1";
    x.device = dev_a;
    x.posted_at_ms = posted_at_ms;
    return x;
  }

  size_t resets() {
    auto xs = srv->executed(dev_a);
    return static_cast<size_t>(
      std::count(xs.begin(), xs.end(), "factoryReset"));
  }
};

TEST_F(genieacs_intents, saved_intents_are_loaded_and_replaced) {
  caf::scoped_actor self{*sys};
  auto x = intent("genieacs.factory_reset", "k/1/0", 1'796'280'628'123);
  self->request(store, 10s, save_atom_v, x)
    .receive([](bool ok) { EXPECT_TRUE(ok); },
             [](caf::error& err) { FAIL() << to_string(err); });
  x.state = intent_state::queued;
  x.task_id = "5f0000000000000000000001";
  self->request(store, 10s, save_atom_v, x)
    .receive([](bool ok) { EXPECT_TRUE(ok); },
             [](caf::error& err) { FAIL() << to_string(err); });
  self->request(store, 10s, load_atom_v, x.operation, x.idempotency_key)
    .receive(
      [&](genieacs::intent_lookup& got) {
        ASSERT_TRUE(got.found);
        EXPECT_EQ(got.intent.device, dev_a);
        EXPECT_EQ(got.intent.unique_key, x.unique_key);
        EXPECT_EQ(got.intent.task_id, x.task_id);
        EXPECT_EQ(got.intent.state, intent_state::queued);
        EXPECT_EQ(got.intent.posted_at_ms, x.posted_at_ms);
      },
      [](caf::error& err) { FAIL() << to_string(err); });
  self->request(store, 10s, load_atom_v, x.operation, std::string{"other"})
    .receive([](genieacs::intent_lookup& got) { EXPECT_FALSE(got.found); },
             [](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_EQ(db.count("SELECT count(*) FROM genieacs_task_intents"), 1);
}

// A first attempt's look-up records its `posting` intent when the key has
// none (one round trip); a key with one answers it, untouched. The memory
// store does the same.
TEST_F(genieacs_intents, a_look_up_records_the_intent_only_when_none_exists) {
  auto memory = genieacs::spawn_memory_intent_store(*sys);
  caf::scoped_actor self{*sys};
  auto x = intent("genieacs.configure_cpe", "k/2/0", 1'796'280'628'456);
  for (const auto& to : {store, memory}) {
    auto look = [&](const task_intent& y) {
      genieacs::intent_lookup out;
      self->request(to, 10s, load_atom_v, y)
        .receive([&](genieacs::intent_lookup& got) { out = std::move(got); },
                 [](caf::error& err) { FAIL() << to_string(err); });
      return out;
    };
    EXPECT_FALSE(look(x).found);
    // The second look-up finds the first's row, not its own.
    auto later = x;
    later.device = "other-device";
    later.posted_at_ms += 5000;
    auto got = look(later);
    ASSERT_TRUE(got.found);
    EXPECT_EQ(got.intent.device, dev_a);
    EXPECT_EQ(got.intent.state, intent_state::posting);
    EXPECT_EQ(got.intent.unique_key, x.unique_key);
    EXPECT_EQ(got.intent.posted_at_ms, x.posted_at_ms);
    self->request(to, 10s, load_atom_v, x.operation, x.idempotency_key)
      .receive(
        [&](genieacs::intent_lookup& y) {
          ASSERT_TRUE(y.found);
          EXPECT_EQ(y.intent.device, dev_a);
        },
        [](caf::error& err) { FAIL() << to_string(err); });
  }
  EXPECT_EQ(db.count("SELECT count(*) FROM genieacs_task_intents WHERE"
                     " state = 'posting' AND device_id = '"
                     + dev_a + "'"),
            1);
  caf::anon_send_exit(memory, caf::exit_reason::user_shutdown);
}

TEST_F(genieacs_intents, operations_spread_over_connections_each_in_order) {
  // 40 operations, each saved twice (posting, then queued) without waiting,
  // then read back: each sees its own last save, and the saves went out on
  // more than one connection.
  caf::scoped_actor self{*sys};
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 40; ++i) {
      task_intent x;
      x.operation = "genieacs.configure_cpe";
      x.idempotency_key = "saga-" + std::to_string(i) + "/configure_cpe/0";
      x.tenant_id = "t1";
      x.device = dev_a;
      x.unique_key = "u-" + std::to_string(i);
      x.state = round == 0 ? intent_state::posting : intent_state::queued;
      x.task_id = round == 0 ? "" : "task-" + std::to_string(i);
      self->send(store, save_atom_v, std::move(x));
    }
  for (int i = 0; i < 40; ++i)
    self
      ->request(store, 10s, load_atom_v, std::string{"genieacs.configure_cpe"},
                "saga-" + std::to_string(i) + "/configure_cpe/0")
      .receive(
        [&](genieacs::intent_lookup& got) {
          ASSERT_TRUE(got.found) << i;
          EXPECT_EQ(got.intent.state, intent_state::queued) << i;
          EXPECT_EQ(got.intent.task_id, "task-" + std::to_string(i));
        },
        [](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_GT(db.count("SELECT count(DISTINCT pid) FROM pg_stat_activity"
                     " WHERE datname = current_database()"
                     " AND pid <> pg_backend_pid()"),
            1);
}

// `done` intents (tasks that ran) are held back and written together in one
// statement; a look-up meanwhile answers the held intent, a save of another
// state for its key replaces it, and an exit writes what is held.
TEST_F(genieacs_intents, done_intents_are_written_together) {
  auto lazy = genieacs::spawn_pg_intent_store(*sys, db.dsn(), 720h, 1, 2s);
  caf::scoped_actor self{*sys};
  auto op = std::string{"genieacs.configure_cpe"};
  auto key = [](int i) { return "saga-" + std::to_string(i) + "/c/0"; };
  auto done = [&](int i) {
    auto x = intent(op, key(i), 1'796'280'628'000 + i);
    x.state = intent_state::done;
    x.task_id = "task-" + std::to_string(i);
    return x;
  };
  // Each key's `posting` row, written at once by the look-up.
  for (int i = 0; i < 7; ++i)
    self->request(lazy, 10s, load_atom_v, intent(op, key(i), 1'796'280'628'000))
      .receive([](genieacs::intent_lookup& got) { EXPECT_FALSE(got.found); },
               [](caf::error& err) { FAIL() << to_string(err); });
  auto rows_in = [&](const std::string& state) {
    return db.count("SELECT count(*) FROM genieacs_task_intents WHERE state = '"
                    + state + "'");
  };
  for (int i = 0; i < 6; ++i)
    caf::anon_send(lazy, save_atom_v, done(i));
  // Held, not written yet; look-ups of their keys answer them.
  EXPECT_EQ(rows_in("done"), 0);
  self->request(lazy, 10s, load_atom_v, op, key(2))
    .receive(
      [](genieacs::intent_lookup& got) {
        ASSERT_TRUE(got.found);
        EXPECT_EQ(got.intent.state, intent_state::done);
        EXPECT_EQ(got.intent.task_id, "task-2");
      },
      [](caf::error& err) { FAIL() << to_string(err); });
  self->request(lazy, 10s, load_atom_v, intent(op, key(3), 1'796'280'629'000))
    .receive(
      [](genieacs::intent_lookup& got) {
        ASSERT_TRUE(got.found);
        EXPECT_EQ(got.intent.state, intent_state::done);
      },
      [](caf::error& err) { FAIL() << to_string(err); });
  // A later save of another state for a held key is written at once and
  // wins over the held one.
  auto queued = done(5);
  queued.state = intent_state::queued;
  self->request(lazy, 10s, save_atom_v, queued)
    .receive([](bool ok) { EXPECT_TRUE(ok); },
             [](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_EQ(rows_in("queued"), 1);
  // A save's answer waits for the write: all held ones in one statement
  // (one transaction: one xmin).
  self->request(lazy, 10s, save_atom_v, done(6))
    .receive([](bool ok) { EXPECT_TRUE(ok); },
             [](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_EQ(rows_in("done"), 6);
  EXPECT_EQ(db.count("SELECT count(DISTINCT xmin::text)"
                     " FROM genieacs_task_intents WHERE state = 'done'"),
            1);
  EXPECT_EQ(db.value("SELECT state FROM genieacs_task_intents"
                     " WHERE idempotency_key = '"
                     + key(5) + "'"),
            "queued");
  // An exit writes what is held.
  self->request(lazy, 10s, load_atom_v, intent(op, key(7), 1'796'280'628'000))
    .receive([](genieacs::intent_lookup& got) { EXPECT_FALSE(got.found); },
             [](caf::error& err) { FAIL() << to_string(err); });
  caf::anon_send(lazy, save_atom_v, done(7));
  caf::anon_send_exit(lazy, caf::exit_reason::user_shutdown);
  EXPECT_EQ(db.await_count("SELECT count(*) FROM genieacs_task_intents"
                           " WHERE state = 'done' AND idempotency_key = '"
                             + key(7) + "'",
                           1, 10s),
            1);
}

TEST_F(genieacs_intents, rows_untouched_for_the_retention_are_purged) {
  db.query("INSERT INTO genieacs_task_intents (operation, idempotency_key,"
           " tenant_id, device_id, unique_key, state, posted_at, updated_at)"
           " VALUES ('genieacs.factory_reset', 'old/1/0', 't1', 'd', 'u',"
           " 'done', now() - interval '40 days', now() - interval '40 days'),"
           " ('genieacs.factory_reset', 'new/1/0', 't1', 'd', 'u', 'done',"
           " now(), now())");
  auto fresh = genieacs::spawn_pg_intent_store(*sys, db.dsn());
  caf::scoped_actor self{*sys};
  self
    ->request(fresh, 10s, load_atom_v, std::string{"genieacs.factory_reset"},
              std::string{"new/1/0"})
    .receive([](genieacs::intent_lookup& got) { EXPECT_TRUE(got.found); },
             [](caf::error& err) { FAIL() << to_string(err); });
  EXPECT_EQ(db.value("SELECT string_agg(idempotency_key, ',')"
                     " FROM genieacs_task_intents"),
            "new/1/0");
  caf::anon_send_exit(fresh, caf::exit_reason::user_shutdown);
  fresh = nullptr;
}

TEST_F(genieacs_intents, store_without_a_database_answers_an_error) {
  auto bad = genieacs::spawn_pg_intent_store(
    *sys, "host=/nonexistent port=1 dbname=none connect_timeout=1");
  caf::scoped_actor self{*sys};
  self->request(bad, 10s, load_atom_v, std::string{"op"}, std::string{"k"})
    .receive(
      [](genieacs::intent_lookup&) { FAIL() << "no error"; },
      [](caf::error& err) {
        EXPECT_EQ(err.code(), static_cast<uint8_t>(errc::database_unavailable))
          << render_error(err);
      });
  caf::anon_send_exit(bad, caf::exit_reason::user_shutdown);
  bad = nullptr;
}

TEST_F(genieacs_intents, reset_that_ran_before_a_crash_runs_once) {
  // The reset runs in GenieACS, the 200 is held, the process dies.
  srv->set_hold(10'000, "factoryReset");
  {
    caf::scoped_actor self{*sys};
    self->send(adapter, invoke_atom_v, reset(false));
  }
  for (int i = 0; i < 500 && resets() == 0; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(resets(), 1u);
  EXPECT_EQ(db.value("SELECT state FROM genieacs_task_intents"), "posting");
  stop(caf::exit_reason::kill);
  srv->set_hold(0, {});
  start();
  auto rep = ask(reset(true));
  ASSERT_EQ(rep.outcome, adapter_outcome::succeeded) << rep.error;
  EXPECT_EQ(resets(), 1u);
  // `done` is recorded without holding the reply up.
  auto state = [this] {
    return db.value("SELECT state FROM genieacs_task_intents");
  };
  for (int i = 0; i < 500 && state() != "done"; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(state(), "done");
  // Once done, a further attempt answers from the row alone.
  auto again = ask(reset(true));
  EXPECT_EQ(again.outcome, adapter_outcome::succeeded) << again.error;
  EXPECT_EQ(resets(), 1u);
}

} // namespace
