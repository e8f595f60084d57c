#!/bin/sh
# Hot-spot writes (most I/O to a small area): re-dirtied blocks converge.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 64M 32M
start_source src --workload hotspot --write-rate 6M
sleep 1
start_receiver
send --json --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
sleep 1
verify "$T/dst/xvda.sock"
