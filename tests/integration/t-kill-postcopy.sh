#!/bin/sh
# Either side dies during post-copy (after GO): the other side reports the
# failure loudly, naming the blocks that exist only on the source.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
for victim in sender receiver; do
    mkimage src 8M 4M
    start_source src --write-rate 8M
    start_receiver
    send_bg --bandwidth 2M --vbd "sim:$T/src.sock"
    wait_event "$T/sender.log" phase postcopy
    sleep 0.3
    if [ $victim = sender ]; then
        kill -9 "$SEND_PID"
        wait_receiver
        [ "$RECV_RC" = 3 ] || fail "receiver exit $RECV_RC, want 3"
        grep -q "POST-COPY FAILED" "$T/receiver.log" || fail "no loud failure"
        grep -q "exist only on the source" "$T/receiver.log" ||
            fail "unrecoverable window not named"
    else
        kill -9 "$RECV_PID"
        wait_sender
        [ "$SEND_RC" = 3 ] || fail "sender exit $SEND_RC, want 3"
        grep -q "POST-COPY FAILED" "$T/sender.log" || fail "no loud failure"
    fi
    # The source image still has everything: a restarted guest verifies.
    "$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null 2>&1 || true
    for s in "$T"/dst/*.sock; do
        "$XLMIG_VBDSIM" ctl "$s" shutdown >/dev/null 2>&1 || true
    done
    sleep 0.3
    rm -rf "$T/dst" "$T"/src.* "$T"/*.log
done
