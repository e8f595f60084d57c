#!/bin/bash
# Proves the patched xen-blkback in nested Xen: Xen 4.17.5 + Debian 12 dom0
# under QEMU TCG (recipe: shared/nested-recipe), the module installed to
# /lib/modules/<abi>/updates so modprobe loads it before any guest starts,
# then dom0-init.sh drives PV guests through blkmig-test (vbd_blkback.c).
#
#   nested-test.sh [deps|rootfs|image|boot|all]      (default: all)
#
# Work dir $W (default /var/tmp/xlmig-blkback/nested), ~2 GB.  Passes when
# every expected check reported rc=0 and the run reached "@@ END".
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PATCH=$(cd "$HERE/.." && pwd)
W=${W:-/var/tmp/xlmig-blkback/nested}
XEN_VERSION=${XEN_VERSION:-4.17.5+72-g01140da4e8-1}   # has shadow paging
XEN_PKGS="xen-utils-4.17 xen-utils-common xen-hypervisor-4.17-amd64 xenstore-utils libxencall1 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1 libxengnttab1 libxenhypfs1 libxenmisc4.17 libxenstore4 libxentoolcore1 libxentoollog1"
MIRROR=${MIRROR:-http://deb.debian.org/debian}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-2400}
XEN_CMDLINE="dom0_mem=1024M,max:1024M dom0_max_vcpus=2 console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all noreboot smap=0 smep=0"
DOM0_CMDLINE="root=/dev/vda rw console=hvc0 earlyprintk=xen loglevel=4 init=/usr/local/sbin/blkmig-dom0-init"
CHECKS="module_loaded xen_start xl_info dm_delay create_g1 boot_g1 track_start
snapshot_exact snapshot_cleared precopy_rounds quiesce quiesce_released_on_exit
final_copy_exact track_stop destroy_g1 backend_node_gone create_g2_paused gate_start
claim_released_on_exit boot_g2 full_write_not_held
read_held wanted_pollable read_released_by_install partial_write_held
install_skips_guest_write held_requests_released
guest_data_after_install gate_counts gate_stop destroy_g2 gate_start_g3 boot_g3
held_before_destroy destroy_with_held_requests vbd_gone loop_released
rmmod_and_dmesg_clean"
R=$W/rootfs
mkdir -p "$W"/{logs,out}

deps() {
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		qemu-system-x86 debootstrap cpio busybox-static e2fsprogs perl \
		kmod pkg-config gcc make libc6-dev
}

rootfs() {
	local pins="" p
	for p in $XEN_PKGS; do pins="$pins $p=$XEN_VERSION"; done
	if [ ! -x "$R/usr/lib/xen-4.17/bin/xl" ]; then
		rm -rf "$R"
		debootstrap --variant=minbase --arch=amd64 bookworm "$R" "$MIRROR"
		cat > "$R/etc/apt/sources.list" <<-EOS
		deb $MIRROR bookworm main
		deb $MIRROR bookworm-updates main
		deb http://deb.debian.org/debian-security bookworm-security main
		EOS
		printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
		chmod +x "$R/usr/sbin/policy-rc.d"
		unshare -m sh -c "mount -t proc proc '$R/proc' && mount -t sysfs sys '$R/sys' && mount --bind /dev '$R/dev' && \
		  chroot '$R' sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		  $pins linux-image-amd64 initramfs-tools busybox kmod iproute2 procps mount util-linux e2fsprogs dmsetup && apt-get clean'"
	fi
	if [ ! -x "$R/sbin/dmsetup" ]; then
		unshare -m sh -c "mount -t proc proc '$R/proc' && mount --bind /dev '$R/dev' && \
		  chroot '$R' sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dmsetup && apt-get clean'"
	fi
	[ -x "$R/sbin/dmsetup" ] || die "rootfs lacks dmsetup"
}

die() { echo "nested-test: $*" >&2; exit 1; }

image() {
	local kver abi
	kver=$(ls "$R/lib/modules" | head -n1)
	abi=${kver%-amd64}
	# The dom0 kernel decides which module to build (SKIP_BUILD=1: reuse).
	if [ "${SKIP_BUILD:-0}" != 1 ] || [ ! -f "$PATCH/build/$abi/xen-blkback.ko" ]; then
		ABI=$abi KVER_DEB=$(chroot "$R" dpkg-query -W -f '${Version}' linux-image-amd64) \
			"$PATCH/build.sh"
	fi
	# blkmig-test runs in the dom0: build it against the same libxen-dev
	# (4.17.5, pinned by .ci/deps.sh) as the dom0's Xen.
	# (No Makefile here: .gitignore's "Makefile" kept one from ever being
	# committed.)
	pkg-config --exists xenstore || die "libxen-dev missing (see .ci/deps.sh)"
	# shellcheck disable=SC2046
	cc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$W/out/blkmig-test" \
		"$HERE/blkmig-test.c" "$PATCH/../libxl-ext/vbd_blkback.c" \
		"$PATCH/../libxl-ext/bitmap.c" $(pkg-config --cflags --libs xenstore)
	install -D -m 644 "$PATCH/build/$abi/xen-blkback.ko" "$R/lib/modules/$kver/updates/xen-blkback.ko"
	chroot "$R" depmod -a "$kver"
	install -m 755 "$W/out/blkmig-test" "$R/usr/local/bin/blkmig-test"
	install -m 755 "$HERE/dom0-init.sh" "$R/usr/local/sbin/blkmig-dom0-init"
	install -m 755 "$HERE/block-fast" "$R/etc/xen/scripts/block-fast"
	grep -q '^XENCONSOLED_ARGS=' "$R/etc/default/xen" ||
		echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >> "$R/etc/default/xen"
	mkdir -p "$R/guest"
	cp "$R/boot/vmlinuz-$kver" "$R/guest/vmlinuz"
	cp "$HERE/guest.cfg" "$R/guest/template.cfg"
	local G=$W/guest-ir
	rm -rf "$G" && mkdir -p "$G"/{bin,proc,sys,dev,tmp,lib/modules}
	cp /bin/busybox "$G/bin/busybox"
	install -m 755 "$HERE/guest-init.sh" "$G/init"
	cp "$R/lib/modules/$kver/kernel/drivers/block/xen-blkfront.ko" "$G/lib/modules/"
	(cd "$G" && find . | cpio -o -H newc --quiet | gzip -1) > "$R/guest/guest-initrd.gz"
	zcat "$R/boot/xen-4.17-amd64.gz" > "$W/out/xen"
	cp "$R/boot/vmlinuz-$kver" "$W/out/vmlinuz"
	cp "$R/boot/initrd.img-$kver" "$W/out/initrd.img"
	rm -f "$W/out/dom0.img"
	mke2fs -q -t ext4 -L dom0root -d "$R" "$W/out/dom0.img" 3G
	echo "image ready: kernel $kver, module $(modinfo -F vermagic "$PATCH/build/$abi/xen-blkback.ko")"
}

boot() {
	local log name rc=0
	log=$W/logs/boot-$(date +%Y%m%d-%H%M%S).log
	echo "QEMU log: $log"
	timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi \
		-cpu Nehalem -smp 2 -m 3G -nographic -display none -serial mon:stdio \
		-no-reboot -snapshot -kernel "$W/out/xen" -append "$XEN_CMDLINE" \
		-initrd "$W/out/vmlinuz $DOM0_CMDLINE,$W/out/initrd.img" \
		-drive file="$W/out/dom0.img",if=virtio,format=raw,cache=unsafe \
		-nic none < /dev/null > "$log" 2>&1 || true
	ln -sf "$log" "$W/logs/boot-latest.log"
	grep -a '@@' "$log" | tr -d '\r' || true
	grep -aq '@@ END' "$log" || { echo "FAIL: the run did not reach its end"; rc=1; }
	for name in $CHECKS; do
		if ! grep -aq "@@ CHECK $name rc=0" "$log"; then
			echo "FAIL: $name"
			rc=1
		fi
	done
	[ $rc = 0 ] && echo "PASS: all $(echo $CHECKS | wc -w) checks"
	return $rc
}

case "${1:-all}" in
deps) deps;; rootfs) rootfs;; image) image;; boot) boot;;
all) deps; rootfs; image; boot;;
*) echo "usage: $0 [deps|rootfs|image|boot|all]"; exit 2;;
esac
