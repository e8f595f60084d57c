#!/bin/sh
# Free space on the target: a file system with exactly the allocated size
# free is refused (the guest writes new blocks meanwhile and after the
# hand-off); on a thin target the receiver says how much the guest can
# still add; when the guest then runs out of room, the VBD's log names each
# failing write, not the first one over and over.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to mount a tmpfs"; exit 77; }
mkimage src 256M 8M
# The allocated size (an idle guest: it stays so).
alloc=$(($(stat -c '%b * %B' "$T/src.img")))
mkdir -p "$T/dst"
mount -t tmpfs -o size=$alloc xlmig-test "$T/dst" || { echo "SKIP: no tmpfs"; exit 77; }
trap 'rc=$?; umount -l "$T/dst" 2>/dev/null || true; (exit $rc); cleanup' EXIT INT TERM
[ "$(($(stat -f -c '%a * %S' "$T/dst")))" = "$alloc" ] ||
    { echo "SKIP: tmpfs of exactly $alloc bytes not possible here"; exit 77; }

# Exactly the allocated size free: refused up front (the data would fit,
# not what the guest writes next).
start_source src --write-rate 1 --read-pct 0
start_receiver
send --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 1 ] || fail "send exited $SEND_RC"
wait_receiver
msg=$(grep -m1 "not enough space for .*xvda.img" "$T/receiver.log") ||
    fail "not refused: $(cat "$T/receiver.log")"
n=$(printf '%s\n' "$msg" | sed -n 's/.*needed (\([0-9]*\) allocated.*/\1/p')
free=$(printf '%s\n' "$msg" | sed -n 's/.*, \([0-9]*\) free.*/\1/p')
note "refused: $n bytes allocated, $free free"
[ -n "$n" ] && [ "$n" -le "$free" ] || fail "the data did not fit anyway: $msg"
assert_dest_clean
"$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null
sleep 0.2
start_source src --write-rate 1M

# 100 MiB free for a 256 MiB disk with 8 MiB allocated: accepted, and the
# receiver says the guest can add about 92 MiB, not 248 MiB.
umount "$T/dst"
mount -t tmpfs -o size=100m xlmig-test "$T/dst"
rm -f "$T/port"
"$XLMIG" receive --target-dir "$T/dst" --port-file "$T/port" \
    tcp-listen:127.0.0.1:0 >"$T/receiver.log" 2>&1 &
RECV_PID=$!
PIDS="$PIDS $RECV_PID"
wait_file "$T/port"
PORT=$(cat "$T/port")
send --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
grep -q "disk xvda: 9[0-9]\.[0-9] MiB free .* not the 24[78]\.[0-9] MiB its size allows (thin target)" \
    "$T/receiver.log" || fail "no word about the thin target: $(cat "$T/receiver.log")"
note "$(grep 'thin target' "$T/receiver.log")"

# Fill the file system: the guest's writes to new blocks fail, and the
# VBD's log names them one by one.
dd if=/dev/zero of="$T/dst/filler" bs=1M 2>/dev/null || true
sleep 1
n=$(grep -c 'guest: write of blocks .* failed' "$T/dst/xvda.vbd.log" || true)
distinct=$(grep 'guest: write of blocks .* failed' "$T/dst/xvda.vbd.log" | sort -u | wc -l)
note "$n write errors logged, $distinct distinct"
[ "$n" -ge 2 ] || fail "fewer than two write errors logged"
[ "$distinct" -ge 2 ] || fail "the log repeats one write error"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
