#!/bin/sh
# The receiver is killed (SIGKILL) during PUSH: the sender rolls back, the
# guest runs on at the source with its disk intact, and the receiver's
# janitor removes the half-written target and the destination VBD.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 32M 16M
start_source src --write-rate 2M
start_receiver
send_bg --bandwidth 4M --vbd "sim:$T/src.sock"
wait_event "$T/sender.log" progress push
sleep 0.5
kill -9 "$RECV_PID"
wait_sender
[ "$SEND_RC" != 0 ] || fail "sender reported success"
# One line says what happened; the guest was never suspended, so nothing
# claims it was resumed.
grep -q "failed before the hand-off.*the guest kept running here" "$T/sender.log" ||
    fail "no rollback message"
! grep -q "resumed" "$T/sender.log" || fail "claims a resume of a guest never suspended"
sleep 0.5
assert_dest_clean
assert_source_intact src
