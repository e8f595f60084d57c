#!/bin/bash
# Builds the patched xen-blkback.ko out of tree for Debian 12's dom0 kernel.
#
#   build.sh            kernel that linux-image-amd64 depends on now
#   KVER_DEB=6.1.192-2 ABI=6.1.0-56 build.sh      a given one
#
# Steps: take pristine drivers/block/xen-blkback and checkpatch.pl from
# linux-source-6.1=$KVER_DEB; check the series against src/ (check-sync.sh);
# run checkpatch --strict on every patch; apply the series; build with W=1
# against linux-headers-$ABI-amd64 (no warning allowed); check vermagic.
# Output: build/$ABI/xen-blkback.ko.  Then the same series is applied to
# the stable point release (POINT_VER, default: the newest bookworm main
# version, 6.1.176-1 today) and built against its headers when they can be
# installed (POINT_BUILD=0 to only check that it applies).  BISECT=1 also
# builds every prefix of the series (each patch must build on its own).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KVER_DEB=${KVER_DEB:-$(current_version)}
[ -n "$KVER_DEB" ] || die "cannot tell linux-image-amd64's version (apt-get update?)"
ABI=${ABI:-$(abi_of "$KVER_DEB")}
[ -n "$ABI" ] || die "cannot tell the ABI of linux-image-amd64=$KVER_DEB"
POINT_VER=${POINT_VER-$(point_version)}
POINT_BUILD=${POINT_BUILD:-1}
OUT=$HERE/build/$ABI

need_headers() { # need_headers ABI: installs linux-headers-ABI-amd64 if missing
	local dir=/usr/src/linux-headers-$1-amd64
	[ -d "$dir" ] && return 0
	[ "$(id -u)" = 0 ] || return 1
	log "installing linux-headers-$1-amd64"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"linux-headers-$1-amd64" >&2 || return 1
}

# build_module TREE ABI OUTDIR: W=1 build; fails on any compiler warning.
build_module() {
	local tree=$1 abi=$2 out=$3 src=$3/xen-blkback
	rm -rf "$src" && mkdir -p "$out" && cp -a "$tree/drivers/block/xen-blkback" "$src"
	log "building xen-blkback.ko against linux-headers-$abi-amd64"
	make -C "/usr/src/linux-headers-$abi-amd64" M="$src" W=1 \
		KCFLAGS="-I$tree/include/uapi" modules > "$out/build.log" 2>&1 ||
		{ cat "$out/build.log" >&2; die "build failed for $abi"; }
	if grep -E 'warning:|error:' "$out/build.log" >&2; then
		die "compiler warnings (W=1) for $abi, see $out/build.log"
	fi
	cp "$src/xen-blkback.ko" "$out/xen-blkback.ko"
	local vm
	vm=$(modinfo -F vermagic "$out/xen-blkback.ko")
	case "$vm" in
	"$abi-amd64 "*) log "vermagic: $vm";;
	*) die "vermagic '$vm' does not match $abi-amd64";;
	esac
}

log "kernel: linux-image-amd64=$KVER_DEB, ABI $ABI"
tree=$(pristine_tree "$KVER_DEB")

"$HERE/check-sync.sh" "$tree"

log "checkpatch --strict"
for p in $(series_patches); do
	# New files are covered by XEN BLOCK SUBSYSTEM's F: drivers/block/xen*
	# (uapi header: XEN HYPERVISOR INTERFACE's include/uapi/xen/).
	out=$(perl "$tree/scripts/checkpatch.pl" --strict --no-tree \
		--ignore FILE_PATH_CHANGES "$p" 2>&1) || true
	if ! grep -q 'total: 0 errors, 0 warnings, 0 checks' <<<"$out"; then
		echo "$out" >&2
		die "checkpatch: $(basename "$p")"
	fi
	echo "  ok  $(basename "$p")" >&2
done

if [ "${BISECT:-0}" = 1 ]; then
	n=$(series_patches | wc -l)
	for i in $(seq 1 $((n - 1))); do
		bwork=$HERE/build/bisect/tree
		rm -rf "$bwork" && mkdir -p "$(dirname "$bwork")" && cp -a "$tree" "$bwork"
		apply_series "$bwork" "$i"
		mkdir -p "$bwork/include/uapi"
		need_headers "$ABI" || die "linux-headers-$ABI-amd64 missing"
		build_module "$bwork" "$ABI" "$HERE/build/bisect/$i"
		log "patches 1-$i build"
	done
fi

work=$OUT/tree
rm -rf "$work" && mkdir -p "$OUT" && cp -a "$tree" "$work"
apply_series "$work"
need_headers "$ABI" || die "linux-headers-$ABI-amd64 missing"
build_module "$work" "$ABI" "$OUT"
echo "built: $OUT/xen-blkback.ko"

if [ -n "$POINT_VER" ] && [ "$POINT_VER" != "$KVER_DEB" ]; then
	pabi=$(abi_of "$POINT_VER")
	log "point release: linux-image-amd64=$POINT_VER, ABI ${pabi:-?}"
	ptree=$(pristine_tree "$POINT_VER")
	pwork=$HERE/build/point-$POINT_VER/tree
	rm -rf "$pwork" && mkdir -p "$(dirname "$pwork")" && cp -a "$ptree" "$pwork"
	apply_series "$pwork"
	log "series applies to $POINT_VER"
	if [ "$POINT_BUILD" = 1 ] && [ -n "$pabi" ] && need_headers "$pabi"; then
		build_module "$pwork" "$pabi" "$HERE/build/$pabi"
		echo "built: $HERE/build/$pabi/xen-blkback.ko"
	else
		log "not building for $POINT_VER (no headers)"
	fi
fi
