#!/bin/sh
# Installs everything the build, the tests and the nested test bed need, from
# Debian 12's mirror. Xen is pinned to 4.17.5+72 (bookworm main): the nested
# dom0 runs that version (see tests/nested/README.md) and xlmig is built
# against the same libxen-dev. libnbd-dev and qemu-system-common (from
# qemu-system-x86: qemu-storage-daemon) serve tests/bench/peer.sh.
set -eu
XEN_VERSION=${XEN_VERSION:-4.17.5+72-g01140da4e8-1}
XEN_LIBS="libxen-dev libxenmisc4.17 libxencall1 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1 libxengnttab1 libxenstore4 libxentoolcore1 libxentoollog1 libxenhypfs1"
pins=""
for p in $XEN_LIBS; do pins="$pins $p=$XEN_VERSION"; done
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends --allow-downgrades \
  build-essential autoconf automake libtool pkg-config clang \
  libclang-rt-14-dev zlib1g-dev libdeflate-dev libssl-dev libcmocka-dev \
  $pins \
  iproute2 time kmod e2fsprogs util-linux procps psmisc xz-utils \
  qemu-system-x86 debootstrap cpio busybox-static zstd perl openssh-client \
  patch curl libyajl-dev dpkg-dev mandoc man-db bsdutils libnbd-dev \
  debhelper dh-dkms dkms lintian linux-source-6.1
# The dom0 kernel's headers for the out-of-tree xen-blkback build: the ABI
# that linux-image-amd64 depends on today (blkback-patch/build.sh installs
# them too, and the point release's when it checks the series there).
abi=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*\)-amd64$/\1/p' | head -n1)
[ -z "$abi" ] || apt-get install -y -q --no-install-recommends "linux-headers-$abi-amd64"

