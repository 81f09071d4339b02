#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for development, tests and the demo.
#   pg.sh start  DIR [PORT]   initdb if needed, start on DIR/sock and 127.0.0.1:PORT
#   pg.sh stop   DIR          fast shutdown
#   pg.sh status DIR          exit 0 when running
#   pg.sh dsn    DIR [PORT]   print the libpq connection string
# PG_OPTIONS="-c name=value ..." adds server settings at start (benchmarks).
# initdb refuses to run as root, so as root the cluster belongs to `postgres`.
set -euo pipefail

cmd=${1:-}; dir=${2:-}; port=${3:-55432}
[[ -n "$cmd" && -n "$dir" ]] || { sed -n '2,6p' "$0" >&2; exit 2; }

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -x "$pgbin/pg_ctl" ]] || { echo "pg.sh: no PostgreSQL server installed" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"; sock="$dir/sock"; log="$dir/server.log"

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}

dsn() { echo "host=$sock port=$port user=postgres dbname=${PGDATABASE:-postgres}"; }

case "$cmd" in
  start)
    if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$dir"; fi
    if [[ ! -f "$data/PG_VERSION" ]]; then
      as_owner "'$pgbin/initdb' -D '$data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
    fi
    as_owner "mkdir -p '$sock'"
    if as_owner "'$pgbin/pg_ctl' -D '$data' status" >/dev/null 2>&1; then
      echo "pg.sh: already running"; dsn; exit 0
    fi
    as_owner "'$pgbin/pg_ctl' -D '$data' -l '$log' -w -t 60 \
      -o \"-p $port -k '$sock' -c listen_addresses=127.0.0.1 -c max_connections=200 ${PG_OPTIONS:-}\" start" >/dev/null \
      || { echo "pg.sh: start failed, see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
    dsn
    ;;
  stop)
    if [[ -f "$data/PG_VERSION" ]]; then
      as_owner "'$pgbin/pg_ctl' -D '$data' -m fast -w stop" >/dev/null 2>&1 || true
    fi
    ;;
  status)
    as_owner "'$pgbin/pg_ctl' -D '$data' status" >/dev/null 2>&1
    ;;
  dsn)
    dsn
    ;;
  *)
    sed -n '2,6p' "$0" >&2; exit 2 ;;
esac
