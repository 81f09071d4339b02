#!/usr/bin/env bash
# A local FreeRADIUS 3.2 authenticating and accounting from PostgreSQL.
#   freeradius.sh start  DIR DSN AUTH_PORT ACCT_PORT [COA_PORT]
#   freeradius.sh stop   DIR
#   freeradius.sh status DIR     exit 0 when running
#   freeradius.sh check  DIR     freeradius -C -X on the generated config
# start generates DIR/raddb from /etc/freeradius/3.0 (loopback only, no EAP,
# no inner-tunnel, rlm_sql with dialect postgresql against DSN, NAS clients
# read from the `nas` table, a localhost client, a coa-peer virtual server on
# COA_PORT when given), runs `freeradius -f` in the background with its log in
# DIR/radius.log, waits until it has bound its ports and answers Status-Server
# (it fails when another process holds a port) and writes DIR/radius.pid.
# The localhost client's secret is $ISPFLOW_RADIUS_SECRET (default testing123).
# The database must be up and hold FreeRADIUS's tables (schema/0001).
set -euo pipefail

usage() { sed -n '2,14p' "$0" >&2; exit 2; }
cmd=${1:-}; dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || usage
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
templates="$here/freeradius"
stock=${ISPFLOW_FREERADIUS_STOCK:-/etc/freeradius/3.0}
pidfile="$dir/radius.pid"

running() {
  [[ -f "$pidfile" ]] || return 1
  local pid; pid=$(cat "$pidfile")
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# Escapes a value for a double-quoted FreeRADIUS config string.
conf_quote() {
  local v=$1
  v=${v//\\/\\\\}; v=${v//\"/\\\"}
  printf '%s' "$v"
}

# Replaces @NAME@ in a template without putting values on a command line.
fill() {
  local src=$1 dst=$2; shift 2
  local text; text=$(<"$src")
  while (($#)); do
    text=${text//"@$1@"/$2}
    shift 2
  done
  printf '%s\n' "$text" >"$dst"
}

probe() {
  local port=$1 secret=$2
  printf 'Message-Authenticator = 0x00\n' \
    | radclient -q -r 1 -t 1 "127.0.0.1:$port" status "$secret" >/dev/null 2>&1
}

case "$cmd" in
  start)
    dsn=${3:-}; auth_port=${4:-}; acct_port=${5:-}; coa_port=${6:-}
    [[ -n "$dsn" && -n "$auth_port" && -n "$acct_port" ]] || usage
    for p in "$auth_port" "$acct_port" ${coa_port:+"$coa_port"}; do
      [[ "$p" =~ ^[0-9]+$ ]] || { echo "freeradius.sh: bad port: $p" >&2; exit 2; }
    done
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd); pidfile="$dir/radius.pid"
    if running; then echo "freeradius.sh: already running (pid $(cat "$pidfile"))"; exit 0; fi
    secret=${ISPFLOW_RADIUS_SECRET:-testing123}
    raddb="$dir/raddb"
    rm -rf "$raddb"
    cp -a "$stock" "$raddb"

    # Modules: SQL on, EAP off (it cannot load without certificates).
    rm -f "$raddb/mods-enabled/eap"
    ln -sfn ../mods-available/sql "$raddb/mods-enabled/sql"
    sql="$raddb/mods-available/sql"
    sed -i -E \
      -e 's/^(\s*)dialect = .*/\1dialect = "postgresql"/' \
      -e 's/^(\s*)driver = "rlm_sql_null"/\1driver = "rlm_sql_${dialect}"/' \
      -e 's/^#(\s*)read_clients = yes/\1read_clients = yes/' \
      "$sql"
    # radius_db holds the DSN (maybe a password): written by bash, never on a
    # command line or in the output.
    quoted=$(conf_quote "$dsn")
    text=$(<"$sql")
    text=${text/radius_db = \"radius\"/radius_db = \"$quoted\"}
    printf '%s\n' "$text" >"$sql"
    grep -q '^\s*read_clients = yes' "$sql" \
      || { echo "freeradius.sh: could not enable read_clients in $sql" >&2; exit 1; }
    grep -q '^\s*dialect = "postgresql"' "$sql" \
      || { echo "freeradius.sh: could not set the SQL dialect in $sql" >&2; exit 1; }

    # Sites: only ours (no default, no inner-tunnel on 18120).
    rm -f "$raddb"/sites-enabled/*
    fill "$templates/site-ispflow" "$raddb/sites-available/ispflow" \
      AUTH_PORT "$auth_port" ACCT_PORT "$acct_port"
    ln -s ../sites-available/ispflow "$raddb/sites-enabled/ispflow"
    if [[ -n "$coa_port" ]]; then
      fill "$templates/site-coa-peer" "$raddb/sites-available/coa-peer" \
        COA_PORT "$coa_port"
      ln -s ../sites-available/coa-peer "$raddb/sites-enabled/coa-peer"
    fi
    fill "$templates/clients.conf" "$raddb/clients.conf" \
      LOCAL_SECRET "$(conf_quote "$secret")"

    # No proxying (it would bind a wildcard port); logs and pid under DIR.
    # Each authentication's outcome and reason goes to the log ("Login
    # incorrect (sql: ...): [user]"), never a password (auth_badpass and
    # auth_goodpass stay off).
    sed -i -E \
      -e 's/^proxy_requests\s*=.*/proxy_requests = no/' \
      -e 's/^(\s*)auth = no/\1auth = yes/' \
      -e "s|^logdir = .*|logdir = $dir/log|" \
      -e "s|^run_dir = .*|run_dir = $dir/run|" \
      "$raddb/radiusd.conf"
    mkdir -p "$dir/log" "$dir/run"
    : >"$dir/radius.log"
    # The server starts as root and drops to freerad: it must read the
    # config and write its log; others get nothing (the DSN is in there).
    if [[ $(id -u) -eq 0 ]] && getent group freerad >/dev/null; then
      chmod o+x "$dir"
      chown -R root:freerad "$raddb"
      chmod -R g+rX,o-rwx "$raddb"
      chown freerad:freerad "$dir/log" "$dir/run" "$dir/radius.log"
    else
      chmod -R go-rwx "$raddb"
    fi

    freeradius -f -d "$raddb" -l "$dir/radius.log" </dev/null >>"$dir/radius.log" 2>&1 &
    pid=$!
    echo "$pid" >"$pidfile"
    for _ in $(seq 1 100); do
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "freeradius.sh: freeradius exited, see $dir/radius.log" >&2
        tail -n 20 "$dir/radius.log" >&2
        rm -f "$pidfile"; exit 1
      fi
      # Ready only once this server has bound every port ("Ready to process
      # requests" follows the last bind): a Status-Server answer alone may
      # come from another server holding the port, while this one fails to
      # bind and exits.
      if grep -q 'Ready to process requests' "$dir/radius.log" \
        && kill -0 "$pid" 2>/dev/null && probe "$auth_port" "$secret"; then
        echo "freeradius.sh: running (pid $pid, auth 127.0.0.1:$auth_port, acct $acct_port${coa_port:+, coa $coa_port})"
        exit 0
      fi
      sleep 0.1
    done
    echo "freeradius.sh: no answer on 127.0.0.1:$auth_port, see $dir/radius.log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$pidfile"; exit 1
    ;;
  stop)
    if running; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
        # Gone before returning: its ports are free for the next start.
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
    fi
    rm -f "$pidfile"
    ;;
  status)
    running
    ;;
  check)
    freeradius -C -X -d "$dir/raddb" -l stdout
    ;;
  *)
    usage ;;
esac
