#!/usr/bin/env bash
# Checks the chaos checker (check.sh) on states built by hand: a consistent
# one must give no finding; the same state with a lost input, a duplicated
# AWX job, a second NetBox address (so RADIUS's address disagrees), a
# repeated lifecycle record, a stray RADIUS row, a stuck saga, a session
# left open, a wrong session rate and a subscriber record that differs from
# the saga history must give exactly those findings.
#   check_selftest.sh ADMIN_DSN     (a PostgreSQL to create a scratch database in)
set -euo pipefail
export PGOPTIONS='-c client_min_messages=warning'

admin=${1:?usage: check_selftest.sh ADMIN_DSN}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../stack.sh"
work=$(mktemp -d)
db=chaos_check_selftest
trap 'rm -rf "$work"; psql "$admin" -qXc "drop database if exists $db with (force)" >/dev/null 2>&1 || true' EXIT
psql "$admin" -qX -c "drop database if exists $db with (force)" -c "create database $db" >/dev/null
dsn="${admin/dbname=postgres/} dbname=$db"

fail() { echo "FAIL: $*" >&2; exit 1; }

# Tables the checker reads from the stack's database (the columns it uses).
psql "$dsn" -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
create table radcheck (id serial, username text, attribute text, op text, value text);
create table radreply (id serial, username text, attribute text, op text, value text);
create table radusergroup (id serial, username text, groupname text, priority int);
create table radgroupreply (id serial, groupname text, attribute text, op text, value text);
create table radacct (radacctid serial, acctsessionid text, username text, acctstoptime timestamptz);
create table sagas (id text, name text, subscriber_id text, state text,
  tenant_id text default 'demo', service_type text default 'ftth',
  payload jsonb default '{}', created_at timestamptz default now());
create table saga_steps (saga_id text, idx int, name text, state text, reconcile boolean, output jsonb);
create table subscribers (tenant_id text, id text, state text, service_type text, profile jsonb,
  plan_id text, radius_username text, ip_address text, onu_id text, cpe_id text,
  nas_identifier text, last_outcome text);
create table inbox (event_id text, type text, subscriber_id text, saga_id text, skipped_reason text);
SQL

# Billing's feed: sub-00001 activated; sub-00002 activated then suspended
# (sent twice); sub-00003 activated then terminated; sub-00004 activated
# (the saga fails, compensated) then suspended (dead-lettered: not active).
mkdir -p "$work/s/state"
{
  for i in 1 2 3 4; do
    printf -v s 'sub-%05d' "$i"
    stack_activation_payload demo "$s" fiber-100
    stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
  done
  stack_event sus-4 billing.subscription.suspended demo sub-00004 '{"schema_version":1,"tenant_id":"demo","subscriber_id":"sub-00004","reason":"non_payment"}'
  sus='{"schema_version":1,"tenant_id":"demo","subscriber_id":"sub-00002","reason":"non_payment"}'
  stack_event sus-2 billing.subscription.suspended demo sub-00002 "$sus"
  stack_event sus-2 billing.subscription.suspended demo sub-00002 "$sus"
  stack_event term-3 billing.subscription.terminated demo sub-00003 '{"schema_version":1,"tenant_id":"demo","subscriber_id":"sub-00003"}'
} >"$work/s/feed.tsv"

life() {  # life PARTITION OFFSET CE_ID TYPE CAUSATION SUBSCRIBER
  printf '%s\t%s\tce_specversion=1.0,ce_id=%s,ce_source=ispflow,ce_type=%s,ce_subject=%s\t{"subscriber_id":"%s","causation_id":"%s"}\n' \
    "$1" "$2" "$3" "$4" "$6" "$6" "$5"
}
{
  life 0 0 s1/1/2 subscriber.activated act-1 sub-00001
  life 0 1 s2/1/2 subscriber.activated act-2 sub-00002
  life 1 0 s3/1/2 subscriber.activated act-3 sub-00003
  printf '2\t0\tce_id=s7/1/2,ce_type=subscriber.activated_failed\t{"subscriber_id":"sub-00004","causation_id":"act-4","compensated":true,"error":"attempts exhausted","failed_step":"run_activation_job"}\n'
} >"$work/s/lifecycle-1.tsv"
printf '2\t0\tce_specversion=1.0,ce_id=sus-4,ce_source=billing.example,ce_type=billing.subscription.suspended,ispflow_error=subscriber_not_active\t{}\n' \
  >"$work/s/dlq-1.tsv"
{
  life 0 0 s4/1/2 subscriber.suspended sus-2 sub-00002
  life 1 0 s5/1/2 subscriber.terminated term-3 sub-00003
  life 0 1 s1/1/2 subscriber.activated act-1 sub-00001   # again after the bus restart
} >"$work/s/lifecycle-2.tsv"

job() { printf '{"id":%s,"job_template":1,"status":"successful","extra_vars":"{\\"ispflow_idempotency_key\\":\\"%s/run_activation_job/0\\",\\"subscriber_id\\":\\"%s\\"}"}' "$1" "$2" "$3"; }
ip() { printf '{"id":%s,"address":"100.64.0.%s/21","custom_fields":{"idempotency_key":"%s/allocate_ip/0","subscriber_id":"%s"}}' "$1" "$1" "$2" "$3"; }
printf '{"allocations":3,"ip_addresses":[%s,%s]}\n' "$(ip 1 s1 sub-00001)" "$(ip 2 s2 sub-00002)" >"$work/s/state/netbox.json"
# sub-00004's job ran before its saga failed (a job cannot be undone).
printf '{"launches":4,"jobs":[%s,%s,%s,%s]}\n' "$(job 1 s1 sub-00001)" "$(job 2 s2 sub-00002)" "$(job 3 s3 sub-00003)" \
  "$(job 5 s7 sub-00004)" >"$work/s/state/awx.json"
printf '{"devices":[%s,%s,%s],"tasks":0}\n' \
  '{"_id":"00259E-HG8245-CPE00000001","executed":["setParameterValues"]}' \
  '{"_id":"00259E-HG8245-CPE00000002","executed":["setParameterValues"]}' \
  '{"_id":"00259E-HG8245-CPE00000003","executed":["setParameterValues","factoryReset"]}' >"$work/s/state/genieacs.json"
printf '{"devices":[],"subscribers":[{"port":"ALCL00000001-1"},{"port":"ALCL00000002-1"}]}\n' >"$work/s/state/voltha.json"
psql "$dsn" -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
insert into radcheck (username, attribute, op, value) values
  ('sub-00001@demo.example', 'Cleartext-Password', ':=', 'x'),
  ('sub-00002@demo.example', 'Cleartext-Password', ':=', 'x'),
  ('sub-00002@demo.example', 'Auth-Type', ':=', 'Reject');
insert into radreply (username, attribute, op, value) values
  ('sub-00001@demo.example', 'Framed-IP-Address', ':=', '100.64.0.1'),
  ('sub-00002@demo.example', 'Framed-IP-Address', ':=', '100.64.0.2');
insert into radusergroup (username, groupname, priority) values
  ('sub-00001@demo.example', 'demo-fiber-100', 1), ('sub-00002@demo.example', 'demo-fiber-100', 1);
insert into radgroupreply (groupname, attribute, op, value) values ('demo-fiber-100', 'Mikrotik-Rate-Limit', ':=', '20000k/100000k');
insert into radacct (acctsessionid, username, acctstoptime) values
  ('a1', 'sub-00001@demo.example', null), ('a2', 'sub-00002@demo.example', now());
insert into sagas values ('s1', 'activate', 'sub-00001', 'completed');
insert into saga_steps values ('s1', 0, 'allocate_ip', 'succeeded', false, '{"ip_address": "100.64.0.1"}');
insert into subscribers values ('demo', 'sub-00001', 'active', 'ftth', '{"ip_address": "100.64.0.1"}',
  null, null, '100.64.0.1', null, null, null, 'completed');
SQL
printf '[{"id":"a1","username":"sub-00001@demo.example","attributes":{"Mikrotik-Rate-Limit":"20000k/100000k"}}]\n' >"$work/s/state/nas.json"

# 1. The consistent state: no finding.
out=$("$here/check.sh" "$work/s" "$dsn") || { echo "$out" >&2; fail "the consistent state gave findings"; }
grep -q '^FINDINGS 0: none$' <<<"$out" || { echo "$out" >&2; fail "no FINDINGS 0 line"; }
grep -q '^inputs 7 (8 sends), subscribers 4, lifecycle records 7 (6 distinct events)$' <<<"$out" \
  || { echo "$out" >&2; fail "wrong totals"; }
grep -q '^NOTES 3: dead_lettered 1, failed_compensated 1, republished_after_bus_loss 1$' <<<"$out" || { echo "$out" >&2; fail "wrong NOTES line"; }
echo "consistent state: no finding" >&2

# 2. The same state, broken in eight ways.
sed -i '/sus-2/d' "$work/s/lifecycle-2.tsv"                                    # lost input
life 1 1 s5/1/2 subscriber.terminated term-3 sub-00003 >>"$work/s/lifecycle-2.tsv"  # the same event twice on one bus
printf '{"launches":5,"jobs":[%s,%s,%s,%s,%s]}\n' "$(job 1 s1 sub-00001)" "$(job 2 s2 sub-00002)" \
  "$(job 3 s3 sub-00003)" "$(job 4 s3 sub-00003)" "$(job 5 s7 sub-00004)" >"$work/s/state/awx.json"  # a second job, same key
printf '{"ip_addresses":[%s,%s,%s]}\n' "$(ip 1 s1 sub-00001)" "$(ip 2 s2 sub-00002)" "$(ip 9 s9 sub-00001)" \
  >"$work/s/state/netbox.json"                                                  # a second address
psql "$dsn" -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
insert into radcheck (username, attribute, op, value) values ('sub-00003@demo.example', 'SSHA2-512-Password', ':=', 'x');
insert into sagas values ('s6', 'suspend', 'sub-00002', 'running');
update radacct set acctstoptime = null where acctsessionid = 'a2';
update subscribers set state = 'suspended' where id = 'sub-00001';
SQL
printf '[%s,%s]\n' '{"id":"a1","username":"sub-00001@demo.example","attributes":{"Mikrotik-Rate-Limit":"1k/1k"}}' \
  '{"id":"a2","username":"sub-00002@demo.example","attributes":{}}' >"$work/s/state/nas.json"  # a session left, a wrong rate
if out=$("$here/check.sh" "$work/s" "$dsn"); then echo "$out" >&2; fail "the broken state passed"; fi
echo "$out" >&2
want=(
  'lost_input +sus-2 '
  'lifecycle_record_repeated +s5/1/2 '
  'duplicated_effect +sub-00003 +AWX ran 2 job'
  'duplicated_effect +s3/run_activation_job/0 +AWX: 2 jobs'
  'duplicated_effect +sub-00001 +NetBox holds 2 address'
  'duplicated_effect +sub-00003 +FreeRADIUS radcheck has 1 password'
  'inconsistent_effect +sub-00001 +Framed-IP-Address 100.64.0.1 is not the address NetBox holds'
  'stuck +s6 +saga suspend of sub-00002 is running'
  'session_not_disconnected +sub-00002 +the NAS still holds a session'
  'session_not_disconnected +sub-00002 +radacct has an open session'
  'inconsistent_effect +sub-00001 +the session of sub-00001@demo.example has rate 1k/1k'
  'record_differs +demo/sub-00001 +state: record suspended, history active'
)
for w in "${want[@]}"; do
  grep -qE "^  $w" <<<"$out" || fail "no finding matching: $w"
done
[[ $(sed -n '/^FINDINGS/,$p' <<<"$out" | grep -c '^  ') -eq ${#want[@]} ]] || fail "findings other than the ${#want[@]} planted ones"
grep -q '^FINDINGS 12: duplicated_effect 4, inconsistent_effect 2, lifecycle_record_repeated 1, lost_input 1, record_differs 1, session_not_disconnected 2, stuck 1$' <<<"$out" \
  || fail "wrong FINDINGS line"
echo "chaos checker self-test: all checks hold" >&2
