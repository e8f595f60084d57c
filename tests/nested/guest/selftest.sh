#!/bin/bash
# Host-side self-test of guest-writer and imgcheck (a few seconds): the digest
# of an image equals the writer's model, and both kinds of damage the nested
# checks rely on are caught: a corrupted block (imgcheck "bad") and a stale
# but valid block (digest differs).
# Usage: selftest.sh BIN_DIR SCRATCH_DIR
set -euo pipefail
B=$1 D=$2
mkdir -p "$D"; img=$D/selftest.img
die() { echo "selftest: FAIL: $*" >&2; exit 1; }
field() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<< " $1" | head -n 1; }
"$B/imgcheck" fill "$img" 16 > /dev/null
fin=$("$B/guest-writer" -d "$img" -r 0 -R 4 -t 2 -H 100000 -x "" | grep GW_FINAL) || die "writer failed"
chk=$("$B/imgcheck" check "$img") || die "imgcheck rejects the writer's image: $chk"
[ "$(field "$fin" vfail)" = 0 ] || die "writer saw verification failures: $fin"
[ "$(field "$fin" writes)" -gt 100 ] || die "writer wrote too little: $fin"
[ "$(field "$chk" digest)" = "$(field "$fin" digest)" ] || die "digest mismatch: $fin / $chk"
# burst writes (-b): one I/O of 16 blocks, each block still its own model entry
"$B/imgcheck" fill "$D/burst.img" 16 > /dev/null
finb=$("$B/guest-writer" -d "$D/burst.img" -r 0 -R 4 -b 16 -t 1 -H 100000 -x "" | grep GW_FINAL) || die "burst writer failed"
chkb=$("$B/imgcheck" check "$D/burst.img") || die "imgcheck rejects the burst writer's image: $chkb"
[ "$(field "$finb" vfail)" = 0 ] && [ "$(field "$chkb" digest)" = "$(field "$finb" digest)" ] || die "burst: $finb / $chkb"
rm -f "$D/burst.img"
# stale block: put generation 0 back into a block the writer rewrote
blk=""
for b in $(seq 0 1023); do
  g=$(dd if="$img" bs=4096 skip="$b" count=1 status=none | od -An -tu8 -j16 -N8 | tr -d ' ')
  [ "$g" -gt 0 ] && { blk=$b; break; }
done
[ -n "$blk" ] || die "no rewritten block found in the first 1024"
cp "$img" "$D/stale.img"
"$B/imgcheck" fill "$D/gen0.img" 4 > /dev/null
dd if="$D/gen0.img" of="$D/stale.img" bs=4096 skip="$blk" seek="$blk" count=1 conv=notrunc status=none
stale=$("$B/imgcheck" check "$D/stale.img") || die "a stale but valid block must not count as bad"
[ "$(field "$stale" digest)" != "$(field "$fin" digest)" ] || die "stale block $blk not seen by the digest"
# corrupted block
dd if=/dev/urandom of="$img" bs=4096 seek=5 count=1 conv=notrunc status=none
if "$B/imgcheck" check "$img" > "$D/bad.txt"; then die "corrupted block not detected"; fi
grep -q 'IMGBAD blk=5 ' "$D/bad.txt" || die "wrong bad block reported: $(cat "$D/bad.txt")"
rm -f "$img" "$D/stale.img" "$D/gen0.img" "$D/bad.txt"
echo "selftest: ok (writes=$(field "$fin" writes) digest=$(field "$fin" digest), stale and corrupt blocks detected)"
