#!/bin/bash
# The Debian packages (debian/, issue 13), as CI checks them:
#
#   .ci/debs.sh [OUTDIR]         build, lintian, dpkg -c, install, demo, purge
#   .ci/debs.sh build [OUTDIR]   only build them (the nested test bed's input)
#
# The packages are built from `git archive HEAD` (a clean tree, never the
# development build directories) with `dpkg-buildpackage -us -uc -b`; the
# .debs end up in OUTDIR (default build-debs/).  `make check` is not run
# again inside the package build (DEB_BUILD_OPTIONS=nocheck): .ci/run ran the
# suite in two builds already.  The install test uses this machine as a
# dom0 would (root, apt); without xen-utils-common a stand-in package owns
# /usr/sbin/xl so that the diversion and its removal are checked on a real
# dpkg-owned file.  Everything it installs is purged again.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mode=all
[ "${1:-}" = build ] && { mode=build; shift; }
out=${1:-$top/build-debs}
mkdir -p "$out"
out=$(cd "$out" && pwd)
t0=$(date +%s)
step() { echo "== debs [$(( $(date +%s) - t0 ))s] $*"; }
die() { echo "debs: FAIL: $*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# ---- build ------------------------------------------------------------------
if [ "${DEBS_REUSE:-0}" = 1 ] && ls "$out"/xlmig_*.changes > /dev/null 2>&1; then
    step "DEBS_REUSE=1: the packages already in $out"
else
step "export HEAD ($(git -C "$top" rev-parse --short HEAD)) and build"
rm -rf "$out/src" "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
mkdir -p "$out/src"
git -C "$top" archive --format=tar --prefix=xlmig/ HEAD | tar -x -C "$out/src"
(cd "$out/src/xlmig" && DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b > "$out/build.log" 2>&1) ||
    { tail -n 40 "$out/build.log"; die "dpkg-buildpackage (log: $out/build.log)"; }
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out/"
fi
ls -l "$out"/*.deb
[ "$mode" = build ] && { step "built"; exit 0; }

# ---- lintian: no error, no warning that debian/*.lintian-overrides does not
# ---- justify ------------------------------------------------------------------
step "lintian"
lrc=0
lintian --fail-on error,warning --pedantic --display-info "$out"/xlmig_*.changes \
    > "$out/lintian.txt" 2>&1 || lrc=$?
grep -v '^running with root privileges' "$out/lintian.txt" || true
[ "$lrc" = 0 ] || die "lintian (rc $lrc)"
step "lintian: $(grep -c '^E:' "$out/lintian.txt") errors, $(grep -c '^W:' "$out/lintian.txt") warnings, $(grep -c '^[IP]:' "$out/lintian.txt") info/pedantic"

# ---- dpkg -c: the files each package must ship ------------------------------------
step "dpkg -c"
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
expect() { # DEB PATH...: every PATH is in DEB
    local deb=$1 p list; shift
    list=$(dpkg -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||')
    for p in "$@"; do
        grep -qxF "$p" <<< "$list" || die "$(basename "$deb") lacks $p"
    done
    echo "  $(basename "$deb"): $# expected files present ($(wc -l <<< "$list") entries)"
}
expect "$out"/xlmig_*_amd64.deb /usr/bin/xlmig /usr/bin/xlmig-vbdsim /usr/sbin/xl \
    /usr/share/man/man8/xlmig.8.gz /usr/share/man/man1/xlmig-vbdsim.1.gz \
    /usr/lib/tmpfiles.d/xlmig.conf /var/log/xlmig /usr/share/doc/xlmig/README.Debian.gz \
    /usr/share/doc/xlmig/copyright /usr/share/doc/xlmig/examples/xlmig-demo
expect "$out"/libxlmig1_*_amd64.deb "/usr/lib/$ma/libxlmig.so.1" "/usr/lib/$ma/libxlmig.so.1.0.0"
expect "$out"/libxlmig-dev_*_amd64.deb /usr/include/xlmig.h "/usr/lib/$ma/libxlmig.so" \
    "/usr/lib/$ma/pkgconfig/libxlmig.pc"
ver=$(dpkg-deb -f "$out"/xlmig-dkms_*_all.deb Version)
dk=/usr/src/xen-blkback-migrate-$ver
expect "$out"/xlmig-dkms_*_all.deb /etc/depmod.d/xlmig-dkms.conf "$dk/dkms.conf" \
    "$dk/drivers/block/xen-blkback/Makefile" "$dk/drivers/block/xen-blkback/blkback.c" \
    "$dk/drivers/block/xen-blkback/xenbus.c" "$dk/drivers/block/xen-blkback/migrate.c" \
    "$dk/drivers/block/xen-blkback/migrate.h" "$dk/include/uapi/xen/blkback_migrate.h"
# nothing under /usr/local, nothing that another package of ours ships too
for d in "$out"/*.deb; do
    if dpkg -c "$d" | awk '{print $6}' | grep -q '^\./usr/local'; then die "$(basename "$d") ships /usr/local"; fi
done
x=$(mktemp -d)
dpkg-deb -x "$out"/xlmig-dkms_*_all.deb "$x"
for f in migrate.c migrate.h; do
    cmp "$x$dk/drivers/block/xen-blkback/$f" "$top/blkback-patch/src/$f" ||
        die "the DKMS source's $f is not blkback-patch/src/$f"
done
cmp "$x$dk/include/uapi/xen/blkback_migrate.h" "$top/blkback-patch/src/uapi/xen/blkback_migrate.h" ||
    die "the DKMS source's uapi header differs"
grep -q '^PACKAGE_VERSION="'"$ver"'"$' "$x$dk/dkms.conf" || die "dkms.conf's version is not $ver"
dpkg-deb -x "$out"/libxlmig1_*_amd64.deb "$x"
n=$(nm -D --defined-only "$x/usr/lib/$ma/libxlmig.so.1" | awk '$2 == "T"' | wc -l)
s=$(grep -c '^ xlmig_' "$top/debian/libxlmig1.symbols")
[ "$n" = "$s" ] || die "libxlmig.so.1 exports $n functions, the symbols file lists $s"
echo "  libxlmig.so.1: $n functions exported = symbols file; DKMS source carries blkback-patch/src"
rm -rf "$x"

# ---- install ----------------------------------------------------------------------
pkgs=$(for d in "$out"/*.deb; do dpkg-deb -f "$d" Package; done)
old=$(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' $pkgs xlmig-ci-xl-owner 2>/dev/null |
      awk '$1 !~ /^[up]n/ {print $NF}' | tr '\n' ' ' || true)
if [ -n "$old" ]; then
    step "purging what an earlier run left installed: $old"
    # shellcheck disable=SC2086
    apt-get -o DPkg::Lock::Timeout=600 purge -y -q $old > /dev/null 2>&1 || die "cannot purge $old"
fi
# Who owns /usr/sbin/xl before: xen-utils-common on a dom0; else a stand-in.
stub=""
if ! dpkg -S /usr/sbin/xl > /dev/null 2>&1; then
    [ -e /usr/sbin/xl ] && die "/usr/sbin/xl exists and no package owns it"
    step "stand-in package owning /usr/sbin/xl (no xen-utils-common here)"
    # (with a second file: a package whose every file is diverted away
    # "disappears" from dpkg's database, which xen-utils-common never does)
    s=$out/stub/xlmig-ci-xl-owner
    rm -rf "$out/stub"; mkdir -p "$s/DEBIAN" "$s/usr/sbin" "$s/usr/share/xlmig-ci-xl-owner"
    printf '#!/bin/sh\necho "xl stand-in: $*"\n' > "$s/usr/sbin/xl"; chmod 755 "$s/usr/sbin/xl"
    echo "CI stand-in for xen-utils-common's /usr/sbin/xl" > "$s/usr/share/xlmig-ci-xl-owner/README"
    printf 'Package: xlmig-ci-xl-owner\nVersion: 1\nArchitecture: all\nMaintainer: xlmig CI <xlmig@example.org>\nDescription: CI stand-in owning /usr/sbin/xl\n' > "$s/DEBIAN/control"
    dpkg-deb -b "$s" "$out/stub/xlmig-ci-xl-owner.deb" > /dev/null
    dpkg -i "$out/stub/xlmig-ci-xl-owner.deb" > /dev/null
    stub=xlmig-ci-xl-owner
fi
owner=$(dpkg -S /usr/sbin/xl | cut -d: -f1)

# A dom0 has the kernel's own xen-blkback, which DKMS must install over
# (its version check finds two modules without MODULE_VERSION "equal").
# Where this machine has a 6.1 kernel's headers only, the module
# blkback-patch/build.sh built (.ci/run's earlier stage) stands in for it.
standin=""
drop_standins() {
    local k
    for k in $standin; do rm -rf "/lib/modules/$k/kernel"; depmod "$k" 2> /dev/null || true; done
}
trap drop_standins EXIT
for m in /lib/modules/6.1.*; do
    k=${m##*/}; d=$m/kernel/drivers/block/xen-blkback; ko=$top/blkback-patch/build/${k%-amd64}/xen-blkback.ko
    [ -e "$m/build/include" ] && [ ! -e "$m/kernel" ] && [ -f "$ko" ] || continue
    mkdir -p "$d" && cp "$ko" "$d/" && depmod "$k" && standin="$standin $k"
done
[ -z "$standin" ] || step "kernel's own xen-blkback stood in by blkback-patch/build's for:$standin"
xl_before=$(sha256sum < /usr/sbin/xl)
xl_link_before=$(readlink /usr/sbin/xl || true)

step "apt install ./*.deb (owner of /usr/sbin/xl: $owner)"
ti=$(date +%s)
(cd "$out" && apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends ./*.deb) > "$out/install.log" 2>&1 ||
    { tail -n 40 "$out/install.log"; die "apt install"; }
grep -E '^xlmig-dkms:|Building for|DKMS: install completed|Skipped' "$out/install.log" || true
step "installed in $(( $(date +%s) - ti ))s"

check_installed() {
    [ "$(command -v xlmig)" = /usr/bin/xlmig ] || die "xlmig not on PATH"
    xlmig --version | head -n 1
    grep -q '^# xl-front: ' /usr/sbin/xl || die "/usr/sbin/xl is not the xl front"
    dpkg-divert --list /usr/sbin/xl | grep -qx 'diversion of /usr/sbin/xl to /usr/lib/xlmig/xl.distrib by xlmig' ||
        die "no diversion of /usr/sbin/xl: $(dpkg-divert --list /usr/sbin/xl)"
    [ "$(dpkg-divert --list | grep -c xlmig)" = 1 ] || die "diversions: $(dpkg-divert --list | grep xlmig)"
    [ "$(sha256sum < /usr/lib/xlmig/xl.distrib)" = "$xl_before" ] || die "the diverted xl is not $owner's"
    [ -d /var/log/xlmig ] && [ "$(stat -c %a /var/log/xlmig)" = 700 ] || die "/var/log/xlmig"
    # the front: every other command to the real xl, --with-storage to xlmig
    if [ -n "$stub" ]; then
        out_help=$(XLMIG_REAL_XL=/usr/lib/xlmig/xl.distrib xl help migrate)
        [ "$out_help" = "xl stand-in: help migrate" ] || die "xl front did not pass 'help migrate' on: $out_help"
    fi
    m=$(xl migrate --with-storage --frobnicate g1 h 2>&1) && die "xl migrate --with-storage --frobnicate succeeded"
    grep -qi 'frobnicate' <<< "$m" || die "xl migrate --with-storage did not reach xlmig: $m"
    [ "$(pkg-config --modversion libxlmig)" = "$ver" ] || die "pkg-config libxlmig"
    [ -f /etc/depmod.d/xlmig-dkms.conf ] || die "depmod override missing"
    st=$(dkms status -m xen-blkback-migrate -v "$ver")
    [ -n "$st" ] || die "dkms does not know xen-blkback-migrate/$ver"
    echo "$st"
    for k in /lib/modules/*; do
        k=${k##*/}
        [ -d "/usr/src/linux-headers-$k" ] || [ -e "/lib/modules/$k/build/include" ] || continue
        case "$k" in 6.1.*) ;; *) continue;; esac
        f=$(modinfo -k "$k" -F filename xen-blkback 2>/dev/null || true)
        case "$f" in */updates/dkms/xen-blkback.ko*) echo "  $k: modprobe picks $f";;
            *) die "$k: modprobe picks '${f:-nothing}', not the DKMS module";; esac
    done
}
check_installed

# The override, in a scratch module tree: it must win even against an
# admin's "search built-in first", and fall back to the in-tree module once
# DKMS removed ours.  (depmod decides by path: the DKMS-built module stands
# in for the in-tree one too.)
step "depmod override"
ko=$(ls /lib/modules/*/updates/dkms/xen-blkback.ko* 2>/dev/null | head -n 1)
if [ -n "$ko" ]; then
    k=$(basename "$(dirname "$(dirname "$(dirname "$ko")")")")
    r=$(mktemp -d); m=$r/lib/modules/$k
    mkdir -p "$m/kernel/drivers/block/xen-blkback" "$m/updates/dkms" "$r/conf"
    cp "$ko" "$m/kernel/drivers/block/xen-blkback/"; cp "$ko" "$m/updates/dkms/"
    echo "search built-in updates" > "$r/conf/00-admin.conf"
    picked() { depmod -C "$r/conf" -b "$r" "$k" 2> /dev/null; grep -o '^[^:]*xen-blkback.ko[^:]*' "$m/modules.dep"; }
    [ "$(picked)" = kernel/drivers/block/xen-blkback/$(basename "$ko") ] || die "scratch tree: search order not applied"
    cp /etc/depmod.d/xlmig-dkms.conf "$r/conf/"
    [ "$(picked)" = updates/dkms/$(basename "$ko") ] || die "the override does not make depmod pick updates/dkms"
    rm "$m/updates/dkms/$(basename "$ko")"
    [ "$(picked)" = kernel/drivers/block/xen-blkback/$(basename "$ko") ] || die "no fallback to the in-tree module"
    rm -rf "$r"
    echo "  override wins against 'search built-in updates', falls back once the DKMS module is gone"
else
    echo "  (no DKMS-built module on this machine: no 6.1 kernel headers)"
fi

step "the public library from outside: example.c against the installed libxlmig"
w=$(mktemp -d /var/tmp/xlmig-debs.XXXXXX)
cc -std=c11 -Wall -Wextra -Werror -o "$w/example" /usr/share/doc/libxlmig-dev/examples/example.c \
    $(pkg-config --cflags --libs libxlmig) -pthread
l=$(ldd "$w/example")
grep -Eq "libxlmig.so.1 => (/usr)?/lib/$ma/libxlmig.so.1 " <<< "$l" || die "example does not use the installed libxlmig.so.1: $l"
xlmig-vbdsim mkimage "$w/src.img" --size 64M --allocated 32M > /dev/null
xlmig-vbdsim serve --image "$w/src.img" --socket "$w/src.sock" --write-rate 2M > "$w/src.log" 2>&1 &
i=0; while [ ! -S "$w/src.sock" ]; do i=$((i + 1)); [ $i -lt 250 ] || die "vbdsim"; sleep 0.02; done
sleep 1; mkdir -p "$w/dst"
timeout 120 "$w/example" /usr/bin/xlmig-vbdsim "$w/src.sock" "$w/dst" > "$w/example.log" 2>&1 ||
    { tail -n 20 "$w/example.log"; die "example"; }
xlmig sim verify "$w/dst/xvda.img.sock" | tail -n 2
for s in "$w"/*.sock "$w"/dst/*.sock; do [ -S "$s" ] && xlmig-vbdsim ctl "$s" shutdown > /dev/null 2>&1; done
rm -rf "$w"

step "the README's demo with the installed command"
td=$(date +%s)
/usr/share/doc/xlmig/examples/xlmig-demo /usr/bin > "$out/demo.log" 2>&1 ||
    { tail -n 40 "$out/demo.log"; die "demo"; }
grep -q 'result: PASS' "$out/demo.log" || { tail -n 20 "$out/demo.log"; die "demo: no 'result: PASS'"; }
grep -E 'total|downtime|result' "$out/demo.log" | head -n 8
step "demo PASS in $(( $(date +%s) - td ))s"

step "reinstall (maintainer scripts run again: idempotent)"
(cd "$out" && apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends --reinstall ./*.deb) > "$out/reinstall.log" 2>&1 ||
    { tail -n 40 "$out/reinstall.log"; die "reinstall"; }
check_installed

# ---- purge: everything back as it was -------------------------------------------
step "apt purge"
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 purge -y -q $pkgs > "$out/purge.log" 2>&1 || { tail -n 40 "$out/purge.log"; die "purge"; }
for p in $pkgs; do
    st=$(dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case "$st" in ""|"un "*|"pn "*) ;; *) die "$p still '$st' after purge";; esac
done
[ "$(dpkg -S /usr/sbin/xl | cut -d: -f1)" = "$owner" ] || die "/usr/sbin/xl is not $owner's again"
[ "$(sha256sum < /usr/sbin/xl)" = "$xl_before" ] || die "/usr/sbin/xl changed"
[ "$(readlink /usr/sbin/xl || true)" = "$xl_link_before" ] || die "/usr/sbin/xl's link changed"
if dpkg-divert --list | grep -q xlmig; then die "diversion left: $(dpkg-divert --list | grep xlmig)"; fi
left=""
for f in /usr/lib/xlmig /var/log/xlmig /run/xlmig /etc/depmod.d/xlmig-dkms.conf /usr/bin/xlmig \
         /usr/src/xen-blkback-migrate-"$ver" /var/lib/dkms/xen-blkback-migrate \
         /usr/lib/tmpfiles.d/xlmig.conf "/usr/lib/$ma/libxlmig.so.1" /usr/include/xlmig.h; do
    [ -e "$f" ] && left="$left $f"
done
for f in /lib/modules/*/updates/dkms/xen-blkback.ko*; do [ -e "$f" ] && left="$left $f"; done
[ -z "$left" ] || die "left after purge:$left"
for k in /lib/modules/*; do
    k=${k##*/}
    f=$(modinfo -k "$k" -F filename xen-blkback 2>/dev/null || true)
    case "$f" in */updates/*) die "$k: modprobe still picks $f";; esac
done
for k in $standin; do
    f=$(modinfo -k "$k" -F filename xen-blkback 2>/dev/null || true)
    case "$f" in */kernel/drivers/block/xen-blkback/xen-blkback.ko) echo "  $k: modprobe picks the kernel's own module again";;
        *) die "$k: modprobe picks '$f', not the kernel's own module";; esac
done
echo "  /usr/sbin/xl is $owner's again, no diversion, nothing of xlmig left"
[ -n "$stub" ] && dpkg --purge "$stub" > /dev/null
step "packages: PASS"
