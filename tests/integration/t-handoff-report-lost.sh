#!/bin/sh
# The link breaks at the hand-off after GO reached the destination but
# before its REPORT reached the source (faultproxy cuts the
# receiver-to-sender stream just before REPORT): the destination runs the
# guest, post-copy pauses; the sender cannot tell who runs the guest
# ("outcome unknown"), so it keeps the source copy suspended and serves
# post-copy, reconnecting -- at once, not after the 300 s it may wait for a
# REPORT on a live channel (the destination's guest waits for its stale
# blocks meanwhile).  Once the destination's DONE proves it runs the
# guest, the sender must finish as after a normal hand-off: success, and
# the suspended source copy destroyed (not left behind holding its image).
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

mkimage src 32M 24M
start_source src --write-rate 4M
start_receiver --json --peer-timeout 5 --recover-timeout 30
"$FAULTPROXY" --to "$PORT" --port-file "$T/pport" --dir r2s \
    --at-record 0x72 --cut-after 0 >"$T/proxy.log" 2>&1 &
PROXY=$!
PIDS="$PIDS $PROXY"
wait_file "$T/pport"
PORT=$(cat "$T/pport")
send_bg --bandwidth 3M --max-passes 1 --peer-timeout 5 --recover-timeout 30 \
    --vbd "sim:$T/src.sock"
wait_event "$T/sender.log" phase handoff
t0=$(date +%s)
wait_sender
t1=$(date +%s)
wait_receiver
grep -q FIRED "$T/proxy.log" || fail "the cut never came (no REPORT?)"
grep -q "whether GO arrived" "$T/sender.log" ||
    fail "the sender did not see the hand-off's outcome as unknown"
[ $((t1 - t0)) -le 60 ] ||
    fail "the sender ended $((t1 - t0)) s after the hand-off (a post-copy of ~10 s)"
grep -q '"phase":"postcopy-paused"' "$T/receiver.log" || fail "no pause"
[ "$RECV_RC" = 0 ] || fail "receiver exit $RECV_RC, want 0"
[ "$SEND_RC" = 0 ] || fail "sender exit $SEND_RC once DONE came, want 0"
st=$(guest_state "$T/dst/xvda.sock")
[ "$st" = running ] || fail "destination guest is '$st'"
verify "$T/dst/xvda.sock"
# the source copy is gone, as after any hand-off the destination confirmed
sleep 0.5
st=$(guest_state "$T/src.sock")
[ -z "$st" ] || fail "the source VBD still serves a '$st' guest after DONE"
