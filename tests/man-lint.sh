#!/bin/sh
# The man pages: mandoc's linter and man's own warnings must be silent, and
# every option the commands' --help prints must be documented in them.
#
# Environment (set by `make check`): srcdir, XLMIG, XLMIG_VBDSIM.
set -eu

top=${srcdir:-.}
pages="$top/doc/xlmig.8 $top/doc/xlmig-vbdsim.1"
status=0
fail() { echo "FAIL: $*" >&2; status=1; }

command -v mandoc >/dev/null 2>&1 ||
    { echo "mandoc not found: install it (see .ci/deps.sh)" >&2; exit 1; }

for p in $pages; do
    [ -f "$p" ] || { fail "$p missing"; continue; }
    # -W style: everything mandoc reports, style hints included.
    out=$(mandoc -T lint -W style "$p" 2>&1) || true
    [ -z "$out" ] || fail "mandoc -T lint $p:
$out"
    if command -v man >/dev/null 2>&1; then
        out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null) ||
            fail "man -l $p exited $?"
        [ -z "$out" ] || fail "man --warnings -l $p:
$out"
    else
        echo "# man not installed: only mandoc checked"
    fi
done

# check_options PAGE HELP-COMMAND...: each --option in the help is in PAGE.
check_options() {
    page=$1; shift
    help=$("$@" 2>&1) || true
    [ -n "$help" ] || { fail "no help from: $*"; return; }
    for o in $(printf '%s\n' "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        # In roff every '-' of an option is written '\-'.
        r=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
        grep -q -- "$r" "$page" || fail "$page does not document $o ($*)"
    done
}

if [ -n "${XLMIG:-}" ] && [ -x "$XLMIG" ]; then
    m8="$top/doc/xlmig.8"
    for c in send receive; do
        check_options "$m8" "$XLMIG" "$c" --help
    done
    # The Xen commands exist only when built with libxen.
    if "$XLMIG" --help | grep -q '^  migrate '; then
        for c in migrate migrate-receive jobinfo; do
            check_options "$m8" "$XLMIG" "$c" --help
        done
    fi
    # Every command the program lists has a section.
    for c in $("$XLMIG" --help | sed -n 's/^  \([a-z-]*\) .*/\1/p'); do
        grep -q "^\.SS xlmig $(printf '%s' "$c" | sed 's/-/\\\\-/g')" "$m8" ||
            fail "$m8 has no section for xlmig $c"
    done
else
    echo "# XLMIG not set: the options were not compared with --help"
fi
if [ -n "${XLMIG_VBDSIM:-}" ] && [ -x "$XLMIG_VBDSIM" ]; then
    check_options "$top/doc/xlmig-vbdsim.1" "$XLMIG_VBDSIM" --help
fi

[ $status = 0 ] && echo "man pages: lint clean, options documented"
exit $status
