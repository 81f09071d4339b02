#!/usr/bin/env bash
# The chaos run's independent checker. It judges ispflow by what billing
# sent and what the outside world shows, not by ispflow's own verdicts:
#   DIR/feed.tsv            every billing event produced ("key<TAB>CloudEvent"
#                           lines, stack_event's format; a redelivery repeats
#                           a line: one input per (source, id))
#   DIR/lifecycle-*.tsv     lifecycle.events.v1 as read from the bus by kcat
#                           (-f '%p\t%o\t%h\t%s\n'), one file per bus epoch
#   DIR/dlq-*.tsv           billing.events.v1.dlq, the same way (optional)
#   DIR/state/netbox.json   GET /_sim/state of the NetBox simulator
#   DIR/state/awx.json      ... AWX, GenieACS, VOLTHA/ONOS
#   DIR/state/genieacs.json
#   DIR/state/voltha.json
#   DIR/state/nas.json      GET /sessions of the NAS simulator (optional: with
#                           it, sessions and radacct are checked too)
#   DSN                     the database FreeRADIUS reads (radcheck, radreply,
#                           radusergroup) and ispflow's sagas/inbox/outbox
#                           (only to name what is stuck, and to hold the
#                           subscriber records against the saga history:
#                           deploy/local/record_check.sql, `record_differs`)
# It loads these into the schema chaos_check of DSN's database, derives per
# subscriber what the network must hold from the feed (the last of
# activate/terminate, suspend/resume, the plan), runs every check and prints
# the findings and notes. An input that billing was told failed with its
# compensation done, or that went to the dead-letter topic with a reason, is
# a note, not a finding, and counts as not applied: what it would have done
# must then be absent (compensation checked), except for effects that cannot
# be undone (AWX jobs, CPE configurations), which may be there at most once.
# Exit 0 when there is no finding, 1 otherwise, 2 on bad usage.
#   check.sh DIR DSN
# A check is one INSERT INTO findings (check, subject, detail) below: add one
# for a new effect.
set -euo pipefail

dir=${1:-}; dsn=${2:-}
[[ -n "$dir" && -n "$dsn" && -f "$dir/feed.tsv" ]] || { sed -n '2,24p' "$0" >&2; exit 2; }
dir=$(cd "$dir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
for f in netbox awx genieacs voltha; do
  [[ -s "$dir/state/$f.json" ]] || { echo "check: $dir/state/$f.json missing" >&2; exit 2; }
done
shopt -s nullglob
life_files=("$dir"/lifecycle-*.tsv)
dlq_files=("$dir"/dlq-*.tsv)
shopt -u nullglob

# Every line of a file as one text row, in order (CSV with a delimiter and
# quote that never occur: no escaping at all).
load() {  # load TABLE FILE
  printf "\\\\copy chaos_check.%s(line) from '%s' with (format csv, delimiter E'\\\\x02', quote E'\\\\x01')\n" "$1" "$2"
}

{
  cat <<'SQL'
\set ON_ERROR_STOP 1
set client_min_messages = warning;
drop schema if exists chaos_check cascade;
create schema chaos_check;
set search_path = chaos_check, public;
create table raw_feed (n bigserial, line text);
create table raw_life (n bigserial, file text, line text);
create table raw_dlq (n bigserial, file text, line text);
create table raw_state (sim text primary key, line text);
SQL
  load raw_feed "$dir/feed.tsv"
  for f in "${life_files[@]}"; do
    load raw_life "$f"
    echo "update chaos_check.raw_life set file = '$(basename "$f")' where file is null;"
  done
  for f in "${dlq_files[@]}"; do
    load raw_dlq "$f"
    echo "update chaos_check.raw_dlq set file = '$(basename "$f")' where file is null;"
  done
  for s in netbox awx genieacs voltha; do
    echo "create temporary table t_$s (line text);"
    printf "\\\\copy t_%s(line) from '%s' with (format csv, delimiter E'\\\\x02', quote E'\\\\x01')\n" "$s" "$dir/state/$s.json"
    echo "insert into chaos_check.raw_state select '$s', string_agg(line, '') from t_$s;"
  done
  if [[ -s "$dir/state/nas.json" ]]; then
    echo "create temporary table t_nas (line text);"
    printf "\\\\copy t_nas(line) from '%s' with (format csv, delimiter E'\\\\x02', quote E'\\\\x01')\n" "$dir/state/nas.json"
    echo "insert into chaos_check.raw_state select 'nas', string_agg(line, '') from t_nas;"
  fi
  cat <<'SQL'
-- What billing sent: one input per (source, id), at its first position.
create table feed as
  select min(n) n, ev->>'source' source, ev->>'id' id, ev->>'type' type,
         coalesce(ev->>'tenantid', ev->'data'->>'tenant_id') tenant, ev->>'subject' subscriber,
         (array_agg(ev->'data' order by n))[1] data, count(*) sends
  from (select n, substr(line, strpos(line, E'\t') + 1)::jsonb ev from raw_feed where line <> '') x
  group by 2, 3, 4, 5, 6;

-- What the bus carried on lifecycle.events.v1.
create table life as
  select file, split_part(line, E'\t', 1)::int p, split_part(line, E'\t', 2)::bigint o,
         substring(split_part(line, E'\t', 3) from 'ce_id=([^,]*)') ce_id,
         substring(split_part(line, E'\t', 3) from 'ce_type=([^,]*)') ce_type,
         split_part(line, E'\t', 4)::jsonb body
  from raw_life where line <> '';

-- What the bus carried on billing.events.v1.dlq: the input it names (the
-- ce_id header, or the id inside a structured-mode body) and the reason.
create table dlq as
  select file, coalesce(substring(split_part(line, E'\t', 3) from 'ce_id=([^,]*)'),
                        substring(split_part(line, E'\t', 4) from '"id":"([^"]*)"')) id,
         substring(split_part(line, E'\t', 3) from 'ispflow_error=([^,]*)') error,
         split_part(line, E'\t', 3) like '%ispflow_source_offset=%' at_intake
  from raw_dlq where line <> '';

-- Inputs not applied: failed with the compensation done, or dead-lettered.
alter table feed add column applied boolean;
update feed f set applied = not exists (select 1 from life l where l.body->>'causation_id' = f.id
                                          and l.ce_type like '%\_failed' and (l.body->>'compensated')::boolean)
                        and not exists (select 1 from dlq d where d.id = f.id);

-- What the network must hold per subscriber, from the inputs applied.
create table expect as
  with f as (select *, split_part(type, '.', 3) verb from feed),
  s as (
    select tenant, subscriber,
      count(*) filter (where verb = 'activated') activations,
      count(*) filter (where verb = 'activated' and applied) applied_activations,
      count(*) filter (where verb = 'terminated' and applied) terminations,
      (array_agg(verb order by n desc) filter (where verb in ('activated', 'terminated') and applied))[1] = 'activated' present,
      (array_agg(verb order by n desc) filter (where verb in ('activated', 'suspended', 'resumed', 'terminated') and applied))[1] = 'suspended' suspended,
      (array_agg(data->>'plan_id' order by n desc) filter (where verb in ('activated', 'plan_changed') and applied))[1] plan,
      (array_agg(data order by n desc) filter (where verb = 'activated'))[1] act
    from f group by tenant, subscriber)
  select tenant, subscriber, activations, applied_activations, terminations, coalesce(present, false) present,
         coalesce(suspended, false) and coalesce(present, false) suspended, plan,
         act->'credentials'->>'username' username, act->'access'->>'onu_serial' onu_serial,
         (act->'access'->'cpe'->>'oui') || '-' || (act->'access'->'cpe'->>'product_class') || '-' || (act->'access'->'cpe'->>'serial') cpe_id
  from s;

-- The simulators' state.
create table netbox as
  select x->>'address' address, x->'custom_fields'->>'subscriber_id' subscriber,
         x->'custom_fields'->>'idempotency_key' key
  from raw_state, jsonb_array_elements(line::jsonb->'ip_addresses') x where sim = 'netbox';
create table awx as
  select (x->>'id')::bigint id, x->>'status' status, (x->>'extra_vars')::jsonb vars
  from raw_state, jsonb_array_elements(line::jsonb->'jobs') x where sim = 'awx';
create table acs_exec as
  select d->>'_id' device, e task
  from raw_state, jsonb_array_elements(line::jsonb->'devices') d, jsonb_array_elements_text(d->'executed') e
  where sim = 'genieacs';
create table pon as
  select x->>'port' port from raw_state, jsonb_array_elements(line::jsonb->'subscribers') x where sim = 'voltha';

create table findings (check_name text, subject text, detail text);
-- Kinds of finding that are notes: told to billing, nothing lost or doubled.
create table note_kinds (check_name text primary key);
insert into note_kinds values ('failed_compensated'), ('dead_lettered'), ('republished_after_bus_loss');

-- Inputs: each input ends in exactly one lifecycle outcome, the expected one.
insert into findings
  select 'lost_input', f.id, format('%s for %s: no lifecycle event names it as its cause, and it is not on the DLQ', f.type, f.subscriber)
  from feed f where not exists (select 1 from life l where l.body->>'causation_id' = f.id)
    and not exists (select 1 from dlq d where d.id = f.id);
-- Refused for the subscriber's state (the saga router): a note. Refused by
-- intake (its records carry ispflow_source_offset): billing's events are
-- valid, so a finding.
insert into findings
  select case when d.at_intake then 'refused_at_intake' else 'dead_lettered' end, d.id,
         format('%s for %s went to the DLQ: %s', f.type, f.subscriber, d.error)
  from dlq d join feed f on f.id = d.id;
insert into findings
  select case when (l.body->>'compensated')::boolean then 'failed_compensated' else 'failed_not_compensated' end,
         l.body->>'causation_id',
         format('%s: %s at %s (compensated %s)', l.ce_type, l.body->>'error', l.body->>'failed_step', l.body->>'compensated')
  from life l where l.ce_type like '%\_failed';
insert into findings
  select 'wrong_outcome', f.id, format('%s answered by %s', f.type, l.ce_type)
  from feed f join life l on l.body->>'causation_id' = f.id
  where l.ce_type not like '%\_failed' and l.ce_type <> 'subscriber.' || split_part(f.type, '.', 3);
insert into findings
  select 'duplicate_lifecycle_event', causation, format('%s distinct events (%s)', count(distinct ce_id), string_agg(distinct ce_type, ', '))
  from (select body->>'causation_id' causation, ce_id, ce_type from life) x group by causation having count(distinct ce_id) > 1;
-- A repeat on one bus is a finding. A repeat across a bus restart, at most
-- once per bus, is a note: the mock bus lost its log, so the outbox could
-- not read back what it had delivered to the old bus before a crash (a real
-- cluster keeps it); consumers see the same ce_id twice.
insert into findings
  select case when count(*) = count(distinct file) then 'republished_after_bus_loss' else 'lifecycle_record_repeated' end,
         ce_id, format('%s records of one event (%s)', count(*), string_agg(format('%s p%s@%s', file, p, o), ' '))
  from life group by ce_id having count(*) > 1;
insert into findings
  select 'unexpected_lifecycle_event', l.ce_id, format('%s caused by %s, which billing never sent', l.ce_type, l.body->>'causation_id')
  from life l where not exists (select 1 from feed f where f.id = l.body->>'causation_id');

-- NetBox: one address per present subscriber, none after terminate.
insert into findings
  select case when n > want then 'duplicated_effect' else 'missing_effect' end, e.subscriber,
         format('NetBox holds %s address(es), want %s: %s', n, want, addrs)
  from expect e, lateral (select count(*) n, string_agg(address, ' ') addrs from netbox b where b.subscriber = e.subscriber) b,
       lateral (select case when e.present then 1 else 0 end want) w
  where n <> want;
insert into findings
  select 'duplicated_effect', key, format('NetBox: %s addresses for one idempotency key', count(*))
  from netbox where key is not null group by key having count(*) > 1;
-- AWX: one job per activation, one per idempotency key (saga/step/generation).
insert into findings
  select case when n > e.activations then 'duplicated_effect' else 'missing_effect' end, e.subscriber,
         format('AWX ran %s job(s) for %s activation(s), %s applied', n, e.activations, e.applied_activations)
  from expect e, lateral (select count(*) n from awx a where a.vars->>'subscriber_id' = e.subscriber) a
  where n > e.activations or n < e.applied_activations;
insert into findings
  select 'duplicated_effect', vars->>'ispflow_idempotency_key', format('AWX: %s jobs for one idempotency key', count(*))
  from awx group by 2 having count(*) > 1;
insert into findings
  select 'stuck', id::text, format('AWX job of %s is %s', vars->>'subscriber_id', status)
  from awx where status not in ('successful', 'failed', 'error', 'canceled');
-- GenieACS: one configuration per activation, one factory reset per terminate.
insert into findings
  select case when got > most then 'duplicated_effect' else 'missing_effect' end, e.subscriber,
         format('GenieACS ran %s %s on %s, want %s', got, task, e.cpe_id, case when want = most then want::text else want || '..' || most end)
  from expect e,
       lateral (values ('setParameterValues', e.applied_activations, e.activations),
                       ('factoryReset', e.terminations, e.terminations)) t(task, want, most),
       lateral (select count(*) got from acs_exec x where x.device = e.cpe_id and x.task = t.task) g
  where got > most or got < want;
-- VOLTHA/ONOS: one service on the ONU's UNI while present, none after.
insert into findings
  select case when n > want then 'duplicated_effect' else 'missing_effect' end, e.subscriber,
         format('ONOS programs %s service(s) on %s-*, want %s', n, e.onu_serial, want)
  from expect e, lateral (select count(*) n from pon where port like e.onu_serial || '-%') p,
       lateral (select case when e.present then 1 else 0 end want) w
  where n <> want;
-- FreeRADIUS: the rows it authenticates from, and the address NetBox gave.
insert into findings
  select case when got > want then 'duplicated_effect' else 'missing_effect' end, e.subscriber,
         format('FreeRADIUS %s has %s %s row(s) for %s, want %s', t.tbl, got, t.what, e.username, want)
  from expect e,
       lateral (values
         ('radcheck', 'password', case when e.present then 1 else 0 end,
          (select count(*) from public.radcheck r where r.username = e.username and r.attribute like '%-Password')),
         ('radcheck', 'Auth-Type Reject', case when e.suspended then 1 else 0 end,
          (select count(*) from public.radcheck r where r.username = e.username and r.attribute = 'Auth-Type' and r.value = 'Reject')),
         ('radreply', 'Framed-IP-Address', case when e.present then 1 else 0 end,
          (select count(*) from public.radreply r where r.username = e.username and r.attribute = 'Framed-IP-Address')),
         ('radusergroup', 'group', case when e.present then 1 else 0 end,
          (select count(*) from public.radusergroup r where r.username = e.username))) t(tbl, what, want, got)
  where got <> want;
insert into findings
  select 'inconsistent_effect', e.subscriber, format('radusergroup says %s, billing''s last plan is %s', g.groupname, e.plan)
  from expect e join public.radusergroup g on g.username = e.username
  where e.present and g.groupname <> e.tenant || '-' || e.plan;
insert into findings
  select 'inconsistent_effect', e.subscriber, format('Framed-IP-Address %s is not the address NetBox holds (%s)', r.value, b.addrs)
  from expect e join public.radreply r on r.username = e.username and r.attribute = 'Framed-IP-Address',
       lateral (select string_agg(split_part(address, '/', 1), ' ') addrs from netbox n where n.subscriber = e.subscriber) b
  where e.present and r.value <> coalesce(b.addrs, '');
SQL
  # ispflow's read model: every subscriber record equals what the saga
  # history says (deploy/local/record_check.sql), when the database has one.
  cat <<SQL
select exists (select 1 from information_schema.columns where table_schema = 'public'
  and table_name = 'subscribers' and column_name = 'last_outcome') as has_record \gset
\if :has_record
\i '$here/../record_check.sql'
insert into findings
  select 'record_differs', tenant_id || '/' || subscriber_id,
         format('%s: record %s, history %s', field, left(record, 60), left(history, 60))
  from ispflow_record_check;
\endif
SQL
  if [[ -s "$dir/state/nas.json" ]]; then
    cat <<'SQL'
-- The NAS: a suspended or terminated subscriber keeps no session (on the NAS
-- or open in radacct); a session of an active one has its plan's rate.
create table nas_sessions as
  select x->>'username' username, x->'attributes' attrs
  from raw_state, jsonb_array_elements(line::jsonb) x where sim = 'nas';
insert into findings
  select 'session_not_disconnected', e.subscriber,
         format('the NAS still holds a session of %s, who is %s', e.username, case when e.present then 'suspended' else 'terminated' end)
  from expect e join nas_sessions n on n.username = e.username where not e.present or e.suspended;
insert into findings
  select 'session_not_disconnected', e.subscriber,
         format('radacct has an open session of %s (%s), who is %s', e.username, r.acctsessionid, case when e.present then 'suspended' else 'terminated' end)
  from expect e join public.radacct r on r.username = e.username and r.acctstoptime is null where not e.present or e.suspended;
insert into findings
  select 'inconsistent_effect', e.subscriber,
         format('the session of %s has rate %s, plan %s says %s', e.username, n.attrs->>'Mikrotik-Rate-Limit', e.plan, g.value)
  from expect e join nas_sessions n on n.username = e.username
       left join public.radgroupreply g on g.groupname = e.tenant || '-' || e.plan and g.attribute = 'Mikrotik-Rate-Limit'
  where e.present and not e.suspended and n.attrs->>'Mikrotik-Rate-Limit' is distinct from g.value;
SQL
  fi
  cat <<'SQL'

-- Stuck: sagas not ended and inputs not started (named by ispflow's tables).
insert into findings
  select 'stuck', id::text, format('saga %s of %s is %s', name, subscriber_id, state)
  from public.sagas where state in ('pending', 'running', 'compensating');
insert into findings
  select 'stuck', event_id, format('%s of %s recorded but no saga started', type, subscriber_id)
  from public.inbox where saga_id is null and skipped_reason is null;

\pset footer off
\pset tuples_only on
select format('inputs %s (%s sends), subscribers %s, lifecycle records %s (%s distinct events)',
  (select count(*) from feed), (select sum(sends) from feed), (select count(*) from expect),
  (select count(*) from life), (select count(distinct ce_id) from life));
select format('lifecycle events by type: %s', coalesce(string_agg(format('%s %s', ce_type, n), ', ' order by ce_type), 'none'))
  from (select ce_type, count(distinct ce_id) n from life group by 1) x;
select format('effects seen: NetBox %s addresses, AWX %s jobs, GenieACS %s tasks run, ONOS %s services, radcheck %s rows%s',
  (select count(*) from netbox), (select count(*) from awx), (select count(*) from acs_exec), (select count(*) from pon),
  (select count(*) from public.radcheck),
  coalesce((select format(', NAS %s sessions', jsonb_array_length(line::jsonb)) from raw_state where sim = 'nas'), ''));
select format('NOTES %s: %s', (select count(*) from findings where check_name in (select * from note_kinds)),
  coalesce((select string_agg(format('%s %s', check_name, n), ', ' order by check_name)
            from (select check_name, count(*) n from findings where check_name in (select * from note_kinds) group by 1) x), 'none'));
select format('  %-26s %-40s %s', check_name, subject, detail) from (
  select *, row_number() over (partition by check_name order by subject) r from findings
  where check_name in (select * from note_kinds)) x
  where r <= 10 order by check_name, subject;
select format('FINDINGS %s: %s', (select count(*) from findings where check_name not in (select * from note_kinds)),
  coalesce((select string_agg(format('%s %s', check_name, n), ', ' order by check_name)
            from (select check_name, count(*) n from findings where check_name not in (select * from note_kinds) group by 1) x), 'none'));
select format('  %-26s %-40s %s', check_name, subject, detail) from (
  select *, row_number() over (partition by check_name order by subject) r from findings
  where check_name not in (select * from note_kinds)) x
  where r <= 10 order by check_name, subject;
SQL
} >"$dir/check.sql"

out=$(psql "$dsn" -qAtX -f "$dir/check.sql") || { echo "check: the checker's SQL failed (see $dir/check.sql)" >&2; exit 2; }
printf '%s\n' "$out"
grep -q '^FINDINGS 0:' <<<"$out"
