# shellcheck shell=bash
# Sourced by scripts/kvm_lab.sh: a guest kernel in the cache, ready to boot. Each is a directory
#   $LAB_CACHE/kernels/NAME/KEY/   vmlinuz, release (its uname -r), modules/*.ko (plain, the
#                                  chain that kvm-amd needs), modules.cpio (/lab/modules/*.ko,
#                                  /lab/modules/order in load order, /lab/kernel = NAME), .ready
# KEY is the image package and its version (plus the module recipe's hash for 6.12-sw), so an
# archive update or a changed recipe prepares a new one; older KEYs of the same NAME are removed.
#
#   6.1      Debian 12's own kernel: what linux-image-amd64 depends on (linux-image-6.1.0-N-amd64)
#   6.12     what linux-image-6.12-amd64 depends on (linux-image-6.12.N+deb12-amd64)
#   6.12-sw  the 6.12 kernel with kvm.ko and kvm-amd.ko rebuilt with CONFIG_KVM_SW_PROTECTED_VM
#            (scripts/lab/kvm_sw.sh), for VM type 1

LAB_KERNELS=(6.1 6.12 6.12-sw)

# lab_image_pkg NAME: "PACKAGE VERSION" of NAME's linux-image, newest first; empty if apt cannot
# tell (no lists and no network).
lab_image_pkg() {
    local meta re pkg ver try
    case "$1" in
        6.1) meta=linux-image-amd64 re='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
        6.12 | 6.12-sw) meta=linux-image-6.12-amd64 re='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
        *) return 1 ;;
    esac
    for try in 1 2; do
        pkg=$(apt_meta_target "$meta" "$re")
        ver=
        [ -z "$pkg" ] || ver=$(apt_candidate "$pkg")
        [ -n "$ver" ] && break
        [ "$try" = 1 ] && { apt_lists_fresh || break; }
    done
    if [ -n "$ver" ]; then printf '%s %s\n' "$pkg" "$ver"; fi
}

lab_kernel_root() { printf '%s/kernels/%s\n' "$LAB_CACHE" "$1"; }

# lab_cached_kernel NAME: the newest ready directory of NAME, for when apt cannot be asked.
lab_cached_kernel() {
    local d
    d=$(find "$(lab_kernel_root "$1")" -mindepth 2 -maxdepth 2 -name .ready -printf '%T@ %h\n' 2>/dev/null | sort -n | tail -n1 | cut -d' ' -f2-)
    [ -n "$d" ] && printf '%s\n' "$d"
}

# lab_prepare NAME: prints the ready directory of NAME, preparing it first if needed. A failure
# is tried once more with fresh package lists: a stale list names versions the archive dropped.
lab_prepare() {
    local dir rc=0
    dir=$(lab_prepare_from_lists "$1") || rc=$?
    if [ "$rc" = 0 ]; then
        printf '%s\n' "$dir"
        return 0
    fi
    [ "$rc" != 2 ] || return 2
    echo "lab: kernel $1: trying again after apt-get update" >&2
    # shellcheck disable=SC2034 # read by apt_lists_fresh (scripts/lab/apt.sh)
    LAB_APT_UPDATED=
    apt_lists_fresh && lab_prepare_from_lists "$1"
}

lab_prepare_from_lists() {
    local name=$1 pv pkg ver key dir rc=0
    pv=$(lab_image_pkg "$name") || rc=$?
    if [ "$rc" != 0 ]; then
        echo "lab: unknown kernel '$name' (known: ${LAB_KERNELS[*]})" >&2
        return 2
    fi
    if [ -z "$pv" ]; then
        dir=$(lab_cached_kernel "$name") || { echo "lab: apt knows no package for kernel $name" >&2; return 1; }
        echo "lab: apt cannot resolve kernel $name; using the cached $(basename "$dir")" >&2
        printf '%s\n' "$dir"
        return 0
    fi
    read -r pkg ver <<<"$pv"
    key="${pkg}_$ver"
    [ "$name" = 6.12-sw ] && key+="_sw-$(lab_sw_recipe_hash)"
    dir="$(lab_kernel_root "$name")/$key"
    if [ ! -e "$dir/.ready" ]; then
        local t0=$SECONDS work
        mkdir -p "$LAB_CACHE/tmp"
        work=$(mktemp -d "$LAB_CACHE/tmp/$name.XXXXXX")
        log "lab: preparing kernel $name ($pkg $ver)"
        if [ "$name" = 6.12-sw ]; then
            local base
            if ! base=$(lab_prepare 6.12) || ! lab_build_kvm_sw "$base" "$pkg" "$ver" "$work" "$work/kernel"; then
                rm -rf "$work"
                return 1
            fi
        elif ! lab_unpack_kernel "$pkg" "$ver" "$work" "$work/kernel"; then
            rm -rf "$work"
            return 1
        fi
        if ! lab_pack_modules "$name" "$work/kernel" || ! touch "$work/kernel/.ready"; then
            rm -rf "$work"
            return 1
        fi
        # Replaced atomically: a concurrent run sees the old state or the whole new one.
        rm -rf "$dir" && mkdir -p "$(dirname "$dir")" && mv "$work/kernel" "$dir" && rm -rf "$work"
        find "$(lab_kernel_root "$name")" -mindepth 1 -maxdepth 1 ! -path "$dir" -exec rm -rf {} +
        log "lab: kernel $name ready in $((SECONDS - t0)) s"
    fi
    printf '%s\n' "$dir"
}

# lab_unpack_kernel PKG VERSION WORK OUT: vmlinuz and kvm-amd's module chain of the image package,
# the modules decompressed (busybox insmod takes plain .ko; 6.12 ships .ko.xz).
lab_unpack_kernel() {
    local pkg=$1 ver=$2 work=$3 out=$4 krel=${1#linux-image-}
    mkdir -p "$work/deb" "$work/root" "$out/modules"
    apt_fetch "$work/deb" "$pkg=$ver" || return 1
    dpkg-deb -x "$work"/deb/"$pkg"_*.deb "$work/root" || return 1
    cp "$work/root/boot/vmlinuz-$krel" "$out/vmlinuz" || return 1
    printf '%s\n' "$krel" >"$out/release"
    # modules.dep is made at install time, so depmod it here, and let modprobe say the load order.
    depmod -b "$work/root" "$krel" || return 1
    local line path m
    : >"$out/modules/order"
    while read -r line; do
        path=$(awk '$1 == "insmod" { print $2 }' <<<"$line")
        [ -n "$path" ] || continue
        m=$(basename "$path")
        m=${m%.xz}
        m=${m%.ko}
        case "$path" in
            *.ko.xz) xz -dc "$path" >"$out/modules/$m.ko" ;;
            *.ko) cp "$path" "$out/modules/$m.ko" ;;
            *) echo "lab: cannot load module $path" >&2 && return 1 ;;
        esac
        echo "$m" >>"$out/modules/order"
    done < <(modprobe -d "$work/root" -S "$krel" --show-depends kvm-amd)
    grep -qx kvm-amd "$out/modules/order" || { echo "lab: no kvm-amd module in $pkg" >&2; return 1; }
    rm -rf "$work/root" "$work/deb"
}

# lab_pack_modules NAME DIR: DIR/modules.cpio, the kernel's part of the guest's initramfs.
lab_pack_modules() {
    local name=$1 dir=$2 stage
    stage=$(mktemp -d) || return 1
    mkdir -p "$stage/lab/modules"
    cp "$dir"/modules/*.ko "$dir/modules/order" "$stage/lab/modules/"
    printf '%s\n' "$name" >"$stage/lab/kernel"
    cpio_of "$stage" >"$dir/modules.cpio"
    local rc=$?
    rm -rf "$stage"
    return $rc
}
