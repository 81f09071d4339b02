#!/usr/bin/env bash
# The embedded demo (design.md §9): a throwaway PostgreSQL, ispflow-bus,
# the network simulators (NetBox, GenieACS, AWX, VOLTHA/ONOS), ispflowd,
# FreeRADIUS on the same database and a NAS simulator; then a billing feed
# that activates, suspends, resumes, changes and terminates subscribers,
# with a progress line, ending with a summary and how to look around.
#   demo.sh BUILD_DIR             (make demo)
#   demo.sh BUILD_DIR stop        stop a stack left running by DEMO_KEEP=1
#   DEMO_KEEP=1 demo.sh ...       leave the stack running to look around
#   DEMO_SUBSCRIBERS=N            subscribers activated (default 200, 10..2000)
#   DEMO_TIMEOUT=S                longest wait for the sagas of a phase (default 240)
#   DEMO_BREAKER=0                skip the phase that trips a breaker
#   DEMO_INSTANCES=N              run N ispflowd instances (2..6, default 1;
#                                 deploy/local/cluster.sh): during phase 2 one
#                                 is SIGKILLed and, with 3 or more, another
#                                 SIGSTOPped past the consumer group's
#                                 session; the summary shows the take-over
# Ports (deploy/local/ispflow.yaml): NetBox 18101, GenieACS 18102, AWX 18103,
# VOLTHA gRPC 18104, ONOS REST 18105, NAS CoA 18106 and control 18107,
# FreeRADIUS auth 18112 and acct 18113, admin API 8089, PostgreSQL 55432;
# with DEMO_INSTANCES=N, instance I's admin API on 8088 + I.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build/ci}" && pwd)
export STACK_BIN=$build STACK_DIR=$build/demo
source "$here/stack.sh"
source "$here/cluster.sh"

config=$here/ispflow.yaml
secrets=$here/demo-secrets
pids_file=$STACK_DIR/demo.pids
admin=http://127.0.0.1:8089
billing=billing.events.v1

# -- stop a kept stack --------------------------------------------------------
if [[ "${2:-}" == stop ]]; then
  if [[ -f "$pids_file" ]]; then
    # Our own processes, by the pids this script recorded.
    while read -r name pid; do
      kill -TERM "$pid" 2>/dev/null && stack_log "stopped $name (pid $pid)" || true
    done <"$pids_file"
    rm -f "$pids_file"
  fi
  "$here/freeradius.sh" stop "$STACK_DIR/radius" || true
  stack_pg_stop || true
  exit 0
fi

subscribers=${DEMO_SUBSCRIBERS:-200}
instances=${DEMO_INSTANCES:-1}
[[ "$instances" =~ ^[1-6]$ ]] || { echo "demo: DEMO_INSTANCES must be 1..6" >&2; exit 2; }
limit=${DEMO_TIMEOUT:-240}
[[ "$subscribers" =~ ^[0-9]+$ ]] && ((subscribers >= 10 && subscribers <= 2000)) \
  || { echo "demo: DEMO_SUBSCRIBERS must be 10..2000 (the NetBox prefix holds 2046)" >&2; exit 2; }
for tool in kcat psql radclient freeradius awk timeout; do
  command -v "$tool" >/dev/null || { echo "demo: $tool missing; run deploy/local/deps.sh" >&2; exit 1; }
done
# Subscribers 1..N are activated in structured mode, N+1 in binary mode,
# and N+2..N+21 in the breaker phase; the simulators hold CPEs and ONUs for
# all of them.
population=$((subscribers + 1))
extra=20
seeded=$((population + extra))

# -- clean stop ---------------------------------------------------------------
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ "${DEMO_KEEP:-0}" == 1 ]]; then
    {
      echo "ispflowd ${STACK_ISPFLOWD_PID:-}"
      for i in "${!CLUSTER_PIDS[@]}"; do ((i > 1)) && echo "ispflowd-node-$i ${CLUSTER_PIDS[$i]}"; done
      echo "ispflow-bus ${STACK_BUS_PID:-}"
      for name in "${!STACK_SIM_PIDS[@]}"; do echo "ispflow-sim-$name ${STACK_SIM_PIDS[$name]}"; done
    } | awk 'NF == 2' >"$pids_file"
    stack_log "the stack keeps running (DEMO_KEEP=1); stop it with: $0 $build stop"
  else
    stack_log "stopping the stack"
    ((instances > 1)) && cluster_stop_all >/dev/null 2>&1
    stack_stop_all >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Everything the demo prints about itself goes to stderr with a time stamp;
# the summary goes to stdout.
fail() { [[ -t 2 ]] && echo >&2; stack_log "FAILED: $*"; exit 1; }

stack_ports_free 18101 18102 18103 18104 18105 18106 18107 18112 18113 8089 "$STACK_PG_PORT" \
  $(for ((i = 2; i <= instances; i++)); do echo $((8088 + i)); done) \
  || fail "free those ports first (a kept demo stops with: $0 $build stop)"
rm -rf "$STACK_DIR"
mkdir -p "$STACK_DIR"

# -- 1. PostgreSQL, the bus, the simulators, ispflowd, FreeRADIUS, the NAS -----
((instances > 1)) && cluster_name_first
stack_network_up "$config" "$seeded" || fail "the stack did not start (logs in $STACK_DIR)"
if ((instances > 1)); then
  cluster_adopt_first
  for ((i = 2; i <= instances; i++)); do
    stack_log "starting ispflowd node-$i (admin API on http://127.0.0.1:$((STACK_ADMIN_PORT + i - 1)))"
    cluster_start_instance "$i" "$config" || fail "ispflowd node-$i did not start (logs in $STACK_DIR)"
  done
  cluster_wait_owners "$(seq -s' ' "$instances")" 60 || fail "the instances did not share the partitions"
  stack_log "partitions: $(cluster_owners_line "$(cluster_view)") (consumer group session 4 s)"
fi

# -- progress -------------------------------------------------------------------
start_all=$(date +%s.%N)
phase_start=$start_all

# One line: sagas by state, inbox, dead letters, outbox backlog.
progress_line() {
  stack_sql "select format('sagas %s done %s running %s pending %s compensating %s failed | inbox %s, waiting %s | dead letters %s | outbox backlog %s',
      count(*) filter (where state = 'completed'),
      count(*) filter (where state = 'running'),
      count(*) filter (where state = 'pending'),
      count(*) filter (where state = 'compensating'),
      count(*) filter (where state in ('compensated', 'needs_attention', 'cancelled')),
      (select count(*) from inbox),
      (select count(*) from inbox where saga_id is null and skipped_reason is null),
      (select count(*) from dead_letters),
      (select count(*) from outbox where published_at is null))
    from sagas"
}

# Events that can still start a saga: unstarted inbox rows of subscribers
# not held by a saga in needs_attention (those wait for an operator).
movable_sql="select count(*) from inbox i where i.saga_id is null and i.skipped_reason is null
  and not exists (select 1 from sagas s where s.tenant_id = i.tenant_id
                  and s.subscriber_id = i.subscriber_id and s.state = 'needs_attention')"

# Prints what keeps a phase from ending: open sagas with their current step.
explain_stuck() {
  echo "Sagas not ended (id, saga, subscriber, state | step, step state, attempts, next attempt due, output, last error):" >&2
  stack_sql "select format('  %s %s %s %s | %s %s attempts=%s due=%s %s %s', s.id, s.name, s.subscriber_id, s.state,
        coalesce(st.name, '-'), coalesce(st.state, '-'), coalesce(st.attempts, 0),
        coalesce(to_char(st.next_attempt_at, 'HH24:MI:SS'), '-'), coalesce(st.output::text, ''),
        left(coalesce(st.last_error, ''), 160))
      from sagas s left join lateral (select * from saga_steps x where x.saga_id = s.id
        and x.state not in ('succeeded', 'skipped', 'compensated') order by x.idx limit 1) st on true
      where s.state in ('pending', 'running', 'compensating') order by s.created_at limit 15" >&2
  echo "Events waiting for a saga: $(stack_sql "$movable_sql")" >&2
  echo "Logs: $STACK_DIR/ispflowd.log, $STACK_DIR/sim-*.log, $STACK_DIR/radius/radius.log" >&2
}

# Waits until intake recorded INBOX events and DEAD dead letters, no saga is
# pending, running or compensating, no event waits and the outbox is empty.
#   wait_sagas INBOX DEAD LABEL
wait_sagas() {
  local want_inbox=$1 want_dead=$2 label=$3 t0 line shown=-5
  t0=$(date +%s)
  while :; do
    line=$(progress_line)
    # One line rewritten in place on a terminal, a line every 5 s in a log.
    if [[ -t 2 ]]; then
      printf '\r\033[K  %s: %s  %ss' "$label" "$line" "$(($(date +%s) - t0))" >&2
    elif (($(date +%s) - t0 >= shown + 5)); then
      shown=$(($(date +%s) - t0))
      printf '  %s: %s  %ss\n' "$label" "$line" "$shown" >&2
    fi
    if [[ $(stack_sql "select (select count(*) from inbox) >= $want_inbox
          and (select count(*) from dead_letters) >= $want_dead
          and not exists (select 1 from sagas where state in ('pending', 'running', 'compensating'))
          and ($movable_sql) = 0
          and not exists (select 1 from outbox where published_at is null)") == t ]]; then
      if [[ -t 2 ]]; then echo >&2; else printf '  %s: %s  done in %ss\n' "$label" "$(progress_line)" "$(($(date +%s) - t0))" >&2; fi
      return 0
    fi
    kill -0 "$STACK_ISPFLOWD_PID" 2>/dev/null || { echo >&2; tail -n 20 "$STACK_DIR/ispflowd.log" >&2; fail "ispflowd exited"; }
    if (($(date +%s) - t0 > limit)); then
      echo >&2
      explain_stuck
      fail "$label: not done after ${limit}s (DEMO_TIMEOUT)"
    fi
    sleep 0.5
  done
}

# Prints the NAS simulator's sessions (GET /sessions on its control port),
# one line each: user, Framed-IP-Address, rate limit.
show_sessions() {
  local json
  json=$(stack_http GET 18107 /sessions) || { echo "  (NAS control endpoint did not answer)"; return 0; }
  psql "$STACK_DSN" -qAtX -v j="$json" <<'SQL'
select format('  %s session(s) on the NAS', jsonb_array_length(:'j'::jsonb));
select format('    %-24s %-15s rate %s', x->>'username', coalesce(nullif(x->>'framed_ip', ''), '-'),
              coalesce(x->'attributes'->>'Mikrotik-Rate-Limit', '-'))
  from jsonb_array_elements(:'j'::jsonb) x order by x->>'username';
SQL
}

# -- the cluster's failures (DEMO_INSTANCES >= 2) ----------------------------------
# While phase 2 runs: SIGKILL node-2 and wait until the others hold its
# partitions; with 3 or more instances, SIGSTOP node-3 for 8 s (twice the
# consumer group's 4 s session), SIGCONT it and wait until it rejoined.
chaos_notes=()
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
cluster_chaos() {
  local t0 survivors held took
  cluster_before=$(cluster_view)
  survivors=$(seq 1 "$instances" | grep -vx 2 | paste -sd' ' -)
  held=$(cluster_held_by 2)
  stack_log "SIGKILL ispflowd node-2 (partitions $held) while phase 2 runs"
  t0=$(date +%s.%N)
  cluster_signal 2 KILL
  cluster_wait_owners "$survivors" 60 || fail "node-2's partitions were not taken over"
  took=$(since "$t0")
  stack_log "node-2's partitions taken over after ${took}s: $(cluster_owners_line "$(cluster_view)")"
  chaos_notes+=("SIGKILL node-2 (held $held): the others held its partitions after ${took}s")
  ((instances >= 3)) || return 0
  held=$(cluster_held_by 3)
  stack_log "SIGSTOP ispflowd node-3 (partitions $held) for 8 s or until the others hold its partitions"
  t0=$(date +%s.%N)
  cluster_signal 3 STOP
  # The others take its partitions after the session and once PostgreSQL
  # ended node-3's open transactions (idle_in_transaction_session_timeout).
  cluster_wait_owners "$(seq 1 "$instances" | grep -vx '[23]' | paste -sd' ' -)" 60 \
    || fail "node-3's partitions were not taken over"
  took=$(since "$t0")
  local while_stopped
  while_stopped=$(cluster_owners_line "$(cluster_view)")
  while awk -v s="$(since "$t0")" 'BEGIN { exit !(s < 8) }'; do sleep 0.2; done
  cluster_signal 3 CONT
  t0=$(date +%s.%N)
  cluster_wait_owners "$survivors" 60 || fail "node-3 did not rejoin"
  stack_log "SIGCONT node-3: it rejoined after $(since "$t0")s: $(cluster_owners_line "$(cluster_view)")"
  chaos_notes+=("SIGSTOP node-3 (held $held): the others held its partitions after ${took}s ($while_stopped)")
  chaos_notes+=("SIGCONT node-3: it held partitions again after $(since "$t0")s; as a zombie it found $(cluster_metric 3 ispflow_partitions_lost_total) partition(s) lost, had $(cluster_metric 3 ispflow_stale_writes_refused_total) stale write(s) refused and $(cluster_metric 3 ispflow_lease_withheld_calls_total) call(s) withheld (its /metrics)")
}

# The cluster part of the summary: the failures, each partition's owner and
# epoch before phase 2 and now, and whether every saga ended exactly once
# (one saga per event, each ended; one lifecycle record per saga outcome;
# not saga.events.v1: the mock bus keeps only its last ~10,000 records per
# partition).
cluster_summary() {
  local now life_file=$STACK_DIR/lifecycle-events.tsv
  now=$(cluster_view)
  kcat -b "$STACK_BOOTSTRAP" -C -t lifecycle.events.v1 -o beginning -e -q -f '%h\t%s\n' >"$life_file" 2>/dev/null
  echo "Cluster ($instances instances, consumer group session 4 s, lease $(grep -o '"lease_ms":"[0-9]*"' "$STACK_DIR/ispflowd.log" | head -n1 | grep -o '[0-9]*') ms):"
  printf '  %s\n' "${chaos_notes[@]}"
  echo "  partition  before phase 2          now"
  psql "$STACK_DSN" -qAtX -v a="$cluster_before" -v b="$now" <<'SQL'
select format('  p%-9s %-8s epoch %-8s %-8s epoch %s', x->>'partition', x->>'instance_id', x->>'epoch',
              coalesce(nullif(y->>'instance_id', ''), '(none)'), y->>'epoch')
  from jsonb_array_elements(:'a'::jsonb->'partitions') x
  left join jsonb_array_elements(:'b'::jsonb->'partitions') y on y->>'partition' = x->>'partition'
  order by (x->>'partition')::int;
SQL
  echo "  instances now: $(psql "$STACK_DSN" -qAtX -v b="$now" <<<"select string_agg(format('%s%s%s', x->>'id', case when (x->>'relay')::boolean then ' (relay)' else '' end, case when (x->>'stopped')::boolean then ' (stopped)' else '' end), ', ' order by x->>'id') from jsonb_array_elements(:'b'::jsonb->'instances') x")"
  psql "$STACK_DSN" -qAtX <<SQL
create temporary table life_raw (line text);
\copy life_raw from '$life_file' with (format csv, delimiter E'\x02', quote E'\x01')
with l as (select substring(split_part(line, E'\t', 1) from 'ce_id=([^,]*)') ce_id, split_part(line, E'\t', 2)::jsonb b from life_raw where line <> '')
select format('  every saga ended exactly once: %s', case when ok then 'yes' else 'NO' end) || E'\n' ||
       format('    %s billing events started %s sagas (%s events with no or several sagas), %s still open', started, sagas, bad_start, open) || E'\n' ||
       format('    lifecycle.events.v1: %s records, %s distinct events, %s distinct causes (%s sagas completed or compensated)', lrec, lids, lcause, ended)
from (select *, bad_start = 0 and open = 0 and lrec = lids and lids = lcause ok from (select
  (select count(*) from inbox where saga_id is not null) started,
  (select count(*) from sagas) sagas,
  (select count(*) from inbox i where i.saga_id is not null and (select count(*) from sagas s where s.id = i.saga_id) <> 1) bad_start,
  (select count(*) from sagas where state in ('pending', 'running', 'compensating')) open,
  (select count(*) from sagas where state in ('completed', 'compensated')) ended,
  (select count(*) from l) lrec, (select count(distinct ce_id) from l) lids, (select count(distinct b->>'causation_id') from l) lcause) x) y;
SQL
  echo
}

# -- 3. the billing feed, phase 1: activations ----------------------------------
stack_log "phase 1: activating $population subscribers (sub-00001..; one in CloudEvents binary mode)"
feed1=$STACK_DIR/feed-1.tsv
for i in $(seq "$subscribers"); do
  printf -v s 'sub-%05d' "$i"
  stack_activation_payload demo "$s" fiber-100
  stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
done >"$feed1"
stack_produce "$billing" <"$feed1"
# One event in binary mode, the way most producers send CloudEvents.
printf -v s 'sub-%05d' "$population"
stack_activation demo "$s" fiber-100 | kcat -b "$STACK_BOOTSTRAP" -P -t "$billing" -k "$s" \
  -H ce_specversion=1.0 -H ce_id=bin-1 -H ce_source=billing.example \
  -H ce_type=billing.subscription.activated -H ce_subject="$s" -H ce_tenantid=demo \
  -H content-type=application/json
wait_sagas "$population" 0 "activations"
phase1=$(awk -v a="$phase_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# -- 4. sessions on the NAS ------------------------------------------------------
# Subscribers that phase 2 suspends (1, 6, 11, 16, 21: 1, 11 and 21 are
# resumed after), changes to fiber-500 (2, 9, 30), terminates (3, 43), and
# two it leaves alone (5, 7): they dial in through the NAS simulator, which
# authenticates them against FreeRADIUS and starts accounting.
logins=(1 6 11 16 21 2 9 30 3 43 5 7)
stack_log "logging ${#logins[@]} active subscribers in through the NAS (PAP via FreeRADIUS, Accounting-Start)"
accepted=0
for i in "${logins[@]}"; do
  ((i <= subscribers)) || continue
  printf -v s 'sub-%05d' "$i"
  state=$(stack_sql "select state from sagas where subscriber_id = '$s' order by created_at desc limit 1")
  [[ "$state" == completed ]] || { stack_log "  $s: activation ${state:-missing}, not logged in"; continue; }
  body=$(printf '{"username":"%s","password":"%s"}' "$(stack_username demo "$s")" "$(stack_password demo "$s")")
  answer=$(stack_http POST 18107 /sessions/login "$body") \
    || { stack_log "  $s: NAS control endpoint answered ${STACK_HTTP_STATUS:-nothing}"; continue; }
  if [[ "$answer" == *'"accepted":true'* ]]; then
    accepted=$((accepted + 1))
  else
    stack_log "  $s: Access-Reject"
  fi
done
sessions_before=$(show_sessions)
echo "$sessions_before" >&2
stack_log "radacct: $(stack_sql "select count(*) from radacct where acctstoptime is null") open session(s)"

# -- 5. phase 2: the rest of billing's month -------------------------------------
phase_start=$(date +%s.%N)
stack_log "phase 2: suspends, resumes, plan changes, terminations, redeliveries and bad input"
feed2=$STACK_DIR/feed-2.tsv
{
  for i in $(seq 1 5 "$subscribers"); do
    printf -v s 'sub-%05d' "$i"
    stack_event "sus-$i" billing.subscription.suspended demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"reason\":\"non_payment\"}"
  done
  for i in $(seq 1 10 "$subscribers"); do
    printf -v s 'sub-%05d' "$i"
    stack_event "res-$i" billing.subscription.resumed demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\"}"
  done
  for i in $(seq 2 7 "$subscribers"); do
    printf -v s 'sub-%05d' "$i"
    stack_event "plan-$i" billing.subscription.plan_changed demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"plan_id\":\"fiber-500\"}"
  done
  for i in $(seq 3 20 "$subscribers"); do
    printf -v s 'sub-%05d' "$i"
    stack_event "term-$i" billing.subscription.terminated demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\"}"
  done
  # Redelivered events (same source and id): recorded once.
  for i in 1 2 3; do
    printf -v s 'sub-%05d' "$i"
    stack_activation_payload demo "$s" fiber-100
    stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
  done
  # Bad input: each goes to the dead-letter topic with its reason.
  printf 'sub-x\t{"specversion":"1.0","id":"bad-1","source":"billing.example","type":"billing.subscription.activated",\n'
  stack_event bad-2 billing.subscription.activated acme sub-x "$(stack_activation acme sub-x fiber-100)"
  stack_event bad-3 billing.subscription.suspended demo sub-00001 '{"schema_version":1,"tenant_id":"demo","subscriber_id":"sub-00001","reason":"vacation"}'
  stack_event bad-4 billing.subscription.plan_changed demo sub-00002 '{"schema_version":1,"tenant_id":"demo","subscriber_id":"sub-00002"}'
  stack_event bad-5 billing.subscription.upgraded demo sub-00002 '{"schema_version":1}'
} >"$feed2"
stack_produce "$billing" <"$feed2"
phase2_valid=$(($(wc -l <"$feed2") - 3 - 5))
((instances > 1)) && cluster_chaos
wait_sagas "$((population + phase2_valid))" 5 "phase 2"
phase2=$(awk -v a="$phase_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
sessions_after=$(show_sessions)

# -- 6. a breaker trips and the sagas park -----------------------------------------
breaker_note="skipped (DEMO_BREAKER=0)"
if [[ "${DEMO_BREAKER:-1}" == 1 ]]; then
  # AWX answers 503 to every launch for 6 s: its breaker opens after the
  # minimum calls, the activation sagas park at the AWX step (not failing)
  # and resume by themselves once a half-open probe succeeds.
  phase_start=$(date +%s.%N)
  stack_log "phase 3: AWX fails every launch for 6 s while $extra more subscribers activate"
  stack_http POST 18103 /_sim/faults '{"status":503,"path_prefix":"/api/v2/job_templates/"}' >/dev/null \
    || fail "could not inject the AWX fault (HTTP ${STACK_HTTP_STATUS:-none})"
  for i in $(seq "$((population + 1))" "$((population + extra))"); do
    printf -v s 'sub-%05d' "$i"
    stack_activation_payload demo "$s" fiber-100
    stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
  done >"$STACK_DIR/feed-3.tsv"
  stack_produce "$billing" <"$STACK_DIR/feed-3.tsv"
  (sleep 6; stack_http DELETE 18103 /_sim/faults >/dev/null) &
  wait_sagas "$((population + phase2_valid + extra))" 5 "phase 3"
  breaker_note="$(awk -v a="$phase_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
fi
elapsed=$(awk -v a="$start_all" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# -- the summary -----------------------------------------------------------------
# One Access-Request through FreeRADIUS for subscriber $1, as the NAS would
# send it: the answer, its Framed-IP-Address and rate, and the subscriber's
# sagas.
radius_check() {
  local s=$1 answer code attrs
  answer=$(printf 'User-Name = "%s", User-Password = "%s", NAS-IP-Address = 127.0.0.1, Message-Authenticator = 0x00\n' \
      "$(stack_username demo "$s")" "$(stack_password demo "$s")" \
    | radclient -x -r 1 -t 3 -S "$secrets/nas-secret" 127.0.0.1:18112 auth 2>&1) || true
  code=$(grep -oE 'Received Access-(Accept|Reject)' <<<"$answer" | head -n1 | cut -d' ' -f2)
  attrs=$(grep -oE '(Framed-IP-Address|Mikrotik-Rate-Limit) = [^ ]+' <<<"$answer" | sed 's/.* = //; s/"//g' | paste -sd' ' -)
  printf '  %-24s -> %-13s %-32s after %s\n' "$(stack_username demo "$s")" "${code:-no answer}" "${attrs:--}" \
    "$(stack_sql "select string_agg(format('%s %s', name, state), ', ' order by created_at) from sagas where tenant_id = 'demo' and subscriber_id = '$s'")"
}
pick() { stack_sql "$1" | head -n1; }
# The breakers' transitions as published (saga.breaker_* on saga.events.v1,
# binary-mode CloudEvents; the outbox keeps no row once Kafka has it), in
# the order of their ce_time: time, type, tenant/adapter, from -> to, why.
breaker_lines() {
  kcat -b "$STACK_BOOTSTRAP" -C -t saga.events.v1 -o beginning -e -q -f '%h\t%s\n' 2>/dev/null | awk -F'\t' '
    function hdr(k,   m) {
      if (!match($1, "(^|,)" k "=[^,]*")) return ""
      m = substr($1, RSTART, RLENGTH); sub(/^,/, "", m); return substr(m, length(k) + 2)
    }
    function val(k,   m) {
      if (!match($2, "\"" k "\":(\"[^\"]*\"|[-0-9.eE+]+)")) return ""
      m = substr($2, RSTART + length(k) + 3, RLENGTH - length(k) - 3); gsub(/"/, "", m); return m
    }
    hdr("ce_type") ~ /^saga[.]breaker/ {
      t = hdr("ce_time")
      printf "%s\t  %s %-22s %s/%s: %s -> %s (%s, failure rate %s%% of %s calls)\n", t, substr(t, 12, 12),
        hdr("ce_type"), val("tenant_id"), val("adapter"), val("from"), val("to"), val("reason"), val("failure_rate"), val("calls")
    }' | sort | cut -f2-
}
# Subscribers whose last saga is of a given type (first by id).
last_saga_of() {
  pick "select s.subscriber_id from sagas s where s.name = '$1' and s.tenant_id = 'demo'
    and not exists (select 1 from sagas t where t.tenant_id = s.tenant_id and t.subscriber_id = s.subscriber_id
                    and t.created_at > s.created_at) order by s.subscriber_id limit 1"
}
# Contract checks, counted by the simulators (the network's side), not by
# ispflowd: one line per adapter.
# json_num NAME: the first number after "NAME": in the JSON on stdin.
json_num() { grep -oE "\"$1\":[0-9]+" | head -n1 | cut -d: -f2 | grep . || echo 0; }
# json_obj NAME: the first flat object after "NAME": on stdin, compacted.
json_obj() { grep -oE "\"$1\":\{[^}]*\}" | head -n1 | cut -d: -f2- | tr -d '" ' | grep . || echo '{}'; }
contract_lines() {
  local nas netbox awx onos acs
  nas=$(stack_http GET 18107 /stats)
  printf '  %-9s %s CoA/Disconnect replies verified (%s signed, %s unsigned); %s of %s RADIUS passwords stored hashed\n' radius \
    "$(($(json_num replies_signed <<<"$nas") + $(json_num replies_unsigned <<<"$nas")))" \
    "$(json_num replies_signed <<<"$nas")" "$(json_num replies_unsigned <<<"$nas")" \
    "$(stack_sql "select count(*) from radcheck where attribute like '%-Password' and attribute <> 'Cleartext-Password'")" \
    "$(stack_sql "select count(*) from radcheck where attribute like '%-Password'")"
  netbox=$(stack_http GET 18101 /_sim/state)
  printf '  %-9s %s look-ups, %s next pages followed (max page size %s), %s unknown slugs answered 400\n' netbox \
    "$(json_num lookups <<<"$netbox")" "$(json_num pages_followed <<<"$netbox")" \
    "$(json_num max_page_size <<<"$netbox")" "$(json_num unknown_choices <<<"$netbox")"
  onos=$(stack_http GET 18105 /_sim/state)
  printf '  %-9s %s programmed-subscribers reads (%s filtered), %s ONU oper_status reads, tagged-route content types %s, %s refused 415\n' voltha \
    "$(json_num programmed_subscribers_reads <<<"$onos")" "$(json_num programmed_subscribers_filtered_reads <<<"$onos")" \
    "$(json_num onu_status_reads <<<"$onos")" "$(json_obj tagged_route_content_types <<<"$onos")" \
    "$(json_num tagged_route_refused_415 <<<"$onos")"
  acs=$(stack_http GET 18102 /_sim/stats)
  printf '  %-9s %s parameter read-backs after configuring, %s device-record reads to reconcile a task\n' genieacs \
    "$(json_num value_readbacks <<<"$acs")" "$(json_num reconcile_reads <<<"$acs")"
  awx=$(stack_http GET 18103 /_sim/state)
  printf '  %-9s %s launch-prompt reads before launching, %s launches with ignored fields\n' awx \
    "$(json_num launch_prompt_reads <<<"$awx")" "$(json_num ignored_field_launches <<<"$awx")"
}

checks=()
for saga in activate change_plan suspend resume terminate; do
  s=$(last_saga_of "$saga")
  [[ -n "$s" ]] && checks+=("$s")
done
active_sub=${checks[0]:-sub-00000}
cluster_text= cluster_look=
if ((instances > 1)); then
  cluster_text="$(cluster_summary)"$'\n\n'
  cluster_look="  ispflowctl --url $admin --token demo-operator-token cluster    (node-2.. log to $STACK_DIR/ispflowd-node-*.log)"$'\n'
fi

# The subscriber records (the read model) against the saga history, by the
# independent SQL check the chaos checker and the crash tests run too.
record_summary() {
  psql "$STACK_DSN" -qAtX -f "$here/record_check.sql" \
    -c "select format('  %s records, %s differences from what the saga history says', (select count(*) from subscribers), (select count(*) from ispflow_record_check))" \
    -c "select format('    %s/%s %s: record %s, history %s', tenant_id, subscriber_id, field, left(record, 60), left(history, 60)) from ispflow_record_check order by 1 limit 10" \
    2>&1 || echo "  the record check failed to run"
}

cat <<SUMMARY

== ispflow demo summary ==
$(stack_sql "select count(*) from inbox") billing events recorded, $(stack_sql "select count(*) from sagas") sagas in ${elapsed}s
(activations ${phase1}s, the rest ${phase2}s, breaker phase ${breaker_note}); $subscribers subscribers + 1 in binary mode

Sagas by type and state:
$(stack_sql "select format('  %-12s %6s', 'saga', 'total') || string_agg(format(' %11s', st), '' order by o)
  from unnest(array['completed','compensated','needs_attention','cancelled','open']) with ordinality as x(st, o)")
$(stack_sql "with c as (select name, count(*) n,
      count(*) filter (where state = 'completed') a, count(*) filter (where state = 'compensated') b,
      count(*) filter (where state = 'needs_attention') c, count(*) filter (where state = 'cancelled') d,
      count(*) filter (where state in ('pending', 'running', 'compensating')) e from sagas group by name)
  select format('  %-12s %6s %11s %11s %11s %11s %11s', name, n, a, b, c, d, e) from c order by name")

Saga latency, created to ended (ms):
$(stack_sql "select format('  %-12s %6s %7s %7s %7s %7s', 'saga', 'n', 'p50', 'p90', 'p99', 'max')")
$(stack_sql "with l as (select name, extract(epoch from updated_at - created_at) * 1000 ms from sagas
      where state in ('completed', 'compensated', 'needs_attention', 'cancelled'))
  select format('  %-12s %6s %7s %7s %7s %7s', name, count(*),
    round(percentile_cont(0.5) within group (order by ms)::numeric),
    round(percentile_cont(0.9) within group (order by ms)::numeric),
    round(percentile_cont(0.99) within group (order by ms)::numeric), round(max(ms)::numeric))
  from l group by name order by name")

Sagas that did not complete (saga, state, failed step, how many, error, one of them):
$(stack_sql "select format('  %-10s %-15s %-22s %4s  %s', name, state, failed_step, count(*), left(min(error), 70)) || E'\n' ||
    format('      e.g. ispflowctl ... sagas show %s', min(id))
  from sagas where state <> 'completed' group by name, state, failed_step order by name, state, failed_step")
$(stack_sql "select case when count(*) = 0 then '  none' else '' end from sagas where state <> 'completed'")

Steps that needed a retry (step, sagas, attempts):
$(stack_sql "select format('  %-28s %5s %6s', name, count(*), sum(attempts)) from saga_steps where attempts > 1 group by name order by name")
$(stack_sql "select case when count(*) = 0 then '  none' else '' end from saga_steps where attempts > 1")

Circuit breakers (saga.breaker_* events on saga.events.v1):
$(breakers=$(breaker_lines); echo "${breakers:-  no breaker changed state}")

The breakers now (ispflowctl breakers list):
$(ISPFLOW_TOKEN=demo-operator-token "$(stack_program ispflowctl)" --url "$admin" breakers list 2>&1 | sed 's/^/  /')

${cluster_text}Dead letters, by reason (refused by intake: dead_letters table and billing.events.v1.dlq):
$(stack_sql "select format('  %-20s %3s  e.g. %s', error, count(*), left(min(detail), 90)) from dead_letters group by error order by error")
Events the saga router refused for the subscriber's state (inbox.skipped_reason, also on the DLQ topic):
$(stack_sql "select format('  %-36s %-26s %3s  e.g. %s', type, skipped_reason, count(*), min(subscriber_id)) from inbox
  where skipped_reason is not null group by type, skipped_reason order by type, skipped_reason")
$(stack_sql "select case when count(*) = 0 then '  none' else '' end from inbox where skipped_reason is not null")

Subscriber records against the saga history (deploy/local/record_check.sql):
$(record_summary)

Published through the outbox, by topic (records on the bus; the relay deletes a row once Kafka has it, $(stack_sql "select count(*) from outbox") row(s) left):
$(for t in billing.events.v1.dlq lifecycle.events.v1 saga.events.v1; do
    printf '  %-28s %s\n' "$t" "$(kcat -b "$STACK_BOOTSTRAP" -C -t "$t" -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l)"
  done)

What billing reads back (lifecycle.events.v1, first record) and a dead letter (billing.events.v1.dlq):
$(kcat -b "$STACK_BOOTSTRAP" -C -t lifecycle.events.v1 -p 0 -o beginning -c 1 -e -q -f '  key %k  %h\n  %s\n' 2>/dev/null)
$(kcat -b "$STACK_BOOTSTRAP" -C -t billing.events.v1.dlq -c 1 -e -q -f '  key %k  %h\n  %s\n' 2>/dev/null | cut -c1-400)

Contract checks (what each simulator saw ispflowd verify, as the real systems require):
$(contract_lines)

Sessions on the NAS simulator, after the activations:
$sessions_before
and after suspends (Disconnect-Request), plan changes (CoA-Request) and terminations:
$sessions_after
radacct: $(stack_sql "select format('%s sessions, %s closed (%s)', count(*), count(acctstoptime), coalesce(string_agg(distinct acctterminatecause, ', ') filter (where acctstoptime is not null), '-')) from radacct")

RADIUS check: one Access-Request each through FreeRADIUS (radclient, PAP):
$(for s in "${checks[@]}"; do radius_check "$s"; done)

Look around:
  ispflowctl --url $admin --token demo-operator-token sagas list
    ($(stack_program ispflowctl); ISPFLOW_TOKEN=demo-operator-token keeps the token off the command line)
  ispflowctl --url $admin --token demo-operator-token sagas show <id>
  ispflowctl --url $admin --token demo-operator-token dlq list
  web console: $admin/console/   metrics: $admin/metrics
  kcat -b $STACK_BOOTSTRAP -C -t saga.events.v1 -e -f '%k %h\n%s\n'
  kcat -b $STACK_BOOTSTRAP -C -t lifecycle.events.v1 -e -f '%k %s\n'
  psql "$STACK_DSN" -c 'select name, state, subscriber_id from sagas limit 5'
  curl -s http://127.0.0.1:18107/sessions     (the NAS simulator's sessions)
  radtest $(stack_username demo "$active_sub") "\$(source $here/stack.sh; stack_password demo $active_sub)" 127.0.0.1:18112 0 "\$(cat $secrets/nas-secret)"
  logs: $STACK_DIR/ispflowd.log, $STACK_DIR/sim-*.log, $STACK_DIR/radius/radius.log
${cluster_look}$(if [[ "${DEMO_KEEP:-0}" == 1 ]]; then echo "The stack keeps running (DEMO_KEEP=1); stop it with: $0 $build stop"
  else echo "The stack stops now; DEMO_KEEP=1 make demo keeps it running for the commands above."; fi)
SUMMARY
