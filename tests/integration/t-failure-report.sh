#!/bin/sh
# A failure report carries only what applies: a migration refused during
# negotiation has no dirty passes, no final set, no downtimes, no "0
# disks", no doubled prefix, and never claims to have resumed a guest that
# was never suspended.  A successful migration leaves no "client went away
# holding a quiesce" in the source VBD's log.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

mkimage src 16M 8M
start_source src --write-rate 1M
# The target exists: the destination refuses to overwrite it.
start_receiver
: >"$T/dst/xvda.img"
send --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 1 ] || fail "send exited $SEND_RC, not 1"
wait_receiver
[ "$RECV_RC" = 1 ] || fail "receive exited $RECV_RC, not 1"
S=$T/sender.log R=$T/receiver.log
grep -q 'FAILED: destination: disk xvda: target .* already exists' "$S" ||
    fail "the sender's report does not give the destination's reason"
grep -q 'failed before the hand-off: .*; the guest kept running here\.$' "$S" ||
    fail "no verdict line"
for noise in 'stopped: ' 'final dirty set' 'disk downtime' 'guest downtime' \
             'resumed' '0 disk' 'destination: destination' 'aborted'; do
    ! grep -q "$noise" "$S" || fail "the sender's report says '$noise': $(cat "$S")"
done
grep -q 'FAILED: disk xvda: target .* already exists' "$R" ||
    fail "the receiver's report lacks the reason"
grep -q 'nothing kept here' "$R" || fail "the receiver's verdict"
! grep -q 'disk xvda *->' "$R" || fail "the receiver lists a target it did not keep"
[ -e "$T/dst/xvda.img" ] && [ ! -s "$T/dst/xvda.img" ] || fail "the existing target was touched"

# The same as JSON: the fields that do not apply are left out.
start_receiver
send --json --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 1 ] || fail "send --json exited $SEND_RC"
wait_receiver
rep=$(grep '"event":"report"' "$S")
for field in stop_reason final_blocks disk_downtime_ms guest_downtime_ms \
             postcopy_s demanded_blocks expected_downtime_ms; do
    case "$rep" in *"\"$field\""*) fail "the report has $field: $rep";; esac
done
case "$rep" in *'"suspended":false'*'"downtime_budget_ms"'*) ;;
    *) fail "the report lacks suspended/downtime_budget_ms: $rep";; esac
rm -f "$T/dst/xvda.img"
assert_source_intact src

# A successful migration: the source VBD's log has no complaint about a
# quiesce the migration left (the guest went; its quiesce just ends).
start_receiver
send --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
i=0
while kill -0 "$SRC_PID_src" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
grep -q 'shutdown requested' "$T/src-src.log" || fail "the source VBD was not shut down"
! grep -q 'holding a quiesce' "$T/src-src.log" ||
    fail "the source VBD's log complains about a quiesce after a successful migration"
verify "$T/dst/xvda.sock"
