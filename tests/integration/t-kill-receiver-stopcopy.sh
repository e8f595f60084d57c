#!/bin/sh
# The receiver is killed while stop-and-copy sends the last blocks (guest
# suspended at the source): the sender resumes the guest, nothing is lost,
# nothing is left at the destination.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 8M 4M
start_source src --write-rate 8M
start_receiver
# Overloaded and without post-copy: stop-copy carries seconds of data.
send_bg --bandwidth 2M --no-postcopy --max-passes 2 --vbd "sim:$T/src.sock"
wait_event "$T/sender.log" stopcopy
sleep 0.3
kill -9 "$RECV_PID"
wait_sender
[ "$SEND_RC" != 0 ] || fail "sender reported success"
sleep 0.5
assert_dest_clean
assert_source_intact src
