#!/bin/busybox sh
# shellcheck shell=dash
# /init of the lab's guest (PID 1, busybox sh), packed into the base initramfs by
# scripts/lab/initramfs.sh. Serial ports (scripts/lab/boot.sh):
#   ttyS0  the console (kernel log, and this script's "hvrt-lab:" lines, which the host reads)
#   ttyS1  the command's stdout and stderr, streamed to the host's stdout
#   ttyS2  a tar of $HVRT_LAB_OUT, written once the command is done
# It never returns: PID 1 exiting would panic the kernel; poweroff -f ends the boot.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root

say() { echo "hvrt-lab: $*" >/dev/ttyS0; }
stop() {
    sync
    poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1 # the kernel found no /dev/console in the initramfs
mkdir -p /dev/shm
mount -t tmpfs tmpfs /dev/shm
# /tmp is a tmpfs of its own (the tests punch holes and make O_TMPFILEs there); the payload's
# files under /tmp (a tree built in /tmp, HVRT_OUT=/tmp/...) move onto it instead of being hidden.
mv /tmp /.payload-tmp
mkdir /tmp
mount -t tmpfs tmpfs /tmp
cp -a /.payload-tmp/. /tmp/ && rm -rf /.payload-tmp
chmod 1777 /tmp
# Raw: no \n -> \r\n on the command's output, and the tar stream passes byte for byte.
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo

# The modules in modules.dep order (irqbypass, kvm, ccp, kvm-amd); busybox insmod takes plain
# .ko files and no parameters from the kernel command line.
while read -r m; do
    insmod "/lab/modules/$m.ko" || say "insmod $m failed"
done </lab/modules/order
if [ -c /dev/kvm ]; then say "/dev/kvm ready"; else say "no /dev/kvm"; fi

HVRT_LAB_KERNEL=$(cat /lab/kernel)
HVRT_LAB_OUT=/tmp/hvrt-lab-out
export HVRT_LAB_KERNEL HVRT_LAB_OUT
mkdir -p "$HVRT_LAB_OUT"
say "running the command"
sh /lab/cmd </dev/null >/dev/ttyS1 2>&1
say "command exited with status $?"

# gzip: the serial port moves ~200 KB/s, logs shrink ~5x. The size goes first, so that the
# host can tell a whole archive from a cut one.
tar -cz -f /tmp/hvrt-lab-files.tar -C "$HVRT_LAB_OUT" .
say "files $(wc -c </tmp/hvrt-lab-files.tar) bytes"
cat /tmp/hvrt-lab-files.tar >/dev/ttyS2
say "files sent"
stop
