#include "adapters/kafka/tail_reader.hpp"

#include "adapters/kafka/detail/rdkafka.hpp"
#include "common/wait.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <map>
#include <memory>

namespace ispflow::adapters::kafka {

namespace {

using clock_type = std::chrono::steady_clock;

int remaining_ms(clock_type::time_point deadline) {
  return common::millis_until(deadline);
}

} // namespace

caf::expected<std::vector<events::kafka_record>>
read_tail(const client_settings& settings, const std::string& topic,
          int64_t per_partition, std::chrono::milliseconds timeout) {
  std::vector<events::kafka_record> out;
  if (per_partition <= 0)
    return out;
  auto deadline = clock_type::now() + timeout;
  client_settings cs = settings;
  // KafkaConsumer insists on a group id, but assign() never joins the group
  // and nothing is committed.
  cs.group_id = "ispflow-tail-reader";
  cs.extra.insert(cs.extra.begin(), {{"enable.partition.eof", "true"},
                                     {"allow.auto.create.topics", "false"}});
  cs.extra.emplace_back("enable.auto.commit", "false");
  detail::event_sink events;
  auto conf = detail::make_conf(cs, detail::client_kind::consumer, &events);
  if (!conf)
    return std::move(conf.error());
  std::string errstr;
  std::unique_ptr<RdKafka::KafkaConsumer> handle{
    RdKafka::KafkaConsumer::create(conf->get(), errstr)};
  if (!handle)
    return caf::make_error(errc::kafka_error,
                           "cannot create tail reader: " + errstr);
  // Listing all topics never auto-creates the one we look for.
  RdKafka::Metadata* md_ptr = nullptr;
  if (auto err = handle->metadata(true, nullptr, &md_ptr,
                                  remaining_ms(deadline));
      err != RdKafka::ERR_NO_ERROR) {
    handle->close();
    return detail::kafka_error("metadata for " + topic, err);
  }
  std::unique_ptr<RdKafka::Metadata> md{md_ptr};
  std::vector<int32_t> partition_ids;
  for (const auto* t : *md->topics()) {
    if (t->topic() != topic)
      continue;
    if (t->err() != RdKafka::ERR_NO_ERROR
        && t->err() != RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) {
      handle->close();
      return detail::kafka_error("metadata for " + topic, t->err());
    }
    for (const auto* p : *t->partitions())
      partition_ids.push_back(p->id());
  }
  if (partition_ids.empty()) {
    handle->close();
    return out;
  }
  std::sort(partition_ids.begin(), partition_ids.end());
  // Per partition: the offset at which we are done.
  std::map<int32_t, int64_t> ends;
  detail::partition_list parts;
  for (auto id : partition_ids) {
    int64_t low = 0;
    int64_t high = 0;
    if (auto err = handle->query_watermark_offsets(topic, id, &low, &high,
                                                   remaining_ms(deadline));
        err != RdKafka::ERR_NO_ERROR) {
      handle->close();
      return detail::kafka_error(
        "watermarks of " + topic + "[" + std::to_string(id) + "]", err);
    }
    auto start = std::max(low, high - per_partition);
    if (start >= high)
      continue;
    parts.add(topic, id, start);
    ends.emplace(id, high);
  }
  if (ends.empty()) {
    handle->close();
    return out;
  }
  if (auto err = handle->assign(parts.items); err != RdKafka::ERR_NO_ERROR) {
    handle->close();
    return detail::kafka_error("assign " + topic, err);
  }
  std::map<int32_t, std::vector<events::kafka_record>> by_partition;
  while (!ends.empty()) {
    if (clock_type::now() >= deadline) {
      handle->close();
      return caf::make_error(
        errc::timeout, "tail of " + topic + ": " + std::to_string(ends.size())
                         + " partitions not read to their end");
    }
    std::unique_ptr<RdKafka::Message> msg{
      handle->consume(std::min(remaining_ms(deadline), 100))};
    if (!msg)
      continue;
    auto code = msg->err();
    if (code == RdKafka::ERR__TIMED_OUT)
      continue;
    auto i = ends.find(msg->partition());
    if (code == RdKafka::ERR__PARTITION_EOF) {
      // EOF at or past the snapshot's end: nothing more to read.
      if (i != ends.end() && msg->offset() >= i->second)
        ends.erase(i);
      continue;
    }
    if (code != RdKafka::ERR_NO_ERROR) {
      handle->close();
      return detail::kafka_error("read tail of " + topic, code);
    }
    if (i == ends.end() || msg->offset() >= i->second)
      continue;
    by_partition[msg->partition()].push_back(detail::to_record(*msg));
    if (msg->offset() + 1 >= i->second)
      ends.erase(i);
  }
  handle->close();
  for (auto& [id, xs] : by_partition)
    for (auto& x : xs)
      out.push_back(std::move(x));
  return out;
}

} // namespace ispflow::adapters::kafka
