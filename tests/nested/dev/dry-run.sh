#!/bin/bash
# Exercise the xlmig scenarios' plumbing with development stand-ins
# (fake-xl, fake-xlmig: save/copy/restore, NOT live) and Debian's own
# xen-blkback.ko passed as BLKBACK_KO (proves the insmod path). Verdicts are
# computed exactly as for the real artefacts; nothing is expected to fail,
# except scenario 2 (the stand-in has no receiver to kill; it is left out).
# Usage: tests/nested/dev/dry-run.sh [--stale] [scenarios]   (default "1p 1n 4 3")
#   --stale: the stand-in copies the image before suspending the guest (its
#   copy misses the last writes): every storage scenario must FAIL (guest
#   verification failures, target digest != guest digest).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NESTED_CACHE=${NESTED_CACHE:-/var/tmp/xlmig-nested}
export NESTED_CACHE
IMG=$("$HERE/../lib/build-image.sh" | tail -n 1)
D=$NESTED_CACHE/dry; mkdir -p "$D"
fake=$HERE/fake-xlmig
if [ "${1:-}" = --stale ]; then
  shift; fake=$D/fake-xlmig-stale
  sed 's/^STALE=0$/STALE=1/' "$HERE/fake-xlmig" > "$fake"; chmod +x "$fake"
fi
ko=/usr/lib/modules/$(cat "$IMG/KABI")/kernel/drivers/block/xen-blkback/xen-blkback.ko
debugfs -R "dump $ko $D/xen-blkback.ko" "$IMG/dom0.img" > /dev/null 2>&1
[ -s "$D/xen-blkback.ko" ] || { echo "dry-run: cannot extract $ko from the image" >&2; exit 1; }
XLMIG_BIN=$fake XL_FRONT=$HERE/fake-xl BLKBACK_KO=$D/xen-blkback.ko \
  NESTED_XFAIL="" NESTED_SCENARIOS="${1:-1p 1n 4 3}" exec "$HERE/../run.sh"
