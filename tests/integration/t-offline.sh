#!/bin/sh
# Cold migration (xlmig send --offline): stopped guests' disks, moved once.
#  1. two images with holes, --verify: the targets equal the sources,
#     byte for byte, and stay sparse;
#  2. cut in the middle (the sender killed): the receiver keeps what it
#     flushed; run again, only the rest goes, the result is exact;
#  3. the source image changed between the attempts: the partial copy is
#     not reused;
#  4. a running simulated guest is refused without --shutdown; with it, it
#     is shut down and moved, and --start runs it on the destination,
#     where its own check passes.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

kb() { du -k "$1" | cut -f1; }

reset() {
    for s in "$T"/*.sock "$T"/dst/*.sock; do
        [ -S "$s" ] && "$XLMIG_VBDSIM" ctl "$s" shutdown >/dev/null 2>&1 || true
    done
    sleep 0.3
    rm -rf "$T/dst" "$T"/*.img "$T"/*.log
}

# 1. two sparse images
mkimage a 64M 20M --seed 3
mkimage b 32M 8M --seed 4
start_receiver --json
send --json --offline --verify --image "xvda=$T/a.img" --image "data=$T/b.img"
wait_receiver
[ "$SEND_RC" = 0 ] || fail "sparse: send exit $SEND_RC"
[ "$RECV_RC" = 0 ] || fail "sparse: receive exit $RECV_RC"
cmp "$T/a.img" "$T/dst/xvda.img" || fail "sparse: xvda differs"
cmp "$T/b.img" "$T/dst/data.img" || fail "sparse: data differs"
[ "$(kb "$T/dst/xvda.img")" -le $(( $(kb "$T/a.img") + 64 )) ] ||
    fail "sparse: the target is not sparse ($(kb "$T/dst/xvda.img") KiB)"
[ "$(json_field "$T/sender.log" report verify_result)" = passed ] ||
    fail "sparse: verification did not pass"
ls "$T"/dst/*.xlmig-partial >/dev/null 2>&1 && fail "sparse: records left"
note "two sparse disks: exact, $(kb "$T/dst/xvda.img") KiB allocated of 64 MiB"
reset

# 2. cut, then run again
mkimage a 64M 48M --seed 5
start_receiver --json
send_bg --offline --verify --bandwidth 8M --image "xvda=$T/a.img"
i=0
until grep -q '"event":"progress"' "$T/sender.log" 2>/dev/null &&
      [ -s "$T/dst/xvda.img.xlmig-partial" ] &&
      [ "$(grep -c '^[0-9]' "$T/dst/xvda.img.xlmig-partial")" -gt 0 ]; do
    i=$((i + 1)); [ $i -lt 600 ] || fail "cut: no progress recorded"
    sleep 0.05
done
sleep 1
kill -9 "$SEND_PID"
wait_receiver
[ "$RECV_RC" = 1 ] || fail "cut: receive exit $RECV_RC, want 1"
[ -f "$T/dst/xvda.img" ] || fail "cut: the partial target was deleted"
held=$(sed -n 's/^end //p' "$T/dst/xvda.img.xlmig-partial")
[ "${held:-0}" -gt 0 ] || fail "cut: nothing recorded as held"
start_receiver --json
send --json --offline --verify --image "xvda=$T/a.img"
wait_receiver
[ "$SEND_RC" = 0 ] || fail "resume: send exit $SEND_RC"
[ "$RECV_RC" = 0 ] || fail "resume: receive exit $RECV_RC"
resumed=$(json_field "$T/sender.log" report resumed_blocks)
[ "$resumed" = "$held" ] ||
    fail "resume: $resumed blocks resumed, the record held $held"
cmp "$T/a.img" "$T/dst/xvda.img" || fail "resume: the target differs"
note "cut after $held blocks were held; resumed with $resumed, exact"
reset

# 3. the source changed between attempts: no reuse
mkimage a 32M 24M --seed 6
start_receiver --json
send_bg --offline --bandwidth 4M --image "xvda=$T/a.img"
sleep 3
kill -9 "$SEND_PID"
wait_receiver
[ -f "$T/dst/xvda.img.xlmig-partial" ] || fail "changed: no record kept"
printf 'changed' | dd of="$T/a.img" bs=1 seek=8192 conv=notrunc 2>/dev/null
start_receiver --json
send --json --offline --image "xvda=$T/a.img"
wait_receiver
[ "$SEND_RC" = 0 ] || fail "changed: send exit $SEND_RC"
[ "$(json_field "$T/sender.log" report resumed_blocks)" = 0 ] ||
    fail "changed: a partial copy of other content was reused"
grep -q "starting over" "$T/receiver.log" || fail "changed: no warning"
cmp "$T/a.img" "$T/dst/xvda.img" || fail "changed: the target differs"
note "changed source: started over, exact"
reset

# 4. a running simulated guest; --shutdown; --start
mkimage g 32M 16M --seed 7
start_source g --write-rate 2M
sleep 1
start_receiver --json --start
send --json --offline --vbd "sim:$T/g.sock"
[ "$SEND_RC" = 1 ] || fail "running: send exit $SEND_RC, want 1 (refused)"
grep -q "the guest is running" "$T/sender.log" || fail "running: no reason"
[ "$(guest_state "$T/g.sock")" = running ] || fail "running: guest stopped"
kill -9 "$RECV_PID" 2>/dev/null; wait_receiver
# Started paused, to compare the disks before the guest writes again.
start_receiver --json --start --vbd-args "--paused --write-rate 1M"
send --json --offline --shutdown --vbd "sim:$T/g.sock"
wait_receiver
[ "$SEND_RC" = 0 ] || fail "shutdown: send exit $SEND_RC"
[ "$RECV_RC" = 0 ] || fail "shutdown: receive exit $RECV_RC"
[ -S "$T/g.sock" ] && fail "shutdown: the source guest still serves"
wait_socket "$T/dst/xvda.sock"
cmp "$T/g.img" "$T/dst/xvda.img" || fail "shutdown: the target differs"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" unpause >/dev/null ||
    fail "--start: cannot unpause the destination guest"
sleep 1
[ "$(guest_state "$T/dst/xvda.sock")" = running ] ||
    fail "--start: the guest does not run on the destination"
verify "$T/dst/xvda.sock"
note "running guest refused, then shut down, moved and started there: check PASS"
