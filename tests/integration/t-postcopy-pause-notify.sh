#!/bin/sh
# A post-copy channel that one side finds broken (a corrupted record) is
# closed by that side at once, so that the other side pauses too and the
# sender reconnects right away -- not only when its peer timeout expires
# (20 s here) while the guest's accesses to stale blocks wait.  Both
# directions: a flipped byte from the sender (the receiver finds it) and
# from the receiver (the sender finds it).  The recovery must then finish
# and the destination guest's check pass.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# after the hand-off a SIGTERM does not stop the engines (by design)
die() {
    kill -9 "$SEND_PID" "$RECV_PID" 2>/dev/null || true
    fail "$@"
}

for dir in s2r r2s; do
    mkimage src 32M 24M
    start_source src --write-rate 4M
    start_receiver --json --peer-timeout 20
    REAL=$PORT
    "$FAULTPROXY" --to "$REAL" --port-file "$T/pport" --on-usr1 \
        --flip-at 0 --dir $dir >"$T/proxy.log" 2>&1 &
    PROXY=$!
    PIDS="$PIDS $PROXY"
    wait_file "$T/pport"
    PORT=$(cat "$T/pport")
    # raw DATA: a flipped length is refused from the header, at once
    send_bg --bandwidth 3M --max-passes 1 --compress never --peer-timeout 20 \
        --vbd "sim:$T/src.sock"
    wait_event "$T/sender.log" phase postcopy
    sleep 0.5
    kill -USR1 "$PROXY"
    # whichever side finds the bad record pauses first; the other must
    # follow within a few seconds
    i=0
    while ! grep -q '"phase":"postcopy-paused"' "$T/sender.log" "$T/receiver.log"; do
        i=$((i + 1))
        [ $i -lt 3000 ] || die "$dir: nobody paused after the flip"
        sleep 0.01
    done
    t0=$(now_ms)
    first=sender other=receiver
    grep -q '"phase":"postcopy-paused"' "$T/sender.log" ||
        first=receiver other=sender
    i=0
    while ! grep -q '"phase":"postcopy-paused"' "$T/$other.log"; do
        i=$((i + 1))
        [ $i -lt 1500 ] || break
        sleep 0.01
    done
    t1=$(now_ms)
    grep -q '"phase":"postcopy-paused"' "$T/$other.log" ||
        die "$dir: the $first paused, the $other not within 15 s"
    [ $((t1 - t0)) -le 3000 ] ||
        die "$dir: the $other paused $((t1 - t0)) ms after the $first"
    note "$dir: the $first paused first, the $other $((t1 - t0)) ms later"
    wait_sender
    wait_receiver
    [ "$SEND_RC" = 0 ] || fail "$dir: sender exit $SEND_RC after the recovery"
    [ "$RECV_RC" = 0 ] || fail "$dir: receiver exit $RECV_RC after the recovery"
    verify "$T/dst/xvda.sock"
    kill "$PROXY" 2>/dev/null || true
    "$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
    "$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null 2>&1 || true
    sleep 0.3
    rm -rf "$T/dst" "$T"/src.* "$T"/*.log "$T/pport"
done
