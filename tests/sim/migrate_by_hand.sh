#!/bin/sh
# Migration of the simulated guest by hand, with the daemon's CLI only:
# a source daemon runs the workload; suspend hands out the guest's state;
# a destination daemon on a copy of the image (made after the suspend)
# loads it and unpauses; the workload carries on and the whole image
# checks out.  Then the checks must fail when they should: a flipped byte
# in the image, a state blob for another disk.
set -eu

VBDSIM=${VBDSIM:-${XLMIG_VBDSIM:-tools/xlmig-vbdsim}}
T=$(mktemp -d /tmp/xlmig-byhand.XXXXXX)
SRC= DST= OTHER=

cleanup() {
    for p in $SRC $DST $OTHER; do kill "$p" 2>/dev/null || :; done
    rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

ctl() { "$VBDSIM" ctl "$@"; }

wait_up() {
    i=0
    until ctl "$1" report >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 200 ] || fail "daemon on $1 does not answer"
        sleep 0.05
    done
}

field() {   # field FILE "label:" -> the first number after it
    sed -n "s/^$2 \([0-9.]*\).*/\1/p" "$1" | head -n 1
}

flip_byte() {   # flip_byte FILE OFFSET
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 255)))" |
        dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

"$VBDSIM" mkimage "$T/src.img" --size 64M --allocated 32M --seed 5 >/dev/null

"$VBDSIM" serve --image "$T/src.img" --socket "$T/src.sock" \
    --workload hotspot --write-rate 8M --qd 4 2>"$T/src.log" &
SRC=$!
wait_up "$T/src.sock"
sleep 1

ctl "$T/src.sock" suspend "$T/state" >/dev/null
ctl "$T/src.sock" report >"$T/src.report"
grep -q '^guest: suspended' "$T/src.report" || fail "source not suspended"
src_writes=$(field "$T/src.report" "writes:")
[ "$src_writes" -gt 100 ] || fail "source wrote only $src_writes blocks"

cp --sparse=always "$T/src.img" "$T/dst.img"
"$VBDSIM" serve --dest --image "$T/dst.img" --socket "$T/dst.sock" \
    2>"$T/dst.log" &
DST=$!
wait_up "$T/dst.sock"
ctl "$T/dst.sock" load "$T/state"
ctl "$T/dst.sock" report | grep -q '^guest: paused' || fail "not paused"
sleep 0.5                       # the downtime, as the guest sees it
ctl "$T/dst.sock" unpause
sleep 1

ctl "$T/dst.sock" report >"$T/dst.report"
cat "$T/dst.report"
grep -q '^guest: running' "$T/dst.report" || fail "destination not running"
dst_writes=$(field "$T/dst.report" "writes:")
[ "$dst_writes" -gt "$src_writes" ] ||
    fail "no writes after migration ($src_writes -> $dst_writes)"
gap=$(field "$T/dst.report" "largest gap between writes:")
[ "${gap%.*}" -ge 500 ] || fail "downtime of ${gap} ms not seen (>= 500)"

ctl "$T/dst.sock" verify >"$T/dst.verify" || fail "destination verify failed"
grep -q '^result: PASS' "$T/dst.verify" || fail "no PASS"
grep -q '^image check: 16384 blocks, 0 wrong' "$T/dst.verify" ||
    fail "image check incomplete"

# Rollback on the source (its own image): the guest runs on there too.
ctl "$T/src.sock" resume
sleep 0.3
ctl "$T/src.sock" verify >/dev/null || fail "source verify after resume"

# The checker must fail on one flipped byte (block 777 of the copy).
flip_byte "$T/dst.img" $((777 * 4096 + 1234))
if ctl "$T/dst.sock" verify >"$T/bad.verify"; then
    fail "verify passed on a corrupted image"
fi
grep -q '^result: FAIL' "$T/bad.verify" || fail "no FAIL"
grep -q '1 wrong' "$T/bad.verify" || fail "wrong mismatch count"
grep -q 'block 777' "$T/bad.verify" || fail "the bad block is not named"

# A state for another disk is refused with a reason.
"$VBDSIM" mkimage "$T/other.img" --size 32M >/dev/null
"$VBDSIM" serve --dest --image "$T/other.img" --socket "$T/other.sock" \
    2>/dev/null &
OTHER=$!
wait_up "$T/other.sock"
if ctl "$T/other.sock" load "$T/state" 2>"$T/other.err"; then
    fail "a state for a 64 MiB disk loaded on a 32 MiB one"
fi
grep -q 'bytes but this image is' "$T/other.err" || fail "no reason given"
ctl "$T/other.sock" shutdown
wait $OTHER || fail "daemon on the other image exited with $?"
OTHER=

ctl "$T/dst.sock" shutdown
ctl "$T/src.sock" shutdown
wait $DST || fail "destination daemon exited with $?"
DST=
wait $SRC || fail "source daemon exited with $?"
SRC=
echo "migration by hand: ok ($src_writes writes before, $dst_writes after," \
     "largest gap ${gap} ms)"
