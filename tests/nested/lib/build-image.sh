#!/bin/bash
# Build (or reuse) the cached, generic dom0 image of the nested test bed:
# Debian 12 minbase + Xen 4.17.5 (hypervisor and tools, one pinned version)
# + the kernel that linux-image-amd64 depends on today + ssh, busybox, kmod...
# + dkms and that kernel's headers (for xlmig-dkms)
#
# Usage: build-image.sh            prints the image directory on its last line
# Env:   NESTED_CACHE  cache root (default /var/tmp/xlmig-nested)
#        NESTED_FRESH=1  rebuild even if a cached image with the same key exists
#        XEN_VERSION   pinned Xen version (default 4.17.5+72-g01140da4e8-1)
#        XEN_DEBS_DIR  take the Xen .debs from this directory instead of the mirror
#        NESTED_MIRROR Debian mirror (default http://deb.debian.org/debian)
# The image directory holds: xen (multiboot ELF), vmlinuz, initrd.img,
# dom0.img (ext4), xen-blkfront.ko (for the guest), KEY, versions.txt.
set -euo pipefail
SELF=$(readlink -f "$0")
NESTED_CACHE=${NESTED_CACHE:-/var/tmp/xlmig-nested}
XEN_VERSION=${XEN_VERSION:-4.17.5+72-g01140da4e8-1}
MIRROR=${NESTED_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
XEN_PKGS="xen-utils-4.17 xen-utils-common xen-hypervisor-4.17-amd64 xen-hypervisor-common xenstore-utils"
XEN_PKGS="$XEN_PKGS libxencall1 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1 libxengnttab1"
XEN_PKGS="$XEN_PKGS libxenhypfs1 libxenmisc4.17 libxenstore4 libxentoolcore1 libxentoollog1"
OTHER_PKGS="initramfs-tools busybox kmod iproute2 procps psmisc mount util-linux openssh-server openssh-client e2fsprogs"
IMG_SIZE=${NESTED_IMG_SIZE:-3G}   # the guest image and its migrated copy (solo) fit beside DKMS

log() { echo "build-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  log "apt lists missing: apt-get update"; apt-get update -q >&2
fi
# The dom0 kernel ABI: whatever linux-image-amd64 depends on today.
KPKG=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
[ -n "$KPKG" ] || die "cannot determine the kernel package linux-image-amd64 depends on"
KABI=${KPKG#linux-image-}
# dom0 installs xlmig's .debs offline (apt install ./*.deb): what they need
# is in the image, DKMS and the kernel's headers included, and the
# libraries of their Depends that a Xen dom0 does not have already
# (run.sh checks every Depends against the image before it boots).
OTHER_PKGS="$OTHER_PKGS dkms linux-headers-$KABI linux-headers-amd64 zlib1g libdeflate0"

# Cache key: this script, the Xen pin (or the local debs), and the candidate
# versions of every package installed explicitly.
versions() {
  echo "xen=$XEN_VERSION suite=$SUITE mirror=$MIRROR size=$IMG_SIZE"
  if [ -n "${XEN_DEBS_DIR:-}" ]; then (cd "$XEN_DEBS_DIR" && sha256sum ./*.deb); fi
  # shellcheck disable=SC2086
  apt-cache policy $KPKG $OTHER_PKGS | awk '/^[^ ]/{p=$1} /Candidate:/{print p, $2}'
}
VERSIONS=$(versions)
KEY=$( { sha256sum < "$SELF"; echo "$VERSIONS"; } | sha256sum | cut -c1-16)
OUT=$NESTED_CACHE/image-$KEY
if [ "${NESTED_FRESH:-0}" != 1 ] && [ -f "$OUT/COMPLETE" ]; then
  log "cached image $OUT (key $KEY, kernel $KABI)"
  echo "$OUT"; exit 0
fi

t0=$(date +%s)
log "building image key=$KEY kernel=$KABI xen=$XEN_VERSION into $OUT"
mkdir -p "$NESTED_CACHE/debs" "$NESTED_CACHE/apt-archives/partial"
R=$NESTED_CACHE/rootfs-$KEY.tmp
rm -rf "$R" "$OUT"
debootstrap --variant=minbase --arch=amd64 --cache-dir="$NESTED_CACHE/debs" \
  "$SUITE" "$R" "$MIRROR" >&2 || die "debootstrap failed"
cat > "$R/etc/apt/sources.list" <<EOS
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOS
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"

pins=""
if [ -n "${XEN_DEBS_DIR:-}" ]; then
  mkdir -p "$R/tmp/xendebs"
  for p in $XEN_PKGS; do
    f=""; for c in "$XEN_DEBS_DIR/${p}_"*.deb; do [ -f "$c" ] && f=$c; done
    [ -n "$f" ] || die "$p missing from XEN_DEBS_DIR=$XEN_DEBS_DIR"
    cp "$f" "$R/tmp/xendebs/"; pins="$pins /tmp/xendebs/$(basename "$f")"
  done
else
  for p in $XEN_PKGS; do pins="$pins $p=$XEN_VERSION"; done
fi
# A private mount namespace: the binds vanish when it exits. The apt archive
# cache is shared between builds (local reruns download nothing).
unshare -m bash -euc "
  mount -t proc proc '$R/proc'; mount -t sysfs sys '$R/sys'; mount --bind /dev '$R/dev'
  mount --bind '$NESTED_CACHE/apt-archives' '$R/var/cache/apt/archives'
  chroot '$R' sh -euc 'apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      $pins $KPKG $OTHER_PKGS'
" >&2 || die "package installation failed"
rm -rf "$R/tmp/xendebs"

# Same Xen version everywhere, or dom0 gets corrupted.
# shellcheck disable=SC2016
chroot "$R" dpkg-query -W -f '${Package} ${Version}\n' > "$R.pkgs"
bad=$(awk -v v="$XEN_VERSION" '$1 ~ /^(xen|libxen)/ && $2 != v' "$R.pkgs")
[ -z "$bad" ] || die "Xen packages at another version: $bad"
[ -x "$R/usr/lib/xen-4.17/bin/xl" ] || die "xl missing"
[ -f "$R/boot/vmlinuz-$KABI" ] || die "kernel $KABI missing"

# Generic configuration (nothing per run: that lives on the payload disk).
printf '127.0.0.1 localhost\n127.0.1.1 dom0\n::1 localhost ip6-localhost\n169.254.77.1 xa\n169.254.77.2 xb\n' > "$R/etc/hosts"
echo dom0 > "$R/etc/hostname"
grep -q '^XENCONSOLED_ARGS=' "$R/etc/default/xen" 2>/dev/null ||
  echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >> "$R/etc/default/xen"
rm -f "$R"/etc/ssh/ssh_host_*   # per-run host keys come from the payload
mkdir -p "$R/payload"
# PID 1 stub: mount the payload disk and hand over to its init.
cat > "$R/usr/local/sbin/nested-init" <<'EOS'
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
mount -o remount,rw /
for i in $(seq 1 50); do [ -b /dev/vdb ] && break; sleep 0.2; done
if mount -t ext4 /dev/vdb /payload && [ -x /payload/dom0/init ]; then exec /payload/dom0/init; fi
echo "@@ END FAIL_NO_PAYLOAD"; sync; echo o > /proc/sysrq-trigger; sleep 30
EOS
chmod 755 "$R/usr/local/sbin/nested-init"

mkdir -p "$OUT.tmp"
zcat "$R/boot/xen-4.17-amd64.gz" > "$OUT.tmp/xen"
cp "$R/boot/vmlinuz-$KABI" "$OUT.tmp/vmlinuz"
cp "$R/boot/initrd.img-$KABI" "$OUT.tmp/initrd.img"
cp "$R/lib/modules/$KABI/kernel/drivers/block/xen-blkfront.ko" "$OUT.tmp/"
{ echo "key=$KEY kabi=$KABI"; echo "$VERSIONS"; echo "--- installed"; cat "$R.pkgs"; } > "$OUT.tmp/versions.txt"
echo "$KABI" > "$OUT.tmp/KABI"
mke2fs -q -t ext4 -L dom0root -d "$R" "$OUT.tmp/dom0.img" "$IMG_SIZE" || die "mke2fs failed"
rm -rf "$R" "$R.pkgs"
echo "$KEY" > "$OUT.tmp/KEY"
touch "$OUT.tmp/COMPLETE"
mv "$OUT.tmp" "$OUT"
# keep only the newest few images
# shellcheck disable=SC2012
ls -dt "$NESTED_CACHE"/image-* 2>/dev/null | tail -n +4 | xargs -r rm -rf
log "image built in $(( $(date +%s) - t0 )) s"
echo "$OUT"
