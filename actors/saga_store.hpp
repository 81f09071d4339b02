#pragma once

#include "actors/saga_interfaces.hpp"
#include "common/doorbell.hpp"
#include "sagas/admission.hpp"
#include "sagas/definition.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ispflow::actors {

// -- PostgreSQL ---------------------------------------------------------------

/// What the PostgreSQL saga store needs.
struct pg_saga_store_settings {
  /// libpq connection string (may carry a password: never logged).
  std::string dsn;
  /// Definitions of every saga written; must outlive the actor.
  const sagas::saga_registry* registry = nullptr;
  /// Connections writing saga transitions, each with its own group commit
  /// and thread; a saga always writes through the same one (hash of its
  /// id), so its transitions stay in order. Two let one commit's fsync and
  /// statement overlap the next batch's encoding and statement.
  size_t writers = 2;
  /// This instance's id (sagas.owner, saga_steps.ran_by; the owner fenced
  /// writes must still be); "" = unnamed.
  std::string instance_id;
  /// Rung after every committed write (its outbox rows are ready to
  /// publish: the outbox relay of this process waits on it); may be null.
  std::shared_ptr<common::doorbell> outbox_written;
};

/// Spawns the saga store over adapters::postgres::saga_store on a thread of
/// its own (libpqxx blocks), with `writers` writer threads and connections
/// for the transitions and a reader for admissions. Connects lazily: an outage
/// fails requests with errc::database_unavailable until the database is back.
saga_store_actor spawn_pg_saga_store(caf::actor_system& sys,
                                     pg_saga_store_settings cfg);

// -- in memory ----------------------------------------------------------------

/// One inbox row of the in-memory store.
struct memory_inbox_row {
  adapters::postgres::startable_event event;
  /// The saga the event started, once a write linked it.
  std::string saga_id;
  /// Why it starts no saga, once skipped.
  std::string skip_reason;
};

/// The committed state of the in-memory saga store: what a database would
/// hold. Tests own it (shared with the actor), read it between scheduler
/// runs, and keep it across a simulated crash. Same rules as the
/// PostgreSQL store (all-or-nothing writes, startable = the oldest
/// unstarted event of a subscriber with no open saga).
struct memory_saga_db {
  /// Definitions (for check_instance and the subscriber status fold); must
  /// outlive the store.
  const sagas::saga_registry* registry = nullptr;
  /// Committed instances by saga id.
  std::map<std::string, sagas::saga_instance> sagas;
  /// Kafka partition of each saga that has one.
  std::map<std::string, int32_t> partitions;
  /// Inbox rows in id order (id = position + 1).
  std::vector<memory_inbox_row> inbox;
  /// Every outbox record, in commit order.
  std::vector<events::kafka_record> outbox;
  /// Timer rows.
  std::vector<adapters::postgres::timer_row> timers;
  /// Committed write transactions and the most elements one of them held.
  uint64_t transactions = 0;
  uint64_t largest_transaction = 0;
  /// Current epoch of each fenced partition (partition_owners): a write
  /// whose fence names another epoch fails with errc::stale_epoch.
  std::map<int32_t, int64_t> epochs;
  /// The next `fail_writes` writes fail with errc::database_unavailable and
  /// write nothing (injects an outage).
  int fail_writes = 0;

  /// Appends an accepted event; returns its inbox id.
  int64_t add_event(adapters::postgres::startable_event ev);

  /// As adapters::postgres::saga_store::write.
  caf::expected<void>
  write(const std::vector<adapters::postgres::saga_write>& batch);
  caf::expected<void>
  write(const std::vector<const adapters::postgres::saga_write*>& batch);

  /// As adapters::postgres::saga_store::next_startable.
  std::vector<adapters::postgres::startable_event>
  next_startable(const adapters::postgres::startable_query& q) const;

  /// As adapters::postgres::saga_store::skip_event.
  caf::expected<void>
  skip_event(int64_t inbox_id, const std::string& reason,
             const std::vector<events::kafka_record>& outbox,
             const adapters::postgres::write_fence& fence = {});

  /// As adapters::postgres::saga_store::load_active.
  std::vector<sagas::saga_instance>
  load_active(const std::vector<int32_t>& partitions) const;

  /// What a new saga of the subscriber inherits: payloads and step outputs
  /// of its completed sagas, oldest first, later values winning.
  sagas::field_map profile(const std::string& tenant_id,
                           const std::string& subscriber_id) const;

  /// The subscriber's lifecycle state and service type, folded over its
  /// finished sagas (oldest first) with sagas::next_state.
  std::pair<sagas::subscriber_state, std::string>
  status(const std::string& tenant_id, const std::string& subscriber_id) const;
};

/// Spawns a scheduled saga store over `db` (for deterministic tests: the
/// test_coordinator runs it). Group commit works as in the PostgreSQL
/// store: writes queued before the flush runs share one transaction.
saga_store_actor spawn_memory_saga_store(caf::actor_system& sys,
                                         std::shared_ptr<memory_saga_db> db);

} // namespace ispflow::actors
