#!/usr/bin/env bash
# ispflowd.service: `systemd-analyze verify` (any message about the unit
# fails), the directives the deployment relies on, and its exposure score
# (`systemd-analyze security --offline`, at most 2.5 on systemd's scale of
# 0 = locked down to 10 = unprotected).
#   systemd_unit_test.sh UNIT_FILE DIR_WITH_ISPFLOWD WORK_DIR
# The unit's /usr/bin/ programs are pointed into DIR_WITH_ISPFLOWD (verify
# checks that ExecStart= is executable).
set -euo pipefail
unit=$1 bin=$(cd "$2" && pwd) work=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir -p "$work/units"
copy=$work/units/ispflowd.service
sed "s#/usr/bin/ispflowd#$bin/ispflowd#g" "$unit" >"$copy"
systemd-analyze verify "$copy" >"$work/verify.log" 2>&1 \
  || { cat "$work/verify.log" >&2; fail "systemd-analyze verify failed"; }
if grep -F "ispflowd.service" "$work/verify.log" >&2; then fail "systemd-analyze verify complains"; fi
for d in Type=notify WatchdogSec= NotifyAccess=main Restart=on-failure ProtectSystem=strict \
         NoNewPrivileges=yes User=ispflow CapabilityBoundingSet= \
         "ExecStart=/usr/bin/ispflowd --config /etc/ispflow/ispflow.yaml"; do
  grep -q "^$d" "$unit" || fail "unit lacks $d"
done
systemd-analyze security --offline=yes --threshold=25 "$copy" >"$work/security.log" 2>&1 \
  || { tail -n 5 "$work/security.log" >&2; fail "unit exposure above 2.5"; }
tail -n 1 "$work/security.log" >&2
echo "systemd unit: OK" >&2
