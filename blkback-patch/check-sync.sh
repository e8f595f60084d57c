#!/bin/bash
# Verifies that the patch series carries the shared files byte for byte:
# src/migrate.[ch] as created by the first patch and as left by the whole
# series, and src/uapi/xen/blkback_migrate.h as left by the whole series.
# usage: check-sync.sh [PRISTINE_TREE]   (default: Debian's current sources)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

tree=${1:-$(pristine_tree "${KVER_DEB:-$(current_version)}")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0

check() { # check LABEL TREEFILE SRCFILE
	if ! cmp -s "$2" "$3"; then
		echo "OUT OF SYNC ($1): ${2#"$tmp"/*/} differs from ${3#"$HERE"/}" >&2
		diff -u "$3" "$2" | head -n 20 >&2 || true
		rc=1
	fi
}

cp -a "$tree" "$tmp/first" && apply_series "$tmp/first" 1
cp -a "$tree" "$tmp/all" && apply_series "$tmp/all"
for f in migrate.c migrate.h; do
	check "patch 1" "$tmp/first/drivers/block/xen-blkback/$f" "$HERE/src/$f"
	check "series" "$tmp/all/drivers/block/xen-blkback/$f" "$HERE/src/$f"
done
check "series" "$tmp/all/include/uapi/xen/blkback_migrate.h" \
	"$HERE/src/uapi/xen/blkback_migrate.h"
[ $rc = 0 ] && echo "check-sync: series and src/ agree"
exit $rc
