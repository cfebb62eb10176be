#!/usr/bin/env bash
# The KVM lab (README "The KVM lab"): the project's binaries run against a real KVM of a chosen
# Debian kernel, on any machine, /dev/kvm or not: the kernel boots under QEMU's emulation (TCG,
# -cpu max emulates AMD SVM with nested paging), loads kvm_amd, and runs the command with every
# file it needs at its host path. Kernels (scripts/lab/kernel.sh): 6.1, 6.12, 6.12-sw.
#
#   scripts/kvm_lab.sh kernels                    the kernels' names
#   scripts/kvm_lab.sh prepare [KERNEL|all]...    download, unpack and build into the cache
#   scripts/kvm_lab.sh boot KERNEL [--out DIR] [--file PATH]... [--timeout SEC] [--mem MIB] -- CMD [ARG...]
#       one boot running CMD in the repository root (relative paths are the root's); CMD's
#       output streams to stdout; the project's build ($OUT/bin, $OUT/lib, native/include: some
#       tests read the headers), each --file and each argument that is a path to an existing
#       file go into the guest with their libraries; files the command writes under
#       $HVRT_LAB_OUT land in DIR (default $OUT/lab/KERNEL; not emptied first), with the
#       guest's console.log.
#       Exit status: CMD's; 124 the guest hung (timeout, default $HVRT_LAB_TIMEOUT or 900 s);
#       125 the lab failed (not prepared, panic, files cut).
#   scripts/kvm_lab.sh run [KERNEL|all] [-- CMD [ARG...]]   what ./build.sh lab runs once the
#       library and the C binaries are built: boot each kernel (default all) and run CMD; without CMD, the probe (scripts/lab/kvm_probe.c), whose
#       answers are saved as native/tests/lab/caps-KERNEL.txt. Exit status: the first non-zero.
#   scripts/kvm_lab.sh probe                      build the probe; prints its path
#
# Cache: ${HVRT_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hvrt-lab} (kernels keyed by package
# version, the built modules, the base initramfs). Guest RAM: $HVRT_LAB_MEM MiB (default 3072).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LAB_DIR=$ROOT/scripts/lab
# (HOME from the password database when the environment has none: CI's may not.)
LAB_CACHE=${HVRT_LAB_CACHE:-${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/hvrt-lab}
# shellcheck source=scripts/lab/apt.sh
. "$LAB_DIR/apt.sh"
# shellcheck source=scripts/lab/kernel.sh
. "$LAB_DIR/kernel.sh"
# shellcheck source=scripts/lab/kvm_sw.sh
. "$LAB_DIR/kvm_sw.sh"
# shellcheck source=scripts/lab/initramfs.sh
. "$LAB_DIR/initramfs.sh"
# shellcheck source=scripts/lab/boot.sh
. "$LAB_DIR/boot.sh"

# The host's side of the lab, from Debian (the module build's own tools: scripts/lab/kvm_sw.sh).
LAB_TOOLS=(qemu-system-x86 busybox-static cpio kmod xz-utils)
ensure_lab_tools() {
    local missing
    missing=$(missing_debs "${LAB_TOOLS[@]}")
    if [ -n "$missing" ]; then
        log "lab: installing $missing"
        # shellcheck disable=SC2086 # a list of package names
        apt_install $missing || return 1
        LAB_APT_UPDATED=1 # apt_install updated the lists
    fi
}

# kernels_of [KERNEL|all]...: the names, "all" expanded; fails on an unknown name.
kernels_of() {
    local k known
    [ $# -gt 0 ] || set -- all
    for k in "$@"; do
        if [ "$k" = all ]; then
            printf '%s\n' "${LAB_KERNELS[@]}"
            continue
        fi
        for known in "${LAB_KERNELS[@]}"; do [ "$k" = "$known" ] && { echo "$k"; continue 2; }; done
        echo "lab: unknown kernel '$k' (known: ${LAB_KERNELS[*]} all)" >&2
        return 2
    done
}

# prepare_locked KERNEL: lab_prepare under the cache's lock (two runs must not build the same
# kernel into the same place at once).
prepare_locked() {
    mkdir -p "$LAB_CACHE"
    (
        flock 9
        lab_prepare "$1"
    ) 9>"$LAB_CACHE/.lock"
}

cmd_prepare() {
    local list k
    list=$(kernels_of "$@") || return 2
    ensure_lab_tools
    for k in $list; do prepare_locked "$k" >/dev/null; done
}

cmd_boot() {
    local kernel=${1:?usage: kvm_lab.sh boot KERNEL [options] -- CMD [ARG...]}
    shift
    kernels_of "$kernel" >/dev/null || return 2
    local out="$OUT/lab/$kernel" files=() timeout=${HVRT_LAB_TIMEOUT:-900} mem=${HVRT_LAB_MEM:-3072} f
    # The project's build is always there, at its host paths (a few MB once stripped): the
    # binaries, the library, and the headers, which some tests read (misuse_test: hvrt.h).
    for f in "$OUT"/bin/* "$OUT"/lib/*.so "$ROOT"/native/include/*.h; do [ -f "$f" ] && files+=("$f"); done
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        case "$1" in
            --out) out=$2 && shift 2 ;;
            --file) files+=("$2") && shift 2 ;;
            --timeout) timeout=$2 && shift 2 ;;
            --mem) mem=$2 && shift 2 ;;
            *) echo "lab: boot: unknown option $1" >&2 && return 2 ;;
        esac
    done
    if [ "${1:-}" != -- ] || [ $# -lt 2 ]; then
        echo "usage: kvm_lab.sh boot KERNEL [options] -- CMD [ARG...]" >&2
        return 2
    fi
    shift
    ensure_lab_tools || return 125
    local kdir base work
    kdir=$(prepare_locked "$kernel") || { echo "lab: kernel $kernel could not be prepared" >&2; return 125; }
    base=$(lab_base_cpio) || return 125
    work=$(mktemp -d)
    if ! lab_payload_cpio "$work/payload.cpio" "$PWD" "${files[@]}" -- "$@"; then
        rm -rf "$work"
        return 125
    fi
    cat "$base" "$kdir/modules.cpio" "$work/payload.cpio" >"$work/initrd"
    rm -f "$work/payload.cpio"
    mkdir -p "$out"
    local rc=0
    lab_boot "$kdir" "$work/initrd" "$out" "$timeout" "$mem" || rc=$?
    rm -rf "$work"
    return "$rc"
}

# build_probe: $OUT/lab/kvm_probe (not in $OUT/bin: every *_test there is a host suite).
build_probe() {
    mkdir -p "$OUT/lab"
    gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$OUT/lab/kvm_probe" "$LAB_DIR/kvm_probe.c"
    printf '%s\n' "$OUT/lab/kvm_probe"
}

# probe_args KERNEL: what the probe must find there (6.12-sw exists for VM type 1).
probe_args() { if [ "$1" = 6.12-sw ]; then echo "--expect-vm-type 1"; fi; }

cmd_run() {
    local kernels=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do kernels+=("$1") && shift; done
    [ $# -eq 0 ] || shift
    local list k status=0 rc
    list=$(kernels_of "${kernels[@]}") || return 2
    local probe=
    [ $# -gt 0 ] || probe=$(build_probe)
    for k in $list; do
        rc=0
        if [ -n "$probe" ]; then
            local probe_args
            probe_args=$(probe_args "$k")
            log "lab $k: $(basename "$probe")${probe_args:+ $probe_args}"
            mkdir -p native/tests/lab
            # shellcheck disable=SC2086 # probe_args is words
            cmd_boot "$k" -- "$probe" $probe_args | tee "$OUT/lab-caps-$k.txt" || rc=$?
            # Saved only from a whole run: a failed boot must not replace what a kernel answered.
            if [ "$rc" -lt 124 ]; then mv "$OUT/lab-caps-$k.txt" "native/tests/lab/caps-$k.txt"; fi
        else
            log "lab $k: $*"
            cmd_boot "$k" -- "$@" || rc=$?
        fi
        log "lab $k: exit status $rc"
        [ "$status" != 0 ] || status=$rc
    done
    return "$status"
}

case "${1:-}" in
    kernels) printf '%s\n' "${LAB_KERNELS[@]}" ;;
    prepare) shift && cmd_prepare "$@" ;;
    boot) shift && cmd_boot "$@" ;;
    run) shift && cmd_run "$@" ;;
    probe) build_probe ;;
    *)
        echo "usage: scripts/kvm_lab.sh kernels | prepare [KERNEL|all]... | boot KERNEL [--out DIR] [--file PATH]... [--timeout SEC] [--mem MIB] -- CMD [ARG...] | run [KERNEL|all] [-- CMD [ARG...]] | probe" >&2
        exit 2
        ;;
esac
