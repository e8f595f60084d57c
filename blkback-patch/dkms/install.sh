#!/bin/bash
# Installs the patched xen-blkback the Debian way, with DKMS:
#   dkms/install.sh [KERNEL...]     default: the running kernel
#   dkms/install.sh --remove        remove every version of it
# The source put under /usr/src is Debian's linux-source-6.1 (the version
# linux-image-amd64 depends on, or KVER_DEB) with the series applied; DKMS
# rebuilds it for each new kernel (AUTOINSTALL).  Needs dkms and the
# kernel's linux-headers package.  Load it with
#   modprobe -r xen-blkback && modprobe xen-blkback
# before guests start (or reboot); modinfo xen-blkback shows updates/dkms.
#   DKMS_TREE=DIR dkms/install.sh KERNEL...
# only builds, in a DKMS tree of its own under DIR (sources in DIR/src):
# a check of the DKMS setup that installs nothing (dkms may still create
# its module signing key in /var/lib/dkms).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
NAME=xen-blkback-migrate
DKMS=(dkms)
SRC_ROOT=/usr/src
if [ -n "${DKMS_TREE:-}" ]; then
	SRC_ROOT=$DKMS_TREE/src
	mkdir -p "$SRC_ROOT" "$DKMS_TREE/dkms"
	DKMS=(dkms --dkmstree "$DKMS_TREE/dkms" --sourcetree "$SRC_ROOT")
fi

if [ "${1:-}" = --remove ]; then
	"${DKMS[@]}" status -m "$NAME" | sed -n 's/^[^/]*\/\([^,:]*\).*/\1/p' | sort -u |
		while read -r v; do "${DKMS[@]}" remove -m "$NAME" -v "$v" --all; rm -rf "$SRC_ROOT/$NAME-$v"; done
	exit 0
fi

command -v dkms > /dev/null || die "dkms is not installed (apt-get install dkms)"
KVER_DEB=${KVER_DEB:-$(current_version)}
VERSION=${KVER_DEB}+xlmig
SRC=$SRC_ROOT/$NAME-$VERSION
tree=$(pristine_tree "$KVER_DEB")
"$HERE/check-sync.sh" "$tree"

# The series also touches Documentation/: apply it to a whole copy of the
# pristine files and keep what the build needs (the driver and the uapi
# header it adds).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$tree/." "$work/" && apply_series "$work"
rm -rf "$SRC" && mkdir -p "$SRC"
cp -a "$work/drivers" "$work/include" "$SRC/"
sed "s/#MODULE_VERSION#/$VERSION/" "$HERE/dkms/dkms.conf.in" > "$SRC/dkms.conf"
log "source in $SRC"

"${DKMS[@]}" status -m "$NAME" -v "$VERSION" | grep -q . ||
	"${DKMS[@]}" add -m "$NAME" -v "$VERSION"
[ $# -gt 0 ] || set -- "$(uname -r)"
for k in "$@"; do
	"${DKMS[@]}" build -m "$NAME" -v "$VERSION" -k "$k"
	if [ -n "${DKMS_TREE:-}" ]; then
		log "$k: built $(ls "$DKMS_TREE/dkms/$NAME/$VERSION/$k"/*/module/xen-blkback.ko)"
		continue
	fi
	dkms install -m "$NAME" -v "$VERSION" -k "$k" --force
	log "$k: $(modinfo -k "$k" -F filename xen-blkback)"
done
