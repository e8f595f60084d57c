#!/bin/sh
# Builds tests/example/example.c against the INSTALLED libxlmig only
# (header and pkg-config file from `make install DESTDIR=...`), runs a
# simulated migration with it, and checks the destination guest.
#
#   tests/example/run.sh BUILDDIR       (what .ci/run does)
set -eu
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/xlmig-example.XXXXXX")
cleanup() {
    for s in "$T"/*.sock "$T"/dst/*.sock; do
        [ -S "$s" ] && "$D/bin/xlmig-vbdsim" ctl "$s" shutdown >/dev/null 2>&1 || true
    done
    rm -rf "$T"
}
trap cleanup EXIT

make -C "$B" install DESTDIR="$T/root" >/dev/null
prefix=$(sed -n 's/^prefix=//p' "$B/libxlmig.pc")
D=$T/root$prefix
pcdir=$(dirname "$(find "$T/root" -name libxlmig.pc | head -n1)")
cflags=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$T/root$prefix" --cflags libxlmig)
libs=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$T/root$prefix" --libs libxlmig)
echo "pkg-config: $cflags $libs"
case "$cflags" in *"$T/root"*) ;; *) echo "FAIL: cflags do not point into the install"; exit 1;; esac
# Nothing from the source tree: only the installed header and library.
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$T/example" "$SRC/example.c" \
    $cflags $libs -pthread
libdir=$(dirname "$(find "$T/root" -name 'libxlmig.so' | head -n1)")
export LD_LIBRARY_PATH=$libdir
ldd "$T/example" | grep -q "$libdir/libxlmig.so" ||
    { echo "FAIL: example does not use the installed libxlmig"; ldd "$T/example"; exit 1; }

"$D/bin/xlmig-vbdsim" mkimage "$T/src.img" --size 64M --allocated 32M >/dev/null
"$D/bin/xlmig-vbdsim" serve --image "$T/src.img" --socket "$T/src.sock" \
    --write-rate 2M >"$T/src.log" 2>&1 &
i=0; while [ ! -S "$T/src.sock" ]; do i=$((i+1)); [ $i -lt 250 ] || exit 1; sleep 0.02; done
sleep 1
mkdir -p "$T/dst"
timeout 120 "$T/example" "$D/bin/xlmig-vbdsim" "$T/src.sock" "$T/dst"
"$D/bin/xlmig" sim verify "$T/dst/xvda.img.sock"
echo "example: PASS"
