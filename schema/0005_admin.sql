-- Operators: the admin API's audit trail, and the links of re-driven and
-- replayed inbox events to what they came from.

-- Every write through the admin API, allowed or refused (after the token was
-- recognised). `request` is a summary without secrets: payloads are never
-- stored here, only their size.
CREATE TABLE admin_audit (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  token_name  text NOT NULL,
  -- The token's tenant restriction; null for a token of every tenant.
  tenant_id   text,
  -- e.g. 'sagas.retry', 'dead_letters.redrive', 'events.redrive'.
  action      text NOT NULL,
  -- What it acted on: a saga id, a dead letter id, a breaker id, a window.
  target      text NOT NULL,
  request     jsonb NOT NULL DEFAULT '{}',
  -- HTTP status and 'ok' or the error code answered.
  status      int NOT NULL,
  result      text NOT NULL
);
CREATE INDEX admin_audit_at_idx ON admin_audit (at);

-- Inbox events an operator caused, by their CloudEvents identity (source
-- 'ispflow/redrive' or 'ispflow/replay', a fresh event id). A link is written
-- before its inbox row, so every operator-made inbox row has one; a link
-- without an inbox row is a re-drive whose write failed.
CREATE TABLE inbox_links (
  source          text NOT NULL,
  event_id        text NOT NULL,
  -- The inbox event this one re-drives (events re-drive and replay).
  redrive_of      bigint REFERENCES inbox (id),
  -- The saga a replay re-runs; the router may copy it to sagas.replay_of.
  replay_of       text REFERENCES sagas (id),
  -- The dead letter this event came from (dead-letter re-drive).
  dead_letter_id  bigint REFERENCES dead_letters (id),
  token_name      text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, event_id)
);
CREATE INDEX inbox_links_redrive_idx ON inbox_links (redrive_of);

-- The admin API's saga list: newest first, per tenant or over all.
CREATE INDEX sagas_created_idx ON sagas (created_at DESC, id DESC);
CREATE INDEX sagas_tenant_created_idx
  ON sagas (tenant_id, created_at DESC, id DESC);
-- Re-drive windows: events by receive time.
CREATE INDEX inbox_received_idx ON inbox (received_at);
