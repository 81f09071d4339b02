#pragma once

#include "events/records.hpp"

#include <caf/expected.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ispflow::adapters::postgres {

/// One unpublished outbox record. `record` has topic, key/null_key, value
/// and headers exactly as written; partition is -1 (the producer partitions
/// by key), offset -1 and timestamp_ms 0. A row of a saga write packs the
/// records of one topic (schema/0024): its entries share the row's `id`
/// and count up from `pos` 0; a row of one record has `pos` -1.
struct outbox_entry {
  int64_t id = 0;
  int32_t pos = -1;
  events::kafka_record record;

  friend bool operator==(const outbox_entry&, const outbox_entry&) = default;
};

/// Reads and acknowledges outbox rows for the relay, over one PostgreSQL
/// connection (blocking). After a broken connection, the next call
/// reconnects. Errors: `errc::database_unavailable`, `errc::database_error`.
class outbox_store {
public:
  /// Opens a connection to `dsn`; fails with `errc::database_unavailable`.
  static caf::expected<outbox_store> connect(const std::string& dsn);

  outbox_store(outbox_store&&) noexcept;
  outbox_store& operator=(outbox_store&&) noexcept;
  ~outbox_store();

  /// The most records a packed row holds.
  static constexpr size_t records_per_row = 64;

  /// The records of the oldest (lowest id) unpublished rows, whole rows
  /// only, up to `limit` records (the first row even if it holds more).
  caf::expected<std::vector<outbox_entry>> fetch_unsent(size_t limit);

  /// Marks the rows `published` as mark_published does, then fetches as
  /// fetch_unsent does (without them): the relay's round trip for the
  /// marks of its last round. One statement for up to
  /// `mark_then_fetch_rows` rows, two above.
  caf::expected<std::vector<outbox_entry>>
  mark_then_fetch(const std::vector<int64_t>& published, size_t limit);

  /// See mark_then_fetch.
  static constexpr size_t mark_then_fetch_rows = 64;

  /// Marks the rows with these ids published by deleting them: Kafka holds
  /// what was published, and a deleted row costs PostgreSQL a small record
  /// where setting `published_at` wrote the whole row again. Unknown ids,
  /// and rows an earlier version marked by setting `published_at` (left to
  /// retention), are ignored.
  ///
  /// Marks (here and in mark_then_fetch) commit with `synchronous_commit`
  /// off: the call does not wait for the WAL flush, which made every relay
  /// round queue behind the other commits' flushes. Other sessions see a
  /// mark at once; a server crash can lose the marks of its last moments
  /// (at most three times `wal_writer_delay`), and the rows come back
  /// unpublished: the relay finds their records in Kafka before sending
  /// anything again, as after its own crash. `append` commits with the
  /// server's setting.
  caf::expected<void> mark_published(const std::vector<int64_t>& ids);

  /// The fetch of fetch_unsent, for tests of its plan ($1 the limit).
  static const char* const fetch_sql;

  /// The number of unpublished records (the relay's at its stop): a walk of
  /// the primary key, `backlog_sql` after `backlog_setting` in one
  /// read-only transaction (public for tests of its plan).
  caf::expected<int64_t> backlog();
  static const char* const backlog_sql;
  static const char* const backlog_setting;

  /// Appends `records` in order, in one transaction (for events that are
  /// not part of a saga transition, e.g. circuit breaker transitions).
  caf::expected<void> append(const std::vector<events::kafka_record>& records);

  /// Tries to take the session-level advisory lock `key` on this store's
  /// connection (the relay lease: one publisher in the cluster). Returns
  /// the server process id of the session that now holds it, or 0 when
  /// another session holds it. Once held, the session's
  /// idle_session_timeout becomes `idle_timeout`: the server ends the
  /// session of a holder that stops talking (paused, cut off), which
  /// frees the lock for another instance.
  caf::expected<int64_t> try_lock(int64_t key,
                                  std::chrono::milliseconds idle_timeout);

  /// The server process id of the session that answered the last
  /// fetch_unsent that found rows (0 before one did): the lease check of
  /// rows about to be sent, without a round trip of its own.
  int64_t fetched_by() const;

private:
  struct impl;
  explicit outbox_store(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::postgres
