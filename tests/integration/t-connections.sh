#!/bin/sh
# Several data connections (--connections): a guest writing random blocks
# (and another rewriting a hot area) migrates over 4 (3) connections, the
# report says how many carried the data, and the guest's own check passes
# on the destination: no older copy of a block landed after a newer one.
# Then the failures: one extra connection cut, or stalled, during PUSH
# rolls back (the guest runs on at the source, the destination keeps
# nothing) within the peer timeout; a hand-off cut after 3 connections
# recovers on one and finishes post-copy; --connections with a command
# endpoint is refused before anything starts.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

# 1. Random writes, post-copy allowed, 4 connections.
mkimage src 96M 48M
start_source src --write-rate 4M --read-pct 30
sleep 1
start_receiver
# One limit for all of them: PUSH takes about 1.5 s, dirty passes follow.
send --json --connections 4 --bandwidth 40M --max-downtime 5 \
    --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send over 4 connections failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
[ "$(json_field "$T/sender.log" report connections)" = 4 ] ||
    fail "the report does not say 4 connections"
[ "$(json_field "$T/sender.log" report passes)" -gt 0 ] ||
    fail "no dirty pass: the test did not test ordering"
sleep 1
verify "$T/dst/xvda.sock"
note "4 connections: $(json_field "$T/sender.log" report total_s) s," \
     "passes $(json_field "$T/sender.log" report passes)," \
     "final $(json_field "$T/sender.log" report final_blocks) blocks," \
     "post-copy $(json_field "$T/sender.log" report postcopy)"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
"$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null 2>&1 || true
sleep 0.3
rm -rf "$T/dst" "$T"/src.*

# 2. A hot spot rewritten again and again, every block before the
#    hand-off, 3 connections: the ordering of copies under stress.
mkimage src 64M 32M
start_source src --workload hotspot --write-rate 8M --read-pct 20
sleep 1
start_receiver
send --json --connections 3 --no-postcopy --bandwidth 30M --max-downtime 5 \
    --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send over 3 connections failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
[ "$(json_field "$T/sender.log" report connections)" = 3 ] ||
    fail "the report does not say 3 connections"
[ "$(json_field "$T/sender.log" report postcopy)" = false ] ||
    fail "post-copy with --no-postcopy"
[ "$(json_field "$T/sender.log" report resent_blocks)" -gt 0 ] ||
    fail "no block was sent twice: the test did not test ordering"
sleep 1
verify "$T/dst/xvda.sock"
note "hot spot, 3 connections: resent" \
     "$(json_field "$T/sender.log" report resent_blocks) blocks"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
"$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null 2>&1 || true
sleep 0.3
rm -rf "$T/dst" "$T"/src.*

# 3. The third connection cut mid-PUSH: both sides give up, nothing lost.
mkimage src 48M 32M
start_source src --write-rate 2M
start_receiver
"$FAULTPROXY" --to "$PORT" --port-file "$T/pport" --conn 3 \
    --cut-after 4000000 >"$T/proxy.log" 2>&1 &
PIDS="$PIDS $!"
wait_file "$T/pport"
PORT=$(cat "$T/pport")
send --connections 4 --vbd "sim:$T/src.sock"
[ "$SEND_RC" != 0 ] || fail "sender reported success after a cut"
wait_receiver
[ "$RECV_RC" != 0 ] || fail "receiver reported success after a cut"
grep -q "FIRED cut" "$T/proxy.log" || fail "the proxy never cut"
assert_dest_clean
assert_source_intact src
note "cut: $(grep -o 'failed before the hand-off: [^;]*' "$T/sender.log" | head -n1)"

# 4. The second connection stalls (nothing delivered, nothing closed):
#    the peer timeout ends it on both sides, the guest runs on here.
start_receiver --peer-timeout 3
"$FAULTPROXY" --to "$PORT" --port-file "$T/pport2" --conn 2 \
    --stall-after 2000000 --dir both >"$T/proxy2.log" 2>&1 &
PIDS="$PIDS $!"
wait_file "$T/pport2"
PORT=$(cat "$T/pport2")
t0=$(date +%s)
send --connections 2 --peer-timeout 3 --vbd "sim:$T/src.sock"
t1=$(date +%s)
[ "$SEND_RC" != 0 ] || fail "sender reported success after a stall"
[ $((t1 - t0)) -lt 25 ] || fail "the stall took $((t1 - t0)) s to end"
wait_receiver
[ "$RECV_RC" != 0 ] || fail "receiver reported success after a stall"
grep -q "FIRED stall" "$T/proxy2.log" || fail "the proxy never stalled"
assert_dest_clean
assert_source_intact src
note "stall: given up after $((t1 - t0)) s"

# 5. Post-copy after 3 connections, the link cut just before the REPORT:
#    the receiver runs the guest and pauses post-copy, the sender asks
#    again on one new connection (the proxy relays it), learns that the
#    guest runs there, and post-copy finishes over it.
"$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null 2>&1 || true
sleep 0.3
rm -rf "$T/dst" "$T"/src.*
mkimage src 32M 24M
start_source src --write-rate 2M
start_receiver --peer-timeout 5 --recover-timeout 60
"$FAULTPROXY" --to "$PORT" --port-file "$T/pport3" --conn 1 --dir r2s \
    --at-record 0x0072 --cut-after 0 >"$T/proxy3.log" 2>&1 &
PIDS="$PIDS $!"
wait_file "$T/pport3"
PORT=$(cat "$T/pport3")
send --json --connections 3 --max-passes 0 --max-downtime 1 --bandwidth 20M \
    --peer-timeout 5 --vbd "sim:$T/src.sock"
wait_receiver
grep -q "FIRED cut" "$T/proxy3.log" || fail "the proxy never cut before REPORT"
[ "$SEND_RC" = 0 ] && [ "$RECV_RC" = 0 ] ||
    fail "recovery after 3 connections: sender $SEND_RC receiver $RECV_RC"
[ "$(json_field "$T/sender.log" report connections)" = 3 ] ||
    fail "the report does not say 3 connections"
[ "$(json_field "$T/sender.log" report postcopy)" = true ] ||
    fail "no post-copy: the recovery was not tested"
grep -q "hand-off is confirmed" "$T/sender.log" ||
    fail "the sender never learned that the guest runs there"
[ "$(guest_state "$T/src.sock")" != running ] || fail "the source guest runs as well"
sleep 1
verify "$T/dst/xvda.sock"
note "recovered: $(json_field "$T/sender.log" report final_blocks) blocks" \
     "post-copied over one connection"

# 6. Only to a tcp: destination; a bad count is refused at once.
set +e
"$XLMIG" send --connections 2 --vbd "sim:$T/src.sock" "cmd:cat" \
    >"$T/cmd.log" 2>&1
rc=$?
"$XLMIG" send --connections 9 --vbd "sim:$T/src.sock" tcp:127.0.0.1:1 \
    >"$T/nine.log" 2>&1
rc9=$?
set -e
[ "$rc" = 2 ] || fail "--connections with cmd: gave $rc, not 2"
grep -q "only to a tcp" "$T/cmd.log" || fail "no reason for cmd: refused"
[ "$rc9" = 2 ] || fail "--connections 9 gave $rc9, not 2"
