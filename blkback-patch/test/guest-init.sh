#!/bin/busybox sh
# PID 1 of the test guest (busybox initramfs).  xvda is the disk under test,
# xvdb a mailbox: dom0 writes "ID COMMAND ARGS" into its first sector and the
# guest runs each new line once, reporting on the console (hvc0):
#   ID write BLOCK N TAG   write "TAG-b" to 4 KiB blocks BLOCK..BLOCK+N-1
#   ID pwrite SECTOR TAG   write "TAG-SECTOR" to one 512-byte sector
#   ID read BLOCK          print the start of a 4 KiB block (in background)
#   ID rsect SECTOR        print the start of a 512-byte sector (background)
#   ID writer BLOCK N      keep writing blocks BLOCK..BLOCK+N-1 round robin
#   ID stopwriter
# Every I/O is O_DIRECT.  Reports: "@G ID ..." lines; the writer prints
# "@W SEQ BLOCK" after each acknowledged write.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "@G boot"
insmod /lib/modules/xen-blkfront.ko
n=0; while [ ! -b /dev/xvdb ] && [ $n -lt 300 ]; do sleep 0.2; n=$((n+1)); done
[ -b /dev/xvda ] && [ -b /dev/xvdb ] && echo "@G disks xvda=$(cat /sys/block/xvda/size)"

blk() { printf '%s-%s\n' "$2" "$1" | dd of=/dev/xvda bs=4096 seek="$1" count=1 conv=sync,notrunc oflag=direct 2>/dev/null; }
rd() { dd if=/dev/xvda bs="$2" skip="$1" count=1 iflag=direct 2>/dev/null | head -c 40 | tr -d '\000' | head -n1; }

writer() {
	seq=0
	while [ ! -e /tmp/stop ]; do
		b=$(($1 + seq % $2))
		blk "$b" "W$seq" && echo "@W $seq $b"
		seq=$((seq + 1))
	done
	rm -f /tmp/stop
	echo "@G writer stopped after $seq"
}

run() {
	id=$1; shift
	echo "@G $id got $1"
	case "$1" in
	write)
		rc=0; i=0
		while [ $i -lt "$3" ]; do blk $(($2 + i)) "$4" || rc=1; i=$((i + 1)); done
		echo "@G $id done rc=$rc";;
	pwrite)
		printf '%s-%s\n' "$3" "$2" | dd of=/dev/xvda bs=512 seek="$2" count=1 conv=sync,notrunc oflag=direct 2>/dev/null
		echo "@G $id done rc=$?";;
	read)
		echo "@G $id read $2 [$(rd "$2" 4096)]";;
	rsect)
		echo "@G $id rsect $2 [$(rd "$2" 512)]";;
	writer)
		writer "$2" "$3" &
		echo "@G $id done rc=0";;
	stopwriter)
		touch /tmp/stop
		while [ -e /tmp/stop ]; do sleep 0.1; done
		echo "@G $id done rc=0";;
	*)
		echo "@G $id unknown";;
	esac
}

last=""
while true; do
	line=$(dd if=/dev/xvdb bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\000' | head -n1)
	if [ -n "$line" ] && [ "$line" != "$last" ]; then
		last=$line
		# shellcheck disable=SC2086
		run $line &
	fi
	sleep 0.2
done
