#pragma once

#include <caf/meta/type_name.hpp>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace ispflow::events {

/// One Kafka record header. Kafka allows a null value; we keep it as empty
/// with `null_value` set so that re-produced dead letters are byte-faithful.
struct kafka_header {
  std::string key;
  std::string value;
  bool null_value = false;

  friend bool operator==(const kafka_header&, const kafka_header&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kafka_header& x) {
  return f(caf::meta::type_name("kafka_header"), x.key, x.value, x.null_value);
}

/// A Kafka record as consumed or to be produced, free of librdkafka types.
struct kafka_record {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string key;
  bool null_key = false;
  std::string value;
  std::vector<kafka_header> headers;
  /// Milliseconds since the epoch, as the broker or producer stamped it.
  int64_t timestamp_ms = 0;

  /// Returns the first header with `name`, or nullptr.
  const kafka_header* header(std::string_view name) const {
    for (auto& h : headers)
      if (h.key == name)
        return &h;
    return nullptr;
  }

  friend bool operator==(const kafka_record&, const kafka_record&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kafka_record& x) {
  return f(caf::meta::type_name("kafka_record"), x.topic, x.partition, x.offset,
           x.key, x.null_key, x.value, x.headers, x.timestamp_ms);
}

std::ostream& operator<<(std::ostream& os, const kafka_record& x);

/// A consumed position to commit: the next offset to read in a partition.
struct topic_offset {
  std::string topic;
  int32_t partition = -1;
  int64_t next_offset = -1;

  friend bool operator==(const topic_offset&, const topic_offset&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, topic_offset& x) {
  return f(caf::meta::type_name("topic_offset"), x.topic, x.partition,
           x.next_offset);
}

} // namespace ispflow::events
