#!/usr/bin/env bash
# Runs the benchmarks on a throwaway PostgreSQL (fsync on, the defaults) and,
# for scale, pgbench's single-row insert on the same server.
#   bench.sh BUILD_DIR
set -euo pipefail

build=$(cd "${1:-build/ci}" && pwd)
export STACK_BIN=$build STACK_DIR=$build/bench STACK_PG_PORT=55435 STACK_DB=bench
source "$(dirname "$0")/stack.sh"
export PGOPTIONS="-c client_min_messages=warning"
trap stack_pg_stop EXIT
stack_pg_start

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
echo "   $("$(stack_program ispflow-host-cost)")"
echo "== PostgreSQL: fsync=$(stack_sql 'show fsync'), synchronous_commit=$(stack_sql 'show synchronous_commit')"

fresh_db() {
  psql "$STACK_PG_ADMIN" -qc "drop database if exists $1 with (force)" -c "create database $1" >/dev/null
  echo "host=$STACK_DIR/pg/sock port=$STACK_PG_PORT user=postgres dbname=$1"
}

echo "== durable intake (3 runs of 50,000 events, batch 1000)"
for run in 1 2 3; do
  "$(stack_program intake_throughput)" --dsn "$(fresh_db intake_bench)" --events 50000 --batch 1000
done

echo "== pgbench: one single-row jsonb INSERT per transaction, 4 clients, 15 s"
db=$(fresh_db pgbench_ref)
psql "$db" -qc "create table t (id bigserial primary key, payload jsonb not null)"
script=$(mktemp)
echo "insert into t(payload) values ('{\"subscriber_id\":\"sub-1\",\"plan_id\":\"fiber-100\"}');" >"$script"
pgbench -n -c 4 -j 2 -T 15 -f "$script" "$db" 2>/dev/null | grep -E '^(tps|latency average)'
rm -f "$script"

echo "== saga engine: 3 runs of 5,000 activation sagas (no-op adapters), then 3 runs of 10,000 parked sagas"
for run in 1 2 3; do
  "$(stack_program saga_throughput)" --dsn "$(fresh_db saga_bench)" --sagas 10000 --parked 0
done
for run in 1 2 3; do
  "$(stack_program saga_throughput)" --dsn "$(fresh_db saga_parked)" --sagas 0 --parked 10000
done
echo "== the saga router's startable poll under a backlog of 2,000 events, 100,000 subscriber records"
"$(stack_program saga_throughput)" --dsn "$(fresh_db saga_backlog)" --sagas 0 --parked 0 \
  --backlog 2000 --records 100000

# The soak: mixed lifecycle sagas at a steady rate with retention at a short
# period; the database size must level off and the rate stay flat. The full
# soak (a million sagas of history) is SOAK_SAGAS=1000000 (about an hour at
# the default rate); the default is a short one. SOAK_CSV=FILE writes every
# interval as a CSV row.
soak_sagas=${SOAK_SAGAS:-20000}
soak_rate=${SOAK_RATE:-300}
soak_retention=${SOAK_RETENTION:-60}
echo "== soak: $soak_sagas mixed lifecycle sagas at $soak_rate events/s, retention ${soak_retention} s (SOAK_SAGAS=1000000 for the full soak)"
"$(stack_program ispflow-soak-bench)" --dsn "$(fresh_db soak_bench)" \
  --sagas "$soak_sagas" --rate "$soak_rate" --retention "$soak_retention" \
  --subscribers "${SOAK_SUBSCRIBERS:-5000}" --report "${SOAK_REPORT:-10}" \
  --max-backlog "${SOAK_MAX_BACKLOG:-2000}" ${SOAK_CSV:+--csv "$SOAK_CSV"}

echo "== dunning run: 10,000 suspensions over 5 NAS simulators, each at most 500/s and 32 in flight"
echo "   (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
"$(stack_program ispflow-dunning-bench)" --dsn "$(fresh_db dunning_bench)" \
  --subscribers 10000 --nas 5 --max-rate 500 --max-in-flight 32 \
  || echo "dunning run: incomplete or above a NAS limit (see above)"

echo "== RADIUS first provisions: one statement each against 16 per statement, from 4 connections (4 rounds each)"
"$(stack_program ispflow-radius-provision-bench)" --dsn "$(fresh_db radius_provision_bench)" \
  --accounts 10000 --workers 4 --batch 1 --batch 16 --rounds 8 \
  || echo "radius-provision-bench: provisions failed (see above)"

echo "== outbox encoding: an activation's records as the saga store writes them (JSON, then COPY text)"
"$(stack_program ispflow-codec-bench)" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  || echo "codec-bench: failed (see above)"

echo "== VOLTHA client: GetDevice from 4 threads against the simulator, abseil's deadlock detection off and on (3 rounds each)"
"$(stack_program ispflow-voltha-bench)" --threads 4 --calls 20000 --rounds 6 \
  || echo "voltha-bench: calls failed (see above)"

echo "== drift scan: 100,000 subscribers against the NetBox, GenieACS and VOLTHA simulators and FreeRADIUS's tables, 100 changed per kind"
"$(stack_program ispflow-drift-bench)" --dsn "$(fresh_db drift_bench)" \
  --subscribers "${DRIFT_SUBSCRIBERS:-100000}" --drift 100 \
  || echo "drift scan: did not find exactly the changes (see above)"

echo "== end-to-end: activations through the simulated network and FreeRADIUS (deploy/local/bench-e2e.sh)"
# Its own stack: PostgreSQL on 55436, not this script's.
E2E_IDLE=${E2E_IDLE:-15} STACK_PG_PORT=55436 STACK_DB=ispflow "$(dirname "$0")/bench-e2e.sh" "$build"

echo "== cluster: take-over after SIGKILL and SIGTERM, activation sagas/s with 1, 2 and 3 instances (deploy/local/bench-cluster.sh)"
# Its own stacks: PostgreSQL on 22170, ports 22140-22199.
"$(dirname "$0")/bench-cluster.sh" "$build"
