#!/usr/bin/env bash
# Observability against a running ispflowd (issue 16 items 3-5): one FTTH
# activation carrying a W3C traceparent through the NetBox, GenieACS, AWX and
# VOLTHA/ONOS simulators, and one malformed billing record. Then:
#  - /metrics (own listener, bearer token) passes `promtool check metrics`;
#  - every metric of deploy/monitoring's dashboard and alert rules is in that
#    scrape (check_metric_names.py), and the counters moved;
#  - each HTTP simulator (ONOS's REST for VOLTHA) got the trace id, each call
#    a span of its own (GET /_sim/traces);
#  - the emitted lifecycle event carries the billing event's traceparent;
#  - ispflowd's log lines about the saga carry its saga id and trace id.
#   observability.sh BUILD_DIR
set -euo pipefail

build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
export STACK_BIN=$build STACK_DIR=$build/e2e-observability STACK_PG_PORT=55459
export STACK_PORT_BASE=18400 STACK_ADMIN_PORT=18489
source "$src/deploy/local/stack.sh"
# No RADIUS here; the systems' URLs are in the config below.
unset ISPFLOW_NAS_0_COA_PORT
rm -rf "$STACK_DIR"
trap stack_stop_all EXIT

metrics_port=18490
metrics_token=observability-scrape-token
sub=sub-00001
trace_id=4bf92f3577b34da6a3ce929d0e0e4736
parent_id=00f067aa0ba902b7
traceparent=00-$trace_id-$parent_id-01
secrets=$src/deploy/local/demo-secrets
fail() { echo "FAIL: $*" >&2; tail -n 30 "$STACK_DIR/ispflowd.log" >&2 || true; exit 1; }

command -v promtool >/dev/null || fail "promtool not installed (Debian package prometheus, deploy/local/deps.sh)"
stack_ports_free "$STACK_NETBOX_PORT" "$STACK_GENIEACS_PORT" "$STACK_AWX_PORT" \
  "$STACK_VOLTHA_PORT" "$STACK_ONOS_PORT" \
  "$STACK_ADMIN_PORT" "$metrics_port" "$STACK_PG_PORT" || fail "ports in use"
stack_pg_start
stack_bus_start 6

stack_cpe_seed 1 >"$STACK_DIR/acs-seed.yaml"
STACK_SIM_WAIT=$STACK_NETBOX_PORT stack_sim_start netbox --port "$STACK_NETBOX_PORT" \
  --seed "$src/deploy/local/demo/netbox-seed.yaml" --token-file "$secrets/netbox-token"
STACK_SIM_WAIT=$STACK_GENIEACS_PORT stack_sim_start genieacs --port "$STACK_GENIEACS_PORT" \
  --seed "$STACK_DIR/acs-seed.yaml"
STACK_SIM_WAIT=$STACK_AWX_PORT stack_sim_start awx --port "$STACK_AWX_PORT" \
  --seed "$src/deploy/local/demo/awx-seed.yaml" --token-file "$secrets/awx-token" \
  --pending-after-ms 50 --running-after-ms 100 --finish-after-ms 200
STACK_SIM_WAIT=$STACK_ONOS_PORT stack_sim_start voltha --grpc-port "$STACK_VOLTHA_PORT" \
  --rest-port "$STACK_ONOS_PORT" --olts 1 --onus-per-olt 8 --serial-prefix ALCL \
  --transition-delay-ms 50 --sadis-service 100/0/64 \
  --onos-user onos --onos-password-file "$secrets/onos-password"
stack_wait_tcp "$STACK_VOLTHA_PORT" 10 || fail "no VOLTHA gRPC"

token_sha=$(printf '%s' "$metrics_token" | sha256sum | cut -d' ' -f1)
cat >"$STACK_DIR/ispflow.yaml" <<YAML
kafka:
  bootstrap_servers: 127.0.0.1:9092
postgres:
  dsn: host=127.0.0.1 port=1 dbname=unused
intake:
  sources:
    - {source: billing.example, tenants: [demo]}
log:
  level: debug
admin:
  listen: 127.0.0.1:$STACK_ADMIN_PORT
  tokens:
    - name: operator
      sha256: 61112491d046c3f6f8ab801f170d9b2d0c734a17ceff60dee92123fb507cfc3f
      scopes: admin
  metrics:
    listen: 127.0.0.1:$metrics_port
    token_sha256: $token_sha
    refresh_ms: 200
plans:
  - {tenant: demo, id: fiber-100, download_kbps: 100000, upload_kbps: 20000}
tenants:
  - id: demo
    name: Demo ISP
    systems:
      radius: false
      netbox: true
      voltha: true
      genieacs: true
      awx: true
    netbox:
      url: http://127.0.0.1:$STACK_NETBOX_PORT
      token_file: $secrets/netbox-token
      token_scheme: token
      site: pop-1
      prefix_role: subscriber
      tenant: demo
    genieacs:
      url: http://127.0.0.1:$STACK_GENIEACS_PORT
      connection_request_timeout_ms: 1000
    awx:
      url: http://127.0.0.1:$STACK_AWX_PORT/api/v2/
      token_file: $secrets/awx-token
      activation_template: 1
      poll_interval_ms: 500
    voltha:
      grpc: 127.0.0.1:$STACK_VOLTHA_PORT
      onos_url: http://127.0.0.1:$STACK_ONOS_PORT
      onos_user: onos
      onos_password_file: $secrets/onos-password
      s_tag: 100
      c_tag: 0
      tp_id: 64
      confirm_interval_ms: 200
YAML

stack_ispflowd_start "$STACK_DIR/ispflow.yaml"
stack_ispflowd_ready || fail "ispflowd not ready"

# The activation, with trace context (CloudEvents distributed tracing), and
# a record that is not a CloudEvent at all.
stack_activation_payload demo "$sub" fiber-100
printf '%s\t{"specversion":"1.0","id":"e-act","source":"billing.example","type":"billing.subscription.activated","time":"2026-11-23T12:00:00Z","subject":"%s","tenantid":"demo","traceparent":"%s","datacontenttype":"application/json","data":%s}\n' \
  "$sub" "$sub" "$traceparent" "$STACK_PAYLOAD" | stack_produce billing.events.v1
printf 'junk\tnot json at all\n' | stack_produce billing.events.v1

state=
for _ in $(seq 600); do
  state=$(stack_sql "select coalesce(max(state), '') from sagas where name = 'activate' and subscriber_id = '$sub'")
  [[ $state == completed ]] && break
  sleep 0.1
done
[[ $state == completed ]] || fail "activation did not complete: '$state'"
saga_id=$(stack_sql "select id from sagas where name = 'activate' and subscriber_id = '$sub'")
for _ in $(seq 100); do
  [[ $(stack_sql "select count(*) from dead_letters") -ge 1 ]] && break
  sleep 0.1
done

# -- /metrics -------------------------------------------------------------------
scrape=$STACK_DIR/metrics.txt
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$metrics_port/metrics")
[[ $code == 401 ]] || fail "/metrics without the token answered $code, want 401"
sleep 0.5 # one database gauge refresh (refresh_ms 200)
curl -sf -H "Authorization: Bearer $metrics_token" "http://127.0.0.1:$metrics_port/metrics" >"$scrape" \
  || fail "no scrape"
promtool check metrics <"$scrape" || fail "promtool check metrics found problems"
python3 "$src/deploy/monitoring/check_metric_names.py" "$scrape" --promtool "$(command -v promtool)" \
  || fail "the dashboard or the alert rules use metrics ispflowd does not export"
sample() {  # sample 'name{labels}' -> its value, or nothing
  awk -v k="$1" '$1 == k { print $2; exit }' "$scrape"
}
[[ $(sample 'ispflow_sagas_finished_total{outcome="completed",tenant="demo",type="activate"}') == 1 ]] \
  || fail "ispflow_sagas_finished_total has no completed activation"
[[ $(sample 'ispflow_sagas_started_total{tenant="demo",type="activate"}') == 1 ]] \
  || fail "ispflow_sagas_started_total has no activation"
[[ $(sample 'ispflow_intake_events_total{result="recorded"}') -ge 1 ]] \
  || fail "ispflow_intake_events_total{result=recorded} did not move"
grep -q '^ispflow_intake_dead_letters_total{reason="[a-z_]*"} [1-9]' "$scrape" \
  || fail "ispflow_intake_dead_letters_total did not count the malformed record"
grep -q '^ispflow_step_call_duration_seconds_count{operation="netbox.allocate_ip",outcome="succeeded",system="netbox"} [1-9]' "$scrape" \
  || fail "no adapter latency sample for netbox.allocate_ip"
[[ $(sample 'ispflow_ready') == 1 ]] || fail "ispflow_ready is not 1"

# -- trace context on every HTTP call ------------------------------------------------
for port in "$STACK_NETBOX_PORT" "$STACK_GENIEACS_PORT" "$STACK_AWX_PORT" "$STACK_ONOS_PORT"; do
  stack_http GET "$port" /_sim/traces >"$STACK_DIR/traces-$port.json" || fail "no /_sim/traces on $port"
  python3 - "$STACK_DIR/traces-$port.json" "$trace_id" "$parent_id" <<'PY' || fail "simulator on $port: trace context not propagated"
import json, sys
traces = json.load(open(sys.argv[1]))["traces"]
ours = [t for t in traces if t["traceparent"].split("-")[1:2] == [sys.argv[2]]]
if not ours:
    sys.exit(f"no request with trace id {sys.argv[2]}: {traces}")
spans = [t["traceparent"].split("-")[2] for t in ours]
if sys.argv[3] in spans:
    sys.exit("a call reused the billing event's span id instead of a child span")
if len(set(spans)) != len(spans):
    sys.exit(f"calls share span ids: {spans}")
if any(not t["traceparent"].startswith("00-") or not t["traceparent"].endswith("-01") for t in ours):
    sys.exit(f"version or flags changed: {ours}")
print(f"{len(ours)} call(s) with the trace: " + ", ".join(t["method"] + " " + t["path"] for t in ours))
PY
done

# The VOLTHA gRPC calls carry it as metadata (recorded on the ONOS port's list).
python3 - "$STACK_DIR/traces-$STACK_ONOS_PORT.json" "$trace_id" <<'PY' || fail "VOLTHA gRPC calls carry no trace context"
import json, sys
traces = json.load(open(sys.argv[1]))["traces"]
grpc = [t for t in traces if t["method"] == "grpc" and t["traceparent"].split("-")[1:2] == [sys.argv[2]]]
if not grpc:
    sys.exit(f"no gRPC call with trace id {sys.argv[2]}: {traces}")
print(f"{len(grpc)} gRPC call(s) with the trace: " + ", ".join(t["path"] for t in grpc))
PY

# -- the emitted lifecycle event ------------------------------------------------
headers=
for _ in $(seq 50); do
  headers=$(kcat -b "$STACK_BOOTSTRAP" -C -t lifecycle.events.v1 -o beginning -e -q -f '%h\n' 2>/dev/null || true)
  grep -q "traceparent=$traceparent" <<<"$headers" && break
  sleep 0.2
done
grep -q "traceparent=$traceparent" <<<"$headers" \
  || fail "no lifecycle event carries traceparent $traceparent: $headers"

# -- log lines about the saga -------------------------------------------------------
grep '"saga started"' "$STACK_DIR/ispflowd.log" | grep "\"saga_id\":\"$saga_id\"" | grep -q "\"trace_id\":\"$trace_id\"" \
  || fail "no 'saga started' log line with saga id $saga_id and trace id $trace_id"
grep '"saga ended"' "$STACK_DIR/ispflowd.log" | grep "\"saga_id\":\"$saga_id\"" | grep -q "\"trace_id\":\"$trace_id\"" \
  || fail "no 'saga ended' log line with saga id $saga_id and trace id $trace_id"

stack_ispflowd_stop TERM || fail "ispflowd did not exit 0 on SIGTERM"
echo "observability: promtool-clean scrape, dashboard and alerts match it, trace $trace_id reached every simulator and the lifecycle event" >&2
