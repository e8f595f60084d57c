#!/bin/sh
# The destination file system is too small: refused up front when the
# allocated size does not fit; stopped cleanly when writes run out of room
# half-way (the guest keeps writing new blocks during PUSH).
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to mount a tmpfs"; exit 77; }
mkdir -p "$T/dst"
mount -t tmpfs -o size=6m xlmig-test "$T/dst" || { echo "SKIP: no tmpfs"; exit 77; }
trap 'rc=$?; umount -l "$T/dst" 2>/dev/null || true; (exit $rc); cleanup' EXIT INT TERM
mkimage src 32M 16M
start_source src --write-rate 2M
start_receiver
send --vbd "sim:$T/src.sock"
[ "$SEND_RC" != 0 ] || fail "sender reported success"
wait_receiver
grep -q "not enough space" "$T/receiver.log" || fail "no space error"
assert_dest_clean
# Room for what is allocated now, not for what the guest adds meanwhile.
umount "$T/dst"
mount -t tmpfs -o size=17m xlmig-test "$T/dst"
"$XLMIG_VBDSIM" ctl "$T/src.sock" stats >/dev/null
start_receiver
send --vbd "sim:$T/src.sock" --bandwidth 4M
if [ "$SEND_RC" = 0 ]; then
    note "the guest's new blocks happened to fit"
else
    wait_receiver
    grep -q "No space left\|not enough space" "$T/receiver.log" || fail "unexpected failure"
    assert_dest_clean
fi
assert_source_intact src
