#!/bin/sh
# Three disks of one guest migrate together, each checked on its own.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
for d in a b c; do
    mkimage "$d" 32M 12M --seed "$(printf '%d' "'$d")"
    start_source "$d" --write-rate 2M
done
start_receiver
send --json --vbd "sim:$T/a.sock" --vbd "sim:$T/b.sock,name=data" \
    --vbd "sim:$T/c.sock,name=xvdz"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
for n in xvda data xvdz; do
    [ -f "$T/dst/$n.img" ] || fail "no target for $n"
    verify "$T/dst/$n.sock"
done
