// The intake pipeline against real servers: ispflow-bus (the Kafka protocol
// through librdkafka) and PostgreSQL. Records are produced with librdkafka;
// the test asserts the database, the dead-letter topic and saga.events.v1.

#include "actors/intake.hpp"
#include "actors/outbox_relay.hpp"
#include "actors/store.hpp"
#include "adapters/kafka/consumer.hpp"
#include "adapters/kafka/producer.hpp"
#include "adapters/kafka/tail_reader.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "events/type_ids.hpp"
#include "tests/support/bus_process.hpp"
#include "tests/support/scratch_database.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <cstdio>
#include <gtest/gtest.h>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <thread>

using namespace ispflow;
using namespace std::chrono_literals;

namespace {

events::kafka_record
binary_event(const std::string& id, const std::string& tenant,
             const std::string& sub, const std::string& payload) {
  events::kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.key = sub;
  rec.value = payload;
  auto h = [&](const char* k, const std::string& v) {
    rec.headers.push_back(events::kafka_header{k, v, false});
  };
  h("ce_specversion", "1.0");
  h("ce_id", id);
  h("ce_source", "billing.test");
  h("ce_type", "billing.subscription.suspended");
  h("ce_subject", sub);
  h("ce_tenantid", tenant);
  h("content-type", "application/json");
  h("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  return rec;
}

std::string suspension(const std::string& tenant, const std::string& sub,
                       const std::string& reason) {
  return R"({"schema_version":1,"tenant_id":")" + tenant
         + R"(","subscriber_id":")" + sub + R"(","reason":")" + reason
         + R"("})";
}

struct pipeline_test : ::testing::Test {
  ispflow::testing::scratch_database db;
  ispflow::testing::bus_process bus{ISPFLOW_BUS_PATH};
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  adapters::kafka::client_settings kafka;

  void SetUp() override {
    ASSERT_FALSE(bus.bootstrap().empty()) << "ispflow-bus gave no address";
    ASSERT_TRUE(adapters::postgres::apply_migrations(db.dsn()));
    auto store = adapters::postgres::intake_store::connect(db.dsn());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->upsert_tenants({{"acme", "Acme Fibre"}}));
    cfg.add_message_types<caf::id_block::ispflow>();
    sys = std::make_unique<caf::actor_system>(cfg);
    kafka.bootstrap_servers = bus.bootstrap();
    kafka.client_id = "pipeline-test";
    kafka.group_id = "pipeline-test";
    // The mock makes a new group member wait session.timeout.ms - 1 s.
    kafka.extra = {{"session.timeout.ms", "4000"},
                   {"heartbeat.interval.ms", "1000"}};
  }

  void produce(const std::vector<events::kafka_record>& recs) {
    auto producer = adapters::kafka::producer::make(kafka);
    ASSERT_TRUE(producer);
    ASSERT_TRUE((*producer)->produce_all(recs, 30s));
  }

  // Commits `n` unpublished saga.events.v1 rows (keys k1.., values v1..).
  static void add_outbox_rows(pqxx::connection& c, int n) {
    pqxx::work tx{c};
    tx.exec("insert into outbox(topic, key, value) select 'saga.events.v1', "
            "convert_to('k' || g, 'UTF8'), convert_to('v' || g, 'UTF8') "
            "from generate_series(1, "
            + std::to_string(n) + ") g");
    tx.commit();
  }

  // Produces the records of the first `n` outbox rows (by id) to
  // saga.events.v1 with their outbox ids, as a relay that died before
  // marking them did, round robin over `partitions` partitions.
  void produce_first_rows(pqxx::connection& c, int n, int partitions) {
    std::vector<events::kafka_record> already;
    pqxx::nontransaction tx{c};
    auto rows = tx.exec("select id from outbox order by id limit "
                        + std::to_string(n));
    for (int i = 0; i < static_cast<int>(rows.size()); ++i) {
      events::kafka_record rec;
      rec.topic = "saga.events.v1";
      rec.partition = partitions > 1 ? i % partitions : -1;
      rec.key = "k";
      rec.value = "v";
      rec.headers.push_back(events::kafka_header{
        actors::outbox_id_header, rows[i][0].as<std::string>(), false});
      already.push_back(rec);
    }
    produce(already);
  }

  // Commits one unpublished saga.events.v1 row packing `n` records (keys
  // k1.., values p1..), as a saga write does (schema/0024).
  static void add_packed_row(pqxx::connection& c, int n) {
    pqxx::work tx{c};
    tx.exec("insert into outbox(topic, records, record_count) select "
            "'saga.events.v1', json_agg(json_build_object('topic', "
            "'saga.events.v1', 'key', encode(convert_to('k' || g, 'UTF8'), "
            "'base64'), 'value', encode(convert_to('p' || g, 'UTF8'), "
            "'base64'), 'headers', '[]'::json) order by g), count(*) "
            "from generate_series(1, "
            + std::to_string(n) + ") g");
    tx.commit();
  }

  // Runs a relay (batches of 3, `tail_scan`) until the outbox is empty,
  // then checks that saga.events.v1 holds each of the `records` records
  // once (by their outbox label).
  void relay_publishes_each_record_once(size_t records, int64_t tail_scan) {
    actors::outbox_relay_settings rs;
    rs.kafka = kafka;
    rs.dsn = db.dsn();
    rs.batch = 3;
    rs.tail_scan = tail_scan;
    auto relay = actors::spawn_outbox_relay(*sys, rs);
    ASSERT_TRUE(relay);
    EXPECT_EQ(await_count("select count(*) from outbox where published_at "
                          "is null",
                          0),
              0);
    auto saga = read_all("saga.events.v1");
    std::map<std::string, int> per_id;
    for (auto& rec : saga)
      per_id[rec.header(actors::outbox_id_header)->value]++;
    EXPECT_EQ(saga.size(), records);
    EXPECT_EQ(per_id.size(), records);
    caf::scoped_actor self{*sys};
    self->request(*relay, 30s, stop_atom_v)
      .receive([](int64_t backlog) { EXPECT_EQ(backlog, 0); },
               [](caf::error& err) { FAIL() << caf::to_string(err); });
  }

  int64_t count(const std::string& sql) {
    return db.count(sql);
  }

  int64_t await_count(const std::string& sql, int64_t want) {
    return db.await_count(sql, want);
  }

  std::vector<events::kafka_record> read_all(const std::string& topic) {
    auto tail = adapters::kafka::read_tail(kafka, topic, 100000);
    EXPECT_TRUE(tail);
    return tail ? *tail : std::vector<events::kafka_record>{};
  }
};

TEST_F(pipeline_test, records_valid_events_once_and_dead_letters_the_rest) {
  std::vector<events::kafka_record> recs;
  for (int i = 0; i < 20; ++i) {
    auto sub = "sub-" + std::to_string(i);
    recs.push_back(binary_event("evt-" + std::to_string(i), "acme", sub,
                                suspension("acme", sub, "non_payment")));
  }
  // A producer retry: the same event again.
  recs.push_back(recs.front());
  // Bad input of three kinds.
  recs.push_back(binary_event("bad-1", "acme", "sub-1", "{not json"));
  recs.push_back(binary_event("bad-2", "globex", "sub-2",
                              suspension("globex", "sub-2", "non_payment")));
  recs.push_back(binary_event("bad-3", "acme", "sub-3",
                              suspension("acme", "sub-3", "vacation")));
  produce(recs);

  auto store = actors::spawn_store(*sys, {db.dsn()});
  actors::intake_settings is;
  is.kafka = kafka;
  is.topics = {"billing.events.v1"};
  is.max_batch = 7;
  is.check.known_tenant = [](std::string_view t) { return t == "acme"; };
  auto intake = actors::spawn_intake(*sys, is, store);
  ASSERT_TRUE(intake);
  actors::outbox_relay_settings rs;
  rs.kafka = kafka;
  rs.dsn = db.dsn();
  rs.batch = 5;
  rs.tail_scan = 100;
  auto relay = actors::spawn_outbox_relay(*sys, rs);
  ASSERT_TRUE(relay);

  EXPECT_EQ(await_count("select count(*) from inbox", 20), 20);
  EXPECT_EQ(await_count("select count(*) from dead_letters", 3), 3);
  EXPECT_EQ(await_count("select count(*) from outbox where published_at is "
                        "null",
                        0),
            0);
  EXPECT_EQ(count("select count(*) from inbox where traceparent like "
                  "'00-4bf92f35%'"),
            20);
  EXPECT_EQ(count("select count(*) from dead_letters where error = "
                  "'malformed_json'"),
            1);
  EXPECT_EQ(count("select count(*) from dead_letters where error = "
                  "'unknown_tenant'"),
            1);
  EXPECT_EQ(count("select count(*) from dead_letters where error = "
                  "'schema_violation' and detail like '%reason%'"),
            1);

  // The DLQ holds each refused record once, byte for byte, with a reason.
  auto dlq = read_all("billing.events.v1.dlq");
  ASSERT_EQ(dlq.size(), 3u);
  std::set<std::string> codes;
  for (auto& rec : dlq) {
    auto* code = rec.header("ispflow_error");
    ASSERT_NE(code, nullptr);
    codes.insert(code->value);
    ASSERT_NE(rec.header("ispflow_error_detail"), nullptr);
    auto* id = rec.header("ce_id");
    ASSERT_NE(id, nullptr);
    auto original = std::find_if(recs.begin(), recs.end(), [&](auto& r) {
      return r.header("ce_id")->value == id->value;
    });
    ASSERT_NE(original, recs.end());
    EXPECT_EQ(rec.value, original->value);
    EXPECT_EQ(rec.key, original->key);
  }
  EXPECT_EQ(codes, (std::set<std::string>{"malformed_json", "unknown_tenant",
                                          "schema_violation"}));

  // saga.events.v1 announces each accepted event exactly once.
  auto saga = read_all("saga.events.v1");
  std::multiset<std::string> ids;
  for (auto& rec : saga)
    if (auto* h = rec.header("ce_id"))
      ids.insert(h->value);
  EXPECT_EQ(saga.size(), 20u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 20u);

  caf::scoped_actor self{*sys};
  self->request(*intake, 30s, stop_atom_v)
    .receive([](uint64_t n) { EXPECT_EQ(n, 24u); },
             [](caf::error& err) { FAIL() << caf::to_string(err); });
  self->request(*relay, 30s, stop_atom_v)
    .receive([](int64_t backlog) { EXPECT_EQ(backlog, 0); },
             [](caf::error& err) { FAIL() << caf::to_string(err); });
  self->send_exit(store, caf::exit_reason::user_shutdown);

  // A restarted intake in the same group starts after the committed
  // offsets: of everything on the topic it reads only the one new event.
  auto store2 = actors::spawn_store(*sys, {db.dsn()});
  auto intake2 = actors::spawn_intake(*sys, is, store2);
  ASSERT_TRUE(intake2);
  produce({binary_event("evt-late", "acme", "sub-late",
                        suspension("acme", "sub-late", "fraud"))});
  EXPECT_EQ(await_count("select count(*) from inbox", 21), 21);
  self->request(*intake2, 30s, stop_atom_v)
    .receive([](uint64_t n) { EXPECT_EQ(n, 1u); },
             [](caf::error& err) { FAIL() << caf::to_string(err); });
  self->send_exit(store2, caf::exit_reason::user_shutdown);
  EXPECT_EQ(count("select count(*) from inbox where event_id = 'evt-late'"), 1);
}

TEST_F(pipeline_test, relay_does_not_republish_rows_already_in_kafka) {
  // Rows published by a relay that died before marking them: they carry
  // their outbox id in Kafka but are still unpublished in the database.
  pqxx::connection c{db.dsn()};
  add_outbox_rows(c, 10);
  produce_first_rows(c, 4, 1);
  relay_publishes_each_record_once(10, 64);
}

// A relay that died while a packed row's records were on their way left
// some of them in Kafka: the next sends the rest of that row, and nothing
// of a packed row that is there whole.
TEST_F(pipeline_test, relay_sends_the_rest_of_a_packed_row_once) {
  pqxx::connection c{db.dsn()};
  add_packed_row(c, 2);
  add_packed_row(c, 3);
  auto ids = pqxx::nontransaction{c}.exec("select id from outbox order by id");
  ASSERT_EQ(ids.size(), 2u);
  auto first = ids[0][0].as<std::string>();
  auto second = ids[1][0].as<std::string>();
  std::vector<events::kafka_record> already;
  for (auto label : {first + ".0", first + ".1", second + ".0"}) {
    events::kafka_record rec;
    rec.topic = "saga.events.v1";
    rec.key = "k";
    rec.value = "sent before";
    rec.headers.push_back(
      events::kafka_header{actors::outbox_id_header, label, false});
    already.push_back(rec);
  }
  produce(already);
  relay_publishes_each_record_once(5, 64);
  std::vector<std::string> sent;
  for (auto& rec : read_all("saga.events.v1"))
    if (rec.value != "sent before")
      sent.push_back(rec.header(actors::outbox_id_header)->value + "="
                     + rec.value);
  // Across partitions (by key), Kafka keeps no order between them.
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(sent,
            (std::vector<std::string>{second + ".1=p2", second + ".2=p3"}));
}

// More rows already in Kafka than one look of the reconciliation covers
// (marks lost in a server crash: they commit asynchronously), spread over
// partitions whose tails hold them all: none is published twice.
TEST_F(pipeline_test, relay_reconciles_more_rows_than_one_tail_scan) {
  pqxx::connection c{db.dsn()};
  add_outbox_rows(c, 300);
  // An auto-created topic has the mock's four partitions: 60 of the 240
  // per partition, so all are in tails of 64 (the least tail_scan).
  produce_first_rows(c, 240, 4);
  relay_publishes_each_record_once(300, 64);
}

// Rows committed by a writer of this process ring the doorbell: the relay
// publishes them at once, not after its poll interval (an hour here).
TEST_F(pipeline_test, relay_publishes_when_the_doorbell_rings) {
  auto bell = std::make_shared<common::doorbell>();
  actors::outbox_relay_settings rs;
  rs.kafka = kafka;
  rs.dsn = db.dsn();
  rs.poll_interval = 1h;
  rs.doorbell = bell;
  auto relay = actors::spawn_outbox_relay(*sys, rs);
  ASSERT_TRUE(relay);
  // The relay's first round found nothing and now waits on the bell.
  std::this_thread::sleep_for(500ms);
  pqxx::connection c{db.dsn()};
  add_outbox_rows(c, 5);
  bell->ring();
  EXPECT_EQ(await_count("select count(*) from outbox where published_at is "
                        "null",
                        0),
            0);
  EXPECT_EQ(read_all("saga.events.v1").size(), 5u);
  caf::scoped_actor self{*sys};
  self->send(*relay, stop_atom_v);
  bell->ring(); // ends the wait, so the stop is read now
  self->receive([](int64_t backlog) { EXPECT_EQ(backlog, 0); },
                [](caf::error& err) { FAIL() << caf::to_string(err); },
                caf::after(30s) >> [] { FAIL() << "the relay did not stop"; });
}

} // namespace
