#!/bin/sh
# The sender is killed during PUSH: the receiver sees the channel die,
# removes what it created; the guest never stopped at the source.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 32M 16M
start_source src --write-rate 2M
start_receiver
send_bg --bandwidth 4M --vbd "sim:$T/src.sock"
wait_event "$T/sender.log" progress push
sleep 0.5
kill -9 "$SEND_PID"
wait_receiver
[ "$RECV_RC" != 0 ] || fail "receiver reported success"
grep -q "nothing kept here" "$T/receiver.log" || fail "receiver did not roll back"
assert_dest_clean
assert_source_intact src
