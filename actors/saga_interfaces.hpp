#pragma once

#include "adapters/postgres/saga_store.hpp"
#include "events/records.hpp"
#include "events/type_ids.hpp"
#include "sagas/instance.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

// The typed interfaces of the saga engine's actors: saga store, saga actor,
// timer and router. The spawn functions are in saga_store.hpp,
// saga_actor.hpp, timer.hpp and saga_router.hpp.

namespace ispflow::actors {

/// What the router has done since it started.
struct saga_router_counts {
  /// Sagas started from inbox events (first write committed or in flight).
  uint64_t started = 0;
  /// Inbox events refused by admission (dead-lettered).
  uint64_t skipped = 0;
  /// Sagas resumed from the store at start.
  uint64_t resumed = 0;
  /// Saga actors that reported their saga finished.
  uint64_t finished = 0;
  /// Saga actors alive now.
  uint64_t running = 0;
  /// Sagas whose actor stopped without finishing (e.g. a first write the
  /// store refused); they are resumed at the next start.
  uint64_t abandoned = 0;

  friend bool operator==(const saga_router_counts&, const saga_router_counts&)
    = default;
};

/// Subscribers, as (tenant id, subscriber id), whose lifecycle state the
/// router asks for in one request.
struct subscriber_keys {
  std::vector<std::pair<std::string, std::string>> keys;
};

/// The answer to `subscriber_keys`, in the same order: (state as
/// sagas::subscriber_state text, service type or ""), and what a new saga
/// of the subscriber inherits (the payloads and step outputs of its
/// completed sagas: credentials, access, ip_address, onu_id, cpe_id, ...).
struct subscriber_states {
  std::vector<std::pair<std::string, std::string>> states;
  std::vector<sagas::field_map> profiles;
};

/// The durable store of the saga engine, as an actor.
///
/// interface saga_store_actor {
///   /// Writes every element in one transaction. Writes that arrive while
///   /// a transaction runs are batched into the next (group commit).
///   /// Replies with the number of elements written, or errc::* (see
///   /// adapters::postgres::saga_store::write): nothing was written.
///   (save_atom, vector<saga_write>) -> (uint64_t)
///   /// Startable inbox events as adapters::postgres::saga_store::
///   /// next_startable: up to `q.limit`, of `q.partitions` (empty = all),
///   /// shared between the tenants not in `q.skip_tenants`.
///   (next_atom, startable_query q) -> (vector<startable_event>)
///   /// Marks inbox event `inbox_id` as starting no saga with `reason` and
///   /// appends the outbox records, under `fence` (errc::stale_epoch when
///   /// it no longer holds); replies with `inbox_id`.
///   (skip_atom, int64_t inbox_id, string reason, vector<kafka_record>,
///    write_fence fence) -> (int64_t)
///   /// Every saga in pending, running or compensating of `partitions`.
///   (load_atom, vector<int32_t> partitions) -> (vector<saga_instance>)
///   /// The saga `id` in whatever state; errc::invalid_input if unknown.
///   (load_atom, string id) -> (saga_instance)
///   /// The lifecycle state (sagas::subscriber_state as text) and service
///   /// type ("" if never seen) of each subscriber, derived from its
///   /// finished sagas, oldest first, with sagas::next_state.
///   (status_atom, subscriber_keys) -> (subscriber_states)
///   /// Internal: runs the queued writes as one transaction.
///   (gc_flush_atom) -> ()
/// }
using saga_store_actor = caf::typed_actor<
  caf::replies_to<save_atom,
                  std::vector<adapters::postgres::saga_write>>::with<uint64_t>,
  caf::replies_to<next_atom, adapters::postgres::startable_query>::with<
    std::vector<adapters::postgres::startable_event>>,
  caf::replies_to<skip_atom, int64_t, std::string,
                  std::vector<events::kafka_record>,
                  adapters::postgres::write_fence>::with<int64_t>,
  caf::replies_to<load_atom, std::vector<int32_t>>::with<
    std::vector<sagas::saga_instance>>,
  caf::replies_to<load_atom, std::string>::with<sagas::saga_instance>,
  caf::replies_to<status_atom, subscriber_keys>::with<subscriber_states>,
  caf::reacts_to<gc_flush_atom>>;

/// One running saga.
///
/// interface saga_actor {
///   /// Timer (step, generation) came due: sagas::timer_fired.
///   (fire_atom, uint64_t step, int64_t generation) -> ()
///   /// An operator cancels the saga (sagas::cancel_requested{reason}).
///   (cancel_atom, string reason) -> ()
///   /// The latest instance (the database trails it by at most a write).
///   (get_atom) -> (saga_instance)
///   /// Internal: write the pending transition again after a store failure.
///   (rewrite_atom) -> ()
///   /// Internal: stop waiting for answers before the next write.
///   (timeout_atom) -> ()
///   /// Drain: make no new adapter call; once the calls in flight are
///   /// answered and every transition is written, stop (the partition's
///   /// next owner resumes the saga from the store).
///   (stop_atom) -> ()
/// }
using saga_actor = caf::typed_actor<
  caf::reacts_to<fire_atom, uint64_t, int64_t>,
  caf::reacts_to<cancel_atom, std::string>, caf::reacts_to<rewrite_atom>,
  caf::reacts_to<timeout_atom>, caf::reacts_to<timeout_atom, uint64_t>,
  caf::reacts_to<stop_atom>,
  caf::replies_to<caf::get_atom>::with<sagas::saga_instance>>;

/// Delivers durable timers to saga actors, driven by the actor clock (so
/// CAF's test_coordinator advances it without sleeping).
///
/// interface timer_actor {
///   /// At `due`, send (fire_atom, step, generation) to `target`. The row
///   /// itself was written by the store in the saga's transaction.
///   (schedule_atom, timestamp due, saga_actor target, uint64_t step,
///    int64_t generation) -> ()
/// }
using timer_actor
  = caf::typed_actor<caf::reacts_to<schedule_atom, sagas::time_point,
                                    saga_actor, uint64_t, int64_t>>;

/// Starts one saga per startable inbox event, in per-subscriber order.
///
/// interface saga_router_actor {
///   /// New events are in the inbox (intake wrote): poll the store for
///   /// startable events now, even within the quiet period that follows a
///   /// poll that found nothing.
///   (nudge_atom) -> ()
///   /// Internal: the quiet period ended; poll if asked for meanwhile and
///   /// no poll has been made since (`generation` names the request).
///   (nudge_atom, uint64_t generation) -> ()
///   /// Periodic poll (self-sent every poll_interval).
///   (tick_atom) -> ()
///   /// Internal: the deadline of store request `token` fell due
///   /// (bounded_requests.hpp).
///   (timeout_atom, uint64_t token) -> ()
///   /// A saga actor's saga ended (completed, compensated, cancelled or
///   /// needs_attention); carries the committed instance.
///   (done_atom, saga_instance) -> ()
///   /// Counts since start.
///   (get_atom) -> (saga_router_counts)
///   /// Operator retry of a saga in needs_attention (sagas::retry_requested):
///   /// loads it, runs it again from its stuck step under a new generation,
///   /// replies with the state it runs in ("running" or "compensating").
///   /// errc::invalid_input (with the reason) when the saga is unknown, not
///   /// owned here, or not in needs_attention.
///   (retry_atom, string saga_id, string reason) -> (string state)
///   /// Operator cancel: a running saga compensates what it did, a saga in
///   /// needs_attention becomes cancelled. Replies with the state after the
///   /// request was taken ("running" with cancel requested, "cancelled").
///   /// errc::invalid_input when the saga is unknown, not owned here or
///   /// already ended.
///   (cancel_atom, string saga_id, string reason) -> (string state)
///   /// The consumer group assigned these input partitions to this
///   /// instance: their open sagas are resumed and their events started.
///   (open_atom, vector<int32_t> partitions) -> ()
///   /// These partitions are being taken away: their saga actors stop (the
///   /// new owner resumes them from the store) and their events are left.
///   (close_atom, vector<int32_t> partitions) -> ()
/// }
using saga_router_actor = caf::typed_actor<
  caf::reacts_to<nudge_atom>, caf::reacts_to<nudge_atom, uint64_t>,
  caf::reacts_to<tick_atom>, caf::reacts_to<timeout_atom, uint64_t>,
  caf::reacts_to<done_atom, sagas::saga_instance>,
  caf::replies_to<caf::get_atom>::with<saga_router_counts>,
  caf::replies_to<retry_atom, std::string, std::string>::with<std::string>,
  caf::replies_to<cancel_atom, std::string, std::string>::with<std::string>,
  caf::replies_to<retry_atom, std::string, std::string,
                  int32_t>::with<std::string>,
  caf::replies_to<cancel_atom, std::string, std::string,
                  int32_t>::with<std::string>,
  caf::replies_to<stop_atom>::with<uint64_t>,
  caf::reacts_to<open_atom, std::vector<int32_t>>,
  caf::reacts_to<close_atom, std::vector<int32_t>>>;

} // namespace ispflow::actors

// Local-only message types: they hold std::optional / std::variant, which
// CAF 0.17 cannot inspect, and never leave the process (no serialization).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::sagas::saga_instance)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ispflow::sagas::saga_instance>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(
  std::vector<ispflow::adapters::postgres::saga_write>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(
  std::vector<ispflow::adapters::postgres::startable_event>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::postgres::startable_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::postgres::write_fence)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::actors::saga_router_counts)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::actors::subscriber_keys)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::actors::subscriber_states)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::actors::saga_actor)
