#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ispflow::adapters::postgres {

/// One row of operator_commands (schema/0012_operator_commands.sql).
struct operator_command {
  std::string id;
  std::string tenant_id;
  std::string saga_id;
  /// "retry", "cancel" or "replay".
  std::string kind;
  /// The saga's partition; -1 = none.
  int32_t partition = -1;
  std::string requested_by;
  /// "queued", "taken", "done" or "failed".
  std::string state;
  /// "" until taken.
  std::string taken_by;
  /// The epoch the taker held the partition at (0 = unfenced or not taken).
  int64_t epoch = 0;
  /// What the owner did (done), e.g. "running".
  std::string result;
  /// Why it failed (failed), e.g. "conflict", and the detail.
  std::string error_code;
  std::string error;
  std::chrono::system_clock::time_point requested_at;
  /// Zero until finished.
  std::chrono::system_clock::time_point finished_at;

  /// Whether the command reached done or failed.
  bool finished() const noexcept {
    return state == "done" || state == "failed";
  }
};

/// The notification channel of new commands (payload: the partition, or ""
/// for a saga without one).
constexpr const char* operator_commands_channel = "ispflow_operator_commands";

/// The durable queue of operator commands over one PostgreSQL connection
/// (blocking; reconnects after a broken connection, listening again when
/// `listen` was asked). Errors: `errc::database_unavailable`,
/// `errc::database_error`, `errc::stale_epoch` (a take under an epoch the
/// instance no longer holds).
class operator_command_store {
public:
  /// Opens a connection to `dsn`; with `listen`, the connection listens on
  /// operator_commands_channel (see `wait`).
  static caf::expected<operator_command_store> connect(const std::string& dsn,
                                                       bool listen = false);

  operator_command_store(operator_command_store&&) noexcept;
  operator_command_store& operator=(operator_command_store&&) noexcept;
  ~operator_command_store();

  /// Records command `id` (queued) of `kind` on saga `saga_id`, with the
  /// saga's tenant and partition, and notifies the owners. Nothing (and no
  /// row) when the saga is unknown.
  caf::expected<std::optional<operator_command>>
  submit(const std::string& id, const std::string& saga_id,
         const std::string& kind, const std::string& requested_by);

  /// Records command `id` of `kind` on saga `saga_id` as already run by
  /// `instance` (the receiver of a replay): done with `result`, or failed
  /// with `error_code` and `error` (when `error_code` is not empty). It is
  /// never queued nor taken. Nothing (and no row) when the saga is unknown.
  caf::expected<std::optional<operator_command>>
  record(const std::string& id, const std::string& saga_id,
         const std::string& kind, const std::string& requested_by,
         const std::string& instance, const std::string& result,
         const std::string& error_code, const std::string& error);

  /// The command `id`, if any.
  caf::expected<std::optional<operator_command>> get(const std::string& id);

  /// Takes up to `limit` open commands of `partition` for `instance`, which
  /// must hold the partition at `epoch` (checked under the owner row's
  /// share lock, as saga writes are fenced; errc::stale_epoch otherwise):
  /// the queued ones, and those taken under an older epoch (their taker
  /// lost the partition before finishing). Oldest first.
  caf::expected<std::vector<operator_command>>
  take(const std::string& instance, int32_t partition, int64_t epoch,
       size_t limit);

  /// Of the partitions `held` (partition -> epoch), those with a command
  /// `take` would take, in partition order. A plain read: it locks and
  /// writes nothing, so a scan that finds nothing open costs no transaction
  /// and no WAL flush (a take share-locks the owner row and commits). A
  /// command that commits after the read notifies the channel.
  caf::expected<std::vector<int32_t>>
  with_open_commands(const std::map<int32_t, int64_t>& held);

  /// Takes the queued command `id` for `instance` under `epoch` of the
  /// command's partition (epoch 0: unfenced, for a command without a
  /// partition or an instance alone). Nothing when it is not queued any
  /// more; errc::stale_epoch as `take`.
  caf::expected<std::optional<operator_command>>
  take_one(const std::string& id, const std::string& instance, int64_t epoch);

  /// Records the outcome of command `id` taken by `instance` under `epoch`:
  /// done with `result`, or failed with `error_code` and `error` (when
  /// `error_code` is not empty). False when the command is no longer taken
  /// by them (another owner took it up since).
  caf::expected<bool> finish(const std::string& id, const std::string& instance,
                             int64_t epoch, const std::string& result,
                             const std::string& error_code,
                             const std::string& error);

  /// Waits up to `max` for a notification on operator_commands_channel
  /// (the connection must listen); true if one or more arrived.
  caf::expected<bool> wait(std::chrono::milliseconds max);

private:
  struct impl;
  explicit operator_command_store(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::postgres
