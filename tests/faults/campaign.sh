#!/bin/bash
# A randomized fault campaign (make check-faults; tests/faults/README.md).
#
# N migrations of the simulated flow (xlmig send / xlmig receive with
# xlmig-vbdsim guests), each with random image, workload, link and options
# and ONE fault at a random moment, each checked against the invariants:
#   success            -> the destination guest verifies, the source no
#                         longer runs it;
#   failure before GO  -> the source guest runs and verifies, the
#                         destination holds no image, socket or VBD;
#   failure after GO   -> the destination guest runs; post-copy paused
#                         and was recovered (the sender's own reconnect,
#                         or `xlmig recover --session` run by the campaign
#                         as an admin would once the sender is gone) and
#                         nothing is stale; or, only where recovery is
#                         impossible by construction (the receiver killed,
#                         the target full, a peer away past the recover
#                         timeout), every surviving side names the number
#                         of blocks that exist only on the source and the
#                         source image holds them (sim_recover installs
#                         them by hand, then the guest's check passes);
#   always             -> no hang past the run's bound, never a guest
#                         running nowhere, never two running copies, no
#                         leftover process.
# Every run prints its parameters and a replay line.  Exit status 1 if any
# run violated an invariant.
#
# Environment:
#   CAMPAIGN_N=12             runs
#   CAMPAIGN_SEED=<time>      campaign seed (printed)
#   CAMPAIGN_RUN_SEEDS="s.."  run exactly these run seeds (replay)
#   CAMPAIGN_FAULTS="..."     fault kinds to draw from; all: none kill stop
#                             cut flip stall full.  Unset (the CI default):
#                             CI_FAULTS below with CI_KNOWN tolerated and a
#                             budget of CI_BUDGET seconds
#   CAMPAIGN_PEER_TIMEOUT=10  --peer-timeout of both sides (s)
#   CAMPAIGN_RECOVER_TIMEOUT=30  --recover-timeout of both sides and of
#                             xlmig recover (s)
#   CAMPAIGN_STOPCOPY_TIMEOUT=10  the sender's --stopcopy-timeout (s)
#   CAMPAIGN_DOWNTIME_LIMIT   guest write gap (s) counted as a violation
#                             (default: the larger of the peer and the
#                             stop-copy timeouts + 10; a paused post-copy
#                             adds its pause)
#   CAMPAIGN_DIR=...          scratch (default under $TMPDIR, removed when
#                             every run passed; a given one keeps
#                             results.tsv)
#   CAMPAIGN_KEEP=1           keep every run's logs (default: violations)
#   CAMPAIGN_BUDGET_S=0       start no new run after this many seconds
#   CAMPAIGN_DRY=1            only print the runs' parameters
#   CAMPAIGN_AT=phase         every fault at this phase of the sender (push
#                             dirty keepup stopcopy handoff postcopy) + the
#                             drawn delay (post-copy: never --no-postcopy)
#   CAMPAIGN_KNOWN="A B"      violations reported as known, not failing
#                             the campaign (the CI default: HANDOFF, the
#                             GO lost at the hand-off, until its fix lands)
# Binaries: XLMIG, XLMIG_VBDSIM, FAULTPROXY, SIM_RECOVER (set by make).
set -u

ALL_FAULTS="none kill stop cut flip stall full"
# The default (CI) campaign: every kind.  One known open problem is
# tolerated (reported, not failing): HANDOFF, a fault exactly at the
# hand-off that loses GO (the sender sent it, the receiver never got it):
# the sender keeps the source guest suspended, the receiver rolled back
# (tests/faults/README.md).  Runs are drawn until CI_BUDGET seconds have
# passed (the last one then ends within its own bound).
CI_FAULTS="none kill stop cut flip stall full"
CI_KNOWN="HANDOFF"
CI_BUDGET=90

N=${CAMPAIGN_N:-12}
SEED=${CAMPAIGN_SEED:-$(date +%s)}
if [ -z "${CAMPAIGN_FAULTS:-}" ] && [ -z "${CAMPAIGN_KNOWN+set}" ]; then
    CAMPAIGN_KNOWN=$CI_KNOWN
    CAMPAIGN_BUDGET_S=${CAMPAIGN_BUDGET_S:-$CI_BUDGET}
fi
FAULTS=${CAMPAIGN_FAULTS:-$CI_FAULTS}
PEER_TIMEOUT=${CAMPAIGN_PEER_TIMEOUT:-10}
RECOVER_TIMEOUT=${CAMPAIGN_RECOVER_TIMEOUT:-30}
STOPCOPY_TIMEOUT=${CAMPAIGN_STOPCOPY_TIMEOUT:-10}
if [ "$PEER_TIMEOUT" -gt "$STOPCOPY_TIMEOUT" ]; then
    DOWNTIME_LIMIT=${CAMPAIGN_DOWNTIME_LIMIT:-$((PEER_TIMEOUT + 10))}
else
    DOWNTIME_LIMIT=${CAMPAIGN_DOWNTIME_LIMIT:-$((STOPCOPY_TIMEOUT + 10))}
fi
BUDGET=${CAMPAIGN_BUDGET_S:-0}
XLMIG=${XLMIG:-$(pwd)/tools/xlmig}
XLMIG_VBDSIM=${XLMIG_VBDSIM:-$(pwd)/tools/xlmig-vbdsim}
FAULTPROXY=${FAULTPROXY:-$(pwd)/tests/integration/faultproxy}
SIM_RECOVER=${SIM_RECOVER:-$(pwd)/tests/faults/sim_recover}
export XLMIG_VBDSIM
[ "$FAULTS" = all ] && FAULTS=$ALL_FAULTS

for b in "$XLMIG" "$XLMIG_VBDSIM" "$FAULTPROXY" "$SIM_RECOVER"; do
    [ -x "$b" ] || { echo "campaign: $b is missing (make check-faults builds it)" >&2; exit 2; }
done
for k in $FAULTS; do
    case " $ALL_FAULTS " in *" $k "*) ;; *) echo "campaign: unknown fault kind '$k' (kinds: $ALL_FAULTS)" >&2; exit 2;; esac
done
if [ "$(id -u)" != 0 ] && [ -n "$(echo " $FAULTS " | grep ' full ')" ]; then
    echo "campaign: not root: the 'full' kind (a small tmpfs target) is left out"
    FAULTS=$(echo " $FAULTS " | sed 's/ full / /; s/^ *//; s/ *$//')
fi
read -r -a KINDS <<<"$FAULTS"
[ ${#KINDS[@]} -gt 0 ] || { echo "campaign: no fault kind left" >&2; exit 2; }

BASE=${CAMPAIGN_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/xlmig-faults.XXXXXX")}
mkdir -p "$BASE"
T0=$(date +%s)

# ---- deterministic randomness: md5 of (run seed, draw number) -----------
RNG_SEED=0 RNG_I=0
rnd() {                         # R = uniform in [0, $1)
    local h
    RNG_I=$((RNG_I + 1))
    h=$(printf '%s:%s' "$RNG_SEED" "$RNG_I" | md5sum)
    R=$(( 0x${h:0:12} % $1 ))
}
pick() {                        # P = one of the arguments
    local a=("$@")
    rnd ${#a[@]}
    P=${a[$R]}
}
run_seed() {                    # the seed of run $1 of this campaign
    local h
    h=$(printf '%s/%s' "$SEED" "$1" | md5sum)
    echo $(( 0x${h:0:8} ))
}

# Milliseconds (bash 5's clock: no process per call, the watch loop is busy).
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
fmt_ms() { echo "$(($1 / 1000)).$(($1 % 1000 / 100))s"; }
wait_for() {                    # wait_for -S|-s FILE (at most 5 s)
    local i=0
    while [ ! "$1" "$2" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
}
# spawn NAME LOG CMD...: runs CMD in the background with its output in LOG;
# its pid in SPAWNED, its exit status later in $RD/NAME.rc (no job-control
# chatter when it gets killed).
spawn() {
    local name=$1 log=$2
    shift 2
    rm -f "$RD/$name.pid" "$RD/$name.rc"
    ( "$@" >"$log" 2>&1 </dev/null &
      echo $! >"$RD/$name.pid"
      wait $!
      echo $? >"$RD/$name.rc" ) 2>/dev/null &
    wait_for -s "$RD/$name.pid"
    SPAWNED=$(cat "$RD/$name.pid")
}
exit_code() {                   # of a spawned process that has ended
    wait_for -s "$RD/$1.rc"
    cat "$RD/$1.rc" 2>/dev/null || echo "?"
}

# ---- process and guest queries --------------------------------------------
alive() {                       # a live (not zombie, not reaped) process
    local s
    [ -n "$1" ] && read -r s 2>/dev/null <"/proc/$1/stat" || return 1
    s=${s##*) }
    s=${s%% *}
    [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}
# Every process whose command line names this run's directory.
run_pids() {
    local f p
    for f in $(grep -laF -- "$RD/" /proc/[0-9]*/cmdline 2>/dev/null); do
        p=${f#/proc/}
        p=${p%/cmdline}
        [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
        alive "$p" && echo "$p"
    done
}
pid_name() {
    local c
    c=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")
    case "$c" in
    *faultproxy*) echo proxy ;;
    *"xlmig-vbdsim serve"*--dest*) echo dst-vbd ;;
    *"xlmig-vbdsim serve"*) echo src-vbd ;;
    *"xlmig recover"*) echo recover ;;
    *"xlmig send"*|*"xlmig "*send*) echo sender ;;
    *"xlmig receive"*|*"xlmig "*receive*) echo receiver/janitor ;;
    *) echo "?(${c:0:40})" ;;
    esac
}
# guest SOCKET: none (no VBD), unknown (no answer in 3 s), error (the VBD
# answers but not with a report), or the guest's state.
guest() {
    local out
    [ -S "$1" ] || { echo none; return; }
    # (exit status 1 with a report: the guest saw an I/O error or bad data)
    out=$(timeout 3 "$XLMIG" sim report "$1" 2>&1)
    case $? in
    124) echo unknown ;;
    *) case $out in
       *"guest: "*) echo "$out" | sed -n 's/^guest: *\([a-z]*\).*/\1/p' | head -n1 ;;
       *"No such file"*|*"Connection refused"*) echo none ;;
       *) echo error; echo "$1: $out" >>"$RD/guest-errors.log" ;;
       esac ;;
    esac
}
gap_ms() {                      # largest write gap the guest saw (ms)
    timeout 3 "$XLMIG" sim report "$1" 2>/dev/null |
        sed -n 's/^largest gap between writes: *\([0-9]*\).*/\1/p'
}
last_phase() {
    grep -o '"phase":"[a-z_-]*"' "$1" 2>/dev/null | tail -n1 | cut -d'"' -f4
}
# Whether the receiver waits in a paused post-copy now (what `xlmig
# jobinfo` would show an admin): its last post-copy event is paused or
# recovering, not resumed nor done.
receiver_paused() {
    case $(grep -o '"phase":"\(postcopy[a-z-]*\|done\)"' "$1" 2>/dev/null | tail -n1) in
    *postcopy-paused*|*postcopy-recovering*) return 0 ;;
    esac
    return 1
}
# The time (ms) the receiver spent in paused post-copy (its JSON events;
# a pause without its end lasts to its last event).
paused_ms() {
    awk '{
        if (!match($0, /"t":[0-9.]+/)) next
        t = substr($0, RSTART + 4, RLENGTH - 4) + 0; last = t
        if ($0 ~ /"phase":"postcopy-paused"/) { if (!p) { p = 1; s = t } }
        else if (p && ($0 ~ /"phase":"postcopy"/ || $0 ~ /"event":"(done|error)"/)) {
            p = 0; sum += t - s }
    } END { if (p) sum += last - s; printf "%d\n", sum * 1000 }' "$1" 2>/dev/null
}
# Blocks the destination gate still holds stale (0 without a gate).
dst_stale() {
    timeout 5 "$XLMIG_VBDSIM" ctl "$1" stats 2>/dev/null |
        awk '/^gate / { print ($2 == 0 ? 0 : $4); found = 1 } END { if (!found) print "?" }'
}
# The number of blocks a log names as existing only on the source (the
# last such statement), or nothing.
named_stale() {
    grep -oiE '[0-9]+ blocks?(\(s\))? [a-z ]*only (on|in) the source' "$1" 2>/dev/null |
        tail -n1 | grep -oE '^[0-9]+'
}

# ---- the campaign's bookkeeping ------------------------------------------
declare -A K_RUNS K_PASS K_VIOL K_SEEDS V_COUNT K_UNFIRED
TOTAL=0 TOTAL_VIOL=0
VIOL=""
KNOWN=${CAMPAIGN_KNOWN:-}
violate() {
    case " $KNOWN " in
    *" $1 "*)
        case " $KVIOL " in *" $1 "*) ;; *) KVIOL="$KVIOL $1" ;; esac
        echo "    known (CAMPAIGN_KNOWN) $1: $2"
        return 0 ;;
    esac
    case " $VIOL " in *" $1 "*) ;; *) VIOL="$VIOL $1" ;; esac
    echo "    VIOLATION $1: $2"
}

# Stops everything of the current run (also after a hang), unmounts.
cleanup_run() {
    local p i
    [ -n "${RD:-}" ] || return 0
    for p in ${STOPPED:-}; do kill -CONT "$p" 2>/dev/null; done
    for s in "$RD"/src.sock "$RD"/dst/*.sock "$RD"/adopt.sock; do
        [ -S "$s" ] && timeout 3 "$XLMIG_VBDSIM" ctl "$s" shutdown >/dev/null 2>&1
    done
    for i in 1 2 3 4 5 6 7 8 9 10; do
        p=$(run_pids)
        [ -z "$p" ] && break
        [ $i -gt 3 ] && kill -9 $p 2>/dev/null
        sleep 0.2
    done
    for p in ${SEND_PID:-} ${RECV_PID:-} ${SRC_PID:-} ${PROXY_PID:-} ${REC_PID:-}; do
        kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null            # the spawning subshells
    if mountpoint -q "$RD/dst" 2>/dev/null; then
        umount "$RD/dst" 2>/dev/null || umount -l "$RD/dst"
    fi
    p=$(run_pids)
    if [ -n "$p" ]; then
        echo "    CAMPAIGN ERROR: could not clean up pids $p" >&2
    fi
}
on_exit() {
    cleanup_run
    # a scratch directory of our own goes unless something is to be read
    # there; a given CAMPAIGN_DIR keeps results.tsv (passing runs' own
    # directories are removed as they pass)
    [ "${CAMPAIGN_KEEP:-0}" = 1 ] || [ "$TOTAL_VIOL" -gt 0 ] ||
        [ -n "${CAMPAIGN_DIR:-}" ] || rm -rf "$BASE"
}
trap on_exit EXIT
trap 'echo "campaign: interrupted" >&2; exit 130' INT TERM

# ---- one run ----------------------------------------------------------------
run_one() {
    local idx=$1
    RNG_SEED=$2 RNG_I=0
    RD=$BASE/run-$idx-$2
    rm -rf "$RD"
    mkdir -p "$RD"
    VIOL="" KVIOL="" STOPPED="" SEND_PID="" RECV_PID="" SRC_PID="" PROXY_PID=""
    REC_PID="" RUN_RECOVERY=""

    # -- draws, always in this order (a replay with one kind matches) --
    pick "${KINDS[@]}"; local kind=$P
    RUN_KIND=$kind
    pick 0 2M 4M 8M 16M 32M; local bw=$P
    local bwb
    case $bw in 0) bwb=$((48 << 20)) ;; *) bwb=$(( ${bw%M} << 20 )) ;; esac
    # Image: at most ~8 s of the link for the whole image.
    local sizes=() s
    for s in 4 8 16 32 64; do [ $((s << 20)) -le $((bwb * 8)) ] && sizes+=("$s"); done
    pick "${sizes[@]}"; local size_m=$P
    pick 64 256 1024; local chunk_k=$P
    rnd 9; local alloc_k=$(( size_m * 1024 * (10 + R * 10) / 100 / chunk_k * chunk_k ))
    [ "$alloc_k" -ge "$chunk_k" ] || alloc_k=$chunk_k
    local alloc_m=$(( (alloc_k + 1023) / 1024 ))
    rnd 101; local text=$R
    pick random random seq hotspot hotspot; local wl=$P
    pick 512K 1M 2M 4M 8M 16M; local wrate=$P
    rnd 61; local readp=$R
    rnd 90; local hotp=$((R + 10))
    rnd 30; local hota=$((R + 1))
    rnd 4; local nopc=$R            # 0: --no-postcopy
    pick 1 2 3 5 30 30; local passes=$P
    pick 0 0 0 0.5 1 2 3; local mem=$P
    pick 4096 4096 4096 16384 65536; local bsz=$P
    pick auto auto never always; local comp=$P
    # fault parameters (all drawn, used as the kind needs)
    pick sender receiver srcvbd; local victim=$P
    pick s2r r2s; local dir=$P
    pick s2r r2s both; local sdir=$P
    rnd 3; local trig=$R            # 0 byte offset, 1 time, 2 phase + delay
    rnd 1000; local frac=$R         # the moment: a fraction of the estimate
    rnd 1000; local r2s_small=$R
    pick push dirty stopcopy stopcopy postcopy postcopy; local anchor=$P
    pick 0 0 50 100 200 400; local delay=$P
    pick 1 2 3 5 8 13 20 30 45; local stop_s=$P
    pick 0 0 2 5 10; local stall_s=$P   # 0: for ever
    rnd 1000; local fullfrac=$R
    pick session direct; local recov_via=$P   # xlmig recover's way back
    if [ -n "${CAMPAIGN_AT:-}" ]; then      # every fault at this phase
        trig=2 anchor=$CAMPAIGN_AT
        [ "$nopc" = 0 ] && [ "$anchor" = postcopy ] && nopc=1
    fi

    # a healthy run's duration (rough), and this run's bound
    local bwe=$bwb memms
    [ "$bw" = 0 ] && bwe=$((100 << 20))
    memms=$(awk -v m="$mem" 'BEGIN { printf "%d", m * 1000 }')
    local est_ms=$(( ((alloc_k << 10) + (size_m << 18)) / (bwe / 1000) + memms + 300 ))
    local extra=0
    [ "$kind" = stop ] && extra=$stop_s
    [ "$kind" = stall ] && extra=$stall_s
    # The bound: twice the healthy estimate + 15 s, the fault's own
    # duration, and what the timeouts allow on the worst legitimate path:
    # a peer found silent (peer timeout), a post-copy pause waited out by
    # a sender whose reconnects fail (recover timeout, plus one attempt
    # that is itself a silent peer), and the receiver's linger or a last
    # recovery after it (peer timeout again).
    local limit=$(( 2 * est_ms / 1000 + 15 + extra + 3 * PEER_TIMEOUT + RECOVER_TIMEOUT ))
    local fault_ms=$(( est_ms * frac / 1000 ))
    local when="at $(fmt_ms "$fault_ms")" fdesc="" pargs=()
    [ "$trig" = 2 ] && when="at $anchor + ${delay}ms"
    case $kind in
    none) fdesc="none" ;;
    kill) fdesc="kill -9 $victim $when" ;;
    stop) fdesc="SIGSTOP $victim $when for ${stop_s}s" ;;
    cut|flip|stall)
        local d=$dir n=0
        [ "$kind" = stall ] && d=$sdir
        case $trig in
        0)
            if [ "$d" = r2s ] && [ "$r2s_small" -lt 700 ]; then
                n=$(( r2s_small * 160 / 700 ))          # HELLO .. REPORT
            elif [ "$d" = r2s ]; then
                n=$(( 160 + (r2s_small - 700) * 13 ))   # PULL_REQs, DONE
            else
                n=$(( ((alloc_k << 10) + (size_m << 19)) / 1000 * frac ))
            fi
            when="at byte $n" ;;
        1) pargs=(--at-ms "$fault_ms") ;;
        2) pargs=(--on-usr1) ;;
        esac
        case $kind in
        cut) pargs+=(--cut-after "$n") ;;
        flip) pargs+=(--flip-at "$n") ;;
        stall) pargs+=(--stall-after "$n")
               [ "$stall_s" != 0 ] && pargs+=(--stall-ms $((stall_s * 1000))) ;;
        esac
        pargs+=(--dir "$d")
        fdesc="$kind $d $when"
        [ "$kind" = stall ] && fdesc="$fdesc for $([ "$stall_s" = 0 ] && echo ever || echo "${stall_s}s")"
        ;;
    full)
        # a target file system between 90% of the allocation (refused at
        # once) and the image (room for everything)
        local lo=$(( (alloc_k << 10) * 9 / 10 )) hi=$(( (size_m << 20) + (1 << 20) ))
        local fs=$(( lo + (hi - lo) / 1000 * fullfrac ))
        fs=$(( (fs + 65535) / 65536 * 64 ))     # KiB, 64K-aligned
        fdesc="target tmpfs of ${fs}K"
        ;;
    esac
    local sargs=(--vbd "sim:$RD/src.sock" --max-passes "$passes"
                 --block-size "$bsz" --compress "$comp")
    # the timeouts (the same every run) and what xlmig recover needs
    local targs=(--peer-timeout "$PEER_TIMEOUT" --recover-timeout "$RECOVER_TIMEOUT"
                 --stopcopy-timeout "$STOPCOPY_TIMEOUT" --session-file "$RD/session")
    [ "$bw" != 0 ] && sargs+=(--bandwidth "$bw")
    [ "$nopc" = 0 ] && sargs+=(--no-postcopy)
    [ "$mem" != 0 ] && sargs+=(--memory-seconds "$mem")
    local wargs=(--workload "$wl" --write-rate "$wrate" --read-pct "$readp")
    [ "$wl" = hotspot ] && wargs+=(--hot-pct "$hotp" --hot-area-pct "$hota")

    case $kind in
    kill|stop) RUN_VARIANT=$victim ;;
    cut|flip) RUN_VARIANT=$dir ;;
    stall) RUN_VARIANT=$sdir-$([ "$stall_s" = 0 ] && echo ever || echo "${stall_s}s") ;;
    *) RUN_VARIANT=- ;;
    esac
    echo "run $idx seed=$RNG_SEED kind=$kind: $fdesc (load $(cut -d' ' -f1 /proc/loadavg))"
    echo "    image ${size_m}M alloc ${alloc_k}K chunk ${chunk_k}K text $text% | guest ${wargs[*]} | send ${sargs[*]:2} | bound ${limit}s"
    echo "    replay: CAMPAIGN_RUN_SEEDS=$RNG_SEED CAMPAIGN_FAULTS=$kind${CAMPAIGN_AT:+ CAMPAIGN_AT=$CAMPAIGN_AT} make check-faults"

    [ "${CAMPAIGN_DRY:-0}" = 1 ] && return
    # -- set up --
    "$XLMIG_VBDSIM" mkimage "$RD/src.img" --size "${size_m}M" \
        --allocated "${alloc_k}K" --chunk "${chunk_k}K" --text-pct "$text" \
        --seed "$((RNG_SEED % 100000 + 1))" >"$RD/mkimage.log" 2>&1 ||
        { echo "    CAMPAIGN ERROR: mkimage failed: $(cat "$RD/mkimage.log")"; VIOL=" SETUP"; return; }
    spawn src-vbd "$RD/src-vbd.log" "$XLMIG_VBDSIM" serve --image "$RD/src.img" \
        --socket "$RD/src.sock" --seed "$RNG_SEED" "${wargs[@]}"
    SRC_PID=$SPAWNED
    wait_for -S "$RD/src.sock"
    mkdir -p "$RD/dst"
    if [ "$kind" = full ]; then
        mount -t tmpfs -o "size=${fs}k" xlmig-faults "$RD/dst" ||
            { echo "    CAMPAIGN ERROR: cannot mount a tmpfs"; VIOL=" SETUP"; return; }
    fi
    spawn receiver "$RD/receiver.log" "$XLMIG" receive --json \
        --target-dir "$RD/dst" --port-file "$RD/port" --accept-timeout 30 \
        --peer-timeout "$PEER_TIMEOUT" --recover-timeout "$RECOVER_TIMEOUT" \
        tcp-listen:127.0.0.1:0
    RECV_PID=$SPAWNED
    wait_for -s "$RD/port"
    spawn proxy "$RD/proxy.log" "$FAULTPROXY" --to "$(cat "$RD/port" 2>/dev/null)" \
        --port-file "$RD/pport" "${pargs[@]}"
    PROXY_PID=$SPAWNED
    wait_for -s "$RD/pport"
    if [ ! -S "$RD/src.sock" ] || [ ! -s "$RD/port" ] || [ ! -s "$RD/pport" ]; then
        echo "    CAMPAIGN ERROR: setup failed"; VIOL=" SETUP"; return
    fi
    sleep 0.3                   # the guest has written something

    # -- the migration, the fault, the watch --
    local start; start=$(now_ms)
    spawn sender "$RD/sender.log" "$XLMIG" send --json "${sargs[@]}" "${targs[@]}" \
        "tcp:127.0.0.1:$(cat "$RD/pport")"
    SEND_PID=$SPAWNED
    local fired="" fphase="" stop_until=0 hang="" double="" t last_sample=0
    local send_done="" recv_done="" ss ds at=-1
    [ "$trig" != 2 ] && at=$fault_ms
    case $kind in none|full) at=-1 ;; esac
    [ "$kind" != none ] && [ "$kind" != full ] && [ "$trig" = 0 ] &&
        [ "$kind" != kill ] && [ "$kind" != stop ] && at=-1     # the proxy counts
    while :; do
        t=${EPOCHREALTIME/[.,]/}
        t=$(( t / 1000 - start ))
        alive "$SEND_PID" || send_done=1
        alive "$RECV_PID" || recv_done=1
        # the admin: the sender is gone (killed, or gave up), the receiver
        # waits in a paused post-copy, the session was saved: xlmig recover
        # (the session's way back, through the proxy, or the receiver's
        # own port)
        if [ -n "$send_done" ] && [ -z "$recv_done" ] && [ -z "$REC_PID" ] &&
           [ "$STOPPED" != "$RECV_PID" ] && [ -s "$RD/session" ] &&
           receiver_paused "$RD/receiver.log"; then
            local rdest=()
            [ "$recov_via" = direct ] && rdest=("tcp:127.0.0.1:$(cat "$RD/port")")
            spawn recover "$RD/recover-cmd.log" "$XLMIG" recover --json \
                --peer-timeout "$PEER_TIMEOUT" --recover-timeout "$RECOVER_TIMEOUT" \
                --session "$RD/session" "${rdest[@]}"
            REC_PID=$SPAWNED
            RUN_RECOVERY="recover-$recov_via"
            echo "    $(fmt_ms "$t"): sender gone, receiver paused: xlmig recover ($recov_via)"
        fi
        # a phase-anchored fault: its moment is known once the phase shows
        if [ "$trig" = 2 ] && [ "$at" = -1 ] && [ -z "$fired" ] &&
           [ "$kind" != none ] && [ "$kind" != full ] &&
           grep -q "\"phase\":\"$anchor\"" "$RD/sender.log" 2>/dev/null; then
            at=$((t + delay))
        fi
        if [ -z "$fired" ] && [ "$at" -ge 0 ] && [ "$t" -ge "$at" ]; then
            fphase=$(last_phase "$RD/sender.log")
            case $kind in
            kill|stop)
                local vp
                case $victim in sender) vp=$SEND_PID ;; receiver) vp=$RECV_PID ;; srcvbd) vp=$SRC_PID ;; esac
                if ! alive "$vp"; then
                    fired="never (the $victim had ended)"
                elif [ "$kind" = kill ]; then
                    kill -9 "$vp"
                    fired=$(fmt_ms "$t")
                else
                    kill -STOP "$vp"
                    STOPPED=$vp
                    stop_until=$((t + stop_s * 1000))
                    fired=$(fmt_ms "$t")
                fi ;;
            *)
                [ "$trig" = 2 ] && kill -USR1 "$PROXY_PID" 2>/dev/null
                at=-1 ;;            # the proxy says when it fired
            esac
        fi
        if [ -n "$STOPPED" ] && [ "$t" -ge "$stop_until" ]; then
            kill -CONT "$STOPPED" 2>/dev/null
            STOPPED=""
        fi
        if [ -z "$fired" ] && [ -s "$RD/proxy.log" ] &&
           grep -q FIRED "$RD/proxy.log" 2>/dev/null; then
            fphase=$(last_phase "$RD/sender.log")
            fired=$(fmt_ms "$(sed -n 's/.*FIRED.* t=\([0-9]*\).*/\1/p' "$RD/proxy.log" | head -n1)")
        fi
        [ -n "$send_done" ] && [ -n "$recv_done" ] && [ -z "$STOPPED" ] &&
            { [ -z "$REC_PID" ] || ! alive "$REC_PID"; } && break
        if [ "$t" -ge $((limit * 1000)) ]; then
            hang=1
            break
        fi
        # never two running copies (sampled twice a second; a stopped VBD
        # would not answer).  The queries are not simultaneous: destination,
        # source, destination again; a running destination stays running,
        # so three "running" answers mean both ran at the source's moment.
        if [ $((t - last_sample)) -ge 500 ] && [ "$STOPPED" != "$SRC_PID" ]; then
            last_sample=$t
            if [ "$(guest "$RD/dst/xvda.sock")" = running ] &&
               [ "$(guest "$RD/src.sock")" = running ] &&
               [ "$(guest "$RD/dst/xvda.sock")" = running ]; then
                double="${double:-$(fmt_ms "$t")}"
            fi
        fi
        sleep 0.05
    done
    [ -n "$fired" ] || fired="never"
    case $kind in none|full) fired="-" ;; esac
    [ -n "$STOPPED" ] && { kill -CONT "$STOPPED" 2>/dev/null; STOPPED=""; }

    local src_dead=""               # the guest died with its "host"
    [ "$kind" = kill ] && [ "$victim" = srcvbd ] && [ "${fired#never}" = "$fired" ] && src_dead=1
    RUN_FIRED=yes
    [ "${fired#never}" != "$fired" ] && RUN_FIRED=no
    RUN_PHASE=${fphase:--}
    [ "$RUN_FIRED" = no ] && RUN_PHASE=unfired

    if [ -n "$hang" ]; then
        RUN_OUTCOME=hang
        ss=$(guest "$RD/src.sock"); ds=$(guest "$RD/dst/xvda.sock")
        local who=""
        alive "$SEND_PID" && who="$who sender($(last_phase "$RD/sender.log"))"
        alive "$RECV_PID" && who="$who receiver($(last_phase "$RD/receiver.log"))"
        alive "$REC_PID" && who="$who recover($(last_phase "$RD/recover-cmd.log"))"
        echo "    fault fired: $fired (phase ${fphase:--}) | at the bound: src guest $ss, dst guest $ds"
        violate HANG "still running after ${limit}s:$who"
        if [ "$ss" != running ] && [ "$ds" != running ] && [ -z "$src_dead" ]; then
            nowhere "at the bound the guest runs nowhere (source $ss, destination $ds)"
        fi
        [ "$ss" = running ] && [ "$ds" = running ] && violate DOUBLE "both copies run"
        return
    fi
    local src_rc dst_rc rec_rc=-
    src_rc=$(exit_code sender) dst_rc=$(exit_code receiver)
    [ -n "$REC_PID" ] && rec_rc=$(exit_code recover)
    t=$(( $(now_ms) - start ))

    # the janitor and the source VBD's own rollback get a moment
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
        ss=$(guest "$RD/src.sock"); ds=$(guest "$RD/dst/xvda.sock")
        if [ "$ss" = running ] || [ "$ds" = running ]; then
            [ $i -ge 5 ] && break
        fi
        sleep 0.2
    done
    RUN_EXIT=$src_rc/$dst_rc
    [ -n "$REC_PID" ] && RUN_EXIT=$RUN_EXIT/$rec_rc
    echo "    fault fired: $fired (phase ${fphase:--}) | exit: send $src_rc receive $dst_rc${REC_PID:+ recover $rec_rc} after $((t / 1000)).$((t % 1000 / 100))s | src guest $ss, dst guest $ds"
    [ -n "$double" ] && violate DOUBLE "both copies were running at ${double}"

    local legit=""                  # the VBD that may outlive the engines
    if [ "$ss" = running ] && [ "$ds" = running ]; then
        RUN_OUTCOME=double
        violate DOUBLE "both copies run at the end"
    elif [ "$ds" = running ]; then
        legit=dst-vbd
        check_after_go "$src_rc" "$dst_rc" "$rec_rc"
    elif [ "$ss" = running ]; then
        legit=src-vbd
        RUN_OUTCOME=rollback
        [ "$src_rc" = 0 ] && [ "$dst_rc" = 0 ] && RUN_OUTCOME=source?
        check_rollback "$src_rc" "$dst_rc" "$RD/src.sock"
    elif [ -n "$src_dead" ]; then
        # killed with its host: the source image must still be sound
        RUN_OUTCOME=source-died
        check_rollback "$src_rc" "$dst_rc" ""
    else
        RUN_OUTCOME=nowhere
        nowhere "the guest runs nowhere (source $ss, destination $ds)"
        [ -n "$RUN_HANDOFF" ] && RUN_OUTCOME=handoff
    fi
    # guest-visible downtime
    local g=""
    [ "$legit" = dst-vbd ] && g=${DST_GAP:-}
    [ "$legit" = src-vbd ] && g=${SRC_GAP:-}
    local glimit=$((DOWNTIME_LIMIT * 1000))
    [ "$kind" = stop ] && [ "$victim" = srcvbd ] && glimit=$((glimit + stop_s * 1000))
    if [ "$legit" = dst-vbd ]; then
        # a paused post-copy holds the guest's stale accesses by design:
        # its pause, and an engine stopped after GO, are added
        glimit=$((glimit + ${DST_PAUSED:-0}))
        [ "$kind" = stop ] && [ "$victim" != srcvbd ] && [ "$RUN_FIRED" = yes ] &&
            case $fphase in handoff|postcopy*|done) true ;; *) false ;; esac &&
            glimit=$((glimit + stop_s * 1000))
    fi
    RUN_GAP=${g:--}
    if [ -n "$g" ] && [ "$g" -gt "$glimit" ]; then
        violate DOWNTIME "the guest could not write for ${g} ms (limit ${glimit} ms)"
    fi
    # leftovers: anything of this run but the proxy and the legit VBD
    local p left=""
    for p in $(run_pids); do
        local nm; nm=$(pid_name "$p")
        [ "$nm" = proxy ] && continue
        [ "$nm" = "$legit" ] && continue
        [ "$nm" = src-vbd ] && [ -n "$src_dead" ] && continue   # the adopting one
        # the suspended source copy of a lost GO is part of HANDOFF
        [ "$nm" = src-vbd ] && [ -n "$RUN_HANDOFF" ] && continue
        left="$left $nm:$p"
    done
    [ -n "$left" ] && violate LEFTOVER "still running:$left"
    return 0
}

# The guest runs nowhere.  The known open problem of a GO lost at the
# hand-off is HANDOFF: the source guest's suspend was committed to the
# hand-off (it is not resumed behind the sender's back any more) and the
# receiver, waiting for GO, never got it and rolled back -- because the
# link broke after the sender sent GO (the sender says the outcome is
# unknown) or because the sender died between the commit and GO.
# Anything else is NOWHERE.
nowhere() {
    if grep -q "hand-off's outcome is unknown" "$RD/sender.log" 2>/dev/null ||
       { [ "$(guest "$RD/src.sock")" = suspended ] &&
         grep -q '"event":"error".*during the hand-off' "$RD/receiver.log" 2>/dev/null; }; then
        RUN_HANDOFF=1
        violate HANDOFF "$1: GO lost at the hand-off (source guest suspended for the hand-off, the receiver rolled back)"
    else
        violate NOWHERE "$1"
    fi
}

# The destination runs the guest.  Post-copy completed or was recovered
# (nothing stale), or -- only where recovery is impossible by construction
# -- the surviving sides name the blocks that exist only on the source and
# the source image holds them.
check_after_go() {
    local src_rc=$1 dst_rc=$2 rec_rc=$3 out stale killed="" v gap n why=""
    gap=$(gap_ms "$RD/dst/xvda.sock")
    [ "$kind" = kill ] && killed=$victim
    stale=$(dst_stale "$RD/dst/xvda.sock")
    DST_PAUSED=$(paused_ms "$RD/receiver.log")
    [ "${DST_PAUSED:-0}" -gt 0 ] && RUN_RECOVERY=${RUN_RECOVERY:-reconnect}
    if [ "$stale" = 0 ]; then
        # complete: the write gap counts (with the pause), verdicts true
        DST_GAP=$gap
        RUN_OUTCOME=migrated
        [ "${DST_PAUSED:-0}" -gt 0 ] && RUN_OUTCOME=recovered
        [ "${DST_PAUSED:-0}" -gt 0 ] &&
            echo "    post-copy paused $(fmt_ms "$DST_PAUSED") and recovered (${RUN_RECOVERY})"
        [ "$killed" != receiver ] && [ "$dst_rc" != 0 ] &&
            violate VERDICT "receiver exit $dst_rc with nothing stale"
        [ "$rec_rc" != - ] && [ "$rec_rc" != 0 ] &&
            violate VERDICT "xlmig recover exit $rec_rc with nothing stale"
        if [ "$killed" != sender ] && [ "$src_rc" != 0 ]; then
            # a sender that waited out its recover timeout says so and
            # keeps the image (it cannot know); anything else is false
            if [ "$src_rc" = 3 ] && grep -q "could not be resumed within" "$RD/sender.log"; then
                echo "    note: the sender gave up after its recover timeout (exit 3) before the end"
            else
                violate VERDICT "sender exit $src_rc, but the guest runs on the destination with nothing stale"
            fi
        fi
    else
        echo "    after GO: exit send $src_rc receive $dst_rc${REC_PID:+ recover $rec_rc}, stale at the end: $stale"
        # why recovery could not happen (by construction), if it could not
        if [ "$killed" = receiver ]; then
            why="the receiver was killed (its post-copy state died with it)"
        elif [ "$kind" = full ]; then
            why="the target is full"
        elif [ "$killed" = sender ] && [ ! -s "$RD/session" ] && [ -z "$REC_PID" ]; then
            why="the sender died before it saved its session"
        elif [ "$kind" = stop ] && [ $((stop_s + 5)) -ge $((PEER_TIMEOUT + RECOVER_TIMEOUT)) ]; then
            why="a peer stopped ${stop_s}s, past the recover timeout"
        fi
        RUN_OUTCOME=paused-account
        if [ -n "$why" ]; then
            echo "    not recoverable: $why"
        else
            RUN_OUTCOME=unrecovered
            violate UNRECOVERED "post-copy not recovered: $stale blocks still stale${REC_PID:+ (xlmig recover exit $rec_rc)}"
        fi
        [ "$killed" != sender ] && [ "$src_rc" = 0 ] &&
            violate VERDICT "sender exit 0 with $stale blocks only on the source"
        [ "$killed" != receiver ] && [ "$dst_rc" = 0 ] &&
            violate VERDICT "receiver exit 0 with $stale blocks only on the source"
        [ "$rec_rc" = 0 ] && violate VERDICT "xlmig recover exit 0 with $stale blocks only on the source"
        # every surviving side names them (at least as many as are stale)
        for v in sender receiver recover; do
            [ "$killed" = $v ] && continue
            [ $v = recover ] && [ -z "$REC_PID" ] && continue
            local lg=$RD/$v.log
            [ $v = recover ] && lg=$RD/recover-cmd.log
            n=$(named_stale "$lg")
            if [ -z "$n" ]; then
                violate ACCOUNT "the $v does not say how many blocks exist only on the source"
            elif [ "$n" -lt "$stale" ]; then
                violate ACCOUNT "the $v names $n blocks only on the source, $stale are stale"
            fi
        done
        # the source image holds them: install them by hand
        out=$("$SIM_RECOVER" "$RD/dst/xvda.sock" "$RD/src.img" 2>&1)
        local rrc=$?
        echo "$out" >"$RD/recover.log"
        if [ "$rrc" = 3 ] && [ "$kind" = full ]; then
            echo "    note: the full target cannot take the stale blocks either: $(echo "$out" | tail -n1)"
            return
        elif [ "$rrc" != 0 ]; then
            violate RECOVER "the stale blocks could not be installed from the source image: $(echo "$out" | tail -n1)"
            return
        fi
    fi
    if ! timeout 60 "$XLMIG" sim verify "$RD/dst/xvda.sock" >"$RD/verify-dst.log" 2>&1; then
        local why; why=$(grep -E 'detail|image check|wrong' "$RD/verify-dst.log" | head -n2 | tr '\n' ' ')
        if [ "$kind" = full ] && grep -q 'I/O errors: [1-9]' "$RD/verify-dst.log" &&
           grep -q ', wrong: 0,' "$RD/verify-dst.log" && grep -q 'image check: [0-9]* blocks, 0 wrong' "$RD/verify-dst.log"; then
            echo "    note: the full target gave the destination guest I/O errors, no wrong data"
        else
            violate DST-VERIFY "destination guest check failed ($why)"
        fi
    fi
    # the source must not run it any more
    [ "$(guest "$RD/src.sock")" = running ] && violate DOUBLE "the source runs it too"
    return 0
}

# Before GO: the guest runs on the source (sock), or died with its host.
check_rollback() {
    local src_rc=$1 dst_rc=$2 sock=$3
    if [ "$src_rc" = 0 ] || [ "$dst_rc" = 0 ]; then
        violate VERDICT "exit send $src_rc receive $dst_rc, but the guest is not on the destination"
    fi
    # destination clean: no image, no socket, no VBD
    local left
    left=$(cd "$RD/dst" 2>/dev/null && ls -- *.img *.sock 2>/dev/null | tr '\n' ' ')
    [ -n "$left" ] && violate DST-DIRTY "left at the destination: $left"
    for p in $(run_pids); do
        [ "$(pid_name "$p")" = dst-vbd ] && violate DST-DIRTY "a destination VBD still runs (pid $p, guest $(guest "$RD/dst/xvda.sock"))"
    done
    if [ -z "$sock" ]; then
        # the source VBD was killed: a new one adopts the image and checks it
        spawn adopt "$RD/adopt.log" "$XLMIG_VBDSIM" serve --image "$RD/src.img" \
            --socket "$RD/adopt.sock" --write-rate 1
        wait_for -S "$RD/adopt.sock"
        sock=$RD/adopt.sock
    else
        SRC_GAP=$(gap_ms "$sock")
    fi
    if ! timeout 60 "$XLMIG" sim verify "$sock" >"$RD/verify-src.log" 2>&1; then
        violate SRC-VERIFY "source guest check failed: $(grep -E 'detail|image check' "$RD/verify-src.log" | head -n2 | tr '\n' ' ')"
    fi
}

# ---- main ------------------------------------------------------------------
if [ -n "${CAMPAIGN_RUN_SEEDS:-}" ]; then
    read -r -a SEEDS <<<"$CAMPAIGN_RUN_SEEDS"
else
    SEEDS=()
    for i in $(seq 1 "$N"); do SEEDS+=("$(run_seed "$i")"); done
fi
echo "xlmig fault campaign: seed $SEED, ${#SEEDS[@]} runs, kinds: ${KINDS[*]}${KNOWN:+, known: $KNOWN}"
echo "  timeouts: peer ${PEER_TIMEOUT}s, recover ${RECOVER_TIMEOUT}s, stop-copy ${STOPCOPY_TIMEOUT}s; downtime limit ${DOWNTIME_LIMIT}s; scratch $BASE, load: $(cut -d' ' -f1-3 /proc/loadavg)"
idx=0
for rs in "${SEEDS[@]}"; do
    idx=$((idx + 1))
    if [ "$BUDGET" -gt 0 ] && [ $(( $(date +%s) - T0 )) -ge "$BUDGET" ]; then
        echo "budget of ${BUDGET}s used: stopping after $((idx - 1)) runs"
        break
    fi
    DST_GAP="" SRC_GAP="" RUN_KIND="" RUN_FIRED="" RUN_VARIANT="" RUN_PHASE=""
    RUN_GAP="" RUN_EXIT="" DST_PAUSED="" RUN_HANDOFF="" RUN_OUTCOME=""
    run_t0=$(date +%s)
    run_one "$idx" "$rs"
    kind=$RUN_KIND
    cleanup_run
    TOTAL=$((TOTAL + 1))
    K_RUNS[$kind]=$(( ${K_RUNS[$kind]:-0} + 1 ))
    [ "$RUN_FIRED" = no ] && K_UNFIRED[$kind]=$(( ${K_UNFIRED[$kind]:-0} + 1 ))
    for v in $KVIOL; do
        V_COUNT["$kind/$v~"]=$(( ${V_COUNT["$kind/$v~"]:-0} + 1 ))
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rs" "$kind" "${RUN_VARIANT:--}" \
        "${RUN_PHASE:--}" "$(echo $VIOL | tr ' ' ,)" "$(echo $KVIOL | tr ' ' ,)" \
        "${RUN_GAP:--}" "${RUN_EXIT:--}" "${RUN_OUTCOME:--}" "${RUN_RECOVERY:--}" \
        "$(( $(date +%s) - run_t0 ))" >>"$BASE/results.tsv"
    if [ -z "$VIOL" ]; then
        K_PASS[$kind]=$(( ${K_PASS[$kind]:-0} + 1 ))
        echo "    ok"
        [ "${CAMPAIGN_KEEP:-0}" = 1 ] || rm -rf "$RD"
    else
        TOTAL_VIOL=$((TOTAL_VIOL + 1))
        K_VIOL[$kind]=$(( ${K_VIOL[$kind]:-0} + 1 ))
        K_SEEDS[$kind]="${K_SEEDS[$kind]:-} $rs"
        for v in $VIOL; do
            V_COUNT["$kind/$v"]=$(( ${V_COUNT["$kind/$v"]:-0} + 1 ))
        done
        rm -f "$RD"/*.img          # keep the logs, not the images
        echo "    logs: $RD"
    fi
    RD=""
done

echo
echo "==== summary: $TOTAL runs in $(( $(date +%s) - T0 ))s, $TOTAL_VIOL with violations (seed $SEED)"
printf '%-6s %5s %8s %5s %5s  %s\n' kind runs unfired pass viol "violations (runs)"
for k in "${KINDS[@]}"; do
    [ -n "${K_RUNS[$k]:-}" ] || continue
    vs=""
    for key in "${!V_COUNT[@]}"; do
        [ "${key%%/*}" = "$k" ] && vs="$vs ${key#*/}:${V_COUNT[$key]}"
    done
    printf '%-6s %5d %8d %5d %5d  %s\n' "$k" "${K_RUNS[$k]}" "${K_UNFIRED[$k]:-0}" "${K_PASS[$k]:-0}" \
        "${K_VIOL[$k]:-0}" "$(echo "$vs" | tr ' ' '\n' | sort | tr '\n' ' ')"
done
[ -n "$KNOWN" ] && echo "(NAME~: a violation listed in CAMPAIGN_KNOWN, not failing the campaign)"
echo
echo "by kind, variant and the sender's phase when the fault fired:"
[ -s "$BASE/results.tsv" ] && awk -F'\t' '
    { key = $2 " " $3 " " $4; runs[key]++
      if ($5 != "") { n = split($5, v, ","); for (i = 1; i <= n; i++) viol[key] = viol[key] " " v[i] }
      if ($6 != "") { n = split($6, v, ","); for (i = 1; i <= n; i++) viol[key] = viol[key] " " v[i] "~" }
      if ($5 != "") bad[key]++ }
    END { for (k in runs) {
            split(viol[k], v, " "); delete c; out = ""
            for (i in v) c[v[i]]++
            for (x in c) out = out " " x ":" c[x]
            printf "  %-34s %4d runs %4d violating %s\n", k, runs[k], bad[k], out } }' \
    "$BASE/results.tsv" | sort
echo "where the guest ended, by kind (migrated: no pause; recovered: post-copy paused and resumed;"
echo "paused-account: not recoverable by construction, blocks named and installed from the source image):"
[ -s "$BASE/results.tsv" ] && awk -F'\t' '
    { n[$2 " " $9]++; k[$2] = 1 }
    END { for (x in k) { out = ""
            for (y in n) { split(y, a, " "); if (a[1] == x) out = out " " a[2] ":" n[y] }
            printf "  %-6s%s\n", x, out } }' "$BASE/results.tsv" | sort
echo "post-copy recoveries: $(awk -F'\t' '$10 != "-" && $10 != "" { c[$10]++ } END { for (x in c) printf "%s:%d ", x, c[x] }' "$BASE/results.tsv" 2>/dev/null)"
echo "longest guest write gaps (the copy that runs at the end; ms):"
[ -s "$BASE/results.tsv" ] && awk -F'\t' '$7 ~ /^[0-9]+$/ {
        printf "  %8d ms  %s %s %s exit %s seed %s\n", $7, $2, $3, $4, $8, $1 }' \
    "$BASE/results.tsv" | sort -rn | head -n 5
for k in "${KINDS[@]}"; do
    [ -n "${K_SEEDS[$k]:-}" ] && echo "  $k violating seeds:${K_SEEDS[$k]}"
done
if [ "$TOTAL_VIOL" -gt 0 ] || [ "${CAMPAIGN_KEEP:-0}" = 1 ]; then
    echo "results: $BASE/results.tsv (seed kind variant phase violations known gap_ms exits outcome recovery seconds)"
fi
[ "$TOTAL_VIOL" = 0 ]
