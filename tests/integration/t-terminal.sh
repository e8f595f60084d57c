#!/bin/sh
# The progress display on a terminal, on both sides: each side runs in a
# pseudo-terminal (script(1)) and what it drew is checked: a bar, a
# percentage and an ETA while PUSH runs and during post-copy, the line
# rewritten in place, a percentage that reaches 100%.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"
command -v script >/dev/null 2>&1 || { echo "SKIP: no script(1)"; exit 77; }

mkimage src 24M 12M
start_source src --write-rate 6M
rm -f "$T/port"
mkdir -p "$T/dst"
# intty FILE COMMAND: COMMAND on a 150-column terminal, drawn into FILE.
intty() {
    script -q -e -c "stty cols 150 rows 40; $2" "$1" >/dev/null 2>&1 </dev/null
}
intty "$T/recv.tty" "'$XLMIG' receive --target-dir '$T/dst' --port-file '$T/port' tcp-listen:127.0.0.1:0" &
RECV_PID=$!
PIDS="$PIDS $RECV_PID"
wait_file "$T/port"
# No dirty pass: what the guest writes during PUSH goes post-copy.
intty "$T/send.tty" "'$XLMIG' send --bandwidth 5M --max-passes 0 --vbd 'sim:$T/src.sock' tcp:127.0.0.1:$(cat "$T/port")" ||
    fail "send failed ($(tr '\r' '\n' <"$T/send.tty" | tail -n 5))"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed"

# lines FILE: what was drawn, one line per redraw, escapes removed.
lines() { tr '\r' '\n' <"$1" | sed 's/\x1b\[K//g' | grep -v '^$'; }
for side in send recv; do
    f=$T/$side.tty
    role=source
    [ $side = recv ] && role=destination
    lines "$f" >"$T/$side.lines"
    for phase in push post-copy; do
        l=$(grep "^$role  $phase " "$T/$side.lines" || true)
        [ -n "$l" ] || fail "$role: no $phase line: $(head -n 20 "$T/$side.lines")"
        printf '%s\n' "$l" | grep -q '\[#*\.*\]' || fail "$role $phase: no bar"
        printf '%s\n' "$l" | grep -q ' [0-9]*\.[0-9]%' || fail "$role $phase: no percentage"
        printf '%s\n' "$l" | grep -q 'ETA [0-9]' || fail "$role $phase: no ETA"
        printf '%s\n' "$l" | grep -q '100\.0%' || fail "$role $phase: never 100%"
        n=$(printf '%s\n' "$l" | wc -l)
        [ "$n" -ge 3 ] || fail "$role $phase: drawn $n times, not rewritten as it ran"
    done
    note "$role: $(grep "^$role  push " "$T/$side.lines" | sed -n 3p)"
    note "$role: $(grep "^$role  post-copy " "$T/$side.lines" | sed -n 2p)"
done
# The source shows both rates.
grep '^source  push ' "$T/send.lines" | grep -q 'MB/s  wire [0-9.]* MB/s' ||
    fail "the source's push line lacks the payload or the wire rate"
verify "$T/dst/xvda.sock"
