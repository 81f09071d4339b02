#pragma once

#include "events/intake.hpp"

#include <caf/expected.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ispflow::adapters::postgres {

/// Writes intake batches to the inbox, dead_letters and outbox tables over
/// one PostgreSQL connection (blocking; use it from one thread or a detached
/// actor). After a broken connection, the next call reconnects.
class intake_store {
public:
  /// Opens a connection to `dsn`; fails with `errc::database_unavailable`.
  static caf::expected<intake_store> connect(const std::string& dsn);

  intake_store(intake_store&&) noexcept;
  intake_store& operator=(intake_store&&) noexcept;
  ~intake_store();

  /// Writes `batch` in ONE transaction: every accepted event goes to the
  /// inbox unless (tenant, source, id) is there already or earlier in the
  /// batch;
  /// every dead letter goes to dead_letters unless (topic, partition,
  /// offset) is there already or earlier in the batch; the `emits` of each
  /// row actually inserted go to the outbox, in batch order. Idempotent, so
  /// a batch may be retried after any failure.
  ///
  /// When PostgreSQL refuses the batch for a data reason (SQLSTATE class 22,
  /// 23 or 54: a value it cannot store) and the batch names its
  /// `dead_letter_topic`, the batch is split in halves, each written in its
  /// own transaction, recursively, so that only the refused events become
  /// dead letters (`unstorable`, detail: SQLSTATE and message) and the rest
  /// is recorded; a partition never stalls on one such event.
  ///
  /// Fails with `errc::database_unavailable` (connection lost; the next call
  /// reconnects) or `errc::database_error` (detail: the server's message).
  caf::expected<events::intake_outcome>
  write(const events::intake_batch& batch);

  /// Inserts or renames tenants from configuration: (id, name) pairs.
  /// Existing tenants keep their settings; none is deleted.
  caf::expected<void> upsert_tenants(
    const std::vector<std::pair<std::string, std::string>>& id_name);

private:
  // One transaction; a data error is returned in `refused`, not as error.
  caf::expected<events::intake_outcome>
  write_once(const events::intake_batch& batch,
             std::optional<std::string>& refused);

  struct impl;
  explicit intake_store(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::postgres
