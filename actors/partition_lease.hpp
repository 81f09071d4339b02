#pragma once

#include "actors/saga_interfaces.hpp"

#include <atomic>
#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

// Partition ownership across instances (issue 13): the consumer group
// assigns billing partitions; the partition keeper claims each one in
// PostgreSQL by raising its epoch (partition_owners), heartbeats what it
// holds, and publishes the result on a lease board. Saga actors write
// under the epoch they were started with (the store refuses a write under
// an epoch another instance has claimed since) and check the board before
// every adapter call, so an instance that stopped heartbeating (paused,
// cut off) stops calling the network once its lease runs out, before the
// consumer group's session timeout hands the partition to another.

namespace ispflow::actors {

/// The leases this instance holds, by partition (thread-safe; read by every
/// saga actor before an adapter call).
class lease_board {
public:
  using clock = std::chrono::steady_clock;

  /// One held partition.
  struct lease {
    int64_t epoch = 0;
    /// Adapter calls of the partition's sagas stop at this time unless a
    /// heartbeat extends it.
    clock::time_point valid_until;
  };

  explicit lease_board(std::string instance_id = {});

  /// The instance the leases belong to.
  const std::string& instance_id() const noexcept {
    return instance_id_;
  }

  /// Records `partition` held at `epoch` until `valid_until` (a claim or a
  /// heartbeat).
  void grant(int32_t partition, int64_t epoch, clock::time_point valid_until);

  /// Forgets `partition` (revoked, lost or refused): its calls stop now.
  void drop(int32_t partition);

  /// Forgets `partition` only if it is held at `epoch`; true if it was (a
  /// write refused under an older epoch says nothing about the current one).
  bool drop_if(int32_t partition, int64_t epoch);

  /// The epoch `partition` is held at, if held (valid or not).
  std::optional<int64_t> epoch(int32_t partition) const;

  /// Whether `partition` is held at `epoch` and its lease runs at `now`.
  bool valid(int32_t partition, int64_t epoch, clock::time_point now) const;

  /// Every lease held.
  std::map<int32_t, lease> snapshot() const;

  /// Saga writes the store refused as stale (errc::stale_epoch).
  std::atomic<uint64_t> stale_writes_refused{0};

  /// Adapter calls not made because the saga's lease had run out.
  std::atomic<uint64_t> calls_withheld{0};

  /// Partitions this instance held and then found claimed by another (its
  /// epoch fenced), at a heartbeat or when giving them up. A process that
  /// wakes from a pause longer than the session counts each partition it
  /// lost meanwhile, whether or not its sagas had anything left to write.
  std::atomic<uint64_t> partitions_lost{0};

  /// Adapter calls of fenced sagas sent and not answered yet (a graceful
  /// stop waits for them).
  std::atomic<int64_t> calls_in_flight{0};

private:
  std::string instance_id_;
  mutable std::mutex mtx_;
  std::map<int32_t, lease> leases_;
};

/// What the partition keeper needs.
struct partition_keeper_settings {
  /// libpq connection string (may carry a password: never logged).
  std::string dsn;
  /// Shared with the saga actors; names the instance.
  std::shared_ptr<lease_board> board;
  /// Told (open_atom, partitions) once claimed and (close_atom,
  /// partitions) when they are revoked or lost.
  saga_router_actor router;
  /// How often leases are renewed.
  std::chrono::milliseconds heartbeat{2'000};
  /// How long a lease lasts after the heartbeat that renewed it was sent:
  /// must stay below the consumer group's session timeout minus its
  /// heartbeat interval, so that a paused instance stops calling before
  /// the group gives its partitions to another.
  std::chrono::milliseconds lease{10'000};
  /// Whether this instance holds the outbox relay's lock (reported with
  /// each heartbeat; may be empty).
  std::function<bool()> relay_role;
};

/// Claims and heartbeats partition ownership for this instance.
///
/// interface partition_keeper_actor {
///   /// The consumer group assigned `partitions`: claim each (epoch + 1),
///   /// grant its lease and tell the router (open_atom).
///   (open_atom, vector<int32_t> partitions) -> ()
///   /// The group revoked `partitions`: drop the leases, tell the router
///   /// (close_atom) and release them in the database.
///   (close_atom, vector<int32_t> partitions) -> ()
///   /// Internal: heartbeat (self-sent every `heartbeat`).
///   (tick_atom) -> ()
///   /// Graceful stop: release every partition held and mark the instance
///   /// stopped; replies with the number released.
///   (stop_atom) -> (uint64_t)
/// }
using partition_keeper_actor
  = caf::typed_actor<caf::reacts_to<open_atom, std::vector<int32_t>>,
                     caf::reacts_to<close_atom, std::vector<int32_t>>,
                     caf::reacts_to<tick_atom>,
                     caf::replies_to<stop_atom>::with<uint64_t>>;

/// Spawns the keeper on a thread of its own (libpqxx blocks). Connects
/// lazily: while the database is out, claims are retried at every
/// heartbeat and leases run out.
partition_keeper_actor spawn_partition_keeper(caf::actor_system& sys,
                                              partition_keeper_settings cfg);

} // namespace ispflow::actors
