#pragma once

#include "adapters/postgres/subscriber_reader.hpp"
#include "events/records.hpp"
#include "sagas/definition.hpp"
#include "sagas/instance.hpp"

#include <caf/expected.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ispflow::adapters::postgres {

/// An inbox event whose subscriber has no open saga and that is the oldest
/// of that subscriber's events without a saga: the router may start it.
struct startable_event {
  int64_t inbox_id = 0;
  std::string source;
  std::string event_id;
  std::string type;
  std::string tenant_id;
  std::string subscriber_id;
  /// The event's data as JSON text (as jsonb renders it).
  std::string payload;
  /// Empty when the event had none.
  std::string traceparent;
  /// The Kafka partition the event was read from.
  int32_t partition = -1;
  /// The subscriber's record, read by the same statement, as
  /// subscriber_reader reads it: the subscriber has no open saga, so it
  /// stays so until the router starts one.
  subscriber_view record;
  /// Whether `record` was read with the event (next_startable does);
  /// otherwise the router asks the store for the record before admission.
  bool with_record = false;

  friend bool operator==(const startable_event&, const startable_event&)
    = default;
};

/// Which startable events to fetch (`saga_store::next_startable`).
struct startable_query {
  /// Most events in all.
  size_t limit = 500;
  /// Only events read from these Kafka partitions (empty = all).
  std::vector<int32_t> partitions;
  /// Tenants left out, e.g. those already running as many sagas as they
  /// may.
  std::vector<std::string> skip_tenants;

  friend bool operator==(const startable_query&, const startable_query&)
    = default;
};

/// Identifies one durable timer row.
struct timer_key {
  std::string saga_id;
  size_t step = 0;
  int64_t generation = 0;

  friend bool operator==(const timer_key&, const timer_key&) = default;
  friend auto operator<=>(const timer_key&, const timer_key&) = default;
};

/// One durable timer row: deliver `timer_fired{step, generation}` to the
/// saga at `due_at`.
struct timer_row {
  std::string saga_id;
  size_t step = 0;
  int64_t generation = 0;
  sagas::time_point due_at;

  /// The row's key.
  timer_key key() const {
    return {saga_id, step, generation};
  }

  friend bool operator==(const timer_row&, const timer_row&) = default;
};

/// The partition ownership a saga write is made under (schema/0010): the
/// write commits only if the writing store's instance still holds
/// `partition` at `epoch` (partition_owners), checked in the write's own
/// transaction. `epoch` 0 = unfenced (an instance alone, a saga without a
/// partition).
struct write_fence {
  int32_t partition = -1;
  int64_t epoch = 0;

  friend bool operator==(const write_fence&, const write_fence&) = default;
};

/// One saga transition to persist: the instance after `sagas::transition`,
/// its outbox records and its timer changes.
struct saga_write {
  /// Written whole: the saga row and every step row.
  sagas::saga_instance instance;
  /// The input event's inbox id, on the saga's first write (0 = none or
  /// already linked). Marks the inbox row started, in the same transaction.
  int64_t inbox_id = 0;
  /// The input's Kafka partition, on the first write (-1 = none or already
  /// recorded). Sagas without one are loaded only by "all partitions".
  int32_t partition = -1;
  /// On the first write of an operator replay: the saga it replays.
  std::string replay_of;
  /// Records for the outbox (emit_saga_event / emit_lifecycle, encoded),
  /// inserted in order, stored byte for byte as the intake store does.
  std::vector<events::kafka_record> outbox;
  /// Timers to insert or re-schedule (schedule_timer).
  std::vector<timer_row> timers_set;
  /// Timers to delete (fired or no longer wanted); unknown keys are ignored.
  std::vector<timer_key> timers_cleared;
  /// The ownership the write is made under.
  write_fence fence;
  /// On the first write: the input event's payload (JSON) without its
  /// secrets, stored in the inbox row in place of the one with them; empty
  /// = the row keeps its payload (schema/0019's trigger strips what it
  /// still holds). From then on the saga's own row holds the secrets its
  /// steps still need (sagas::secrets_needed). Last, so that positional
  /// initializers of the fields above stay valid.
  std::string inbox_payload;
};

/// Durable state of the saga engine (tables sagas, saga_steps, timers; the
/// started mark on inbox; outbox rows) over one PostgreSQL connection.
/// Blocking: use it from one thread or a detached actor. After a broken
/// connection the next call reconnects. Errors: `errc::database_unavailable`
/// (connection lost; for `write`, the commit outcome may be unknown, and
/// writing the same vector again is safe), `errc::database_error` (detail:
/// the server's message), `errc::invalid_input` (an instance that does not
/// fit its registered definition).
///
/// Times are stored in microseconds (floored): pass `now`s truncated to
/// microseconds if reloaded instances must compare equal.
///
/// The store remembers, per open saga, the step rows it committed last and
/// sends only the ones a transition changed. So all writes of one saga must
/// go through one store, and nothing else may edit its step rows while it
/// is open; `load` and `load_active` forget what they return (call one of
/// them after taking over sagas another instance wrote).
class saga_store {
public:
  /// Opens a connection to `dsn`. `registry` names the steps of each
  /// definition (saga_steps.name) and checks every instance written; the
  /// store keeps what it needs, not a reference.
  static caf::expected<saga_store>
  connect(const std::string& dsn, const sagas::saga_registry& registry);

  saga_store(saga_store&&) noexcept;
  saga_store& operator=(saga_store&&) noexcept;
  ~saga_store();

  /// Up to `q.limit` events the router may start: for every (tenant,
  /// subscriber) with no saga in `pending`, `running`, `compensating` or
  /// `needs_attention`, its oldest inbox event that has neither a saga nor
  /// a skip reason. Only events read from `q.partitions` (empty = all), of
  /// tenants not in `q.skip_tenants`. Tenants share the limit: each tenant
  /// with waiting events contributes up to limit / tenants of its oldest
  /// events, and the result interleaves them (each tenant's first event,
  /// then each one's second, ...; by inbox id within a round), so one
  /// tenant's backlog never hides another tenant's events. An event stays
  /// startable until a `write` linking it (or `skip_event`) commits: the
  /// caller must not start it twice meanwhile.
  caf::expected<std::vector<startable_event>>
  next_startable(const startable_query& q);

  /// Writes every element in ONE transaction (group commit), in order:
  /// upserts each saga row and all its step rows, links the input inbox row,
  /// appends the outbox records and applies the timer changes. A saga that
  /// appears more than once ends as its last element says; its timer
  /// changes apply in element order. All or nothing: any failure (an
  /// unknown inbox id, an inbox event already linked to another saga, an
  /// instance that does not fit its definition) writes nothing. An element
  /// whose fence no longer holds (another instance claimed the partition
  /// since, or this one released it) fails the whole batch with
  /// errc::stale_epoch, naming the partition and both epochs.
  caf::expected<void> write(const std::vector<saga_write>& batch);

  /// As above, over elements owned elsewhere (a group commit's queue).
  caf::expected<void> write(const std::vector<const saga_write*>& batch);

  /// A batch of at most this many sagas is written as one statement (its
  /// rows as json parameters, in autocommit unless subscriber records
  /// change too); a larger one is copied into staging tables first (COPY
  /// costs the server less per row, but more round trips).
  static constexpr size_t one_statement_sagas = 16;

  /// Names the instance writing through this store: recorded in
  /// sagas.owner and saga_steps.ran_by, and the owner every fenced write
  /// (saga_write::fence) must still be. Empty (the default) = unnamed.
  void set_instance_id(std::string id);

  /// Fenced writes refused since the store was made (errc::stale_epoch).
  uint64_t stale_writes_refused() const;

  /// Forgets which step rows this store wrote (it skips sending rows it
  /// knows unchanged): call it when another connection or instance may
  /// have written the same sagas since.
  void forget_written();

  /// Marks inbox event `inbox_id` as starting no saga, with `reason`, and
  /// appends `outbox` (e.g. a dead-letter or failure record), in one
  /// transaction; the subscriber's next event becomes startable. Fails with
  /// `errc::invalid_input` if the event is unknown or already started, and
  /// with errc::stale_epoch (nothing written) when `fence` no longer holds,
  /// as `write`.
  caf::expected<void>
  skip_event(int64_t inbox_id, const std::string& reason,
             const std::vector<events::kafka_record>& outbox,
             const write_fence& fence = {});

  /// Every saga in `pending`, `running` or `compensating` with its steps,
  /// oldest (created_at, then id) first, of `partitions` (empty = all,
  /// including sagas without a partition).
  caf::expected<std::vector<sagas::saga_instance>>
  load_active(const std::vector<int32_t>& partitions);

  /// The saga `id` in whatever state, or nothing if unknown.
  caf::expected<std::optional<sagas::saga_instance>>
  load(const std::string& id);

  /// Up to `limit` timers due at or before `now`, earliest first. Rows stay
  /// until a `write` clears them: the caller remembers which it delivered.
  caf::expected<std::vector<timer_row>> due_timers(sagas::time_point now,
                                                   size_t limit);

  /// The earliest due time of any timer, or nothing when there is none.
  caf::expected<std::optional<sagas::time_point>> next_due();

private:
  struct impl;
  explicit saga_store(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::postgres
