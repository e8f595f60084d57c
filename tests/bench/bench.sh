#!/bin/sh
# Benchmark (not part of `make check`): a 2 GiB raw image with 1 GiB
# allocated (half compressible text, half random, the rest holes), idle and
# under 5 MB/s of random 4 KiB writes, over loopback and over a veth pair
# between two network namespaces shaped to 1 Gbit/s with tc.  Prints total
# time, disk downtime, wire bytes / allocated, the guest's write rate and
# p99 latency (against the same workload without migration), the sender's
# peak memory, and total time against the line-rate bound.
#
# Two hosts on one 2-core machine: by default the source host (the guest
# with its simulated VBD, and the sender) gets CPU 0 and the destination
# host (the receiver) CPU 1, as two machines would each have their own
# (BENCH_PIN=split).  BENCH_PIN=none lets everything share both cores,
# a harsher setting where the guest competes with both ends' copying.
#
# usage: tests/bench/bench.sh [BUILDDIR]    (root: netns and tc)
# env:   BENCH_SIZE=2G BENCH_ALLOC=1G BENCH_RATE=5M BENCH_LINK=1gbit
#        BENCH_SCENARIOS="loopback:idle loopback:write veth:idle veth:write"
#        BENCH_PIN=split|none  BENCH_SEND_ARGS=...
set -eu
. "$(dirname "$0")/lib.sh"
B=$(cd "${1:-build}" && pwd)
XLMIG=$B/tools/xlmig
VBDSIM=$B/tools/xlmig-vbdsim
SIZE=${BENCH_SIZE:-2G}
ALLOC=${BENCH_ALLOC:-1G}
RATE=${BENCH_RATE:-5M}
LINK=${BENCH_LINK:-1gbit}
SCENARIOS=${BENCH_SCENARIOS:-"loopback:idle loopback:write veth:idle veth:write"}
W=$(mktemp -d /var/tmp/xlmig-bench.XXXXXX)
if [ "${BENCH_PIN:-split}" = split ]; then
    GUEST_CPU=${GUEST_CPU:-0} SEND_CPU=${SEND_CPU:-0} RECV_CPU=${RECV_CPU:-1}
fi
NSA=xlmig-bench-a NSB=xlmig-bench-b
export XLMIG_VBDSIM=$VBDSIM

cleanup() {
    for s in "$W"/*.sock "$W"/dst/*.sock; do
        [ -S "$s" ] && "$VBDSIM" ctl "$s" shutdown >/dev/null 2>&1 || true
    done
    bench_netns_del $NSA $NSB
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT INT TERM

link_Bps() {
    case $LINK in
        *gbit) echo $(( ${LINK%gbit} * 125000000 )) ;;
        *mbit) echo $(( ${LINK%mbit} * 125000 )) ;;
        *) echo "bad BENCH_LINK" >&2; exit 2 ;;
    esac
}

setup_veth() { # both directions shaped to the line rate
    bench_veth $NSA $NSB xlmig-va xlmig-vb 10.77.0
    bench_shape $NSA xlmig-va $LINK 512kb
    bench_shape $NSB xlmig-vb $LINK 512kb
}

sim_field() { # sim_field SOCKET REGEX-with-one-group
    "$XLMIG" sim report "$1" | sed -n "$2" | head -n1
}

fresh_source() { # fresh_source WRITE_RATE
    "$VBDSIM" ctl "$W/src.sock" shutdown >/dev/null 2>&1 || true
    sleep 0.2
    rm -f "$W/src.img" "$W/src.sock"
    "$VBDSIM" mkimage "$W/src.img" --size "$SIZE" --allocated "$ALLOC" \
        --text-pct 50 >/dev/null
    ${GUEST_CPU:+taskset -c $GUEST_CPU} "$VBDSIM" serve --image "$W/src.img" --socket "$W/src.sock" --fresh \
        --write-rate "$1" --read-pct 0 >"$W/src.log" 2>&1 &
    while [ ! -S "$W/src.sock" ]; do sleep 0.05; done
}

baseline() { # the workload alone, no migration: its p99 write latency
    fresh_source "$RATE"
    sleep 15
    sim_field "$W/src.sock" 's/^write latency us: p50 [0-9]* p99 \([0-9]*\).*/\1/p'
}

run() { # run NET LOAD
    net=$1 load=$2
    wr=1
    [ "$load" = write ] && wr=$RATE
    fresh_source "$wr"
    sleep 2
    rm -rf "$W/dst" "$W/port"
    mkdir -p "$W/dst"
    if [ "$net" = veth ]; then
        rx="ip netns exec $NSB" tx="ip netns exec $NSA"
        listen=tcp-listen:10.77.0.2:0 host=10.77.0.2
    else
        rx="" tx="" listen=tcp-listen:127.0.0.1:0 host=127.0.0.1
    fi
    $rx ${RECV_CPU:+taskset -c $RECV_CPU} ${BENCH_NICE:+nice -n $BENCH_NICE} ${BENCH_IDLE:+chrt --idle 0} "$XLMIG" receive --quiet --json --target-dir "$W/dst" \
        --port-file "$W/port" "$listen" >"$W/recv.json" 2>"$W/recv.log" &
    rpid=$!
    while [ ! -s "$W/port" ]; do sleep 0.02; done
    $tx /usr/bin/time -f "%M" -o "$W/rss" ${SEND_CPU:+taskset -c $SEND_CPU} ${BENCH_NICE:+nice -n $BENCH_NICE} ${BENCH_IDLE:+chrt --idle 0} "$XLMIG" send --quiet --json --keep-source ${BENCH_SEND_ARGS:-} \
        --vbd "sim:$W/src.sock" "tcp:$host:$(cat "$W/port")" \
        >"$W/send.json" 2>"$W/send.log" || { cat "$W/send.log"; return 1; }
    wait $rpid || { cat "$W/recv.log"; return 1; }
    rep=$(grep '"event":"report"' "$W/send.json" | tail -n1)
    total=$(field "$rep" total_s)
    down=$(field "$rep" disk_downtime_ms)
    ratio=$(field "$rep" wire_ratio)
    alloc=$(field "$rep" allocated_bytes)
    post=$(field "$rep" postcopy)
    pulled=$(field "$rep" final_blocks)
    sleep 1
    # The guest's view: write rate and p99 on the source (during PUSH) and
    # on the destination (during and after PULL).
    srate=$(sim_field "$W/src.sock" 's/^write rate here: \([0-9.]*\) MiB.*/\1/p')
    sp99=$(sim_field "$W/src.sock" 's/^write latency us: p50 [0-9]* p99 \([0-9]*\).*/\1/p')
    dp99=$(sim_field "$W/dst/xvda.sock" 's/^write latency us: p50 [0-9]* p99 \([0-9]*\).*/\1/p')
    verdict=$("$XLMIG" sim verify "$W/dst/xvda.sock" >/dev/null 2>&1 && echo PASS || echo FAIL)
    bound=$(awk -v a="$alloc" -v l="$(link_Bps)" 'BEGIN { printf "%.2f", a / l }')
    x=$(awk -v t="$total" -v b="$bound" 'BEGIN { printf "%.2f", t / b }')
    [ "$net" = veth ] || x="-"
    printf "%-9s %-6s %8s %8s %6s %9s %7s %9s %7s %8s %7s %6s %5s\n" \
        "$net" "$load" "$total" "$bound" "$x" "$down" "$ratio" "$srate" \
        "$sp99" "$dp99" "$(( $(cat "$W/rss") / 1024 ))" "$pulled" "$verdict"
    "$VBDSIM" ctl "$W/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
}

echo "xlmig benchmark: image $SIZE, $ALLOC allocated (50% text, 50% random), writes $RATE/s of 4 KiB random, link $LINK"
echo "CPUs: guest ${GUEST_CPU:-any}, sender ${SEND_CPU:-any}, receiver ${RECV_CPU:-any} (BENCH_PIN=${BENCH_PIN:-split})"
echo "workload alone (no migration): p99 write latency $(baseline) us"
setup_veth
printf "%-9s %-6s %8s %8s %6s %9s %7s %9s %7s %8s %7s %6s %5s\n" \
    link load total_s bound_s ratio down_ms wire/al "MiB/s" p99src p99dst rss_MiB stale check
for sc in $SCENARIOS; do
    run "${sc%%:*}" "${sc#*:}"
done
