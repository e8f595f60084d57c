#!/bin/sh
# A mostly sparse image in small chunks: holes are skipped, not sent, and
# stay holes on the target.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 256M 8M --chunk 64K
start_source src --write-rate 1M
start_receiver
send --json --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
wire=$(json_field "$T/sender.log" report wire_bytes)
note "wire bytes $wire for 8 MiB allocated in a 256 MiB image"
[ "$wire" -lt $((16 * 1048576)) ] || fail "holes were sent"
dst_kb=$(du -k "$T/dst/xvda.img" | cut -f1)
[ "$dst_kb" -lt $((24 * 1024)) ] || fail "target is not sparse (${dst_kb} KiB)"
verify "$T/dst/xvda.sock"
