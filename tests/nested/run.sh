#!/bin/bash
# Nested Xen test bed: Xen 4.17.5 + Debian 12 dom0 under QEMU TCG, a PV guest
# writing tagged blocks, and the migration scenarios of tests/nested/README.md.
#
# Usage: tests/nested/run.sh            (as root; see README.md for the env vars)
#   NESTED_SCENARIOS="0 1p 1n 2 5 6 3"  which scenarios to run (4, 7, 8n/8a/8r/8k on demand; 3s by default only without xlmig)
#   XLMIG_DEBS                            dir of xlmig's .debs: dom0 installs them with apt
#   XLMIG_BIN / XL_FRONT / BLKBACK_KO / XLMIG_EXTRA_DIR   or the bare artefacts (optional)
#   XL_PATCHED                            Xen's xl with tools/xl-patch (scenario 1n runs it)
#   NESTED_FRESH=1                        rebuild the cached dom0 image
#   NESTED_BUILD_ONLY=1                   build image + payload, boot nothing
# Exit 0 only if every scenario is PASS or XFAIL.
set -euo pipefail
{ # the whole script is parsed before it runs: editing it mid-run is safe

# ---- Scenarios still expected to fail (the feature hasn't landed). Remove an
# ---- id as soon as it passes: from then on it must keep passing (XPASS fails).
XFAIL_DEFAULT=""
XFAIL=${NESTED_XFAIL-$XFAIL_DEFAULT}
# 3s (two hosts, stock xl) proves the two-host plumbing while xlmig is absent;
# with XLMIG_BIN given, 3 covers it and 3s is left out of the default set.
# 5 asserts all that 4 does (the guest outruns the link, post-copy) and
# more (cut, recovery): 4 runs on demand, as do the memory scenarios
# 8n/8a/8r/8k (auto-converge; CI's time budget).  With the packages, P (purge:
# Debian's xen-blkback and xl come back) ends the solo run.
if [ -n "${XLMIG_DEBS:-}" ]; then SCENARIOS_DEFAULT="0 1p 1n 2 5 6 P 3"
elif [ -n "${XLMIG_BIN:-}" ]; then SCENARIOS_DEFAULT="0 1p 1n 2 5 6 3"; else SCENARIOS_DEFAULT="0 1p 1n 2 5 6 3s 3"; fi
SCENARIOS=${NESTED_SCENARIOS:-$SCENARIOS_DEFAULT}

HERE=$(cd "$(dirname "$0")" && pwd)
NESTED_CACHE=${NESTED_CACHE:-/var/tmp/xlmig-nested}
export NESTED_CACHE
WORK=${NESTED_WORK:-$NESTED_CACHE/run-$(date +%Y%m%d-%H%M%S)}
# QEMU start -> "@@ XL_READY"; with the packages, dom0 first builds the
# module with DKMS (275 s under TCG with 2 vCPUs, more with 1)
if [ -n "${XLMIG_DEBS:-}" ]; then BOOT_TIMEOUT=${NESTED_BOOT_TIMEOUT:-1200}; else BOOT_TIMEOUT=${NESTED_BOOT_TIMEOUT:-360}; fi
# 8r/8k wait up to S8_WAIT (1000 s) for the first throttle step, silently
case " ${NESTED_SCENARIOS:-} " in *" 8r "*|*" 8k "*) long=1;; *) long=0;; esac
STALL_TIMEOUT=${NESTED_STALL_TIMEOUT:-$((long ? 1800 : 900))}     # no new "@@" marker for this long
SCENARIO_TIMEOUT=${NESTED_SCENARIO_TIMEOUT:-$((long ? 2400 : 1200))}
QEMU_CPU=${NESTED_QEMU_CPU:-Nehalem}           # -cpu max corrupts dom0 user space
QEMU_MEM=${NESTED_QEMU_MEM:-3G}
SOLO_SMP=${NESTED_SOLO_SMP:-2}
PAIR_SMP=${NESTED_PAIR_SMP:-1}
T_START=$(date +%s)

log() { echo "nested: $*"; }
die() { echo "nested: ERROR: $*" >&2; exit 1; }
elapsed() { echo $(( $(date +%s) - T_START )); }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot, mke2fs -d)"
for t in qemu-system-x86_64 debootstrap mke2fs debugfs gcc cpio gzip busybox ssh-keygen ss timeout; do
  command -v "$t" > /dev/null || die "missing host tool '$t' (see .ci/deps.sh)"
done
if ldd "$(command -v busybox)" > /dev/null 2>&1; then die "the guest needs a static busybox (busybox-static)"; fi
for v in XLMIG_DEBS XLMIG_BIN XL_FRONT XL_PATCHED BLKBACK_KO XLMIG_EXTRA_DIR; do
  if [ -n "${!v:-}" ] && [ ! -e "${!v}" ]; then die "$v=${!v} does not exist"; fi
done
mkdir -p "$WORK"; ln -sfn "$WORK" "$NESTED_CACHE/run-latest"
log "work dir $WORK; scenarios: $SCENARIOS; expected to fail: ${XFAIL:-none}"

# ---- QEMU processes: tracked by pid, always killed on exit ----
PIDS=()
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. guest tools, host self-test ----
mkdir -p "$WORK/bin"
for p in guest-writer guest-memdirty imgcheck; do
  gcc -std=c11 -static -O2 -Wall -Wextra -Werror -o "$WORK/bin/$p" "$HERE/guest/$p.c"
done
"$HERE/guest/selftest.sh" "$WORK/bin" "$WORK/selftest"

# ---- 2. dom0 image (cached) ----
t=$(date +%s)
IMG=$("$HERE/lib/build-image.sh" | tail -n 1)
[ -f "$IMG/COMPLETE" ] || die "image build failed"
IMAGE_S=$(( $(date +%s) - t ))
log "dom0 image $IMG ready in ${IMAGE_S}s ($(cat "$IMG/KABI"))"

# ---- 3. payload disks (built every run) ----
PL=$WORK/payload
rm -rf "$PL"; mkdir -p "$PL"/{dom0,guest,bin,xlmig,ssh,results}
cp "$HERE/dom0/init" "$HERE/dom0/lib.sh" "$HERE/dom0/scenario" "$PL/dom0/"
cp "$WORK/bin/imgcheck" "$PL/bin/"
cp "$HERE/guest/g1.cfg.in" "$PL/guest/"
GI=$WORK/guest-initramfs
rm -rf "$GI"; mkdir -p "$GI"/{bin,proc,sys,dev,run,lib/modules}
cp "$(command -v busybox)" "$GI/bin/busybox"
install -m 755 "$WORK/bin/guest-writer" "$WORK/bin/guest-memdirty" "$HERE/guest/gw-stop" "$GI/bin/"
install -m 755 "$HERE/guest/guest-init" "$GI/init"
cp "$IMG/xen-blkfront.ko" "$GI/lib/modules/"
(cd "$GI" && find . | cpio -o -H newc --quiet | gzip -1) > "$PL/guest/initrd.gz"
# the packages a dom0 runs (libxlmig-dev stays on the host: CI tests it there)
if [ -n "${XLMIG_DEBS:-}" ]; then
  mkdir -p "$PL/xlmig/debs"
  for p in xlmig xlmig-dkms libxlmig1; do
    f=$(ls "$XLMIG_DEBS/${p}_"*.deb 2>/dev/null | head -n 1)
    [ -n "$f" ] || die "$p's .deb missing from XLMIG_DEBS=$XLMIG_DEBS"
    cp "$f" "$PL/xlmig/debs/"
  done
  # dom0 installs them offline: every package they depend on must be in
  # the image (lib/build-image.sh's OTHER_PKGS), else say which, now.
  missing=""
  for d in $(for f in "$PL"/xlmig/debs/*.deb; do dpkg-deb -f "$f" Depends; done |
             tr ',' '\n' | sed 's/(.*//; s/|.*//; s/ //g' | sort -u); do
    case $d in xlmig|xlmig-dkms|libxlmig1) continue;; esac
    awk '/^--- installed/{i=1; next} i{print $1}' "$IMG/versions.txt" | grep -qxF "$d" ||
      missing="$missing $d"
  done
  [ -z "$missing" ] || die "the packages depend on what the dom0 image lacks:$missing (add it to OTHER_PKGS in lib/build-image.sh)"
fi
[ -n "${XLMIG_BIN:-}" ] && cp "$XLMIG_BIN" "$PL/xlmig/xlmig"
[ -n "${XL_FRONT:-}" ] && cp "$XL_FRONT" "$PL/xlmig/xl"
[ -n "${XL_PATCHED:-}" ] && cp "$XL_PATCHED" "$PL/xlmig/xl-patched"
[ -n "${BLKBACK_KO:-}" ] && cp "$BLKBACK_KO" "$PL/xlmig/xen-blkback.ko"
[ -n "${XLMIG_EXTRA_DIR:-}" ] && cp -a "$XLMIG_EXTRA_DIR/." "$PL/xlmig/root/"
ssh-keygen -q -t ed25519 -N '' -C nested-run -f "$PL/ssh/id_ed25519"
ssh-keygen -q -t ed25519 -N '' -C nested-host -f "$PL/ssh/host_ed25519"
log "artefacts: debs=$(ls "$PL/xlmig/debs" 2>/dev/null | tr '\n' ' ')xlmig=${XLMIG_BIN:-none} xl-front=${XL_FRONT:-none} xl-patched=${XL_PATCHED:-none} blkback=${BLKBACK_KO:-none} extra=${XLMIG_EXTRA_DIR:-none}"

# make_payload NAME ROLE SCENARIOS [HOSTNAME LINK_ADDR PEER]
make_payload() {
  local name=$1 v
  {
    printf 'ROLE=%q\nSCENARIOS=%q\nHOSTNAME_SELF=%q\nLINK_ADDR=%q\nPEER=%q\n' \
      "$2" "$3" "${4:-dom0}" "${5:-}" "${6:-}"
    printf 'SCENARIO_TIMEOUT=%q\nPEER_TIMEOUT=%q\n' "$SCENARIO_TIMEOUT" "$STALL_TIMEOUT"
    # scenario knobs and command lines, overridable as NESTED_<NAME>
    for v in S0_CMD S1P_CMD S1N_CMD S2_CMD S2_RECEIVER_RE S3_CMD S3S_CMD S4_CMD \
             S4_BURST S4_RATE S5_CMD S5_PORT S6_CMD S6_BOUND_S S7_CMD S7E_CMD S7L_CMD \
             S8_CMD S8_AC S8_MEM S8_DIRTY_MIB S8_CAP S8_WAIT TARGET_DIR WARM_S AFTER_S RATE \
             MIG_TIMEOUT DISK_MIB; do
      local nv=NESTED_$v
      [ -n "${!nv:-}" ] && printf '%s=%q\n' "$v" "${!nv}"
    done
  } > "$PL/config"
  rm -f "$WORK/$name.img"; truncate -s $(( $(du -sm "$PL" | cut -f1) + 128 ))M "$WORK/$name.img"
  mke2fs -q -t ext4 -L nestedpayload -d "$PL" "$WORK/$name.img"
}

if [ "${NESTED_BUILD_ONLY:-0}" = 1 ]; then
  make_payload solo solo "$SCENARIOS"; log "build only: image $IMG, payload $WORK/solo.img"; exit 0
fi

# ---- 4. boots ----
XEN_CMDLINE_BASE="dom0_mem=1024M,max:1024M console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all noreboot"
DOM0_CMDLINE="root=/dev/vda rw console=hvc0 earlyprintk=xen loglevel=4 init=/usr/local/sbin/nested-init"

# qemu_start NAME SMP PAYLOAD NETARGS... : background QEMU, serial to $WORK/NAME.log
qemu_start() {
  local name=$1 smp=$2 payload=$3; shift 3
  : > "$WORK/$name.log"
  qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu "$QEMU_CPU" -smp "$smp" -m "$QEMU_MEM" \
    -display none -monitor none -serial "file:$WORK/$name.log" -no-reboot \
    -kernel "$IMG/xen" -append "$XEN_CMDLINE_BASE dom0_max_vcpus=$smp" \
    -initrd "$IMG/vmlinuz $DOM0_CMDLINE,$IMG/initrd.img" \
    -drive "file=$IMG/dom0.img,if=virtio,format=raw,cache=unsafe,snapshot=on" \
    -drive "file=$payload,if=virtio,format=raw,cache=unsafe" \
    "$@" < /dev/null > "$WORK/$name.qemu.txt" 2>&1 &
  PIDS+=($!)
  eval "QPID_$name=\$!; QT0_$name=\$(date +%s); QSEEN_$name=0; QLAST_$name=\$(date +%s)"
}
markers() { grep -ao '@@ .*' "$WORK/$1.log" 2>/dev/null | tr -d '\r' || true; }
has_marker() { grep -aq "@@ $2" "$WORK/$1.log" 2>/dev/null; }
alive() { local p="QPID_$1"; kill -0 "${!p}" 2>/dev/null; }
# poll NAME: print new markers (with host time since the QEMU start)
poll() {
  local name=$1 seen="QSEEN_$1" t0="QT0_$1" n
  n=$(markers "$name" | wc -l)
  if [ "$n" -gt "${!seen}" ]; then
    markers "$name" | tail -n +"$(( ${!seen} + 1 ))" | while IFS= read -r l; do
      echo "[$name +$(( $(date +%s) - ${!t0} ))s] $l"
      case "$l" in "@@ XL_READY"*) echo "$(( $(date +%s) - ${!t0} ))" > "$WORK/$name.boot_s";; esac
    done
    eval "QSEEN_$name=$n; QLAST_$name=\$(date +%s)"
  fi
}
qkill() { local p="QPID_$1"; kill "${!p}" 2>/dev/null || true; sleep 1; kill -9 "${!p}" 2>/dev/null || true; }

# boot_wait NAMES...: every instance reaches XL_READY within BOOT_TIMEOUT
boot_wait() {
  local n ok
  while :; do
    ok=1
    for n in "$@"; do
      poll "$n"
      if ! has_marker "$n" XL_READY; then
        ok=0
        local t0="QT0_$n"
        if ! alive "$n" || [ $(( $(date +%s) - ${!t0} )) -gt "$BOOT_TIMEOUT" ]; then
          log "$n: no XL_READY within ${BOOT_TIMEOUT}s (alive=$(alive "$n" && echo yes || echo no)); tail:"
          tail -n 15 "$WORK/$n.log" | tr -d '\r' | sed 's/^/  | /'
          return 1
        fi
      fi
    done
    [ "$ok" = 1 ] && return 0
    sleep 2
  done
}
# run_wait NAMES...: until every instance printed "@@ END" and exited
run_wait() {
  local n busy
  while :; do
    busy=0
    for n in "$@"; do
      poll "$n"
      alive "$n" || continue
      busy=1
      local last="QLAST_$n"
      if has_marker "$n" END; then
        local e="QEND_$n"; [ -n "${!e:-}" ] || eval "QEND_$n=\$(date +%s)"
        e="QEND_$n"; [ $(( $(date +%s) - ${!e} )) -gt 90 ] && { log "$n: no poweroff after END"; qkill "$n"; }
      elif [ $(( $(date +%s) - ${!last} )) -gt "$STALL_TIMEOUT" ]; then
        log "$n: STALLED (no marker for ${STALL_TIMEOUT}s)"; echo stalled > "$WORK/$n.stalled"; qkill "$n"
      fi
    done
    [ "$busy" = 0 ] && return 0
    sleep 2
  done
}
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 30000 ))
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return 0; }
  done
  return 1
}
extract_results() { # NAME: the payload's /results to $WORK/NAME-results
  rm -rf "$WORK/$1-results" "$WORK/results"
  debugfs -R "rdump /results $WORK" "$WORK/$1.img" > /dev/null 2>&1 || true
  [ -d "$WORK/results" ] && mv "$WORK/results" "$WORK/$1-results"
  return 0
}

RETRIES=""
# run_group GROUP NAMES... (solo: "solo"; pair: "a b")
run_solo() {
  make_payload solo solo "$1"
  local attempt
  for attempt in 1 2; do
    qemu_start solo "$SOLO_SMP" "$WORK/solo.img" -nic none
    if boot_wait solo; then break; fi
    qkill solo
    [ "$attempt" = 2 ] && { log "solo: boot stalled twice"; echo "boot stalled twice" > "$WORK/solo.bootfail"; return 1; }
    RETRIES="$RETRIES solo-boot-stalled-retried"; log "solo: boot stalled, retrying once"
  done
  run_wait solo
  extract_results solo
}
run_pair() {
  local attempt port
  make_payload a a "$1" xa 169.254.77.1 xb
  make_payload b b "" xb 169.254.77.2 xa
  for attempt in 1 2; do
    port=$(free_port) || die "no free port"
    qemu_start a "$PAIR_SMP" "$WORK/a.img" \
      -netdev "socket,id=l0,listen=127.0.0.1:$port" -device "virtio-net-pci,netdev=l0,mac=52:54:00:77:00:01"
    for _ in $(seq 1 50); do ss -Htln "sport = :$port" | grep -q . && break; sleep 0.2; done
    qemu_start b "$PAIR_SMP" "$WORK/b.img" \
      -netdev "socket,id=l0,connect=127.0.0.1:$port" -device "virtio-net-pci,netdev=l0,mac=52:54:00:77:00:02"
    if boot_wait a b; then break; fi
    qkill a; qkill b
    [ "$attempt" = 2 ] && { log "pair: boot stalled twice"; echo "boot stalled twice" > "$WORK/a.bootfail"; return 1; }
    RETRIES="$RETRIES pair-boot-stalled-retried"; log "pair: boot stalled, retrying once"
  done
  run_wait a b
  extract_results a; extract_results b
}

solo_set=""; pair_set=""
in_set() { case " $SCENARIOS " in *" $1 "*) return 0;; esac; return 1; }
for s in $SCENARIOS; do
  case "$s" in 3|3s|7) pair_set="$pair_set $s";; P) ;; *) solo_set="$solo_set $s";; esac
done
# P purges the packages: the last of the solo run
if in_set P; then [ -n "${XLMIG_DEBS:-}" ] || die "scenario P needs XLMIG_DEBS"; solo_set="$solo_set P"; fi
solo_set=${solo_set# }; pair_set=${pair_set# }
[ -n "$solo_set" ] && { log "solo run: $solo_set"; run_solo "$solo_set" || true; }
[ -n "$pair_set" ] && { log "two-host run: $pair_set"; run_pair "$pair_set" || true; }

# ---- 5. verdicts ----
results() { cat "$WORK/solo.log" "$WORK/a.log" 2>/dev/null | grep -ao '@@ RESULT .*' | tr -d '\r' || true; }
get() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<< " $1" | head -n 1; }
in_list() { case " $2 " in *" $1 "*) return 0;; esac; return 1; }
rc=0
{
  printf '%-4s %-6s %8s %8s %7s %9s %10s  %s\n' id verdict dom0_s guest_s mig_s down_ms bytes note
  for s in $SCENARIOS; do
    line=$(results | grep " id=$s " | tail -n 1 || true)
    v=$(get "$line" verdict); reason=${line#* reason=}
    case "$s" in 3|3s|7) q=a;; *) q=solo;; esac
    boot=$(cat "$WORK/$q.boot_s" 2>/dev/null || echo -)
    [ -n "$line" ] || { v=FAIL; reason="no result: $(cat "$WORK/$q.bootfail" "$WORK/$q.stalled" 2>/dev/null | tr '\n' ' ')(see $WORK/$q.log)"; }
    if in_list "$s" "$XFAIL"; then
      case "$v" in PASS) v=XPASS; reason="passes now: remove '$s' from XFAIL in tests/nested/run.sh"; rc=1;; *) v=XFAIL;; esac
    elif [ "$v" != PASS ]; then
      v=FAIL; rc=1
    fi
    [ "$v" = PASS ] && reason=""
    printf '%-4s %-6s %8s %8s %7s %9s %10s  %s\n' "$s" "$v" "$boot" "$(get "$line" guest_boot_s)" \
      "$(get "$line" mig_s)" "$(get "$line" downtime_ms)" "$(get "$line" bytes)" "$reason"
  done
} | tee "$WORK/summary.txt"
[ -n "$RETRIES" ] && log "retries:$RETRIES" | tee -a "$WORK/summary.txt"
grep -q '^[^ ]* *\(FAIL\|XPASS\) ' "$WORK/summary.txt" && rc=1
log "image ${IMAGE_S}s, total $(elapsed)s; logs and results in $WORK" | tee -a "$WORK/summary.txt"
pass=$(grep -c '^[^ ]* *PASS ' "$WORK/summary.txt" || true)
xf=$(grep -c '^[^ ]* *XFAIL ' "$WORK/summary.txt" || true)
failed=$(grep -cE '^[^ ]* *(FAIL|XPASS) ' "$WORK/summary.txt" || true)
echo "nested: $xf expected failure(s) (XFAIL)"
echo "nested: $pass passed, $failed failed"
exit "$rc"
}
