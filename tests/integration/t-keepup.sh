#!/bin/sh
# Keep-up: while the guest's memory would be migrating (here 3 s), the disk
# engine sends dirty blocks only when they no longer fit the downtime
# budget; when the guest out-writes the link it sends none at all.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 32M 8M
start_source src --write-rate 3M
start_receiver
send --json --memory-seconds 3 --max-downtime 20 --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
k=$(json_field "$T/sender.log" report keepup_passes)
f=$(json_field "$T/sender.log" report final_blocks)
note "moderate writer: $k keep-up passes, $f blocks left for stop-copy"
[ "$k" -gt 0 ] || fail "keep-up sent nothing in 3 s of writes"
# Keep-up's passes are its own: phase "keepup", numbered 1..k, not counted
# as dirty passes (--max-passes bounds those).
n=$(grep '"event":"pass"' "$T/sender.log" | grep -c '"phase":"keepup"' || true)
[ "$n" = "$k" ] || fail "$n keep-up pass events for $k keep-up passes"
grep '"event":"pass"' "$T/sender.log" | grep '"phase":"keepup"' | tail -n1 |
    grep -q "\"pass\":$k," || fail "the last keep-up pass is not number $k"
! grep '"phase":"dirty"' "$T/sender.log" | grep '"event":"progress"' |
    grep -q "\"pass\":$(( $(json_field "$T/sender.log" report passes) + 1 ))" ||
    fail "a dirty tick numbered past the report's passes"
# 3 MB/s for 3 s is ~2200 blocks: keep-up must have trimmed it.
[ "$f" -lt 1500 ] || fail "keep-up left $f blocks"
verify "$T/dst/xvda.sock"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null
rm -rf "$T/dst" "$T"/src.*

mkimage src 8M 4M
start_source src --write-rate 8M
start_receiver
send --json --memory-seconds 3 --bandwidth 3M --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
k=$(json_field "$T/sender.log" report keepup_passes)
note "overloaded link: $k keep-up passes, post-copy $(json_field "$T/sender.log" report postcopy)"
[ "$k" = 0 ] || fail "keep-up resent blocks on a link the guest out-writes"
[ "$(json_field "$T/sender.log" report postcopy)" = true ] || fail "no post-copy"
verify "$T/dst/xvda.sock"
