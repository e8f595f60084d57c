#!/bin/sh
# The guest writes faster than the link carries: pre-copy cannot converge,
# so the stale bitmap is handed over and post-copy finishes the disk while
# the guest runs (and reads) on the destination.  Block size 16 KiB makes
# the guest's 4 KiB writes partial blocks for the gate.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 8M 4M
start_source src --write-rate 8M --read-pct 40
sleep 0.5
start_receiver
send --json --bandwidth 4M --block-size 16384 --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
[ "$(json_field "$T/sender.log" report postcopy)" = true ] || fail "expected post-copy"
stale=$(json_field "$T/sender.log" report final_blocks)
note "post-copy of $stale blocks: $(json_field "$T/sender.log" report demanded_blocks) demanded, $(json_field "$T/sender.log" report background_blocks) pushed, $(json_field "$T/sender.log" report overwritten_blocks) overwritten by the guest"
[ "$stale" -gt 0 ] || fail "no stale blocks"
sleep 1
verify "$T/dst/xvda.sock"
