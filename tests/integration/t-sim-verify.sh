#!/bin/sh
# xlmig sim verify lets the guest run on (and says so); --stop leaves it
# stopped and says that; xlmig send refuses a stopped guest before
# copying anything.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

mkimage src 16M 8M
start_source src --write-rate 2M
sleep 0.3
"$XLMIG" sim verify "$T/src.sock" >"$T/verify.log" 2>&1 || fail "verify failed: $(cat "$T/verify.log")"
grep -q 'result: PASS' "$T/verify.log" || fail "no verdict"
grep -q 'the guest runs on' "$T/verify.log" || fail "verify does not say the guest runs on"
[ "$(guest_state "$T/src.sock")" = running ] || fail "the guest is '$(guest_state "$T/src.sock")' after verify"
w1=$(report_field "$T/src.sock" writes)
sleep 0.5
w2=$(report_field "$T/src.sock" writes)
note "writes after verify: $w1 -> $w2"
[ "$w2" -gt "$w1" ] || fail "the guest does not write after verify"

"$XLMIG" sim verify --stop "$T/src.sock" >"$T/verify.log" 2>&1 || fail "verify --stop failed"
grep -q 'left stopped (--stop)' "$T/verify.log" || fail "verify --stop does not say it stopped the guest"
[ "$(guest_state "$T/src.sock")" = stopped ] || fail "the guest is '$(guest_state "$T/src.sock")' after verify --stop"

# A stopped guest is refused before anything is copied: the receiver never
# hears from the sender.
start_receiver
send --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 1 ] || fail "send of a stopped guest exited $SEND_RC"
grep -q 'the guest is stopped .*only a running guest can be migrated: nothing was sent' \
    "$T/sender.log" || fail "no clear refusal: $(cat "$T/sender.log")"
kill -0 "$RECV_PID" || fail "the receiver was contacted"
[ -z "$(ls "$T/dst")" ] || fail "something was created at the destination"
