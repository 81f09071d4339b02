#!/usr/bin/env bash
# The Debian package, built and run as an operator would get it:
#   1. `cpack -G DEB` in the build directory makes ispflow_*.deb;
#   2. its metadata: Depends on the Debian 12 runtime libraries (resolvable
#      by apt here), conffiles, maintainer scripts, the files it ships;
#   3. it is unpacked into a temporary root (dpkg-deb -x: no effect on this
#      machine's package database) and every library of its programs
#      resolves;
#   4. its systemd unit passes `systemd-analyze verify` and an exposure
#      check (`systemd-analyze security --offline`);
#   5. ispflowd from that root starts with the shipped example configuration
#      (kafka and postgres pointed at ispflow-bus from the same root and the
#      test PostgreSQL by ISPFLOW_* variables) under a NOTIFY_SOCKET made
#      here: READY=1 arrives, /readyz answers 200 "ready", WATCHDOG=1
#      follows, and SIGTERM ends it with STOPPING=1 and exit code 0.
#   deb_package_test.sh BUILD_DIR SOURCE_DIR
# ISPFLOW_TEST_PG_DSN: the test PostgreSQL (CTest fixture pg).
set -euo pipefail

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
: "${ISPFLOW_TEST_PG_DSN:?needs the pg fixture}"
work=$build/deploy-deb-test
rm -rf "$work"
mkdir -p "$work/pkg" "$work/root"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $work/ispflowd.log ]] && tail -n 20 "$work/ispflowd.log" >&2; exit 1; }
step() { echo "-- $*" >&2; }

step "cpack -G DEB"
(cd "$build" && cpack -G DEB -B "$work/pkg") >"$work/cpack.log" 2>&1 \
  || { tail -n 30 "$work/cpack.log" >&2; fail "cpack failed"; }
debs=("$work"/pkg/ispflow_*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || fail "want one ispflow_*.deb, got: ${debs[*]}"
deb=${debs[0]}
echo "package: $(basename "$deb") ($(du -h "$deb" | cut -f1))" >&2

step "metadata"
[[ $(dpkg-deb -f "$deb" Package) == ispflow ]] || fail "Package is not ispflow"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends" >&2
names=$(tr ',|' '\n\n' <<<"$depends" | sed 's/^ *//; s/[ (].*//')
for lib in libcaf-core0.17 librdkafka++1 libpqxx-6.4 libyaml-cpp0.7 libc6 adduser; do
  grep -qxF "$lib" <<<"$names" || fail "Depends lacks $lib"
done
# apt resolves every dependency on this Debian 12 machine (simulated).
apt-get install -s -qq "$deb" >"$work/apt.log" 2>&1 \
  || { cat "$work/apt.log" >&2; fail "apt cannot install the package"; }
dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/ispflow/ispflow.yaml "$work/control/conffiles" || fail "ispflow.yaml is not a conffile"
for s in postinst prerm postrm; do
  [[ -x $work/control/$s ]] || fail "no executable $s"
  sh -n "$work/control/$s" || fail "$s has a syntax error"
done

step "dpkg-deb -x into $work/root"
dpkg-deb -x "$deb" "$work/root"
r=$work/root
for f in usr/bin/ispflowd usr/bin/ispflowctl usr/bin/ispflow-sim usr/bin/ispflow-bus \
         etc/ispflow/ispflow.yaml lib/systemd/system/ispflowd.service \
         usr/lib/sysusers.d/ispflow.conf usr/share/doc/ispflow/operations.md \
         usr/share/ispflow/schema/0002_core.sql usr/share/ispflow/events/events.asyncapi.yaml; do
  [[ -e $r/$f ]] || fail "package lacks /$f"
done
[[ -d $r/etc/ispflow/secrets ]] || fail "package lacks /etc/ispflow/secrets"
for p in ispflowd ispflowctl ispflow-sim ispflow-bus; do
  if ldd "$r/usr/bin/$p" | grep -q 'not found'; then
    ldd "$r/usr/bin/$p" | grep 'not found' >&2
    fail "$p: unresolved libraries"
  fi
done

for p in ispflowctl ispflow-sim ispflow-bus; do
  "$r/usr/bin/$p" --help >/dev/null || fail "$p --help failed"
done

step "systemd-analyze verify"
"$src/tests/deploy/systemd_unit_test.sh" "$r/lib/systemd/system/ispflowd.service" "$r/usr/bin" "$work" \
  || fail "the packaged unit"

step "ispflowd from the unpacked root"
db=ispflow_deb_test
admin_dsn=$ISPFLOW_TEST_PG_DSN
psql "$admin_dsn" -qAtX -c "drop database if exists $db" >/dev/null
psql "$admin_dsn" -qAtX -c "create database $db" >/dev/null
dsn=${admin_dsn/dbname=postgres/dbname=$db}
[[ $dsn != "$admin_dsn" ]] || fail "cannot derive a DSN from $admin_dsn"

"$r/usr/bin/ispflow-bus" --partitions 2 --topic billing.events.v1 --topic lifecycle.events.v1 \
  --topic saga.events.v1 --topic billing.events.v1.dlq >"$work/bus.out" 2>"$work/bus.log" &
pids+=($!)
bootstrap=
for _ in $(seq 100); do
  bootstrap=$(sed -n 's/^bootstrap.servers=//p' "$work/bus.out" | head -n1)
  [[ -n $bootstrap ]] && break
  sleep 0.1
done
[[ -n $bootstrap ]] || fail "ispflow-bus did not start"

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ISPFLOW_KAFKA_BOOTSTRAP_SERVERS=$bootstrap ISPFLOW_POSTGRES_DSN=$dsn \
  ISPFLOW_ADMIN_LISTEN=127.0.0.1:$port
config=$r/etc/ispflow/ispflow.yaml
"$r/usr/bin/ispflowd" --config "$config" --check-config >/dev/null || fail "shipped configuration rejected"

"$src/tests/deploy/notify_listener.py" "$work/notify.sock" "$work/notify.log" &
pids+=($!)
for _ in $(seq 50); do [[ -S $work/notify.sock ]] && break; sleep 0.1; done
[[ -S $work/notify.sock ]] || fail "notify listener did not bind"

NOTIFY_SOCKET=$work/notify.sock WATCHDOG_USEC=2000000 \
  "$r/usr/bin/ispflowd" --config "$config" >"$work/ispflowd.log" 2>&1 &
daemon=$!
pids+=($daemon)
for _ in $(seq 600); do
  grep -qx READY=1 "$work/notify.log" && break
  kill -0 "$daemon" 2>/dev/null || fail "ispflowd exited before READY=1"
  sleep 0.1
done
grep -qx READY=1 "$work/notify.log" || fail "no READY=1 within 60 s"
echo "ispflowd sent READY=1" >&2

body=$(/usr/bin/python3 - "$port" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=10) as r:
    print(r.status, r.read().decode())
PY
) || fail "/readyz did not answer 200"
echo "/readyz: $body" >&2
[[ $body == 200* && $body == *'"status":"ready"'* ]] || fail "/readyz: $body"

# WATCHDOG=1 after READY=1 (every second with WATCHDOG_USEC=2 s).
for _ in $(seq 100); do
  sed -n '/^READY=1$/,$p' "$work/notify.log" | grep -qx WATCHDOG=1 && break
  sleep 0.1
done
sed -n '/^READY=1$/,$p' "$work/notify.log" | grep -qx WATCHDOG=1 || fail "no WATCHDOG=1 after READY=1"

kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[[ $rc -eq 0 ]] || fail "ispflowd exited $rc on SIGTERM"
grep -qx STOPPING=1 "$work/notify.log" || fail "no STOPPING=1"
psql "$admin_dsn" -qAtX -c "drop database if exists $db" >/dev/null || true
echo "deb package: OK" >&2
