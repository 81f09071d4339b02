-- The subscriber as a record: `subscribers` holds each subscriber's current
-- state, written in the same transaction as the saga transition that changes
-- it (adapters/postgres/subscriber_record.cpp). Admission reads it instead of
-- folding the subscriber's saga history, so history can be deleted
-- (retention) without changing what a later saga inherits.
--
--   state         sagas::subscriber_state (none, active, suspended,
--                 terminated, unknown), as folded by sagas::next_state
--   service_type  the access method (ftth, wireless, fixed)
--   profile       what later sagas inherit: the payloads and step outputs of
--                 the completed sagas, later values winning, without secrets
--   plan_id ... nas_identifier  copies of profile keys, for filters
--   last_saga_*   the last saga that finished (or stopped in
--                 needs_attention) and its state then
--   version       +1 per change
--
-- Sagas carry no tenant foreign key either: a subscriber record exists as
-- soon as a saga of it finished, whether or not intake has synced the tenant.

ALTER TABLE subscribers DROP CONSTRAINT IF EXISTS subscribers_tenant_id_fkey;
ALTER TABLE subscribers
  ADD COLUMN profile jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN radius_username text,
  ADD COLUMN ip_address text,
  ADD COLUMN onu_id text,
  ADD COLUMN cpe_id text,
  ADD COLUMN nas_identifier text,
  ADD COLUMN last_saga_id text,
  ADD COLUMN last_saga_name text,
  ADD COLUMN last_outcome text,
  ADD COLUMN version bigint NOT NULL DEFAULT 0;
CREATE INDEX subscribers_state_idx ON subscribers (tenant_id, state, id);
CREATE INDEX subscribers_plan_idx ON subscribers (tenant_id, plan_id, id);
CREATE INDEX subscribers_nas_idx ON subscribers (nas_identifier, tenant_id, id);
-- GET /v1/subscribers/{id} without a tenant.
CREATE INDEX subscribers_id_idx ON subscribers (id);

-- Secrets in stored payloads: keys (at any depth) that name a password,
-- secret, token or PSK. Inbox payloads nest them ({"credentials":
-- {"password": ...}}), saga payloads are flattened ("credentials.password").
CREATE FUNCTION ispflow_strip_secrets(j jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(j) = 'object' THEN
    RETURN (SELECT COALESCE(jsonb_object_agg(k, ispflow_strip_secrets(v)),
                            '{}'::jsonb)
              FROM jsonb_each(j) AS e(k, v)
             WHERE k !~* '(password|secret|token|psk)');
  ELSIF jsonb_typeof(j) = 'array' THEN
    RETURN (SELECT COALESCE(jsonb_agg(ispflow_strip_secrets(v) ORDER BY n),
                            '[]'::jsonb)
              FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, n));
  END IF;
  RETURN j;
END
$$;

CREATE FUNCTION ispflow_has_secrets(j jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT j::text ~* '(password|secret|token|psk)'
     AND ispflow_strip_secrets(j) IS DISTINCT FROM j
$$;

-- Sagas that finished before this migration no longer need their secrets.
UPDATE inbox e SET payload = ispflow_strip_secrets(e.payload)
  FROM sagas s
 WHERE e.id = s.inbox_id
   AND s.state IN ('completed', 'compensated', 'cancelled')
   AND ispflow_has_secrets(e.payload);
UPDATE sagas SET payload = ispflow_strip_secrets(payload)
 WHERE state IN ('completed', 'compensated', 'cancelled')
   AND ispflow_has_secrets(payload);

-- The record of every subscriber with finished sagas, folded from history
-- exactly as the saga router did before this migration. A cancelled saga
-- that left effects behind settles as needs_attention (sagas::
-- settled_outcome): a forward-only saga (terminate) with a succeeded step,
-- or another saga with a compensable step succeeded, compensating or failed
-- with an unknown outcome. The steps without a compensation are listed here
-- from sagas/lifecycle_sagas.cpp (version 1 of each definition).
WITH finished AS (
  SELECT s.*,
         CASE WHEN s.state = 'cancelled' AND EXISTS (
                SELECT 1 FROM saga_steps st
                 WHERE st.saga_id = s.id
                   AND (s.name = 'terminate' AND st.state = 'succeeded'
                        OR s.name <> 'terminate'
                           AND (st.state IN ('succeeded', 'compensating')
                                OR st.state = 'failed' AND st.reconcile)
                           AND (s.name, st.name) NOT IN (
                             ('activate', 'configure_cpe'),
                             ('suspend', 'disconnect_sessions'),
                             ('suspend', 'verify_sessions_closed'),
                             ('resume', 'disconnect_sessions'),
                             ('change_plan', 'coa_sessions'))))
              THEN 'needs_attention' ELSE s.state END AS outcome
    FROM sagas s
   WHERE s.state IN ('completed', 'compensated', 'cancelled')
), moves AS (
  -- The state a saga sets whatever the state before; null = unchanged.
  SELECT f.*,
         CASE WHEN f.outcome = 'needs_attention'
                   AND f.name IN ('activate', 'suspend', 'resume',
                                  'change_plan', 'terminate') THEN 'unknown'
              WHEN f.outcome = 'completed' THEN CASE f.name
                WHEN 'activate' THEN 'active' WHEN 'resume' THEN 'active'
                WHEN 'suspend' THEN 'suspended'
                WHEN 'terminate' THEN 'terminated' END
         END AS target,
         row_number() OVER (PARTITION BY f.tenant_id, f.subscriber_id
                            ORDER BY f.created_at DESC, f.id DESC) AS newest
    FROM finished f
), folded AS (
  SELECT m.tenant_id, m.subscriber_id,
         COALESCE((SELECT x.target FROM moves x
                    WHERE x.tenant_id = m.tenant_id
                      AND x.subscriber_id = m.subscriber_id
                      AND x.target IS NOT NULL
                    ORDER BY x.created_at DESC, x.id DESC LIMIT 1),
                  'none') AS state,
         (SELECT x.service_type FROM moves x
           WHERE x.tenant_id = m.tenant_id
             AND x.subscriber_id = m.subscriber_id AND x.service_type <> ''
           ORDER BY x.created_at DESC, x.id DESC LIMIT 1) AS service_type,
         (SELECT COALESCE(jsonb_object_agg(kv.k, kv.v
                                           ORDER BY kv.at, kv.id, kv.n),
                          '{}')
            FROM (SELECT x.created_at AS at, x.id, 0 AS n, p.key AS k,
                         p.value AS v
                    FROM moves x, jsonb_each(x.payload) p
                   WHERE x.tenant_id = m.tenant_id
                     AND x.subscriber_id = m.subscriber_id
                     AND x.state = 'completed'
                  UNION ALL
                  SELECT x.created_at, x.id, 1 + st.idx, o.key, o.value
                    FROM moves x
                    JOIN saga_steps st ON st.saga_id = x.id
                     AND st.state = 'succeeded',
                         jsonb_each(st.output) o
                   WHERE x.tenant_id = m.tenant_id
                     AND x.subscriber_id = m.subscriber_id
                     AND x.state = 'completed') kv
           WHERE kv.k !~* '(password|secret|token|psk)') AS profile,
         m.id AS last_saga_id, m.name AS last_saga_name,
         m.state AS last_outcome, m.updated_at
    FROM moves m
   WHERE m.newest = 1
)
INSERT INTO subscribers AS t (tenant_id, id, state, plan_id, service_type,
                              profile, radius_username, ip_address, onu_id,
                              cpe_id, nas_identifier, last_saga_id,
                              last_saga_name, last_outcome, created_at,
                              updated_at, version)
SELECT tenant_id, subscriber_id, state, profile->>'plan_id', service_type,
       profile, profile->>'credentials.username', profile->>'ip_address',
       profile->>'onu_id', profile->>'cpe_id',
       profile->>'access.nas_identifier', last_saga_id, last_saga_name,
       last_outcome, updated_at, updated_at, 1
  FROM folded
ON CONFLICT (tenant_id, id) DO UPDATE SET
  state = excluded.state, plan_id = excluded.plan_id,
  service_type = excluded.service_type, profile = excluded.profile,
  radius_username = excluded.radius_username,
  ip_address = excluded.ip_address, onu_id = excluded.onu_id,
  cpe_id = excluded.cpe_id, nas_identifier = excluded.nas_identifier,
  last_saga_id = excluded.last_saga_id,
  last_saga_name = excluded.last_saga_name,
  last_outcome = excluded.last_outcome, updated_at = excluded.updated_at,
  version = t.version + 1;

-- Retention (adapters/postgres/retention_store.cpp) deletes in batches,
-- oldest first; these indexes find a batch and what refers to it without
-- scanning. A dead letter an operator dismissed (dismissed_at) goes as a
-- re-driven one does; the others stay until an operator acts.
ALTER TABLE dead_letters ADD COLUMN dismissed_at timestamptz;
CREATE INDEX dead_letters_settled_idx ON dead_letters (id)
  WHERE redriven_at IS NOT NULL OR dismissed_at IS NOT NULL;
CREATE INDEX sagas_replay_of_idx ON sagas (replay_of)
  WHERE replay_of IS NOT NULL;
CREATE INDEX inbox_links_replay_of_idx ON inbox_links (replay_of)
  WHERE replay_of IS NOT NULL;
CREATE INDEX inbox_links_dead_letter_idx ON inbox_links (dead_letter_id)
  WHERE dead_letter_id IS NOT NULL;
