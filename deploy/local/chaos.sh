#!/usr/bin/env bash
# make chaos: the demo's stack under load while ispflowd is SIGKILLed again
# and again at random points, PostgreSQL restarts once, the bus restarts once
# and the simulators inject faults; then an independent checker
# (deploy/local/chaos/check.sh) judges the outcome from billing's feed,
# lifecycle.events.v1 as read from the bus, the simulators' state and
# FreeRADIUS's tables.
#   chaos.sh BUILD_DIR
#   CHAOS_SUBSCRIBERS=N   subscribers (default 400, 10..2000; ~2 events each)
#   CHAOS_KILLS=N         SIGKILLs of ispflowd (default 12, 1..50)
#   CHAOS_SEED=N          seed of the random timeline (default: from the clock)
#   CHAOS_SETTLE=S        longest wait for the sagas after the chaos (default 300)
#   CHAOS_KEEP=1          leave the stack running afterwards
# The bus is librdkafka's mock cluster in memory: its restart loses every
# topic and offset and moves it to new ports, so ispflowd is restarted on the
# new address and billing produces again what intake had not recorded (the
# inbox is billing's acknowledgement here). It proves that what ispflow had
# recorded is not lost with the bus, that the outbox publishes on the new bus
# what it could not publish meanwhile, and that ispflowd keeps running with
# no bus; not broker fail-over, nor offsets and logs surviving a restart.
# Ports: PostgreSQL CHAOS_PG_PORT (default 55437), simulators and FreeRADIUS
# CHAOS_PORT_BASE+1..+13 (default 28100), admin API CHAOS_ADMIN_PORT (28089);
# everything on 127.0.0.1. Exit 0 when the checker finds nothing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build/ci}" && pwd)
export STACK_BIN=$build STACK_DIR=$build/chaos
export STACK_PG_PORT=${CHAOS_PG_PORT:-55437} STACK_PORT_BASE=${CHAOS_PORT_BASE:-28100}
export STACK_ADMIN_PORT=${CHAOS_ADMIN_PORT:-28089}
source "$here/stack.sh"
export PGOPTIONS="-c client_min_messages=warning"

config=$here/ispflow.yaml
billing=billing.events.v1
subscribers=${CHAOS_SUBSCRIBERS:-400}
kills=${CHAOS_KILLS:-12}
seed=${CHAOS_SEED:-$(( $(date +%s) % 100000 ))}
settle=${CHAOS_SETTLE:-300}
[[ "$subscribers" =~ ^[0-9]+$ ]] && ((subscribers >= 10 && subscribers <= 2000)) \
  || { echo "chaos: CHAOS_SUBSCRIBERS must be 10..2000" >&2; exit 2; }
[[ "$kills" =~ ^[0-9]+$ ]] && ((kills >= 1 && kills <= 50)) || { echo "chaos: CHAOS_KILLS must be 1..50" >&2; exit 2; }
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "chaos: CHAOS_SEED must be a number" >&2; exit 2; }
[[ "$settle" =~ ^[0-9]+$ ]] && ((settle >= 10 && settle <= 3600)) || { echo "chaos: CHAOS_SETTLE must be 10..3600" >&2; exit 2; }
for tool in kcat psql radclient freeradius awk timeout; do
  command -v "$tool" >/dev/null || { echo "chaos: $tool missing; run deploy/local/deps.sh" >&2; exit 1; }
done
RANDOM=$seed
run=$STACK_DIR/run
chunks=12          # the feed goes out in this many parts
chunk_gap_ms=5000  # one part every 5 s
pg_restart_after=4 # PostgreSQL restarts after this many kills
bus_restart_after=7

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ "${CHAOS_KEEP:-0}" == 1 ]]; then
    stack_log "the stack keeps running (CHAOS_KEEP=1): ispflowd ${STACK_ISPFLOWD_PID:-}, bus ${STACK_BUS_PID:-}"
  else
    stack_stop_all >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() { stack_log "FAILED: $*"; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
rand() { echo $(( $1 + RANDOM % ($2 - $1 + 1) )); }  # rand LO HI (inclusive)

stack_ports_free $((STACK_PORT_BASE + 1)) $((STACK_PORT_BASE + 2)) $((STACK_PORT_BASE + 3)) $((STACK_PORT_BASE + 4)) \
  $((STACK_PORT_BASE + 5)) $((STACK_PORT_BASE + 6)) $((STACK_PORT_BASE + 7)) $((STACK_PORT_BASE + 12)) \
  $((STACK_PORT_BASE + 13)) "$STACK_ADMIN_PORT" "$STACK_PG_PORT" || fail "free those ports first"
rm -rf "$STACK_DIR"
mkdir -p "$run/state"
started=$(now_ms)
stack_log "chaos: $subscribers subscribers, $kills kills, seed $seed (CHAOS_SEED=$seed repeats the timeline)"

# -- the stack ------------------------------------------------------------------
stack_network_up "$config" "$subscribers" || fail "the stack did not start (logs in $STACK_DIR)"

# -- the feed ---------------------------------------------------------------------
# Subscriber i by i % 5: 0 activated; 1 activated, suspended; 2 activated,
# suspended, resumed; 3 activated, plan changed; 4 activated, terminated.
# Every 20th activation is sent twice (a redelivery). Activations first, then
# suspends, plan changes, terminations, then resumes: each subscriber's
# events in order, one part of the feed after the other.
plan=$STACK_DIR/feed-plan.tsv
{
  for ((i = 1; i <= subscribers; i++)); do
    printf -v s 'sub-%05d' "$i"
    stack_activation_payload demo "$s" fiber-100
    stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
  done
  for ((i = 1; i <= subscribers; i++)); do
    printf -v s 'sub-%05d' "$i"
    case $((i % 5)) in
      1|2) stack_event "sus-$i" billing.subscription.suspended demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"reason\":\"non_payment\"}" ;;
      3) stack_event "plan-$i" billing.subscription.plan_changed demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"plan_id\":\"fiber-500\"}" ;;
      4) stack_event "term-$i" billing.subscription.terminated demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\"}" ;;
    esac
    if ((i % 20 == 0)); then
      stack_activation_payload demo "$s" fiber-100
      stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
    fi
  done
  for ((i = 2; i <= subscribers; i += 5)); do
    printf -v s 'sub-%05d' "$i"
    stack_event "res-$i" billing.subscription.resumed demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\"}"
  done
} >"$plan"
total=$(wc -l <"$plan")
per_chunk=$(((total + chunks - 1) / chunks))
split -l "$per_chunk" -d -a 2 "$plan" "$STACK_DIR/chunk-"
: >"$run/feed.tsv"
sends=0

# Produces a file to the billing topic and appends it to the feed record
# (what billing sent); one retry on a failed produce.
publish() {
  if ! stack_produce "$billing" <"$1" 2>>"$STACK_DIR/kcat.log"; then
    sleep 1
    stack_produce "$billing" <"$1" 2>>"$STACK_DIR/kcat.log" || stack_log "WARNING: kcat could not produce $1"
  fi
  cat "$1" >>"$run/feed.tsv"
  sends=$((sends + $(wc -l <"$1")))
}

# -- faults -----------------------------------------------------------------------
faults_log=()
fault() {  # fault NAME PORT JSON|-
  local name=$1 port=$2 body=$3
  if [[ "$body" == - ]]; then
    stack_http DELETE "$port" /_sim/faults >/dev/null || stack_log "WARNING: could not clear the $name faults"
    return 0
  fi
  if stack_http POST "$port" /_sim/faults "$body" >/dev/null; then
    faults_log+=("$(printf '%s +%ss %s' "$name" "$((($(now_ms) - t0) / 1000))" "$body")")
  else
    stack_log "WARNING: could not inject a $name fault (HTTP ${STACK_HTTP_STATUS:-none})"
  fi
}
faults_phase1() {
  # Unknown outcomes: the change is applied, the answer lost (a TCP reset).
  fault netbox "$STACK_NETBOX_PORT" "{\"apply_then_reset\":true,\"error_rate\":0.15,\"method\":\"POST\",\"count\":15,\"seed\":$seed}"
  fault awx "$STACK_AWX_PORT" "{\"apply_then_reset\":true,\"error_rate\":0.15,\"method\":\"POST\",\"path_prefix\":\"/api/v2/job_templates/\",\"count\":10,\"seed\":$seed}"
  fault genieacs "$STACK_GENIEACS_PORT" "{\"apply_then_reset\":true,\"error_rate\":0.1,\"method\":\"POST\",\"count\":10,\"seed\":$seed}"
  fault voltha "$STACK_ONOS_PORT" '{"http_status":503,"error_rate":0.2,"apply":true,"target":"rest"}'
}
faults_phase2() {
  # Failures and slowness; AWX down for 6 s (its breaker opens).
  fault netbox "$STACK_NETBOX_PORT" "{\"status\":503,\"error_rate\":0.3,\"count\":30,\"seed\":$seed}"
  fault awx "$STACK_AWX_PORT" '{"status":503,"path_prefix":"/api/v2/job_templates/"}'
  fault genieacs "$STACK_GENIEACS_PORT" "{\"latency_ms\":1500,\"error_rate\":0.3,\"count\":20,\"seed\":$seed}"
  fault voltha "$STACK_ONOS_PORT" '{"grpc_code":14,"error_rate":0.2,"target":"grpc"}'
}
faults_clear() {
  fault netbox "$STACK_NETBOX_PORT" -; fault awx "$STACK_AWX_PORT" -
  fault genieacs "$STACK_GENIEACS_PORT" -; fault voltha "$STACK_ONOS_PORT" -
}

# -- sessions ---------------------------------------------------------------------
# Subscribers 1..40 that are to be suspended (i % 5 = 1), change plan (3) or
# be terminated (4) dial in through the NAS simulator once FreeRADIUS accepts
# them (their activation done), until those events go out: the sagas must
# then disconnect them or change their rate.
login_pending=()
for ((i = 1; i <= subscribers && i <= 40; i++)); do
  case $((i % 5)) in 1|3|4) login_pending+=("$i") ;; esac
done
logins=0 next_login=0
followup_chunk=$((subscribers / per_chunk))   # the part with the first event after the activations
try_logins() {  # tries up to 3 pending subscribers; a rejected one goes to the back
  local n=0 i s body answer rest=() failed=()
  for i in "${login_pending[@]}"; do
    if ((n >= 3)); then rest+=("$i"); continue; fi
    n=$((n + 1))
    printf -v s 'sub-%05d' "$i"
    body=$(printf '{"username":"%s","password":"%s"}' "$(stack_username demo "$s")" "$(stack_password demo "$s")")
    if answer=$(stack_http POST "$STACK_NAS_CONTROL_PORT" /sessions/login "$body") && [[ "$answer" == *'"accepted":true'* ]]; then
      logins=$((logins + 1))
    else
      failed+=("$i")
    fi
  done
  login_pending=("${rest[@]}" "${failed[@]}")
}

# -- ispflowd's supervisor ------------------------------------------------------
kills_done=0 self_exits=0 restarts=0
down_until=0   # ispflowd stays down until then (ms); 0 = it should run
events_log=()
note() { events_log+=("$(printf '+%5.1fs %s' "$(awk -v t="$(($(now_ms) - t0))" 'BEGIN { print t / 1000 }')" "$*")"); stack_log "$*"; }

kill_ispflowd() {  # kill_ispflowd WHY
  [[ -n "${STACK_ISPFLOWD_PID:-}" ]] || return 0
  stack_ispflowd_stop KILL || true
  kills_done=$((kills_done + 1))
  note "SIGKILL $kills_done/$kills ($1); inbox $(stack_sql 'select count(*) from inbox' 2>/dev/null || echo '?')"
}
start_ispflowd() {
  stack_ispflowd_start "$config"
  restarts=$((restarts + 1))
}
# Restarts ispflowd when it should run and does not: after a planned
# downtime, or when it exited by itself (counted and logged).
supervise() {
  local rc=0
  if [[ -n "${STACK_ISPFLOWD_PID:-}" ]] && ! kill -0 "$STACK_ISPFLOWD_PID" 2>/dev/null; then
    wait "$STACK_ISPFLOWD_PID" 2>/dev/null || rc=$?
    STACK_ISPFLOWD_PID=
    self_exits=$((self_exits + 1))
    note "ispflowd exited by itself (status $rc); last log lines in $STACK_DIR/ispflowd.log"
    down_until=$(($(now_ms) + 1000))
  fi
  if [[ -z "${STACK_ISPFLOWD_PID:-}" ]] && (($(now_ms) >= down_until)); then
    start_ispflowd
    down_until=0
  fi
}

pg_restart() {
  note "PostgreSQL: fast shutdown"
  stack_pg_stop
  sleep 3
  stack_pg_start >/dev/null || fail "PostgreSQL did not come back"
  note "PostgreSQL: back after $(( ($(now_ms) - pg_t) / 1000 ))s"
}

# The bus restart. ispflow-bus is librdkafka's mock cluster, in memory: a
# restart loses every topic and offset and comes back on new ports. So:
# ispflowd is killed (no producer in flight), the old bus's lifecycle and
# dead-letter topics are read to their end (the checker's record of that
# bus), the bus stops; ispflowd
# runs for a while against the dead address (sagas go on, the outbox waits);
# the new bus starts, ispflowd is killed again and restarted on the new
# address; billing then produces again what intake had not recorded (at
# least the part of the feed it sent to the old bus while ispflowd was down).
epoch=1
bus_restart() {
  local old=$STACK_BOOTSTRAP unacked=$STACK_DIR/unacked.tsv
  note "bus restart: begins"
  kill_ispflowd "before the bus restart"
  # Billing goes on producing while ispflowd is down: this part is lost
  # with the old bus and must be produced again.
  ((chunk < chunks)) && send_next_part
  sleep 0.5
  read_outputs
  note "bus restart: read $(wc -l <"$run/lifecycle-$epoch.tsv") lifecycle records from the old bus; stopping it"
  stack_bus_stop
  start_ispflowd
  note "ispflowd runs 5 s with no bus"
  sleep 5
  supervise
  stack_bus_start 6 || fail "ispflow-bus did not restart, see $STACK_DIR/bus.log"
  epoch=$((epoch + 1))
  note "bus restart: new bus at $STACK_BOOTSTRAP (was $old)"
  kill_ispflowd "to move to the new bus"
  start_ispflowd
  # What intake recorded is acknowledged; the rest is produced again.
  stack_sql "select event_id from inbox" | sort -u >"$STACK_DIR/acked.txt"
  awk -F'\t' 'NR == FNR { acked[$0] = 1; next }
    { if (match($2, /"id":"[^"]*"/)) { id = substr($2, RSTART + 6, RLENGTH - 7); if (!(id in acked) && !(id in seen)) { seen[id] = 1; print } } }' \
    "$STACK_DIR/acked.txt" "$run/feed.tsv" >"$unacked"
  note "bus restart: billing produces again $(wc -l <"$unacked") event(s) not yet recorded"
  [[ -s "$unacked" ]] && publish "$unacked"
  return 0
}

# Reads lifecycle.events.v1 and billing.events.v1.dlq of the current bus
# from the beginning to their end, into the checker's files of this epoch.
read_outputs() {
  local topic file
  for topic in lifecycle.events.v1:lifecycle billing.events.v1.dlq:dlq; do
    file=$run/${topic#*:}-$epoch.tsv
    timeout 60 kcat -b "$STACK_BOOTSTRAP" -C -t "${topic%%:*}" -o beginning -e -q \
      -f '%p\t%o\t%h\t%s\n' >"$file" 2>>"$STACK_DIR/kcat.log" || stack_log "WARNING: reading ${topic%%:*} failed"
  done
}

# Sends the next part of the feed.
send_next_part() {
  local f
  f=$(printf '%s/chunk-%02d' "$STACK_DIR" "$chunk")
  ((chunk == followup_chunk)) && note "NAS: $logins session(s) open, ${#login_pending[@]} subscriber(s) not accepted in time"
  [[ -s "$f" ]] && publish "$f"
  chunk=$((chunk + 1)); next_chunk=$(($(now_ms) + chunk_gap_ms))
  note "feed part $chunk/$chunks sent ($sends sends so far)"
}

# -- the chaos ----------------------------------------------------------------------
t0=$(now_ms)
faults_phase1
note "faults phase 1 (unknown outcomes) injected"
chunk=0 next_chunk=$t0 next_kill=$((t0 + $(rand 3000 8000))) pg_done=0 pg_at=0 bus_done=0 phase2=0 awx_back=0
deadline=$((t0 + 600000))
while (($(now_ms) < deadline)); do
  now=$(now_ms)
  ((chunk < chunks && now >= next_chunk)) && send_next_part
  if ((chunk <= followup_chunk && ${#login_pending[@]} > 0 && now >= next_login)); then
    try_logins; next_login=$((now + 1000))
  fi
  if ((phase2 == 0 && now - t0 >= 30000)); then
    faults_phase2; phase2=1; awx_back=$((now + 6000))
    note "faults phase 2 (errors, latency, AWX down 6 s) injected"
  fi
  if ((awx_back > 0 && now >= awx_back)); then fault awx "$STACK_AWX_PORT" -; awx_back=0; note "AWX answers again"; fi
  if ((kills_done < kills && now >= next_kill)) && [[ -n "${STACK_ISPFLOWD_PID:-}" ]]; then
    kill_ispflowd "random point"
    down_until=$((now + $(rand 200 2500)))
    next_kill=$((down_until + $(rand 3000 8000)))
    # PostgreSQL restarts at a random point of an ispflowd run.
    ((pg_done == 0 && kills_done >= pg_restart_after)) && pg_at=$((down_until + $(rand 1000 3000)))
  fi
  if ((pg_done == 0 && pg_at > 0 && now >= pg_at)) && [[ -n "${STACK_ISPFLOWD_PID:-}" ]]; then
    pg_t=$(now_ms); pg_restart; pg_done=1
    next_kill=$(($(now_ms) + $(rand 3000 8000)))
  fi
  if ((bus_done == 0 && kills_done >= bus_restart_after)) && [[ -n "${STACK_ISPFLOWD_PID:-}" ]]; then
    bus_restart; bus_done=1
    next_kill=$(($(now_ms) + $(rand 3000 8000)))
  fi
  supervise
  ((kills_done >= kills && chunk >= chunks && pg_done && bus_done && phase2)) && break
  sleep 0.2
done
faults_clear
note "chaos over: $kills_done kills, all faults cleared; waiting for the sagas (at most ${settle}s)"
chaos_s=$(( ($(now_ms) - t0) / 1000 ))

# -- settle: until ispflow is quiet and every input is recorded ----------------------
inputs=$(awk -F'\t' '{ if (match($2, /"id":"[^"]*"/)) print substr($2, RSTART + 6, RLENGTH - 7) }' "$run/feed.tsv" | sort -u | wc -l)
quiet_sql="select (select count(distinct event_id) from inbox) >= $inputs
  and not exists (select 1 from sagas where state in ('pending', 'running', 'compensating'))
  and not exists (select 1 from inbox where saga_id is null and skipped_reason is null)
  and not exists (select 1 from outbox where published_at is null)"
# ispflow idle (nothing open, nothing waiting) for 30 s while inputs are
# missing: nothing will move any more, the checker says what is missing.
idle_sql="select not exists (select 1 from sagas where state in ('pending', 'running', 'compensating'))
  and not exists (select 1 from inbox where saga_id is null and skipped_reason is null)
  and not exists (select 1 from outbox where published_at is null)"
t1=$(now_ms) quiet=0 idle=0 shown=0
while (($(now_ms) - t1 < settle * 1000)); do
  supervise
  if [[ $(stack_sql "$quiet_sql" 2>/dev/null) == t ]]; then
    quiet=$((quiet + 1)); ((quiet >= 3)) && break
  else
    quiet=0
  fi
  if [[ $(stack_sql "$idle_sql" 2>/dev/null) == t ]]; then
    idle=$((idle + 1)); ((idle >= 30)) && break
  else
    idle=0
  fi
  if (($(now_ms) - t1 >= shown * 1000 + 10000)); then
    shown=$(( ($(now_ms) - t1) / 1000 ))
    stack_log "  settling ${shown}s: $(stack_sql "select format('inbox %s/%s, sagas open %s, outbox backlog %s',
      (select count(*) from inbox), $inputs, (select count(*) from sagas where state in ('pending', 'running', 'compensating')),
      (select count(*) from outbox where published_at is null))" 2>/dev/null)"
  fi
  sleep 1
done
settle_s=$(( ($(now_ms) - t1) / 1000 ))
((quiet >= 3)) && note "quiet after ${settle_s}s" || note "NOT quiet after ${settle_s}s (CHAOS_SETTLE); checking anyway"

# -- the evidence, then the checker ----------------------------------------------------
read_outputs
for s in netbox:$STACK_NETBOX_PORT awx:$STACK_AWX_PORT genieacs:$STACK_GENIEACS_PORT voltha:$STACK_ONOS_PORT; do
  stack_http GET "${s#*:}" /_sim/state >"$run/state/${s%%:*}.json" || stack_log "WARNING: no state from ${s%%:*}"
done
stack_http GET "$STACK_NAS_CONTROL_PORT" /sessions >"$run/state/nas.json" || stack_log "WARNING: no sessions from the NAS"
check_rc=0
check_out=$("$here/chaos/check.sh" "$run" "$STACK_DSN") || check_rc=$?
elapsed=$(( ($(now_ms) - started) / 1000 ))

cat <<SUMMARY

== ispflow chaos summary (seed $seed) ==
$subscribers subscribers, $inputs billing events ($sends sends: redeliveries and the events produced again after the bus restart)
chaos ${chaos_s}s, settle ${settle_s}s, whole run ${elapsed}s (stack start-up and checks included)
NAS: $logins subscriber(s) logged in (PAP via FreeRADIUS) before their suspend, plan change or terminate
ispflowd: $kills_done SIGKILLs, $self_exits exits by itself, $restarts starts; PostgreSQL restarted once; the bus restarted once
Faults injected (simulator, when, what):
$(printf '  %s\n' "${faults_log[@]}")
Sagas (ispflow's tables, for scale): $(stack_sql "select string_agg(format('%s %s', name || '/' || state, n), ', ' order by name, state)
  from (select name, state, count(*) n from sagas group by 1, 2) x")
Steps retried: $(stack_sql "select coalesce(string_agg(format('%s %s', name, n), ', ' order by name), 'none')
  from (select name, count(*) n from saga_steps where attempts > 1 group by 1) x")
Timeline:
$(printf '  %s\n' "${events_log[@]}")

Checker (deploy/local/chaos/check.sh $run):
$(sed 's/^/  /' <<<"$check_out")
Evidence and logs: $run, $STACK_DIR/ispflowd.log, $STACK_DIR/sim-*.log
SUMMARY
exit "$check_rc"
