-- Drift reconciliation (actors/drift): each scan, and what it found. A scan
-- compares the subscriber records (schema/0011) with what FreeRADIUS,
-- NetBox, VOLTHA and GenieACS hold, and may start a repair saga per
-- subscriber with differences.
--
--   tenant_id   the scan's tenant; null = every tenant
--   systems     the systems compared; empty = all
--   trigger     "operator" (admin API) or "schedule"
--   state       queued, running, completed, failed
--   unobserved  systems skipped for part of the scan (breaker open, system
--               down), with the reason: their differences were not judged
--   requests    per system, the requests (HTTP, gRPC, SQL) the scan sent
CREATE TABLE drift_scans (
  id           text PRIMARY KEY,
  tenant_id    text,
  systems      text[] NOT NULL DEFAULT '{}',
  dry_run      boolean NOT NULL DEFAULT false,
  repair       boolean NOT NULL DEFAULT false,
  trigger      text NOT NULL,
  state        text NOT NULL,
  error        text,
  subscribers  bigint NOT NULL DEFAULT 0,
  findings     bigint NOT NULL DEFAULT 0,
  repairs      bigint NOT NULL DEFAULT 0,
  unobserved   jsonb NOT NULL DEFAULT '{}',
  requests     jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  finished_at  timestamptz
);
CREATE INDEX drift_scans_created_idx ON drift_scans (created_at DESC);

-- One difference of one subscriber; `repair` names what was done about it
-- (e.g. the repair saga's id), null when nothing was.
CREATE TABLE drift_findings (
  scan_id        text NOT NULL REFERENCES drift_scans (id) ON DELETE CASCADE,
  tenant_id      text NOT NULL,
  subscriber_id  text NOT NULL,
  system         text NOT NULL,
  kind           text NOT NULL,
  expected       text NOT NULL,
  observed       text NOT NULL,
  repair         text,
  PRIMARY KEY (scan_id, tenant_id, subscriber_id, kind)
);
CREATE INDEX drift_findings_subscriber_idx
  ON drift_findings (tenant_id, subscriber_id);
