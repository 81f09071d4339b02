# Shell functions that start and stop the embedded stack: a throwaway
# PostgreSQL, ispflow-bus (librdkafka's mock cluster), ispflowd and, for the
# demo, the network: ispflow-sim simulators and FreeRADIUS.
# Sourced by deploy/local/demo.sh, the e2e tests and the benchmarks.
#
#   STACK_DIR   where state and logs go (required)
#   STACK_BIN   directory with ispflowd, ispflow-bus, ispflow-sim (required)
#   STACK_PG_PORT  loopback port of PostgreSQL (default 55432)
#   STACK_DB    database name (default ispflow)

STACK_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${STACK_PG_PORT:=55432}"
: "${STACK_DB:=ispflow}"

stack_log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Finds a built program in STACK_BIN or below it.
stack_program() {
  local found
  # Not the copies the package test unpacks (build/*/deploy-deb-test): those
  # are as old as the last test run.
  found=$(find "$STACK_BIN" -path "$STACK_BIN/deploy-deb-test" -prune \
    -o -type f -name "$1" -perm -u+x -print 2>/dev/null | head -n1)
  [[ -n "$found" ]] || { echo "stack: $1 not built under $STACK_BIN" >&2; return 1; }
  echo "$found"
}

stack_pg_start() {
  mkdir -p "$STACK_DIR"
  "$STACK_SRC/pg.sh" start "$STACK_DIR/pg" "$STACK_PG_PORT" >/dev/null
  STACK_PG_ADMIN="host=$STACK_DIR/pg/sock port=$STACK_PG_PORT user=postgres dbname=postgres"
  if [[ -z $(psql "$STACK_PG_ADMIN" -Atc "select 1 from pg_database where datname='$STACK_DB'") ]]; then
    psql "$STACK_PG_ADMIN" -qc "create database \"$STACK_DB\"" >/dev/null
  fi
  STACK_DSN="host=$STACK_DIR/pg/sock port=$STACK_PG_PORT user=postgres dbname=$STACK_DB"
  export STACK_DSN
}

stack_pg_stop() { "$STACK_SRC/pg.sh" stop "$STACK_DIR/pg"; }

# Runs a query on the stack's database and prints the bare result.
stack_sql() { psql "$STACK_DSN" -qAtX -c "$1"; }

stack_bus_start() {
  local bus
  bus=$(stack_program ispflow-bus) || return 1
  rm -f "$STACK_DIR/bus.out"
  # The mock gives auto-created topics 4 partitions whatever --partitions
  # says, so every topic ispflow uses is created up front.
  "$bus" --partitions "${1:-6}" --topic billing.events.v1 --topic lifecycle.events.v1 \
    --topic saga.events.v1 --topic billing.events.v1.dlq \
    >"$STACK_DIR/bus.out" 2>"$STACK_DIR/bus.log" &
  STACK_BUS_PID=$!
  for _ in $(seq 100); do
    if head -n1 "$STACK_DIR/bus.out" 2>/dev/null | grep -q '^bootstrap.servers='; then
      STACK_BOOTSTRAP=$(head -n1 "$STACK_DIR/bus.out" | cut -d= -f2-)
      export STACK_BOOTSTRAP
      return 0
    fi
    sleep 0.1
  done
  echo "stack: ispflow-bus did not print its address" >&2
  return 1
}

stack_bus_stop() {
  [[ -n "${STACK_BUS_PID:-}" ]] || return 0
  kill -TERM "$STACK_BUS_PID" 2>/dev/null || true
  wait "$STACK_BUS_PID" 2>/dev/null || true
  STACK_BUS_PID=
}

# Starts ispflowd on the stack with the given YAML configuration.
stack_ispflowd_start() {
  local daemon config=${1:-$STACK_SRC/ispflow.yaml}
  daemon=$(stack_program ispflowd) || return 1
  # A short session timeout: after a SIGKILL the group rebalances in about
  # 4 s instead of 45 s (the mock waits session.timeout.ms - 1 s).
  # STACK_SESSION_TIMEOUT_MS sets another (the cluster test's).
  ISPFLOW_KAFKA_BOOTSTRAP_SERVERS=$STACK_BOOTSTRAP ISPFLOW_POSTGRES_DSN=$STACK_DSN \
    ISPFLOW_KAFKA_PROPERTIES_SESSION_TIMEOUT_MS=${STACK_SESSION_TIMEOUT_MS:-4000} \
    ISPFLOW_KAFKA_PROPERTIES_HEARTBEAT_INTERVAL_MS=1000 \
    "$daemon" --config "$config" >>"$STACK_DIR/ispflowd.log" 2>&1 &
  STACK_ISPFLOWD_PID=$!
}

# Stops ispflowd with a signal (TERM by default) and returns its exit code.
stack_ispflowd_stop() {
  local sig=${1:-TERM} rc=0
  [[ -n "${STACK_ISPFLOWD_PID:-}" ]] || return 0
  kill -"$sig" "$STACK_ISPFLOWD_PID" 2>/dev/null || true
  wait "$STACK_ISPFLOWD_PID" 2>/dev/null || rc=$?
  STACK_ISPFLOWD_PID=
  return $rc
}

# Waits until something accepts TCP connections on 127.0.0.1:PORT.
#   stack_wait_tcp PORT [SECONDS]   (default 10)
stack_wait_tcp() {
  local port=$1 tries=$(( ${2:-10} * 10 ))
  for _ in $(seq "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "stack: nothing listens on 127.0.0.1:$port" >&2
  return 1
}

# Fails, naming them, when any of the given TCP (listening) or UDP ports is
# taken on this host. Reads /proc/net, so it needs no extra tools.
stack_ports_free() {
  local taken
  taken=$(awk -v want=" $* " '
    FNR == 1 { udp = FILENAME ~ /udp/; next }
    {
      n = split($2, a, ":"); port = 0
      for (i = 1; i <= length(a[n]); i++) port = port * 16 + index("0123456789ABCDEF", substr(a[n], i, 1)) - 1
      if ((udp || $4 == "0A") && index(want, " " port " ")) print port
    }' /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null | sort -un | tr '\n' ' ')
  [[ -z "$taken" ]] && return 0
  echo "stack: port(s) already in use: $taken" >&2
  return 1
}

# A minimal HTTP/1.1 client over bash's /dev/tcp, for the simulators'
# control endpoints and health checks on loopback (no curl needed). Prints
# the response body; returns 0 on a 2xx status, 1 otherwise.
#   stack_http METHOD PORT PATH [JSON_BODY]
# STACK_HTTP_STATUS holds the status code afterwards.
stack_http() {
  local method=$1 port=$2 path=$3 body=${4:-} fd response head
  STACK_HTTP_STATUS=0
  # The group keeps the 2>/dev/null from sticking to the shell.
  { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "$method" "$path" "$port" "$(printf '%s' "$body" | wc -c)" "$body" >&"$fd"
  response=$(timeout 10 cat <&"$fd")
  exec {fd}>&-
  head=${response%%$'\r\n'*}
  [[ "$head" =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]] || return 1
  STACK_HTTP_STATUS=${BASH_REMATCH[1]}
  [[ "$response" == *$'\r\n\r\n'* ]] && printf '%s' "${response#*$'\r\n\r\n'}"
  [[ "$STACK_HTTP_STATUS" == 2* ]]
}

# Starts `ispflow-sim NAME ARGS...` in the background, its output in
# STACK_DIR/sim-NAME.log, and remembers its pid in STACK_SIM_PIDS[NAME].
# With STACK_SIM_WAIT=PORT set, waits until that TCP port accepts.
declare -gA STACK_SIM_PIDS=()
stack_sim_start() {
  local sim name=$1; shift
  sim=$(stack_program ispflow-sim) || return 1
  mkdir -p "$STACK_DIR"
  "$sim" "$name" "$@" >"$STACK_DIR/sim-$name.log" 2>&1 &
  STACK_SIM_PIDS[$name]=$!
  if [[ -n "${STACK_SIM_WAIT:-}" ]]; then
    if ! stack_wait_tcp "$STACK_SIM_WAIT" 10; then
      echo "stack: ispflow-sim $name did not start, see $STACK_DIR/sim-$name.log" >&2
      tail -n 5 "$STACK_DIR/sim-$name.log" >&2
      return 1
    fi
  fi
}

# Stops every simulator stack_sim_start started (by pid).
stack_sims_stop() {
  local name pid
  for name in "${!STACK_SIM_PIDS[@]}"; do
    pid=${STACK_SIM_PIDS[$name]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for name in "${!STACK_SIM_PIDS[@]}"; do
    wait "${STACK_SIM_PIDS[$name]}" 2>/dev/null || true
    unset "STACK_SIM_PIDS[$name]"
  done
}

# Starts FreeRADIUS (deploy/local/freeradius.sh) in STACK_DIR/radius on the
# stack's database, over TCP (it runs as freerad, which cannot reach the
# socket directory). The localhost client's secret is
# $ISPFLOW_RADIUS_SECRET (default testing123).
#   stack_radius_start AUTH_PORT ACCT_PORT
stack_radius_start() {
  STACK_RADIUS_DIR=$STACK_DIR/radius
  "$STACK_SRC/freeradius.sh" start "$STACK_RADIUS_DIR" \
    "host=127.0.0.1 port=$STACK_PG_PORT user=postgres dbname=$STACK_DB" "$1" "$2" >/dev/null
}

stack_radius_stop() {
  [[ -n "${STACK_RADIUS_DIR:-}" ]] || return 0
  "$STACK_SRC/freeradius.sh" stop "$STACK_RADIUS_DIR" || true
  STACK_RADIUS_DIR=
}

stack_stop_all() {
  stack_ispflowd_stop TERM || true
  stack_sims_stop
  stack_radius_stop
  stack_bus_stop
  stack_pg_stop
}

# Prints one structured-mode CloudEvent line "<key>\t<json>" for kcat -K'\t'.
#   stack_event ID TYPE TENANT SUBSCRIBER DATA_JSON
stack_event() {
  printf '%s\t{"specversion":"1.0","id":"%s","source":"billing.example","type":"%s","time":"2026-11-23T12:00:00Z","subject":"%s","tenantid":"%s","datacontenttype":"application/json","data":%s}\n' \
    "$4" "$1" "$2" "$4" "$3" "$5"
}

# Sets STACK_PAYLOAD to an FTTH activation for subscriber $2 of tenant $1 on
# plan $3 (no subshell, so generators stay fast). The ONU serial, CPE serial
# and PPPoE credentials derive from the subscriber id's digits n:
#   ONU  ALCL<n, 8 decimal digits>   (ispflow-sim voltha --serial-prefix ALCL
#                                    numbers its ONUs ALCL00000001, ...)
#   CPE  OUI 00259E, class HG8245, serial CPE<n, 8 digits>  (see stack_cpe_seed)
#   user <subscriber>@<tenant>.example (FreeRADIUS's filter_username wants a
#        dot in the realm), password stack_password (demo only)
stack_activation_payload() {
  local n=${2//[^0-9]/}
  n=$((10#${n:-0}))
  printf -v STACK_PAYLOAD '{"schema_version":1,"tenant_id":"%s","subscriber_id":"%s","plan_id":"%s","service_type":"ftth","site":"pop-1","access":{"onu_serial":"ALCL%08d","cpe":{"serial":"CPE%08d","oui":"00259E","product_class":"HG8245"}},"credentials":{"username":"%s@%s.example","password":"pw-%s-%08d"}}' \
    "$1" "$2" "$3" "$n" "$n" "$2" "$1" "$1" "$n"
}

# Prints the PPPoE user name and password stack_activation_payload gives
# subscriber $2 of tenant $1 (demo values, not secrets).
stack_username() { printf '%s@%s.example' "$2" "$1"; }
stack_password() {
  local n=${2//[^0-9]/}
  printf 'pw-%s-%08d' "$1" "$((10#${n:-0}))"
}

# Prints a GenieACS simulator seed (YAML) with the CPEs of subscribers
# 1..$1 as stack_activation_payload names them.
stack_cpe_seed() {
  local i
  echo "devices:"
  for ((i = 1; i <= $1; i++)); do
    printf '  - {oui: "00259E", product_class: HG8245, serial: CPE%08d, manufacturer: Huawei}\n' "$i"
  done
}

# Prints the payload that stack_activation_payload makes.
stack_activation() {
  stack_activation_payload "$@"
  printf '%s' "$STACK_PAYLOAD"
}

# Produces the lines on stdin to TOPIC in structured mode.
stack_produce() {
  kcat -b "$STACK_BOOTSTRAP" -P -t "$1" -K $'\t' \
    -H content-type=application/cloudevents+json
}

# -- the demo network ---------------------------------------------------------
# Ports of the demo network, from STACK_PORT_BASE (default 18100, the ports
# deploy/local/ispflow.yaml names): NetBox +1, GenieACS +2, AWX +3, VOLTHA
# gRPC +4, ONOS REST +5, NAS CoA +6 and control +7, FreeRADIUS auth +12 and
# acct +13; the admin API on STACK_ADMIN_PORT (default 8089). With other
# ports, stack_network_up points ispflowd at them through ISPFLOW_*
# variables it exports.
stack_network_ports() {
  local b=${STACK_PORT_BASE:-18100}
  STACK_NETBOX_PORT=$((b + 1)) STACK_GENIEACS_PORT=$((b + 2)) STACK_AWX_PORT=$((b + 3))
  STACK_VOLTHA_PORT=$((b + 4)) STACK_ONOS_PORT=$((b + 5))
  STACK_NAS_COA_PORT=$((b + 6)) STACK_NAS_CONTROL_PORT=$((b + 7))
  STACK_RADIUS_AUTH_PORT=$((b + 12)) STACK_RADIUS_ACCT_PORT=$((b + 13))
  STACK_ADMIN_PORT=${STACK_ADMIN_PORT:-8089}
  if [[ $b != 18100 || $STACK_ADMIN_PORT != 8089 ]]; then
    export ISPFLOW_TENANTS_0_NETBOX_URL=http://127.0.0.1:$STACK_NETBOX_PORT
    export ISPFLOW_TENANTS_0_GENIEACS_URL=http://127.0.0.1:$STACK_GENIEACS_PORT
    export ISPFLOW_TENANTS_0_AWX_URL=http://127.0.0.1:$STACK_AWX_PORT/api/v2/
    export ISPFLOW_TENANTS_0_VOLTHA_GRPC=127.0.0.1:$STACK_VOLTHA_PORT
    export ISPFLOW_TENANTS_0_VOLTHA_ONOS_URL=http://127.0.0.1:$STACK_ONOS_PORT
    export ISPFLOW_NAS_0_COA_PORT=$STACK_NAS_COA_PORT
    export ISPFLOW_ADMIN_LISTEN=127.0.0.1:$STACK_ADMIN_PORT
  fi
}
stack_network_ports

# Waits until ispflowd answers /healthz and its tables exist (30 s).
stack_ispflowd_ready() {
  for _ in $(seq 150); do
    if ! kill -0 "$STACK_ISPFLOWD_PID" 2>/dev/null; then
      tail -n 20 "$STACK_DIR/ispflowd.log" >&2
      echo "stack: ispflowd exited, see $STACK_DIR/ispflowd.log" >&2
      return 1
    fi
    stack_http GET "$STACK_ADMIN_PORT" /healthz >/dev/null \
      && [[ $(stack_sql "select count(*) from information_schema.tables where table_name in ('inbox','sagas','nas')" 2>/dev/null) == 3 ]] \
      && return 0
    sleep 0.2
  done
  stack_http GET "$STACK_ADMIN_PORT" /healthz >/dev/null && return 0
  echo "stack: ispflowd does not answer on 127.0.0.1:$STACK_ADMIN_PORT, see $STACK_DIR/ispflowd.log" >&2
  return 1
}

# Starts the demo's whole stack (make demo, make chaos): PostgreSQL, the bus,
# the simulators (NetBox, GenieACS with SEEDED CPEs, AWX, VOLTHA/ONOS with
# enough ONUs for SEEDED subscribers), ispflowd with CONFIG, FreeRADIUS on
# the same database and the NAS simulator. Logs each step; on failure says
# what failed and returns 1.
#   stack_network_up CONFIG SEEDED
# The simulators' delays and the NetBox seed default to the demo's; the
# benchmark (bench-e2e.sh) sets them:
#   STACK_NETBOX_SEED   NetBox seed file (default demo/netbox-seed.yaml)
#   STACK_AWX_DELAYS_MS "pending running finish" job ages in ms (default "50 100 300")
#   STACK_VOLTHA_DELAY_MS  ONU state transition delay (default 100)
#   STACK_VOLTHA_PROGRAM_DELAY_MS  olt app answer to programmed-subscribers
#                       listing the service (default 100)
stack_network_up() {
  local config=$1 seeded=$2 secrets=$STACK_SRC/demo-secrets olts awx_ms
  read -ra awx_ms <<<"${STACK_AWX_DELAYS_MS:-50 100 300}"
  stack_log "starting PostgreSQL on 127.0.0.1:$STACK_PG_PORT ($STACK_DIR/pg)"
  stack_pg_start || return 1
  stack_log "starting ispflow-bus (librdkafka mock cluster)"
  stack_bus_start 6 || { echo "stack: ispflow-bus did not start, see $STACK_DIR/bus.log" >&2; return 1; }
  stack_log "bus at $STACK_BOOTSTRAP"

  stack_log "starting the simulators: NetBox :$STACK_NETBOX_PORT, GenieACS :$STACK_GENIEACS_PORT, AWX :$STACK_AWX_PORT, VOLTHA :$STACK_VOLTHA_PORT/:$STACK_ONOS_PORT"
  stack_cpe_seed "$seeded" >"$STACK_DIR/genieacs-seed.yaml"
  olts=$(((seeded + 127) / 128))
  STACK_SIM_WAIT=$STACK_NETBOX_PORT stack_sim_start netbox --port "$STACK_NETBOX_PORT" \
    --seed "${STACK_NETBOX_SEED:-$STACK_SRC/demo/netbox-seed.yaml}" --token-file "$secrets/netbox-token" || return 1
  STACK_SIM_WAIT=$STACK_GENIEACS_PORT stack_sim_start genieacs --port "$STACK_GENIEACS_PORT" \
    --seed "$STACK_DIR/genieacs-seed.yaml" || return 1
  STACK_SIM_WAIT=$STACK_AWX_PORT stack_sim_start awx --port "$STACK_AWX_PORT" \
    --seed "$STACK_SRC/demo/awx-seed.yaml" --token-file "$secrets/awx-token" \
    --pending-after-ms "${awx_ms[0]}" --running-after-ms "${awx_ms[1]}" --finish-after-ms "${awx_ms[2]}" || return 1
  STACK_SIM_WAIT=$STACK_ONOS_PORT stack_sim_start voltha --grpc-port "$STACK_VOLTHA_PORT" --rest-port "$STACK_ONOS_PORT" \
    --olts "$olts" --onus-per-olt 128 --serial-prefix ALCL --transition-delay-ms "${STACK_VOLTHA_DELAY_MS:-100}" \
    --program-delay-ms "${STACK_VOLTHA_PROGRAM_DELAY_MS:-100}" \
    --sadis-service 100/0/64 \
    --onos-user onos --onos-password-file "$secrets/onos-password" || return 1
  stack_wait_tcp "$STACK_VOLTHA_PORT" 10 || { echo "stack: voltha simulator: no gRPC on $STACK_VOLTHA_PORT" >&2; return 1; }
  stack_log "seeded: NetBox $(basename "${STACK_NETBOX_SEED:-netbox-seed.yaml}") (tenant demo, site pop-1), $seeded CPEs, $olts OLT(s) with $((olts * 128)) ONUs (ALCL00000001...), AWX template 1"

  stack_log "starting ispflowd (admin API and console on http://127.0.0.1:$STACK_ADMIN_PORT)"
  stack_ispflowd_start "$config"
  stack_ispflowd_ready || return 1

  # ispflowd writes the configured NASes (nas: in ispflow.yaml) into
  # FreeRADIUS's `nas` table at start. Stop-gap for a build that does not:
  # the same row, written here, so FreeRADIUS accepts the NAS simulator.
  if [[ $(stack_sql "select count(*) from nas where nasname = '127.0.0.1'") == 0 ]]; then
    stack_log "WARNING: ispflowd wrote no nas row; inserting demo-bng by psql (stop-gap)"
    psql "$STACK_DSN" -qX -v ON_ERROR_STOP=1 -v secret="$(<"$secrets/nas-secret")" -v port="$STACK_NAS_COA_PORT" >/dev/null <<'SQL'
insert into nas (nasname, shortname, type, ports, secret, description)
values ('127.0.0.1', 'demo-bng', 'mikrotik', :port, :'secret', 'ispflow');
SQL
  fi
  stack_log "nas table: $(stack_sql "select string_agg(format('%s %s (%s, CoA port %s)', shortname, nasname, type, ports), '; ') from nas")"

  stack_log "starting FreeRADIUS on 127.0.0.1:$STACK_RADIUS_AUTH_PORT/$STACK_RADIUS_ACCT_PORT (clients from the nas table)"
  # The localhost client of freeradius.sh is 127.0.0.1 too, like the NAS
  # simulator: it gets the NAS's secret so both definitions agree.
  ISPFLOW_RADIUS_SECRET=$(<"$secrets/nas-secret") stack_radius_start "$STACK_RADIUS_AUTH_PORT" "$STACK_RADIUS_ACCT_PORT" \
    || { echo "stack: FreeRADIUS did not start, see $STACK_DIR/radius/radius.log" >&2; return 1; }

  stack_log "starting the NAS simulator (CoA :$STACK_NAS_COA_PORT, control :$STACK_NAS_CONTROL_PORT)"
  STACK_SIM_WAIT=$STACK_NAS_CONTROL_PORT stack_sim_start nas --radius "127.0.0.1:$STACK_RADIUS_AUTH_PORT" \
    --acct "127.0.0.1:$STACK_RADIUS_ACCT_PORT" --secret-file "$secrets/nas-secret" \
    --coa-port "$STACK_NAS_COA_PORT" --control-port "$STACK_NAS_CONTROL_PORT" --nas-ip 127.0.0.1 || return 1
}
