#!/usr/bin/env bash
# The embedded demo: a throwaway PostgreSQL, ispflow-bus and ispflowd, then a
# billing feed through intake, with a progress line and a summary.
#   demo.sh BUILD_DIR        (make demo)
#   DEMO_KEEP=1 demo.sh ...  leave the stack running to look around
set -euo pipefail

build=$(cd "${1:-build/ci}" && pwd)
export STACK_BIN=$build STACK_DIR=$build/demo
source "$(dirname "$0")/stack.sh"

subscribers=${DEMO_SUBSCRIBERS:-200}
billing=billing.events.v1

rm -rf "$STACK_DIR/ispflowd.log"
trap '[[ "${DEMO_KEEP:-0}" == 1 ]] || stack_stop_all' EXIT

stack_log "starting PostgreSQL on 127.0.0.1:$STACK_PG_PORT"
stack_pg_start
# A fresh database every run, so the summary describes this run only.
psql "$STACK_PG_ADMIN" -qc "drop database if exists \"$STACK_DB\" with (force)" -c "create database \"$STACK_DB\"" >/dev/null
stack_log "starting ispflow-bus (librdkafka mock cluster)"
stack_bus_start 6
stack_log "bus at $STACK_BOOTSTRAP"
stack_log "starting ispflowd"
stack_ispflowd_start
for _ in $(seq 100); do
  [[ $(stack_sql "select count(*) from information_schema.tables where table_name='inbox'" 2>/dev/null) == 1 ]] && break
  sleep 0.2
done

stack_log "feeding billing events for $subscribers subscribers"
feed=$STACK_DIR/feed.tsv
{
  for i in $(seq "$subscribers"); do
    printf -v s 'sub-%05d' "$i"
    stack_activation_payload demo "$s" fiber-100
    stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
  done
  for i in $(seq 1 5 "$subscribers"); do
    printf -v s 'sub-%05d' "$i"
    stack_event "sus-$i" billing.subscription.suspended demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"reason\":\"non_payment\"}"
  done
  for i in $(seq 1 10 "$subscribers"); do
    printf -v s 'sub-%05d' "$i"
    stack_event "res-$i" billing.subscription.resumed demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\"}"
  done
  for i in $(seq 2 7 "$subscribers"); do
    printf -v s 'sub-%05d' "$i"
    stack_event "plan-$i" billing.subscription.plan_changed demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\",\"plan_id\":\"fiber-500\"}"
  done
  for i in $(seq 3 20 "$subscribers"); do
    printf -v s 'sub-%05d' "$i"
    stack_event "term-$i" billing.subscription.terminated demo "$s" "{\"schema_version\":1,\"tenant_id\":\"demo\",\"subscriber_id\":\"$s\"}"
  done
  # Redelivered events: recorded once.
  for i in 1 2 3; do
    printf -v s 'sub-%05d' "$i"
    stack_activation_payload demo "$s" fiber-100
    stack_event "act-$i" billing.subscription.activated demo "$s" "$STACK_PAYLOAD"
  done
  # Bad input: each goes to the dead-letter topic with its reason.
  printf 'sub-x\t{"specversion":"1.0","id":"bad-1","source":"billing.example","type":"billing.subscription.activated",\n'
  stack_event bad-2 billing.subscription.activated acme sub-x "$(stack_activation acme sub-x fiber-100)"
  stack_event bad-3 billing.subscription.suspended demo sub-00001 '{"schema_version":1,"tenant_id":"demo","subscriber_id":"sub-00001","reason":"vacation"}'
  stack_event bad-4 billing.subscription.plan_changed demo sub-00002 '{"schema_version":1,"tenant_id":"demo","subscriber_id":"sub-00002"}'
  stack_event bad-5 billing.subscription.upgraded demo sub-00002 '{"schema_version":1}'
} >"$feed"
stack_produce "$billing" <"$feed"
# One event in binary mode, the way most producers send CloudEvents.
s=sub-00004
stack_activation demo "$s" fiber-100 | kcat -b "$STACK_BOOTSTRAP" -P -t "$billing" -k "$s" \
  -H ce_specversion=1.0 -H ce_id=bin-1 -H ce_source=billing.example \
  -H ce_type=billing.subscription.activated -H ce_subject="$s" -H ce_tenantid=demo \
  -H content-type=application/json
total=$(( $(wc -l <"$feed") + 1 ))  # the feed plus the binary-mode event
unique=$((total - 3))
dead=5

start=$(date +%s.%N)
while :; do
  inbox=$(stack_sql "select count(*) from inbox")
  dl=$(stack_sql "select count(*) from dead_letters")
  pub=$(stack_sql "select count(*) filter (where published_at is not null) || '/' || count(*) from outbox")
  printf '\r  inbox %5d/%d   dead letters %d/%d   outbox published %s   ' \
    "$inbox" "$((unique - dead))" "$dl" "$dead" "$pub" >&2
  backlog=$(stack_sql "select count(*) from outbox where published_at is null")
  if [[ $inbox -ge $((unique - dead)) && $dl -ge $dead && $backlog -eq 0 ]]; then break; fi
  if (( $(date +%s) - ${start%.*} > 120 )); then
    echo >&2; stack_log "timed out; see $STACK_DIR/ispflowd.log"; exit 1
  fi
  sleep 0.3
done
echo >&2
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

cat <<SUMMARY

== ispflow demo summary ==
$((unique + 3)) records produced ($((unique - dead)) distinct valid events, 3 redelivered, $dead bad) in ${elapsed}s

Events recorded in the inbox, by type:
$(stack_sql "select format('  %-36s %s', type, count(*)) from inbox group by type order by type")

Dead letters, by reason:
$(stack_sql "select format('  %-20s %s', error, detail) from dead_letters order by id")

Published through the outbox, by topic:
$(stack_sql "select format('  %-28s %s', topic, count(*)) from outbox where published_at is not null group by topic order by topic")

A dead letter as billing would read it from billing.events.v1.dlq:
$(kcat -b "$STACK_BOOTSTRAP" -C -t billing.events.v1.dlq -c 1 -e -q -f '  headers: %h\n  value:   %s\n' 2>/dev/null)

Look around:
  psql "$STACK_DSN" -c 'select type, tenant_id, subscriber_id from inbox limit 5'
  kcat -b $STACK_BOOTSTRAP -C -t saga.events.v1 -e -f '%k %h\n%s\n'
  logs: $STACK_DIR/ispflowd.log
SUMMARY
if [[ "${DEMO_KEEP:-0}" == 1 ]]; then
  echo "The stack keeps running (DEMO_KEEP=1); stop it with: kill $STACK_ISPFLOWD_PID $STACK_BUS_PID; deploy/local/pg.sh stop $STACK_DIR/pg"
fi
