#!/usr/bin/env bash
# End-to-end load: FTTH activations through the demo's network (NetBox,
# VOLTHA/ONOS, GenieACS and AWX simulators with their delays at zero,
# FreeRADIUS on the same PostgreSQL, the NAS simulator) at increasing
# offered rates, measured by ispflow-e2e-load from the publish on
# billing.events.v1 to subscriber.activated on lifecycle.events.v1.
#   bench-e2e.sh BUILD_DIR                  (make bench runs it too)
#   E2E_RATES=100,200,400,800,1600          offered activations/s, one step each
#   E2E_SECONDS=5                           length of a step
#   E2E_KEEP_GOING=1                        run every rate even after one falls behind
#   E2E_HALF=fresh                          (default) after the steps, one more at half
#                                           the highest rate sustained (the latency
#                                           goal's rate), in a stack of its own with
#                                           the same warm-up: a step right after a
#                                           saturated one pays what that one left
#                                           behind (docs/benchmarks.md, nineteenth
#                                           and twenty-sixth rounds)
#   E2E_HALF=1                              that step in the same stack, right after
#                                           the first step that falls behind (or the last)
#   E2E_HALF=0                              no such step
#   E2E_WARMUP=15                           activations at E2E_WARMUP_RATE first, not reported
#   E2E_WARMUP_RATE=5                       their rate (e.g. 500 at 100/s: every pool
#                                           connection and PostgreSQL backend warm,
#                                           to measure a step's steady state)
#   E2E_TIMELINE=1                          each step's latency per second as well,
#                                           with the saga's end to the relay's produce
#                                           and the produce to the bench (the load
#                                           tool), and split by stage before the
#                                           saga's end (the database's timestamps)
#   E2E_PERF=1                              perf record -g ispflowd during the run
#   E2E_PERF_ARGS="--call-graph dwarf -F 200"  other perf record options (default -g)
#                                           (report in STACK_DIR/perf.data)
#   E2E_SWITCHES=1                          context switches and CPU per process
#                                           and per ispflowd thread, over 10 s in
#                                           the middle of the first step
#   E2E_SYSCALLS=1                          the same, with each one's system calls
#                                           (perf stat)
#   E2E_PG_STATS=1                          pg_stat_statements: the statements
#                                           that cost PostgreSQL the most time;
#                                           pg_stat_wal: WAL per activation;
#                                           pg_stat_user_tables: row writes;
#                                           pg_stat_user_indexes: index reads;
#                                           and the statements called less than
#                                           once per 100 activations (background)
#   E2E_KEEP_ALIVE=0                        a connection per NetBox and GenieACS
#                                           request (Connection: close)
#   E2E_SYSTEMS="netbox voltha genieacs awx radius"  the systems the tenant uses
#                                           (fewer: to see what one of them costs)
#   E2E_CALLS=1                             each simulator's requests per measured
#                                           activation, by method and path (a segment
#                                           with a digit as :id), from GET /_sim/calls
#   E2E_SQL="..."                           SQL run on the stack's database once it is
#                                           up, before the warm-up (an A/B of a schema
#                                           change with one build: undo it on one side)
#   E2E_IDLE=30                             first, 10 s after the start, the stack idle for that many
#                                           seconds: CPU per process and WAL per
#                                           second with no load (what every
#                                           activation's share shrinks with the rate)
# Ports: STACK_PORT_BASE (default 18300) + 1..13 (see stack.sh), admin API
# STACK_ADMIN_PORT (default 8389), PostgreSQL STACK_PG_PORT (default 55436):
# apart from the demo's, so both can run on one machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build/ci}" && pwd)

# The half step in a stack of its own: this script twice, the steps first,
# then half their ceiling (ispflow-e2e-load's ceiling_activations_per_second)
# with --half-of, which prints the goal's line for it.
if [[ "${E2E_HALF:-fresh}" == fresh ]]; then
  steps_out=$(mktemp)
  if ! E2E_HALF=0 "$0" "$build" | tee "$steps_out"; then
    rm -f "$steps_out"
    exit 1
  fi
  ceiling=$(sed -n 's/^ceiling_activations_per_second=\([0-9.]*\)$/\1/p' "$steps_out" | tail -n1)
  rm -f "$steps_out"
  half_rate=$(awk -v c="${ceiling:-0}" 'BEGIN { printf "%d", c / 2 + 0.5 }')
  if ((half_rate < 1)); then
    echo "bench-e2e: no ceiling to halve (${ceiling:-none})" >&2
    exit 1
  fi
  echo "== half the ceiling of $ceiling/s: $half_rate/s, in a stack of its own"
  E2E_HALF=0 E2E_IDLE=0 E2E_RATES=$half_rate E2E_HALF_OF=$ceiling exec "$0" "$build"
fi
export STACK_BIN=$build STACK_DIR=$build/bench-e2e
export STACK_PORT_BASE=${STACK_PORT_BASE:-18300} STACK_ADMIN_PORT=${STACK_ADMIN_PORT:-8389}
export STACK_PG_PORT=${STACK_PG_PORT:-55436}
source "$here/stack.sh"

rates=${E2E_RATES:-100,200,400,800,1600}
seconds=${E2E_SECONDS:-5}
for tool in kcat psql freeradius awk; do
  command -v "$tool" >/dev/null || { echo "bench-e2e: $tool missing; run deploy/local/deps.sh" >&2; exit 1; }
done
load=$(stack_program ispflow-e2e-load)
# This machine's cost of a system call, a wake-up round trip and a fixed
# piece of work, right before and right after the measured steps: how fast
# the machine ran for the run (a shared VM's speed changes by the hour).
host_cost=$(stack_program ispflow-host-cost 2>/dev/null || true)

# Every subscriber of every step, and a NetBox prefix large enough for them;
# with the half step, as many as it can need (half the highest rate) after
# them.
half=$E2E_HALF
[[ "$half" == 0 || "$half" == 1 ]] || { echo "bench-e2e: E2E_HALF is fresh, 1 or 0, not $half" >&2; exit 1; }
total=$(awk -v r="$rates" -v s="$seconds" -v h="$half" 'BEGIN {
  n = split(r, a, ","); for (i = 1; i <= n; i++) { t += int(a[i] * s); if (a[i] > m) m = a[i] }
  if (h == 1) t += int((int(m / 2) + 1) * s); print t }')
# A warm-up before the measured steps (connections, caches, the planner's
# statistics), with subscribers of its own after the measured ones:
# E2E_WARMUP activations at E2E_WARMUP_RATE/s, not reported. 0: none.
warmup=${E2E_WARMUP:-15}
measured=$total
total=$((total + warmup))
len=30
while (( (1 << (32 - len)) - 2 < total + 16 )); do len=$((len - 1)); done

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stack_stop_all >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stack_ports_free $((STACK_PORT_BASE + 1)) $((STACK_PORT_BASE + 2)) $((STACK_PORT_BASE + 3)) \
  $((STACK_PORT_BASE + 4)) $((STACK_PORT_BASE + 5)) $((STACK_PORT_BASE + 6)) $((STACK_PORT_BASE + 7)) \
  $((STACK_PORT_BASE + 12)) $((STACK_PORT_BASE + 13)) "$STACK_ADMIN_PORT" "$STACK_PG_PORT"
rm -rf "$STACK_DIR"
mkdir -p "$STACK_DIR"
sed "s|100.64.0.0/21|100.64.0.0/$len|" "$here/demo/netbox-seed.yaml" >"$STACK_DIR/netbox-seed.yaml"

# The simulators answer at once; ispflowd looks at an AWX job again after
# 10 ms and at the olt app's programmed subscribers after 10 ms (the keys'
# minimum), instead of the demo's 500 ms and 200 ms. Against a real AWX or
# ONOS keep the defaults (15 s, 1 s): every look is a GET per job or device.
export STACK_NETBOX_SEED=$STACK_DIR/netbox-seed.yaml STACK_AWX_DELAYS_MS="0 0 0" STACK_VOLTHA_DELAY_MS=0 \
  STACK_VOLTHA_PROGRAM_DELAY_MS=0
export ISPFLOW_TENANTS_0_AWX_POLL_INTERVAL_MS=${E2E_AWX_POLL_MS:-10}
export ISPFLOW_TENANTS_0_VOLTHA_CONFIRM_INTERVAL_MS=${E2E_CONFIRM_MS:-10}
export ISPFLOW_NAS_0_COA_PORT=$STACK_NAS_COA_PORT
# librdkafka's mock broker answers a fetch that finds no data only after
# fetch.wait.max.ms (default 500), and a record produced meanwhile waits for
# that answer: intake would add ~250 ms on average that a real broker, which
# answers as soon as data arrives, does not. E2E_FETCH_WAIT_MS="" keeps 500.
if [[ -n "${E2E_FETCH_WAIT_MS-10}" ]]; then
  export ISPFLOW_KAFKA_PROPERTIES_FETCH_WAIT_MAX_MS=${E2E_FETCH_WAIT_MS:-10}
fi
# E2E_KEEP_ALIVE=0: ispflowd sends `Connection: close` to NetBox and
# GenieACS (tenants[].{netbox,genieacs}.keep_alive: false), a connection per
# request, to compare with the default.
if [[ "${E2E_KEEP_ALIVE:-1}" == 0 ]]; then
  export ISPFLOW_TENANTS_0_NETBOX_KEEP_ALIVE=false ISPFLOW_TENANTS_0_GENIEACS_KEEP_ALIVE=false
fi
systems=${E2E_SYSTEMS:-netbox voltha genieacs awx radius}
for system in netbox voltha genieacs awx radius; do
  if [[ " $systems " == *" $system "* ]]; then value=true; else value=false; fi
  export "ISPFLOW_TENANTS_0_SYSTEMS_${system^^}=$value"
done
if [[ "${E2E_PG_STATS:-0}" == 1 ]]; then
  export PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on"
fi
stack_network_up "$here/ispflow.yaml" "$total" >"$STACK_DIR/stack.log" 2>&1 \
  || { cat "$STACK_DIR/stack.log" >&2; echo "bench-e2e: the stack did not start (logs in $STACK_DIR)" >&2; exit 1; }

echo "== end-to-end activations: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
# The kernel's writeback of dirty pages shows in the latency (a burst
# every dirty_expire_centisecs: docs/benchmarks.md, eighteenth round).
echo "   vm: dirty_background_bytes $(cat /proc/sys/vm/dirty_background_bytes) ratio $(cat /proc/sys/vm/dirty_background_ratio), dirty_expire_centisecs $(cat /proc/sys/vm/dirty_expire_centisecs)"
echo "   rates $rates/s$([[ $half == 1 ]] && echo ", then half the highest sustained"), $seconds s each, $total subscribers; simulators' delays 0; ispflowd: $here/ispflow.yaml"
echo "   systems: $systems; NetBox/GenieACS keep-alive ${ISPFLOW_TENANTS_0_NETBOX_KEEP_ALIVE:-true}; with AWX poll ${ISPFLOW_TENANTS_0_AWX_POLL_INTERVAL_MS} ms, olt app confirm ${ISPFLOW_TENANTS_0_VOLTHA_CONFIRM_INTERVAL_MS} ms, fetch.wait.max.ms ${ISPFLOW_KAFKA_PROPERTIES_FETCH_WAIT_MAX_MS:-500}"
if [[ -n "${E2E_SQL:-}" ]]; then
  stack_sql "$E2E_SQL" >/dev/null || { echo "bench-e2e: E2E_SQL failed" >&2; exit 1; }
  echo "   E2E_SQL: $E2E_SQL"
fi
watch="ispflowd=$STACK_ISPFLOWD_PID,bus=$STACK_BUS_PID"
for name in "${!STACK_SIM_PIDS[@]}"; do watch+=",$name=${STACK_SIM_PIDS[$name]}"; done
pg_pid=$(head -n1 "$STACK_DIR/pg/data/postmaster.pid" 2>/dev/null || true)
[[ -n "$pg_pid" ]] && watch+=",postgres=$pg_pid"
rad_pid=$(cat "$STACK_DIR/radius/radius.pid" 2>/dev/null || true)
[[ -n "$rad_pid" ]] && watch+=",freeradius=$rad_pid"
perf_pid=
if [[ "${E2E_PERF:-0}" == 1 ]]; then
  perf record ${E2E_PERF_ARGS:--g} -o "$STACK_DIR/perf.data" -p "$STACK_ISPFLOWD_PID" >"$STACK_DIR/perf.log" 2>&1 &
  perf_pid=$!
fi
# CPU ticks of a process, its threads and its children (PostgreSQL's
# backends), the exited ones included.
cpu_ticks() {
  local t c
  t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  for c in $(pgrep -P "$1"); do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
idle=${E2E_IDLE:-0}
if ((idle > 0)); then
  wal="select wal_records || ' ' || wal_bytes || ' ' || wal_sync from pg_stat_wal"
  sleep 10 # the start-up's own writes (migrations, first checkpoints) settle
  declare -A idle_before
  for pair in ${watch//,/ }; do idle_before[${pair%%=*}]=$(cpu_ticks "${pair#*=}"); done
  read -r wr0 wb0 ws0 <<<"$(stack_sql "$wal")"
  sleep "$idle"
  read -r wr1 wb1 ws1 <<<"$(stack_sql "$wal")"
  hz=$(getconf CLK_TCK)
  line=
  for pair in ${watch//,/ }; do
    name=${pair%%=*}
    line+=" $name=$(awk -v a="${idle_before[$name]}" -v b="$(cpu_ticks "${pair#*=}")" -v hz="$hz" -v s="$idle" \
      'BEGIN { printf "%.1f", (b - a) * 1000 / hz / s }')"
  done
  echo "== idle for $idle s, no load: CPU in ms per second:$line"
  awk -v r=$((wr1 - wr0)) -v b=$((wb1 - wb0)) -v f=$((ws1 - ws0)) -v s="$idle" \
    'BEGIN { printf "   WAL per second: %.1f records, %.0f bytes, %.1f syncs\n", r / s, b / s, f / s }'
fi
warmup_rate=${E2E_WARMUP_RATE:-5}
if ((warmup > 0)); then
  echo "   warm-up: $warmup activations at $warmup_rate/s (subscribers $((measured + 1))-$total, not reported)"
  "$load" --bootstrap "$STACK_BOOTSTRAP" --rates "$warmup_rate" --seconds "$(awk -v n="$warmup" -v r="$warmup_rate" 'BEGIN { print n / r }')" \
    --first $((measured + 1)) >"$STACK_DIR/warmup.out" 2>&1 \
    || { cat "$STACK_DIR/warmup.out" >&2; echo "bench-e2e: the warm-up did not complete" >&2; exit 1; }
fi
if [[ "${E2E_PG_STATS:-0}" == 1 ]]; then
  stack_sql "create extension if not exists pg_stat_statements; select pg_stat_statements_reset(); select pg_stat_reset_shared('wal'); select pg_stat_reset()" >/dev/null
fi
[[ -n "$host_cost" ]] && echo "   before: $("$host_cost")"
switches_pid=
if [[ "${E2E_SWITCHES:-0}" == 1 || "${E2E_SYSCALLS:-0}" == 1 ]]; then
  window=$(awk -v s="$seconds" 'BEGIN { print (s < 10 ? s : 10) }')
  delay=$(awk -v s="$seconds" -v w="$window" 'BEGIN { print (s - w) / 2 }')
  switches_args=("$window" "$STACK_ISPFLOWD_PID")
  [[ "${E2E_SYSCALLS:-0}" == 1 ]] && switches_args+=(--syscalls)
  (sleep "$delay" && python3 "$here/switches.py" "${switches_args[@]}") \
    >"$STACK_DIR/switches.out" 2>&1 &
  switches_pid=$!
fi
measured_from=$(date -u '+%Y-%m-%d %H:%M:%S.%N+00')
measured_from_ms=$(date '+%s%3N')
args=(--bootstrap "$STACK_BOOTSTRAP" --rates "$rates" --seconds "$seconds" --watch "$watch")
[[ "${E2E_KEEP_GOING:-0}" == 1 ]] && args+=(--keep-going)
[[ "$half" == 1 ]] && args+=(--then-half)
[[ -n "${E2E_HALF_OF:-}" ]] && args+=(--half-of "$E2E_HALF_OF")
[[ "${E2E_TIMELINE:-0}" == 1 ]] && args+=(--timeline)
"$load" "${args[@]}" | tee "$STACK_DIR/e2e-load.out"
[[ -n "$host_cost" ]] && echo "   after: $("$host_cost")"
if [[ -n "$perf_pid" ]]; then
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  echo "   perf: perf report -i $STACK_DIR/perf.data --no-children"
fi
if [[ -n "$switches_pid" ]]; then
  wait "$switches_pid" 2>/dev/null || true
  echo "== context switches and CPU (CPU in % of one core), $window s from $delay s into the first step"
  cat "$STACK_DIR/switches.out"
fi

pcts() { echo "round(percentile_cont(0.5) within group (order by $1)::numeric), round(percentile_cont(0.99) within group (order by $1)::numeric)"; }

# With the timeline, the same seconds split by stage (from the
# database's timestamps, by the second of the step the event was
# published in, as the load tool counts them): a slow second shows which
# stage it was slow in.
if [[ "${E2E_TIMELINE:-0}" == 1 ]]; then
  echo "== the measured steps per second by stage (seconds from the first measured publish, across steps; ms, p50 / p99): publish to inbox, inbox to saga created, the saga"
  stack_sql "select format('   %5s %5s  %7s %7s  %7s %7s  %7s %7s', sec, n, a50, a99, b50, b99, c50, c99) from (
      select floor(extract(epoch from i.event_time - (select min(event_time) from inbox
                                                       where event_time >= timestamptz '$measured_from')))::int sec,
        count(*) n,
        $(pcts "extract(epoch from i.received_at - i.event_time) * 1000") ,
        $(pcts "extract(epoch from s.created_at - i.received_at) * 1000"),
        $(pcts "extract(epoch from s.updated_at - s.created_at) * 1000")
      from inbox i join sagas s on s.id = i.saga_id
      where s.name = 'activate' and i.event_time >= timestamptz '$measured_from'
      group by 1 order by 1) x(sec, n, a50, a99, b50, b99, c50, c99)" || true
fi

# Where the time went: when each activation step first started, in ms
# after its saga was created, and the sagas' own duration.
echo "== activation sagas (the warm-up's too): ms from saga created to each step's first attempt (p50 / p99), then to the saga's end"
stack_sql "select format('   %-24s n=%-6s p50=%-6s p99=%s', st.name, count(*),
    round(percentile_cont(0.5) within group (order by extract(epoch from st.first_attempt_at - s.created_at) * 1000)::numeric),
    round(percentile_cont(0.99) within group (order by extract(epoch from st.first_attempt_at - s.created_at) * 1000)::numeric))
  from saga_steps st join sagas s on s.id = st.saga_id
  where s.name = 'activate' and st.first_attempt_at is not null group by st.idx, st.name order by st.idx" || true
stack_sql "select format('   %-24s n=%-6s p50=%-6s p99=%s', '(saga ended)', count(*),
    round(percentile_cont(0.5) within group (order by extract(epoch from updated_at - created_at) * 1000)::numeric),
    round(percentile_cont(0.99) within group (order by extract(epoch from updated_at - created_at) * 1000)::numeric))
  from sagas where name = 'activate' and state = 'completed'" || true
echo "== latency outside the sagas (ms, p50 / p99; saga end to the relay's produce, and on to the bench: see saga_end_to_relay and lifecycle_record_to_here)"
stack_sql "select format('   %-24s n=%-6s p50=%-6s p99=%s', 'publish to inbox', count(*), $(pcts "extract(epoch from received_at - event_time) * 1000"))
  from inbox where event_id like 'e2e-%'" || true
stack_sql "select format('   %-24s n=%-6s p50=%-6s p99=%s', 'inbox to saga created', count(*), $(pcts "extract(epoch from s.created_at - i.received_at) * 1000"))
  from inbox i join sagas s on s.id = i.saga_id where s.name = 'activate'" || true
echo "   sagas: $(stack_sql "select string_agg(format('%s %s', state, n), ', ') from (select state, count(*) n from sagas group by state) x")"
echo "   steps retried: $(stack_sql "select coalesce(string_agg(format('%s %s', name, n), ', '), 'none') from (select name, count(*) n from saga_steps where attempts > 1 group by name) x")"

# What each adapter call took inside ispflowd (admission to reply), and
# the calls the breakers' per-tenant concurrency limit parked.
echo "== adapter calls (ispflow_step_call_duration_seconds: calls, mean ms, p99 at most ms: the bucket bound it falls in)"
stack_http GET "$STACK_ADMIN_PORT" /metrics 2>/dev/null | awk '
  /^ispflow_step_call_duration_seconds_(sum|count|bucket)\{/ {
    match($0, /operation="[^"]*"/); op = substr($0, RSTART + 11, RLENGTH - 12)
    match($0, /outcome="[^"]*"/); oc = substr($0, RSTART + 9, RLENGTH - 10)
    k = op " " oc
    if ($0 ~ /_sum\{/) sum[k] = $NF
    else if ($0 ~ /_count\{/) cnt[k] = $NF
    else {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
      n[k]++; bound[k, n[k]] = le; below[k, n[k]] = $NF
    }
  }
  END {
    for (k in cnt) {
      if (cnt[k] == 0) continue
      p99 = "-"
      for (i = 1; i <= n[k]; i++)
        if (below[k, i] >= 0.99 * cnt[k]) {
          p99 = bound[k, i] == "+Inf" ? "inf" : sprintf("%g", 1000 * bound[k, i]); break
        }
      printf "   %-44s %7d %9.1f %8s\n", k, cnt[k], 1000 * sum[k] / cnt[k], p99
    }
  }' | sort || true

if [[ "${E2E_PG_STATS:-0}" == 1 ]]; then
  # Per measured activation: calls, ms of execution, plans made, ms of
  # planning and rows; the 15 costliest, then the 15 most frequent.
  for order in total_exec_time+total_plan_time calls; do
    echo "== PostgreSQL statements by ${order//+/ + } (pg_stat_statements, per measured activation: calls, exec ms, plans, plan ms, rows)"
    stack_sql "select format('   %6s %7s %6s %6s %6s  %s', round(calls::numeric / $measured, 2),
                             round((total_exec_time / $measured)::numeric, 3),
                             round(plans::numeric / $measured, 2),
                             round((total_plan_time / $measured)::numeric, 3),
                             round(rows::numeric / $measured, 2),
                             left(regexp_replace(query, '\s+', ' ', 'g'), 100))
               from pg_stat_statements order by $order desc limit 15" || true
  done
  echo "   in all: $(stack_sql "select format('%s calls, %s ms of execution and %s plans, %s ms of planning per activation', round(sum(calls)::numeric / $measured, 1), round((sum(total_exec_time) / $measured)::numeric, 2), round(sum(plans)::numeric / $measured, 1), round((sum(total_plan_time) / $measured)::numeric, 2)) from pg_stat_statements")"
  # What the writes cost the WAL (every statement of the run, the bench's
  # own queries above included), per measured activation.
  echo "   WAL: $(stack_sql "select format('%s records, %s bytes, %s full-page images, %s syncs per activation', round(wal_records::numeric / $measured, 1), round(wal_bytes / $measured), round(wal_fpi::numeric / $measured, 2), round(wal_sync::numeric / $measured, 2)) from pg_stat_wal")"
  # Work that is not per activation (the metrics refresh, retention, lease
  # renewals) falls below both lists however long each call takes; the
  # bench's own queries (lower case) are left out.
  echo "== PostgreSQL statements called less than once per 100 activations, by time (pg_stat_statements, in the measured steps: calls, ms in all, buffers per call)"
  stack_sql "select format('   %6s %8s %8s  %s', calls,
                           round((total_exec_time + total_plan_time)::numeric, 1),
                           round((shared_blks_hit + shared_blks_read)::numeric / calls),
                           left(regexp_replace(query, '\s+', ' ', 'g'), 100))
             from pg_stat_statements
             where calls * 100 < $measured and query !~ '^(select|create|with) '
             order by total_exec_time + total_plan_time desc limit 10" || true
  # Row versions written per table: an update that is not HOT writes an
  # entry into every index of the table as well.
  echo "== PostgreSQL row writes by table (pg_stat_user_tables, per measured activation: inserted, updated, of them HOT, deleted; indexes)"
  stack_sql "select format('   %6s %6s %6s %6s %3s  %s', round(n_tup_ins::numeric / $measured, 2),
                           round(n_tup_upd::numeric / $measured, 2),
                           round(n_tup_hot_upd::numeric / $measured, 2),
                           round(n_tup_del::numeric / $measured, 2),
                           (select count(*) from pg_index i where i.indrelid = t.relid), relname)
             from pg_stat_user_tables t where n_tup_ins + n_tup_upd + n_tup_del > 0
             order by n_tup_ins + n_tup_upd + n_tup_del desc" || true
  # A sequential scan in a step reads every row of its table: one that
  # comes back once per activation grows with the table.
  echo "== PostgreSQL sequential scans (pg_stat_user_tables, per measured activation: scans, rows read; the table's rows)"
  stack_sql "select format('   %8s %10s %8s  %s', round(seq_scan::numeric / $measured, 2),
                           round(seq_tup_read::numeric / $measured, 1), n_live_tup, relname)
             from pg_stat_user_tables where seq_scan > 0
             order by seq_tup_read desc limit 12" || true
  # Every index of those tables costs each insertion (and each update that
  # is not HOT) an entry, and each statement that writes the table its
  # opening; an index no scan read in the steps is a candidate to drop
  # (docs/benchmarks.md, twenty-seventh round), unless it enforces a
  # constraint or serves operators' look-ups the bench does not make.
  echo "== PostgreSQL index reads on those tables (pg_stat_user_indexes, per measured activation: scans, entries read)"
  stack_sql "select format('   %8s %8s  %s.%s%s', round(s.idx_scan::numeric / $measured, 2),
                           round(s.idx_tup_read::numeric / $measured, 2), s.relname, s.indexrelname,
                           case when i.indisunique then ' (unique)' else '' end)
             from pg_stat_user_indexes s
             join pg_index i on i.indexrelid = s.indexrelid
             join pg_stat_user_tables t on t.relid = s.relid
            where t.n_tup_ins + t.n_tup_upd + t.n_tup_del > 0
            order by s.relname, s.idx_scan desc, s.indexrelname" || true
fi

# The requests behind an activation, as each simulator counted them
# (VOLTHA's gRPC calls and ONOS's REST calls share the ONOS port's log).
if [[ "${E2E_CALLS:-0}" == 1 ]]; then
  echo "== simulator requests per measured activation (method, path with every segment that holds a digit as :id)"
  for sim in netbox:$STACK_NETBOX_PORT genieacs:$STACK_GENIEACS_PORT awx:$STACK_AWX_PORT voltha:$STACK_ONOS_PORT; do
    stack_http GET "${sim#*:}" "/_sim/calls?from_ms=$measured_from_ms" 2>/dev/null \
      | python3 "$here/sim_calls.py" "${sim%%:*}" "$measured" || true
  done
fi

# The activations are real: a few subscribers log in through the NAS
# simulator and FreeRADIUS.
accepted=0
for n in 1 2 3 4 5; do
  printf -v s 'sub-%06d' "$n"
  body=$(printf '{"username":"%s","password":"%s"}' "$(stack_username demo "$s")" "$(stack_password demo "$s")")
  answer=$(stack_http POST "$STACK_NAS_CONTROL_PORT" /sessions/login "$body" || true)
  [[ "$answer" == *'"accepted":true'* ]] && accepted=$((accepted + 1))
done
echo "   NAS logins through FreeRADIUS: $accepted of 5 accepted"
