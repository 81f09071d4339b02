#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ispflow::adapters::postgres {

/// What retention deletes, one kind of row each.
enum class retention_table {
  /// Inbox events past the dedupe window, once settled: their saga is gone
  /// (deleted by `sagas` retention) or they started none (skipped). An
  /// unstarted event is never deleted. Deleting an event forgets its
  /// (tenant, source, event id): Kafka must no longer hold it, so the
  /// window must exceed the topic's retention.
  inbox,
  /// Published outbox rows, by publication time; unpublished rows stay.
  outbox,
  /// Dead letters re-driven or dismissed before the period; the others
  /// wait for an operator, however old.
  dead_letters,
  /// Finished sagas (completed, compensated, cancelled) created before the
  /// period, with their step rows and timers; open ones (pending, running,
  /// compensating, needs_attention) stay whatever their age. The subscriber
  /// record keeps what later sagas need.
  sagas,
  /// Timer rows of finished sagas, due before the period (left behind; a
  /// finished saga clears its timers).
  timers,
  /// admin_audit rows.
  audit,
  /// Finished drift scans (completed, failed) with their findings
  /// (schema/0013), by finish time. A scan still queued or running stays,
  /// and so does a scan with a finding whose repair (its inbox event,
  /// `drift_findings.repair`) has not started or whose repair saga is open
  /// (pending, running, compensating, needs_attention): the finding is
  /// what `ispflowctl drift show` joins to the saga. The findings of the
  /// batch's scans go first, at most `limit` rows per transaction; a scan
  /// goes once it has none.
  drift,
};

/// Stable name, e.g. "dead_letters" (the configuration key's suffix).
std::string_view to_string(retention_table x) noexcept;

/// Every table, in the order a retention pass visits them (sagas before
/// inbox: an event goes only once its saga is gone).
const std::vector<retention_table>& retention_tables();

/// Batch deletes for retention over one PostgreSQL connection. Blocking:
/// run it in a detached actor. Errors as the other stores:
/// `errc::database_unavailable` (reconnects on the next call),
/// `errc::database_error`.
class retention_store {
public:
  static caf::expected<retention_store> connect(const std::string& dsn);

  retention_store(retention_store&&) noexcept;
  retention_store& operator=(retention_store&&) noexcept;
  ~retention_store();

  /// Deletes at most `limit` rows of `table` that are older than `cutoff`
  /// and that retention may delete (see `retention_table`), in one short
  /// transaction; returns how many went. Fewer than `limit` means nothing
  /// more is due.
  caf::expected<int64_t> purge(retention_table table,
                               std::chrono::system_clock::time_point cutoff,
                               size_t limit);

private:
  struct impl;
  explicit retention_store(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::postgres
