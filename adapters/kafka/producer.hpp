#pragma once

#include "adapters/kafka/settings.hpp"
#include "events/records.hpp"

#include <caf/expected.hpp>
#include <chrono>
#include <memory>
#include <vector>

namespace ispflow::adapters::kafka {

/// A Kafka producer that sends batches and waits for their delivery
/// reports. Calls are serialised internally; one batch is in flight at a
/// time. Defaults: see producer_defaults().
class producer {
public:
  /// Creates a producer. Fails with errc::invalid_config naming the property
  /// librdkafka refused, or errc::kafka_error.
  static caf::expected<std::unique_ptr<producer>>
  make(const client_settings& settings);

  ~producer();

  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  /// Enqueues every record (null key when `null_key`, headers with null
  /// values when `null_value`, explicit partition when `partition >= 0`,
  /// producer time stamp when `timestamp_ms > 0`) and returns once each one
  /// has a successful delivery report. Otherwise returns the first failure:
  /// errc::kafka_error "produce to <topic>[<partition>]: <reason>", or
  /// errc::timeout when reports are still missing after `timeout`. Records
  /// of a failed call may still be delivered later (at-least-once).
  caf::expected<void> produce_all(const std::vector<events::kafka_record>& xs,
                                  std::chrono::milliseconds timeout);

  /// Waits until every outstanding message has a delivery report; returns
  /// errc::timeout if some are still in flight after `timeout`.
  caf::expected<void> flush(std::chrono::milliseconds timeout);

  /// Implementation details, defined in producer.cpp.
  struct impl;

private:
  explicit producer(std::unique_ptr<impl> ptr);

  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::kafka
