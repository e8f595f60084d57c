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
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null
rm -rf "$T/dst" "$T"/src.*

# The link's share while the memory moves (--keepup-share): on an 8 MB/s
# link, keep-up may use 2 MB/s on average (25%); without the cap it sends
# what the guest writes.  What the cap holds back goes post-copy.
for share in 100 25; do
    mkimage src 64M 16M
    start_source src --write-rate 4M
    start_receiver
    send --json --memory-seconds 4 --bandwidth 8M --keepup-share "$share" \
        --vbd "sim:$T/src.sock"
    [ "$SEND_RC" = 0 ] || fail "share $share: send failed ($SEND_RC)"
    wait_receiver
    [ "$RECV_RC" = 0 ] || fail "share $share: receive failed ($RECV_RC)"
    b=$(json_field "$T/sender.log" report keepup_bytes)
    l=$(json_field "$T/sender.log" report keepup_limit_Bps)
    d=$(json_field "$T/sender.log" report keepup_deferred)
    note "share $share%: keep-up sent $b bytes in 4 s (limit ${l} B/s, $d passes deferred), $(json_field "$T/sender.log" report final_blocks) blocks left for stop-copy"
    eval "bytes_$share=$b"
    verify "$T/dst/xvda.sock"
    "$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null
    rm -rf "$T/dst" "$T"/src.*
done
[ "$l" = 2000000 ] || fail "the limit is not 25% of the 8 MB/s link: $l"
[ "$d" -gt 0 ] || fail "the cap never deferred a pass"
# 2 MB/s over 4 s, plus the pass that crossed it (at most what the guest
# wrote meanwhile: < 2 MB at 4 MiB/s per 0.5 s)
[ "$bytes_25" -le 10000000 ] || fail "keep-up sent $bytes_25 bytes under a 2 MB/s cap"
[ "$bytes_25" -lt "$bytes_100" ] || fail "the cap changed nothing ($bytes_25 vs $bytes_100)"
