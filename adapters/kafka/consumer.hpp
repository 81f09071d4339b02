#pragma once

#include "adapters/kafka/settings.hpp"
#include "events/records.hpp"

#include <caf/expected.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ispflow::adapters::kafka {

/// One partition of a topic.
struct topic_partition {
  std::string topic;
  int32_t partition = -1;

  friend bool operator==(const topic_partition&, const topic_partition&)
    = default;
};

/// Committed position and high watermark of one assigned partition.
struct partition_lag {
  std::string topic;
  int32_t partition = -1;
  /// Next offset the group will read; -1 when nothing was committed.
  int64_t committed = -1;
  /// Offset of the next record to be written to the partition.
  int64_t high_watermark = -1;
  /// high_watermark - committed, or high_watermark - low watermark when
  /// nothing was committed yet.
  int64_t lag = 0;
};

/// Told about partition assignment changes (eager protocol). Both hooks run
/// on the thread that calls consumer::poll_batch, inside librdkafka's
/// rebalance callback: on_revoked before the partitions are taken away (the
/// owner may stop work and commit), on_assigned after they were assigned.
class rebalance_listener {
public:
  virtual ~rebalance_listener();

  /// The group gave these partitions to this member.
  virtual void on_assigned(const std::vector<topic_partition>& partitions) = 0;

  /// These partitions are about to be taken from this member.
  virtual void on_revoked(const std::vector<topic_partition>& partitions) = 0;
};

/// A balanced group consumer with manual commits. Not thread-safe: one
/// owner thread calls poll_batch, commit, lag and close.
/// Defaults: see consumer_defaults().
class consumer {
public:
  /// Creates a consumer subscribed to `topics` in group
  /// `settings.group_id` (required). `listener` may be null.
  static caf::expected<std::unique_ptr<consumer>>
  make(const client_settings& settings, const std::vector<std::string>& topics,
       std::shared_ptr<rebalance_listener> listener = nullptr);

  ~consumer();

  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  /// Returns up to `max` records, waiting at most `wait` for the first one;
  /// the result may be empty. Timeouts and partition EOF are not errors;
  /// any other librdkafka error is returned as errc::kafka_error (if records
  /// were already collected, they are returned and the error comes with the
  /// next call).
  caf::expected<std::vector<events::kafka_record>>
  poll_batch(size_t max, std::chrono::milliseconds wait);

  /// Synchronously commits the given next-offsets for this group.
  caf::expected<void> commit(const std::vector<events::topic_offset>& offsets);

  /// Sends a commit of the given next-offsets without waiting for its
  /// answer: a synchronous commit that meets a rebalance can hold the
  /// caller until the group settles, and the caller is the thread that must
  /// poll for the rebalance to settle. Fails only for what fails locally
  /// (closed, no such partition); a commit the group refuses later only
  /// means the records are read again.
  caf::expected<void>
  commit_async(const std::vector<events::topic_offset>& offsets);

  /// Partitions currently assigned to this member.
  caf::expected<std::vector<topic_partition>> assignment();

  /// Committed offset versus high watermark for every assigned partition,
  /// from what this member knows: its own acknowledged commits (the group's
  /// committed offset is asked for once per newly assigned partition) and
  /// the watermarks of the last fetch answer (asked for while a partition
  /// has none). In the steady state it waits for no broker, so the owner
  /// thread can call it between polls; `timeout` bounds those first asks.
  caf::expected<std::vector<partition_lag>>
  lag(std::chrono::milliseconds timeout);

  /// Leaves the group (running the revoke hook) and stops the consumer.
  /// Idempotent; the destructor calls it.
  caf::expected<void> close();

  /// Implementation details, defined in consumer.cpp.
  struct impl;

private:
  caf::expected<void>
  commit_offsets(const std::vector<events::topic_offset>& offsets, bool wait);

  explicit consumer(std::unique_ptr<impl> ptr);

  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::kafka
