#!/bin/bash
# Builds the DKMS source tree of xlmig-dkms:
#   debian/dkms-source.sh DESTDIR
# Takes drivers/block/xen-blkback from the installed linux-source-6.1
# (a Build-Depends: no download during the build) with the documents the
# series extends, checks that the series
# carries blkback-patch/src byte for byte (check-sync.sh), applies the
# series in the order of blkback-patch/series/series, and copies the result
# with the uapi header the series adds to DESTDIR (dkms.conf is installed
# there by dh_dkms from blkback-patch/dkms/dkms.conf.in).
set -euo pipefail
dest=${1:?usage: dkms-source.sh DESTDIR}
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=blkback-patch/lib.sh
. "$top/blkback-patch/lib.sh"
tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || die "$tarball missing (Build-Depends: linux-source-6.1)"
kver=$(dpkg-query -W -f '${Version}' linux-source-6.1)

work=$(mktemp -d "${TMPDIR:-/tmp}/xlmig-dkms.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pristine"
# The driver and the documents the series extends (lib.sh's TREE_FILES
# without the checkpatch scripts): every patch must apply as it is.
members=""
for f in $TREE_FILES; do
	case $f in scripts/*) ;; *) members="$members linux-source-6.1/$f";; esac
done
# shellcheck disable=SC2086
tar -xJf "$tarball" -C "$work/pristine" --strip-components=1 $members
"$top/blkback-patch/check-sync.sh" "$work/pristine"
cp -a "$work/pristine" "$work/tree"
apply_series "$work/tree"

rm -rf "$dest" && mkdir -p "$dest/drivers/block" "$dest/include/uapi/xen"
cp -a "$work/tree/drivers/block/xen-blkback" "$dest/drivers/block/"
install -m 644 "$work/tree/include/uapi/xen/blkback_migrate.h" "$dest/include/uapi/xen/"
{
	echo "xen-blkback of linux-source-6.1 $kver with the xlmig series:"
	series_patches | xargs -n1 basename
} > "$dest/SOURCE"
find "$dest" -type f -exec chmod 644 {} +
echo "dkms-source: xen-blkback of linux-source-6.1 $kver, $(series_patches | wc -l) patches, in $dest"
