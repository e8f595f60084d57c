# Shared by build.sh, check-sync.sh and devtree.sh: where things are and how
# to get Debian's pristine xen-blkback sources.  Source it, don't run it.
# shellcheck shell=bash
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERIES_DIR=$HERE/series
CACHE=${XLMIG_BLKBACK_CACHE:-$HERE/build/cache}
# Files taken from linux-source-6.1's tarball: the driver, the documents the
# series extends, and checkpatch.
TREE_FILES="drivers/block/xen-blkback
Documentation/ABI/testing/sysfs-driver-xen-blkback
Documentation/userspace-api/index.rst
scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch"

die() { echo "error: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

series_patches() {
	local p
	while read -r p; do
		case $p in ''|'#'*) continue;; esac
		echo "$SERIES_DIR/$p"
	done < "$SERIES_DIR/series"
}

# abi_of DEBVERSION: the kernel ABI (e.g. 6.1.0-56) linux-image-amd64=DEBVERSION
# depends on.
abi_of() {
	apt-cache depends "linux-image-amd64=$1" 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\([0-9.]*-[0-9]*\)-amd64$/\1/p' | head -n1
}

# The linux-image-amd64 version apt would install (what dom0s run).
current_version() {
	apt-cache policy linux-image-amd64 | sed -n 's/^ *Candidate: //p'
}

# The newest linux-image-amd64 version of the stable point release
# (bookworm main, not -security / -updates).
point_version() {
	apt-cache madison linux-image-amd64 |
		awk -F'|' '$3 ~ /bookworm\/main/ && $3 !~ /security|updates/ {gsub(/ /,"",$2); print $2; exit}'
}

# pristine_tree DEBVERSION: prints a directory holding the pristine files
# of linux-source-6.1=DEBVERSION (downloaded and extracted once, cached;
# extracted again when TREE_FILES changed).  .done holds TREE_FILES.
pristine_tree() {
	local ver=$1 dir=$CACHE/src-$1 deb
	if [ ! -f "$dir/.done" ] || [ "$(cat "$dir/.done")" != "$TREE_FILES" ]; then
		mkdir -p "$CACHE/dl"
		deb=$(ls "$CACHE"/dl/linux-source-6.1_"${ver}"_all.deb 2>/dev/null | head -n1)
		if [ -z "$deb" ]; then
			log "downloading linux-source-6.1=$ver"
			(cd "$CACHE/dl" && apt-get download -q "linux-source-6.1=$ver" >&2) ||
				die "cannot download linux-source-6.1=$ver"
			deb=$(ls "$CACHE"/dl/linux-source-6.1_"${ver}"_all.deb)
		fi
		log "extracting xen-blkback from $(basename "$deb")"
		rm -rf "$dir" && mkdir -p "$dir"
		local members="" f
		for f in $TREE_FILES; do members="$members linux-source-6.1/$f"; done
		# shellcheck disable=SC2086
		dpkg-deb --fsys-tarfile "$deb" |
			tar -xOf - ./usr/src/linux-source-6.1.tar.xz |
			tar -xJf - -C "$dir" --strip-components=1 $members ||
			die "extracting $deb"
		printf '%s' "$TREE_FILES" > "$dir/.done"
	fi
	echo "$dir"
}

# apply_series TREE [N]: applies the first N patches (default: all).
apply_series() {
	local tree=$1 max=${2:-999} i=0 p
	for p in $(series_patches); do
		i=$((i + 1))
		[ "$i" -le "$max" ] || break
		(cd "$tree" && patch -p1 -s --no-backup-if-mismatch -F0 < "$p") ||
			die "$(basename "$p") does not apply to $tree"
	done
}
