#!/bin/sh
# libxlmig.so exports exactly the functions xlmig.h declares: nothing
# internal leaks out (every module is xlmig_-prefixed, so a wildcard would
# not do), and nothing declared is missing.
set -eu
so=${XLMIG_LIB:-.libs/libxlmig.so}
hdr=${XLMIG_HEADER:-$(dirname "$0")/../libxl-ext/include/xlmig.h}
[ -f "$so" ] || { echo "no $so (shared library not built?)"; exit 77; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# Function declarations: a name followed by "(" at the start of a
# declaration, not a typedef'd function type.
sed -n 's/^[a-z].*[ *]\(xlmig_[a-z_0-9]*\)(.*/\1/p; s/^\(xlmig_[a-z_0-9]*\)(.*/\1/p' "$hdr" |
    grep -v '_fn$' | sort -u > "$t/declared"
nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' |
    sed 's/@.*//' | sort -u > "$t/exported"
if ! diff -u "$t/declared" "$t/exported"; then
    echo "FAIL: exported symbols differ from xlmig.h's functions (- declared, + exported)"
    exit 1
fi
soname=$(objdump -p "$so" | awk '$1 == "SONAME" { print $2 }')
case "$soname" in
    libxlmig.so.[0-9]*) echo "soname $soname, $(wc -l < "$t/exported") functions exported" ;;
    *) echo "FAIL: soname '$soname'"; exit 1 ;;
esac
