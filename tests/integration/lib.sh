# Shared helpers for the integration tests: each test migrates simulated
# guests over loopback (or a network namespace pair) with the real xlmig
# and xlmig-vbdsim binaries, then checks with the guests' own checker.
#
# Environment (set by `make check`): XLMIG, XLMIG_VBDSIM; optional
# XLMIG_TEST_KEEP=1 keeps the scratch directory.
set -eu

XLMIG=${XLMIG:-$(pwd)/tools/xlmig}
XLMIG_VBDSIM=${XLMIG_VBDSIM:-$(pwd)/tools/xlmig-vbdsim}
export XLMIG_VBDSIM
T=$(mktemp -d "${TMPDIR:-/tmp}/xlmig-test.XXXXXX")
PIDS=""

cleanup() {
    rc=$?
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    # Destination VBDs run detached: stop whatever still serves in $T.
    for s in "$T"/*.sock "$T"/*/*.sock; do
        [ -S "$s" ] && "$XLMIG_VBDSIM" ctl "$s" shutdown >/dev/null 2>&1 || true
    done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    if [ "$rc" != 0 ]; then
        echo "---- test failed (rc=$rc); logs in $T:" >&2
        for f in "$T"/*.log "$T"/*/*.log; do
            [ -f "$f" ] || continue
            echo "==== $f" >&2
            tail -n 40 "$f" >&2
        done
    fi
    [ "${XLMIG_TEST_KEEP:-0}" = 1 ] || rm -rf "$T"
    exit "$rc"
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*"; }

# mkimage NAME SIZE ALLOCATED [extra mkimage args]
mkimage() {
    name=$1 size=$2 alloc=$3; shift 3
    "$XLMIG_VBDSIM" mkimage "$T/$name.img" --size "$size" --allocated "$alloc" "$@" \
        >"$T/mkimage-$name.log" 2>&1 || fail "mkimage $name"
}

# start_source NAME [serve args]: a source VBD with its running guest.
start_source() {
    name=$1; shift
    "$XLMIG_VBDSIM" serve --image "$T/$name.img" --socket "$T/$name.sock" "$@" \
        >"$T/src-$name.log" 2>&1 &
    PIDS="$PIDS $!"
    eval "SRC_PID_$name=$!"
    wait_socket "$T/$name.sock"
}

wait_socket() {
    i=0
    while [ ! -S "$1" ]; do
        i=$((i + 1))
        [ $i -lt 500 ] || fail "socket $1 never appeared"
        sleep 0.02
    done
}

# start_receiver [receive args]: listens on a free loopback port.
start_receiver() {
    mkdir -p "$T/dst"
    rm -f "$T/port"
    "$XLMIG" receive --quiet --target-dir "$T/dst" --port-file "$T/port" \
        --accept-timeout 60 "$@" tcp-listen:127.0.0.1:0 >"$T/receiver.log" 2>&1 &
    RECV_PID=$!
    PIDS="$PIDS $RECV_PID"
    i=0
    while [ ! -s "$T/port" ]; do
        i=$((i + 1))
        [ $i -lt 500 ] || fail "receiver did not start"
        sleep 0.02
    done
    PORT=$(cat "$T/port")
}

# send [send args]: runs the sender to completion; its status in SEND_RC.
send() {
    set +e
    "$XLMIG" send --quiet "$@" "tcp:127.0.0.1:$PORT" >"$T/sender.log" 2>&1
    SEND_RC=$?
    set -e
}

wait_receiver() {
    set +e
    wait "$RECV_PID"
    RECV_RC=$?
    set -e
}

# verify SOCKET: the guest's full check against its model must pass.
verify() {
    "$XLMIG" sim verify "$1" >"$T/verify-$(basename "$1").log" 2>&1 ||
        { cat "$T/verify-$(basename "$1").log" >&2; fail "verify $1"; }
}

# report SOCKET FIELD: a numeric field of the guest's report.
report_field() {
    "$XLMIG" sim report "$1" | sed -n "s/^ *$2[ :=]*\([0-9][0-9]*\).*/\1/p" | head -n1
}

assert_no_targets() {
    if ls "$T/dst"/*.img >/dev/null 2>&1; then
        ls -l "$T/dst" >&2
        fail "target images left behind"
    fi
}

# json_field FILE EVENT FIELD: FIELD of the last EVENT object in FILE.
json_field() {
    grep "\"event\":\"$2\"" "$1" | tail -n1 |
        sed -n "s/.*\"$3\":\(\"[^\"]*\"\|[-0-9.a-z]*\).*/\1/p" | tr -d '"'
}

# guest_state SOCKET: running, suspended, paused, ...
guest_state() {
    "$XLMIG" sim report "$1" 2>/dev/null | sed -n 's/^guest: *\([a-z]*\).*/\1/p'
}

# wait_event FILE EVENT [PHASE]: until the sender/receiver log shows it.
wait_event() {
    i=0
    while ! grep -q "\"event\":\"$2\"${3:+.*\"phase\":\"$3\"}" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 3000 ] || fail "no $2 $3 event in $1"
        sleep 0.01
    done
}

# send_bg [send args]: the sender in the background, JSON events to its log.
send_bg() {
    "$XLMIG" send --quiet --json "$@" "tcp:127.0.0.1:$PORT" >"$T/sender.log" 2>&1 &
    SEND_PID=$!
    PIDS="$PIDS $SEND_PID"
}

wait_sender() {
    set +e
    wait "$SEND_PID"
    SEND_RC=$?
    set -e
}

# The destination left nothing: no image, no VBD serving.
assert_dest_clean() {
    assert_no_targets
    for s in "$T"/dst/*.sock; do
        [ -e "$s" ] || continue
        if "$XLMIG_VBDSIM" ctl "$s" stats >/dev/null 2>&1; then
            fail "a destination VBD still serves $s"
        fi
    done
}

# The source guest runs on and its disk holds exactly its writes.
assert_source_intact() {
    st=$(guest_state "$T/$1.sock")
    [ "$st" = running ] || fail "source guest is '$st', not running"
    verify "$T/$1.sock"
}

FAULTPROXY=${FAULTPROXY:-$(dirname "$XLMIG")/../tests/integration/faultproxy}
BADPEER=${BADPEER:-$(dirname "$XLMIG")/../tests/integration/badpeer}

wait_file() {
    i=0
    while [ ! -s "$1" ]; do
        i=$((i + 1))
        [ $i -lt 500 ] || fail "$1 never appeared"
        sleep 0.02
    done
}
