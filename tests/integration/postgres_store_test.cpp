#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/postgres/outbox_store.hpp"
#include "adapters/postgres/session.hpp"
#include "events/errc.hpp"
#include "tests/support/scratch_database.hpp"

#include <chrono>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <string>
#include <thread>
#include <vector>

namespace pg = ispflow::adapters::postgres;
namespace ev = ispflow::events;
using ispflow::errc;
using ispflow::testing::scratch_database;
using testing::HasSubstr;
using testing::Not;

namespace {

bool has_code(const caf::error& err, errc code) {
  return err.category() == caf::atom("ispflow")
         && err.code() == static_cast<uint8_t>(code);
}

ev::kafka_record saga_record(const std::string& value) {
  ev::kafka_record r;
  r.topic = "saga.events.v1";
  r.key = "sub-1";
  r.value = value;
  r.headers = {{"ce_type", "intake.accepted", false}};
  return r;
}

ev::accepted_event event(const std::string& id,
                         const std::string& subject = "sub-1",
                         const std::string& source = "billing") {
  ev::accepted_event e;
  e.source = source;
  e.id = id;
  e.type = "billing.subscription.activated";
  e.time = "2024-05-01T10:00:00Z";
  e.tenant_id = "acme";
  e.subject = subject;
  e.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  e.data = R"({"subscriber_id":")" + subject + R"(","plan_id":"p100"})";
  e.origin.topic = "billing.events.v1";
  e.origin.partition = 3;
  e.origin.offset = 100;
  e.emits.push_back(saga_record("accepted " + id));
  return e;
}

ev::dead_letter dead(int64_t offset, const std::string& tenant = "acme") {
  ev::dead_letter d;
  d.error = "schema_violation";
  d.detail = "/plan_id: required";
  d.record.topic = "billing.events.v1";
  d.record.partition = 1;
  d.record.offset = offset;
  d.record.key = "sub-9";
  d.record.value = "{not json";
  d.record.headers = {{"ce_id", "x-" + std::to_string(offset), false},
                      {"ce_tenantid", tenant, false}};
  ev::kafka_record copy = d.record;
  copy.topic = "billing.events.v1.dlq";
  copy.partition = -1;
  copy.offset = -1;
  copy.headers.push_back({"ispflow_error", d.error, false});
  d.emits.push_back(copy);
  return d;
}

class postgres_store : public testing::Test {
protected:
  void SetUp() override {
    auto report = pg::apply_migrations(db.dsn());
    ASSERT_TRUE(report) << ispflow::render_error(report.error());
    auto in = pg::intake_store::connect(db.dsn());
    ASSERT_TRUE(in) << ispflow::render_error(in.error());
    intake.emplace(std::move(*in));
    auto out = pg::outbox_store::connect(db.dsn());
    ASSERT_TRUE(out) << ispflow::render_error(out.error());
    outbox.emplace(std::move(*out));
  }

  ev::intake_outcome write(const ev::intake_batch& batch) {
    auto res = intake->write(batch);
    EXPECT_TRUE(res) << ispflow::render_error(res.error());
    return res ? *res : ev::intake_outcome{};
  }

  // Writes `n` accepted events, <prefix>0 to <prefix>n-1, in one batch.
  void write_events(size_t n, const std::string& prefix = "e") {
    ev::intake_batch batch;
    for (size_t i = 0; i < n; ++i)
      batch.accepted.push_back(event(prefix + std::to_string(i)));
    write(batch);
  }

  std::vector<pg::outbox_entry> unsent(size_t limit = 1000) {
    auto res = outbox->fetch_unsent(limit);
    EXPECT_TRUE(res) << ispflow::render_error(res.error());
    return res ? *res : std::vector<pg::outbox_entry>{};
  }

  void terminate_other_sessions() {
    db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  }

  scratch_database db;
  std::optional<pg::intake_store> intake;
  std::optional<pg::outbox_store> outbox;
};

ev::intake_outcome outcome(uint32_t recorded, uint32_t duplicates,
                           uint32_t dead_lettered) {
  ev::intake_outcome o;
  o.recorded = recorded;
  o.duplicates = duplicates;
  o.dead_lettered = dead_lettered;
  return o;
}

} // namespace

TEST_F(postgres_store, write_records_new_events_with_their_fields) {
  ev::intake_batch batch;
  batch.accepted = {event("e1", "sub-1"), event("e2", "sub-2")};
  EXPECT_EQ(write(batch), outcome(2, 0, 0));
  EXPECT_EQ(db.value("SELECT count(*) FROM inbox"), "2");
  auto rows = db.query(
    "SELECT source, event_id, type, tenant_id, subscriber_id, "
    "event_time = '2024-05-01T10:00:00Z', traceparent, payload->>'plan_id', "
    "topic, partition, \"offset\" FROM inbox WHERE event_id = 'e2'");
  ASSERT_EQ(rows.size(), 1u);
  std::vector<std::optional<std::string>> expected{
    "billing",
    "e2",
    "billing.subscription.activated",
    "acme",
    "sub-2",
    "t",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "p100",
    "billing.events.v1",
    "3",
    "100"};
  EXPECT_EQ(rows[0], expected);
  EXPECT_EQ(db.value("SELECT count(*) FROM outbox"), "2");
}

TEST_F(postgres_store, write_keeps_batch_order_in_inbox_and_outbox_ids) {
  ev::intake_batch batch;
  batch.accepted = {event("c"), event("a"), event("b")};
  EXPECT_EQ(write(batch), outcome(3, 0, 0));
  EXPECT_EQ(db.value("SELECT string_agg(event_id, ',' ORDER BY id) "
                     "FROM inbox"),
            "c,a,b");
  auto entries = unsent();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].record.value, "accepted c");
  EXPECT_EQ(entries[1].record.value, "accepted a");
  EXPECT_EQ(entries[2].record.value, "accepted b");
}

TEST_F(postgres_store, write_counts_duplicates_across_batches_without_outbox) {
  ev::intake_batch first;
  first.accepted = {event("e1"), event("e2")};
  EXPECT_EQ(write(first), outcome(2, 0, 0));
  ev::intake_batch second;
  second.accepted = {event("e2"), event("e3")};
  second.accepted[0].emits[0].value = "second copy of e2";
  EXPECT_EQ(write(second), outcome(1, 1, 0));
  EXPECT_EQ(db.value("SELECT count(*) FROM inbox"), "3");
  EXPECT_EQ(db.value("SELECT string_agg(convert_from(value, 'UTF8'), ',' "
                     "ORDER BY id) FROM outbox"),
            "accepted e1,accepted e2,accepted e3");
}

TEST_F(postgres_store, write_counts_a_duplicate_within_one_batch_once) {
  ev::intake_batch batch;
  batch.accepted = {event("e1"), event("e1"), event("e1", "sub-1", "crm")};
  batch.accepted[1].emits[0].value = "second copy of e1";
  EXPECT_EQ(write(batch), outcome(2, 1, 0));
  EXPECT_EQ(db.value("SELECT count(*) FROM inbox"), "2");
  EXPECT_EQ(db.value("SELECT string_agg(convert_from(value, 'UTF8'), ',' "
                     "ORDER BY id) FROM outbox"),
            "accepted e1,accepted e1");
}

TEST_F(postgres_store, write_records_dead_letters_once_with_their_emits) {
  ev::intake_batch batch;
  batch.rejected = {dead(7), dead(8, "globex"), dead(7)};
  EXPECT_EQ(write(batch), outcome(0, 0, 2));
  EXPECT_EQ(db.value("SELECT string_agg(\"offset\" || ':' || tenant_id || ':' "
                     "|| error || ':' || detail, ',' ORDER BY id) "
                     "FROM dead_letters"),
            "7:acme:schema_violation:/plan_id: required,"
            "8:globex:schema_violation:/plan_id: required");
  EXPECT_EQ(db.value("SELECT count(*) FROM outbox "
                     "WHERE topic = 'billing.events.v1.dlq'"),
            "2");
  ev::intake_batch again;
  again.rejected = {dead(8), dead(9)};
  again.accepted = {event("e1")};
  EXPECT_EQ(write(again), outcome(1, 0, 1));
  EXPECT_EQ(db.value("SELECT count(*) FROM dead_letters"), "3");
  EXPECT_EQ(db.value("SELECT count(*) FROM outbox"), "4");
}

TEST_F(postgres_store, dead_letter_without_text_tenant_has_null_tenant) {
  ev::intake_batch batch;
  batch.rejected = {dead(1, std::string{"\xff\x00x", 3}), dead(2)};
  batch.rejected[1].record.headers.pop_back();
  EXPECT_EQ(write(batch), outcome(0, 0, 2));
  EXPECT_EQ(db.value("SELECT count(*) FROM dead_letters "
                     "WHERE tenant_id IS NULL"),
            "2");
}

TEST_F(postgres_store, bytes_round_trip_from_write_to_fetch_unsent) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i)
    all_bytes += static_cast<char>(i);
  ev::kafka_record rec;
  rec.topic = "billing.events.v1.dlq";
  rec.null_key = true;
  rec.value = std::string{"a\0b\xff", 4} + all_bytes;
  rec.headers = {
    {"binary", std::string{"\0\xff\x80\n\"", 5}, false},
    {"nothing", "", true},
    {"empty", "", false},
    {std::string{"k\xff\0y", 4}, "odd key", false},
    {"binary", "repeated key", false},
  };
  ev::dead_letter d = dead(42);
  d.record.key = std::string{"\0\xfe", 2};
  d.record.value = all_bytes;
  d.emits = {rec};
  ev::kafka_record keyed = rec;
  keyed.null_key = false;
  keyed.key = std::string{"\xff\0", 2};
  keyed.value.clear();
  keyed.headers.clear();
  d.emits.push_back(keyed);
  ev::intake_batch batch;
  batch.rejected = {d};
  EXPECT_EQ(write(batch), outcome(0, 0, 1));
  auto entries = unsent();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].record, rec);
  EXPECT_EQ(entries[1].record, keyed);
  EXPECT_LT(entries[0].id, entries[1].id);
  // The dead letter keeps the consumed bytes too.
  EXPECT_EQ(db.value("SELECT encode(key, 'hex') FROM dead_letters"), "00fe");
  EXPECT_EQ(db.value("SELECT value = decode(string_agg(lpad(to_hex(i), 2, "
                     "'0'), '' ORDER BY i), 'hex') FROM dead_letters, "
                     "generate_series(0, 255) i GROUP BY value"),
            "t");
}

TEST_F(postgres_store, fetch_unsent_orders_by_id_and_respects_the_limit) {
  write_events(5);
  auto first = unsent(3);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0].record.value, "accepted e0");
  EXPECT_EQ(first[2].record.value, "accepted e2");
  EXPECT_LT(first[0].id, first[1].id);
  EXPECT_EQ(first[0].record.partition, -1);
}

TEST_F(postgres_store, append_adds_records_in_order_byte_for_byte) {
  ev::kafka_record a;
  a.topic = "saga.events.v1";
  a.key = "acme/netbox/default";
  a.value = std::string{"{\"to\":\"open\"}\0\xff", 15};
  a.headers.push_back(
    ev::kafka_header{"ce_type", "saga.breaker_opened", false});
  ev::kafka_record b = a;
  b.value = "second";
  ASSERT_TRUE(outbox->append({a, b}));
  ASSERT_TRUE(outbox->append({}));
  auto rows = unsent();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].record.topic, a.topic);
  EXPECT_EQ(rows[0].record.key, a.key);
  EXPECT_EQ(rows[0].record.value, a.value);
  ASSERT_EQ(rows[0].record.headers.size(), 1u);
  EXPECT_EQ(rows[0].record.headers[0].value, "saga.breaker_opened");
  EXPECT_EQ(rows[1].record.value, "second");
  EXPECT_LT(rows[0].id, rows[1].id);
}

TEST_F(postgres_store, mark_published_shrinks_the_backlog) {
  write_events(4);
  auto backlog = outbox->backlog();
  ASSERT_TRUE(backlog);
  EXPECT_EQ(*backlog, 4);
  auto entries = unsent(2);
  ASSERT_EQ(entries.size(), 2u);
  ASSERT_TRUE(outbox->mark_published({entries[0].id, entries[1].id}));
  backlog = outbox->backlog();
  ASSERT_TRUE(backlog);
  EXPECT_EQ(*backlog, 2);
  auto rest = unsent();
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].record.value, "accepted e2");
  // A published row is gone (Kafka has it); marking again, or unknown ids,
  // changes nothing.
  EXPECT_EQ(db.value("SELECT count(*) FROM outbox"), "2");
  ASSERT_TRUE(outbox->mark_published({entries[0].id, 999999}));
  EXPECT_EQ(db.value("SELECT count(*) FROM outbox WHERE published_at IS NULL"),
            "2");
  // A row an earlier version marked by setting published_at is neither
  // fetched nor deleted by a mark: retention removes it.
  db.query("UPDATE outbox SET published_at = now() WHERE id = "
           + std::to_string(rest[0].id));
  ASSERT_TRUE(outbox->mark_published({rest[0].id}));
  EXPECT_EQ(db.value("SELECT count(*) FROM outbox WHERE published_at IS NOT"
                     " NULL"),
            "1");
  auto left = unsent();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, rest[1].id);
}

// A saga write's row packs records (schema/0024): the relay gets whole
// rows, up to its limit of records, the first row even when it holds
// more; the backlog counts records.
TEST_F(postgres_store, the_fetch_takes_whole_packed_rows_up_to_its_limit) {
  write_events(2);
  db.query("INSERT INTO outbox (topic, records, record_count) SELECT"
           " 'saga.events.v1', json_agg(json_build_object('topic',"
           " 'saga.events.v1', 'key', NULL, 'value', encode(convert_to('p' ||"
           " g, 'UTF8'), 'base64'), 'headers', '[]'::json) ORDER BY g),"
           " count(*) FROM generate_series(1, 5) AS g");
  write_events(1, "f");
  auto values = [](const std::vector<pg::outbox_entry>& xs) {
    std::string out;
    for (auto& x : xs)
      out += (out.empty() ? "" : ",") + x.record.value + "@"
             + std::to_string(x.pos);
    return out;
  };
  EXPECT_EQ(values(unsent(6)), "accepted e0@-1,accepted e1@-1");
  EXPECT_EQ(values(unsent(7)), "accepted e0@-1,accepted e1@-1,p1@0,p2@1,p3@2,"
                               "p4@3,p5@4");
  auto all = unsent(100);
  ASSERT_EQ(all.size(), 8u);
  EXPECT_EQ(all[2].id, all[6].id);
  EXPECT_TRUE(all[4].record.null_key);
  EXPECT_EQ(all[4].record.topic, "saga.events.v1");
  EXPECT_EQ(all[7].record.value, "accepted f0");
  auto backlog = outbox->backlog();
  ASSERT_TRUE(backlog);
  EXPECT_EQ(*backlog, 8);
  ASSERT_TRUE(outbox->mark_published({all[0].id, all[1].id}));
  EXPECT_EQ(values(unsent(1)), "p1@0,p2@1,p3@2,p4@3,p5@4");
  backlog = outbox->backlog();
  ASSERT_TRUE(backlog);
  EXPECT_EQ(*backlog, 6);
  // What operators read: one row per record.
  EXPECT_EQ(db.value("SELECT string_agg(convert_from(value, 'UTF8') || '@' ||"
                     " COALESCE(pos, -1), ',' ORDER BY id, pos)"
                     " FROM outbox_records"),
            "p1@0,p2@1,p3@2,p4@3,p5@4,accepted f0@-1");
}

// The relay's round: the rows it sent last are marked and the next ones
// fetched in one statement, which never hands out a row it marks.
TEST_F(postgres_store,
       mark_then_fetch_marks_the_sent_rows_and_fetches_the_next) {
  write_events(5);
  auto sent = unsent(2);
  ASSERT_EQ(sent.size(), 2u);
  auto next = outbox->mark_then_fetch({sent[0].id, sent[1].id}, 2);
  ASSERT_TRUE(next) << ispflow::render_error(next.error());
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ(next->at(0).record.value, "accepted e2");
  EXPECT_EQ(next->at(1).record.value, "accepted e3");
  EXPECT_EQ(db.value("SELECT string_agg(convert_from(value, 'UTF8'), ','"
                     " ORDER BY id) FROM outbox"),
            "accepted e2,accepted e3,accepted e4");
  EXPECT_NE(outbox->fetched_by(), 0);
  // Marking the rest: nothing is left; marking again changes nothing.
  auto rest
    = outbox->mark_then_fetch({next->at(0).id, next->at(1).id, sent[0].id}, 10);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(rest->at(0).record.value, "accepted e4");
  auto none = outbox->mark_then_fetch({rest->at(0).id}, 10);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto backlog = outbox->backlog();
  ASSERT_TRUE(backlog);
  EXPECT_EQ(*backlog, 0);
  // A round larger than one statement takes is marked the same way.
  constexpr auto many = pg::outbox_store::mark_then_fetch_rows + 6;
  write_events(many + 1, "f");
  auto big = unsent(many);
  ASSERT_EQ(big.size(), many);
  std::vector<int64_t> ids;
  for (auto& e : big)
    ids.push_back(e.id);
  auto last = outbox->mark_then_fetch(ids, many);
  ASSERT_TRUE(last);
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ(last->at(0).record.value, "accepted f" + std::to_string(many));
  backlog = outbox->backlog();
  ASSERT_TRUE(backlog);
  EXPECT_EQ(*backlog, 1);
}

// Every outbox row the relay looks for is unpublished (it deletes what it
// published), so the primary key is the one index the table needs: the
// relay's fetch walks it in id order and stops at its limit.
TEST_F(postgres_store, the_relay_reads_the_outbox_by_its_primary_key) {
  EXPECT_EQ(db.value("SELECT string_agg(indexname, ',') FROM pg_indexes"
                     " WHERE tablename = 'outbox'"),
            "outbox_pkey");
  write_events(3000);
  db.query("ANALYZE outbox");
  std::string plan;
  for (const auto& line : db.query(
         std::string{"PREPARE relay_fetch(bigint) AS "}
         + pg::outbox_store::fetch_sql + "; EXPLAIN EXECUTE relay_fetch(100)"))
    plan += line[0].value_or("") + "\n";
  // The walk that chooses the rows, and the read of them by id.
  EXPECT_THAT(plan, HasSubstr("Index Scan using outbox_pkey on outbox"));
  EXPECT_THAT(plan, HasSubstr("Index Cond: (id = ANY ($0))"));
  EXPECT_THAT(plan, Not(HasSubstr("Seq Scan")));
  EXPECT_THAT(plan, Not(HasSubstr("Sort")));
  auto first = unsent(100);
  ASSERT_EQ(first.size(), 100u);
  EXPECT_EQ(first[99].record.value, "accepted e99");
}

// At its stop the relay counts what it leaves unpublished. The table also
// holds the pages of the rows published (deleted) since the last vacuum:
// the count walks the primary key instead of reading them all.
TEST_F(postgres_store, the_stop_time_backlog_walks_the_primary_key) {
  // No autovacuum: its vacuum would take the deleted rows' pages away.
  db.query("ALTER TABLE outbox SET (autovacuum_enabled = false)");
  write_events(2000);
  // Published but for the last three; through the index, so that no
  // sequential scan of this test's own can reach the counters below.
  db.query("SET LOCAL enable_seqscan = off; DELETE FROM outbox WHERE id NOT IN"
           " (SELECT id FROM outbox ORDER BY id DESC LIMIT 3)");
  auto plan = [&](bool as_run) {
    std::string text;
    for (const auto& line : db.query(
           std::string{as_run ? pg::outbox_store::backlog_setting : "SELECT 1"}
           + "; EXPLAIN " + pg::outbox_store::backlog_sql))
      text += line[0].value_or("") + "\n";
    return text;
  };
  EXPECT_THAT(plan(false), HasSubstr("Seq Scan on outbox"));
  EXPECT_THAT(plan(true), HasSubstr("Index Scan using outbox_pkey on outbox"));
  EXPECT_THAT(plan(true), Not(HasSubstr("Seq Scan")));

  // The store runs it so: the table's scan counters gain an index scan and
  // no sequential one. A session flushes its counters as it ends, so the
  // store's session ends before they are read.
  auto before = db.scan_counts("outbox");
  auto backlog = outbox->backlog();
  ASSERT_TRUE(backlog) << ispflow::render_error(backlog.error());
  EXPECT_EQ(*backlog, 3);
  outbox.reset();
  auto after = db.await_index_scan("outbox", before);
  EXPECT_GT(after.second, before.second);
  EXPECT_EQ(after.first, before.first);
}

// Schema 0023 deletes the rows an earlier version marked published (Kafka
// has them) and keeps every unpublished one; run again, it changes nothing.
// Unstarted events keep the indexes the startable poll reads (saga_store's
// a_backlog_costs_the_startable_poll_a_probe_per_candidate), not the one
// by id alone that no query read.
TEST_F(postgres_store, schema_0023_deletes_rows_an_earlier_version_marked) {
  EXPECT_EQ(db.value("SELECT string_agg(indexname, ',' ORDER BY indexname)"
                     " FROM pg_indexes WHERE tablename = 'inbox'"
                     " AND indexdef LIKE '%WHERE%'"),
            "inbox_unstarted_subscriber_idx,inbox_unstarted_tenant_idx");
  write_events(3);
  auto rows = unsent();
  ASSERT_EQ(rows.size(), 3u);
  db.query("UPDATE outbox SET published_at = now() WHERE id = "
           + std::to_string(rows[1].id));
  const pg::migration* cleanup = nullptr;
  for (const auto& m : pg::embedded_migrations())
    if (m.name == "0023_indexes_nothing_reads.sql")
      cleanup = &m;
  ASSERT_NE(cleanup, nullptr);
  for (int run = 0; run < 2; ++run) {
    db.query(cleanup->sql);
    EXPECT_EQ(db.value("SELECT string_agg(convert_from(value, 'UTF8'), ','"
                       " ORDER BY id) FROM outbox"),
              "accepted e0,accepted e2");
    auto left = unsent();
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[0].id, rows[0].id);
    EXPECT_EQ(left[1].id, rows[2].id);
  }
}

TEST_F(postgres_store, broken_connection_is_unavailable_then_write_reconnects) {
  ev::intake_batch batch;
  batch.accepted = {event("e1")};
  write(batch);
  terminate_other_sessions();
  batch.accepted = {event("e2")};
  auto res = intake->write(batch);
  ASSERT_FALSE(res);
  EXPECT_TRUE(has_code(res.error(), errc::database_unavailable))
    << ispflow::render_error(res.error());
  EXPECT_EQ(write(batch), outcome(1, 0, 0));
  EXPECT_EQ(db.value("SELECT count(*) FROM inbox"), "2");
}

TEST_F(postgres_store, outbox_reconnects_after_a_broken_connection) {
  terminate_other_sessions();
  auto res = outbox->backlog();
  ASSERT_FALSE(res);
  EXPECT_TRUE(has_code(res.error(), errc::database_unavailable))
    << ispflow::render_error(res.error());
  res = outbox->backlog();
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  EXPECT_EQ(*res, 0);
}

TEST_F(postgres_store, a_fetch_names_the_session_that_answered_it) {
  EXPECT_EQ(outbox->fetched_by(), 0);
  ev::intake_batch batch;
  batch.accepted = {event("e1")};
  write(batch);
  // The session that takes the relay's lease, as the relay takes it.
  auto pid = outbox->try_lock(4711, std::chrono::seconds{60});
  ASSERT_TRUE(pid) << ispflow::render_error(pid.error());
  ASSERT_NE(*pid, 0);
  ASSERT_EQ(unsent().size(), 1u);
  EXPECT_EQ(outbox->fetched_by(), *pid);
  // The server ends the session (as it ends a paused relay's): the rows
  // come through a new one, and the relay's lease check sees it.
  terminate_other_sessions();
  auto rows = outbox->fetch_unsent(10);
  if (!rows)
    rows = outbox->fetch_unsent(10);
  ASSERT_TRUE(rows) << ispflow::render_error(rows.error());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_NE(outbox->fetched_by(), *pid);
  auto now = outbox->try_lock(4711, std::chrono::seconds{60});
  ASSERT_TRUE(now) << ispflow::render_error(now.error());
  EXPECT_EQ(outbox->fetched_by(), *now);
  // No rows: nothing to send, the last fetch's session stays named.
  ASSERT_TRUE(outbox->mark_published({(*rows)[0].id}));
  ASSERT_TRUE(unsent().empty());
  EXPECT_EQ(outbox->fetched_by(), *now);
}

TEST_F(postgres_store, invalid_ce_time_is_stored_as_null) {
  ev::intake_batch batch;
  batch.accepted = {event("e1"), event("e2"), event("e3")};
  batch.accepted[0].time = "2024-02-30T10:00:00Z";
  batch.accepted[1].time = "yesterday";
  batch.accepted[2].time = "2024-02-29T23:59:59.123+05:30";
  EXPECT_EQ(write(batch), outcome(3, 0, 0));
  EXPECT_EQ(db.value("SELECT string_agg(event_id || '=' || coalesce("
                     "to_char(event_time AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD HH24:MI:SS.MS'), 'null'), ',' ORDER BY id) "
                     "FROM inbox"),
            "e1=null,e2=null,e3=2024-02-29 18:29:59.123");
}

TEST_F(postgres_store, upsert_tenants_inserts_and_renames) {
  ASSERT_TRUE(intake->upsert_tenants({{"acme", "Acme"}, {"globex", "Globex"}}));
  db.query("UPDATE tenants SET settings = '{\"x\": 1}' WHERE id = 'acme'");
  ASSERT_TRUE(intake->upsert_tenants({{"acme", "Acme Corp"}}));
  EXPECT_EQ(db.value("SELECT string_agg(id || '=' || name || settings::text, "
                     "',' ORDER BY id) FROM tenants"),
            "acme=Acme Corp{\"x\": 1},globex=Globex{}");
}

TEST_F(postgres_store, sql_failure_is_a_database_error_with_the_message) {
  db.query("DROP TABLE inbox CASCADE");
  ev::intake_batch batch;
  batch.accepted = {event("e1")};
  auto res = intake->write(batch);
  ASSERT_FALSE(res);
  EXPECT_TRUE(has_code(res.error(), errc::database_error))
    << ispflow::render_error(res.error());
  EXPECT_THAT(ispflow::render_error(res.error()), HasSubstr("inbox"));
}

// A prepared statement settles on a generic plan after five executions and
// keeps it while its table grows unanalyzed: a plan made for five rows
// reads 100,000 sequentially. The session's replan drops the cached plan
// (the statement stays prepared), and the next one sees the table's size.
TEST_F(postgres_store, replan_lets_a_grown_table_be_read_by_index) {
  db.query("CREATE TABLE grows (id int PRIMARY KEY, v text)"
           " WITH (autovacuum_enabled = false);"
           " INSERT INTO grows SELECT i, 'x' FROM generate_series(1, 5) i;"
           " ANALYZE grows");
  pg::detail::session s{db.dsn(), [](pqxx::connection& c) {
                          c.prepare("grows_one",
                                    "SELECT v FROM grows WHERE id = $1");
                        }};
  auto plan = [&s] {
    auto res = s.run([](pqxx::connection& c) {
      pqxx::nontransaction tx{c};
      for (int i = 0; i < 6; ++i)
        tx.exec_prepared("grows_one", i);
      std::string text;
      for (const auto& row : tx.exec("EXPLAIN EXECUTE grows_one(3)"))
        text += row[0].as<std::string>() + "\n";
      return text;
    });
    EXPECT_TRUE(res) << ispflow::render_error(res.error());
    return res ? *res : std::string{};
  };
  EXPECT_THAT(plan(), HasSubstr("Seq Scan on grows"));
  db.query("INSERT INTO grows SELECT i, 'x' FROM generate_series(6, 100000) i");
  EXPECT_THAT(plan(), HasSubstr("Seq Scan on grows"));
  EXPECT_EQ(s.replans(), 0u);

  s.replan(std::chrono::milliseconds{1}, std::chrono::milliseconds{1});
  std::this_thread::sleep_for(std::chrono::milliseconds{5});
  EXPECT_THAT(plan(), HasSubstr("Index Scan using grows_pkey"));
  EXPECT_EQ(s.replans(), 1u);
}

TEST(postgres_store_connect, unreachable_database_is_unavailable) {
  auto store = pg::intake_store::connect(
    "host=/nonexistent-ispflow-socket-dir port=1 user=postgres");
  ASSERT_FALSE(store);
  EXPECT_TRUE(has_code(store.error(), errc::database_unavailable))
    << ispflow::render_error(store.error());
}
