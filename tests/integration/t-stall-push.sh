#!/bin/sh
# A silent peer in each direction during PUSH (stopped, sockets open): the
# other side gives up within the peer timeout, the source guest runs on
# intact, the destination is cleaned up once it wakes.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
for who in receiver sender; do
    mkimage src 32M 16M
    start_source src --write-rate 2M
    start_receiver --peer-timeout 3
    send_bg --bandwidth 2M --peer-timeout 3 --vbd "sim:$T/src.sock"
    wait_event "$T/sender.log" phase push
    sleep 1
    if [ $who = receiver ]; then
        kill -STOP "$RECV_PID"
        t0=$(date +%s); wait_sender; t1=$(date +%s)
        [ "$SEND_RC" = 1 ] || fail "sender exit $SEND_RC, want 1"
        kill -CONT "$RECV_PID"
        wait_receiver
    else
        kill -STOP "$SEND_PID"
        t0=$(date +%s); wait_receiver; t1=$(date +%s)
        [ "$RECV_RC" = 1 ] || fail "receiver exit $RECV_RC, want 1"
        kill -CONT "$SEND_PID"
        wait_sender
        [ "$SEND_RC" = 1 ] || fail "sender exit $SEND_RC, want 1"
    fi
    [ $((t1 - t0)) -le 9 ] || fail "$who silent: the other took $((t1 - t0)) s"
    note "$who silent: the other side gave up after $((t1 - t0)) s"
    assert_source_intact src
    assert_dest_clean
    "$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null 2>&1 || true
    sleep 0.3
    rm -rf "$T/dst" "$T"/src.* "$T"/*.log
done
