# shellcheck shell=sh
# Sourced by the bench scripts: the network they share (two namespaces
# joined by a veth pair, shaped with tc tbf) and reading their JSON.

# bench_veth NSA NSB VA VB NET: namespaces NSA and NSB (earlier ones of
# those names removed), the veth VA in NSA as NET.1/24 and VB in NSB as
# NET.2/24, everything up
bench_veth() {
    ip netns del "$1" 2>/dev/null || true
    ip netns del "$2" 2>/dev/null || true
    ip netns add "$1"
    ip netns add "$2"
    ip link add "$3" type veth peer name "$4"
    ip link set "$3" netns "$1"
    ip link set "$4" netns "$2"
    ip -n "$1" addr add "$5.1/24" dev "$3"
    ip -n "$2" addr add "$5.2/24" dev "$4"
    for ns in "$1" "$2"; do ip -n "$ns" link set lo up; done
    ip -n "$1" link set "$3" up
    ip -n "$2" link set "$4" up
}

# bench_shape NS DEV RATE BURST: DEV's egress in NS shaped to RATE (as tc
# writes rates: 1gbit, 125000000bps...) with a BURST bucket (512kb)
bench_shape() {
    tc -n "$1" qdisc replace dev "$2" root tbf rate "$3" burst "$4" \
        latency 20ms
}

# bench_netns_del NS...: the namespaces gone (their veth ends with them)
bench_netns_del() {
    for ns in "$@"; do ip netns del "$ns" 2>/dev/null || true; done
}

# field JSONLINE NAME: a number, word or string field of one JSON line
field() {
    echo "$1" | sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[-0-9.a-z]*\).*/\1/p" | tr -d '"'
}

# awk functions for the benches' summaries, put before an awk program:
# med, mn, mx of a space-separated list of numbers (med of none: "")
BENCH_AWK_STATS='
function med(s,   n, a, i, j, t) {
    n = split(s, a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    if (!n) return ""
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function mn(s,   n, a, i, m) { n = split(s, a, " "); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 < m) m = a[i] + 0; return m }
function mx(s,   n, a, i, m) { n = split(s, a, " "); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
'
