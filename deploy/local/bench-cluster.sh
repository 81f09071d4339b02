#!/usr/bin/env bash
# Cluster benchmarks (issue 13), each on a fresh embedded stack:
#  1. take-over: three ispflowd instances on the demo's simulated network
#     under a steady feed of activations (BENCH_RATE/s); one instance is
#     stopped with SIGKILL (then, after a restart, another with SIGTERM) and
#     the take-over time is kill -> the first saga transition (a saga row
#     it wrote, sagas.updated_at) on one of its partitions written by
#     another instance; also when the others held all its partitions
#     (partition_owners). Consumer group session 4 s (stack.sh).
#  2. activation sagas/s with 1, 2 and 3 instances, no network systems (a
#     tenant with every system off: every step is skipped, so only intake,
#     the saga engine, the fenced writes and the outbox run): BENCH_SAGAS
#     activations produced at once, timed from the first saga created to
#     the last saga completed (BENCH_RUNS runs each, default 3).
#   bench-cluster.sh BUILD_DIR        (BENCH_TAKEOVER=0 skips part 1)
# Ports 22140-22199 (PostgreSQL 22170, simulators 22141-22153, admin
# 22160-22163).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build/ci}" && pwd)
export STACK_BIN=$build STACK_DIR=$build/bench-cluster STACK_PG_PORT=22170 STACK_DB=ispflow
export STACK_PORT_BASE=22140 STACK_ADMIN_PORT=22160
source "$here/stack.sh"
source "$here/cluster.sh"

rate=${BENCH_RATE:-20}
sagas=${BENCH_SAGAS:-2000}
billing=billing.events.v1
producer_pid=

cleanup() {
  [[ -n "$producer_pid" ]] && kill "$producer_pid" 2>/dev/null
  cluster_stop_all >/dev/null 2>&1 || true
  stack_stop_all >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap "exit 143" TERM INT
now_ms() { date +%s%3N; }

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# -- 1. take-over ----------------------------------------------------------------
# Feeds activations of sub-N.. at `rate` per second in the background.
feed_steadily() {
  local i=$1
  while :; do
    for ((k = 0; k < rate; k++, i++)); do
      printf -v s 'sub-%05d' "$i"
      stack_activation_payload demo "$s" fiber-100
      stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
    done | stack_produce "$billing" 2>/dev/null
    i=$((i + rate))  # the loop above ran in the pipeline's subshell
    sleep 1
  done
}

# The times (ms since the epoch) of the log lines with message MSG in the
# logs of instances INSTANCES written at or after AFTER_MS, in order.
#   log_times MSG AFTER_MS INSTANCES
log_times() {
  local msg=$1 after=$2 i ts ms
  for i in $3; do grep -h "\"msg\":\"$msg\"" "${CLUSTER_LOGS[$i]}" || true; done |
    grep -o '"ts":"[^"]*"' | cut -d'"' -f4 | while read -r ts; do
      ms=$(date -d "$ts" +%s%3N)
      ((ms >= after)) && echo "$ms"
    done | sort -n
}

# Stops instance I with SIGNAL; the others (SURVIVORS, e.g. "1 3") take
# over. Prints, in ms after the signal: "first all-held group-noticed
# last-assigned drained released partitions" where
#   first         the first saga transition of its work written by another
#                 instance (a transition on one of its partitions committed
#                 after that partition's new claim: fencing refuses the old
#                 owner's writes from then on, so the draining instance's
#                 own writes are not counted);
#   all-held      partition_owners shows only the survivors;
#   group-noticed the survivors' first revocation (the group's rebalance);
#   last-assigned the survivors' last assignment before all-held;
#   drained, released (SIGTERM only) the stopped instance's drain and its
#                 release of its partitions ("-" for SIGKILL).
#   takeover I SIGNAL SURVIVORS
takeover() {
  local i=$1 sig=$2 survivors=$3 held t_kill t_owned first noticed assigned drained=- released=- t
  held=$(cluster_held_by "$i")
  t_kill=$(now_ms)
  if [[ "$sig" == TERM ]]; then
    kill -TERM "${CLUSTER_PIDS[$i]}"
  else
    cluster_signal "$i" "$sig"
  fi
  cluster_wait_owners "$survivors" 60 || { echo "no take-over within 60 s" >&2; return 1; }
  t_owned=$(now_ms)
  [[ "$sig" == TERM ]] && cluster_signal "$i" TERM
  for _ in $(seq 300); do
    # A saga row keeps its last write only (the relay deletes published
    # outbox rows): polled every 0.1 s, the earliest is the first write.
    first=$(stack_sql "select floor(extract(epoch from min(s.updated_at)) * 1000)::bigint
      from sagas s
      join partition_owners po on po.partition = s.kafka_partition
      where s.updated_at > to_timestamp($t_kill / 1000.0)
        and s.kafka_partition in ($held) and s.owner = po.instance_id
        and po.instance_id not in ('', 'node-$i')
        and s.updated_at >= po.claimed_at")
    [[ -n "$first" ]] && break
    sleep 0.1
  done
  noticed=$(log_times "partitions revoked" "$t_kill" "$survivors" | head -n1)
  assigned=$(log_times "partitions assigned" "$t_kill" "$survivors" | awk -v t="$t_owned" '$1 <= t' | tail -n1)
  if [[ "$sig" == TERM ]]; then
    t=$(log_times drained "$t_kill" "$i" | head -n1) && [[ -n "$t" ]] && drained=$((t - t_kill))
    t=$(log_times "partitions released" "$t_kill" "$i" | head -n1) && [[ -n "$t" ]] && released=$((t - t_kill))
  fi
  echo "$((${first:-$t_owned} - t_kill)) $((t_owned - t_kill)) $((${noticed:-$t_kill} - t_kill)) $((${assigned:-$t_owned} - t_kill)) $drained $released $held"
}

if [[ "${BENCH_TAKEOVER:-1}" == 1 ]]; then
echo "== take-over: 3 instances, activations at ${rate}/s through the simulated network, consumer group session 4 s"
rm -rf "$STACK_DIR"; mkdir -p "$STACK_DIR"
cluster_name_first
stack_network_up "$here/ispflow.yaml" 3000 >/dev/null 2>&1 || { echo "stack did not start ($STACK_DIR)"; exit 1; }
cluster_adopt_first
cluster_start_instance 2 "$here/ispflow.yaml" && cluster_start_instance 3 "$here/ispflow.yaml"
cluster_wait_owners "1 2 3" 60
lease=$(grep -o '"lease_ms":"[0-9]*"' "${CLUSTER_LOGS[1]}" | head -n1 | grep -o '[0-9]*')
feed_steadily 1 &
producer_pid=$!
sleep 10
read -r first owned noticed assigned _ _ held <<<"$(takeover 2 KILL "1 3")"
echo "SIGKILL node-2 (partitions $held): first transition of its work on another instance after ${first} ms; all its partitions held after ${owned} ms (lease ${lease} ms)"
echo "   the group revoked the survivors' partitions after ${noticed} ms and assigned the last time after ${assigned} ms; from that assignment to the first transition: $((first - assigned)) ms"
cluster_start_instance 2 "$here/ispflow.yaml"
cluster_wait_owners "1 2 3" 60
sleep 10
read -r first owned noticed assigned drained released held <<<"$(takeover 3 TERM "1 2")"
echo "SIGTERM node-3 (partitions $held): first transition of its work on another instance after ${first} ms; all its partitions held after ${owned} ms"
echo "   node-3 drained after ${drained} ms and released its partitions after ${released} ms; the group revoked the survivors' partitions after ${noticed} ms and assigned the last time after ${assigned} ms; from that assignment to the first transition: $((first - assigned)) ms"
echo "   node-3's drain: $(grep -o '"msg":"drained".*' "${CLUSTER_LOGS[3]}" | tail -n1)"
kill "$producer_pid" 2>/dev/null; wait "$producer_pid" 2>/dev/null || true; producer_pid=
echo "   sagas: $(stack_sql "select format('%s created, %s completed, %s open', count(*), count(*) filter (where state = 'completed'), count(*) filter (where state in ('pending', 'running', 'compensating'))) from sagas")"
cluster_stop_all >/dev/null 2>&1
stack_stop_all >/dev/null 2>&1
fi

# -- 2. throughput with 1, 2, 3 instances -------------------------------------------
# The demo's configuration with every network system off.
noop=$here/ispflow.yaml
for system in RADIUS NETBOX VOLTHA GENIEACS AWX; do export "ISPFLOW_TENANTS_0_SYSTEMS_$system=false"; done
echo "== activation sagas/s, no network systems, $sagas activations produced at once (3 runs each)"
for n in 1 2 3; do
  for run in $(seq "${BENCH_RUNS:-3}"); do
    rm -rf "$STACK_DIR"; mkdir -p "$STACK_DIR"
    stack_pg_start && stack_bus_start 6 >/dev/null
    cluster_name_first
    stack_ispflowd_start "$noop"
    stack_ispflowd_ready >/dev/null
    cluster_adopt_first
    for ((i = 2; i <= n; i++)); do cluster_start_instance "$i" "$noop"; done
    cluster_wait_owners "$(seq -s' ' "$n")" 60
    for ((i = 1; i <= sagas; i++)); do
      printf -v s 'sub-%05d' "$i"
      stack_activation_payload demo "$s" fiber-100
      stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
    done >"$STACK_DIR/feed.tsv"
    stack_produce "$billing" <"$STACK_DIR/feed.tsv"
    t0=$(date +%s)
    while [[ $(stack_sql "select count(*) from sagas where state = 'completed'") -lt $sagas ]]; do
      (($(date +%s) - t0 < 300)) || { echo "   $n instance(s), run $run: not done after 300 s"; break; }
      sleep 0.2
    done
    echo "   $n instance(s), run $run: $(stack_sql "select format('%s sagas in %s s: %s sagas/s (load average %s)', count(*),
        round(extract(epoch from max(updated_at) - min(created_at))::numeric, 2),
        round(count(*) / extract(epoch from max(updated_at) - min(created_at))::numeric), '$(cut -d' ' -f1 /proc/loadavg)')
      from sagas where state = 'completed'")"
    cluster_stop_all >/dev/null 2>&1
    stack_stop_all >/dev/null 2>&1
  done
done
