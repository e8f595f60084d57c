#!/bin/sh
# A guest writing random 4 KiB blocks: dirty passes, a short stop-copy,
# the guest continues on the destination and its checker passes there.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 64M 32M
start_source src --write-rate 4M --read-pct 30
sleep 1
start_receiver
send --json --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
[ "$(guest_state "$T/dst/xvda.sock")" = running ] || fail "guest not running on the destination"
sleep 1
verify "$T/dst/xvda.sock"
note "disk downtime $(json_field "$T/sender.log" report disk_downtime_ms) ms"
