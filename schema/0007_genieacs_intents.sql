-- The GenieACS adapter's memory of the tasks it posts, kept like an outbox of
-- intents: a row is written before the task POST and updated with GenieACS's
-- answer. GenieACS deletes a task once it ran and `uniqueKey` only replaces a
-- task still queued, so after a restart only this row (with the device
-- record's _lastInform/_lastBoot after posted_at) tells a task that already
-- ran (e.g. a factory reset) from one that never reached the ACS.
CREATE TABLE genieacs_task_intents (
  operation       text        NOT NULL,
  idempotency_key text        NOT NULL,
  tenant_id       text        NOT NULL,
  device_id       text        NOT NULL,
  unique_key      text        NOT NULL,
  -- GenieACS's task _id; empty until an answer carried it.
  task_id         text        NOT NULL DEFAULT '',
  state           text        NOT NULL
    CHECK (state IN ('posting', 'queued', 'done', 'faulted', 'unsent')),
  -- The fault of a faulted task.
  detail          text        NOT NULL DEFAULT '',
  -- When the POST was about to be sent (ispflow's clock).
  posted_at       timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (operation, idempotency_key)
);

-- For purging old rows.
CREATE INDEX genieacs_task_intents_updated_idx
  ON genieacs_task_intents (updated_at);
