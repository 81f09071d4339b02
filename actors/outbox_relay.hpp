#pragma once

#include "adapters/kafka/producer.hpp"
#include "adapters/kafka/settings.hpp"
#include "common/doorbell.hpp"
#include "events/type_ids.hpp"

#include <atomic>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace ispflow::actors {

/// Header that carries an outbox record's label on every record the relay
/// publishes: its row's id, and for a record of a packed row (a saga
/// write's records of one topic, schema/0024) `<id>.<pos>`. It is how a
/// restarted relay recognises records that reached Kafka before the crash
/// but whose rows were not yet marked published.
inline constexpr const char* outbox_id_header = "ispflow_outbox_id";

/// The outbox relay: publishes outbox rows to Kafka in id order and marks
/// them published once their delivery reports arrived, in the statement
/// that fetches its next batch (or before it stops).
///
/// In a cluster one relay publishes: the one holding the relay lease (a
/// session-level advisory lock on its own connection); the others stand
/// by. A relay that takes the lease over reconciles the topic tails first,
/// then publishes the rows left in id order, so per-key order holds
/// across a failover. Publication is effectively once: before its first
/// batch, and after any failed batch, the relay reads the tail of each target
/// topic and marks the rows it finds there (by `outbox_id_header`) as published
/// instead of sending them again.
///
/// interface outbox_relay_actor {
///   /// Publishes one batch and schedules the next run.
///   (relay_atom) -> ()
///   /// Publishes what is left (within the drain timeout) and quits;
///   /// replies with the number of rows still unpublished.
///   (stop_atom) -> (int64_t backlog)
/// }
using outbox_relay_actor
  = caf::typed_actor<caf::reacts_to<relay_atom>,
                     caf::replies_to<stop_atom>::with<int64_t>>;

/// What the relay needs.
struct outbox_relay_settings {
  adapters::kafka::client_settings kafka;
  /// libpq connection string (never logged).
  std::string dsn;
  /// Records published per produce round, in whole rows (a packed row of
  /// more records is sent alone).
  size_t batch = 1000;
  /// Pause between polls when the outbox is empty.
  std::chrono::milliseconds poll_interval{50};
  /// Rung by this process's writers once outbox rows are committed: the
  /// relay's pause ends at once (rows written by other instances wait for
  /// `poll_interval`). May be null.
  std::shared_ptr<common::doorbell> doorbell;
  /// Records read back from the end of each partition when reconciling;
  /// must be at least `batch` and the records of one packed row
  /// (outbox_store::records_per_row).
  int64_t tail_scan = 2000;
  /// How long a batch may wait for its delivery reports.
  std::chrono::milliseconds produce_timeout{std::chrono::seconds{30}};
  /// How long `stop` keeps publishing.
  std::chrono::milliseconds drain_timeout{std::chrono::seconds{10}};
  /// The relay lease: only the instance whose relay holds this PostgreSQL
  /// advisory lock publishes; the others stand by and try to take it every
  /// `standby_poll`. 0 = no lease (publish alone).
  int64_t lease_key = 0x69737066'72656c61; // "ispfrela"
  std::chrono::milliseconds standby_poll{1'000};
  /// The server ends the session of a lease holder silent this long
  /// (idle_session_timeout), freeing the lease for a standby.
  std::chrono::milliseconds lease_idle_timeout{10'000};
  /// Set while this relay holds the lease (may be empty).
  std::shared_ptr<std::atomic<bool>> leading;
};

/// Spawns the relay on a thread of its own and starts publishing.
caf::expected<outbox_relay_actor> spawn_outbox_relay(caf::actor_system& sys,
                                                     outbox_relay_settings cfg);

} // namespace ispflow::actors
