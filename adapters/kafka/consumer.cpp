#include "adapters/kafka/consumer.hpp"

#include "adapters/kafka/detail/rdkafka.hpp"
#include "common/wait.hpp"
#include "events/errc.hpp"

#include <exception>
#include <map>
#include <utility>

namespace ispflow::adapters::kafka {

namespace {

using clock_type = std::chrono::steady_clock;

std::vector<topic_partition>
convert(const std::vector<RdKafka::TopicPartition*>& xs) {
  std::vector<topic_partition> out;
  out.reserve(xs.size());
  for (auto* x : xs)
    out.push_back(topic_partition{x->topic(), x->partition()});
  return out;
}

} // namespace

rebalance_listener::~rebalance_listener() {
  // nop
}

struct consumer::impl : RdKafka::RebalanceCb, RdKafka::OffsetCommitCb {
  detail::event_sink events;
  std::shared_ptr<rebalance_listener> listener;
  caf::error pending;
  bool closed = false;
  /// The group's committed offset of each assigned partition as this member
  /// knows it (-1: none): read from the group once after the assignment,
  /// then moved by this member's own acknowledged commits, the only ones
  /// the group takes for a partition while it is assigned here.
  std::map<std::pair<std::string, int32_t>, int64_t> committed;
  // Declared last, so destroyed first: no callback outlives the state.
  std::unique_ptr<RdKafka::KafkaConsumer> handle;

  void forget(const std::vector<RdKafka::TopicPartition*>& parts) {
    for (auto* p : parts)
      committed.erase({p->topic(), p->partition()});
  }

  void note_committed(const std::vector<RdKafka::TopicPartition*>& parts) {
    for (auto* p : parts)
      if (p->err() == RdKafka::ERR_NO_ERROR && p->offset() >= 0)
        committed[{p->topic(), p->partition()}] = p->offset();
  }

  // Runs inside poll_batch (the owner thread), for every commit answered.
  void offset_commit_cb(RdKafka::ErrorCode err,
                        std::vector<RdKafka::TopicPartition*>& parts) override {
    if (err == RdKafka::ERR_NO_ERROR || err == RdKafka::ERR__NO_OFFSET)
      note_committed(parts);
  }

  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    // Exceptions must not unwind through librdkafka's C frames.
    try {
      bool cooperative = c->rebalance_protocol() == "COOPERATIVE";
      // Another member may have committed while they were not ours.
      forget(parts);
      if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
        if (cooperative) {
          std::unique_ptr<RdKafka::Error> e{c->incremental_assign(parts)};
          if (e)
            pending = caf::make_error(errc::kafka_error,
                                      "incremental assign: " + e->str());
        } else if (auto code = c->assign(parts);
                   code != RdKafka::ERR_NO_ERROR) {
          pending = detail::kafka_error("assign", code);
        }
        if (listener)
          listener->on_assigned(convert(parts));
      } else if (err == RdKafka::ERR__REVOKE_PARTITIONS) {
        if (listener)
          listener->on_revoked(convert(parts));
        if (cooperative) {
          std::unique_ptr<RdKafka::Error> ignored{
            c->incremental_unassign(parts)};
        } else {
          c->unassign();
        }
      } else {
        pending = detail::kafka_error("rebalance", err);
        if (listener)
          listener->on_revoked(convert(parts));
        c->unassign();
      }
    } catch (const std::exception& e) {
      pending
        = caf::make_error(errc::unspecified,
                          std::string{"rebalance listener threw: "} + e.what());
    } catch (...) {
      pending = caf::make_error(errc::unspecified, "rebalance listener threw");
    }
  }
};

consumer::consumer(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

consumer::~consumer() {
  if (impl_)
    static_cast<void>(close());
}

caf::expected<std::unique_ptr<consumer>>
consumer::make(const client_settings& settings,
               const std::vector<std::string>& topics,
               std::shared_ptr<rebalance_listener> listener) {
  if (settings.group_id.empty())
    return caf::make_error(errc::invalid_config,
                           "kafka consumer needs a group id");
  if (topics.empty())
    return caf::make_error(errc::invalid_config,
                           "kafka consumer needs at least one topic");
  auto st = std::make_unique<impl>();
  st->listener = std::move(listener);
  auto conf = detail::make_conf(settings, detail::client_kind::consumer,
                                &st->events);
  if (!conf)
    return std::move(conf.error());
  std::string errstr;
  if ((*conf)->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(st.get()),
                   errstr)
      != RdKafka::Conf::CONF_OK)
    return caf::make_error(errc::invalid_config,
                           "kafka property rebalance_cb: " + errstr);
  if ((*conf)->set("offset_commit_cb",
                   static_cast<RdKafka::OffsetCommitCb*>(st.get()), errstr)
      != RdKafka::Conf::CONF_OK)
    return caf::make_error(errc::invalid_config,
                           "kafka property offset_commit_cb: " + errstr);
  st->handle.reset(RdKafka::KafkaConsumer::create(conf->get(), errstr));
  if (!st->handle)
    return caf::make_error(errc::kafka_error,
                           "cannot create consumer: " + errstr);
  if (auto err = st->handle->subscribe(topics); err != RdKafka::ERR_NO_ERROR)
    return detail::kafka_error("subscribe", err);
  return std::unique_ptr<consumer>{new consumer(std::move(st))};
}

caf::expected<std::vector<events::kafka_record>>
consumer::poll_batch(size_t max, std::chrono::milliseconds wait) {
  auto& st = *impl_;
  if (st.closed)
    return caf::make_error(errc::shutting_down, "kafka consumer is closed");
  if (st.pending)
    return std::exchange(st.pending, caf::none);
  std::vector<events::kafka_record> out;
  auto deadline = clock_type::now() + wait;
  while (out.size() < max) {
    // Wait for the first record; afterwards only drain what is ready.
    int timeout_ms = out.empty() ? common::millis_until(deadline) : 0;
    std::unique_ptr<RdKafka::Message> msg{st.handle->consume(timeout_ms)};
    if (st.pending)
      break;
    if (!msg)
      break;
    auto code = msg->err();
    if (code == RdKafka::ERR_NO_ERROR) {
      out.push_back(detail::to_record(*msg));
      continue;
    }
    if (code == RdKafka::ERR__PARTITION_EOF)
      continue;
    if (code == RdKafka::ERR__TIMED_OUT) {
      if (!out.empty() || clock_type::now() >= deadline)
        break;
      continue;
    }
    auto what = msg->topic_name().empty()
                  ? std::string{"consume"}
                  : "consume from " + msg->topic_name() + "["
                      + std::to_string(msg->partition()) + "]";
    st.pending = detail::kafka_error(what, code);
    break;
  }
  if (out.empty() && st.pending)
    return std::exchange(st.pending, caf::none);
  return out;
}

caf::expected<void>
consumer::commit(const std::vector<events::topic_offset>& offsets) {
  return commit_offsets(offsets, true);
}

caf::expected<void>
consumer::commit_async(const std::vector<events::topic_offset>& offsets) {
  return commit_offsets(offsets, false);
}

caf::expected<void>
consumer::commit_offsets(const std::vector<events::topic_offset>& offsets,
                         bool wait) {
  auto& st = *impl_;
  if (st.closed)
    return caf::make_error(errc::shutting_down, "kafka consumer is closed");
  if (offsets.empty())
    return caf::unit;
  detail::partition_list parts;
  for (const auto& x : offsets)
    parts.add(x.topic, x.partition, x.next_offset);
  auto err = wait ? st.handle->commitSync(parts.items)
                  : st.handle->commitAsync(parts.items);
  if (err != RdKafka::ERR_NO_ERROR)
    return detail::kafka_error("commit", err);
  // Per-partition results are known only once the commit was answered.
  for (auto* p : parts.items)
    if (wait && p->err() != RdKafka::ERR_NO_ERROR)
      return detail::kafka_error("commit " + p->topic() + "["
                                   + std::to_string(p->partition()) + "]",
                                 p->err());
  if (wait)
    st.note_committed(parts.items);
  return caf::unit;
}

caf::expected<std::vector<topic_partition>> consumer::assignment() {
  auto& st = *impl_;
  if (st.closed)
    return caf::make_error(errc::shutting_down, "kafka consumer is closed");
  detail::partition_list parts;
  if (auto err = st.handle->assignment(parts.items);
      err != RdKafka::ERR_NO_ERROR)
    return detail::kafka_error("assignment", err);
  return convert(parts.items);
}

caf::expected<std::vector<partition_lag>>
consumer::lag(std::chrono::milliseconds timeout) {
  auto& st = *impl_;
  if (st.closed)
    return caf::make_error(errc::shutting_down, "kafka consumer is closed");
  detail::partition_list parts;
  if (auto err = st.handle->assignment(parts.items);
      err != RdKafka::ERR_NO_ERROR)
    return detail::kafka_error("assignment", err);
  std::vector<partition_lag> out;
  if (parts.items.empty())
    return out;
  auto timeout_ms = static_cast<int>(timeout.count());
  // Only partitions whose committed offset this member does not know yet
  // (newly assigned) cost a round trip to the group coordinator.
  detail::partition_list unknown;
  for (auto* p : parts.items)
    if (st.committed.count({p->topic(), p->partition()}) == 0)
      unknown.add(p->topic(), p->partition(), RdKafka::Topic::OFFSET_INVALID);
  if (!unknown.items.empty()) {
    if (auto err = st.handle->committed(unknown.items, timeout_ms);
        err != RdKafka::ERR_NO_ERROR)
      return detail::kafka_error("committed offsets", err);
    // A partition the coordinator did not answer for is asked again.
    for (auto* p : unknown.items)
      if (p->err() == RdKafka::ERR_NO_ERROR)
        st.committed[{p->topic(), p->partition()}]
          = p->offset() >= 0 ? p->offset() : -1;
  }
  for (auto* p : parts.items) {
    // The watermarks the last fetch answer brought (librdkafka keeps them);
    // a partition not fetched yet is asked for.
    auto known = st.committed.find({p->topic(), p->partition()});
    auto committed = known != st.committed.end() ? known->second : -1;
    int64_t low = -1;
    int64_t high = -1;
    auto err = st.handle->get_watermark_offsets(p->topic(), p->partition(),
                                                &low, &high);
    if (err != RdKafka::ERR_NO_ERROR || high < 0 || (committed < 0 && low < 0))
      err = st.handle->query_watermark_offsets(p->topic(), p->partition(), &low,
                                               &high, timeout_ms);
    if (err != RdKafka::ERR_NO_ERROR)
      return detail::kafka_error("watermarks of " + p->topic() + "["
                                   + std::to_string(p->partition()) + "]",
                                 err);
    partition_lag x;
    x.topic = p->topic();
    x.partition = p->partition();
    x.committed = committed;
    x.high_watermark = high;
    x.lag = high - (x.committed >= 0 ? x.committed : low);
    out.push_back(std::move(x));
  }
  return out;
}

caf::expected<void> consumer::close() {
  auto& st = *impl_;
  if (st.closed)
    return caf::unit;
  st.closed = true;
  auto err = st.handle->close();
  if (err != RdKafka::ERR_NO_ERROR)
    return detail::kafka_error("close", err);
  return caf::unit;
}

} // namespace ispflow::adapters::kafka
