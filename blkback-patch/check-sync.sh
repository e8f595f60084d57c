#!/bin/bash
# Verifies that the patch series carries the shared files byte for byte:
# src/migrate.[ch] and src/uapi/xen/blkback_migrate.h as left by the whole
# series; and that the cover letter announces the patches of series/series.
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

cp -a "$tree" "$tmp/all" && apply_series "$tmp/all"
for f in migrate.c migrate.h; do
	check "series" "$tmp/all/drivers/block/xen-blkback/$f" "$HERE/src/$f"
done
check "series" "$tmp/all/include/uapi/xen/blkback_migrate.h" \
	"$HERE/src/uapi/xen/blkback_migrate.h"

# Every patch says [PATCH i/n] with the series' n, and so does the cover
# letter ([PATCH 0/n]): a stale cover letter or a half export shows here.
n=$(series_patches | wc -l)
cover=$SERIES_DIR/0000-cover-letter.patch
for p in "$cover" $(series_patches); do
	if ! grep -Eq "^Subject: \[PATCH 0*[0-9]+/0*$n\] " "$p" 2>/dev/null; then
		echo "OUT OF SYNC: $(basename "$p") is not part [i/$n] of the series (devtree.sh export)" >&2
		rc=1
	fi
done
[ $rc = 0 ] && echo "check-sync: series, cover letter and src/ agree"
exit $rc
