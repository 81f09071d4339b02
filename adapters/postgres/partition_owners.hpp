#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ispflow::adapters::postgres {

/// One row of partition_owners (schema/0010_cluster.sql).
struct partition_owner_row {
  int32_t partition = -1;
  /// "" once released.
  std::string instance_id;
  int64_t epoch = 0;
  std::chrono::system_clock::time_point claimed_at;
  std::chrono::system_clock::time_point heartbeat_at;
};

/// One row of cluster_instances.
struct cluster_instance_row {
  std::string instance_id;
  std::chrono::system_clock::time_point started_at;
  std::chrono::system_clock::time_point heartbeat_at;
  bool relay = false;
  /// Set when the instance stopped gracefully.
  bool stopped = false;
};

/// Claims, heartbeats and releases of billing partitions by one instance,
/// and the cluster's view of them, over one PostgreSQL connection
/// (blocking; reconnects after a broken connection). Errors:
/// `errc::database_unavailable`, `errc::database_error`.
class partition_owners {
public:
  /// Opens a connection to `dsn`.
  static caf::expected<partition_owners> connect(const std::string& dsn);

  partition_owners(partition_owners&&) noexcept;
  partition_owners& operator=(partition_owners&&) noexcept;
  ~partition_owners();

  /// Claims `partition` for `instance`: its epoch rises by one (1 for a
  /// partition never claimed) and the new epoch is returned. Waits for the
  /// saga writes in flight under the old epoch (they hold the row's fence
  /// lock); every write under an older epoch is refused from then on.
  caf::expected<int64_t> claim(const std::string& instance, int32_t partition);

  /// Records a heartbeat of `instance` for the partitions it holds
  /// (partition -> epoch) and of the instance itself (`relay`: whether it
  /// holds the relay lock). Returns the partitions it still holds at
  /// those epochs; the others were claimed by another instance.
  caf::expected<std::vector<int32_t>>
  heartbeat(const std::string& instance, const std::map<int32_t, int64_t>& held,
            bool relay);

  /// Gives up `held` (partition -> epoch): instance_id becomes "" where
  /// `instance` still holds the epoch, so that later writes under it are
  /// refused and the next owner claims without waiting. `stopping` also
  /// marks the instance stopped. Returns the partitions given up; the
  /// others of `held` had been claimed by another instance meanwhile.
  caf::expected<std::vector<int32_t>>
  release(const std::string& instance, const std::map<int32_t, int64_t>& held,
          bool stopping);

  /// Every partition_owners row, by partition.
  caf::expected<std::vector<partition_owner_row>> owners();

  /// Every cluster_instances row, by id.
  caf::expected<std::vector<cluster_instance_row>> instances();

private:
  struct impl;
  explicit partition_owners(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::postgres
