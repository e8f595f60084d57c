#!/bin/bash
# PID 1 of the nested dom0 (init=/usr/local/sbin/blkmig-dom0-init).  Loads
# the patched xen-blkback before any guest starts, then checks it against
# real PV guests.  Every check prints "@@ CHECK <name> rc=<0|1> <detail>";
# the run ends with "@@ END".
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
T=/usr/local/bin/blkmig-test
DEV=51712                       # xvda
up() { cut -d' ' -f1 /proc/uptime; }
mark() { echo "@@ $* t=$(up)"; }
check() { # check NAME RC DETAIL...: prints, returns RC
	local name=$1 rc=$2; shift 2
	[ "$rc" = 0 ] || rc=1
	echo "@@ CHECK $name rc=$rc $* t=$(up)"
	return $rc
}
diag() { # state dump after a failure that ends a section
	echo "---- diag: $*"
	tail -n 15 /tmp/create-*.log 2>/dev/null
	xl list; xl dmesg | tail -n 15; dmesg | tail -n 25
	xenstore-ls -f /local/domain/0/backend/vbd 2>/dev/null | grep -vE 'feature|sector|info|mode|params|frontend' | head -n 30
	for f in /var/log/xen/console/guest-*.log; do echo "-- $f"; tail -n 8 "$f"; done
	tail -n 20 /var/log/xen/xl-*.log 2>/dev/null
	echo "-- hotplug log"; tail -n 60 /var/log/xen/xen-hotplug.log 2>/dev/null
	cat /tmp/stuck.txt 2>/dev/null
}
finish() { dmesg | tail -n 40; mark "END"; sync; sleep 1; echo o > /proc/sysrq-trigger; sleep 30; }

mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
mkdir -p /run/lock /var/log/xen/console
hostname dom0; ip link set lo up

# ---- module: ours, loaded before any guest --------------------------------
modprobe -a xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd loop dm-delay
modprobe xen-blkback
# Only the patched module creates the device; out of tree, it taints O.
file=$(modinfo -F filename xen-blkback)
taint=$(cat /sys/module/xen_blkback/taint 2>/dev/null)
echo "vermagic: $(modinfo -F vermagic xen-blkback) kernel: $(uname -r)"
[ "$file" = "/lib/modules/$(uname -r)/updates/xen-blkback.ko" ] &&
	[ -c /dev/xen/blkback-migrate ] && case $taint in *O*) true;; *) false;; esac
check module_loaded $? "file=$file taint=$taint dev=$(ls -l /dev/xen/blkback-migrate 2>&1)"
timeout 120 /etc/init.d/xen start > /tmp/xen-start.log 2>&1
check xen_start $? "$(tail -n 2 /tmp/xen-start.log | tr '\n' ' ')"
timeout 60 xl info > /tmp/xlinfo 2>&1
rc=$?; check xl_info $rc "$(grep -E '^(xen_version|release) ' /tmp/xlinfo | tr -s ' ' | tr '\n' ' ')"
[ $rc = 0 ] || finish

# ---- guests ----------------------------------------------------------------
glog() { echo "/var/log/xen/console/guest-$1.log"; }
gwait() { # gwait GUEST REGEX TIMEOUT: 0 once the guest's console matches
	local t=0
	while [ "$t" -lt "$3" ]; do
		grep -aqE "$2" "$(glog "$1")" 2>/dev/null && return 0
		sleep 1; t=$((t + 1))
	done
	return 1
}
declare -A MBOX
gcmd() { # gcmd GUEST ID COMMAND...: mailbox write, wait until the guest got it
	local g=$1 id=$2; shift 2
	printf '%s %s\n' "$id" "$*" |
		dd of="${MBOX[$g]}" bs=512 count=1 conv=sync,notrunc oflag=direct 2>/dev/null
	gwait "$g" "@G $id got" 60 || echo "guest $g did not take command $id"
}
wcount() { grep -ac '^@W ' "$(glog "$1")"; }
# The writer's blocks 1000-1063, read in one O_DIRECT request (dm-delay
# delays each request by 60 ms).
wsum() { # wsum [FILE]: hash of the blocks (kept in FILE)
	dd if=/dev/mapper/gslow of="${1:-/tmp/w.bin}" bs=256K count=1 skip=$((1000 * 4096)) iflag=direct,skip_bytes 2>/dev/null
	md5sum < "${1:-/tmp/w.bin}" | cut -c1-12
}
wdiff() { # blocks that differ between two wsum files, with both contents
	local i
	for i in $(seq 0 63); do
		a=$(dd if="$1" bs=4096 skip=$i count=1 2>/dev/null | head -c 16 | tr -d '\000\n')
		b=$(dd if="$2" bs=4096 skip=$i count=1 2>/dev/null | head -c 16 | tr -d '\000\n')
		[ "$a" = "$b" ] || echo "block $((1000 + i)): $a -> $b"
	done
}
mkguest() { # mkguest NAME XVDA XVDB [-p]: create (paused with -p)
	sed -e "s#NAME#$1#" -e "s#XVDA#$2#" -e "s#XVDB#$3#" /guest/template.cfg > "/tmp/$1.cfg"
	MBOX[$1]=$3
	dd if=/dev/zero of="$3" bs=512 count=8 oflag=direct 2>/dev/null
	timeout 180 xl create $4 "/tmp/$1.cfg" > "/tmp/create-$1.log" 2>&1 &
	local pid=$! t=0
	while kill -0 $pid 2>/dev/null; do
		sleep 1; t=$((t + 1))
		[ $t = 30 ] || continue
		# Still creating after 30 s: record what the tools wait on.
		{
			echo "-- processes 30 s into xl create"
			ps -eo pid,ppid,stat,wchan:32,args
			for p in $(pgrep -f 'scripts/block') $(pgrep xenwatch) $(pgrep xenbus); do
				echo "stack $p $(tr '\0' ' ' < "/proc/$p/cmdline"):"; cat "/proc/$p/stack"
				for c in $(pgrep -P "$p"); do echo "child $c: $(tr '\0' ' ' < "/proc/$c/cmdline")"; cat "/proc/$c/stack"; done
			done
			echo w > /proc/sysrq-trigger; dmesg | tail -n 60
		} > /tmp/stuck.txt 2>&1
	done
	wait $pid
}
sysmig() { cat "/sys/bus/xen-backend/devices/vbd-$1-$DEV/migrate/$2" 2>/dev/null; }
val() { sed -n "s/^$1=//p" "$2" | tail -n1; }

# ---- 1. tracking on a live guest, dm-delay under its disk ------------------
sec_tracking() {
dd if=/dev/zero of=/var/lib/g1.img bs=1M count=64 status=none
dd if=/dev/zero of=/var/lib/g1m.img bs=1M count=1 status=none
losetup /dev/loop0 /var/lib/g1.img; losetup /dev/loop1 /var/lib/g1m.img
dmsetup create --noudevsync gslow --table "0 $((64 * 2048)) delay /dev/loop0 0 60"
dmsetup mknodes gslow
check dm_delay $? "$(dmsetup table gslow)" || { diag dm; return; }
mkguest g1 /dev/mapper/gslow /dev/loop1
check create_g1 $? "$(tail -n 2 /tmp/create-g1.log | tr '\n' ' ')" || { diag create; return; }
gwait g1 "@G disks" 300
check boot_g1 $? "$(grep -a '@G disks' "$(glog g1)")" || { diag boot; return; }
D1=$(xl domid g1); BE1=/local/domain/0/backend/vbd/$D1/$DEV

$T "$D1" $DEV track-start 4096 > /tmp/t.out 2>&1
check track_start $? "xenstore=$(xenstore-read "$BE1/migrate-tracking") sysfs=$(sysmig "$D1" tracking)"
$T "$D1" $DEV snapshot > /tmp/s0.out 2>&1
gcmd g1 11 write 100 3 T1; gwait g1 "@G 11 done rc=0" 60
gcmd g1 12 write 200 1 T1; gwait g1 "@G 12 done rc=0" 60
gcmd g1 13 write 5000 1 T1; gwait g1 "@G 13 done rc=0" 60
$T "$D1" $DEV snapshot > /tmp/s1.out 2>&1
got=$(grep '^extent=' /tmp/s1.out | tr '\n' ' ')
[ "$got" = "extent=100+3 extent=200+1 extent=5000+1 " ]
check snapshot_exact $? "got: $got (from $(cat /tmp/s0.out | tr '\n' ' '))"
$T "$D1" $DEV snapshot > /tmp/s2.out 2>&1
[ "$(val snapshot_blocks /tmp/s2.out)" = 0 ]
check snapshot_cleared $? "$(tr '\n' ' ' < /tmp/s2.out)"

# ---- 2. continuous writer: a pre-copy, then exact after pause --------------
dd if=/dev/mapper/gslow of=/var/lib/dest.img bs=1M iflag=direct status=none
gcmd g1 20 writer 1000 64; gwait g1 "@G 20 done" 30
rounds=0; copied=0
for i in 1 2 3 4 5 6; do
	sleep 1
	$T "$D1" $DEV snapshot /var/lib/dest.img > /tmp/r.out 2>&1 || break
	copied=$((copied + $(val snapshot_blocks /tmp/r.out))); rounds=$((rounds + 1))
done
check precopy_rounds $([ $rounds = 6 ] && [ "$(wcount g1)" -gt 0 ]; echo $?) \
	"rounds=$rounds blocks_copied=$copied acked_writes=$(wcount g1) dirty_now=$(sysmig "$D1" dirty)"

# ---- 3. quiesce: waits for in-flight writes, holds the guest, resumes ------
$T "$D1" $DEV quiesce-snapshot 10000 20000 /var/lib/dest.img > /tmp/q.out 2>&1 &
qpid=$!
for i in $(seq 600); do grep -q '^snapshot_blocks=' /tmp/q.out && break; sleep 0.1; done
# While held, nothing reaches the disk (its content does not change) and
# nothing is in flight; after it, the writer goes on.
c1=$(wcount g1); qd=$(sysmig "$D1" quiesced); inf=$(sysmig "$D1" inflight)
q1=$(sysmig "$D1" quiesced); u1=$(up); h1=$(wsum /tmp/w1.bin); sleep 1.5; h2=$(wsum /tmp/w2.bin); u2=$(up); q2=$(sysmig "$D1" quiesced)
[ "$h1" = "$h2" ] || { echo "-- changed while quiesced:"; wdiff /tmp/w1.bin /tmp/w2.bin; cat /tmp/q.out | head -n 30; grep -a '^@W' "$(glog g1)" | tail -n 15; }
wait $qpid; qrc=$?
sleep 3; c3=$(wcount g1); h3=$(wsum)
[ $qrc = 0 ] && [ "$qd" = 1 ] && [ "$q1$q2" = 11 ] && [ "$inf" = 0 ] && [ "$h1" = "$h2" ] && [ "$h3" != "$h2" ]
check quiesce $? "rc=$qrc quiesce_ms=$(val quiesce_ms /tmp/q.out) quiesced=$qd$q1$q2 inflight=$inf disk_unchanged_while_held=$([ "$h1" = "$h2" ] && echo yes || echo no) changed_after=$([ "$h3" != "$h2" ] && echo yes || echo no) acked=$c1->$c3 h=$h1/$h2/$h3 held=$(val held_at /tmp/q.out)-$(val released_at /tmp/q.out) sampled=$u1-$u2"
$T "$D1" $DEV quiesce-exit 10000 > /tmp/qe.out 2>&1
qerc=$?; sleep 0.5; qd=$(sysmig "$D1" quiesced); h4=$(wsum); sleep 3; h5=$(wsum)
[ $qerc = 0 ] && [ "$qd" = 0 ] && [ "$h5" != "$h4" ]
check quiesce_released_on_exit $? "rc=$qerc quiesced_after_exit=$qd writer_went_on=$([ "$h5" != "$h4" ] && echo yes || echo no)"

gcmd g1 30 stopwriter; gwait g1 "@G 30 done" 60
xl pause g1
$T "$D1" $DEV quiesce-snapshot 10000 0 /var/lib/dest.img > /tmp/f.out 2>&1
frc=$?
dd if=/dev/mapper/gslow of=/var/lib/src.img bs=1M iflag=direct status=none
cmp /var/lib/src.img /var/lib/dest.img > /tmp/cmp.out 2>&1
crc=$?
[ $frc = 0 ] && [ $crc = 0 ]
check final_copy_exact $? "final_blocks=$(val snapshot_blocks /tmp/f.out) cmp: $(head -c 200 /tmp/cmp.out) acked_writes=$(wcount g1) $(grep -a 'writer stopped' "$(glog g1)")"
xl unpause g1
$T "$D1" $DEV track-stop > /tmp/ts.out 2>&1
check track_stop $? "xenstore=$(xenstore-read "$BE1/migrate-tracking") sysfs=$(sysmig "$D1" tracking)"
# Destroyed while tracking: the backend node must go away for good (the
# migrate-track watch fires on its removal too).
$T "$D1" $DEV track-start 4096 > /tmp/t2.out 2>&1
tb=$(sysmig "$D1" tracking)
timeout 60 xl destroy g1; check destroy_g1 $? "tracking_before=$tb"
sleep 3
! xenstore-exists "/local/domain/0/backend/vbd/$D1"
check backend_node_gone $? "$(xenstore-ls -f "/local/domain/0/backend/vbd/$D1" 2>&1 | head -n 3 | tr '\n' ' ')"
sleep 1; dmsetup remove gslow; losetup -d /dev/loop0 /dev/loop1
}

# ---- 4. the gate on a destination guest ------------------------------------
sec_gate() {
dd if=/dev/zero of=/var/lib/g2.img bs=1M count=64 status=none
dd if=/dev/zero of=/var/lib/g2m.img bs=1M count=1 status=none
for b in $(seq 2048 2111); do
	printf 'OLD-%s\n' "$b" | dd of=/var/lib/g2.img bs=4096 seek="$b" count=1 conv=sync,notrunc 2>/dev/null
done
losetup /dev/loop2 /var/lib/g2.img; losetup /dev/loop3 /var/lib/g2m.img
mkguest g2 /dev/loop2 /dev/loop3 -p
check create_g2_paused $? "$(tail -n 1 /tmp/create-g2.log)" || { diag create; return; }
D2=$(xl domid g2)
$T "$D2" $DEV gate-start 4096 2048+64 > /tmp/g.out 2>&1
[ $? = 0 ] && [ "$(val stale /tmp/g.out)" = 64 ] && [ "$(val gate /tmp/g.out)" = 1 ]
check gate_start $? "stale=$(val stale /tmp/g.out) data_path=$(val data_path /tmp/g.out)"
$T "$D2" $DEV claim-exit 2048 4 > /tmp/ce.out 2>&1
$T "$D2" $DEV stats > /tmp/st.out 2>&1
[ "$(val claimed /tmp/ce.out)" = 4 ] && [ "$(val claimed /tmp/st.out)" = 0 ]
check claim_released_on_exit $? "claimed_by_dead=$(val claimed /tmp/ce.out) claimed_after=$(val claimed /tmp/st.out)"
xl unpause g2
gwait g2 "@G disks" 300
check boot_g2 $? "$(grep -a '@G disks' "$(glog g2)")" || { diag boot; return; }

gcmd g2 21 write 2060 1 GW
gwait g2 "@G 21 done rc=0" 30 && [ "$(sysmig "$D2" overwritten)" = 1 ] && [ "$(sysmig "$D2" stale)" = 63 ]
check full_write_not_held $? "overwritten=$(sysmig "$D2" overwritten) stale=$(sysmig "$D2" stale)"
# A read of a stale block waits until the block is installed.
gcmd g2 23 read 2050
for i in $(seq 60); do [ "$(sysmig "$D2" parked)" = 1 ] && break; sleep 1; done
sleep 2
! grep -aq "@G 23 read" "$(glog g2)" && [ "$(sysmig "$D2" parked)" = 1 ]
check read_held $? "parked=$(sysmig "$D2" parked) wanted=$(sysmig "$D2" wanted)" || diag read
$T "$D2" $DEV wanted 2000 > /tmp/w.out 2>&1
grep -q '^wanted=2050+1' /tmp/w.out
check wanted_pollable $? "$(tr '\n' ' ' < /tmp/w.out)"
$T "$D2" $DEV install 2050 1 INST > /tmp/i1.out 2>&1
[ $? = 0 ] && [ "$(val claimed /tmp/i1.out)" = 1 ] && gwait g2 "@G 23 read 2050 \[INST-2050\]" 60
check read_released_by_install $? "claimed=$(val claimed /tmp/i1.out) $(grep -a '@G 23 read' "$(glog g2)")"
# A write covering a stale block only partly waits too.
gcmd g2 22 pwrite $((2070 * 8 + 1)) PW
for i in $(seq 60); do [ "$(sysmig "$D2" parked)" = 1 ] && break; sleep 1; done
sleep 2
! grep -aq "@G 22 done" "$(glog g2)" && [ "$(sysmig "$D2" parked)" = 1 ]
check partial_write_held $? "parked=$(sysmig "$D2" parked) wanted=$(sysmig "$D2" wanted)" || diag pwrite
# Installing the whole range skips block 2060, which the guest wrote.
$T "$D2" $DEV install 2048 64 INST > /tmp/i.out 2>&1
irc=$?
[ $irc = 0 ] && [ "$(val claimed /tmp/i.out)" = 62 ] && ! grep -q '^installed_block=2060$' /tmp/i.out
check install_skips_guest_write $? "rc=$irc claimed=$(val claimed /tmp/i.out) written=$(val written /tmp/i.out)"
gwait g2 "@G 22 done rc=0" 60
check held_requests_released $? "$(grep -aE '@G 22 done' "$(glog g2)" | tr '\n' ' ')"
gcmd g2 24 read 2060; gcmd g2 25 rsect $((2070 * 8)); gcmd g2 26 rsect $((2070 * 8 + 1))
gwait g2 "@G 24 read 2060 \[GW-2060\]" 30 && gwait g2 "@G 25 rsect 16560 \[INST-2070\]" 30 &&
	gwait g2 "@G 26 rsect 16561 \[PW-16561\]" 30
check guest_data_after_install $? "$(grep -aE '@G 2[456] (read|rsect)' "$(glog g2)" | tr '\n' ' ')"
$T "$D2" $DEV stats > /tmp/st.out 2>&1
[ "$(val stale /tmp/st.out)" = 0 ] && [ "$(val parked /tmp/st.out)" = 0 ] &&
	[ "$(val installed /tmp/st.out)" = 63 ] && [ "$(val overwritten /tmp/st.out)" = 1 ]
check gate_counts $? "$(grep -E '^(stale|parked|installed|overwritten|claimed|wanted)=' /tmp/st.out | tr '\n' ' ')"
$T "$D2" $DEV gate-stop > /tmp/gs.out 2>&1
check gate_stop $? "sysfs gate=$(sysmig "$D2" gate)"
timeout 60 xl destroy g2; check destroy_g2 $? ""
sleep 1; losetup -d /dev/loop2 /dev/loop3
}

# ---- 5. destroying a domain while the gate holds its requests ---------------
sec_destroy() {
dd if=/dev/zero of=/var/lib/g3.img bs=1M count=64 status=none
dd if=/dev/zero of=/var/lib/g3m.img bs=1M count=1 status=none
losetup /dev/loop4 /var/lib/g3.img; losetup /dev/loop5 /var/lib/g3m.img
mkguest g3 /dev/loop4 /dev/loop5 -p || { diag create; return; }
D3=$(xl domid g3)
$T "$D3" $DEV gate-start 4096 3000+10 > /tmp/g3.out 2>&1
check gate_start_g3 $? "stale=$(val stale /tmp/g3.out)"
xl unpause g3
gwait g3 "@G disks" 300; check boot_g3 $? "" || { diag boot; return; }
gcmd g3 31 read 3001; gcmd g3 32 read 3005
for i in $(seq 60); do [ "$(sysmig "$D3" parked)" = 2 ] && break; sleep 1; done
[ "$(sysmig "$D3" parked)" = 2 ]
check held_before_destroy $? "parked=$(sysmig "$D3" parked)"
s=$(date +%s.%N)
timeout 60 xl destroy g3; drc=$?
check destroy_with_held_requests $drc "secs=$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')"
sleep 2
$T "$D3" $DEV stats > /tmp/gone.out 2>&1
[ $? != 0 ] && [ ! -e "/sys/bus/xen-backend/devices/vbd-$D3-$DEV" ]
check vbd_gone $? "$(tr '\n' ' ' < /tmp/gone.out)"
losetup -d /dev/loop4 /dev/loop5; check loop_released $? ""
}

sec_tracking
sec_gate
sec_destroy

# ---- 6. clean module unload, no kernel complaint ----------------------------
rmmod xen_blkback; rmrc=$?
sleep 1
dmesg > /tmp/dmesg.txt
bad=$(grep -cE 'BUG|WARNING|Oops|general protection|corruption|still has objects|refcount_t' /tmp/dmesg.txt)
[ $rmrc = 0 ] && [ "$bad" = 0 ]
check rmmod_and_dmesg_clean $? "rmmod=$rmrc suspicious_lines=$bad"
grep -E 'BUG|WARNING|Oops|general protection|corruption|still has objects|refcount_t' /tmp/dmesg.txt | head -n 20
finish
