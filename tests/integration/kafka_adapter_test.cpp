#include "adapters/kafka/consumer.hpp"
#include "adapters/kafka/mock_cluster.hpp"
#include "adapters/kafka/producer.hpp"
#include "adapters/kafka/tail_reader.hpp"
#include "events/errc.hpp"
#include "tests/support/sockets.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;
namespace kafka = ispflow::adapters::kafka;
using ispflow::events::kafka_header;
using ispflow::events::kafka_record;
using ispflow::events::topic_offset;

namespace {

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(++counter);
}

kafka_record make_record(const std::string& topic, int32_t partition,
                         std::string key, std::string value) {
  kafka_record x;
  x.topic = topic;
  x.partition = partition;
  x.key = std::move(key);
  x.value = std::move(value);
  return x;
}

ispflow::errc code_of(const caf::error& err) {
  return static_cast<ispflow::errc>(err.code());
}

struct kafka_adapter : ::testing::Test {
  std::unique_ptr<kafka::mock_cluster> cluster;

  void SetUp() override {
    auto res = kafka::mock_cluster::make(1);
    ASSERT_TRUE(res) << ispflow::render_error(res.error());
    cluster = std::move(*res);
  }

  kafka::client_settings settings(const std::string& group = "") const {
    kafka::client_settings cs;
    cs.bootstrap_servers = cluster->bootstrap_servers();
    cs.group_id = group;
    // On the 2.0.2 mock a member joining a group whose last member left
    // waits session.timeout.ms - 1000 (44 s by default); below ~3.5 s the
    // fixed 3 s first-join window never completes.
    if (!group.empty())
      cs.extra = {{"session.timeout.ms", "4000"},
                  {"heartbeat.interval.ms", "1000"}};
    return cs;
  }

  std::unique_ptr<kafka::producer> make_producer() {
    auto res = kafka::producer::make(settings());
    EXPECT_TRUE(res) << ispflow::render_error(res.error());
    return res ? std::move(*res) : nullptr;
  }

  void produce(const std::vector<kafka_record>& xs) {
    auto p = make_producer();
    ASSERT_NE(p, nullptr);
    auto res = p->produce_all(xs, 10s);
    ASSERT_TRUE(res) << ispflow::render_error(res.error());
  }

  // Polls until `n` records arrived or 30 s passed (the mock's first group
  // join alone takes about 3 s).
  static std::vector<kafka_record> poll_n(kafka::consumer& c, size_t n) {
    std::vector<kafka_record> out;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      auto res = c.poll_batch(n - out.size(), 500ms);
      EXPECT_TRUE(res) << ispflow::render_error(res.error());
      if (!res)
        break;
      for (auto& x : *res)
        out.push_back(std::move(x));
    }
    return out;
  }

  // A consumer of `topic` (new, one partition, ten records) that has read
  // them all and sent an asynchronous commit of offset 7, which the group
  // acknowledged: its lag reports 7 as committed. Null (and a failure
  // recorded) otherwise.
  std::unique_ptr<kafka::consumer>
  read_ten_and_commit_seven(const std::string& topic) {
    EXPECT_TRUE(cluster->create_topic(topic, 1));
    std::vector<kafka_record> sent;
    for (int i = 0; i < 10; ++i)
      sent.push_back(make_record(topic, -1, "k", "m" + std::to_string(i)));
    produce(sent);
    auto cons = kafka::consumer::make(settings(unique_name("g")), {topic});
    if (!cons) {
      ADD_FAILURE() << ispflow::render_error(cons.error());
      return nullptr;
    }
    EXPECT_EQ(poll_n(**cons, 10).size(), 10u);
    auto res = (*cons)->commit_async({topic_offset{topic, 0, 7}});
    EXPECT_TRUE(res) << ispflow::render_error(res.error());
    int64_t committed = -1;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (committed != 7 && std::chrono::steady_clock::now() < deadline) {
      if (!(*cons)->poll_batch(10, 100ms))
        break;
      auto lag = (*cons)->lag(5s);
      EXPECT_TRUE(lag) << ispflow::render_error(lag.error());
      if (lag && lag->size() == 1)
        committed = lag->at(0).committed;
    }
    EXPECT_EQ(committed, 7);
    return committed == 7 ? std::move(*cons) : nullptr;
  }
};

struct recording_listener : kafka::rebalance_listener {
  std::mutex mtx;
  std::vector<kafka::topic_partition> assigned;
  std::vector<kafka::topic_partition> revoked;

  void on_assigned(const std::vector<kafka::topic_partition>& xs) override {
    std::lock_guard<std::mutex> guard{mtx};
    assigned.insert(assigned.end(), xs.begin(), xs.end());
  }

  void on_revoked(const std::vector<kafka::topic_partition>& xs) override {
    std::lock_guard<std::mutex> guard{mtx};
    revoked.insert(revoked.end(), xs.begin(), xs.end());
  }
};

} // namespace

TEST_F(kafka_adapter, round_trip_is_byte_faithful) {
  auto topic = unique_name("roundtrip");
  ASSERT_TRUE(cluster->create_topic(topic, 2));
  std::vector<kafka_record> sent;
  auto a = make_record(topic, 0, std::string("k\0\xff", 3),
                       std::string("v\0\xff\x01z", 5));
  a.headers = {kafka_header{"ce_id", std::string("\0id\xff", 4), false},
               kafka_header{"empty", "", false},
               kafka_header{"nothing", "", true},
               kafka_header{"ce_id", "second", false}};
  a.timestamp_ms = 1700000000123;
  sent.push_back(a);
  auto b = make_record(topic, 1, "", std::string(1, '\0'));
  b.null_key = true;
  b.timestamp_ms = 1700000000456;
  sent.push_back(b);
  auto c = make_record(topic, 1, "", "");
  c.timestamp_ms = 1700000000789;
  sent.push_back(c);
  produce(sent);
  auto cons = kafka::consumer::make(settings(unique_name("g")), {topic});
  ASSERT_TRUE(cons) << ispflow::render_error(cons.error());
  auto got = poll_n(**cons, sent.size());
  ASSERT_EQ(got.size(), sent.size());
  std::sort(got.begin(), got.end(), [](const auto& x, const auto& y) {
    return std::tie(x.partition, x.offset) < std::tie(y.partition, y.offset);
  });
  sent[0].offset = 0;
  sent[1].offset = 0;
  sent[2].offset = 1;
  for (size_t i = 0; i < sent.size(); ++i)
    EXPECT_EQ(got[i], sent[i]) << "record " << i;
  // An empty key is not a null key.
  EXPECT_FALSE(got[2].null_key);
  EXPECT_TRUE(got[1].null_key);
  ASSERT_EQ(got[0].headers.size(), 4u);
  EXPECT_EQ(got[0].headers[1], (kafka_header{"empty", "", false}));
  EXPECT_EQ(got[0].headers[2], (kafka_header{"nothing", "", true}));
  EXPECT_TRUE((*cons)->close());
}

TEST_F(kafka_adapter, poll_batch_returns_at_most_max_records) {
  auto topic = unique_name("max");
  std::vector<kafka_record> sent;
  for (int i = 0; i < 10; ++i)
    sent.push_back(make_record(topic, 0, "k", std::to_string(i)));
  produce(sent);
  auto cons = kafka::consumer::make(settings(unique_name("g")), {topic});
  ASSERT_TRUE(cons);
  std::vector<kafka_record> got;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (got.size() < 10 && std::chrono::steady_clock::now() < deadline) {
    auto res = (*cons)->poll_batch(3, 500ms);
    ASSERT_TRUE(res) << ispflow::render_error(res.error());
    EXPECT_LE(res->size(), 3u);
    got.insert(got.end(), res->begin(), res->end());
  }
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(got[static_cast<size_t>(i)].value, std::to_string(i));
}

TEST_F(kafka_adapter, new_consumer_resumes_after_committed_offsets) {
  auto topic = unique_name("resume");
  ASSERT_TRUE(cluster->create_topic(topic, 1));
  std::vector<kafka_record> sent;
  for (int i = 0; i < 10; ++i)
    sent.push_back(make_record(topic, -1, "k", "m" + std::to_string(i)));
  produce(sent);
  auto group = unique_name("g");
  {
    auto first = kafka::consumer::make(settings(group), {topic});
    ASSERT_TRUE(first);
    auto got = poll_n(**first, 10);
    ASSERT_EQ(got.size(), 10u);
    // Done with offsets 0..5: the next one to read is 6.
    auto res = (*first)->commit({topic_offset{topic, 0, 6}});
    ASSERT_TRUE(res) << ispflow::render_error(res.error());
    ASSERT_TRUE((*first)->close());
  }
  auto second = kafka::consumer::make(settings(group), {topic});
  ASSERT_TRUE(second);
  auto got = poll_n(**second, 4);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.front().offset, 6);
  EXPECT_EQ(got.front().value, "m6");
  EXPECT_EQ(got.back().value, "m9");
  auto more = (*second)->poll_batch(10, 300ms);
  ASSERT_TRUE(more);
  EXPECT_TRUE(more->empty());
  auto lag = (*second)->lag(5s);
  ASSERT_TRUE(lag) << ispflow::render_error(lag.error());
  ASSERT_EQ(lag->size(), 1u);
  EXPECT_EQ(lag->at(0).committed, 6);
  EXPECT_EQ(lag->at(0).high_watermark, 10);
  EXPECT_EQ(lag->at(0).lag, 4);
}

// The intake's commit: sent without waiting, it still reaches the group
// (the committed offset the group reports moves to it).
TEST_F(kafka_adapter, an_async_commit_reaches_the_group) {
  auto topic = unique_name("async-commit");
  // Null unless the group acknowledged offset 7 within 30 s.
  auto cons = read_ten_and_commit_seven(topic);
  ASSERT_TRUE(cons);
  ASSERT_TRUE(cons->close());
  auto closed = cons->commit_async({topic_offset{topic, 0, 8}});
  EXPECT_FALSE(closed);
}

// The intake reads the lag between polls, on the thread that consumes:
// once it knows the committed offset (its own acknowledged commit) and
// the watermarks (from fetch answers), it asks no broker, so a slow
// coordinator does not hold up consumption.
TEST_F(kafka_adapter, lag_waits_for_no_broker_once_it_knows_the_offsets) {
  auto cons = read_ten_and_commit_seven(unique_name("lag-known"));
  ASSERT_TRUE(cons);
  // Every answer of the cluster now takes 3 s; the lag takes none of them.
  ASSERT_TRUE(cluster->set_rtt(3s));
  auto lag = cons->lag(500ms);
  ASSERT_TRUE(cluster->set_rtt(0ms));
  ASSERT_TRUE(lag) << ispflow::render_error(lag.error());
  ASSERT_EQ(lag->size(), 1u);
  EXPECT_EQ(lag->at(0).committed, 7);
  EXPECT_EQ(lag->at(0).high_watermark, 10);
  EXPECT_EQ(lag->at(0).lag, 3);
  ASSERT_TRUE(cons->close());
}

TEST_F(kafka_adapter, rebalance_listener_sees_assign_and_revoke) {
  auto topic = unique_name("rebalance");
  ASSERT_TRUE(cluster->create_topic(topic, 3));
  produce({make_record(topic, 2, "k", "v")});
  auto listener = std::make_shared<recording_listener>();
  auto cons = kafka::consumer::make(settings(unique_name("g")), {topic},
                                    listener);
  ASSERT_TRUE(cons);
  ASSERT_EQ(poll_n(**cons, 1).size(), 1u);
  auto assigned = (*cons)->assignment();
  ASSERT_TRUE(assigned);
  EXPECT_EQ(assigned->size(), 3u);
  {
    std::lock_guard<std::mutex> guard{listener->mtx};
    EXPECT_EQ(listener->assigned.size(), 3u);
    EXPECT_TRUE(listener->revoked.empty());
  }
  ASSERT_TRUE((*cons)->close());
  std::lock_guard<std::mutex> guard{listener->mtx};
  EXPECT_EQ(listener->revoked.size(), 3u);
}

TEST_F(kafka_adapter, delivery_to_missing_partition_is_an_error) {
  auto topic = unique_name("nopart");
  ASSERT_TRUE(cluster->create_topic(topic, 2));
  auto p = make_producer();
  ASSERT_NE(p, nullptr);
  auto res = p->produce_all({make_record(topic, 0, "k", "fine"),
                             make_record(topic, 7, "k", "lost")},
                            10s);
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), ispflow::errc::kafka_error);
  EXPECT_NE(ispflow::render_error(res.error()).find(topic), std::string::npos);
  // The producer stays usable for later batches.
  EXPECT_TRUE(p->produce_all({make_record(topic, 1, "k", "ok")}, 10s));
}

TEST_F(kafka_adapter, read_tail_returns_last_n_per_partition) {
  auto topic = unique_name("tail");
  ASSERT_TRUE(cluster->create_topic(topic, 4));
  // Partition p gets counts[p] records; partition 3 stays empty.
  const int counts[] = {1, 5, 10, 0};
  std::vector<kafka_record> sent;
  for (int32_t p = 0; p < 4; ++p)
    for (int i = 0; i < counts[p]; ++i)
      sent.push_back(make_record(topic, p, "k",
                                 std::to_string(p) + ":" + std::to_string(i)));
  produce(sent);
  auto tail = kafka::read_tail(settings(), topic, 3);
  ASSERT_TRUE(tail) << ispflow::render_error(tail.error());
  std::vector<std::string> values;
  for (auto& x : *tail)
    values.push_back(x.value);
  std::vector<std::string> expected{"0:0", "1:2", "1:3", "1:4",
                                    "2:7", "2:8", "2:9"};
  EXPECT_EQ(values, expected);
  EXPECT_EQ(tail->at(4).offset, 7);
  EXPECT_EQ(tail->at(4).partition, 2);
  auto none = kafka::read_tail(settings(), topic, 0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(kafka_adapter, mock_cluster_rejects_an_existing_topic) {
  auto topic = unique_name("twice");
  ASSERT_TRUE(cluster->create_topic(topic, 2));
  auto again = cluster->create_topic(topic, 2);
  ASSERT_FALSE(again);
  EXPECT_EQ(code_of(again.error()), ispflow::errc::kafka_error);
}

TEST_F(kafka_adapter, read_tail_of_missing_topic_is_empty_and_creates_nothing) {
  auto topic = unique_name("missing");
  auto tail = kafka::read_tail(settings(), topic, 5);
  ASSERT_TRUE(tail) << ispflow::render_error(tail.error());
  EXPECT_TRUE(tail->empty());
  // Creating it now succeeds only if the read did not auto-create it.
  EXPECT_TRUE(cluster->create_topic(topic, 2));
}

TEST_F(kafka_adapter, refused_property_is_named_in_the_error) {
  auto cs = settings();
  cs.extra.emplace_back("no.such.property", "1");
  auto p = kafka::producer::make(cs);
  ASSERT_FALSE(p);
  EXPECT_EQ(code_of(p.error()), ispflow::errc::invalid_config);
  EXPECT_NE(ispflow::render_error(p.error()).find("no.such.property"),
            std::string::npos);
  cs = settings("g");
  cs.extra.emplace_back("session.timeout.ms", "not-a-number");
  auto c = kafka::consumer::make(cs, {"t"});
  ASSERT_FALSE(c);
  EXPECT_NE(ispflow::render_error(c.error()).find("session.timeout.ms"),
            std::string::npos);
}

TEST_F(kafka_adapter, consumer_needs_a_group_id) {
  auto c = kafka::consumer::make(settings(), {"t"});
  ASSERT_FALSE(c);
  EXPECT_EQ(code_of(c.error()), ispflow::errc::invalid_config);
}

TEST_F(kafka_adapter, caller_properties_override_defaults) {
  // Idempotence (a default) requires acks=all: librdkafka refuses the
  // caller's acks=1 only if it really replaced the default acks=all.
  auto cs = settings();
  cs.extra = {{"acks", "1"}};
  auto bad = kafka::producer::make(cs);
  ASSERT_FALSE(bad);
  cs.extra = {{"enable.idempotence", "false"}, {"acks", "1"}};
  auto p = kafka::producer::make(cs);
  ASSERT_TRUE(p) << ispflow::render_error(p.error());
  auto topic = unique_name("override");
  EXPECT_TRUE((*p)->produce_all({make_record(topic, -1, "k", "v")}, 10s));
  auto tail = kafka::read_tail(settings(), topic, 1);
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ(tail->at(0).value, "v");
}

// produce_all waits for its records' delivery reports: it sends them at
// once rather than letting linger.ms pass first (the outbox relay waits on
// every batch). With a linger longer than the timeout, waiting by poll()
// would time out.
TEST_F(kafka_adapter, produce_all_does_not_wait_for_linger) {
  auto cs = settings();
  cs.extra = {{"linger.ms", "60000"}};
  auto p = kafka::producer::make(cs);
  ASSERT_TRUE(p) << ispflow::render_error(p.error());
  auto topic = unique_name("linger");
  auto res = (*p)->produce_all({make_record(topic, -1, "k1", "v1"),
                                make_record(topic, -1, "k2", "v2")},
                               5s);
  ASSERT_TRUE(res) << ispflow::render_error(res.error());
  auto tail = kafka::read_tail(settings(), topic, 2);
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->size(), 2u);
}

// Nagle's algorithm is off at both ends: the mock broker's accepted
// connections (ispflow-bus serves them) and the producer's own. With it on,
// a batch whose records went to several partitions waited 40 ms for a
// delayed ACK before its last response.
TEST_F(kafka_adapter, broker_and_client_connections_have_nagle_off) {
  auto p = make_producer();
  ASSERT_NE(p, nullptr);
  auto topic = unique_name("nagle");
  ASSERT_TRUE(p->produce_all(
    {make_record(topic, 0, "k", "v"), make_record(topic, 1, "k", "v")}, 10s));
  auto bs = cluster->bootstrap_servers();
  auto colon = bs.rfind(':');
  ASSERT_NE(colon, std::string::npos) << bs;
  auto port = std::stoi(bs.substr(colon + 1));
  using ispflow::testing::socket_end;
  using ispflow::testing::tcp_nodelay_of;
  auto accepted = tcp_nodelay_of(socket_end::accepted, port);
  auto connected = tcp_nodelay_of(socket_end::connected, port);
  ASSERT_FALSE(accepted.empty()) << "no broker connection found on " << bs;
  ASSERT_FALSE(connected.empty()) << "no client connection found to " << bs;
  for (int on : accepted)
    EXPECT_NE(on, 0) << "a broker connection has Nagle's algorithm on";
  for (int on : connected)
    EXPECT_NE(on, 0) << "a client connection has Nagle's algorithm on";
}
