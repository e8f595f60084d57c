#!/bin/sh
# An idle guest: one full pass, nothing dirty at stop-copy, no post-copy,
# and the wire carries about what is allocated.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 64M 24M
# A running guest that does not write (one block per hour).
start_source src --write-rate 1 --read-pct 0
start_receiver
send --json --compress never --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
[ "$(json_field "$T/sender.log" report final_blocks)" = 0 ] || fail "dirty blocks on an idle guest"
[ "$(json_field "$T/sender.log" report postcopy)" = false ] || fail "post-copy on an idle guest"
ratio=$(json_field "$T/sender.log" report wire_ratio)
note "wire/allocated = $ratio"
awk -v r="$ratio" 'BEGIN { exit !(r > 0.9 && r < 1.1) }' || fail "wire ratio $ratio"
# Holes stay holes on the target.
src_kb=$(du -k "$T/src.img" | cut -f1)
dst_kb=$(du -k "$T/dst/xvda.img" | cut -f1)
note "allocated: source ${src_kb} KiB, target ${dst_kb} KiB"
[ "$dst_kb" -le $((src_kb + 1024)) ] || fail "target not sparse"
verify "$T/dst/xvda.sock"
