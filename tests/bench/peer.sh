#!/bin/sh
# xlmig against a peer: QEMU's block mirror, driven as libvirt's
# `virsh migrate --copy-storage-all` drives it, interleaved run by run with
# xlmig on the same image, workload and link; one table with both and
# their ratios.  Not part of `make check` (minutes to an hour, root).
#
# usage: tests/bench/peer.sh [BUILDDIR]          (default: build)
#   BENCH_REPS=3           repetitions; each rep runs every scenario and tool
#   BENCH_SCENARIOS="1g:idle 1g:5M 10g:idle 10g:5M 100m:20M:256M lo:2G lo:64G lo:1T lo:compress"
#       LINK:LOAD[:ALLOC]  veth between two network namespaces shaped with tc
#                          tbf to LINK (100m, 1g, 10g...), the guest writing
#                          LOAD (idle, or bytes/s such as 5M = 5 MiB/s) of
#                          random 4 KiB blocks; a 2 GiB image with ALLOC
#                          (default 1G) allocated; xlmig and the peers
#       lo:SIZE            loopback, idle, a SIZE sparse image with 512 MiB
#                          allocated; xlmig only (downtime and sender RSS
#                          against the disk size)
#       lo:compress        loopback, idle, 2 GiB / 1 GiB: xlmig with
#                          --compress auto against --compress never
#   BENCH_PEERS="qemu-bg qemu-wb"   the peer variants (blockdev-mirror
#                          copy-mode background / write-blocking)
#   BENCH_XLMIG="xlmig"    the xlmig variants on veth: xlmig (defaults),
#                          xlmig-cN (--connections N), before (the build
#                          in BENCH_BEFORE, e.g. the previous release, with
#                          its defaults): interleaved like the peers; the
#                          first one is the reference of the ratios
#   BENCH_NS=xlmig-pbench BENCH_NET=10.78.0   the namespaces' name prefix
#                          and /24 (two benches on one machine)
#   BENCH_PIN=split|none   split (default): the source host (guest, its
#                          VBD or the source qemu-storage-daemon, xlmig
#                          send) on CPU 0, the destination (xlmig receive or
#                          the destination daemon) on CPU 1; none: no pinning
#   BENCH_PEER_TIMEOUT_X=6 the peer's mirror gets max(120 s, X x bound) to
#                          reach READY; else the cell says DNF (never READY)
#   BENCH_PEER_SRC_CACHE=writeback|flush|none   the source image's cache in
#                          the source daemon.  writeback (default): buffered
#                          and flushes ignored (cache.no-flush=on), as the
#                          simulated VBD xlmig migrates (buffered, never
#                          synced).  flush: buffered, flushes honoured: when
#                          the job ends QEMU closes its mirror filter node,
#                          which fdatasyncs the source and puts the guest's
#                          dirty page cache into the downtime (0.7 s in one
#                          traced 5 MiB/s run here).  none: O_DIRECT, libvirt's
#                          cache=none (the guest's latency then includes the
#                          disk).  The destination always honours flushes
#                          (xlmig's receiver fdatasyncs too).
#   BENCH_SEND_ARGS=...    more `xlmig send` options; BENCH_KEEP=1 keeps $W
#   BENCH_BASELINE=0       skip the workloads-alone latency baselines (the
#                          simulated guest's is measured again each rep when
#                          a scenario writes; the table's epilogue divides
#                          each row's p99 by their median)
# needs: root (ip netns, tc), qemu-storage-daemon (qemu-system-common),
#   libnbd-dev, libyajl-dev, zlib1g-dev and cc to build the peer helper.
#
# The peer (tests/bench/peer/, built here into the work directory):
#   source: qemu-storage-daemon with the source image (raw, a copy of the
#     same mkimage output xlmig migrates) as node `src`, exported over NBD
#     on a unix socket; the guest (xlmig-peer) writes tagged 4 KiB blocks
#     through that export, so its writes pass the mirror's filter and dirty
#     bitmap, like a VM's disk.
#   destination: qemu-storage-daemon exporting an empty sparse image of the
#     same size over NBD on the destination namespace's address.
#   xlmig-peer run, as libvirt: blockdev-add of an NBD client node to the
#     destination export, blockdev-mirror sync=full (copy-mode background
#     or write-blocking), wait for BLOCK_JOB_READY, pause the guest, then
#     block-job-cancel, which after READY completes with a consistent,
#     flushed target; then xlmig-peer verify checks every block of the
#     destination image against the guest's model and the original image.
#
# Columns (per scenario and tool, over the reps that finished):
#   total s   min/median/max.  xlmig: its report's total_s.  peer: from
#             blockdev-add to the job's end after the cancel.
#   /bound    median total / (allocated bytes / line rate) (veth only)
#   down ms   disk downtime min/median/max.  xlmig: disk_downtime_ms of its
#             report.  peer: from the guest's pause (it stops issuing
#             writes) until the cancelled job has ended (its writes in
#             flight drained, the last dirty blocks copied, the target
#             flushed).
#   wire/al   bytes on the wire / allocated bytes, median.  veth: rx + tx
#             bytes counted on the source end of the veth
#             (/sys/class/net/*/statistics, Ethernet/IP/TCP headers and ACKs
#             included), the same counter for both tools.  loopback
#             (xlmig only): the engine's wire_ratio, marked `e`.
#   guest     the guest's write rate MiB/s and p99 write latency ms as it
#             sees them, medians.  Both guests write random 4 KiB blocks,
#             paced to LOAD, at most 4 in flight, never two on one block.
#             xlmig: the simulated guest's report on the source (its whole
#             time there, 2 s before the migration included); peer:
#             xlmig-peer's guest between blockdev-add and the pause.
#   rss       peak RSS MiB, max: xlmig send; peer: the source daemon.
#   ref/this  time and downtime of the scenario's first tool (xlmig,
#             or xlmig --compress auto) over this row's, medians: < 1 means
#             xlmig is faster / pauses shorter.
#   runs      finished/total and the verdicts; a FAIL (wrong data, an
#             error) makes the script exit 1.  DNF: the peer never got
#             READY in its time (it is cancelled; nothing to verify); the
#             other cells are over the finished runs only, and a row with
#             no finished run shows the attempts' wire bytes (in
#             parentheses) and guest figures until the timeout.
#
# Diagnosis: BENCH_KEEP=1 keeps the work directory (results, logs);
# `xlmig-peer run --trace-qmp` prints every QMP message with its time.
set -eu
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "${1:-build}" && pwd)
XLMIG=$B/tools/xlmig
VBDSIM=$B/tools/xlmig-vbdsim
SIMBIN=$VBDSIM
REPS=${BENCH_REPS:-3}
SCENARIOS=${BENCH_SCENARIOS:-"1g:idle 1g:5M 10g:idle 10g:5M 100m:20M:256M lo:2G lo:64G lo:1T lo:compress"}
PEERS=${BENCH_PEERS:-"qemu-bg qemu-wb"}
TIMEOUT_X=${BENCH_PEER_TIMEOUT_X:-6}
QSD=${QSD:-qemu-storage-daemon}
NS=${BENCH_NS:-xlmig-pbench}
NSA=$NS-a NSB=$NS-b VA=${NS%bench}a VB=${NS%bench}b
IPA=${BENCH_NET:-10.78.0}.1 IPB=${BENCH_NET:-10.78.0}.2 NBD_PORT=10809
XLMIG_TOOLS=${BENCH_XLMIG:-xlmig}
export XLMIG_VBDSIM=$VBDSIM

[ "$(id -u)" = 0 ] || { echo "peer.sh: needs root (ip netns, tc)" >&2; exit 2; }
BEFORE=${BENCH_BEFORE:+$(cd "$BENCH_BEFORE" && pwd)}
case " $XLMIG_TOOLS " in
    *" before "*) [ -x "$BEFORE/tools/xlmig" ] ||
        { echo "peer.sh: tool 'before' needs BENCH_BEFORE=BUILDDIR" >&2; exit 2; } ;;
esac
[ -x "$XLMIG" ] && [ -x "$VBDSIM" ] || { echo "peer.sh: no xlmig build in $B" >&2; exit 2; }
command -v "$QSD" >/dev/null || { echo "peer.sh: $QSD not found (apt install qemu-system-common)" >&2; exit 2; }

if [ "${BENCH_PIN:-split}" = split ]; then
    SRC_CPU="taskset -c 0" DST_CPU="taskset -c 1"
elif [ "${BENCH_PIN}" = none ]; then
    SRC_CPU="" DST_CPU=""
else
    echo "peer.sh: BENCH_PIN is split or none" >&2; exit 2
fi

case ${BENCH_PEER_SRC_CACHE:-writeback} in
    writeback) SRC_CACHE=cache.direct=off,cache.no-flush=on ;;
    flush) SRC_CACHE=cache.direct=off ;;
    none) SRC_CACHE=cache.direct=on ;;
    *) echo "peer.sh: BENCH_PEER_SRC_CACHE is writeback, flush or none" >&2; exit 2 ;;
esac

W=$(mktemp -d /var/tmp/xlmig-peer.XXXXXX)
RES=$W/results
: >"$RES"

cleanup() {
    stop_source
    for p in "$W"/*.pid; do     # only processes this script started and did not reap yet
        [ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
    for s in "$W"/dst/*.sock; do
        [ -S "$s" ] && "$VBDSIM" ctl "$s" shutdown >/dev/null 2>&1 || true
    done
    bench_netns_del $NSA $NSB
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the peer helper ---------------------------------------------------
PEER=$W/xlmig-peer
cc -std=c11 -O2 -Wall -Wextra -Werror -o "$PEER" "$SRC"/tests/bench/peer/*.c \
    -lnbd -lyajl -lz -lpthread ||
    { echo "peer.sh: cannot build the peer helper (libnbd-dev, libyajl-dev, zlib1g-dev?)" >&2; exit 2; }

# ---- network -----------------------------------------------------------
setup_veth() { bench_veth $NSA $NSB $VA $VB ${BENCH_NET:-10.78.0}; }

link_Bps() { # 100m, 1g, 10g -> bytes/s
    case $1 in
        *g) echo $(( ${1%g} * 125000000 )) ;;
        *m) echo $(( ${1%m} * 125000 )) ;;
        *) echo "peer.sh: bad link '$1' (e.g. 100m, 1g, 10g)" >&2; exit 2 ;;
    esac
}

set_link() { # both directions shaped to the rate; burst ~ 4 ms at 1 Gbit
    bps=$(link_Bps "$1")
    burst=$(( 512 * (bps > 125000000 ? bps / 125000000 : 1) ))
    bench_shape $NSA $VA "$bps"bps "$burst"kb
    bench_shape $NSB $VB "$bps"bps "$burst"kb
}

wire_bytes() { # rx + tx on the source end of the veth
    echo $(( $(ip netns exec $NSA cat /sys/class/net/$VA/statistics/rx_bytes) + \
             $(ip netns exec $NSA cat /sys/class/net/$VA/statistics/tx_bytes) ))
}

bytes() { # 512M, 2G, 1T -> bytes
    case $1 in
        *K) echo $(( ${1%K} << 10 )) ;;
        *M) echo $(( ${1%M} << 20 )) ;;
        *G) echo $(( ${1%G} << 30 )) ;;
        *T) echo $(( ${1%T} << 40 )) ;;
        *) echo "$1" ;;
    esac
}

# ---- images ------------------------------------------------------------
# One mkimage per (size, allocated); every run starts from a sparse copy,
# so both tools migrate the same bytes.  Prints the path, or fails with
# mkimage's reason in $W/mkimage.err.
original() { # original SIZE ALLOC
    o=$W/orig-$1-$2.img
    if [ ! -f "$o" ]; then
        "$VBDSIM" mkimage "$o.tmp" --size "$1" --allocated "$2" \
            --text-pct 50 >/dev/null 2>"$W/mkimage.err" || return 1
        mv "$o.tmp" "$o"
    fi
    echo "$o"
}

kv() { # kv LINE KEY  (key=value lines of xlmig-peer)
    echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

sim_field() { # sim_field SOCKET REGEX-with-one-group
    "${X:-$XLMIG}" sim report "$1" | sed -n "$2" | head -n1
}

wait_for() { # wait_for PATH SECONDS
    n=0
    while [ ! -e "$1" ]; do
        n=$((n + 1))
        [ $n -le $(( $2 * 20 )) ] || { echo "peer.sh: no $1 after $2 s" >&2; return 1; }
        sleep 0.05
    done
}

start_source() { # start_source WRITE_RATE: the simulated VBD and its guest on $W/src.img
    $SRC_CPU "$VBDSIM" serve --image "$W/src.img" --socket "$W/src.sock" \
        --fresh --write-rate "$1" --read-pct 0 >"$W/src.log" 2>&1 &
    echo $! >"$W/serve.pid"
    wait_for "$W/src.sock" 30
}

stop_source() {
    [ -s "$W/serve.pid" ] || return 0
    "$VBDSIM" ctl "$W/src.sock" shutdown >/dev/null 2>&1 || kill "$(cat "$W/serve.pid")" 2>/dev/null || true
    wait "$(cat "$W/serve.pid")" 2>/dev/null || true
    rm -f "$W/serve.pid" "$W/src.sock"
}

# A run's own copy of the image, written back before the run starts: the
# copies are 1 GiB each, and their writeback (30 s later by default) would
# land in the middle of a later run, its kernel threads and disk queue
# competing with that run's guest (seen as p99 outliers of 1-1.5 ms).
fresh_copy() { # fresh_copy FROM TO
    cp --sparse=always "$1" "$2"
    sync
}

record() { # sc tool rep status total down wire guest_mibs p99_ms rss note
    echo "$*" >>"$RES"
}

# ---- xlmig -------------------------------------------------------------
run_xlmig() { # run_xlmig SC TOOL REP ...: with the tool's own binaries
    X=$XLMIG VBDSIM=$SIMBIN
    if [ "$2" = before ]; then
        X=$BEFORE/tools/xlmig VBDSIM=$BEFORE/tools/xlmig-vbdsim
    fi
    XLMIG_VBDSIM=$VBDSIM
    export XLMIG_VBDSIM
    run_xlmig_1 "$@"
    X=$XLMIG VBDSIM=$SIMBIN XLMIG_VBDSIM=$SIMBIN
}

run_xlmig_1() { # run_xlmig_1 SC TOOL REP NET RATE SIZE ALLOC BOUND_S [SEND ARGS]
    sc=$1 tool=$2 rep=$3 net=$4 rate=$5 size=$6 alloc=$7 bound=$8
    shift 8
    orig=$(original "$size" "$alloc")
    rm -rf "$W/src.img" "$W/dst" "$W/port"
    mkdir -p "$W/dst"
    fresh_copy "$orig" "$W/src.img"
    # idle: one write at the start (the simulator's rate 0 means unlimited)
    wr=$rate
    [ "$rate" = 0 ] && wr=1
    start_source "$wr"
    sleep 2
    if [ "$net" = veth ]; then
        rx="ip netns exec $NSB" tx="ip netns exec $NSA"
        listen=tcp-listen:$IPB:0 host=$IPB
        lim=$(awk -v b="$bound" 'BEGIN { l = 10 * b + 60; printf "%d", l < 120 ? 120 : l }')
    else
        rx="" tx="" listen=tcp-listen:127.0.0.1:0 host=127.0.0.1 lim=900
    fi
    $rx $DST_CPU "$X" receive --quiet --json --target-dir "$W/dst" \
        --port-file "$W/port" "$listen" >"$W/recv.json" 2>"$W/recv.log" &
    rpid=$!
    echo $rpid >"$W/recv.pid"
    wait_for "$W/port" 30
    while [ ! -s "$W/port" ]; do sleep 0.02; done
    [ "$net" = veth ] && w0=$(wire_bytes)
    st=ok
    $tx timeout "$lim" /usr/bin/time -f "%M" -o "$W/rss" $SRC_CPU "$X" send \
        --quiet --json --keep-source ${BENCH_SEND_ARGS:-} "$@" \
        --vbd "sim:$W/src.sock" "tcp:$host:$(cat "$W/port")" \
        >"$W/send.json" 2>"$W/send.log" || st=FAIL
    wait $rpid || st=FAIL
    rm -f "$W/recv.pid"
    if [ $st = FAIL ]; then
        echo "  xlmig failed:"; tail -n 5 "$W/send.log" "$W/recv.log" | sed 's/^/    /'
        record "$sc" "$tool" "$rep" FAIL - - - - - - -
        stop_source
        return 0
    fi
    [ "$net" = veth ] && w1=$(wire_bytes)
    rep_json=$(grep '"event":"report"' "$W/send.json" | tail -n1)
    total=$(field "$rep_json" total_s)
    down=$(field "$rep_json" disk_downtime_ms)
    if [ "$net" = veth ]; then
        wire=$(awk -v w=$((w1 - w0)) -v a="$(bytes "$alloc")" 'BEGIN { printf "%.3f", w / a }')
    else
        wire="$(field "$rep_json" wire_ratio)e"
    fi
    sleep 1
    if [ "$rate" = 0 ]; then
        mibs=- p99=-
    else
        mibs=$(sim_field "$W/src.sock" 's/^write rate here: \([0-9.]*\) MiB.*/\1/p')
        p99=$(sim_field "$W/src.sock" 's/^write latency us: p50 [0-9]* p99 \([0-9]*\).*/\1/p')
        p99=$(awk -v u="$p99" 'BEGIN { printf "%.2f", u / 1000 }')
    fi
    rss=$(( $(cat "$W/rss") / 1024 ))
    stop_source
    if "$X" sim verify "$W/dst/xvda.sock" >"$W/verify.log" 2>&1; then
        v=PASS
    else
        v=FAIL
        sed 's/^/    /' "$W/verify.log" | tail -n 10
    fi
    "$VBDSIM" ctl "$W/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
    record "$sc" "$tool" "$rep" "$v" "$total" "$down" "$wire" "$mibs" "$p99" "$rss" -
    echo "  $sc $tool rep $rep: total $total s, down $down ms, wire/al $wire, guest $mibs MiB/s p99 $p99 ms, rss $rss MiB, $v"
}

# ---- the peer: QEMU's block mirror --------------------------------------
start_qsd() { # start_qsd NAME NETNS-PREFIX CPU-PREFIX ARGS...
    name=$1 pre=$2 cpu=$3
    shift 3
    rm -f "$W/$name.pid"
    $pre $cpu "$QSD" --daemonize --pidfile "$W/$name.pid" "$@" \
        >"$W/$name.log" 2>&1 || { cat "$W/$name.log" >&2; return 1; }
}

stop_qsd() { # stop_qsd NAME: ends it and waits (bounded) for it to go
    [ -s "$W/$1.pid" ] || return 0
    p=$(cat "$W/$1.pid")
    kill "$p" 2>/dev/null || true
    n=0
    while kill -0 "$p" 2>/dev/null; do
        n=$((n + 1))
        [ $n -le 600 ] || { echo "peer.sh: $1 ($p) still running after 30 s" >&2; return 1; }
        sleep 0.05
    done
    rm -f "$W/$1.pid"
}

run_peer() { # run_peer SC TOOL REP RATE SIZE ALLOC BOUND_S MODE
    sc=$1 tool=$2 rep=$3 rate=$4 size=$5 alloc=$6 bound=$7 mode=$8
    orig=$(original "$size" "$alloc")
    rm -f "$W/psrc.img" "$W/pdst.img" "$W/model" "$W"/p*.sock
    fresh_copy "$orig" "$W/psrc.img"
    truncate -s "$(bytes "$size")" "$W/pdst.img"
    start_qsd qsd-src "ip netns exec $NSA" "$SRC_CPU" \
        --blockdev driver=file,node-name=src-file,filename="$W/psrc.img",$SRC_CACHE \
        --blockdev driver=raw,node-name=src,file=src-file \
        --nbd-server addr.type=unix,addr.path="$W/pnbd.sock" \
        --export type=nbd,id=guest,node-name=src,name=guest,writable=on \
        --chardev socket,id=qmp,path="$W/pqmp.sock",server=on,wait=off \
        --monitor chardev=qmp
    start_qsd qsd-dst "ip netns exec $NSB" "$DST_CPU" \
        --blockdev driver=file,node-name=dst-file,filename="$W/pdst.img" \
        --blockdev driver=raw,node-name=dst,file=dst-file \
        --nbd-server addr.type=inet,addr.host=$IPB,addr.port=$NBD_PORT \
        --export type=nbd,id=mig,node-name=dst,name=mig,writable=on
    tmo=$(awk -v b="$bound" -v x="$TIMEOUT_X" 'BEGIN { t = x * b; printf "%d", t < 120 ? 120 : t }')
    w0=$(wire_bytes)
    rc=0
    out=$(ip netns exec $NSA $SRC_CPU "$PEER" run --qmp "$W/pqmp.sock" \
        --node src --target $IPB:$NBD_PORT --target-export mig --mode "$mode" \
        --nbd "$W/pnbd.sock" --export guest --rate "$rate" --seed "$$$rep" \
        --warmup 2 --timeout "$tmo" --model "$W/model" 2>"$W/peer.err") || rc=$?
    w1=$(wire_bytes)
    rss=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$(cat "$W/qsd-src.pid")/status" 2>/dev/null || true)
    rss=$(( ${rss:-0} / 1024 ))
    stop_qsd qsd-src
    stop_qsd qsd-dst
    if [ $rc = 2 ]; then
        # Not converged: what the guest saw while the mirror tried.
        mibs=- p99=-
        if [ "$rate" != 0 ]; then
            mibs=$(kv "$out" guest_MiBps)
            p99=$(awk -v u="$(kv "$out" p99_us)" 'BEGIN { printf "%.2f", u / 1000 }')
        fi
        wire=$(awk -v w=$((w1 - w0)) -v a="$(bytes "$alloc")" 'BEGIN { printf "%.3f", w / a }')
        record "$sc" "$tool" "$rep" DNF "$tmo" - "$wire" "$mibs" "$p99" "$rss" -
        echo "  $sc $tool rep $rep: DNF, no READY in $tmo s; wire/al $wire so far, guest $mibs MiB/s p99 $p99 ms"
        return 0
    elif [ $rc != 0 ]; then
        echo "  $sc $tool rep $rep: FAIL"; sed 's/^/    /' "$W/peer.err"
        record "$sc" "$tool" "$rep" FAIL - - - - - "$rss" -
        return 0
    fi
    total=$(kv "$out" total_s) down=$(kv "$out" downtime_ms)
    wire=$(awk -v w=$((w1 - w0)) -v a="$(bytes "$alloc")" 'BEGIN { printf "%.3f", w / a }')
    if [ "$rate" = 0 ]; then
        mibs=- p99=-
    else
        mibs=$(kv "$out" guest_MiBps)
        p99=$(awk -v u="$(kv "$out" p99_us)" 'BEGIN { printf "%.2f", u / 1000 }')
    fi
    if "$PEER" verify --image "$W/pdst.img" --pristine "$orig" --model "$W/model" >"$W/verify.log" 2>&1; then
        v=PASS
    else
        v=FAIL
        sed 's/^/    /' "$W/verify.log" | tail -n 11
    fi
    record "$sc" "$tool" "$rep" "$v" "$total" "$down" "$wire" "$mibs" "$p99" "$rss" -
    echo "  $sc $tool rep $rep: total $total s (READY $(kv "$out" ready_s) s), down $down ms (drain $(kv "$out" drain_ms), cancel $(kv "$out" cancel_ms)), wire/al $wire, guest $mibs MiB/s p99 $p99 ms, rss $rss MiB, $v"
}

alone_sim() { # the simulated guest alone, no migration: its p99 write latency
    orig=$(original 2G 1G)
    rm -f "$W/src.img"
    fresh_copy "$orig" "$W/src.img"
    start_source 5M
    sleep 10
    s=$(sim_field "$W/src.sock" 's/^write latency us: p50 [0-9]* p99 \([0-9]*\).*/\1/p')
    stop_source
    [ -z "$s" ] || echo "$s" >>"$W/alone"
}

baselines() { # the workloads alone, no migration: their p99 write latency
    alone_sim
    rm -f "$W/psrc.img" "$W/pnbd.sock"
    fresh_copy "$orig" "$W/psrc.img"
    start_qsd qsd-src "" "$SRC_CPU" \
        --blockdev driver=file,node-name=src-file,filename="$W/psrc.img",$SRC_CACHE \
        --blockdev driver=raw,node-name=src,file=src-file \
        --nbd-server addr.type=unix,addr.path="$W/pnbd.sock" \
        --export type=nbd,id=guest,node-name=src,name=guest,writable=on
    out=$($SRC_CPU "$PEER" baseline --nbd "$W/pnbd.sock" --rate 5M --seconds 10)
    stop_qsd qsd-src
    echo "workloads alone (5 MiB/s, no migration): p99 write latency: simulated VBD $s us, qemu-storage-daemon over NBD $(kv "$out" p99_us) us"
}

# ---- scenarios ---------------------------------------------------------
# parse SC: sets net link rate size alloc tools
parse() {
    case $1 in
        lo:compress) net=lo link=- rate=0 size=2G alloc=1G tools="xlmig-auto xlmig-never" ;;
        lo:*) net=lo link=- rate=0 size=${1#lo:} alloc=512M tools=xlmig ;;
        *:*)
            net=veth size=2G
            link=${1%%:*}
            rest=${1#*:}
            rate=${rest%%:*}
            alloc=1G
            [ "$rest" = "$rate" ] || alloc=${rest#*:}
            [ "$rate" = idle ] && rate=0
            link_Bps "$link" >/dev/null
            tools="$XLMIG_TOOLS $PEERS" ;;
        *) echo "peer.sh: bad scenario '$1'" >&2; exit 2 ;;
    esac
}

# Bad names fail before anything runs.  The workload alone is measured
# again each rep when a scenario has the guest writing.
alone_each_rep=0
for sc in $SCENARIOS; do
    parse "$sc"
    [ "$rate" = 0 ] || alone_each_rep=1
done
[ "${BENCH_BASELINE:-1}" != 0 ] || alone_each_rep=0

echo "xlmig vs QEMU blockdev-mirror (as libvirt --copy-storage-all); reps $REPS; BENCH_PIN=${BENCH_PIN:-split}; peer source cache ${BENCH_PEER_SRC_CACHE:-writeback}"
echo "$($XLMIG --version 2>/dev/null | head -n1) / $($QSD --version | head -n1)"
echo "load at start: $(uptime)"
setup_veth
[ "${BENCH_BASELINE:-1}" = 0 ] || baselines

rep=1
while [ $rep -le "$REPS" ]; do
    echo "rep $rep ($(cut -d' ' -f1-3 /proc/loadavg))"
    # The workload alone again each rep (rep 1's is the one above): the
    # guest's p99 under migration is judged against the median of these.
    if [ $alone_each_rep = 1 ] && [ $rep -gt 1 ]; then
        alone_sim
        echo "  workload alone: p99 $(tail -n1 "$W/alone") us"
    fi
    for sc in $SCENARIOS; do
        parse "$sc"
        bound=0
        if [ $net = veth ]; then
            set_link "$link"
            bound=$(awk -v a="$(bytes "$alloc")" -v l="$(link_Bps "$link")" 'BEGIN { printf "%.3f", a / l }')
        fi
        if ! original "$size" "$alloc" >/dev/null; then
            why=$(sed 's/^xlmig-vbdsim: //' "$W/mkimage.err" | head -n1)
            for t in $tools; do record "$sc" "$t" "$rep" SKIP - - - - - - "$why"; done
            echo "  $sc: skipped: $why"
            continue
        fi
        for t in $tools; do
            case $t in
                xlmig|before) run_xlmig "$sc" "$t" $rep $net "$rate" "$size" "$alloc" "$bound" ;;
                xlmig-c[0-9]) run_xlmig "$sc" "$t" $rep $net "$rate" "$size" "$alloc" "$bound" --connections "${t#xlmig-c}" ;;
                xlmig-auto) run_xlmig "$sc" "$t" $rep $net "$rate" "$size" "$alloc" "$bound" --compress auto ;;
                xlmig-never) run_xlmig "$sc" "$t" $rep $net "$rate" "$size" "$alloc" "$bound" --compress never ;;
                qemu-bg) run_peer "$sc" "$t" $rep "$rate" "$size" "$alloc" "$bound" background ;;
                qemu-wb) run_peer "$sc" "$t" $rep "$rate" "$size" "$alloc" "$bound" write-blocking ;;
                *) echo "peer.sh: unknown tool '$t'" >&2; exit 2 ;;
            esac
        done
    done
    rep=$((rep + 1))
done
echo "load at end:   $(uptime)"

# ---- the table ---------------------------------------------------------
bounds=""
for sc in $SCENARIOS; do
    parse "$sc"
    b=-
    [ $net = veth ] && b=$(awk -v a="$(bytes "$alloc")" -v l="$(link_Bps "$link")" 'BEGIN { printf "%.3f", a / l }')
    bounds="$bounds $sc=$b"
done
echo
awk -v bounds="$bounds" "$BENCH_AWK_STATS"'
function f(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
BEGIN {
    n = split(bounds, bl, " ")
    for (i = 1; i <= n; i++) { split(bl[i], kv, "="); bound[kv[1]] = kv[2] }
}
{
    k = $1 SUBSEP $2
    if (!(k in seen)) { seen[k] = 1; order[++nk] = k; if (!($1 in ref)) ref[$1] = $2 }
    runs[k]++
    if ($4 == "SKIP") { s = $0; for (j = 1; j <= 10; j++) s = substr(s, index(s, " ") + 1); skip[k] = s; next }
    if ($4 == "DNF") {      # never READY: what happened until the timeout
        dnf[k]++; dnft[k] = $5; dwire[k] = dwire[k] " " $7
        if ($8 != "-") { dmib[k] = dmib[k] " " $8; dp99[k] = dp99[k] " " $9 }
        if ($10 != "-" && $10 + 0 > rss[k] + 0) rss[k] = $10
        next
    }
    if ($4 == "FAIL") { fail[k]++; if ($5 == "-") next }
    done_[k]++
    tot[k] = tot[k] " " $5; down[k] = down[k] " " $6
    w = $7; e[k] = sub(/e$/, "", w) ? "e" : ""; wire[k] = wire[k] " " w
    if ($8 != "-") { mib[k] = mib[k] " " $8; p99[k] = p99[k] " " $9 }
    if ($10 != "-" && $10 + 0 > rss[k] + 0) rss[k] = $10
}
END {
    printf "%-14s %-11s %-20s %6s %-20s %8s %6s %8s %5s %6s %6s  %s\n", "scenario", "tool", "total s min/med/max", "/bound", "down ms min/med/max", "wire/al", "MiB/s", "p99 ms", "rss", "ref/t", "ref/dn", "runs"
    for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, p, SUBSEP); sc = p[1]; tool = p[2]
        if (k in skip) { printf "%-14s %-11s skipped: %s\n", sc, tool, skip[k]; continue }
        st = (done_[k] + 0) "/" runs[k]
        if (fail[k]) st = st " FAIL " fail[k]; else if (done_[k]) st = st " PASS"
        if (dnf[k]) st = st " DNF " dnf[k]
        if (!done_[k] && dnf[k]) {  # the attempts until the timeout (wire so far)
            printf "%-14s %-11s %-20s %6s %-20s %8s %6s %8s %5s %6s %6s  %s\n", sc, tool, "DNF (>" dnft[k] ")", "-", "-",
                "(" f(med(dwire[k]), 2) ")", dmib[k] == "" ? "-" : f(med(dmib[k]), 2), dp99[k] == "" ? "-" : f(med(dp99[k]), 2),
                rss[k] == "" ? "-" : rss[k], "-", "-", st
            continue
        }
        if (!done_[k] || tot[k] == "") { printf "%-14s %-11s %-20s %6s %-20s %8s %6s %8s %5s %6s %6s  %s\n", sc, tool, "-", "-", "-", "-", "-", "-", rss[k] == "" ? "-" : rss[k], "-", "-", st; continue }
        mt[k] = med(tot[k]); md[k] = med(down[k])
        b = bound[sc]
        rk = sc SUBSEP ref[sc]
        rt = "-"; rd = "-"
        if (k != rk && (rk in mt)) { rt = f(mt[rk] / mt[k], 2); rd = md[k] > 0 ? f(md[rk] / md[k], 2) : "-" }
        printf "%-14s %-11s %-20s %6s %-20s %8s %6s %8s %5s %6s %6s  %s\n", sc, tool,
            f(mn(tot[k]), 2) "/" f(mt[k], 2) "/" f(mx(tot[k]), 2),
            b == "-" ? "-" : f(mt[k] / b, 2),
            f(mn(down[k]), 1) "/" f(md[k], 1) "/" f(mx(down[k]), 1),
            f(med(wire[k]), 2) e[k], mib[k] == "" ? "-" : f(med(mib[k]), 2),
            p99[k] == "" ? "-" : f(med(p99[k]), 2), rss[k] == "" ? "-" : rss[k], rt, rd, st
    }
}' "$RES"
if [ -s "$W/alone" ]; then
    awk -v alone="$(tr '\n' ' ' <"$W/alone")" "$BENCH_AWK_STATS"'
    $4 == "PASS" && $9 != "-" && $2 !~ /^qemu/ {
        k = $1 " " $2
        if (!(k in p99)) order[++n] = k
        p99[k] = p99[k] " " $9
    }
    END {
        a = med(alone) / 1000
        printf "\nguest p99 over the workload alone (simulated VBD; alone per rep, us: %s; median %.3f ms):\n", alone, a
        for (i = 1; i <= n; i++)
            printf "  %-24s %.2f / %.2f / %.2f x (min/med/max)\n", order[i], mn(p99[order[i]]) / a, med(p99[order[i]]) / a, mx(p99[order[i]]) / a
    }' "$RES"
fi
echo
echo "bound = allocated / line rate; wire on veth: rx+tx bytes of the source veth end; e: the engine's count (loopback)"
echo "ref/t, ref/dn: median time / downtime of the scenario's first row (xlmig) over this row's"
echo "DNF (>N): never READY within N s (cancelled); its wire/al (in parentheses) and guest figures are those of the attempt"
if grep -q ' FAIL ' "$RES"; then
    echo "FAIL: $(grep -c ' FAIL ' "$RES") run(s) failed (see above)"
    exit 1
fi
