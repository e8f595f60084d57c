#!/bin/bash
# For editing the series: builds a git tree of Debian's pristine
# xen-blkback with one commit per patch, and exports it back.
#   devtree.sh make DIR      pristine tree + `git am` of the series
#   devtree.sh export DIR    format-patch DIR's commits into series/
# After export, run build.sh (it checks sync with src/ and checkpatch).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

case "${1:-}" in
make)
	dir=${2:?directory}
	[ ! -e "$dir" ] || die "$dir exists"
	mkdir -p "$dir"
	cp -a "$(pristine_tree "${KVER_DEB:-$(current_version)}")/." "$dir/"
	rm -f "$dir/.done"
	cd "$dir"
	git init -q && git add -A && git commit -qm "pristine xen-blkback" && git tag pristine
	# shellcheck disable=SC2046
	git am -q $(series_patches)
	git log --oneline pristine..
	;;
export)
	dir=${2:?directory}
	rm -f "$SERIES_DIR"/*.patch
	git -C "$dir" format-patch -q --zero-commit --no-signature \
		-o "$SERIES_DIR" pristine..
	(cd "$SERIES_DIR" && ls ./*.patch | sed 's|^\./||' > series)
	cat "$SERIES_DIR/series"
	;;
*)
	echo "usage: $0 make|export DIR" >&2
	exit 2
	;;
esac
