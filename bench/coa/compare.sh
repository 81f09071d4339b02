#!/usr/bin/env bash
# Disconnect-Request throughput against one throwaway FreeRADIUS CoA listener
# (a `listen { type = coa }` virtual server that ACKs user<N>/alice/bob and
# NAKs everyone else with Session-Context-Not-Found), measured three ways in
# one run:
#   (a) one radclient process per request (loop of $LOOP_N),
#   (b) one `radclient -p 64 -f file` reading $FILE_N packets,
#   (c) ispflow-coa-bench --requests $BENCH_N --window $WINDOW.
# Usage: bench/coa/compare.sh [path/to/ispflow-coa-bench]
# Environment: COA_PORT (21855), LOOP_N (200), FILE_N (1000), BENCH_N (20000),
# WINDOW (64). Must run as root (FreeRADIUS drops to freerad).
set -euo pipefail

BENCH_BIN=${1:-$(dirname "$0")/../../build/radproto/bench/coa/ispflow-coa-bench}
COA_PORT=${COA_PORT:-21855}
LOOP_N=${LOOP_N:-200}
FILE_N=${FILE_N:-1000}
BENCH_N=${BENCH_N:-20000}
WINDOW=${WINDOW:-64}
SECRET=testing123

[ -x "$BENCH_BIN" ] || { echo "no ispflow-coa-bench at $BENCH_BIN" >&2; exit 2; }
command -v freeradius >/dev/null || { echo "freeradius not installed" >&2; exit 2; }

DIR=$(mktemp -d /tmp/ispflow-coa-bench.XXXXXX)
chmod 755 "$DIR"
RAD_PID=
cleanup() {
  if [ -n "$RAD_PID" ]; then kill "$RAD_PID" 2>/dev/null || true; wait "$RAD_PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

cp -a /etc/freeradius/3.0 "$DIR/raddb"
# Only the CoA peer: no auth/acct site, no EAP (it needs certificates).
rm -f "$DIR"/raddb/sites-enabled/* "$DIR/raddb/mods-enabled/eap"
cat > "$DIR/raddb/sites-available/coa-peer" <<CONF
listen {
	type = coa
	ipaddr = 127.0.0.1
	port = $COA_PORT
	virtual_server = coa-peer
}
server coa-peer {
	recv-coa {
		# Sign replies to ispflow-coa-bench (Acct-Session-Id bench-N) with
		# Message-Authenticator: ispflow requires it. radclient 3.2.1 cannot
		# verify the Message-Authenticator FreeRADIUS 3.2.1 puts on
		# Disconnect-ACK (it is computed over a zeroed authenticator), so
		# radclient's requests get unsigned replies.
		if (&Acct-Session-Id =~ /^bench-/) {
			update reply {
				&Message-Authenticator := 0x00
			}
		}
		if (&User-Name =~ /^(alice|bob|user[0-9]+)\$/) {
			ok
		}
		else {
			update reply {
				&Error-Cause := Session-Context-Not-Found
			}
			reject
		}
	}
	send-coa {
		ok
	}
}
CONF
ln -s ../sites-available/coa-peer "$DIR/raddb/sites-enabled/coa-peer"
mkdir -p "$DIR/log" && chown freerad "$DIR/log"
freeradius -f -d "$DIR/raddb" -l "$DIR/log/radius.log" &
RAD_PID=$!
for _ in $(seq 1 100); do
  if echo 'User-Name = "alice"' | radclient -q -r 1 -t 1 "127.0.0.1:$COA_PORT" disconnect "$SECRET" >/dev/null 2>&1; then
    break
  fi
  sleep 0.1
done

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }

# (a) one radclient process per request, as the earlier platform shipped.
t0=$(now)
for i in $(seq 1 "$LOOP_N"); do
  printf 'User-Name = "user%d"\nAcct-Session-Id = "loop-%d"\nNAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00\n' "$i" "$i" \
    | radclient -q -r 3 -t 1 "127.0.0.1:$COA_PORT" disconnect "$SECRET" >/dev/null
done
t1=$(now)
A=$(rate "$LOOP_N" "$t0" "$t1")

# (b) one radclient, -p 64, packets from a file (blank-line separated).
for i in $(seq 1 "$FILE_N"); do
  printf 'User-Name = "user%d"\nAcct-Session-Id = "file-%d"\nNAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00\n\n' "$i" "$i"
done > "$DIR/packets.txt"
t0=$(now)
radclient -q -s -p 64 -r 3 -t 1 -f "$DIR/packets.txt" "127.0.0.1:$COA_PORT" disconnect "$SECRET" > "$DIR/radclient-file.txt" 2>&1 || true
t1=$(now)
B=$(rate "$FILE_N" "$t0" "$t1")

# (c) ispflow-coa-bench.
ISPFLOW_COA_BENCH_SECRET=$SECRET "$BENCH_BIN" --target "127.0.0.1:$COA_PORT" --secret-env ISPFLOW_COA_BENCH_SECRET \
  --requests "$BENCH_N" --window "$WINDOW" > "$DIR/bench.txt" \
  2>&1 < /dev/null || true
C=$(tail -n 1 "$DIR/bench.txt" | sed 's/requests_per_second=//')

echo "== radclient -p 64 -f ($FILE_N packets) summary =="
grep -E 'Packets|Accepted|Rejected|Lost' "$DIR/radclient-file.txt" || true
echo "== ispflow-coa-bench =="
cat "$DIR/bench.txt"
echo "== results (Disconnect-Requests per second) =="
echo "a_radclient_per_request=$A"
echo "b_radclient_p64_file=$B"
echo "c_ispflow_coa_bench=$C"
awk -v a="$A" -v b="$B" -v c="$C" 'BEGIN { printf "c_over_a=%.1f\nc_over_b=%.2f\n", c / a, c / b }'
