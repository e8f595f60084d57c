#!/bin/bash
# For editing the series: builds a git tree of Debian's pristine
# xen-blkback with one commit per patch, and exports it back.
#   devtree.sh make DIR      pristine tree + `git am` of the series; the
#                            cover letter's subject and text become the
#                            branch description
#   devtree.sh export DIR    format-patch DIR's commits into series/, with
#                            a cover letter (0000-cover-letter.patch) made
#                            of the branch description (edit it with
#                            `git branch --edit-description`), the shortlog
#                            and the diffstat
# After export, run build.sh (it checks sync with src/ and checkpatch).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

COVER=$SERIES_DIR/0000-cover-letter.patch

# The description kept in a cover letter: the subject without its
# "[PATCH 00/NN] " prefix, a blank line, and the text before the shortlog
# ("Author (N):").
cover_description() {
	awk '
		/^Subject: / && !subj { sub(/^Subject: (\[[^]]*\] )?/, ""); s = $0; subj = 1; next }
		subj && !body && /^ / { sub(/^ /, " "); s = s $0; next }
		subj && !body && /^$/ { body = 1; print s; print ""; next }
		body && /^[^ ].* \([0-9]+\):$/ { exit }
		body { lines[++n] = $0 }
		END { while (n > 0 && lines[n] == "") n--; for (i = 1; i <= n; i++) print lines[i] }
	' "$1"
}

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
	if [ -f "$COVER" ]; then
		git config "branch.$(git branch --show-current).description" \
			"$(cover_description "$COVER")"
	fi
	git log --oneline pristine..
	;;
export)
	dir=${2:?directory}
	branch=$(git -C "$dir" branch --show-current)
	git -C "$dir" config "branch.$branch.description" > /dev/null ||
		die "no cover letter text: git -C $dir branch --edit-description"
	rm -f "$SERIES_DIR"/*.patch
	git -C "$dir" format-patch -q --zero-commit --no-signature \
		--cover-letter --cover-from-description=subject \
		-o "$SERIES_DIR" pristine..
	# The cover letter is dated like the newest patch, not "now".
	last=$(ls "$SERIES_DIR"/[0-9]*.patch | tail -n1)
	date=$(sed -n 's/^Date: //p' "$last" | head -n1)
	sed -i "0,/^Date: .*/s//Date: $date/" "$COVER"
	(cd "$SERIES_DIR" && ls ./*.patch | sed 's|^\./||' | grep -v '^0000-' > series)
	cat "$SERIES_DIR/series"
	;;
*)
	echo "usage: $0 make|export DIR" >&2
	exit 2
	;;
esac
