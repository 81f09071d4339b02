-- Durable sagas: one row per instance, one per step, one per pending timer.
-- The columns mirror sagas::saga_instance and sagas::step_record (see
-- sagas/instance.hpp); states are the stable names of sagas/states.hpp.
-- Times are kept at microsecond precision, as PostgreSQL stores them.
--
-- Which inbox events still wait for a saga: inbox.saga_id names the saga an
-- event started (set in the same transaction as the saga's first write) and
-- inbox.skipped_reason says why an event starts none (e.g. a plan change for
-- a subscriber that was never activated). A row with neither is unstarted;
-- a partial index keeps those few rows cheap to find however large the
-- inbox grows, which an anti-join on sagas.inbox_id could not.

ALTER TABLE inbox ADD COLUMN saga_id text;
ALTER TABLE inbox ADD COLUMN skipped_reason text;
CREATE INDEX inbox_unstarted_idx ON inbox (id)
  WHERE saga_id IS NULL AND skipped_reason IS NULL;
CREATE INDEX inbox_unstarted_subscriber_idx
  ON inbox (tenant_id, subscriber_id, id)
  WHERE saga_id IS NULL AND skipped_reason IS NULL;

CREATE TABLE sagas (
  id                text PRIMARY KEY,
  name              text NOT NULL,
  version           int NOT NULL,
  tenant_id         text NOT NULL,
  subscriber_id     text NOT NULL,
  service_type      text NOT NULL,
  -- The ce_id of the billing event that caused the saga.
  causation         text NOT NULL,
  -- The billing payload, flattened: a JSON object of strings.
  payload           jsonb NOT NULL DEFAULT '{}',
  state             text NOT NULL CHECK (state IN (
                      'pending', 'running', 'completed', 'compensating',
                      'compensated', 'needs_attention', 'cancelled')),
  "cursor"          int NOT NULL CHECK ("cursor" >= 0),
  generation        bigint NOT NULL,
  cancel_requested  boolean NOT NULL,
  failed_step       text NOT NULL DEFAULT '',
  error             text NOT NULL DEFAULT '',
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  -- The input event; null for a saga an operator started (see replay_of).
  inbox_id          bigint UNIQUE REFERENCES inbox (id),
  -- The input's Kafka partition: the instance owning the partition owns
  -- the saga (resumed on assignment). Null when it has none.
  kafka_partition   int,
  -- The saga an operator replayed to start this one.
  replay_of         text REFERENCES sagas (id)
) WITH (fillfactor = 50);

-- Per-subscriber ordering: a subscriber with a saga in one of these states
-- starts no other (needs_attention blocks until an operator acts).
CREATE INDEX sagas_subscriber_open_idx ON sagas (tenant_id, subscriber_id)
  WHERE state IN ('pending', 'running', 'compensating', 'needs_attention');

-- Resumption: the sagas a saga actor must drive, by owned partition.
CREATE INDEX sagas_partition_active_idx ON sagas (kafka_partition, created_at)
  WHERE state IN ('pending', 'running', 'compensating');

CREATE TABLE saga_steps (
  saga_id                  text NOT NULL REFERENCES sagas (id)
                             ON DELETE CASCADE,
  idx                      int NOT NULL CHECK (idx >= 0),
  -- The step's name in the saga's definition (name, version).
  name                     text NOT NULL,
  state                    text NOT NULL CHECK (state IN (
                             'pending', 'running', 'succeeded', 'failed',
                             'compensating', 'compensated', 'skipped')),
  attempts                 int NOT NULL,
  last_error               text NOT NULL DEFAULT '',
  -- What the step produced: a JSON object of strings.
  output                   jsonb NOT NULL DEFAULT '{}',
  first_attempt_at         timestamptz,
  next_attempt_at          timestamptz,
  reconcile                boolean NOT NULL,
  generation               bigint NOT NULL,
  compensation_attempts    int NOT NULL,
  compensation_started_at  timestamptz,
  PRIMARY KEY (saga_id, idx)
) WITH (fillfactor = 60);

-- Durable timers (backoffs, parked steps, polls, deadlines). Scheduling the
-- same (saga, step, generation) again replaces the due time.
CREATE TABLE timers (
  saga_id     text NOT NULL REFERENCES sagas (id) ON DELETE CASCADE,
  step        int NOT NULL CHECK (step >= 0),
  generation  bigint NOT NULL,
  due_at      timestamptz NOT NULL,
  PRIMARY KEY (saga_id, step, generation)
);
CREATE INDEX timers_due_idx ON timers (due_at);
