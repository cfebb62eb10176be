# Sourced by build.sh and scripts/*.sh: what every mode shares. Sourcing it moves to the
# repository root (found from this file's path, so the caller's cwd does not matter) and sets
# ROOT, OUT (HVRT_OUT, default out/), CONFIG, CFLAGS and LDFLAGS; it defines log, the tool checks
# and the build steps (the library and its checks, the C binaries, hvrt.pc, bench/, the Rust
# crate's cargo) and runs none of them.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${HVRT_OUT:-$ROOT/out}
CONFIG=Release

. "$ROOT/scripts/apt_install.sh"

log() { printf '==> %s\n' "$*" >&2; }

# The C headers (native/include/, which hvrt.pc's Cflags name): hvrt.h, the API, includes
# kvm_uapi.h (the kernel's structs and constants) and hvrt_testing.h (the test-only exports);
# hvrt_inline.h is the inline lookup. The functions are declared in HVRT_DECL_HEADERS.
HVRT_HEADERS=(hvrt.h kvm_uapi.h hvrt_testing.h hvrt_inline.h)
HVRT_DECL_HEADERS=(native/include/hvrt.h native/include/hvrt_testing.h)

CFLAGS="-std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Inative/include"
LDFLAGS="-L$OUT/lib -lhvrt -Wl,-rpath,$OUT/lib -lpthread"

ensure_tools() {
    local missing=()
    command -v dotnet >/dev/null || { echo "dotnet SDK 10 is required" >&2; exit 1; }
    command -v gcc >/dev/null || missing+=(gcc)
    command -v make >/dev/null || missing+=(make)
    command -v python3 >/dev/null || missing+=(python3) # bench/collect.py and its test
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_install "${missing[@]}" || exit 1
    fi
}

# Rust: cargo (rustup's in ~/.cargo/bin, else Debian's) and the crates of bench/rust, which come
# only from Debian's librust-*-dev packages (.cargo/config.toml points cargo at their directory).
RUST_DEBS=(librust-vm-memory-dev librust-libc-dev) # vm-memory provides its backend-mmap/-bitmap/-atomic features too
ensure_rust_deps() {
    if [ -x "$HOME/.cargo/bin/cargo" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi
    local missing
    missing=$(missing_debs "${RUST_DEBS[@]}")
    command -v cargo >/dev/null || missing="cargo $missing"
    if [ -n "${missing// /}" ]; then
        log "installing $missing"
        # shellcheck disable=SC2086 # a list of package names
        apt_install $missing || exit 1
    fi
}

# The Debian packages of the arguments that are not installed, space-separated (empty: none).
missing_debs() {
    local p out=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || out+=("$p")
    done
    echo "${out[*]}"
}

build_lib() {
    log "publishing libhvrt.so (NativeAOT)"
    dotnet publish runtime/Runtime.csproj -c $CONFIG -o "$OUT/publish" --nologo -v quiet
    mkdir -p "$OUT/lib"
    cp "$OUT/publish/hvrt.so" "$OUT/lib/libhvrt.so"
    check_exports
    check_isa
}

# The .so is built for x86-64-v3 (Runtime.csproj, README "Instruction set"). A v2 build has no
# ymm instruction at all (measured: 0 against ~770 for v3), so their absence means the ISA choice was lost.
check_isa() {
    command -v objdump >/dev/null || return 0
    local ymm
    ymm=$(objdump -d --no-show-raw-insn "$OUT/lib/libhvrt.so" | grep -c ymm || true)
    if [ "$ymm" -eq 0 ]; then
        echo "libhvrt.so has no AVX2 (ymm) code: <IlcInstructionSet> did not take effect" >&2
        exit 1
    fi
    log "libhvrt.so: $ymm instructions on ymm registers (AVX2 baseline in effect)"
}

# Every exported hvrt_ symbol must be declared in hvrt.h or hvrt_testing.h and vice versa
# (liburing.map discipline).
check_exports() {
    local exported declared
    exported=$(nm -D --defined-only "$OUT/lib/libhvrt.so" | awk '{print $3}' | sed 's/@.*//' | grep '^hvrt_' | sort -u)
    declared=$(grep -hoE '^[a-z_0-9 *]*\bhvrt_[a-z0-9_]+\(' "${HVRT_DECL_HEADERS[@]}" | grep -oE 'hvrt_[a-z0-9_]+' | sort -u)
    if [ "$exported" != "$declared" ]; then
        # Work in progress only (a branch whose header declares what another branch exports).
        [ -n "${HVRT_SKIP_EXPORT_CHECK:-}" ] && { echo "export check skipped (HVRT_SKIP_EXPORT_CHECK)" >&2; return 0; }
        echo "export/header mismatch:" >&2
        diff <(echo "$exported") <(echo "$declared") >&2 || true
        exit 1
    fi
}

build_native() {
    mkdir -p "$OUT/bin"
    log "compiling C examples and tests"
    for src in native/examples/*.c native/tests/*_test.c bench/native/*.c; do
        [ -e "$src" ] || continue
        gcc $CFLAGS -o "$OUT/bin/$(basename "${src%.c}")" "$src" $LDFLAGS
    done
    # Each header must also compile on its own, as C++, and with an empty <linux/kvm.h>
    # (kvm_uapi.h's own fallbacks).
    mkdir -p "$OUT/nokvm/linux" && : >"$OUT/nokvm/linux/kvm.h"
    local h
    for h in "${HVRT_HEADERS[@]}"; do
        echo "#include \"$h\"" | g++ -std=c++17 -x c++ -fsyntax-only -Inative/include -
        echo "#include \"$h\"" | gcc -std=c11 -x c -fsyntax-only -Wall -Werror -I"$OUT/nokvm" -Inative/include -
    done
    write_pkgconfig
}

# out/lib/pkgconfig/hvrt.pc, so that a VMM's build can use `pkg-config --cflags --libs hvrt`
# (includedir is native/include itself, so every header of HVRT_HEADERS is there).
write_pkgconfig() {
    mkdir -p "$OUT/lib/pkgconfig"
    cat >"$OUT/lib/pkgconfig/hvrt.pc" <<PC
prefix=$ROOT
includedir=\${prefix}/native/include
libdir=$OUT/lib

Name: hvrt
Description: guest-memory runtime for virtual machine monitors
Version: $(sed -nE 's/^#define HVRT_VERSION_MAJOR ([0-9]+)/\1/p' native/include/hvrt.h).$(sed -nE 's/^#define HVRT_VERSION_MINOR ([0-9]+)/\1/p' native/include/hvrt.h).$(sed -nE 's/^#define HVRT_VERSION_PATCH ([0-9]+)/\1/p' native/include/hvrt.h)
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lhvrt
PC
}

# The benchmarks are not run by build/test, only compiled, so they keep up with the runtime.
build_bench() {
    log "building bench/ (BenchmarkDotNet)"
    dotnet build bench/Bench.csproj -c $CONFIG --nologo -v quiet
}

# The Rust crate native/rust/hvrt (offline: .cargo/config.toml at the root replaces crates.io with
# Debian's registry), linked against $OUT/lib, built under $OUT/rust-crate.
CRATE=native/rust/hvrt/Cargo.toml
crate_cargo() {
    HVRT_LIB_DIR="$OUT/lib" CARGO_TARGET_DIR="$OUT/rust-crate" cargo "$@" --offline --manifest-path "$CRATE"
}

# ./build.sh (the build mode) ends with these: the C demo and the example VMMs in C and Rust.
run_demo() {
    log "demo: native/examples/demo.c"
    "$OUT/bin/demo"
    log "example VMM: native/examples/vmm.c (a real guest through hvrt where /dev/kvm is usable)"
    "$OUT/bin/vmm"
}

run_rust_example() {
    log "example VMM in Rust: native/rust/hvrt/examples/vmm.rs (the same steps through the hvrt crate)"
    crate_cargo run -q --example vmm
}
