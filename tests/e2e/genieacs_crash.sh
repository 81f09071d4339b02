#!/usr/bin/env bash
# e2e (issue 12 item 6): a GenieACS factory reset must not run twice when
# ispflowd dies between GenieACS's 200 and its own commit. The GenieACS
# simulator runs the reset and then holds the 200 (fault hold_task_reply_ms);
# ispflowd is killed with SIGKILL in that window and restarted. Checks: the
# terminate saga completes and the CPE shows exactly one factoryReset.
#   genieacs_crash.sh BUILD_DIR
set -euo pipefail

build=$(cd "$1" && pwd)
export STACK_BIN=$build STACK_DIR=$build/e2e-genieacs-crash STACK_PG_PORT=55456
source "$(dirname "$0")/../../deploy/local/stack.sh"
rm -rf "$STACK_DIR"
trap stack_stop_all EXIT

acs_port=18152
sub=sub-00001
fail() { echo "FAIL: $*" >&2; tail -n 30 "$STACK_DIR/ispflowd.log" >&2 || true; exit 1; }

stack_ports_free "$acs_port" "$STACK_PG_PORT" || fail "ports in use"
stack_pg_start
stack_bus_start 6

# The subscriber's CPE (OUI 00259E, class HG8245, serial CPE00000001).
stack_cpe_seed 1 >"$STACK_DIR/acs-seed.yaml"
STACK_SIM_WAIT=$acs_port stack_sim_start genieacs --port "$acs_port" \
  --seed "$STACK_DIR/acs-seed.yaml" --connection-request-timeout-ms 200
device=00259E-HG8245-CPE00000001

# One tenant with GenieACS only: the other systems' steps are skipped.
cat >"$STACK_DIR/ispflow.yaml" <<YAML
kafka:
  bootstrap_servers: 127.0.0.1:9092
postgres:
  dsn: host=127.0.0.1 port=1 dbname=unused
admin:
  enabled: false
intake:
  sources:
    - {source: billing.example, tenants: [demo]}
log:
  level: info
tenants:
  - id: demo
    name: Demo ISP
    systems:
      radius: false
      genieacs: true
    policies:
      terminate_factory_reset_cpe: true
    genieacs:
      url: http://127.0.0.1:$acs_port
      connection_request_timeout_ms: 1000
YAML

saga_state() {  # saga_state NAME
  stack_sql "select coalesce(max(state), '') from sagas where name = '$1' and subscriber_id = '$sub'"
}
await_saga() {  # await_saga NAME STATE SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    [[ $(saga_state "$1") == "$2" ]] && return 0
    sleep 0.1
  done
  return 1
}
resets() {
  stack_http GET "$acs_port" /_sim/state | grep -o "\"_id\":\"$device\"[^]]*]" \
    | grep -o factoryReset | wc -l
}

stack_ispflowd_start "$STACK_DIR/ispflow.yaml"
stack_activation_payload demo "$sub" fiber-100
stack_event e-act billing.subscription.activated demo "$sub" "$STACK_PAYLOAD" | stack_produce billing.events.v1
await_saga activate completed 120 || fail "activation did not complete: $(saga_state activate)"

# GenieACS runs the reset, then holds its 200 for up to 2 minutes.
stack_http POST "$acs_port" /_sim/faults \
  '{"hold_task_reply_ms":120000,"hold_task_name":"factoryReset"}' >/dev/null || fail "hold not set"
stack_event e-term billing.subscription.terminated demo "$sub" \
  "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$sub\"}" | stack_produce billing.events.v1
for _ in $(seq 600); do
  [[ $(resets) -ge 1 ]] && break
  sleep 0.1
done
[[ $(resets) -eq 1 ]] || fail "the factory reset did not run within 60 s"

# The reset ran; our side has not heard of it yet.
stack_ispflowd_stop KILL || true
echo "killed ispflowd after the reset ran, before its 200 arrived" >&2
[[ $(saga_state terminate) == running ]] || fail "terminate is $(saga_state terminate) at the kill, want running"
[[ $(stack_sql "select state from genieacs_task_intents where operation = 'genieacs.factory_reset'") == posting ]] \
  || fail "no intent in state posting at the kill"
stack_http DELETE "$acs_port" /_sim/faults >/dev/null || true

stack_ispflowd_start "$STACK_DIR/ispflow.yaml"
await_saga terminate completed 180 || fail "terminate did not complete after the restart: $(saga_state terminate)"
stack_ispflowd_stop TERM || fail "ispflowd did not exit 0 on SIGTERM"

n=$(resets)
stats=$(stack_http GET "$acs_port" /_sim/stats)
echo "factory resets on $device: $n; simulator stats: $stats" >&2
[[ $n -eq 1 ]] || fail "the CPE was factory-reset $n times, want exactly 1"
reads=$(grep -o '"reconcile_reads":[0-9]*' <<<"$stats" | cut -d: -f2)
[[ ${reads:-0} -ge 1 ]] || fail "the restart did not read the device record"
[[ $(stack_sql "select state from genieacs_task_intents where operation = 'genieacs.factory_reset'") == done ]] \
  || fail "the intent is not done"
# The subscriber record equals what the history says (the independent SQL
# check), after a saga that resumed across the kill.
[[ $(stack_sql "select state from subscribers where id = '$sub'") == terminated ]] \
  || fail "the record does not say terminated"
record_diffs=$(psql "$STACK_DSN" -qAtX -v ON_ERROR_STOP=1 \
  -f "$(dirname "$0")/../../deploy/local/record_check.sql" \
  -c "select count(*) from ispflow_record_check") || fail "the record check failed to run"
[[ $record_diffs -eq 0 ]] || fail "$record_diffs differences between the subscriber records and the saga history"
echo "e2e genieacs crash: one factory reset, saga completed, record equals history" >&2
