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
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
NAME=xen-blkback-migrate

if [ "${1:-}" = --remove ]; then
	dkms status -m "$NAME" | sed -n 's/^[^/]*\/\([^,:]*\).*/\1/p' | sort -u |
		while read -r v; do dkms remove -m "$NAME" -v "$v" --all; rm -rf "/usr/src/$NAME-$v"; done
	exit 0
fi

command -v dkms > /dev/null || die "dkms is not installed (apt-get install dkms)"
KVER_DEB=${KVER_DEB:-$(current_version)}
VERSION=${KVER_DEB}+xlmig
SRC=/usr/src/$NAME-$VERSION
tree=$(pristine_tree "$KVER_DEB")
"$HERE/check-sync.sh" "$tree"

rm -rf "$SRC" && mkdir -p "$SRC"
cp -a "$tree/drivers" "$SRC/"
apply_series "$SRC"
sed "s/#MODULE_VERSION#/$VERSION/" "$HERE/dkms/dkms.conf.in" > "$SRC/dkms.conf"
log "source in $SRC"

dkms status -m "$NAME" -v "$VERSION" | grep -q . || dkms add -m "$NAME" -v "$VERSION"
[ $# -gt 0 ] || set -- "$(uname -r)"
for k in "$@"; do
	dkms build -m "$NAME" -v "$VERSION" -k "$k"
	dkms install -m "$NAME" -v "$VERSION" -k "$k" --force
	log "$k: $(modinfo -k "$k" -F filename xen-blkback)"
done
