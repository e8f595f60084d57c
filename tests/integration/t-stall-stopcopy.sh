#!/bin/sh
# The receiver stops (SIGSTOP) at stop-copy, its sockets open: the guest is
# never left suspended without a running copy longer than the stop-copy
# limit -- the sender resumes it on the source and rolls back; when the
# receiver wakes up it learns it and removes what it made.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 16M 8M
start_source src --write-rate 2M
start_receiver --peer-timeout 4
send_bg --stopcopy-timeout 2 --peer-timeout 4 --memory-seconds 1 \
    --no-postcopy --vbd "sim:$T/src.sock"
wait_event "$T/sender.log" phase push
# The receiver goes silent before the final SYNC can be acknowledged.
i=0
while ! grep -q '"event":"pass"' "$T/sender.log"; do
    i=$((i + 1)); [ $i -lt 3000 ] || fail "no pass"; sleep 0.01
done
kill -STOP "$RECV_PID"
t0=$(date +%s)
wait_sender
t1=$(date +%s)
[ "$SEND_RC" = 1 ] || fail "sender exit $SEND_RC, want 1 (rolled back)"
[ $((t1 - t0)) -le 10 ] || fail "the sender took $((t1 - t0)) s (bound ~6 s)"
assert_source_intact src
down=$(json_field "$T/sender.log" report guest_downtime_ms)
note "rolled back after $((t1 - t0)) s; guest downtime $down ms"
kill -CONT "$RECV_PID"
wait_receiver
[ "$RECV_RC" != 0 ] || fail "the receiver reported success"
assert_dest_clean
