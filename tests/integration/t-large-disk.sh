#!/bin/sh
# 1 TiB sparse disks: everything between suspend and GO costs what is
# dirty and allocated, not the disk's size (the simulator's model, its
# state and its check included), and a 1 TiB target verifies.  Then the
# same size through post-copy: the stale bitmap and the gate at 1 TiB.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

# Nearly idle: one write a second anywhere on the 1 TiB.
mkimage src 1T 64M
start_source src --write-rate 4K --read-pct 0
start_receiver
send --json --compress never --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
disk=$(json_field "$T/sender.log" report disk_downtime_ms)
guest=$(json_field "$T/sender.log" report guest_downtime_ms)
note "1 TiB, 64 MiB allocated: disk downtime $disk ms, guest downtime $guest ms"
# O(disk) would be seconds here (the arrays alone: 1.25 GiB); idle it is
# a few ms.  The bound leaves room for a loaded machine.
awk -v d="$disk" -v g="$guest" 'BEGIN { exit !(d >= 0 && d < 1000 && g >= 0 && g < 1000) }' ||
    fail "downtime disk $disk ms, guest $guest ms on an idle 1 TiB disk"
dst_kb=$(du -k "$T/dst/xvda.img" | cut -f1)
note "target: $(stat -c %s "$T/dst/xvda.img") bytes, $dst_kb KiB allocated"
[ "$(stat -c %s "$T/dst/xvda.img")" = 1099511627776 ] || fail "target size"
[ "$dst_kb" -le $((80 * 1024)) ] || fail "target not sparse"
verify "$T/dst/xvda.sock"
grep -q "1099511627776\|268435456 blocks" "$T/verify-xvda.sock.log" ||
    grep -q "result: PASS" "$T/verify-xvda.sock.log" || fail "verify output"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null 2>&1 || true

# Post-copy: the guest writes faster than the link carries (and each
# random write dirties a new block of the 1 TiB): one pass, then the
# stale bitmap goes.
rm -rf "$T/dst"
mkimage big 1T 4M --seed 7
start_source big --write-rate 4M --read-pct 40
sleep 0.5
start_receiver
send --json --bandwidth 8M --max-passes 1 --vbd "sim:$T/big.sock,name=xvdb"
[ "$SEND_RC" = 0 ] || fail "post-copy send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "post-copy receive failed ($RECV_RC)"
[ "$(json_field "$T/sender.log" report postcopy)" = true ] || fail "expected post-copy"
stale=$(json_field "$T/sender.log" report final_blocks)
note "1 TiB post-copy of $stale blocks, disk downtime $(json_field "$T/sender.log" report disk_downtime_ms) ms"
[ "$stale" -gt 0 ] || fail "no stale blocks"
sleep 1
verify "$T/dst/xvdb.sock"
