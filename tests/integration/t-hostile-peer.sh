#!/bin/sh
# A hostile or broken sender: every malformed record is refused with a
# clear error, and the receiver leaves nothing behind.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
for case in traversal data-out-of-range data-short-payload bad-zlib \
            unknown-type postcopy-early garbage truncated; do
    start_receiver
    "$BADPEER" "$PORT" "$case" >"$T/badpeer.log" 2>&1 ||
        fail "$case: receiver accepted it: $(cat "$T/badpeer.log")"
    wait_receiver
    [ "$RECV_RC" != 0 ] || fail "$case: receiver exited 0"
    note "$case: $(grep -m1 'receive failed' "$T/receiver.log")"
    grep -q "receive failed" "$T/receiver.log" || fail "$case: no error"
    assert_dest_clean
    [ ! -e "$T/escape.img" ] && [ ! -e "$T/../escape.img" ] || fail "path escaped"
done
