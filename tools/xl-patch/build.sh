#!/bin/bash
# Builds Xen's xl with the --with-storage patch, from Debian's own source
# package of the installed libxen-dev (same version, so the binary runs
# against the installed libxenlight / libxlutil of that Xen).
#
# Usage: tools/xl-patch/build.sh [OUTDIR]     (default tools/xl-patch/build)
# Prints the path of the patched xl binary on its last line.
#
# Only tools/xl is compiled (about 20 s on 2 cores): the rest of Xen comes
# from the Debian packages.  The source is fetched from the pool of the
# mirror apt uses; dpkg-source checks the files against the .dsc.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/build}

ver=$(dpkg-query -W -f '${Version}' libxen-dev 2>/dev/null) ||
  { echo "xl-patch: libxen-dev is not installed" >&2; exit 1; }
# The source sits next to the binary package in the pool of the mirror apt
# uses (DEBIAN_MIRROR overrides: its .../pool/main/x/xen/ is used).
if [ -n "${DEBIAN_MIRROR:-}" ]; then
  pool=$DEBIAN_MIRROR/pool/main/x/xen
else
  pool=$(apt-get download --print-uris "libxen-dev=$ver" 2>/dev/null |
         sed -n "s|^'\(.*\)/libxen-dev_[^/]*' .*|\1|p" | head -n 1)
  pool=${pool:-http://deb.debian.org/debian/pool/main/x/xen}
fi
upstream=${ver%-*}
upstream=${upstream#*:}
src=$OUT/xen-$ver
mkdir -p "$OUT"

if [ ! -f "$src/.patched" ]; then
  dl=$OUT/dl
  mkdir -p "$dl"
  for f in "xen_$ver.dsc" "xen_$upstream.orig.tar.xz" "xen_$ver.debian.tar.xz"; do
    [ -s "$dl/$f" ] && continue
    curl -fsS --retry 3 -o "$dl/$f.part" "$pool/$f" ||
      { echo "xl-patch: cannot fetch $pool/$f" >&2; exit 1; }
    mv "$dl/$f.part" "$dl/$f"
  done
  rm -rf "$src"
  # (the .dsc's signature cannot be checked without debian-keyring; the
  # checksums of the tarballs against it are)
  dpkg-source -q -x "$dl/xen_$ver.dsc" "$src" > "$OUT/dpkg-source.log" 2>&1 ||
    { cat "$OUT/dpkg-source.log" >&2; exit 1; }
  patch -s -d "$src" -p1 < "$HERE/0001-xl-migrate-with-storage-hand-over-to-xlmig.patch"
  touch "$src/.patched"
fi

# Debian's paths (debian/rules configures Xen with these).
cflags=(-O2 -g -std=gnu11 -w -I. -idirafter ../include
  -DXEN_CONFIG_DIR='"/etc/xen"' -DXEN_LOCK_DIR='"/var/lock"'
  -DXEN_RUN_DIR='"/var/run/xen"' -DXEN_SCRIPT_DIR='"/etc/xen/scripts"'
  -DXEN_LIB_DIR='"/var/lib/xen"' -DXENFIRMWAREDIR='"/usr/lib/xen-4.17/boot"'
  -DXEN_DUMP_DIR='"/var/lib/xen/dump"' -DXEN_LOG_DIR='"/var/log/xen"'
  -DLIBEXEC_BIN='"/usr/lib/xen-4.17/bin"' -D_GNU_SOURCE
  -DHAVE_YAJL_V2=1 -DHAVE_YAJL_YAJL_VERSION_H=1)
cd "$src/tools/xl"
mkdir -p "$OUT/obj"
export XLP_CFLAGS="${cflags[*]@Q}" XLP_OBJ=$OUT/obj
ls xl*.c | xargs -P "$(nproc)" -I{} sh -c 'eval "gcc $XLP_CFLAGS -c {} -o $XLP_OBJ/{}.o"'
gcc -o "$OUT/xl" "$OUT"/obj/xl*.c.o -lxlutil -lxenlight -lxenctrl -lxenstore \
  -lxentoollog -lyajl -lm
# The patch is in the binary: its usage text names the flag.
grep -q -a -- '--with-storage' "$OUT/xl" ||
  { echo "xl-patch: built xl lacks --with-storage" >&2; exit 1; }
echo "xl-patch: xl $ver with --with-storage built" >&2
echo "$OUT/xl"
