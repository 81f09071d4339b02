-- The subscriber record against what the saga history says, as plain SQL
-- (no ispflow code): defines the temporary view ispflow_record_check with one
-- row per difference (tenant_id, subscriber_id, field, record, history).
-- Empty = every record equals the fold of its subscriber's finished sagas.
-- Used by deploy/local/demo.sh's summary, the chaos checker
-- (deploy/local/chaos/check.sh) and tests/e2e/intake_crash.sh:
--   psql "$DSN" -f deploy/local/record_check.sql \
--        -c "select * from ispflow_record_check"
--
-- The fold (sagas::next_state, sagas::settled_outcome, written out again
-- here on purpose):
--   outcome  a cancelled saga that left effects behind settles as
--            needs_attention: terminate with a succeeded step, another saga
--            with a compensable step succeeded, compensating, or failed
--            with an unknown outcome (steps without a compensation listed
--            from sagas/lifecycle_sagas.cpp, version 1 of each saga)
--   state    the state set by the newest finished saga that sets one
--            (completed activate/resume: active, suspend: suspended,
--            terminate: terminated; needs_attention: unknown), else none
--   service  the newest finished saga's non-empty service type
--   profile  the payloads and succeeded step outputs of the completed
--            sagas, oldest first, later values winning, secret-looking keys
--            left out; plan_id, radius_username, ip_address, onu_id,
--            cpe_id and nas_identifier are copies of profile keys; of a
--            finished drift repair only the onu_id output of its succeeded
--            provision_onu_service step (sagas::repair_record_fields)
-- It reads the whole history: run it where retention has not yet deleted
-- a subscriber's older sagas (demo, crash tests, chaos runs).
create or replace temporary view ispflow_record_check as
with finished as (
  select s.*,
         case when s.state = 'cancelled' and exists (
                select 1 from saga_steps st
                 where st.saga_id = s.id
                   and (s.name = 'terminate' and st.state = 'succeeded'
                        or s.name <> 'terminate'
                           and (st.state in ('succeeded', 'compensating')
                                or st.state = 'failed' and st.reconcile)
                           and (s.name, st.name) not in (
                             ('activate', 'configure_cpe'),
                             ('suspend', 'disconnect_sessions'),
                             ('suspend', 'verify_sessions_closed'),
                             ('resume', 'disconnect_sessions'),
                             ('change_plan', 'coa_sessions'))))
              then 'needs_attention' else s.state end as outcome
    from sagas s
   where s.state in ('completed', 'compensated', 'cancelled')
     -- A drift repair restores the network to the record: it changes no
     -- state (its ONU device id: see the profile below).
     and s.name <> 'repair'
), moves as (
  select f.*,
         case when f.outcome = 'needs_attention' then 'unknown'
              when f.outcome = 'completed' then case f.name
                when 'activate' then 'active' when 'resume' then 'active'
                when 'suspend' then 'suspended'
                when 'terminate' then 'terminated' end
         end as target
    from finished f
), subjects as (
  select distinct tenant_id, subscriber_id from moves
), history as (
  select k.tenant_id, k.subscriber_id,
         coalesce((select m.target from moves m
                    where m.tenant_id = k.tenant_id
                      and m.subscriber_id = k.subscriber_id
                      and m.target is not null
                    order by m.created_at desc, m.id desc limit 1),
                  'none') as state,
         coalesce((select m.service_type from moves m
                    where m.tenant_id = k.tenant_id
                      and m.subscriber_id = k.subscriber_id
                      and m.service_type <> ''
                    order by m.created_at desc, m.id desc limit 1),
                  '') as service_type,
         (select coalesce(jsonb_object_agg(kv.k, kv.v order by kv.at, kv.id,
                                           kv.n), '{}')
            from (select m.created_at as at, m.id, 0 as n, p.key as k,
                         p.value as v
                    from moves m, jsonb_each(m.payload) p
                   where m.tenant_id = k.tenant_id
                     and m.subscriber_id = k.subscriber_id
                     and m.state = 'completed'
                  union all
                  select m.created_at, m.id, 1 + st.idx, o.key, o.value
                    from moves m
                    join saga_steps st on st.saga_id = m.id
                     and st.state = 'succeeded',
                         jsonb_each(st.output) o
                   where m.tenant_id = k.tenant_id
                     and m.subscriber_id = k.subscriber_id
                     and m.state = 'completed'
                  union all
                  select r.created_at, r.id, 1 + st.idx, o.key, o.value
                    from sagas r
                    join saga_steps st on st.saga_id = r.id
                     and st.state = 'succeeded'
                     and st.name = 'provision_onu_service',
                         jsonb_each(st.output) o
                   where r.tenant_id = k.tenant_id
                     and r.subscriber_id = k.subscriber_id
                     and r.name = 'repair'
                     and r.state in ('completed', 'compensated', 'cancelled')
                     and o.key = 'onu_id' and o.value <> '""'::jsonb) kv
           where kv.k !~* '(password|secret|token|psk)') as profile
    from subjects k
), pairs as (
  select coalesce(h.tenant_id, r.tenant_id) as tenant_id,
         coalesce(h.subscriber_id, r.id) as subscriber_id,
         h.tenant_id is not null as in_history,
         r.tenant_id is not null as in_record,
         h.state as h_state, h.service_type as h_service, h.profile as h_profile,
         r.state as r_state, coalesce(r.service_type, '') as r_service,
         r.profile as r_profile,
         jsonb_build_object('plan_id', r.plan_id,
                            'credentials.username', r.radius_username,
                            'ip_address', r.ip_address, 'onu_id', r.onu_id,
                            'cpe_id', r.cpe_id,
                            'access.nas_identifier', r.nas_identifier)
           as r_columns,
         exists (select 1 from sagas s
                  where s.tenant_id = r.tenant_id and s.subscriber_id = r.id
                    and s.state = 'needs_attention') as stopped
    from history h
    full join subscribers r
      on r.tenant_id = h.tenant_id and r.id = h.subscriber_id
)
select tenant_id, subscriber_id, 'record' as field,
       case when in_record then 'present' else 'missing' end as record,
       case when in_history then 'finished sagas' else 'none finished' end
         as history
  from pairs
 where not in_record or (not in_history and not stopped)
union all
select tenant_id, subscriber_id, 'state', r_state, h_state
  from pairs where in_record and in_history and r_state <> h_state
union all
select tenant_id, subscriber_id, 'service_type', r_service, h_service
  from pairs where in_record and in_history and r_service <> h_service
union all
select tenant_id, subscriber_id, 'profile', r_profile::text, h_profile::text
  from pairs where in_record and in_history and r_profile <> h_profile
union all
select p.tenant_id, p.subscriber_id, 'column ' || c.key, c.value #>> '{}',
       coalesce(p.r_profile ->> c.key, '')
  from pairs p, jsonb_each(p.r_columns) c
 where p.in_record
   and coalesce(c.value #>> '{}', '') <> coalesce(p.r_profile ->> c.key, '');
