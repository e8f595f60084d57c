#!/bin/sh
# The link breaks at the hand-off, where neither side can tell what the
# other knows: the sender has (perhaps) sent GO, the receiver has (perhaps)
# started the guest.  The sender keeps its guest suspended and asks again
# over a new connection (the link comes back: a proxy that accepts again);
# the receiver, its READY unanswered, waits for it instead of rolling back.
#   1. cut just before GO reaches the receiver: it answers READY again, the
#      sender sends GO again, the guest starts there;
#   2. cut just before the REPORT reaches the sender: the receiver runs the
#      guest and answers with its stale set, the sender learns it so;
#   3. as 2 without post-copy: the receiver has every block but lingers
#      for the sender to hear it.
# Never a guest running nowhere, never two; the destination guest's own
# check passes.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

# run LABEL PROXY_ARGS -- SEND_ARGS
run() {
    label=$1
    shift
    pargs=""
    while [ "$1" != -- ]; do pargs="$pargs $1"; shift; done
    shift
    mkimage src 16M 12M
    start_source src --write-rate 2M
    start_receiver --peer-timeout 5 --recover-timeout 60
    REAL=$PORT
    # shellcheck disable=SC2086
    "$FAULTPROXY" --to "$REAL" --port-file "$T/pport" $pargs \
        >"$T/proxy.log" 2>&1 &
    PROXY=$!
    PIDS="$PIDS $PROXY"
    wait_file "$T/pport"
    PORT=$(cat "$T/pport")
    send "$@" --peer-timeout 5 --vbd "sim:$T/src.sock"
    wait_receiver
    grep -q "FIRED cut" "$T/proxy.log" ||
        fail "$label: the proxy never cut ($(cat "$T/proxy.log"))"
    if [ "$SEND_RC" != 0 ] || [ "$RECV_RC" != 0 ]; then
        cat "$T/sender.log" "$T/receiver.log" >&2
        fail "$label: exit sender $SEND_RC receiver $RECV_RC, want 0 0"
    fi
    [ "$(guest_state "$T/src.sock")" != running ] ||
        fail "$label: the source guest runs as well"
    verify "$T/dst/xvda.sock"
    kill "$PROXY" 2>/dev/null || true
    note "$label: $(grep -h FIRED "$T/proxy.log")"
    note "$label: sender: $(grep -h 'warning' "$T/sender.log" | tr '\n' ' ')"
    note "$label: receiver: $(grep -h 'warning' "$T/receiver.log" | tr '\n' ' ')"
}

cleanup_run() {
    "$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
    "$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null 2>&1 || true
    sleep 0.3
    rm -rf "$T/dst" "$T"/src.* "$T"/*.log "$T/pport"
}

# 1. GO lost (sender to receiver, just before the GO record, 0x0071)
run go --dir s2r --at-record 0x0071 --cut-after 0 -- --max-passes 0 --max-downtime 1 --bandwidth 20M
grep -q "never got GO: sending it again" "$T/sender.log" ||
    fail "go: the sender did not send GO again"
grep -q "broke after READY" "$T/receiver.log" ||
    fail "go: the receiver did not wait after READY"
cleanup_run

# 2. REPORT lost (receiver to sender, just before REPORT, 0x0072)
run report --dir r2s --at-record 0x0072 --cut-after 0 -- --max-passes 0 --max-downtime 1 --bandwidth 20M
grep -q "hand-off is confirmed" "$T/sender.log" ||
    fail "report: the sender never learned that the guest runs there"
grep -Eq "post-copy paused: .*; [1-9][0-9]* block" "$T/receiver.log" ||
    fail "report: the receiver did not pause with blocks stale"
cleanup_run

# 3. REPORT lost, no post-copy
run report-nopc --dir r2s --at-record 0x0072 --cut-after 0 -- --no-postcopy
grep -q "hand-off is confirmed" "$T/sender.log" ||
    fail "report-nopc: the sender never learned that the guest runs there"
cleanup_run
