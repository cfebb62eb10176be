# shellcheck shell=bash
# Sourced by scripts/kvm_lab.sh: the guest's initramfs, three uncompressed newc archives one after
# the other (the kernel unpacks concatenated archives; uncompressed, none needs padding and
# nothing is decompressed under emulation):
#   base      busybox and /init (scripts/lab/init.sh), cached in $LAB_CACHE/base/
#   modules   the kernel's modules and load order (scripts/lab/kernel.sh), cached with the kernel
#   payload   this run's programs, each with every library ldd lists, at their host paths, and
#             /lab/cmd, the command (made per run)

LAB_INIT=$LAB_DIR/init.sh

# cpio_of DIR: DIR's contents as a newc archive on stdout, owned by root, in a stable order.
cpio_of() {
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
}

# lab_base_cpio: prints the cached base archive, making it first: keyed by busybox's version and
# init.sh's hash, so an upgrade or an edit of init.sh makes a new one.
lab_base_cpio() {
    local bb ver key f stage
    bb=$(command -v busybox) || { echo "lab: no busybox (busybox-static)" >&2; return 1; }
    if ldd "$bb" >/dev/null 2>&1; then
        echo "lab: $bb is dynamically linked; the guest needs busybox-static" >&2
        return 1
    fi
    ver=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)
    key="busybox-${ver}_init-$(sha256sum "$LAB_INIT" | cut -c1-12)"
    f="$LAB_CACHE/base/$key.cpio"
    if [ ! -s "$f" ]; then
        stage=$(mktemp -d) || return 1
        mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,lab}
        cp "$bb" "$stage/bin/busybox" && install -m 755 "$LAB_INIT" "$stage/init" &&
            mkdir -p "$LAB_CACHE/base" && cpio_of "$stage" >"$f.tmp" && mv "$f.tmp" "$f"
        local rc=$?
        rm -rf "$stage"
        [ "$rc" = 0 ] || return 1
        find "$LAB_CACHE/base" -name '*.cpio' ! -path "$f" -delete
    fi
    printf '%s\n' "$f"
}

# lab_stage_file STAGE PATH: PATH (absolute) copied to STAGE/PATH; an ELF file with its debug
# info stripped (the guest gets the same code, and the initramfs shrinks: a Rust test binary is
# mostly DWARF) and with every library ldd lists, each at the path ldd printed.
lab_stage_file() {
    local stage=$1 path=$2
    [ -e "$stage$path" ] && return 0
    mkdir -p "$stage$(dirname "$path")"
    if [ -d "$path" ]; then
        mkdir -p "$stage$path"
        return 0
    fi
    if head -c4 "$path" | grep -q $'^\x7fELF'; then
        strip --strip-debug -o "$stage$path" "$path" 2>/dev/null || cp -L "$path" "$stage$path" || return 1
        chmod --reference="$path" "$stage$path"
        local lib libs
        libs=$(ldd "$path" 2>/dev/null | awk '$2 == "=>" && $3 == "not" { print "MISSING:" $1; next }
                                             $2 == "=>" && $3 ~ /^\// { print $3; next }
                                             $1 ~ /^\// { print $1 }') || true
        for lib in $libs; do
            case "$lib" in
                MISSING:*) echo "lab: $path needs ${lib#MISSING:}, which ldd cannot find" >&2 && return 1 ;;
            esac
            lab_stage_file "$stage" "$lib" || return 1
        done
    else
        cp -L "$path" "$stage$path" || return 1
    fi
}

# lab_payload_cpio OUTFILE CWD FILE... -- CMD ARGS...: the run's archive: each FILE and each
# argument that is a path to an existing host file (with its libraries), /lab/cmd (cd CWD, then
# CMD with its arguments, quoted for busybox sh).
lab_payload_cpio() {
    local outf=$1 cwd=$2 stage f
    shift 2
    stage=$(mktemp -d) || return 1
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        lab_stage_file "$stage" "$(realpath -s "$1")" || { rm -rf "$stage"; return 1; }
        shift
    done
    shift
    for f in "$@"; do
        case "$f" in
            */*) [ -f "$f" ] && { lab_stage_file "$stage" "$(realpath -s "$f")" || { rm -rf "$stage"; return 1; }; } ;;
        esac
    done
    mkdir -p "$stage/lab" "$stage$cwd"
    {
        printf 'cd %s || exit 126\n' "$(sh_quote "$cwd")"
        printf 'exec'
        for f in "$@"; do printf ' %s' "$(sh_quote "$f")"; done
        printf '\n'
    } >"$stage/lab/cmd"
    cpio_of "$stage" >"$outf"
    local rc=$?
    rm -rf "$stage"
    return $rc
}

# sh_quote WORD: WORD in single quotes, for a POSIX shell.
sh_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
