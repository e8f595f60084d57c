#!/bin/sh
# Passes are counted one way everywhere: --max-passes 1 makes exactly one
# dirty pass, its events say pass 1, the verdict and the report say 1;
# --max-passes 0 makes none.  Along the way, the figures of the progress
# events: "remaining" falls during the dirty pass, payload and wire rates
# are both given, the destination reports progress during PUSH and the
# dirty pass, post-copy has an ETA; and --quiet prints nothing but the
# report.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

# values FILE EVENT PHASE FIELD: FIELD of every EVENT of PHASE, one a line.
values() {
    grep "\"event\":\"$2\"" "$1" | grep "\"phase\":\"$3\"" |
        sed -n "s/.*\"$4\":\([-0-9.]*\).*/\1/p"
}

# The guest writes faster than the link drains: no pass can converge, the
# limit decides; the dirty pass takes a few seconds (several ticks).
mkimage src 32M 16M
start_source src --write-rate 6M
start_receiver --json
send --json --bandwidth 6M --max-passes 1 --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send failed ($SEND_RC)"
wait_receiver
[ "$RECV_RC" = 0 ] || fail "receive failed ($RECV_RC)"
L=$T/sender.log

passes=$(json_field "$L" report passes)
started=$(grep '"event":"pass"' "$L" | grep '"phase":"dirty"' | grep -vc '"message"' || true)
verdict_pass=$(grep '"event":"pass"' "$L" | grep '"message"' | sed -n 's/.*"pass":\([0-9]*\).*/\1/p')
note "--max-passes 1: report passes=$passes, passes started=$started, verdict at pass $verdict_pass ($(json_field "$L" report stop_reason))"
[ "$passes" = 1 ] || fail "report says $passes dirty passes, not 1"
[ "$started" = 1 ] || fail "$started dirty passes started, not 1"
[ "$verdict_pass" = 1 ] || fail "the verdict says pass $verdict_pass, not 1"
[ "$(json_field "$L" report stop_reason)" = "pass limit reached" ] ||
    fail "stopped by '$(json_field "$L" report stop_reason)'"
[ "$(json_field "$L" report max_passes)" = 1 ] || fail "max_passes not 1 in the report"
# Every dirty tick is pass 1 (no "pass 2" on screen while the report says 1).
if values "$L" progress dirty pass | grep -qv '^1$'; then
    fail "a dirty tick says another pass: $(values "$L" progress dirty pass | sort -u | tr '\n' ' ')"
fi

# "remaining" moves during the pass, towards 0, within the pass's total.
rem=$(values "$L" progress dirty remaining_bytes | tr '\n' ' ')
total=$(values "$L" progress dirty total_bytes | head -n1)
note "dirty pass 1 of $total bytes: remaining $rem"
set -- $rem
[ $# -ge 2 ] || fail "fewer than two progress ticks in the dirty pass"
first=$1
for last; do :; done
[ "$last" -lt "$first" ] || fail "remaining did not fall ($first -> $last)"
[ "$first" -le "$total" ] || fail "remaining $first above the total $total"
# Both rates are shown, and they are not the same figure.
grep '"event":"progress"' "$L" | grep -q '"wire_rate_Bps"' || fail "no wire rate"
grep '"event":"progress"' "$L" | grep -q '"rate_Bps"' || fail "no payload rate"

# The destination shows progress during PUSH and the dirty pass.
R=$T/receiver.log
for ph in push dirty; do
    n=$(grep '"event":"progress"' "$R" | grep -c "\"phase\":\"$ph\"" || true)
    note "destination: $n progress events in $ph"
    [ "$n" -ge 1 ] || fail "no destination progress during $ph"
done
values "$R" progress push remaining_bytes | sort -n -c -r 2>/dev/null ||
    fail "the destination's push remaining does not fall"
# Post-copy (the limit left more than the budget) comes with an ETA.
if [ "$(json_field "$L" report postcopy)" = true ]; then
    pe=$(grep '"event":"progress"' "$L" "$R" | grep '"phase":"postcopy"' | grep -c '"eta_s"' || true)
    note "post-copy: $pe progress events with an ETA"
    [ "$pe" -ge 1 ] || fail "post-copy progress without an ETA"
fi
verify "$T/dst/xvda.sock"
"$XLMIG_VBDSIM" ctl "$T/dst/xvda.sock" shutdown >/dev/null
rm -rf "$T/dst" "$T"/src.*

# --max-passes 0: no dirty pass at all (not "the default"), and the
# human report says so; --quiet prints the report and nothing else.
mkimage src 16M 8M
start_source src --write-rate 2M
start_receiver
send --max-passes 0 --vbd "sim:$T/src.sock"
[ "$SEND_RC" = 0 ] || fail "send --max-passes 0 failed ($SEND_RC)"
wait_receiver
grep -q "dirty passes      0 of at most 0" "$T/sender.log" ||
    fail "the report does not say 0 passes of at most 0"
for f in "$T/sender.log" "$T/receiver.log"; do
    # The report: its title, then indented lines; warnings stay with
    # --quiet (a loaded machine can overrun the downtime budget).
    other=$(grep -v '^xlmig disk migration report\|^  \|^xlmig: warning: ' "$f" || true)
    [ -z "$other" ] || fail "--quiet printed more than the report in $(basename "$f"): $other"
    grep -q '^xlmig disk migration report' "$f" || fail "no report in $(basename "$f")"
done
verify "$T/dst/xvda.sock"
