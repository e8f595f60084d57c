#!/bin/sh
# Strict options: every bad value of issue 10 is refused with exit status 2
# and a message naming the option and its range, before anything is
# connected (a listening receiver never sees a connection) or created;
# -h/--help and -V/--version work on every command and subcommand.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

start_receiver
DEST=tcp:127.0.0.1:$PORT

# refused OPTION RANGE ARGS...: exit 2, OPTION and RANGE in the message.
refused() {
    opt=$1 range=$2; shift 2
    set +e
    "$@" >"$T/out" 2>&1
    rc=$?
    set -e
    [ "$rc" = 2 ] || fail "'$*' exited $rc, not 2: $(cat "$T/out")"
    grep -q -- "$opt" "$T/out" || fail "'$*': the message does not name $opt: $(cat "$T/out")"
    grep -q -- "$range" "$T/out" || fail "'$*': the message lacks '$range': $(cat "$T/out")"
}

V="--vbd sim:$T/nosuch.sock"
refused --max-downtime "1ms to 10m" "$XLMIG" send --max-downtime -5 $V "$DEST"
refused --max-downtime "1ms to 10m" "$XLMIG" send --max-downtime abc $V "$DEST"
refused --workers "1 to 8" "$XLMIG" send --workers 0 $V "$DEST"
refused --workers "1 to 8" "$XLMIG" send --workers abc $V "$DEST"
refused --workers "1 to 8" "$XLMIG" send --workers 100000 $V "$DEST"
refused --max-passes "0 to 1000" "$XLMIG" send --max-passes -1 $V "$DEST"
refused --nice "-20" "$XLMIG" send --nice abc $V "$DEST"
refused --block-size "power of two" "$XLMIG" send --block-size 3000 $V "$DEST"
refused --block-size "power of two" "$XLMIG" send --block-size abc $V "$DEST"
refused --bandwidth "bits or bytes" "$XLMIG" send --bandwidth 100Mb $V "$DEST"
refused --compress "auto, always, never" "$XLMIG" send --compress fast $V "$DEST"
refused 99999 "1 to 65535" "$XLMIG" send $V tcp:127.0.0.1:99999
refused 99999 "0 for any" "$XLMIG" receive --target-dir "$T/x" tcp-listen:127.0.0.1:99999
refused --accept-timeout "1s to" "$XLMIG" receive --accept-timeout 0 --target-dir "$T/x" -
refused --frobnicate "unknown option" "$XLMIG" send --frobnicate $V "$DEST"
refused "--vbd" "only sim:SOCKET" "$XLMIG" send --vbd phy:/dev/sda "$DEST"
refused "--stop" "goes with verify" "$XLMIG" sim report --stop "$T/x.sock"
refused --size "from 4k" "$XLMIG_VBDSIM" mkimage "$T/x.img" --size 3000
refused --read-pct "0 to 95" "$XLMIG_VBDSIM" serve --image "$T/x" --socket "$T/y" --read-pct 99
refused --write-rate "a size" "$XLMIG_VBDSIM" serve --image "$T/x" --socket "$T/y" --write-rate fast
[ ! -e "$T/x" ] && [ ! -e "$T/x.img" ] && [ ! -e "$T/y" ] || fail "something was created"

# The receiver saw no connection: it still waits, nothing in its directory.
kill -0 "$RECV_PID" || fail "the receiver is gone"
[ -z "$(ls "$T/dst")" ] || fail "the receiver created $(ls "$T/dst")"
[ ! -s "$T/receiver.log" ] || fail "the receiver said: $(cat "$T/receiver.log")"

# help EXIT ARGS...: usage or version on stdout, exit 0.
helps() {
    set +e
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    set -e
    [ "$rc" = 0 ] || fail "'$*' exited $rc: $(cat "$T/err")"
    [ -s "$T/out" ] || fail "'$*' printed nothing on stdout"
}
cmds="send receive sim"
if "$XLMIG" --help | grep -q '^  migrate '; then
    cmds="$cmds migrate migrate-receive jobinfo"
fi
for h in -h --help -V --version; do
    helps "$XLMIG" $h
    for c in $cmds; do helps "$XLMIG" $c $h; done
    helps "$XLMIG_VBDSIM" $h
    for c in mkimage serve ctl; do helps "$XLMIG_VBDSIM" $c $h; done
done
"$XLMIG" -V | grep -q '^xlmig [0-9]' || fail "xlmig -V: $("$XLMIG" -V)"
"$XLMIG" send --help | grep -q -- '--workers N .*\[1\.\.8\]' || fail "send --help lacks the ranges"
note "bad values refused before connecting; -h/-V on xlmig $cmds and xlmig-vbdsim mkimage serve ctl"

# xlmig migrate on a host without Xen: one clear line, none of libxl's, and
# no word about a guest that is not here.
if "$XLMIG" --help | grep -q '^  migrate ' && [ ! -e /proc/xen/capabilities ] &&
   [ ! -e /dev/xen/privcmd ]; then
    set +e
    "$XLMIG" migrate --with-storage nosuchdomain localhost >"$T/out" 2>&1
    rc=$?
    set -e
    note "migrate without Xen: $(cat "$T/out")"
    [ "$rc" = 1 ] || fail "migrate without Xen exited $rc"
    [ "$(wc -l <"$T/out")" = 1 ] || fail "not one line: $(cat "$T/out")"
    grep -q 'does not run Xen' "$T/out" || fail "the line does not say why"
    ! grep -q 'libxl\|xencall\|kept running' "$T/out" || fail "noise: $(cat "$T/out")"
fi
