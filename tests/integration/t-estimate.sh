#!/bin/sh
# xlmig estimate: measures over the real data channel and predicts,
# changing nothing: the receiver creates no target, the guest runs on
# untouched (tracking off again).  Its figures are checked against what
# is known (allocated bytes, the guest's write rate), and its post-copy
# call against the migration made right after with the same options:
# a guest out-writing the link needs post-copy, an idle one does not.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

estimate() { # estimate OUT [args]: against a fresh receiver
    out=$1; shift
    start_receiver --json
    set +e
    "$XLMIG" estimate --json --quiet --sample-seconds 3 "$@" \
        "tcp:127.0.0.1:$PORT" >"$T/$out" 2>"$T/$out.log"
    EST_RC=$?
    set -e
    wait_receiver
}

efield() { sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[-0-9.a-z]*\).*/\1/p" "$T/$1" | tr -d '"'; }

# An idle guest.
mkimage src 64M 32M
start_source src --write-rate 1
estimate idle.json --vbd "sim:$T/src.sock"
[ "$EST_RC" = 0 ] || { cat "$T/idle.json.log" >&2; fail "estimate exit $EST_RC"; }
[ "$RECV_RC" = 0 ] || fail "receiver exit $RECV_RC"
grep -q '"estimate":true' "$T/receiver.log" || fail "not an estimate session"
[ -z "$(ls -A "$T/dst")" ] || fail "the estimate left $(ls "$T/dst") behind"
[ "$(guest_state "$T/src.sock")" = running ] || fail "the guest stopped"
"$XLMIG_VBDSIM" ctl "$T/src.sock" stats | grep -qi 'tracking.*\(off\|no\|0\)' ||
    { "$XLMIG_VBDSIM" ctl "$T/src.sock" stats >&2; fail "tracking left on"; }
[ "$(efield idle.json allocated_bytes)" -ge $((32 << 20)) ] ||
    fail "allocated_bytes $(efield idle.json allocated_bytes)"
awk -v r="$(efield idle.json pipeline_Bps)" 'BEGIN { exit !(r > 1e6) }' ||
    fail "pipeline rate $(efield idle.json pipeline_Bps)"
[ "$(efield idle.json postcopy)" = false ] || fail "idle: post-copy predicted"
start_receiver --json
send --json --vbd "sim:$T/src.sock"
wait_receiver
[ "$SEND_RC" = 0 ] || fail "idle: send exit $SEND_RC"
[ "$(json_field "$T/sender.log" report postcopy)" = false ] ||
    fail "idle: post-copy happened"
note "idle: predicted $(efield idle.json total_s) s, took $(json_field "$T/sender.log" report total_s) s; no post-copy either way"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
"$XLMIG_VBDSIM" ctl "$T/src.sock" shutdown >/dev/null 2>&1 || true
sleep 0.3
rm -rf "$T/dst" "$T"/src.*

# A guest writing 3 MB/s over a 1.5 MB/s link: post-copy, both ways.
# (Fully allocated: its writes do not grow what the full pass reads.)
mkimage src 16M 16M
start_source src --write-rate 3M
estimate busy.json --bandwidth 1500k --max-passes 3 --vbd "sim:$T/src.sock"
[ "$EST_RC" = 0 ] || { cat "$T/busy.json.log" >&2; fail "estimate exit $EST_RC"; }
awk -v d="$(efield busy.json dirty_Bps)" 'BEGIN { exit !(d > 1.5e6 && d < 4e6) }' ||
    fail "dirty rate $(efield busy.json dirty_Bps), the guest writes ~3.1 MB/s"
[ "$(efield busy.json postcopy)" = true ] || fail "busy: no post-copy predicted"
start_receiver --json
send --json --bandwidth 1500k --max-passes 3 --vbd "sim:$T/src.sock"
wait_receiver
[ "$SEND_RC" = 0 ] || fail "busy: send exit $SEND_RC"
[ "$(json_field "$T/sender.log" report postcopy)" = true ] ||
    fail "busy: no post-copy happened"
verify "$T/dst/xvda.sock"
note "busy: post-copy predicted ($(efield busy.json postcopy_blocks) blocks) and happened ($(json_field "$T/sender.log" report final_blocks) blocks)"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
sleep 0.3
rm -rf "$T/dst"

# A target that exists already: the receiver's refusal, nothing touched.
mkdir -p "$T/dst"
echo keep >"$T/dst/xvda.img"
start_receiver --json
set +e
"$XLMIG" estimate --quiet --sample-seconds 1 --offline \
    --image "xvda=$T/src.img" "tcp:127.0.0.1:$PORT" >"$T/refused.log" 2>&1
rc=$?
set -e
wait_receiver
[ "$rc" = 1 ] || fail "existing target: estimate exit $rc, want 1"
grep -q "refusing to overwrite" "$T/refused.log" ||
    { cat "$T/refused.log" >&2; fail "no reason given"; }
[ "$(cat "$T/dst/xvda.img")" = keep ] || fail "the existing target changed"

# A cold migration's estimate: no guest, no downtime.
rm -rf "$T/dst"
estimate cold.json --offline --image "xvda=$T/src.img"
[ "$EST_RC" = 0 ] || { cat "$T/cold.json.log" >&2; fail "cold estimate exit $EST_RC"; }
[ "$(efield cold.json dirty_Bps)" = 0 ] || fail "cold: dirty rate"
[ "$(efield cold.json stop_reason)" = "cold copy" ] || fail "cold: stop reason"

# A target directory the receiver would create: an estimate leaves none.
rm -f "$T/port"
"$XLMIG" receive --quiet --target-dir "$T/fresh" --port-file "$T/port" \
    --accept-timeout 60 tcp-listen:127.0.0.1:0 >"$T/fresh.log" 2>&1 &
RECV_PID=$!
PIDS="$PIDS $RECV_PID"
wait_file "$T/port"
"$XLMIG" estimate --quiet --sample-seconds 1 --offline --image "xvda=$T/src.img" \
    "tcp:127.0.0.1:$(cat "$T/port")" >/dev/null 2>&1 || fail "estimate into a fresh dir"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "fresh dir: receiver exit $RECV_RC"
[ ! -e "$T/fresh" ] || fail "the estimate left the target directory behind"
