#!/bin/sh
# Same overload as t-postcopy, but --no-postcopy: everything is sent during
# the downtime (long), nothing is left on the source after GO.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 8M 4M
start_source src --write-rate 8M
sleep 0.5
start_receiver
send --json --bandwidth 4M --no-postcopy --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
[ "$(json_field "$T/sender.log" report postcopy)" = false ] || fail "post-copy used"
[ "$(json_field "$T/sender.log" report final_blocks)" -gt 0 ] || fail "nothing sent in stop-copy"
sleep 1
verify "$T/dst/xvda.sock"
