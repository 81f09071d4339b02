#pragma once

#include "actors/store.hpp"
#include "adapters/kafka/consumer.hpp"
#include "adapters/kafka/settings.hpp"
#include "events/intake_check.hpp"
#include "events/type_ids.hpp"

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ispflow::actors {

/// Totals of one intake actor's life, for logs and tests.
struct intake_totals {
  uint64_t consumed = 0;
  uint64_t recorded = 0;
  uint64_t duplicates = 0;
  uint64_t dead_lettered = 0;
};

/// Billing intake: the Kafka consumer-group member that reads the billing
/// topic, checks every record, has the store write the batch, and commits
/// the offsets only once the store has committed. Bad input becomes a dead
/// letter in the same batch, so a partition never stalls on it.
///
/// interface intake_actor {
///   /// Runs one poll-check-write-commit cycle and schedules the next.
///   (consume_atom) -> ()
///   /// Lets the batch in flight finish, closes the consumer (leaving the
///   /// group) and quits; replies with the totals. Uncommitted input is
///   /// read again by whoever owns the partitions next.
///   (stop_atom) -> (uint64_t consumed)
/// }
using intake_actor
  = caf::typed_actor<caf::reacts_to<consume_atom>,
                     caf::replies_to<stop_atom>::with<uint64_t>>;

/// What intake needs.
struct intake_settings {
  adapters::kafka::client_settings kafka;
  /// Topics to consume (the billing input topic).
  std::vector<std::string> topics;
  /// Most records checked and written in one store transaction.
  size_t max_batch = 1000;
  /// How long one poll waits for the first record of a batch.
  std::chrono::milliseconds linger{5};
  /// How long the store may take for one batch before intake retries it.
  std::chrono::milliseconds store_timeout{std::chrono::seconds{30}};
  /// Topic names and the tenant check for events::check_billing_record.
  events::intake_settings check;
  /// Told when the group assigns or revokes partitions (runs on the
  /// intake's thread, inside a poll: keep it short, e.g. a message send).
  std::shared_ptr<adapters::kafka::rebalance_listener> listener;
  /// Called after a batch that recorded new events committed (e.g. to nudge
  /// the saga router); runs on the intake's thread.
  std::function<void()> on_recorded;
  /// Told what each batch did once the store committed it (e.g. for
  /// metrics): the store's counts and the batch itself (its dead letters
  /// with their reasons). Runs on the intake's thread.
  std::function<void(const events::intake_outcome&,
                     const events::intake_batch&)>
    on_batch;
  /// Told the consumer lag of every assigned partition at most once per
  /// `lag_interval` (kafka::consumer::lag: from what the consumer knows,
  /// broker round trips only after an assignment); runs on the intake's
  /// thread.
  std::function<void(std::vector<adapters::kafka::partition_lag>)> on_lag;
  std::chrono::milliseconds lag_interval{5'000};
};

/// Spawns the intake on a thread of its own (librdkafka's poll blocks) and
/// starts consuming. Fails when the consumer cannot be created.
caf::expected<intake_actor>
spawn_intake(caf::actor_system& sys, intake_settings cfg, store_actor store);

} // namespace ispflow::actors
