#!/bin/sh
# How the disk keep-up shares the link with the memory stream (not part of
# `make check`; root, for the network namespaces and tc).
#
# While libxl's memory pre-copy runs, the disk engine keeps up with the
# guest's writes on its own TCP connection over the same network.  Here a
# bulk TCP flow stands in for the memory stream (libxl's stream is one TCP
# connection sending as fast as it can) and runs during the keep-up window
# of a simulated migration (`xlmig send --memory-seconds`), over a veth pair
# between two namespaces shaped with tc tbf.  Printed per run: the bulk
# flow's throughput against its throughput alone, what the disk engine's
# connection carried meanwhile (TCP payload acknowledged, from ss), the
# guest's write rate, the keep-up passes and the blocks left for stop-copy,
# with keep-up's share of the link capped (--keepup-share, default 25%) and
# not (100).  Scenarios are interleaved and repeated; a summary gives min /
# median / max per case and the bulk flow's ratio to its rate alone.
#
# usage: tests/bench/keepup_share.sh [BUILDDIR]
# env:   SHARE_LINK=200mbit SHARE_RATES="2M 5M 10M" SHARE_REPEAT=3
#        SHARE_SHARES="100 25" SHARE_BULK_S=12 SHARE_SEND_ARGS=...
#        SHARE_NS=xmem (prefix of the namespaces and veth names)
set -eu
. "$(dirname "$0")/lib.sh"
B=$(cd "${1:-build}" && pwd)
XLMIG=$B/tools/xlmig
VBDSIM=$B/tools/xlmig-vbdsim
LINK=${SHARE_LINK:-200mbit}
RATES=${SHARE_RATES:-"2M 5M 10M"}
REPEAT=${SHARE_REPEAT:-3}
BULK_S=${SHARE_BULK_S:-12}
MEM_S=$((BULK_S + 4))
SHARES=${SHARE_SHARES:-"100 25"}
PFX=${SHARE_NS:-xmem}
W=$(mktemp -d /var/tmp/$PFX-share.XXXXXX)
NSA=$PFX-a NSB=$PFX-b
# Copies: a rebuild during the run must not pull the binaries away.
cp "$XLMIG" "$VBDSIM" "$W/"
XLMIG=$W/xlmig VBDSIM=$W/xlmig-vbdsim
export XLMIG_VBDSIM=$VBDSIM

cleanup() {
    for s in "$W"/*.sock "$W"/dst/*.sock; do
        [ -S "$s" ] && "$VBDSIM" ctl "$s" shutdown >/dev/null 2>&1 || true
    done
    bench_netns_del $NSA $NSB
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS WHAT TEST...: every wait is bounded
wait_for() {
    n=$(($1 * 20)) what=$2
    shift 2
    while ! "$@"; do
        n=$((n - 1))
        [ $n -gt 0 ] || { echo "timed out waiting for $what" >&2; exit 1; }
        sleep 0.05
    done
}

bench_veth $NSA $NSB $PFX-va $PFX-vb 10.78.0
bench_shape $NSA $PFX-va $LINK 256kb
bench_shape $NSB $PFX-vb $LINK 256kb

cat > "$W/bulk.py" <<'EOF'
import socket, sys, time
if sys.argv[1] == "recv":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], int(sys.argv[3]))); s.listen(1)
    open(sys.argv[4], "w").write("ready\n")
    c, _ = s.accept(); n = 0; t0 = None
    while True:
        b = c.recv(1 << 20)
        if not b: break
        if t0 is None: t0 = time.monotonic()
        n += len(b)
    print(n, time.monotonic() - t0)
else:
    c = socket.create_connection((sys.argv[2], int(sys.argv[3])))
    buf = bytes(256 << 10); end = time.monotonic() + float(sys.argv[4])
    while time.monotonic() < end: c.sendall(buf)
    c.close()
EOF

# TCP payload bytes the disk engine's connection got acknowledged
disk_acked() {
    ip netns exec $NSA ss -tinH dst 10.78.0.2 dport = ":$1" |
        grep -o 'bytes_acked:[0-9]*' | cut -d: -f2 |
        awk '{ s += $1 } END { print s + 0 }'
}

# bulk SECONDS [DISK_PORT] -> "bytes seconds disk_bytes"
bulk() {
    rm -f "$W/bulk.ready"
    ip netns exec $NSB python3 "$W/bulk.py" recv 10.78.0.2 5999 "$W/bulk.ready" \
        > "$W/bulk.out" &
    bp=$!
    wait_for 10 "the bulk receiver" test -s "$W/bulk.ready"
    d0=0
    [ -n "${2:-}" ] && d0=$(disk_acked "$2")
    ip netns exec $NSA python3 "$W/bulk.py" send 10.78.0.2 5999 "$1"
    d1=0
    [ -n "${2:-}" ] && d1=$(disk_acked "$2")
    wait $bp
    read -r n secs < "$W/bulk.out"
    echo "$n $secs $((d1 - d0))"
}

run() { # run WRITE_RATE|alone [SHARE]
    rate=$1 share=${2:-100}
    "$VBDSIM" ctl "$W/src.sock" shutdown >/dev/null 2>&1 || true
    sleep 0.2
    rm -rf "$W/src.img" "$W/src.sock" "$W/dst" "$W/port"
    mkdir -p "$W/dst"
    if [ "$rate" = alone ]; then
        set -- $(bulk "$BULK_S")
        printf "%-6s %5s %9.2f %9s %9s %9s %7s %7s %9s  %s\n" alone - \
            "$(echo "$1 $2" | awk '{ print $1 / $2 / 1e6 }')" - - - - - - "$(uptime | sed 's/.*load/load/')"
        return
    fi
    "$VBDSIM" mkimage "$W/src.img" --size 256M --allocated 128M --text-pct 50 >/dev/null
    "$VBDSIM" serve --image "$W/src.img" --socket "$W/src.sock" --fresh \
        --write-rate "$rate" --read-pct 0 > "$W/src.log" 2>&1 &
    wait_for 10 "the simulated VBD" test -S "$W/src.sock"
    sleep 1
    ip netns exec $NSB "$XLMIG" receive --quiet --json --target-dir "$W/dst" \
        --port-file "$W/port" tcp-listen:10.78.0.2:0 > "$W/recv.json" 2> "$W/recv.log" &
    rpid=$!
    wait_for 10 "the receiver" test -s "$W/port"
    : > "$W/send.json"
    ip netns exec $NSA "$XLMIG" send --quiet --json --keep-source \
        --memory-seconds "$MEM_S" --keepup-share "$share" ${SHARE_SEND_ARGS:-} \
        --vbd "sim:$W/src.sock" "tcp:10.78.0.2:$(cat "$W/port")" \
        > "$W/send.json" 2> "$W/send.log" &
    spid=$!
    # PUSH converged (the verdict's pass event): keep-up runs from here
    n=1200
    while ! grep -q '"event":"pass".*"message"' "$W/send.json"; do
        kill -0 $spid 2>/dev/null || { cat "$W/send.log"; exit 1; }
        n=$((n - 1))
        [ $n -gt 0 ] || { echo "PUSH did not converge in 60 s" >&2; exit 1; }
        sleep 0.05
    done
    set -- $(bulk "$BULK_S" "$(cat "$W/port")")
    wait $spid || { cat "$W/send.log"; return 1; }
    wait $rpid || { cat "$W/recv.log"; return 1; }
    rep=$(grep '"event":"report"' "$W/send.json" | tail -n1)
    srate=$("$XLMIG" sim report "$W/src.sock" | sed -n 's/^write rate here: \([0-9.]*\) MiB.*/\1/p' | head -n1)
    printf "%-6s %5s %9.2f %9.2f %9s %9s %7s %7s %9s  %s\n" "$rate" "$share" \
        "$(echo "$1 $2" | awk '{ print $1 / $2 / 1e6 }')" \
        "$(echo "$3 $2" | awk '{ print $1 / $2 / 1e6 }')" "$srate" \
        "$(field "$rep" stop_reason | tr ' ' _)" "$(field "$rep" keepup_passes)" \
        "$(field "$rep" final_blocks)" "$(field "$rep" keepup_deferred)" \
        "$(uptime | sed 's/.*load/load/')"
    "$VBDSIM" ctl "$W/dst/xvda.sock" shutdown >/dev/null 2>&1 || true
}

echo "keep-up vs a bulk flow (the memory stream) on a $LINK veth; bulk ${BULK_S}s inside ${MEM_S}s of keep-up; image 256M (128M allocated)"
printf "%-6s %5s %9s %9s %9s %9s %7s %7s %9s\n" guest share bulk_MBps disk_MBps "w_MiB/s" push_end keepup final deferred
for i in $(seq "$REPEAT"); do
    run alone
    for r in $RATES; do
        for sh in $SHARES; do
            run "$r" "$sh"
        done
    done
done | tee "$W/rows"
# min / median / max of the bulk flow and the disk per case, and the bulk
# flow's median against its median alone
echo
echo "summary (min / median / max over $REPEAT runs)"
awk '
function stats(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return sprintf("%.2f / %.2f / %.2f", a[1], (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2, a[n])
}
$1 == "guest" { next }
{ k = $1 " " $2; n[k]++; b[k, n[k]] = $3; d[k, n[k]] = ($4 == "-") ? 0 : $4; f[k, n[k]] = $8; order[k] = ++o }
END {
    printf "%-6s %5s %26s %26s %22s %7s\n", "guest", "share", "bulk MB/s", "disk MB/s", "final blocks", "/alone"
    ka = "alone -"
    for (i = 1; i <= n[ka]; i++) x[i] = b[ka, i]
    sa = stats(x, n[ka]); split(sa, p, " / "); alone = p[2]
    for (k in n) {
        for (i = 1; i <= n[k]; i++) { x[i] = b[k, i]; y[i] = d[k, i]; z[i] = f[k, i] }
        sb = stats(x, n[k]); sd = stats(y, n[k]); sf = stats(z, n[k]); split(sb, p, " / ")
        split(k, kk, " ")
        printf "%-6s %5s %26s %26s %22s %7.2f\n", kk[1], kk[2], sb, sd, sf, (alone > 0) ? p[2] / alone : 0
    }
}' "$W/rows" | sort -k1,1 -k2,2nr
