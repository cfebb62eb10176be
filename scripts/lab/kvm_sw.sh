# shellcheck shell=bash
# Sourced by scripts/kvm_lab.sh: kernel 6.12-sw, Debian's 6.12 with kvm.ko and kvm-amd.ko rebuilt
# so that KVM offers VM type 1 (KVM_X86_SW_PROTECTED_VM: private memory, guest_memfd slots,
# memory attributes on the VM). Debian's config has CONFIG_KVM_PRIVATE_MEM=y but not
# CONFIG_KVM_SW_PROTECTED_VM, which only IS_ENABLED() tests in arch/x86/kvm read (x86.c,
# mmu/mmu.c), so defining it for those two modules is enough; the rest of the kernel is Debian's.
#
# The build is out of tree, from linux-source-6.12 of the same version as the image, against
# that version's headers; nothing is installed (linux-headers-* depends on its linux-image: see
# scripts/lab/apt.sh). ~65 s of compiling on 2 cores.

# The packages the build runs on the host. The compiler is the one the headers name (Debian 12's
# 6.12 headers: gcc-12); kbuild's own tools (modpost, objtool) come prebuilt in linux-kbuild, so
# neither libelf-dev, bc, flex nor bison is needed.
LAB_SW_TOOLS=(make binutils xz-utils kmod)

# lab_sw_recipe_hash: part of 6.12-sw's cache key, so a change of this file rebuilds the modules.
lab_sw_recipe_hash() { sha256sum "${BASH_SOURCE[0]}" | cut -c1-12; }

# lab_build_kvm_sw BASE IMAGE_PKG VERSION WORK OUT: OUT gets BASE's vmlinuz and module chain (BASE is the
# ready 6.12 directory of the same image) with kvm.ko and kvm-amd.ko replaced by the rebuilt ones.
lab_build_kvm_sw() {
    local base=$1 krel=${2#linux-image-} ver=$3 work=$4 out=$5
    local abi=${krel%-amd64} mm
    mm=$(cut -d. -f1,2 <<<"$krel")
    local cc
    cc=$(apt_depends "linux-headers-$krel" | grep -oE '\bgcc-[0-9]+\b' | head -n1)
    local tools=("${LAB_SW_TOOLS[@]}" "${cc:-gcc}") missing=() p
    for p in "${tools[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "lab: installing ${missing[*]} (the kvm module build)"
        apt_install "${missing[@]}" || return 1
    fi

    mkdir -p "$work/deb" "$work/tree" "$out/modules"
    log "lab: 6.12-sw: downloading linux-source-$mm and the headers of $krel"
    apt_fetch "$work/deb" "linux-source-$mm=$ver" "linux-headers-$krel=$ver" \
        "linux-headers-$abi-common=$ver" "linux-kbuild-$abi=$ver" || return 1
    local d
    for d in "linux-headers-$krel" "linux-headers-$abi-common" "linux-kbuild-$abi"; do
        dpkg-deb -x "$work"/deb/"$d"_*.deb "$work/tree" || return 1
    done
    local tree=$work/tree objtree=$work/tree/usr/src/linux-headers-$krel
    local srctree=$work/tree/usr/src/linux-headers-$abi-common
    # The packages expect to live at /: the arch Makefile includes the common one by absolute
    # path, and a few symlinks (lib/modules/*/build) are absolute. Point them into the tree.
    sed -i "s|^include /usr/src/|include $tree/usr/src/|" "$objtree/Makefile"
    local link target
    while IFS= read -r link; do
        target=$(readlink "$link")
        ln -sfn "$tree$target" "$link"
    done < <(find "$tree" -type l -lname '/*')

    # Only arch/x86/kvm and virt/kvm (Makefile.kvm and the generic sources that kvm.ko links) are
    # taken from the 150 MB source tarball, into the headers' srctree, where kvm's Makefile and
    # the trace headers (TRACE_INCLUDE_PATH ../../arch/x86/kvm) look for them.
    log "lab: 6.12-sw: unpacking arch/x86/kvm and virt/kvm from linux-source-$mm"
    dpkg-deb --fsys-tarfile "$work"/deb/linux-source-"$mm"_*.deb |
        tar -xO "./usr/src/linux-source-$mm.tar.xz" | xz -dc -T0 |
        tar -x -C "$srctree" --strip-components=1 "linux-source-$mm/arch/x86/kvm" "linux-source-$mm/virt/kvm" || return 1
    rm -rf "$work/deb"
    local kdir=$srctree/arch/x86/kvm
    if [ ! -f "$kdir/x86.c" ] || [ ! -f "$srctree/virt/kvm/Makefile.kvm" ]; then
        echo "lab: linux-source-$mm has no arch/x86/kvm or virt/kvm" >&2
        return 1
    fi
    printf '\n# hvrt lab (scripts/lab/kvm_sw.sh): offer KVM_X86_SW_PROTECTED_VM\nccflags-y += -DCONFIG_KVM_SW_PROTECTED_VM=1\n' >>"$kdir/Makefile"

    # CONFIG_KVM_INTEL= skips VMX (the lab's CPU is AMD); CONFIG_DEBUG_INFO_BTF_MODULES= skips
    # the BTF step, which needs pahole and gives these modules nothing the lab uses.
    log "lab: 6.12-sw: building kvm.ko and kvm-amd.ko (CONFIG_KVM_SW_PROTECTED_VM)"
    if ! make -C "$objtree" M="$kdir" CONFIG_KVM_INTEL= CONFIG_DEBUG_INFO_BTF_MODULES= \
        -j"$(nproc)" modules >"$work/build.log" 2>&1; then
        tail -n 40 "$work/build.log" >&2
        echo "lab: the kvm module build failed (log above)" >&2
        return 1
    fi
    local m
    for m in kvm kvm-amd; do
        # Unstripped, kvm.ko is ~25 MB of DWARF: the initramfs carries only the code.
        strip --strip-debug -o "$out/modules/$m.ko" "$kdir/$m.ko" || return 1
        case "$(modinfo -F vermagic "$out/modules/$m.ko")" in
            "$krel "*) ;;
            *) echo "lab: $m.ko was not built for $krel" >&2 && return 1 ;;
        esac
    done
    cp "$base/vmlinuz" "$base/release" "$out/" || return 1
    while read -r m; do
        [ -e "$out/modules/$m.ko" ] || cp "$base/modules/$m.ko" "$out/modules/" || return 1
    done <"$base/modules/order"
    cp "$base/modules/order" "$out/modules/order"
    rm -rf "$work/tree"
}
