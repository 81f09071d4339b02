#!/usr/bin/env bash
# End-to-end (issue 13): three ispflowd instances on one PostgreSQL and one
# bus, the simulated network and FreeRADIUS as the outside. Billing sends
# >= 2,000 events (700 activations, then plan changes, suspends and resumes
# of the same subscribers: 2,275 events); mid-stream one instance is SIGKILLed and,
# once the others took its partitions, another is SIGSTOPped for twice the
# consumer group's session timeout and then continued; then, with the last
# part of the feed still running, a rolling restart: each instance in turn
# is SIGTERMed (it drains and hands its partitions over) and started again.
# Judged from outside ispflow's counters:
#   - deploy/local/chaos/check.sh on billing's feed, lifecycle.events.v1,
#     the DLQ, the simulators' /_sim/state and FreeRADIUS's tables: every
#     input ends in exactly one outcome, one NetBox address per subscriber,
#     one AWX job per idempotency key (saga, step, generation), one RADIUS
#     user with the right final state, nothing stuck;
#   - every saga ended once (PostgreSQL: one saga per billing event, none
#     open; the checker: one lifecycle outcome per input);
#   - lifecycle.events.v1 carries each subscriber's outcomes on one
#     partition in billing's order;
#   - the resumed instance was fenced (its /metrics: each partition it
#     held found lost; stale writes refused and calls withheld are
#     reported, not required: they depend on which of its threads runs
#     first when it wakes) and it made no network call between the end of its
#     lease and its next claim
#     (the simulators' call records: time and User-Agent / gRPC metadata).
#   cluster_failover.sh BUILD_DIR
# Fixed ports 22100-22199 (PostgreSQL 22130, simulators 22101-22113, admin
# 22120-22122).
set -euo pipefail

build=$(cd "${1:?usage: cluster_failover.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
local_dir=$src/deploy/local
export STACK_BIN=$build STACK_DIR=$build/e2e-cluster STACK_PG_PORT=22130 STACK_DB=ispflow
export STACK_PORT_BASE=22100 STACK_ADMIN_PORT=22120
# No simulated delays: the test is about ownership, not the network's pace.
export STACK_AWX_DELAYS_MS="0 0 0" STACK_VOLTHA_DELAY_MS=0
source "$local_dir/stack.sh"
source "$local_dir/cluster.sh"

# CLUSTER_E2E_ACTIVATIONS, CLUSTER_E2E_MIN_EVENTS: a smaller feed for slow
# builds (the sanitizer build: tests/e2e/cluster.cmake).
activations=${CLUSTER_E2E_ACTIVATIONS:-700}
# The consumer group's session (the lease follows: two thirds of the session
# minus the group heartbeat). 6 s rather than the stack's 4 s: on a loaded
# 2-core machine a 2 s lease runs out now and then on a live instance.
session_ms=${CLUSTER_E2E_SESSION_MS:-6000}
export STACK_SESSION_TIMEOUT_MS=$session_ms
limit=${CLUSTER_E2E_TIMEOUT:-420}
run=$STACK_DIR/run
billing=billing.events.v1

for tool in kcat psql freeradius awk timeout; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool missing (deploy/local/deps.sh)"; exit 0; }
done

cleanup() {
  local rc=$?
  trap - EXIT
  cluster_stop_all >/dev/null 2>&1 || true
  stack_stop_all >/dev/null 2>&1 || true
  ((rc == 0)) || echo "logs: $STACK_DIR" >&2
  exit "$rc"
}
trap cleanup EXIT
trap "exit 143" TERM INT
fail() { stack_log "FAIL: $*"; exit 1; }

stack_ports_free 22101 22102 22103 22104 22105 22106 22107 22112 22113 22120 22121 22122 22130 \
  || fail "ports in use"
rm -rf "$STACK_DIR"
mkdir -p "$run/state"

# -- three instances ------------------------------------------------------------
cluster_name_first
stack_network_up "$local_dir/ispflow.yaml" "$activations" || fail "the stack did not start"
cluster_adopt_first
cluster_start_instance 2 "$local_dir/ispflow.yaml" || fail "node-2 did not start"
cluster_start_instance 3 "$local_dir/ispflow.yaml" || fail "node-3 did not start"
cluster_wait_owners "1 2 3" 60 || fail "the three instances did not share the partitions: $(cluster_owners_line "$(cluster_view)")"
lease_ms=$(grep -o '"lease_ms":"[0-9]*"' "${CLUSTER_LOGS[3]}" | head -n1 | grep -o '[0-9]*')
[[ -n "$lease_ms" ]] || fail "node-3 did not log its lease (cluster settings)"
stack_log "owners: $(cluster_owners_line "$(cluster_view)"), lease ${lease_ms} ms, session ${session_ms} ms"

# -- billing's feed: activations, then suspends, resumes, plan changes --------------
feed=$run/feed.tsv
{
  for ((i = 1; i <= activations; i++)); do
    printf -v s 'sub-%05d' "$i"
    stack_activation_payload demo "$s" fiber-100
    stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
  done
  # Per subscriber, in this order: a plan change to fiber-500; even ones
  # change back to fiber-100, odd ones are suspended and every other of
  # those resumed.
  for ((i = 1; i <= activations; i++)); do
    printf -v s 'sub-%05d' "$i"
    stack_event "plan-$i" billing.subscription.plan_changed demo "$s" \
      "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"plan_id\":\"fiber-500\"}"
    if ((i % 2 == 0)); then
      stack_event "plan2-$i" billing.subscription.plan_changed demo "$s" \
        "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"plan_id\":\"fiber-100\"}"
    else
      stack_event "sus-$i" billing.subscription.suspended demo "$s" \
        "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"reason\":\"non_payment\"}"
      if ((i % 4 == 1)); then
        stack_event "res-$i" billing.subscription.resumed demo "$s" \
          "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\"}"
      fi
    fi
  done
} >"$feed"
events=$(wc -l <"$feed")
min_events=${CLUSTER_E2E_MIN_EVENTS:-2000}
((events >= min_events)) || fail "the feed has only $events events (at least $min_events)"
# The last fifth is held back for the rolling restart (each subscriber's
# events stay in billing's order: the later ones are produced later).
first_part=$((events * 4 / 5))
stack_log "producing $first_part of $events billing events ($activations activations)"
t_start=$(date +%s)
head -n "$first_part" "$feed" | stack_produce "$billing" || fail "kcat could not produce the feed"

ended() { stack_sql "select count(*) from sagas where state not in ('pending', 'running', 'compensating')"; }
# Waits until at least N sagas ended (or the time limit).
wait_ended() {
  while (($(ended) < $1)); do
    (($(date +%s) - t_start <= limit)) || fail "only $(ended) sagas ended after ${limit}s"
    sleep 0.2
  done
}

# -- SIGKILL node-2 mid-stream ------------------------------------------------------
wait_ended $((events * 15 / 100))
before=$(cluster_view)
stack_log "SIGKILL node-2 (holding $(cluster_held_by 2)) at $(ended) ended sagas"
cluster_signal 2 KILL
cluster_wait_owners "1 3" 60 || fail "node-2's partitions were not taken over: $(cluster_owners_line "$(cluster_view)")"
stack_log "taken over: $(cluster_owners_line "$(cluster_view)")"

# -- SIGSTOP node-3 for twice the session timeout ---------------------------------------
wait_ended $((events * 35 / 100))
# Paused with sagas of its own under way (for a few seconds at most), so
# that it wakes with writes and calls to make under its old epoch.
running3() { stack_sql "select count(*) from sagas where owner = 'node-3' and state in ('pending', 'running', 'compensating')"; }
for _ in $(seq 50); do (($(running3) > 0)) && break; sleep 0.1; done
stop_ms=$(cluster_now_ms)
zombie_partitions=$(cluster_held_by 3)
cluster_signal 3 STOP
stack_log "SIGSTOP node-3 (holding $zombie_partitions, $(running3) sagas of its own open) at $(ended) ended sagas, for $((2 * session_ms)) ms"
# node-1 takes every partition (after the session, and once PostgreSQL ended
# node-3's transactions left open: idle_in_transaction_session_timeout);
# node-3 stays stopped at least twice the session.
cluster_wait_owners "1" 60 || fail "node-1 did not take every partition while node-3 was stopped: $(cluster_owners_line "$(cluster_view)")"
taken_ms=$(cluster_now_ms)
while (($(cluster_now_ms) - stop_ms < 2 * session_ms)); do sleep 0.2; done
cont_ms=$(cluster_now_ms)
cluster_signal 3 CONT
stack_log "SIGCONT node-3 after $((cont_ms - stop_ms)) ms; node-1 held every partition $((taken_ms - stop_ms)) ms after the SIGSTOP"
cluster_wait_owners "1 3" 60 || fail "node-3 did not rejoin: $(cluster_owners_line "$(cluster_view)")"
after=$(cluster_view)
stack_log "node-3 rejoined: $(cluster_owners_line "$after")"
# The zombie's evidence, before the rolling restart starts node-3 afresh:
# its counters and its first claim after the pause.
stale=$(cluster_metric 3 ispflow_stale_writes_refused_total)
withheld=$(cluster_metric 3 ispflow_lease_withheld_calls_total)
lost=$(cluster_metric 3 ispflow_partitions_lost_total)
reclaim_ms=$(stack_sql "select coalesce(floor(extract(epoch from min(claimed_at)) * 1000)::bigint, $(cluster_now_ms)) from partition_owners where instance_id = 'node-3'")

# -- a rolling restart under load ---------------------------------------------------
cluster_start_instance 2 "$local_dir/ispflow.yaml" || fail "node-2 did not start again"
cluster_wait_owners "1 2 3" 60 || fail "node-2 did not rejoin: $(cluster_owners_line "$(cluster_view)")"
# The rest of the feed in three slices, one right before each SIGTERM, so
# that every hand-over happens with billing's events arriving.
rest=$((events - first_part))
stack_log "rolling restart: the last $rest events in three slices, $(ended) sagas ended so far"
for i in 1 2 3; do
  others=$(for j in 1 2 3; do ((j == i)) || printf '%s ' "$j"; done)
  from=$((first_part + (i - 1) * rest / 3 + 1))
  to=$((first_part + i * rest / 3))
  sed -n "${from},${to}p" "$feed" | stack_produce "$billing" || fail "kcat could not produce the rest of the feed"
  open=$(stack_sql "select count(*) from sagas where state in ('pending', 'running', 'compensating')")
  cluster_signal "$i" TERM
  ((CLUSTER_RC == 0)) || fail "node-$i exited with $CLUSTER_RC after SIGTERM"
  grep -q '"msg":"drained"' "${CLUSTER_LOGS[$i]}" || fail "node-$i did not drain"
  cluster_wait_owners "$others" 60 || fail "node-$i's partitions were not taken over: $(cluster_owners_line "$(cluster_view)")"
  stack_log "  SIGTERM node-$i with $open sagas open, events $from-$to just produced: $(grep -o '"msg":"drained","sagas":"[0-9]*".*"calls_left":"[0-9]*"' "${CLUSTER_LOGS[$i]}" | tail -n1)"
  cluster_start_instance "$i" "$local_dir/ispflow.yaml" || fail "node-$i did not start again"
  cluster_wait_owners "1 2 3" 60 || fail "node-$i did not rejoin: $(cluster_owners_line "$(cluster_view)")"
done
stack_log "rolling restart done: $(cluster_owners_line "$(cluster_view)")"

# -- the end of the stream --------------------------------------------------------
while :; do
  [[ $(stack_sql "select (select count(*) from inbox) = $events
        and not exists (select 1 from sagas where state in ('pending', 'running', 'compensating'))
        and not exists (select 1 from inbox where saga_id is null and skipped_reason is null)
        and not exists (select 1 from outbox where published_at is null)") == t ]] && break
  (($(date +%s) - t_start <= limit)) || fail "not done after ${limit}s: $(stack_sql "select format('inbox %s, open sagas %s, waiting %s, outbox %s',
      (select count(*) from inbox), (select count(*) from sagas where state in ('pending', 'running', 'compensating')),
      (select count(*) from inbox where saga_id is null and skipped_reason is null),
      (select count(*) from outbox where published_at is null))")"
  sleep 0.5
done
stack_log "all $events events ended in $(($(date +%s) - t_start))s"

# -- the evidence -------------------------------------------------------------------
for topic in lifecycle.events.v1:lifecycle billing.events.v1.dlq:dlq; do
  timeout 60 kcat -b "$STACK_BOOTSTRAP" -C -t "${topic%%:*}" -o beginning -e -q \
    -f '%p\t%o\t%h\t%s\n' >"$run/${topic#*:}-1.tsv" || fail "could not read ${topic%%:*}"
done
for s in netbox:$STACK_NETBOX_PORT awx:$STACK_AWX_PORT genieacs:$STACK_GENIEACS_PORT voltha:$STACK_ONOS_PORT; do
  stack_http GET "${s#*:}" /_sim/state >"$run/state/${s%%:*}.json" || fail "no state from ${s%%:*}"
done
failures=0
check() {  # check NAME OK DETAIL
  if [[ "$2" == ok ]]; then stack_log "ok   $1"; else stack_log "FAIL $1: $3"; failures=$((failures + 1)); fi
}

# The independent checker: inputs, outcomes, effects on every system.
check_out=$("$local_dir/chaos/check.sh" "$run" "$STACK_DSN") && check_rc=0 || check_rc=$?
printf '%s\n' "$check_out" | sed 's/^/  /' >&2
check "checker (chaos/check.sh): no finding, no note" \
  "$([[ $check_rc == 0 ]] && grep -q '^NOTES 0:' <<<"$check_out" && echo ok)" "exit $check_rc"

# Every saga ended once: one saga per started event, all ended (and, by the
# checker, one outcome per input on lifecycle.events.v1). saga.events.v1 is
# not used: the mock bus keeps only the last ~10,000 records of a partition.
bad=$(stack_sql "select format('%s events started no or several sagas, %s sagas open, %s sagas without an event',
    (select count(*) from inbox i where i.skipped_reason is null and (select count(*) from sagas s where s.id = i.saga_id) <> 1),
    (select count(*) from sagas where state not in ('completed', 'compensated', 'needs_attention', 'cancelled')),
    (select count(*) from sagas s where not exists (select 1 from inbox i where i.saga_id = s.id)))")
check "every saga ended (PostgreSQL)" "$([[ $bad == '0 events started no or several sagas, 0 sagas open, 0 sagas without an event' ]] && echo ok)" "$bad"
# Per-subscriber order on lifecycle.events.v1: one partition per subscriber,
# outcomes in billing's order.
order=$(stack_sql "with x as (select f.subscriber, l.p, l.o, f.n from chaos_check.life l join chaos_check.feed f on f.id = l.body->>'causation_id'),
  r as (select subscriber, row_number() over (partition by subscriber order by o) a,
               row_number() over (partition by subscriber order by n) b from x)
  select format('%s subscribers on several partitions, %s out of order',
    (select count(*) from (select subscriber from x group by 1 having count(distinct p) > 1) y),
    (select count(distinct subscriber) from r where a <> b))")
check "lifecycle outcomes in per-subscriber order" "$([[ $order == '0 subscribers on several partitions, 0 out of order' ]] && echo ok)" "$order"

# The zombie: fenced, and no network call from the end of its lease until
# its next claim. It finds each partition it held claimed by node-1 (at a
# heartbeat, or when the group revokes them). Whether it also has stale
# writes refused or calls withheld depends on where its sagas were when it
# paused and on which of its threads runs first when it wakes: a heartbeat
# that finds the loss first stops the sagas before they write or call.
n_zombie=$(tr ',' '\n' <<<"$zombie_partitions" | grep -c .)
check "node-3 was fenced (its /metrics: $lost of its $n_zombie partitions found lost, $stale stale writes refused, $withheld calls withheld)" \
  "$([[ ${lost%.*} -ge $n_zombie ]] && echo ok)" "it did not find its partitions lost"

from_ms=$((stop_ms + lease_ms))
calls=0
for p in $STACK_NETBOX_PORT $STACK_GENIEACS_PORT $STACK_AWX_PORT $STACK_ONOS_PORT; do
  body=$(stack_http GET "$p" "/_sim/calls?caller=node-3&from_ms=$from_ms&to_ms=$reclaim_ms") || fail "no call records on :$p"
  n=$(grep -o '"matched":[0-9]*' <<<"$body" | cut -d: -f2)
  all=$(grep -o '"node-3":{"calls":[0-9]*' <<<"$body" | grep -o '[0-9]*$' || echo 0)
  stack_log "  :$p node-3 made ${all:-0} calls in all, $n between its lease's end and its next claim"
  # The first few, in ms after the SIGCONT.
  grep -oE '"at_ms":[0-9]+,"caller":"node-3","method":"[A-Za-z]+","path":"[^"]*"' <<<"$body" | head -n 5 \
    | awk -F'"' -v c="$cont_ms" '{ split($3, t, /[:,]/); printf "      +%d ms %s %s\n", t[2] - c, $10, $14 }' >&2 || true
  calls=$((calls + n))
done
check "node-3 made no network call between its lease's end (+${lease_ms} ms after SIGSTOP) and its next claim ($(((reclaim_ms - cont_ms))) ms after SIGCONT); $withheld calls withheld" \
  "$([[ $calls == 0 ]] && echo ok)" "$calls calls"
# The simulators do tell the instances apart (else the check above proves nothing).
named=$(stack_http GET "$STACK_NETBOX_PORT" /_sim/calls?caller=none | grep -o '"node-[123]":' | sort -u | wc -l)
check "the simulators name the calling instances" "$([[ $named -ge 2 ]] && echo ok)" "$named instances named"

stack_log "partitions before the SIGKILL:"; cluster_partitions "$before" >&2
stack_log "partitions at the end:"; cluster_partitions "$(cluster_view)" >&2
((failures == 0)) || fail "$failures check(s) failed"
stack_log "PASS"
