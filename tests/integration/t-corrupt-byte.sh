#!/bin/sh
# One byte of the stream is flipped in transit: the receiver's checksum
# catches it, says so, and both sides roll back.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
mkimage src 32M 16M
start_source src --write-rate 2M
start_receiver
"$FAULTPROXY" --to "$PORT" --port-file "$T/pport" --flip-at 2000000 \
    >"$T/proxy.log" 2>&1 &
PIDS="$PIDS $!"
wait_file "$T/pport"
PORT=$(cat "$T/pport")
send --vbd "sim:$T/src.sock"
[ "$SEND_RC" != 0 ] || fail "sender reported success"
wait_receiver
[ "$RECV_RC" != 0 ] || fail "receiver reported success"
grep -q "checksum" "$T/receiver.log" || fail "corruption not named"
grep -q "checksum" "$T/sender.log" || fail "sender not told why"
assert_dest_clean
assert_source_intact src
