#!/bin/sh
# Either side dies during post-copy (after GO).  The sender: the receiver
# pauses (the guest runs on, stale accesses wait) and `xlmig recover`
# resumes from the session the sender saved; nobody coming back makes the
# receiver give up after its recovery timeout, naming the blocks that exist
# only on the source.  The receiver: the sender pauses, retries, and after
# its recovery timeout reports the failure loudly.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

postcopy_started() {
    mkimage src 8M 4M
    start_source src --write-rate 8M
    start_receiver "$@"
    send_bg --bandwidth 2M --max-passes 1 --session-file "$T/session" \
        --recover-timeout 4 --vbd "sim:$T/src.sock"
    wait_event "$T/sender.log" phase postcopy
    sleep 0.3
}

cleanup_round() {
    "$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null 2>&1 || true
    for s in "$T"/dst/*.sock; do
        "$XLMIG_VBDSIM" ctl "$s" shutdown >/dev/null 2>&1 || true
    done
    sleep 0.3
    rm -rf "$T/dst" "$T"/src.* "$T"/*.log "$T/session"
}

# 1. The sender is killed; a new one resumes from its session.
postcopy_started
kill -9 "$SEND_PID"
wait_file "$T/session"
grep -q '^xlmig-token ' "$T/session" || fail "no session saved"
sleep 1
"$XLMIG" recover --quiet --session "$T/session" >"$T/recover.log" 2>&1 ||
    { cat "$T/recover.log" >&2; fail "recover failed"; }
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receiver exit $RECV_RC after recovery, want 0"
grep -q "post-copy paused" "$T/receiver.log" || fail "receiver never paused"
[ ! -e "$T/session" ] || fail "the session outlived its success"
verify "$T/dst/xvda.sock"
cleanup_round

# 2. The sender is killed and nobody comes back.
postcopy_started --recover-timeout 3
kill -9 "$SEND_PID"
wait_receiver
[ "$RECV_RC" = 3 ] || fail "receiver exit $RECV_RC, want 3"
grep -q "POST-COPY FAILED" "$T/receiver.log" || fail "no loud failure"
grep -q "exist only on the source" "$T/receiver.log" ||
    fail "unrecoverable window not named"
cleanup_round

# 3. The receiver is killed: the sender retries, then fails loudly.
postcopy_started
kill -9 "$RECV_PID"
wait_sender
[ "$SEND_RC" = 3 ] || fail "sender exit $SEND_RC, want 3"
grep -q "POST-COPY FAILED" "$T/sender.log" || fail "no loud failure"
grep -q "exist only in the source image" "$T/sender.log" ||
    fail "the sender does not say which blocks are at risk"
grep -q "postcopy-paused" "$T/sender.log" || fail "the sender never paused"
