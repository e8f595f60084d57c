#!/bin/sh
# The Xen cold migration's flow (xlmig migrate --offline) without Xen: on a
# host where no domain can run, a guest's xl.cfg and image go to
# `xlmig migrate-receive --with-storage --offline` (with -s "", the host
# argument is the whole remote command).  The copy is exact and sparse,
# the xl.cfg written there names the new path and keeps the other disks;
# a second move is refused (the config exists); a move cut in the middle
# resumes from what the receiver kept; an estimate leaves nothing.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
"$XLMIG" --help | grep -q '^  migrate ' || { echo "built without Xen"; exit 77; }
[ -e /proc/xen ] || [ -e /dev/xen/privcmd ] &&
    { echo "a Xen host: the nested tests cover it"; exit 77; }

cfg() { # cfg NAME IMAGE: an xl.cfg with a local disk and a CD-ROM drive
    printf 'name = "%s"\nmemory = 128\ndisk = [ "format=raw, vdev=xvda, access=rw, target=%s",\n         "vdev=hdc, devtype=cdrom, target=" ]\n' \
        "$1" "$2" >"$T/$1.cfg"
}
recv() { # the receiving command, as the source runs it
    echo "$XLMIG migrate-receive --with-storage --offline --target-dir $T/dst --config-dir $T/etc $*"
}
move() { # move NAME [migrate args]
    n=$1; shift
    set +e
    "$XLMIG" migrate --with-storage --offline -s "" -C "$T/$n.cfg" "$@" "$n" \
        "$(recv)" >"$T/move-$n.log" 2>&1
    MOVE_RC=$?
    set -e
}
mkdir -p "$T/etc"

# 1. an exact, sparse copy; the config names it
mkimage g1 64M 24M
cfg g1 "$T/g1.img"
move g1 --verify
[ "$MOVE_RC" = 0 ] || { cat "$T/move-g1.log" >&2; fail "move exit $MOVE_RC"; }
cmp "$T/g1.img" "$T/dst/g1.img" || fail "the copy differs"
[ "$(du -k "$T/dst/g1.img" | cut -f1)" -le $(( $(du -k "$T/g1.img" | cut -f1) + 64 )) ] ||
    fail "the copy is not sparse"
grep -q '"verify_result":"passed"' "$T/move-g1.log" || fail "no passed verification"
grep -q "target=$T/dst/g1.img'" "$T/etc/g1.cfg" || { cat "$T/etc/g1.cfg" >&2; fail "config"; }
grep -q "'vdev=hdc, devtype=cdrom, target='" "$T/etc/g1.cfg" || fail "the CD-ROM drive was lost"
grep -q '^memory = 128' "$T/etc/g1.cfg" || fail "the rest of the config was lost"
ls "$T"/dst/*.xlmig-partial >/dev/null 2>&1 && fail "a partial-copy record was left"
note "moved: exact, sparse, config rewritten"

# 2. the same guest again: refused (its config exists there), nothing touched
before=$(md5sum <"$T/dst/g1.img")
move g1
[ "$MOVE_RC" = 1 ] || fail "second move exit $MOVE_RC, want 1"
grep -q "exists" "$T/move-g1.log" || fail "no reason for the refusal"
[ "$(md5sum <"$T/dst/g1.img")" = "$before" ] || fail "the refused move changed the copy"

# 3. cut after 3 s at 4 MB/s, then the same command again
mkimage g2 64M 48M --seed 9
cfg g2 "$T/g2.img"
set +e
timeout -s KILL 3 "$XLMIG" migrate --with-storage --offline --verify -s "" \
    -C "$T/g2.cfg" --bandwidth 4M g2 "$(recv)" >"$T/cut.log" 2>&1
set -e
sleep 1
held=$(sed -n 's/^end //p' "$T/dst/g2.img.xlmig-partial" 2>/dev/null)
[ "${held:-0}" -gt 0 ] || { cat "$T/cut.log" >&2; fail "nothing held after the cut"; }
[ -e "$T/etc/g2.cfg" ] && fail "a config was written for an unfinished copy"
move g2 --verify
[ "$MOVE_RC" = 0 ] || { cat "$T/move-g2.log" >&2; fail "resume exit $MOVE_RC"; }
resumed=$(grep -ao '"resumed_blocks":[0-9]*' "$T/move-g2.log" | tail -n1 | cut -d: -f2)
[ "$resumed" = "$held" ] || fail "resumed ${resumed:-none} blocks, $held were held"
cmp "$T/g2.img" "$T/dst/g2.img" || fail "the resumed copy differs"
note "cut with $held blocks held, resumed from them: exact"

# An attempt without --verify is not reused by one with it.
rm -rf "$T/dst/g2.img" "$T/etc/g2.cfg"
set +e
timeout -s KILL 3 "$XLMIG" migrate --with-storage --offline -s "" \
    -C "$T/g2.cfg" --bandwidth 4M g2 "$(recv)" >"$T/cut2.log" 2>&1
set -e
sleep 1
[ -s "$T/dst/g2.img.xlmig-partial" ] || fail "no record after the second cut"
move g2 --verify
[ "$MOVE_RC" = 0 ] || fail "move after an unchecked attempt exit $MOVE_RC"
grep -q "made without --verify" "$T/move-g2.log" || fail "no warning"
[ "$(grep -ao '"resumed_blocks":[0-9]*' "$T/move-g2.log" | tail -n1 | cut -d: -f2)" = 0 ] ||
    fail "unchecked blocks were reused by a checked move"
cmp "$T/g2.img" "$T/dst/g2.img" || fail "the copy differs"

# 4. an estimate of a cold move: printed, nothing created
mkimage g3 32M 16M --seed 10
cfg g3 "$T/g3.img"
set +e
"$XLMIG" migrate --with-storage --offline --estimate --json --sample-seconds 1 \
    -s "" -C "$T/g3.cfg" g3 \
    "$XLMIG migrate-receive --with-storage --estimate --target-dir $T/dst" \
    >"$T/est.json" 2>"$T/est.log"
rc=$?
set -e
[ "$rc" = 0 ] || { cat "$T/est.log" >&2; fail "estimate exit $rc"; }
grep -q '"event":"estimate"' "$T/est.json" || fail "no estimate printed"
grep -q '"stop_reason":"cold copy"' "$T/est.json" || fail "not a cold estimate"
[ ! -e "$T/dst/g3.img" ] || fail "the estimate created a target"
