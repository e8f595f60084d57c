#!/bin/sh
# The sender is killed after it suspended the guest, before GO: the
# simulated VBD (the "hypervisor") sees the suspending client vanish
# without committing to GO and resumes the guest; the receiver rolls back.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 8M 4M
start_source src --write-rate 8M
start_receiver
send_bg --bandwidth 2M --no-postcopy --max-passes 2 --vbd "sim:$T/src.sock"
wait_event "$T/sender.log" stopcopy
sleep 0.3
kill -9 "$SEND_PID"
wait_receiver
[ "$RECV_RC" != 0 ] || fail "receiver reported success"
sleep 0.5
assert_dest_clean
assert_source_intact src
