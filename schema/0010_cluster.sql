-- Several ispflowd instances on one database (issue 13).
--
-- Who owns each billing partition, fenced by an epoch. The consumer group
-- decides ownership; an instance that is assigned a partition claims it
-- here by raising its epoch (adapters/postgres/partition_owners.cpp). Every
-- saga write for the partition carries the epoch its writer holds and
-- takes a share lock on this row in the same transaction: a claim (an
-- UPDATE of the row) waits for the writes in flight, and once it commits
-- every write with the older epoch is refused. instance_id is '' after the
-- owner released the partition (graceful stop); the next claim raises the
-- epoch again.
CREATE TABLE partition_owners (
  partition     int PRIMARY KEY CHECK (partition >= 0),
  instance_id   text NOT NULL,
  epoch         bigint NOT NULL CHECK (epoch > 0),
  claimed_at    timestamptz NOT NULL,
  heartbeat_at  timestamptz NOT NULL
);

-- The instance that wrote the saga's latest transition, and per step the
-- instance that wrote the step's latest change (the saga's timeline shows
-- which instance ran each step). Null on rows written before this
-- migration.
ALTER TABLE sagas ADD COLUMN owner text;
ALTER TABLE saga_steps ADD COLUMN ran_by text;

-- The instances of the cluster as they report themselves (every heartbeat
-- of their partition leases): GET /v1/cluster lists them. relay says
-- whether the instance holds the outbox relay's lock.
CREATE TABLE cluster_instances (
  instance_id   text PRIMARY KEY,
  started_at    timestamptz NOT NULL,
  heartbeat_at  timestamptz NOT NULL,
  relay         boolean NOT NULL DEFAULT false,
  stopped_at    timestamptz
);
