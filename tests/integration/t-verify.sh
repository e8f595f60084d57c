#!/bin/sh
# --verify: every extent is checked end to end, against what the receiver
# reads back from its disk.
#  1. clean: the check passes and --remove-source removes the source image;
#  2. a block damaged on the destination's disk after it is written and
#     before it is read back (the receiver's test hook, behind its back) is
#     caught, sent again and then matches; --remove-source is refused;
#  3. a block that reads back wrong every time: the migration fails before
#     the hand-off, the guest runs on at the source, nothing is left;
#  4. damaged during a post-copy install: rewritten before the guest can
#     read it, the guest's own check passes;
#  5. post-copy cut and resumed on a new channel: the checks go on there;
#  6. with --connections 3: one connection (DIGEST before its DATA on one
#     stream), said, and the check passes.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

reset() {
    for s in "$T"/*.sock "$T"/dst/*.sock; do
        [ -S "$s" ] && "$XLMIG_VBDSIM" ctl "$s" shutdown >/dev/null 2>&1 || true
    done
    sleep 0.3
    rm -rf "$T/dst" "$T"/src.* "$T"/*.log
}

# 1. clean
mkimage src 32M 24M
start_source src --write-rate 1M
start_receiver --json
send --json --verify --remove-source --vbd "sim:$T/src.sock"
wait_receiver
[ "$SEND_RC" = 0 ] || fail "clean: send exit $SEND_RC"
[ "$RECV_RC" = 0 ] || fail "clean: receive exit $RECV_RC"
[ "$(json_field "$T/sender.log" report verify_result)" = passed ] ||
    fail "clean: verify_result is not passed"
n=$(json_field "$T/receiver.log" report verified_digests)
[ "${n:-0}" -gt 300 ] || fail "clean: only ${n:-0} digests checked"
[ ! -e "$T/src.img" ] || fail "clean: --remove-source kept the source image"
verify "$T/dst/xvda.sock"
note "clean: $n digests checked, source image removed"
reset

# 2. block 0 (never written by the guest) damaged once after it is written
mkimage src 32M 24M
start_source src --write-rate 1M
XLMIG_TEST_CORRUPT_AFTER_WRITE=xvda:0 start_receiver --json
send --json --verify --remove-source --vbd "sim:$T/src.sock"
wait_receiver
[ "$SEND_RC" = 4 ] || fail "damaged once: send exit $SEND_RC, want 4 (source kept)"
[ "$RECV_RC" = 0 ] || fail "damaged once: receive exit $RECV_RC"
[ "$(json_field "$T/sender.log" report verify_result)" = repaired ] ||
    fail "damaged once: verify_result is not repaired"
json_field "$T/sender.log" report verify_mismatches | grep -q 'xvda:0+' ||
    fail "damaged once: the report does not name block 0"
grep -q -- "--remove-source refused" "$T/sender.log" ||
    fail "damaged once: no refusal message"
[ -e "$T/src.img" ] || fail "damaged once: the source image was removed"
cmp -n 4096 "$T/src.img" "$T/dst/xvda.img" ||
    fail "damaged once: block 0 differs on the destination"
verify "$T/dst/xvda.sock"
note "damaged once: caught ($(json_field "$T/sender.log" report verify_mismatches)), re-sent, source kept"
reset

# 3. damaged every time it is written: fails before GO
mkimage src 32M 24M
start_source src --write-rate 1M
XLMIG_TEST_CORRUPT_AFTER_WRITE=xvda:0:always start_receiver --json
send --json --verify --no-postcopy --vbd "sim:$T/src.sock"
wait_receiver
[ "$SEND_RC" = 1 ] || fail "damaged always: send exit $SEND_RC, want 1"
[ "$RECV_RC" = 1 ] || fail "damaged always: receive exit $RECV_RC, want 1"
[ "$(json_field "$T/sender.log" report verify_result)" = failed ] ||
    fail "damaged always: verify_result is not failed"
grep -q "before the hand-off" "$T/sender.log" ||
    fail "damaged always: the error does not say it stopped before GO"
assert_source_intact src
assert_dest_clean
note "damaged always: failed before the hand-off, guest runs at the source"
reset

# 4. damaged in a post-copy install
mkimage src 32M 24M
start_source src --write-rate 4M
XLMIG_TEST_CORRUPT_AFTER_WRITE=xvda:any:postcopy start_receiver --json
send --json --verify --bandwidth 3M --max-passes 1 --vbd "sim:$T/src.sock"
wait_receiver
[ "$SEND_RC" = 0 ] || fail "post-copy: send exit $SEND_RC"
[ "$RECV_RC" = 0 ] || fail "post-copy: receive exit $RECV_RC"
[ "$(json_field "$T/sender.log" report postcopy)" = true ] ||
    fail "post-copy: no post-copy happened"
[ "$(json_field "$T/sender.log" report verify_result)" = repaired ] ||
    fail "post-copy: verify_result is not repaired"
[ "$(json_field "$T/receiver.log" report verify_unresolved_blocks)" = 0 ] ||
    fail "post-copy: unresolved blocks"
verify "$T/dst/xvda.sock"
note "post-copy install: caught ($(json_field "$T/receiver.log" report verify_mismatches)) and rewritten before the guest saw it"
reset

# 5. the post-copy's channel cut (ss -K) and resumed: still checked
if command -v ss >/dev/null; then
    mkimage src 32M 24M
    start_source src --write-rate 4M
    start_receiver --json --peer-timeout 5
    send_bg --verify --bandwidth 3M --max-passes 1 --peer-timeout 5 \
        --vbd "sim:$T/src.sock"
    wait_event "$T/sender.log" phase postcopy
    sleep 1
    ss -K dst 127.0.0.1 dport = "$PORT" >/dev/null 2>&1 || true
    wait_event "$T/sender.log" postcopy postcopy-paused
    wait_sender
    wait_receiver
    [ "$SEND_RC" = 0 ] || fail "cut: send exit $SEND_RC"
    [ "$RECV_RC" = 0 ] || fail "cut: receive exit $RECV_RC"
    [ "$(json_field "$T/sender.log" report verify_result)" = passed ] ||
        fail "cut: verification did not pass after the resume"
    verify "$T/dst/xvda.sock"
    note "post-copy cut and resumed: $(json_field "$T/receiver.log" report verified_digests) digests checked, passed"
fi

reset

# 6. --connections with --verify: one connection, with a warning
mkimage src 32M 24M
start_source src --write-rate 1M
start_receiver --json
send --json --verify --connections 3 --vbd "sim:$T/src.sock"
wait_receiver
[ "$SEND_RC" = 0 ] || fail "connections: send exit $SEND_RC"
[ "$RECV_RC" = 0 ] || fail "connections: receive exit $RECV_RC"
grep -q "one data connection: --verify uses one (3 asked)" "$T/sender.log" ||
    fail "connections: no warning that --verify uses one connection"
[ "$(json_field "$T/sender.log" report connections)" = 1 ] ||
    fail "connections: the report says $(json_field "$T/sender.log" report connections) connections"
[ "$(json_field "$T/sender.log" report verify_result)" = passed ] ||
    fail "connections: verify_result is not passed"
verify "$T/dst/xvda.sock"
note "--verify --connections 3: one connection, passed"
