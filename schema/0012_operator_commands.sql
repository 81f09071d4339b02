-- Operator commands in a cluster (issue 13): retry, cancel and replay of a
-- saga are accepted by any instance's admin API and recorded here; the
-- instance owning the saga's partition takes them (under the epoch it holds,
-- as saga writes are fenced) and records the outcome
-- (adapters/postgres/operator_commands.cpp, actors/admin/command_pickup.cpp).
--
--   kafka_partition  the saga's partition when the command was recorded
--                    (null: a saga without one; the receiving instance acts)
--   state            queued -> taken -> done | failed
--   taken_by, epoch  the instance that took the command and the epoch of
--                    the partition it held then; a command taken under an
--                    epoch another instance has since superseded (its taker
--                    died or lost the partition) is taken again by the new
--                    owner
--   result           what the owner did, e.g. "running", "cancelled"
--   error_code       why it failed, e.g. "conflict", "not_found"
--
-- Every insert notifies channel ispflow_operator_commands (payload: the
-- partition, or '' for none) in the same transaction.
CREATE TABLE operator_commands (
  id               text PRIMARY KEY,
  tenant_id        text NOT NULL,
  saga_id          text NOT NULL,
  kind             text NOT NULL CHECK (kind IN ('retry', 'cancel', 'replay')),
  kafka_partition  int,
  requested_by     text NOT NULL,
  requested_at     timestamptz NOT NULL DEFAULT now(),
  state            text NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'taken', 'done', 'failed')),
  taken_by         text,
  epoch            bigint,
  taken_at         timestamptz,
  result           text,
  error_code       text,
  error            text,
  finished_at      timestamptz
);

-- What an owner takes: the open commands of its partitions, oldest first.
CREATE INDEX operator_commands_open_idx
    ON operator_commands (kafka_partition, requested_at)
 WHERE state IN ('queued', 'taken');
