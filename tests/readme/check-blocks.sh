#!/bin/sh
# Runs the README's command blocks as written.
#
#   tests/readme/check-blocks.sh [FILE.md...]     (default: the README.md)
#
# A block is tested when an HTML comment marker precedes its fence:
#
#   <!-- test: sim-flow -->
#   ```
#   commands...
#   ```
#
# Each marked block runs with `sh -e` in an empty scratch directory, in a
# session of its own, with the build's tools first on PATH (the directory
# of $XLMIG, else ./tools), within $README_BLOCK_TIMEOUT seconds (300).  It
# fails when any command of the block fails (or the block hangs); after it,
# whatever the block left running in that session is stopped and the
# simulated VBDs whose sockets are in the scratch directory are shut down.
# No marked block at all: skipped (exit 77).
#
# Environment (set by `make check`): srcdir, XLMIG, XLMIG_VBDSIM.
set -u

top=${srcdir:-.}
[ $# -gt 0 ] || set -- "$top/README.md"
limit=${README_BLOCK_TIMEOUT:-300}
if [ -n "${XLMIG:-}" ]; then
    bindir=$(cd "$(dirname "$XLMIG")" && pwd)
else
    bindir=$(pwd)/tools
fi
vbdsim=${XLMIG_VBDSIM:-$bindir/xlmig-vbdsim}
status=0 ran=0

# extract FILE NAME: the block after <!-- test: NAME --> on stdout.
extract() {
    awk -v name="$2" '
        !armed && $0 ~ "^<!-- test: " name " -->[[:space:]]*$" { armed = 1; next }
        armed == 1 && /^[[:space:]]*$/ { next }
        armed == 1 && /^```/ { armed = 2; next }
        armed == 1 { exit 1 }                 # text before the fence
        armed == 2 && /^```/ { done = 1; exit 0 }
        armed == 2 { print }
        END { exit done ? 0 : 1 }
    ' "$1"
}

# stop_all DIR PGID: what the block left behind.
stop_all() {
    kill -TERM "-$2" 2>/dev/null || true
    for s in $(find "$1" -name '*.sock' -type s 2>/dev/null); do
        "$vbdsim" ctl "$s" shutdown >/dev/null 2>&1 || true
    done
    sleep 0.2
    kill -KILL "-$2" 2>/dev/null || true
}

# run FILE NAME
run() {
    file=$1 name=$2
    dir=$(mktemp -d "${TMPDIR:-/tmp}/xlmig-readme.XXXXXX")
    if ! extract "$file" "$name" >"$dir/block.sh" || [ ! -s "$dir/block.sh" ]; then
        echo "FAIL: $file: <!-- test: $name --> is not followed by a \`\`\` block" >&2
        rm -rf "$dir"
        return 1
    fi
    mkdir "$dir/run"
    echo "# $file: block '$name' ($(wc -l <"$dir/block.sh") lines) in $dir/run"
    # A session of its own: its process group is the block's (setsid does
    # not fork here, we are not a group leader), so it can all be stopped.
    (cd "$dir/run" && PATH="$bindir:$PATH" exec setsid sh -e -x "$dir/block.sh") \
        >"$dir/output" 2>&1 </dev/null &
    pid=$!
    waited=0 rc=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$waited" -ge $((limit * 10)) ]; then
            echo "FAIL: block '$name' still running after ${limit}s" >&2
            rc=124
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    stop_all "$dir/run" "$pid"
    if [ "$rc" = 0 ]; then
        wait "$pid"
        rc=$?
    fi
    if [ "$rc" != 0 ]; then
        echo "FAIL: block '$name' of $file exited $rc; its output:" >&2
        sed 's/^/    /' "$dir/output" >&2
        rm -rf "$dir"
        return 1
    fi
    sed 's/^/    /' "$dir/output"
    echo "# block '$name': ok in $((waited / 10)).$((waited % 10)) s"
    rm -rf "$dir"
    return 0
}

for file in "$@"; do
    [ -f "$file" ] || { echo "FAIL: $file not found" >&2; status=1; continue; }
    for name in $(sed -n 's/^<!-- test: \([A-Za-z0-9_.-]*\) -->[[:space:]]*$/\1/p' "$file"); do
        ran=$((ran + 1))
        run "$file" "$name" || status=1
    done
done
if [ "$ran" = 0 ] && [ "$status" = 0 ]; then
    echo "# no <!-- test: NAME --> block in $*: skipped"
    exit 77
fi
exit $status
