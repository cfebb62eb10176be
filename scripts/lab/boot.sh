# shellcheck shell=bash
# Sourced by scripts/kvm_lab.sh: one boot of a lab kernel under QEMU's emulation (TCG, -cpu max:
# AMD SVM with nested paging, so kvm_amd loads in the guest), with the command's output streamed
# to stdout and the guest's $HVRT_LAB_OUT unpacked into the caller's directory.

# lab_boot KDIR INITRD OUTDIR TIMEOUT MEM_MIB: returns the command's exit status; 124 if the
# guest did not power off within TIMEOUT seconds; 125 if it never said how the command ended
# (a panic, a failed insmod...) or its files came out cut. OUTDIR/console.log keeps the guest's
# console either way.
lab_boot() {
    local kdir=$1 initrd=$2 outdir=$3 timeout=$4 mem=$5 work rc=0
    work=$(mktemp -d) || return 125
    mkdir -p "$outdir"
    # -smp 1: memslot ioctls are ~6x slower with two emulated CPUs (SRCU across vCPUs).
    # Serial ports: the console to a file, the command's output to stdout through a chardev
    # (never file:/dev/stdout: QEMU reopens it at its own offset and overwrites what is there),
    # the file archive to a file. stdin is /dev/null: QEMU must not take the terminal (Ctrl-C
    # then still stops the run), and nothing is typed to the guest.
    # timeout -k: a guest that ignores SIGTERM is killed 10 s later; a hung guest never hangs
    # the caller.
    timeout -k 10 "$timeout" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m "$mem" \
        -nodefaults -no-user-config -display none -no-reboot \
        -kernel "$kdir/vmlinuz" -initrd "$initrd" -append "console=ttyS0 panic=-1" \
        -serial "file:$work/console.log" \
        -chardev stdio,id=out,signal=off -serial chardev:out \
        -chardev "file,id=files,path=$work/files.tar" -serial chardev:files </dev/null || rc=$?
    cp "$work/console.log" "$outdir/console.log" 2>/dev/null || true
    local status size
    status=$(sed -nE 's/^hvrt-lab: command exited with status ([0-9]+)\r?$/\1/p' "$work/console.log" 2>/dev/null | tail -n1)
    size=$(sed -nE 's/^hvrt-lab: files ([0-9]+) bytes\r?$/\1/p' "$work/console.log" 2>/dev/null | tail -n1)
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "lab: the guest did not power off within $timeout s (console: $outdir/console.log)" >&2
        lab_console_tail "$work/console.log"
        rm -rf "$work"
        return 124
    fi
    if [ -z "$status" ]; then
        echo "lab: the guest never said how the command ended (qemu status $rc; console: $outdir/console.log)" >&2
        lab_console_tail "$work/console.log"
        rm -rf "$work"
        return 125
    fi
    if [ -z "$size" ] || [ "$(stat -c %s "$work/files.tar" 2>/dev/null || echo 0)" -lt "$size" ] ||
        ! head -c "$size" "$work/files.tar" | tar -xz -C "$outdir" -f -; then
        echo "lab: the guest's files did not come out whole (expected ${size:-?} bytes, got $(stat -c %s "$work/files.tar" 2>/dev/null || echo 0))" >&2
        rm -rf "$work"
        return 125
    fi
    rm -rf "$work"
    return "$status"
}

lab_console_tail() {
    echo "lab: last lines of the guest's console:" >&2
    tail -n 25 "$1" 2>/dev/null | tr -d '\r' | sed 's/^/    /' >&2
}
