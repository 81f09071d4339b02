#!/usr/bin/env bash
# Runs each libFuzzer target of a `fuzz` preset build for a fixed time.
#
#   fuzz/run.sh [build dir]          (default build/fuzz)
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  targets to run (default: all, in the order below)
#   FUZZ_MERGE=1  afterwards, minimise the repository corpus together with
#                 what the run found into fuzz/corpus/<target> (-merge=1)
#
# The repository corpus (fuzz/corpus/<target>) is read, never written during
# the run: new inputs go to <build>/fuzz-work/<target>, crashes and leaks to
# <build>/fuzz-artifacts/. Each run's log is <build>/fuzz-work/<target>.log;
# its last lines (executions, exec/s, cov, ft) are printed. Targets run one
# after another, one process each, at lower priority: the machine may be
# shared.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build/fuzz}
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"cloud_event_intake schema_validate radius_decode radius_roundtrip admin_request"}

declare -A dict=(
  [cloud_event_intake]=cloud_event_intake.dict
  [schema_validate]=json.dict
  [admin_request]=admin_request.dict
)

# One process per target (no -jobs/-workers): the machine may be shared.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$here/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

status=0
for t in $targets; do
  bin="$build/fuzz/fuzz_$t"
  [[ -x $bin ]] || { echo "missing $bin (cmake --build --preset fuzz)" >&2; exit 2; }
  work="$build/fuzz-work/$t"
  artifacts="$build/fuzz-artifacts"
  mkdir -p "$work" "$artifacts"
  args=(-max_total_time="$seconds" -print_final_stats=1
        -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/$t-")
  if [[ -n ${dict[$t]:-} ]]; then
    args+=(-dict="$here/dict/${dict[$t]}")
  fi
  echo "== $t: ${seconds}s"
  ok=1
  if ! nice -n 10 "$bin" "${args[@]}" "$work" "$here/corpus/$t" \
         >"$work.log" 2>&1; then
    echo "!! $t failed: see $work.log and $artifacts/" >&2
    status=1
    ok=0
  fi
  grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$work.log" | tail -n 1 || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
    "$work.log" || true
  if [[ ${FUZZ_MERGE:-0} == 1 && $ok == 1 ]]; then
    # The hand-made seeds and the inputs of fixed crashes (seed-*, crash-*)
    # stay as they are (-merge=1 keeps what is already in its output
    # directory); of the rest, only inputs adding coverage edges
    # (-use_counters=0: hit counts would keep several times more files).
    merged="$build/fuzz-work/$t.merged"
    rm -rf "$merged"
    mkdir -p "$merged"
    find "$here/corpus/$t" -type f \( -name 'seed-*' -o -name 'crash-*' \) \
      -exec cp {} "$merged/" \;
    nice -n 10 "$bin" -merge=1 -use_counters=0 -timeout=10 \
      -rss_limit_mb=2048 "$merged" "$here/corpus/$t" \
      "$work" >"$work.merge.log" 2>&1
    find "$here/corpus/$t" -type f ! -name 'seed-*' ! -name 'crash-*' -delete
    find "$merged" -type f ! -name 'seed-*' ! -name 'crash-*' \
      -exec cp {} "$here/corpus/$t/" \;
    echo "   corpus: $(find "$here/corpus/$t" -type f | wc -l) files," \
         "$(cat "$here/corpus/$t"/* | wc -c) bytes"
  fi
done
exit $status
