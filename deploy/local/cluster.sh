# Shell functions that run several ispflowd instances on the embedded stack
# (one PostgreSQL, one bus, one consumer group): the multi-instance demo
# (DEMO_INSTANCES=3 make demo), the e2e failover test and the cluster
# benchmark. Source deploy/local/stack.sh first.
#
# Instance 1 is the one stack_network_up / stack_ispflowd_start starts
# (STACK_ISPFLOWD_PID, STACK_DIR/ispflowd.log, admin port STACK_ADMIN_PORT);
# cluster_start_instance starts instance I >= 2 with its own instance.id,
# admin port STACK_ADMIN_PORT + I - 1 and log STACK_DIR/ispflowd-node-I.log.
# Every instance is named node-I (instance.id): export CLUSTER_NAMED=1 (done
# by cluster_name_first) before stack_network_up so that instance 1 is too.
#
#   CLUSTER_PIDS[I]   pid of instance I (1 included, once started)
#   CLUSTER_PORTS[I]  its admin port
#   CLUSTER_LOGS[I]   its log file
#   CLUSTER_TOKEN     admin token for GET /v1/cluster (default: the demo's)

declare -gA CLUSTER_PIDS=() CLUSTER_PORTS=() CLUSTER_LOGS=()
: "${CLUSTER_TOKEN:=demo-operator-token}"

# Names instance 1 node-1: call before stack_network_up / stack_ispflowd_start.
cluster_name_first() {
  export ISPFLOW_INSTANCE_ID=node-1
}

# Records instance 1 (started by stack_ispflowd_start) in the CLUSTER_* maps.
cluster_adopt_first() {
  CLUSTER_PIDS[1]=$STACK_ISPFLOWD_PID
  CLUSTER_PORTS[1]=$STACK_ADMIN_PORT
  CLUSTER_LOGS[1]=$STACK_DIR/ispflowd.log
}

# Starts instance I (>= 2) with CONFIG, the same environment as
# stack_ispflowd_start (its short consumer group session) and its own
# instance.id and admin port; waits until it answers /healthz.
#   cluster_start_instance I CONFIG
cluster_start_instance() {
  local i=$1 config=$2 daemon port
  daemon=$(stack_program ispflowd) || return 1
  port=$((STACK_ADMIN_PORT + i - 1))
  CLUSTER_PORTS[$i]=$port
  CLUSTER_LOGS[$i]=$STACK_DIR/ispflowd-node-$i.log
  ISPFLOW_KAFKA_BOOTSTRAP_SERVERS=$STACK_BOOTSTRAP ISPFLOW_POSTGRES_DSN=$STACK_DSN \
    ISPFLOW_KAFKA_PROPERTIES_SESSION_TIMEOUT_MS=${STACK_SESSION_TIMEOUT_MS:-4000} \
    ISPFLOW_KAFKA_PROPERTIES_HEARTBEAT_INTERVAL_MS=1000 \
    ISPFLOW_INSTANCE_ID=node-$i ISPFLOW_ADMIN_LISTEN=127.0.0.1:$port \
    "$daemon" --config "$config" >>"${CLUSTER_LOGS[$i]}" 2>&1 &
  CLUSTER_PIDS[$i]=$!
  cluster_instance_ready "$i"
}

# Waits (30 s) until instance I answers /healthz.
cluster_instance_ready() {
  local i=$1
  for _ in $(seq 150); do
    if ! kill -0 "${CLUSTER_PIDS[$i]}" 2>/dev/null; then
      tail -n 20 "${CLUSTER_LOGS[$i]}" >&2
      echo "cluster: node-$i exited, see ${CLUSTER_LOGS[$i]}" >&2
      return 1
    fi
    stack_http GET "${CLUSTER_PORTS[$i]}" /healthz >/dev/null && return 0
    sleep 0.2
  done
  echo "cluster: node-$i does not answer on 127.0.0.1:${CLUSTER_PORTS[$i]}" >&2
  return 1
}

# Whether instance I's process exists (a stopped one counts).
cluster_alive() { [[ -n "${CLUSTER_PIDS[$1]:-}" ]] && kill -0 "${CLUSTER_PIDS[$1]}" 2>/dev/null; }

# Sends SIGNAL to instance I; KILL and TERM also reap it (its exit code is
# then in CLUSTER_RC).
#   cluster_signal I SIGNAL
cluster_signal() {
  local i=$1 sig=$2 pid=${CLUSTER_PIDS[$1]:-}
  [[ -n "$pid" ]] || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
  if [[ "$sig" == KILL || "$sig" == TERM ]]; then
    CLUSTER_RC=0
    wait "$pid" 2>/dev/null || CLUSTER_RC=$?
    CLUSTER_PIDS[$i]=
    [[ "$i" == 1 ]] && STACK_ISPFLOWD_PID=
  fi
  return 0
}

# Stops every instance (a stopped one is continued first), by pid.
cluster_stop_all() {
  local i
  for i in "${!CLUSTER_PIDS[@]}"; do
    [[ -n "${CLUSTER_PIDS[$i]}" ]] || continue
    kill -CONT "${CLUSTER_PIDS[$i]}" 2>/dev/null || true
    kill -TERM "${CLUSTER_PIDS[$i]}" 2>/dev/null || true
  done
  for i in "${!CLUSTER_PIDS[@]}"; do
    [[ -n "${CLUSTER_PIDS[$i]}" ]] || continue
    wait "${CLUSTER_PIDS[$i]}" 2>/dev/null || true
    CLUSTER_PIDS[$i]=
  done
  STACK_ISPFLOWD_PID=
}

# GET PATH on 127.0.0.1:PORT with the admin token; prints the body, returns
# 0 on a 2xx status (bash's /dev/tcp, like stack_http).
#   cluster_get PORT PATH
cluster_get() {
  local port=$1 path=$2 fd response head
  { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\nAuthorization: Bearer %s\r\n\r\n' \
    "$path" "$port" "$CLUSTER_TOKEN" >&"$fd"
  response=$(timeout 10 cat <&"$fd")
  exec {fd}>&-
  head=${response%%$'\r\n'*}
  [[ "$head" =~ ^HTTP/1\.[01]\ (2[0-9][0-9]) ]] || return 1
  printf '%s' "${response#*$'\r\n\r\n'}"
}

# GET /v1/cluster from the first live, running instance; prints the JSON.
cluster_view() {
  local i state
  for i in $(printf '%s\n' "${!CLUSTER_PIDS[@]}" | sort -n); do
    cluster_alive "$i" || continue
    state=$(awk '{print $3}' "/proc/${CLUSTER_PIDS[$i]}/stat" 2>/dev/null)
    [[ "$state" == T ]] && continue
    cluster_get "${CLUSTER_PORTS[$i]}" /v1/cluster && return 0
  done
  return 1
}

# Prints one line per partition of a GET /v1/cluster JSON ($1): partition,
# owner, epoch, claimed at.
cluster_partitions() {
  psql "$STACK_DSN" -qAtX -v j="$1" <<'SQL'
select format('  p%s %-8s epoch %-4s claimed %s', x->>'partition', coalesce(nullif(x->>'instance_id', ''), '(none)'),
              x->>'epoch', substr(x->>'claimed_at', 12, 12))
  from jsonb_array_elements(:'j'::jsonb->'partitions') x order by (x->>'partition')::int;
SQL
}

# Prints "I1:p,p I2:p,p" from a GET /v1/cluster JSON ($1): which instance
# holds which partitions.
cluster_owners_line() {
  psql "$STACK_DSN" -qAtX -v j="$1" <<'SQL'
select coalesce(string_agg(format('%s:%s', i, ps), ' ' order by i), '-') from (
  select x->>'instance_id' i, string_agg(x->>'partition', ',' order by (x->>'partition')::int) ps
  from jsonb_array_elements(:'j'::jsonb->'partitions') x where x->>'instance_id' <> '' group by 1) y;
SQL
}

# The partitions instance node-I holds, from partition_owners, comma-separated.
cluster_held_by() {
  stack_sql "select coalesce(string_agg(partition::text, ',' order by partition), '') from partition_owners where instance_id = 'node-$1'"
}

# Waits (up to $2 s, default 60) until every partition of billing.events.v1
# (6 on the stack's bus) is held and only by running instances in the list
# $1 (e.g. "1 3"); returns 1 on timeout.
#   cluster_wait_owners "1 2 3" [SECONDS]
cluster_wait_owners() {
  local want=$1 limit=${2:-60} t0 names i
  names=$(for i in $want; do printf "'node-%s'," "$i"; done)
  names=${names%,}
  t0=$(date +%s)
  while (($(date +%s) - t0 <= limit)); do
    [[ $(stack_sql "select count(*) = 6 and bool_and(instance_id in ($names))
                      and count(distinct instance_id) = $(wc -w <<<"$want") from partition_owners" 2>/dev/null) == t ]] && return 0
    sleep 0.2
  done
  return 1
}

# The sum of a counter over its label sets on instance I's /metrics.
#   cluster_metric I NAME
cluster_metric() {
  local body
  body=$(stack_http GET "${CLUSTER_PORTS[$1]}" /metrics) || { echo 0; return 0; }
  awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d\n", s }' <<<"$body"
}

# Milliseconds since the Unix epoch (the simulators' call times).
cluster_now_ms() { date +%s%3N; }
