// Retention: batch deletes remove only what they may. Open sagas, unstarted
// inbox events, unpublished outbox rows and dead letters no operator acted
// on stay whatever their age.

#include "actors/retention.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/postgres/retention_store.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "tests/support/scratch_database.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <gtest/gtest.h>
#include <optional>
#include <string>

namespace pg = ispflow::adapters::postgres;
using ispflow::testing::scratch_database;
using namespace std::chrono_literals;
using pg::retention_table;

namespace {

constexpr auto day = std::chrono::hours{24};

class retention : public testing::Test {
protected:
  void SetUp() override {
    auto report = pg::apply_migrations(db.dsn());
    ASSERT_TRUE(report) << ispflow::render_error(report.error());
    auto st = pg::retention_store::connect(db.dsn());
    ASSERT_TRUE(st) << ispflow::render_error(st.error());
    store.emplace(std::move(*st));
  }

  // Deletes everything of `t` older than `period`, in batches of `batch`;
  // returns the rows deleted.
  int64_t purge(retention_table t, std::chrono::seconds period,
                size_t batch = 1000) {
    int64_t total = 0;
    for (;;) {
      auto n = store->purge(t, std::chrono::system_clock::now() - period,
                            batch);
      EXPECT_TRUE(n) << ispflow::render_error(n.error());
      if (!n)
        return total;
      total += *n;
      if (static_cast<size_t>(*n) < batch)
        return total;
    }
  }

  // A saga `id` of subscriber `sub` in `state`, created `age` ago, with two
  // step rows and a timer; `inbox` links its input event.
  void saga(const std::string& id, const std::string& state,
            const std::string& age, const std::string& inbox = "NULL") {
    db.query("INSERT INTO sagas (id, name, version, tenant_id, subscriber_id,"
             " service_type, causation, state, \"cursor\", generation,"
             " cancel_requested, created_at, updated_at, inbox_id) VALUES ('"
             + id + "', 'suspend', 1, 'acme', 'sub-" + id + "', 'ftth', 'c', '"
             + state + "', 0, 0, false, now() - interval '" + age
             + "', now() - interval '" + age + "', " + inbox
             + ");"
               "INSERT INTO saga_steps (saga_id, idx, name, state, attempts,"
               " reconcile, generation, compensation_attempts) VALUES ('"
             + id + "', 0, 'deny', 'succeeded', 1, false, 0, 0), ('" + id
             + "', 1, 'disconnect_sessions', 'pending', 0, false, 0, 0);"
               "INSERT INTO timers (saga_id, step, generation, due_at) VALUES"
               " ('"
             + id + "', 1, 0, now() - interval '" + age + "')");
  }

  // An inbox event received `age` ago; returns its id.
  std::string event(const std::string& event_id, const std::string& age,
                    const std::string& saga_id = "NULL",
                    const std::string& skipped = "NULL") {
    return db.value(
      "INSERT INTO inbox (source, event_id, type, tenant_id, subscriber_id,"
      " payload, topic, partition, \"offset\", received_at, saga_id,"
      " skipped_reason) VALUES ('billing', '"
      + event_id + "', 't', 'acme', 'sub', '{}', 'b', 0, 1, now() - interval '"
      + age + "', " + saga_id + ", " + skipped + ") RETURNING id");
  }

  bool exists(const std::string& table, const std::string& where) {
    return db.count("SELECT count(*) FROM " + table + " WHERE " + where) > 0;
  }

  scratch_database db;
  std::optional<pg::retention_store> store;
  int offset = 0;
};

} // namespace

TEST_F(retention, an_open_saga_a_year_old_survives_a_finished_one_goes) {
  for (auto state : {"pending", "running", "compensating", "needs_attention"})
    saga(std::string{"open-"} + state, state, "400 days");
  saga("done-old", "completed", "400 days");
  saga("undone-old", "compensated", "400 days");
  saga("cancelled-old", "cancelled", "400 days");
  saga("done-new", "completed", "1 day");
  EXPECT_EQ(purge(retention_table::sagas, 30 * day, 2), 3);
  for (auto id : {"open-pending", "open-running", "open-compensating",
                  "open-needs_attention", "done-new"})
    EXPECT_TRUE(exists("sagas", std::string{"id = '"} + id + "'")) << id;
  for (auto id : {"done-old", "undone-old", "cancelled-old"}) {
    EXPECT_FALSE(exists("sagas", std::string{"id = '"} + id + "'")) << id;
    EXPECT_FALSE(exists("saga_steps", std::string{"saga_id = '"} + id + "'"))
      << id;
    EXPECT_FALSE(exists("timers", std::string{"saga_id = '"} + id + "'")) << id;
  }
  EXPECT_EQ(db.count("SELECT count(*) FROM saga_steps"), 10);
}

TEST_F(retention, a_replayed_saga_may_go_before_its_replay) {
  saga("orig", "completed", "400 days");
  saga("replay", "completed", "1 day");
  db.query("UPDATE sagas SET replay_of = 'orig' WHERE id = 'replay';"
           "INSERT INTO inbox_links (source, event_id, replay_of, token_name)"
           " VALUES ('ispflow/replay', 'r1', 'orig', 'ops')");
  EXPECT_EQ(purge(retention_table::sagas, 30 * day), 1);
  EXPECT_EQ(db.value("SELECT COALESCE(replay_of, '-') FROM sagas"), "-");
  EXPECT_EQ(db.value("SELECT COALESCE(replay_of, '-') FROM inbox_links"), "-");
}

TEST_F(retention, a_published_outbox_row_past_the_period_goes) {
  db.query("INSERT INTO outbox (topic, value, created_at, published_at) VALUES"
           " ('old-published', 'v', now() - interval '9 days',"
           "  now() - interval '9 days'),"
           " ('old-unpublished', 'v', now() - interval '400 days', NULL),"
           " ('new-published', 'v', now() - interval '1 day',"
           "  now() - interval '1 day')");
  EXPECT_EQ(purge(retention_table::outbox, 7 * day), 1);
  EXPECT_FALSE(exists("outbox", "topic = 'old-published'"));
  EXPECT_TRUE(exists("outbox", "topic = 'old-unpublished'"));
  EXPECT_TRUE(exists("outbox", "topic = 'new-published'"));
}

TEST_F(retention, a_dead_letter_waits_for_an_operator) {
  auto add = [&](const std::string& topic, const std::string& settled) {
    return db.value(
      "INSERT INTO dead_letters (topic, partition, \"offset\", value, error,"
      " detail, created_at, redriven_at, dismissed_at) VALUES ('"
      + topic + "', 0, " + std::to_string(++offset)
      + ", 'v', 'e', 'd', now() - interval '400 days', " + settled
      + ") RETURNING id");
  };
  add("untouched", "NULL, NULL");
  auto redriven = add("redriven", "now() - interval '100 days', NULL");
  add("dismissed", "NULL, now() - interval '100 days'");
  add("redriven-recently", "now() - interval '1 day', NULL");
  db.query("INSERT INTO inbox_links (source, event_id, dead_letter_id,"
           " token_name) VALUES ('ispflow/redrive', 'x1', "
           + redriven + ", 'ops')");
  EXPECT_EQ(purge(retention_table::dead_letters, 90 * day), 2);
  EXPECT_TRUE(exists("dead_letters", "topic = 'untouched'"));
  EXPECT_TRUE(exists("dead_letters", "topic = 'redriven-recently'"));
  EXPECT_FALSE(exists("dead_letters", "topic = 'redriven'"));
  EXPECT_FALSE(exists("dead_letters", "topic = 'dismissed'"));
  EXPECT_EQ(db.value("SELECT COALESCE(dead_letter_id::text, '-') FROM "
                     "inbox_links"),
            "-");
}

TEST_F(retention, an_inbox_event_goes_once_settled_and_past_the_window) {
  event("unstarted-old", "400 days");
  auto skipped = event("skipped-old", "400 days", "NULL", "'refused'");
  auto started = event("started-old", "400 days", "'s-open'");
  saga("s-open", "running", "400 days", started);
  event("saga-gone-old", "400 days", "'s-gone'");
  event("skipped-new", "1 day", "NULL", "'refused'");
  db.query("INSERT INTO inbox_links (source, event_id, redrive_of,"
           " token_name) VALUES ('ispflow/redrive', 'x2', "
           + skipped + ", 'ops')");
  EXPECT_EQ(purge(retention_table::inbox, 14 * day), 2);
  EXPECT_TRUE(exists("inbox", "event_id = 'unstarted-old'"));
  EXPECT_TRUE(exists("inbox", "event_id = 'started-old'"));
  EXPECT_TRUE(exists("inbox", "event_id = 'skipped-new'"));
  EXPECT_FALSE(exists("inbox", "event_id = 'skipped-old'"));
  EXPECT_FALSE(exists("inbox", "event_id = 'saga-gone-old'"));
  // The link stays; what it re-drove is gone.
  EXPECT_EQ(db.value("SELECT COALESCE(redrive_of::text, '-') FROM "
                     "inbox_links"),
            "-");
}

TEST_F(retention, audit_rows_and_timers_of_finished_sagas_go) {
  db.query("INSERT INTO admin_audit (at, token_name, action, target, status,"
           " result) VALUES (now() - interval '400 days', 'ops', 'a', 't',"
           " 200, 'ok'), (now() - interval '1 day', 'ops', 'a', 't', 200,"
           " 'ok')");
  EXPECT_EQ(purge(retention_table::audit, 365 * day), 1);
  EXPECT_EQ(db.count("SELECT count(*) FROM admin_audit"), 1);
  saga("finished", "completed", "5 days");
  saga("waiting", "running", "5 days");
  EXPECT_EQ(purge(retention_table::timers, day), 1);
  EXPECT_FALSE(exists("timers", "saga_id = 'finished'"));
  EXPECT_TRUE(exists("timers", "saga_id = 'waiting'"));
}

TEST_F(retention, the_actor_runs_every_table_in_small_batches) {
  for (int i = 0; i < 5; ++i)
    saga("old-" + std::to_string(i), "completed", "400 days");
  saga("open", "running", "400 days");
  db.query("INSERT INTO outbox (topic, value, published_at)"
           " SELECT 't', 'v', now() - interval '30 days'"
           "   FROM generate_series(1, 7);"
           "INSERT INTO outbox (topic, value) VALUES ('unsent', 'v')");
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ispflow>();
  caf::actor_system sys{cfg};
  ispflow::actors::retention_actor_settings rs;
  rs.dsn = db.dsn();
  rs.periods = {{retention_table::sagas, 30 * day},
                {retention_table::outbox, 7 * day},
                {retention_table::inbox, 14 * day}};
  rs.batch = 2;
  rs.scheduled = false;
  auto actor = ispflow::actors::spawn_retention(sys, rs);
  caf::scoped_actor self{sys};
  uint64_t deleted = 0;
  self->request(actor, 60s, ispflow::tick_atom_v)
    .receive([&](uint64_t n) { deleted = n; },
             [](caf::error& err) { ADD_FAILURE() << to_string(err); });
  EXPECT_EQ(deleted, 12u);
  EXPECT_EQ(db.count("SELECT count(*) FROM sagas"), 1);
  EXPECT_EQ(db.value("SELECT topic FROM outbox"), "unsent");
  self->send_exit(actor, caf::exit_reason::user_shutdown);
}

// -- drift scans (schema/0013) ------------------------------------------------

namespace {

class drift_retention : public retention {
protected:
  // A scan `id` in `state`, created `age` ago (finished then too unless it
  // is queued or running), with `findings` findings without a repair.
  void scan(const std::string& id, const std::string& state,
            const std::string& age, int findings) {
    bool finished = state == "completed" || state == "failed";
    db.query("INSERT INTO drift_scans (id, trigger, state, created_at,"
             " started_at, finished_at) VALUES ('"
             + id + "', 'schedule', '" + state + "', now() - interval '" + age
             + "', now() - interval '" + age + "', "
             + (finished ? "now() - interval '" + age + "'" : "NULL") + ")");
    for (int i = 0; i < findings; ++i)
      finding(id, "sub-" + std::to_string(i), "NULL");
  }

  void finding(const std::string& scan_id, const std::string& sub,
               const std::string& repair) {
    db.query("INSERT INTO drift_findings (scan_id, tenant_id, subscriber_id,"
             " system, kind, expected, observed, repair) VALUES ('"
             + scan_id + "', 'acme', '" + sub
             + "', 'voltha', 'onu_replaced', 'onu a', 'onu b', " + repair
             + ")");
  }

  // A finding of `sub` in scan `scan_id` whose repair event (as the
  // scanner writes it) started saga `saga_id` (NULL: not yet), or was
  // skipped for `skipped`.
  void repaired(const std::string& scan_id, const std::string& sub,
                const std::string& saga_id,
                const std::string& skipped = "NULL") {
    auto event_id = scan_id + "/acme/" + sub;
    db.query("INSERT INTO inbox (source, event_id, type, tenant_id,"
             " subscriber_id, payload, topic, partition, \"offset\","
             " received_at, saga_id, skipped_reason) VALUES ('ispflow/drift', '"
             + event_id + "', 'ispflow.drift.repair', 'acme', '" + sub
             + "', '{}', 'b', 0, 1, now() - interval '100 days', " + saga_id
             + ", " + skipped + ")");
    finding(scan_id, sub, "'" + event_id + "'");
  }

  int64_t findings_of(const std::string& scan_id) {
    return db.count("SELECT count(*) FROM drift_findings WHERE scan_id = '"
                    + scan_id + "'");
  }
};

} // namespace

TEST_F(drift_retention, an_old_finished_scan_goes_with_its_findings) {
  scan("old-completed", "completed", "100 days", 3);
  scan("old-failed", "failed", "99 days", 1);
  scan("old-running", "running", "100 days", 2);
  scan("old-queued", "queued", "100 days", 0);
  scan("young", "completed", "1 day", 2);
  // Batches of 2: the findings first, then their scans.
  EXPECT_EQ(purge(retention_table::drift, 90 * day, 2), 3 + 1 + 2);
  for (auto id : {"old-completed", "old-failed"}) {
    EXPECT_FALSE(exists("drift_scans", std::string{"id = '"} + id + "'")) << id;
    EXPECT_EQ(findings_of(id), 0) << id;
  }
  for (auto id : {"old-running", "old-queued", "young"})
    EXPECT_TRUE(exists("drift_scans", std::string{"id = '"} + id + "'")) << id;
  EXPECT_EQ(findings_of("old-running"), 2);
  EXPECT_EQ(findings_of("young"), 2);
}

TEST_F(drift_retention, a_finding_whose_repair_is_open_keeps_its_scan) {
  // Repairs still to run: the event not started, the saga running or
  // waiting for an operator.
  scan("queued-repair", "completed", "100 days", 1);
  repaired("queued-repair", "s1", "NULL");
  scan("running-repair", "completed", "100 days", 1);
  saga("r2", "running", "100 days");
  repaired("running-repair", "s2", "'r2'");
  scan("stopped-repair", "completed", "100 days", 0);
  saga("r3", "needs_attention", "100 days");
  repaired("stopped-repair", "s3", "'r3'");
  // Repairs over: the saga ended (or retention already took it), the event
  // refused as stale, or no event (another repair had not ended).
  scan("done-repair", "completed", "100 days", 1);
  saga("r4", "completed", "100 days");
  repaired("done-repair", "s4", "'r4'");
  scan("gone-repair", "completed", "100 days", 0);
  repaired("gone-repair", "s5", "'r-deleted'");
  scan("stale-repair", "completed", "100 days", 0);
  repaired("stale-repair", "s6", "NULL", "'drift_repair_stale'");
  scan("refused-repair", "completed", "100 days", 0);
  finding("refused-repair", "s7",
          "'not started: an earlier repair of the subscriber has not ended'");
  // Another subscriber's open repair event of the same id holds nothing.
  scan("other-subscriber", "completed", "100 days", 0);
  finding("other-subscriber", "s8", "'queued-repair/acme/s1'");
  EXPECT_EQ(purge(retention_table::drift, 90 * day), (2 + 1 + 1 + 1 + 1) + 5);
  for (auto id : {"queued-repair", "running-repair", "stopped-repair"}) {
    EXPECT_TRUE(exists("drift_scans", std::string{"id = '"} + id + "'")) << id;
    EXPECT_GE(findings_of(id), 1) << id;
  }
  EXPECT_EQ(findings_of("queued-repair"), 2);
  for (auto id : {"done-repair", "gone-repair", "stale-repair",
                  "refused-repair", "other-subscriber"})
    EXPECT_FALSE(exists("drift_scans", std::string{"id = '"} + id + "'")) << id;
  EXPECT_EQ(db.count("SELECT count(*) FROM drift_findings"), 2 + 2 + 1);
  // The running repair ends: its scan goes at the next pass.
  db.query("UPDATE sagas SET state = 'completed' WHERE id = 'r2'");
  EXPECT_EQ(purge(retention_table::drift, 90 * day), 2 + 1);
  EXPECT_FALSE(exists("drift_scans", "id = 'running-repair'"));
  EXPECT_TRUE(exists("drift_scans", "id = 'queued-repair'"));
  EXPECT_TRUE(exists("drift_scans", "id = 'stopped-repair'"));
}

TEST_F(drift_retention, the_actor_deletes_drift_scans_by_their_period) {
  scan("old", "completed", "100 days", 3);
  scan("young", "completed", "1 day", 1);
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ispflow>();
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto pass = [&](std::chrono::seconds period) {
    ispflow::actors::retention_actor_settings rs;
    rs.dsn = db.dsn();
    rs.periods = {{retention_table::drift, period}};
    rs.batch = 2;
    rs.scheduled = false;
    auto actor = ispflow::actors::spawn_retention(sys, rs);
    uint64_t deleted = 0;
    self->request(actor, 60s, ispflow::tick_atom_v)
      .receive([&](uint64_t n) { deleted = n; },
               [](caf::error& err) { ADD_FAILURE() << to_string(err); });
    self->send_exit(actor, caf::exit_reason::user_shutdown);
    return deleted;
  };
  // 0 keeps forever.
  EXPECT_EQ(pass(std::chrono::seconds{0}), 0u);
  EXPECT_EQ(db.count("SELECT count(*) FROM drift_scans"), 2);
  EXPECT_EQ(pass(90 * day), 4u);
  EXPECT_EQ(db.value("SELECT string_agg(id, ',') FROM drift_scans"), "young");
  EXPECT_EQ(db.count("SELECT count(*) FROM drift_findings"), 1);
}
