#!/bin/sh
# The data connection is cut during post-copy (ss -K, as a link that
# breaks): both sides pause, the sender reconnects by itself, post-copy
# resumes from the receiver's stale set and finishes; the destination
# guest's own check passes.  Then the same with the receiver's listener
# behind a proxy that dies: `xlmig recover` over another port finishes it.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
command -v ss >/dev/null || { echo "no ss"; exit 77; }

mkimage src 32M 24M
start_source src --write-rate 4M
start_receiver --peer-timeout 5
send_bg --bandwidth 3M --max-passes 1 --peer-timeout 5 \
    --vbd "sim:$T/src.sock"
wait_event "$T/sender.log" phase postcopy
sleep 1
ss -K dst 127.0.0.1 dport = "$PORT" >/dev/null 2>&1 || true
wait_event "$T/sender.log" postcopy postcopy-paused
wait_sender
wait_receiver
[ "$SEND_RC" = 0 ] || fail "sender exit $SEND_RC after the cut, want 0"
[ "$RECV_RC" = 0 ] || fail "receiver exit $RECV_RC after the cut, want 0"
grep -q '"phase":"postcopy-recovering"' "$T/sender.log" ||
    fail "no recovery event"
grep -q "post-copy paused" "$T/receiver.log" || fail "receiver never paused"
verify "$T/dst/xvda.sock"
note "cut and resumed: $(json_field "$T/sender.log" report postcopy_s) s of post-copy"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
"$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null 2>&1 || true
sleep 0.3
rm -rf "$T/dst" "$T"/src.* "$T"/*.log

# Through a proxy that is cut for good: recovery by command, another port.
mkimage src 32M 24M
start_source src --write-rate 4M
start_receiver --peer-timeout 5
REAL=$PORT
"$FAULTPROXY" --to "$REAL" --port-file "$T/pport" >"$T/proxy.log" 2>&1 &
PROXY=$!
PIDS="$PIDS $PROXY"
wait_file "$T/pport"
PORT=$(cat "$T/pport")
send_bg --bandwidth 3M --max-passes 1 --peer-timeout 5 \
    --session-file "$T/session" --vbd "sim:$T/src.sock"
wait_event "$T/sender.log" phase postcopy
sleep 1
kill -9 "$PROXY"                        # the route is gone for good
wait_event "$T/sender.log" postcopy postcopy-paused
kill -9 "$SEND_PID"                     # and the first sender gives up
"$XLMIG" recover --quiet --session "$T/session" "tcp:127.0.0.1:$REAL" \
    >"$T/recover.log" 2>&1 || { cat "$T/recover.log" >&2; fail "recover"; }
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receiver exit $RECV_RC, want 0"
verify "$T/dst/xvda.sock"
