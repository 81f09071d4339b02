#!/usr/bin/env bash
# e2e: 10,000 mixed valid and invalid billing events, produced from outside
# with kcat only; ispflowd is killed with SIGKILL in the middle and restarted.
# Checks: every valid event recorded exactly once, every invalid one in the
# dead-letter topic (and table) exactly once with its reason, every accepted
# event announced exactly once on saga.events.v1, no offset left uncommitted.
#   intake_crash.sh BUILD_DIR
set -euo pipefail

build=$(cd "$1" && pwd)
export STACK_BIN=$build STACK_DIR=$build/e2e-intake-crash STACK_PG_PORT=55434
source "$(dirname "$0")/../../deploy/local/stack.sh"
rm -rf "$STACK_DIR"
trap stack_stop_all EXIT

fail() { echo "FAIL: $*" >&2; tail -n 30 "$STACK_DIR/ispflowd.log" >&2 || true; exit 1; }

stack_pg_start
stack_bus_start 6
billing=billing.events.v1
# Small batches so the kill lands between many store transactions.
export ISPFLOW_INTAKE_MAX_BATCH=250 ISPFLOW_OUTBOX_BATCH=250
# This test's producer (ce_source billing.e2e) speaks for the demo tenant.
export ISPFLOW_INTAKE_SOURCES_1_SOURCE=billing.e2e ISPFLOW_INTAKE_SOURCES_1_TENANTS=demo

# 9,000 structured-mode events: valid ones of every type plus invalid ones of
# every kind, in two halves; the daemon dies after the first half starts.
gen() {  # gen FIRST LAST
  local i s kind
  for ((i = $1; i <= $2; i++)); do
    printf -v s 'sub-%05d' $((i % 3000))
    kind=$((i % 10))
    case $kind in
      0) printf '%s\t{"specversion":"1.0","id":"bad-%d","source":"billing.e2e",\n' "$s" "$i" ;;
      1) stack_activation_payload ghost-isp "$s" fiber-100
         stack_event "e-$i" billing.subscription.activated ghost-isp "$s" "$STACK_PAYLOAD" ;;
      2) stack_event "e-$i" billing.subscription.suspended demo "$s" \
           "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"reason\":\"holiday\"}" ;;
      3|4|5) stack_activation_payload demo "$s" fiber-100
         stack_event "e-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD" ;;
      6) stack_event "e-$i" billing.subscription.suspended demo "$s" \
           "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"reason\":\"non_payment\"}" ;;
      7) stack_event "e-$i" billing.subscription.resumed demo "$s" \
           "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\"}" ;;
      8) stack_event "e-$i" billing.subscription.plan_changed demo "$s" \
           "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"plan_id\":\"fiber-500\"}" ;;
      9) stack_event "e-$i" billing.subscription.terminated demo "$s" \
           "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\"}" ;;
    esac
  done
}
gen 1 4500 >"$STACK_DIR/first.tsv"
gen 4501 9000 >"$STACK_DIR/second.tsv"
valid_structured=$((9000 * 7 / 10))
invalid_structured=$((9000 * 3 / 10))

# 1,000 binary-mode events: 10 valid ones, each with its own ce_id, and 990
# without a ce_id header (each refused on its own).
binary_valid() {
  local i s
  for ((i = 1; i <= 10; i++)); do
    s=$(printf 'sub-b%04d' "$i")
    stack_activation demo "$s" fiber-100 | kcat -b "$STACK_BOOTSTRAP" -P -t "$billing" -k "$s" \
      -H ce_specversion=1.0 -H ce_id="bin-$i" -H ce_source=billing.e2e \
      -H ce_type=billing.subscription.activated -H ce_subject="$s" -H ce_tenantid=demo \
      -H content-type=application/json
  done
}
binary_invalid() {
  local i s
  for ((i = 1; i <= 990; i++)); do
    printf -v s 'sub-n%04d' "$i"
    stack_activation_payload demo "$s" fiber-100
    printf '%s\t%s\n' "$s" "$STACK_PAYLOAD"
  done | kcat -b "$STACK_BOOTSTRAP" -P -t "$billing" -K $'\t' \
    -H ce_specversion=1.0 -H ce_source=billing.e2e \
    -H ce_type=billing.subscription.activated -H ce_tenantid=demo -H content-type=application/json
}
valid=$((valid_structured + 10))
invalid=$((invalid_structured + 990))
[[ $((valid + invalid)) -eq 10000 ]] || fail "generator makes $((valid + invalid)) events"

stack_ispflowd_start
stack_produce "$billing" <"$STACK_DIR/first.tsv"
binary_valid

# Kill it as soon as part of the first half is durable.
for _ in $(seq 600); do
  n=$(stack_sql "select count(*) from inbox" 2>/dev/null || echo 0)
  [[ ${n:-0} -ge 500 ]] && break
  sleep 0.1
done
[[ ${n:-0} -ge 500 ]] || fail "ispflowd recorded nothing within 60 s"
stack_ispflowd_stop KILL || true
at_kill=$(stack_sql "select count(*) from inbox")
echo "killed ispflowd with $at_kill events in the inbox" >&2

# The second half arrives while the daemon is down.
stack_produce "$billing" <"$STACK_DIR/second.tsv"
binary_invalid
stack_ispflowd_start

for _ in $(seq 1200); do
  inbox=$(stack_sql "select count(*) from inbox")
  dead=$(stack_sql "select count(*) from dead_letters")
  backlog=$(stack_sql "select count(*) from outbox where published_at is null")
  [[ $inbox -ge $valid && $dead -ge $invalid && $backlog -eq 0 ]] && break
  sleep 0.1
done
echo "inbox=$inbox dead_letters=$dead outbox_backlog=$backlog" >&2
stack_ispflowd_stop TERM || fail "ispflowd did not exit 0 on SIGTERM"

# Database: each valid event once, each invalid one once, with a reason.
[[ $inbox -eq $valid ]] || fail "inbox has $inbox rows, want $valid"
[[ $(stack_sql "select count(distinct (source, event_id)) from inbox") -eq $valid ]] || fail "inbox has duplicates"
[[ $dead -eq $invalid ]] || fail "dead_letters has $dead rows, want $invalid"
[[ $(stack_sql "select count(*) from dead_letters where error = '' or detail = ''") -eq 0 ]] || fail "dead letter without reason"
for code in malformed_json unknown_tenant schema_violation malformed_envelope; do
  [[ $(stack_sql "select count(*) from dead_letters where error = '$code'") -gt 0 ]] || fail "no dead letter with $code"
done

# Kafka, read from outside: the DLQ holds each invalid record exactly once,
# and saga.events.v1 announces each accepted event exactly once.
# (The saga router also dead-letters events it refuses, e.g. a suspend for
# a subscriber never activated; those carry no source offset and are not
# intake's.)
kcat -b "$STACK_BOOTSTRAP" -C -t billing.events.v1.dlq -e -q \
  -f '%h\n' | grep 'ispflow_source_offset=' >"$STACK_DIR/dlq.txt"
dlq=$(wc -l <"$STACK_DIR/dlq.txt")
dlq_unique=$(grep -o 'ispflow_source_partition=[0-9]*,ispflow_source_offset=[0-9]*' "$STACK_DIR/dlq.txt" | sort -u | wc -l)
no_reason=$(grep -vc 'ispflow_error=[a-z_]\+' "$STACK_DIR/dlq.txt" || true)
echo "dlq records=$dlq distinct sources=$dlq_unique" >&2
[[ $dlq -eq $invalid ]] || fail "DLQ topic has $dlq records, want $invalid"
[[ $dlq_unique -eq $invalid ]] || fail "DLQ topic has $dlq_unique distinct source offsets, want $invalid"
[[ $no_reason -eq 0 ]] || fail "$no_reason DLQ records lack ispflow_error"

kcat -b "$STACK_BOOTSTRAP" -C -t saga.events.v1 -e -q -f '%h\n' \
  | grep 'ce_type=intake.accepted' | grep -o 'ce_id=[^,]*' | sort >"$STACK_DIR/saga_ids.txt"
saga=$(wc -l <"$STACK_DIR/saga_ids.txt")
saga_unique=$(uniq <"$STACK_DIR/saga_ids.txt" | wc -l)
echo "intake.accepted records=$saga distinct=$saga_unique" >&2
[[ $saga -eq $valid && $saga_unique -eq $valid ]] || fail "saga.events.v1 has $saga intake.accepted records ($saga_unique distinct), want $valid"

# Offsets: a new member of ispflowd's consumer group finds nothing left.
left=$(timeout 60 kcat -b "$STACK_BOOTSTRAP" -G ispflow -X auto.offset.reset=earliest \
  -X enable.auto.commit=false -e -q -f '%o\n' "$billing" 2>/dev/null | wc -l)
[[ $left -eq 0 ]] || fail "$left records of $billing were not committed"

# The subscriber records equal what the saga history says (the independent
# SQL check): every saga that finished across the kill updated its record.
record_diffs=$(psql "$STACK_DSN" -qAtX -v ON_ERROR_STOP=1 \
  -f "$(dirname "$0")/../../deploy/local/record_check.sql" \
  -c "select count(*) from ispflow_record_check") || fail "the record check failed to run"
echo "subscriber records differing from history: $record_diffs" >&2
[[ $record_diffs -eq 0 ]] || fail "$record_diffs differences between the subscriber records and the saga history"

echo "e2e intake crash: all checks hold" >&2
