#pragma once

#include "actors/admin/control.hpp"
#include "adapters/postgres/operator_commands.hpp"
#include "events/type_ids.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

// Operator commands in a cluster (issue 13): retry and cancel accepted by
// any instance are recorded in operator_commands; the instance that owns the
// saga's partition takes them under the epoch it holds and runs them through
// its saga engine (run_command), whether it received the request itself
// (the admin API acts at once) or took it from the queue (the pickup).

namespace ispflow::actors::admin {

/// The epoch this instance holds `partition` at while its lease is valid;
/// nothing when it does not hold it.
using held_epoch_fn = std::function<std::optional<int64_t>(int32_t)>;

/// The partitions this instance holds with valid leases, and their epochs.
using held_partitions_fn = std::function<std::map<int32_t, int64_t>()>;

/// The `error_code` a failed command records for `err`: "conflict" (the
/// saga is unknown to the engine or in the wrong state), else the errc
/// name, e.g. "timeout".
std::string command_error_code(const caf::error& err);

/// The command as GET /v1/commands/{id} shows it: {"id", "kind",
/// "saga_id", "tenant_id", "partition" (null: none), "state",
/// "requested_by", "requested_at", "taken_by", "epoch", "result",
/// "error_code", "error", "finished_at"} (nulls where not set; times in RFC
/// 3339 UTC).
std::string command_json(const adapters::postgres::operator_command& cmd);

/// Runs `cmd` (a retry or cancel taken by `instance` under `cmd.epoch`)
/// through `sagas` and records its outcome. Returns the finished command;
/// fails with errc::stale_epoch when the engine no longer holds the
/// saga's partition (the command stays taken: the next owner takes it up
/// again) and with the store's errors.
caf::expected<adapters::postgres::operator_command>
run_command(adapters::postgres::operator_command_store& db, saga_control& sagas,
            const std::string& instance,
            adapters::postgres::operator_command cmd);

/// What the command pickup needs.
struct command_pickup_settings {
  /// libpq DSN (never logged).
  std::string dsn;
  /// This instance (operator_commands.taken_by).
  std::string instance_id;
  /// The engine the commands run through.
  std::shared_ptr<saga_control> sagas;
  /// The partitions held now.
  held_partitions_fn held;
  /// The fallback poll of the queue (notifications are lost while the
  /// connection is down).
  std::chrono::milliseconds poll{1'000};
  /// Most commands taken per partition per round.
  size_t batch = 50;
};

/// Takes up the queued commands of the partitions this instance holds.
///
/// interface command_pickup_actor {
///   /// Internal: waits a short while for a notification, then takes and
///   /// runs the commands of every held partition when one came or the
///   /// poll is due (self-sent).
///   (tick_atom) -> ()
///   /// Take and run now (e.g. partitions were just claimed).
///   (nudge_atom) -> ()
/// }
using command_pickup_actor
  = caf::typed_actor<caf::reacts_to<tick_atom>, caf::reacts_to<nudge_atom>>;

/// Spawns the pickup on a thread of its own (libpqxx blocks). Connects
/// lazily and listens on operator_commands_channel.
command_pickup_actor spawn_command_pickup(caf::actor_system& sys,
                                          command_pickup_settings cfg);

} // namespace ispflow::actors::admin
