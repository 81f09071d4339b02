// Hostile input through the real intake pipeline (ispflow-bus + PostgreSQL):
// a producer speaking for another tenant, two tenants sharing an event
// identity, JSON nested a million levels deep, oversized identifiers and an
// event only PostgreSQL refuses. Each must end as a dead letter or a
// recorded event while the partition moves on.

#include "actors/intake.hpp"
#include "actors/store.hpp"
#include "adapters/kafka/producer.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "common/log.hpp"
#include "events/source_signature.hpp"
#include "events/type_ids.hpp"
#include "tests/support/bus_process.hpp"
#include "tests/support/scratch_database.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>
#include <sstream>

using namespace ispflow;
using namespace std::chrono_literals;

namespace {

events::kafka_record event(const std::string& source, const std::string& id,
                           const std::string& tenant, const std::string& sub,
                           std::string payload) {
  events::kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.key = sub;
  rec.value = std::move(payload);
  auto h = [&](const char* k, const std::string& v) {
    rec.headers.push_back(events::kafka_header{k, v, false});
  };
  h("ce_specversion", "1.0");
  h("ce_id", id);
  h("ce_source", source);
  h("ce_type", "billing.subscription.suspended");
  h("ce_subject", sub);
  h("ce_tenantid", tenant);
  h("content-type", "application/json");
  return rec;
}

std::string suspension(const std::string& tenant, const std::string& sub) {
  return R"({"schema_version":1,"tenant_id":")" + tenant
         + R"(","subscriber_id":")" + sub + R"(","reason":"non_payment"})";
}

events::kafka_record good(const std::string& id, const std::string& sub) {
  return event("billing.acme", id, "acme", sub, suspension("acme", sub));
}

// The signing keys of "billing.signed": the current one and the one a
// rotation is retiring.
const std::string current_key = "current signing key of billing.signed, 2026";
const std::string previous_key = "previous signing key of billing.signed, 2025";

// `rec` signed as its producer would (docs/operations.md).
// The "now" against which the fixture's intake judges signed events' times.
const std::string signed_now = "2026-06-01T12:00:00Z";

events::kafka_record signed_with(events::kafka_record rec,
                                 const std::string& key) {
  auto ev = std::get<events::cloud_event>(events::decode_cloud_event(rec));
  rec.headers.push_back(
    {std::string{events::signature_header},
     events::sign_v1(key, events::signature_base(ev, rec.value)), false});
  return rec;
}

struct intake_hostile : ::testing::Test {
  ispflow::testing::scratch_database db;
  ispflow::testing::bus_process bus{ISPFLOW_BUS_PATH};
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  adapters::kafka::client_settings kafka;
  std::optional<actors::store_actor> store;
  std::optional<actors::intake_actor> intake;

  void SetUp() override {
    ASSERT_FALSE(bus.bootstrap().empty()) << "ispflow-bus gave no address";
    ASSERT_TRUE(adapters::postgres::apply_migrations(db.dsn()));
    auto st = adapters::postgres::intake_store::connect(db.dsn());
    ASSERT_TRUE(st);
    ASSERT_TRUE(st->upsert_tenants({{"acme", "Acme"}, {"globex", "Globex"}}));
    cfg.add_message_types<caf::id_block::ispflow>();
    sys = std::make_unique<caf::actor_system>(cfg);
    kafka.bootstrap_servers = bus.bootstrap();
    kafka.client_id = "intake-hostile";
    kafka.group_id = "intake-hostile";
    kafka.extra = {{"session.timeout.ms", "4000"},
                   {"heartbeat.interval.ms", "1000"}};
  }

  void TearDown() override {
    if (intake) {
      caf::scoped_actor self{*sys};
      self->request(*intake, 30s, stop_atom_v)
        .receive([](uint64_t) {},
                 [](caf::error& err) { FAIL() << caf::to_string(err); });
    }
    if (store)
      caf::anon_send_exit(*store, caf::exit_reason::user_shutdown);
  }

  void produce(const std::vector<events::kafka_record>& recs) {
    auto settings = kafka;
    // Room for the 2 MB records of the deep-JSON test.
    settings.extra.emplace_back("message.max.bytes", "16000000");
    auto producer = adapters::kafka::producer::make(settings);
    ASSERT_TRUE(producer);
    ASSERT_TRUE((*producer)->produce_all(recs, 30s));
  }

  /// Starts intake with acme's producer allowed for acme only, globex's for
  /// globex only, and a shared billing system for both.
  void start(size_t max_batch = 100) {
    auto s = actors::spawn_store(*sys, {db.dsn()});
    store = s;
    actors::intake_settings is;
    is.kafka = kafka;
    is.topics = {"billing.events.v1"};
    is.max_batch = max_batch;
    // Wait for a whole batch: the records of a test share one transaction.
    is.linger = 500ms;
    is.check.known_tenant = [](std::string_view t) {
      return t == "acme" || t == "globex";
    };
    events::source_policy policy;
    policy.allow("billing.acme", {"acme"});
    policy.allow("billing.globex", {"globex"});
    policy.allow("billing.shared", {"acme", "globex"});
    policy.allow("billing.signed", {"acme"});
    policy.require_signature("billing.signed", {current_key, previous_key});
    is.check.source_allows = [policy](std::string_view src,
                                      std::string_view tenant) {
      return policy.allows(src, tenant);
    };
    is.check.signing_keys = [policy](std::string_view src) {
      return policy.signing_keys(src);
    };
    // Signed events are judged against a fixed "now" (signed_now).
    is.check.signed_window = {std::chrono::hours{24 * 7},
                              std::chrono::seconds{300}};
    is.check.now_ms = [] { return *events::rfc3339_to_unix_ms(signed_now); };
    auto started = actors::spawn_intake(*sys, is, s);
    ASSERT_TRUE(started);
    intake = *started;
  }

  int64_t await_count(const std::string& sql, int64_t want) {
    return db.await_count(sql, want);
  }
};

// Item 1: acme's producer names globex: dead letter, nothing of globex's
// changes. The shared producer uses one (source, id) for both tenants: both
// are recorded, neither shadows the other.
TEST_F(intake_hostile, a_spoofed_tenant_is_refused_and_tenants_never_collide) {
  produce({
    good("evt-1", "sub-1"),
    event("billing.acme", "evt-2", "globex", "sub-9",
          suspension("globex", "sub-9")),
    event("billing.shared", "same-id", "acme", "sub-2",
          suspension("acme", "sub-2")),
    event("billing.shared", "same-id", "globex", "sub-3",
          suspension("globex", "sub-3")),
  });
  start();
  EXPECT_EQ(await_count("select count(*) from dead_letters", 1), 1);
  EXPECT_EQ(await_count("select count(*) from inbox", 3), 3);
  EXPECT_EQ(db.value("select error || ' ' || tenant_id from dead_letters"),
            "tenant_not_allowed globex");
  EXPECT_EQ(db.count("select count(*) from inbox where tenant_id = 'globex'"),
            1);
  EXPECT_EQ(db.count("select count(*) from inbox where event_id = 'same-id'"),
            2);
  EXPECT_EQ(db.count("select count(*) from inbox where subscriber_id = "
                     "'sub-9'"),
            0);
  // Both shared-id events are announced, each under its own ce_id.
  EXPECT_EQ(db.count("select count(distinct headers) from outbox where "
                     "topic = 'saga.events.v1'"),
            3);
  // Its copy for the dead-letter topic waits in the outbox.
  EXPECT_EQ(db.count("select count(*) from outbox where topic = "
                     "'billing.events.v1.dlq' and headers @> "
                     "'[{\"key\": \"ispflow_error\", \"text\": "
                     "\"tenant_not_allowed\"}]'"),
            1);
}

// A producer that can write the topic names the signing source: without a
// signature, or with one made with another key, its events are dead letters
// `signature_invalid` that act on nothing; events signed with the current
// key and with the key a rotation retires are recorded.
TEST_F(intake_hostile, forged_events_of_a_signing_source_act_on_nothing) {
  auto from = [](const std::string& id, const std::string& sub,
                 const std::string& time = "2026-06-01T11:59:00Z") {
    auto rec = event("billing.signed", id, "acme", sub,
                     suspension("acme", sub));
    rec.headers.push_back(events::kafka_header{"ce_time", time, false});
    return rec;
  };
  produce({
    from("forged-1", "sub-1"),
    signed_with(from("forged-2", "sub-2"), "a key billing.signed never had"),
    signed_with(from("signed-3", "sub-3"), current_key),
    signed_with(from("signed-4", "sub-4"), previous_key),
    // Genuinely signed, but 12 days old: a replay, outside the window.
    signed_with(from("replayed-6", "sub-6", "2026-05-20T12:00:00Z"),
                current_key),
    good("after", "sub-5"),
  });
  start();
  EXPECT_EQ(await_count("select count(*) from inbox", 3), 3);
  EXPECT_EQ(await_count("select count(*) from dead_letters", 3), 3);
  // They land on whichever partitions their keys hash to: order by the
  // reason, not by where they were read.
  EXPECT_EQ(db.value("select string_agg(error || ' ' || detail, '; ' order "
                     "by detail) from dead_letters"),
            "signature_invalid ispflow-signature: missing; signature_invalid "
            "ispflow-signature: no signature matches the key of source "
            "\"billing.signed\" (HMAC-SHA256 of the v1 signature base); "
            "signature_invalid time: 1036800 s old, older than the replay "
            "window of 604800 s (intake.signed_max_age_seconds): a replayed "
            "record?");
  // Nothing of the refused events reaches the inbox or the sagas.
  EXPECT_EQ(db.count("select count(*) from inbox where subscriber_id in "
                     "('sub-1', 'sub-2', 'sub-6')"),
            0);
  EXPECT_EQ(db.value("select string_agg(event_id, ',' order by event_id) "
                     "from inbox"),
            "after,signed-3,signed-4");
  EXPECT_EQ(db.count("select count(*) from outbox where topic = "
                     "'saga.events.v1'"),
            3);
  EXPECT_EQ(db.count("select count(*) from outbox where topic = "
                     "'billing.events.v1.dlq' and headers @> "
                     "'[{\"key\": \"ispflow_error\", \"text\": "
                     "\"signature_invalid\"}]'"),
            3);
}

// Item 2: a payload and a structured event nested a million levels deep are
// dead letters; the process lives and the next event is recorded.
TEST_F(intake_hostile, million_deep_json_is_dead_lettered_and_intake_lives_on) {
  constexpr size_t depth = 1'000'000;
  auto deep = std::string(depth, '[') + std::string(depth, ']');
  auto structured = event("billing.acme", "deep-2", "acme", "sub-2",
                          R"({"specversion":"1.0","data":)" + deep + "}");
  structured.headers.back().value = "application/cloudevents+json";
  produce({event("billing.acme", "deep-1", "acme", "sub-1", deep), structured,
           good("after-deep", "sub-3")});
  start();
  EXPECT_EQ(await_count("select count(*) from dead_letters where error = "
                        "'malformed_json' and detail like '%nested deeper "
                        "than 64 levels%'",
                        2),
            2);
  EXPECT_EQ(await_count("select count(*) from inbox where event_id = "
                        "'after-deep'",
                        1),
            1);
}

// Item 4 (decode): a 10 kB ce_id and a 10 kB ce_tenantid are refused at
// decode, naming the attribute; before, the batch failed in the btree
// indexes on every retry and the partition stalled.
TEST_F(intake_hostile, oversized_identifiers_are_refused_at_decode) {
  auto big = std::string(10'240, 'x');
  produce(
    {good(big, "sub-1"),
     event("billing.acme", "evt-2", big, "sub-2", suspension("acme", "sub-2")),
     good("after-big", "sub-3")});
  start();
  EXPECT_EQ(await_count("select count(*) from dead_letters where error = "
                        "'malformed_envelope'",
                        2),
            2);
  EXPECT_EQ(db.count("select count(*) from dead_letters where detail = "
                     "'ce_id: 10240 bytes, longer than the limit of 256'"),
            1);
  EXPECT_EQ(db.count("select count(*) from dead_letters where detail = "
                     "'ce_tenantid: 10240 bytes, longer than the limit of 63'"
                     " and tenant_id is null"),
            1);
  EXPECT_EQ(await_count("select count(*) from inbox where event_id = "
                        "'after-big'",
                        1),
            1);
}

// Item 4 (bisect): one event passes every check but PostgreSQL refuses it
// (the checks at the door catch every refusal we know of, so the test adds
// one the intake cannot know: a CHECK constraint, SQLSTATE 23514).
// The batch is split until that event alone fails: it becomes an
// `unstorable` dead letter, the other nine are recorded, and the partition
// moves on.
TEST_F(intake_hostile, a_batch_with_an_unstorable_event_is_bisected) {
  std::vector<events::kafka_record> recs;
  for (int i = 0; i < 10; ++i) {
    auto sub = "sub-" + std::to_string(i);
    recs.push_back(good("evt-" + std::to_string(i), sub));
    // One key: one partition, so offsets follow input order.
    recs.back().key = "one-partition";
  }
  db.query("ALTER TABLE inbox ADD CONSTRAINT refuses_sub_6"
           " CHECK (subscriber_id <> 'sub-6')");
  produce(recs);
  start();
  EXPECT_EQ(await_count("select count(*) from inbox", 9), 9);
  EXPECT_EQ(await_count("select count(*) from dead_letters", 1), 1);
  EXPECT_EQ(db.value("select error || ' ' || \"offset\" from dead_letters"),
            "unstorable 6");
  EXPECT_EQ(db.count("select count(*) from dead_letters where detail like "
                     "'SQLSTATE 23514%'"),
            1);
  EXPECT_EQ(db.count("select count(*) from inbox where event_id = 'evt-6'"), 0);
  // Inbox order is input order.
  EXPECT_EQ(db.value("select string_agg(event_id, ',' order by id) from "
                     "inbox"),
            "evt-0,evt-1,evt-2,evt-3,evt-4,evt-5,evt-7,evt-8,evt-9");
  // Its byte-faithful copy for the dead-letter topic waits in the outbox.
  EXPECT_EQ(db.value("select convert_from(value, 'UTF8') from outbox where "
                     "topic = 'billing.events.v1.dlq'"),
            recs[6].value);
  produce({good("after-bisect", "sub-x")});
  EXPECT_EQ(await_count("select count(*) from inbox where event_id = "
                        "'after-bisect'",
                        1),
            1);
}

// Item 10: input reaches intake's "event refused" log line through the
// refusal's detail; no control character of it reaches the log raw.
TEST_F(intake_hostile, refused_input_cannot_forge_or_colour_a_log_line) {
  std::ostringstream out;
  common::setup_logging({common::log_level::info, common::log_format::text},
                        out);
  auto rec = good("evt-log", "sub-1");
  rec.headers.push_back(events::kafka_header{
    "ce_time",
    "x\n2026-01-01T00:00:00.000Z ERROR forged\x1b[2J\xc2\x9b"
    "31m\xe2\x80\xae",
    false});
  produce({rec, good("after-log", "sub-2")});
  start();
  EXPECT_EQ(await_count("select count(*) from inbox where event_id = "
                        "'after-log'",
                        1),
            1);
  caf::scoped_actor self{*sys};
  self->request(*intake, 30s, stop_atom_v)
    .receive([](uint64_t) {},
             [](caf::error& err) { FAIL() << caf::to_string(err); });
  intake.reset();
  auto text = out.str();
  common::setup_logging({common::log_level::info, common::log_format::json});
  auto refused = text.find("event refused");
  ASSERT_NE(refused, std::string::npos) << text;
  auto line = text.substr(refused, text.find('\n', refused) - refused);
  EXPECT_NE(line.find("\\x1b[2J"), std::string::npos) << line;
  EXPECT_NE(line.find("\\u009b31m"), std::string::npos) << line;
  EXPECT_NE(line.find("\\u202e"), std::string::npos) << line;
  EXPECT_EQ(text.find("\nforged"), std::string::npos);
  EXPECT_EQ(text.find("ERROR forged"), text.rfind("ERROR forged"));
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos);
  EXPECT_EQ(text.find("\xe2\x80\xae"), std::string::npos);
}

} // namespace
