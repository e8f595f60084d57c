#!/bin/bash
# Exercise the xlmig scenarios' plumbing with development stand-ins
# (fake-xl, fake-xlmig: save/copy/restore, NOT live) and Debian's own
# xen-blkback.ko passed as BLKBACK_KO (proves the insmod path). Verdicts are
# computed exactly as for the real artefacts; nothing is expected to fail,
# except scenario 2 (the stand-in has no receiver to kill; it is left out).
# Usage: tests/nested/dev/dry-run.sh [scenarios]   (default "1p 1n 4 3")
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NESTED_CACHE=${NESTED_CACHE:-/var/tmp/xlmig-nested}
export NESTED_CACHE
IMG=$("$HERE/../lib/build-image.sh" | tail -n 1)
D=$NESTED_CACHE/dry; mkdir -p "$D"
ko=/usr/lib/modules/$(cat "$IMG/KABI")/kernel/drivers/block/xen-blkback/xen-blkback.ko
debugfs -R "dump $ko $D/xen-blkback.ko" "$IMG/dom0.img" > /dev/null 2>&1
[ -s "$D/xen-blkback.ko" ] || { echo "dry-run: cannot extract $ko from the image" >&2; exit 1; }
XLMIG_BIN=$HERE/fake-xlmig XL_FRONT=$HERE/fake-xl BLKBACK_KO=$D/xen-blkback.ko \
  NESTED_XFAIL="" NESTED_SCENARIOS="${1:-1p 1n 4 3}" exec "$HERE/../run.sh"
