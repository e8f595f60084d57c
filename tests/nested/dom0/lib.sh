# Helpers for dom0's init and scenario scripts (sourced, bash).
# Every wait is bounded; every check records a failure reason instead of
# aborting, so a scenario always reaches its verdict line.
# shellcheck shell=bash
G=g1                                   # the test guest's name
VL=/var/lib/xlmig                      # where guest images live
TEMPLATE=$VL/template.img              # generation-0 filled disk, copied per guest
DISK_MIB=${DISK_MIB:-256}
IMGCHECK=/payload/bin/imgcheck
CONSOLE_GLOB="/var/log/xen/console/guest-$G*.log"

up() { cut -d' ' -f1 /proc/uptime; }
mark() { echo "@@ $* up=$(up)"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
field() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<< " $1" | head -n 1; }   # field LINE KEY

# The harness's own ssh commands share one connection per peer (key exchange
# costs seconds under TCG); xl/xlmig's ssh is left as configured.
SSH_MUX=(-o ControlMaster=auto -o ControlPath=/run/nested-ssh-%h -o ControlPersist=1200)
# on HOST CMD: run a shell command locally (HOST empty) or on the peer dom0.
on() {
  local h=$1; shift
  if [ -z "$h" ]; then bash -c "$*"; else timeout 120 ssh -n "${SSH_MUX[@]}" "$h" "$*"; fi
}

# --- verdict bookkeeping -----------------------------------------------------
FAILS=(); METRICS=()
fail() { FAILS+=("$*"); echo "CHECK FAILED: $*"; }
ok() { echo "CHECK ok: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
metric() { METRICS+=("$1=$2"); echo "METRIC $1=$2"; }
verdict() { # prints the one RESULT line the host parses; reason goes last
  local v=PASS reason=ok
  if [ ${#FAILS[@]} -gt 0 ]; then
    v=FAIL; reason=$(printf '%s; ' "${FAILS[@]}"); reason=${reason%; }
  fi
  echo "@@ RESULT id=$SID verdict=$v ${METRICS[*]}${METRICS[*]:+ }reason=$reason"
}

# --- the guest's console (xenconsoled logs, one file per domain name) --------
gwlog() {
  # shellcheck disable=SC2086
  if [ -z "$1" ]; then cat $CONSOLE_GLOB 2>/dev/null | tr -d '\r'
  else on "$1" "cat $CONSOLE_GLOB 2>/dev/null" | tr -d '\r'; fi
}
gwcount() { gwlog "$1" | grep -cE "$2"; }
# (wall-clock deadlines: under TCG every fork costs, loop counts drift)
wait_gw() { # wait_gw HOST REGEX MIN_COUNT TIMEOUT_S
  local end=$((SECONDS + $4))
  while [ "$SECONDS" -lt "$end" ]; do
    [ "$(gwcount "$1" "$2")" -ge "$3" ] && return 0
    sleep 2
  done
  return 1
}
last_hb() { gwlog "$1" | grep -o 'GW_HB .*' | tail -n 1; }
gw_final() { gwlog "$1" | grep -o 'GW_FINAL .*' | tail -n 1; }

domid_of() { on "$1" "xl domid $G 2>/dev/null"; }
disk_path_of() { # the image the running domain's vbd backend uses
  local id; id=$(domid_of "$1") || return 1
  on "$1" "xenstore-ls /local/domain/0/backend/vbd/$id 2>/dev/null" | sed -n 's/^ *params = "\(.*\)"$/\1/p' | head -n 1
}

# guest_up IMG RATE REGION_MIB [BURST]: fresh image + guest here; sets GUEST_BOOT_S
# (GUEST_MEM MiB of memory, 128; GUEST_EXTRA more kernel arguments, e.g.
# gw.mem=96 for the memory dirtier; GUEST_CAP: a CPU cap in the config)
guest_up() {
  local img=$1 rate=$2 region=$3 burst=${4:-1} t0 rc
  mkdir -p "$VL"
  if [ ! -f "$TEMPLATE" ]; then
    t0=$(now); "$IMGCHECK" fill "$TEMPLATE" "$DISK_MIB" || { fail "imgcheck fill"; return 1; }
    echo "template filled in $(since "$t0") s"
  fi
  # shellcheck disable=SC2086
  rm -f $CONSOLE_GLOB
  cp --sparse=never "$TEMPLATE" "$img" || { fail "copy template"; return 1; }
  sed -e "s#@NAME@#$G#" -e "s#@KERNEL@#/boot/vmlinuz-$(uname -r)#" -e "s#@DISK@#$img#" \
      -e "s#@RATE@#$rate#" -e "s#@REGION@#$region#" -e "s#@VERIFY@#1#" -e "s#@BURST@#$burst#" \
      -e "s#@MEMORY@#${GUEST_MEM:-128}#" -e "s#@EXTRA@#${GUEST_EXTRA:-}#" \
      -e "s#@CAPLINE@#${GUEST_CAP:+cap = $GUEST_CAP}#" \
      /payload/guest/g1.cfg.in > "$VL/$G.cfg"
  t0=$(now)
  timeout 180 xl create "$VL/$G.cfg"; rc=$?
  metric create_s "$(since "$t0")"
  [ "$rc" = 0 ] || { fail "xl create rc=$rc"; return 1; }
  if ! wait_gw "" GW_HB 1 240; then
    fail "no guest heartbeat within 240 s"; gwlog "" | tail -n 30; return 1
  fi
  GUEST_BOOT_S=$(since "$t0"); metric guest_boot_s "$GUEST_BOOT_S"
  gwlog "" | grep -E 'GW_START|GUEST_DISK|GUEST_ERROR'
  mark "GUEST_UP domid=$(domid_of "") boot_s=$GUEST_BOOT_S"
}

# guest_running_on HOST MORE_HB TIMEOUT: the guest exists there and keeps beating
guest_beats() {
  local h=$1 n
  n=$(gwcount "$h" GW_HB)
  wait_gw "$h" GW_HB $((n + $2)) "$3"
}

# guest_stop HOST: stop the writer (xenstore, then xl shutdown), destroy the domain
guest_stop() {
  local h=$1 id
  id=$(domid_of "$h") || { fail "no domain $G on ${h:-local} to stop"; return 1; }
  on "$h" "xenstore-write /local/domain/$id/data/gwctl stop"
  if ! wait_gw "$h" GW_FINAL 1 60; then
    echo "no GW_FINAL after the xenstore stop: xl shutdown"
    on "$h" "timeout 90 xl shutdown -w $G"
    wait_gw "$h" GW_FINAL 1 10
  fi
  on "$h" "xl list $G >/dev/null 2>&1 && xl destroy $G"
  sleep 2
}

# check_final HOST IMG: the guest never saw a bad block, and IMG equals its model
check_final() {
  local h=$1 img=$2 fin out d
  fin=$(gw_final "$h")
  echo "guest final: $fin"
  [ -n "$fin" ] || { fail "no GW_FINAL from the guest"; return 1; }
  metric writes "$(field "$fin" writes)"
  metric guest_vfail "$(field "$fin" vfail)"
  metric guest_maxgap_ms "$(field "$fin" maxgap_ms)"
  [ "$(field "$fin" vfail)" = 0 ] || fail "guest verification failures: $(field "$fin" vfail)"
  [ "$(field "$fin" ioerr)" = 0 ] || fail "guest I/O errors: $(field "$fin" ioerr)"
  [ "$(field "$fin" writes)" -gt 0 ] 2>/dev/null || fail "guest wrote nothing"
  gwlog "$h" | grep -E 'GW_(VFAIL|IOERR)' | head -n 5
  out=$(on "$h" "$IMGCHECK check $img"); echo "$out" | tail -n 4
  d=$(field "$(echo "$out" | grep IMGCHECK)" digest)
  [ "$(field "$(echo "$out" | grep IMGCHECK)" bad)" = 0 ] || fail "image $img has bad blocks"
  if [ -n "$d" ] && [ "$d" = "$(field "$fin" digest)" ]; then
    ok "image digest $d = guest model digest"
  else
    fail "image digest ${d:-none} != guest digest $(field "$fin" digest)"
  fi
}

# downtime as the guest saw it: largest I/O completion gap after guest time T
guest_downtime() { # guest_downtime T_PRE HOSTS...
  local t=$1 h; shift
  {
    for h in "$@"; do gwlog "$h"; done
  } | grep -o 'GW_GAP .*' | awk -v t="$t" '{ms=0; at=0
      for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "ms") ms = kv[2]; if (kv[1] == "at") at = kv[2] }
      if (at >= t && ms > m) m = ms } END { if (m) print m; else print "<200" }'
}

# migrate LABEL CMD...: timed; sets MIG_RC, MIG_S; log in $LOGDIR/mig-LABEL.log
# Earlier migrations' engine logs and status files on HOST go (they were
# collected with their scenario): what a scenario reads back is its own.
forget_xlmig() { # HOST
  on "$1" "rm -f /var/log/xlmig/*.log /run/xlmig/*.status"
}

migrate() {
  local label=$1 t0; shift
  forget_xlmig ""
  echo "migrate: $*"
  t0=$(now)
  timeout -k 10 "${MIG_TIMEOUT:-600}" "$@" > "$LOGDIR/mig-$label.log" 2>&1; MIG_RC=$?
  MIG_S=$(since "$t0")
  grep -vE '^\s*$' "$LOGDIR/mig-$label.log" | tail -n 15
  mark "MIGRATE $label rc=$MIG_RC secs=$MIG_S"
}

# bytes moved: the data channel's bytes (both directions) from the source
# engine's JSON report ("wire_bytes":N), which after post-copy is in its log
# (/var/log/xlmig/<uuid>.source.log); else any "bytes sent|moved=N"; else none
bytes_from_log() { # FILES...
  local v
  v=$(cat "$@" 2>/dev/null | grep -ao '"wire_bytes":[0-9]*' | tail -n 1 | grep -oE '[0-9]+$')
  [ -n "$v" ] || v=$(cat "$@" 2>/dev/null | grep -aoiE "bytes[_ -]?(sent|moved|total|transferred)?[=: ]+[0-9]+" | tail -n 1 | grep -oE '[0-9]+$')
  echo "${v:-none}"
}
# did the disks go post-copy? ("postcopy":true|false in the same report)
postcopy_from_log() { # FILES...
  local v
  v=$(cat "$@" 2>/dev/null | grep -ao '"postcopy":[a-z]*' | tail -n 1 | cut -d: -f2)
  case "$v" in true) echo yes;; false) echo no;; *) echo unknown;; esac
}

# xlmig jobinfo, sampled while a migration runs: every sample goes to
# $LOGDIR/jobinfo-LABEL.txt, a one-line digest of it to the console.
jobinfo_start() { # LABEL HOST
  local f=$LOGDIR/jobinfo-$1.txt h=$2 n=0
  : > "$f"
  ( while :; do
      out=$(on "$h" "xlmig jobinfo $G" 2>&1)
      { echo "=== $(date +%T) up=$(up)"; echo "$out"; } >> "$f"
      if [ $((n % 3)) = 0 ]; then
        echo "JOBINFO $(awk '{l = substr($0, 1, 24); sub(/ +$/, "", l); v = substr($0, 26)}
          l == "Job:" {r = v; sub(/storage migration, /, "", r); sub(/ side/, "", r)}
          l == "State" {printf "%s:%s", r, v} l == "Phase" {printf "/%s", v}
          l == "Remaining (bytes)" {printf " rem=%s", v} l == "Sent (bytes)" {printf " sent=%s", v}
          /^$/ {printf "; "}' <<< "$out")"
      fi
      n=$((n + 1)); sleep 5
    done ) &
  JOBINFO_PID=$!
}
jobinfo_stop() { # LABEL HOSTS...: stop sampling, record the final state
  local l=$1 h; shift
  [ -n "${JOBINFO_PID:-}" ] && { kill "$JOBINFO_PID" 2>/dev/null; wait "$JOBINFO_PID" 2>/dev/null; }
  JOBINFO_PID=""
  for h in "$@"; do
    { echo "=== final on ${h:-local} $(date +%T)"; on "$h" "xlmig jobinfo $G; xlmig jobinfo --json $G"; } >> "$LOGDIR/jobinfo-$l.txt" 2>&1
  done
}
# the engines' logs and status files of HOST into $LOGDIR/xlmig-LABEL-HOST/
collect_xlmig() { # LABEL HOST
  local d=$LOGDIR/xlmig-$1-${2:-local}
  mkdir -p "$d"
  on "$2" "cd / && tar cf - var/log/xlmig run/xlmig 2>/dev/null" | tar xf - -C "$d" 2>/dev/null
}

# leftovers on HOST: domains in transit, loop devices on IMG, xlmig processes
# (waited for up to WAIT_S, default 60: post-copy may still be finishing)
no_leftovers() { # HOST IMG [WAIT_S]
  local h=$1 img=$2 end=$((SECONDS + ${3:-60})) names
  names=$(on "$h" "xl list | awk 'NR>1{print \$1}'" | tr '\n' ' ')
  echo "domains on ${h:-local}: $names"
  case " $names" in *--incoming*|*--migratedaway*) fail "leftover domain on ${h:-local}: $names";; esac
  if [ -n "$img" ] && on "$h" "losetup -a" | grep -qF "($img)"; then fail "loop device still on $img (${h:-local})"; fi
  # (the jobinfo sampler's own "xlmig jobinfo" does not count)
  while on "$h" "pgrep -a -x xlmig | grep -qv ' jobinfo '"; do
    [ "$SECONDS" -ge "$end" ] && { fail "xlmig still running on ${h:-local}: $(on "$h" "pgrep -a xlmig" | tr '\n' ' ')"; break; }
    sleep 2
  done
}

need_xlmig() {
  command -v xlmig >/dev/null || { fail "xlmig-absent"; return 1; }
  # the front: /usr/sbin/xl from the package, or copied to /usr/local/sbin
  [ "$(command -v xl)" = /usr/local/sbin/xl ] || grep -q '^# xl-front: ' "$(command -v xl)" 2>/dev/null ||
    [ "${XL_VIA:-}" = patched ] || { fail "xl-front-absent"; return 1; }
  [ "$(cat /run/blkback-patched 2>/dev/null)" = yes ] || { fail "patched-blkback-absent-or-not-loaded"; return 1; }
}

# The phases of the storage migrations jobinfo lists on this host, one line
job_phases() {
  xlmig jobinfo "$G" 2>/dev/null | awk 'substr($0, 1, 6) == "Phase " {print substr($0, 26)}' | tr '\n' ' '
}
# wait_log REGEX TIMEOUT_S FILES...: a line matching REGEX appears in FILES
wait_log() {
  local re=$1 end=$((SECONDS + $2)); shift 2
  until cat "$@" 2>/dev/null | grep -qE "$re"; do
    [ "$SECONDS" -ge "$end" ] && return 1
    sleep 1
  done
}
# The processes of xlmig's receiving side here (migrate-receive and its
# engine), not the ssh or shell processes that carry the command line
receiver_pids() {
  local p
  for p in $(pgrep -f "migrate-receive"); do
    case "$(cat "/proc/$p/comm" 2>/dev/null)" in ssh|sshd|sh|bash|timeout|"") ;; *) echo "$p";; esac
  done
}
