#pragma once

// Internal to ispflow_adapters_kafka: included only by the adapter's .cpp
// files, never by a public header, so no librdkafka type leaks out.

#include "adapters/kafka/settings.hpp"
#include "events/records.hpp"

#include <atomic>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <librdkafka/rdkafkacpp.h>
#include <memory>
#include <string>
#include <string_view>

namespace ispflow::adapters::kafka::detail {

/// Which kind of client a configuration is for.
enum class client_kind { producer, consumer };

/// Routes librdkafka's logs and errors to the "kafka" spdlog logger (when
/// one is registered) instead of stderr, and remembers a fatal error.
class event_sink : public RdKafka::EventCb {
public:
  void event_cb(RdKafka::Event& event) override;

  /// Whether librdkafka reported a fatal error on this handle.
  bool fatal() const {
    return fatal_.load();
  }

private:
  std::atomic<bool> fatal_{false};
};

/// Sets one property, returning errc::invalid_config naming the property
/// (never its value, which may be a secret) when librdkafka refuses it.
caf::error set(RdKafka::Conf& conf, const std::string& name,
               const std::string& value);

/// Builds a global configuration: the defaults of `kind`, then the named
/// fields of `settings`, then `settings.extra`, then `event_cb`.
caf::expected<std::unique_ptr<RdKafka::Conf>>
make_conf(const client_settings& settings, client_kind kind,
          event_sink* events);

/// errc::kafka_error with "<what>: <librdkafka's text>".
caf::error kafka_error(std::string_view what, RdKafka::ErrorCode code);

/// Converts a consumed message to our record ("gets rid of librdkafka").
events::kafka_record to_record(RdKafka::Message& msg);

/// Deletes every element of a TopicPartition vector when it goes away.
struct partition_list {
  std::vector<RdKafka::TopicPartition*> items;

  partition_list() = default;
  partition_list(const partition_list&) = delete;
  partition_list& operator=(const partition_list&) = delete;
  ~partition_list() {
    RdKafka::TopicPartition::destroy(items);
  }

  /// Appends a new element owned by this list.
  RdKafka::TopicPartition* add(const std::string& topic, int32_t partition,
                               int64_t offset) {
    items.push_back(RdKafka::TopicPartition::create(topic, partition, offset));
    return items.back();
  }
};

} // namespace ispflow::adapters::kafka::detail
