#!/bin/sh
# A disk downtime over the budget is flagged: a warning on the terminal, a
# "warning" event and downtime_over_budget in the JSON report.  The
# estimate stop-copy works with includes what it measured (the quiesce),
# and a migration within its budget is not flagged.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

# num FILE EVENT FIELD: a numeric field of the last EVENT.
num() { json_field "$1" "$2" "$3"; }

# --no-postcopy and no dirty pass: what the guest wrote during PUSH is sent
# inside the downtime, over an 8 MB/s link: far over 50 ms.
mkimage src 32M 16M
start_source src --write-rate 4M
start_receiver
send --json --no-postcopy --max-passes 0 --bandwidth 8M --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
L=$T/sender.log
disk=$(num "$L" report disk_downtime_ms)
budget=$(num "$L" report downtime_budget_ms)
over=$(num "$L" report downtime_over_budget)
note "disk downtime $disk ms, budget $budget ms, over: $over; expected $(num "$L" stopcopy expected_downtime_ms) ms"
[ "$budget" = 50.0 ] || fail "downtime_budget_ms is '$budget'"
awk -v d="$disk" 'BEGIN { exit !(d > 50) }' || fail "the scenario did not overrun ($disk ms)"
[ "$over" = true ] || fail "downtime_over_budget is '$over'"
grep '"event":"warning"' "$L" | grep -q 'exceeded the 50 ms budget' ||
    fail "no warning event"
# On the terminal too (send runs with --quiet: warnings still show).
grep -q '^xlmig: warning: disk downtime .* exceeded the 50 ms budget' "$L" ||
    fail "no warning line"
# The estimate includes the measured quiesce.
awk -v e="$(num "$L" stopcopy expected_downtime_ms)" \
    -v q="$(num "$L" report quiesce_ms)" 'BEGIN { exit !(e >= q) }' ||
    fail "the estimate leaves out the measured quiesce"
verify "$T/dst/xvda.sock"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null
rm -rf "$T/dst" "$T"/src.*

# An idle guest with a generous budget: not flagged, and the report's
# human form says the budget without "OVER".
mkimage src 8M 4M
start_source src --write-rate 1 --read-pct 0
start_receiver
send --max-downtime 5s --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
grep -q 'budget 5000 ms)$' "$T/sender.log" || fail "the report does not show the budget"
! grep -q 'OVER\|warning' "$T/sender.log" || fail "flagged within the budget"
