#!/usr/bin/env bash
# hvrt build driver.
#   ./build.sh          build everything (libhvrt.so, header check, C examples, tests' binaries, the Rust crate) and run the demo and the example VMMs
#   ./build.sh test     build, then run every suite (xunit, C ABI tests, the differential test bound and unbound, the Rust crate's tests, the examples, the bench report's tests) and print "N passed, N failed"
#   ./build.sh bench         run every benchmark (C harnesses, Rust harness vs vm-memory, --bits-interleaved,
#                            every BenchmarkDotNet suite) and rewrite the generated top of bench/RESULTS.md
#                            + bench/translate.png (~10 min)
#   ./build.sh bench --quick the same, smoke-sized (~1 min; BenchmarkDotNet --job dry in-process); report and
#                            logs in out/bench/ (bench/RESULTS.md is left alone)
#   ./build.sh bench native [ARGS]  build the library and run the C harness bench/native/translate_bench.c
#   ./build.sh bench rust [ARGS]    build the library and run the Rust harness bench/rust (hvrt vs vm-memory)
#   ./build.sh bench dotnet [ARGS]  the BenchmarkDotNet suites; ARGS go to BenchmarkDotNet (default: --filter '*')
#   ./build.sh bench ARGS    (ARGS not starting with a mode above) the same: ARGS go to BenchmarkDotNet
#   ./build.sh sanitize [asan|valgrind]  the C tests and examples under ASan+UBSan and/or valgrind memcheck (scripts/sanitize.sh)
#   ./build.sh soak [minutes]  readers, a churning writer, conversions and dirty logging together, invariants checked (scripts/soak.sh)
#   ./build.sh fuzz [SECONDS]  build the library and run the ABI fuzzer for SECONDS (default 60; scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
OUT=${HVRT_OUT:-$ROOT/out}
CONFIG=Release
mode=${1:-build}

log() { printf '==> %s\n' "$*" >&2; }
. scripts/apt_install.sh

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
    local missing=() p
    command -v cargo >/dev/null || missing+=(cargo)
    for p in "${RUST_DEBS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_install "${missing[@]}" || exit 1
    fi
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

# Every exported hvrt_ symbol must be declared in hvrt.h and vice versa (liburing.map discipline).
check_exports() {
    local exported declared
    exported=$(nm -D --defined-only "$OUT/lib/libhvrt.so" | awk '{print $3}' | sed 's/@.*//' | grep '^hvrt_' | sort -u)
    declared=$(grep -oE '^[a-z_0-9 *]*\bhvrt_[a-z0-9_]+\(' native/include/hvrt.h | grep -oE 'hvrt_[a-z0-9_]+' | sort -u)
    if [ "$exported" != "$declared" ]; then
        # Work in progress only (a branch whose header declares what another branch exports).
        [ -n "${HVRT_SKIP_EXPORT_CHECK:-}" ] && { echo "export check skipped (HVRT_SKIP_EXPORT_CHECK)" >&2; return 0; }
        echo "export/header mismatch:" >&2
        diff <(echo "$exported") <(echo "$declared") >&2 || true
        exit 1
    fi
}

CFLAGS="-std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Inative/include"
LDFLAGS="-L$OUT/lib -lhvrt -Wl,-rpath,$OUT/lib -lpthread"

build_native() {
    mkdir -p "$OUT/bin"
    log "compiling C examples and tests"
    for src in native/examples/*.c native/tests/*_test.c bench/native/*.c; do
        [ -e "$src" ] || continue
        gcc $CFLAGS -o "$OUT/bin/$(basename "${src%.c}")" "$src" $LDFLAGS
    done
    # The header must also compile as C++, and with an empty <linux/kvm.h> (its own fallbacks).
    echo '#include "hvrt.h"' | g++ -std=c++17 -x c++ -fsyntax-only -Inative/include -
    mkdir -p "$OUT/nokvm/linux" && : >"$OUT/nokvm/linux/kvm.h"
    echo '#include "hvrt.h"' | gcc -std=c11 -x c -fsyntax-only -Wall -Werror -I"$OUT/nokvm" -Inative/include -
    write_pkgconfig
}

# out/lib/pkgconfig/hvrt.pc, so that a VMM's build can use `pkg-config --cflags --libs hvrt`.
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

run_demo() {
    log "demo: native/examples/demo.c"
    "$OUT/bin/demo"
    log "example VMM: native/examples/vmm.c (a real guest through hvrt where /dev/kvm is usable)"
    "$OUT/bin/vmm"
}

# The Rust crate native/rust/hvrt (offline: .cargo/config.toml at the root replaces crates.io with
# Debian's registry), linked against $OUT/lib, built under $OUT/rust-crate.
CRATE=native/rust/hvrt/Cargo.toml
crate_cargo() {
    HVRT_LIB_DIR="$OUT/lib" CARGO_TARGET_DIR="$OUT/rust-crate" cargo "$@" --offline --manifest-path "$CRATE"
}

run_rust_example() {
    log "example VMM in Rust: native/rust/hvrt/examples/vmm.rs (the same steps through the hvrt crate)"
    crate_cargo run -q --example vmm
}

# Tools of `./build.sh bench` (all or --quick): python3 for bench/collect.py, gnuplot for the plot.
ensure_bench_tools() {
    local missing=()
    command -v python3 >/dev/null || missing+=(python3)
    command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_install "${missing[@]}" || command -v python3 >/dev/null || exit 1 # without gnuplot only the plot is missing
    fi
}

# One harness of `./build.sh bench`: stdout (with RESULT rows, HVRT_BENCH_RESULTS=1) to
# out/bench/NAME.log and the terminal; a line in out/bench/times.tsv (name, command, seconds,
# status: ok, SKIP reason printed by the harness, or failed rc=N). A failure does not stop the run.
BENCH_LOG=$OUT/bench
bench_failed=0
run_harness() {
    local name=$1
    shift
    log "bench: $name: $*"
    local t0 t1 rc=0 status
    t0=$(date +%s.%N)
    HVRT_BENCH_RESULTS=1 "$@" 2>&1 | tee "$BENCH_LOG/$name.log" || rc=$?
    t1=$(date +%s.%N)
    if [ "$rc" != 0 ]; then
        status="failed rc=$rc"
        bench_failed=$((bench_failed + 1))
    elif grep -q '^SKIP' "$BENCH_LOG/$name.log"; then
        status=$(grep -m1 '^SKIP' "$BENCH_LOG/$name.log")
    else
        status=ok
    fi
    printf '%s\t%s\t%s\t%s\n' "$name" "${*#"$ROOT/"}" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" "$status" >>"$BENCH_LOG/times.tsv"
}

# ./build.sh bench [--quick]: every harness, then bench/collect.py.
run_all_bench() {
    local quick=0
    [ "${1:-}" = --quick ] && quick=1
    ensure_bench_tools
    ensure_rust_deps
    rm -rf "$BENCH_LOG"
    mkdir -p "$BENCH_LOG"
    cat /proc/loadavg >"$BENCH_LOG/loadavg-start"
    # The commit measured (the report is collected later, when HEAD may have moved).
    { git rev-parse --short HEAD 2>/dev/null || echo '?'; } | tr -d '\n' >"$BENCH_LOG/commit"
    [ -z "$(git status --porcelain --untracked-files=no -- . ':!bench/RESULTS.md' ':!bench/translate.png' 2>/dev/null)" ] ||
        printf ' (with uncommitted changes)' >>"$BENCH_LOG/commit"
    local t0
    t0=$(date +%s)
    build_lib
    build_native
    log "building bench/ (BenchmarkDotNet) and bench/rust"
    dotnet build bench/Bench.csproj -c $CONFIG --nologo -v quiet >/dev/null
    HVRT_LIB_DIR="$OUT/lib" CARGO_TARGET_DIR="$OUT/rust" \
        cargo build -q --release --offline --manifest-path bench/rust/Cargo.toml
    printf 'build\t%s\t%s\t%s\n' "build.sh: library, C harnesses, bench/, bench/rust" "$(($(date +%s) - t0))" ok >>"$BENCH_LOG/times.tsv"
    local slots=1,8,64,512,4096,32764 b=$OUT/bin rs=$OUT/rust/release/hvrt-bench-rs
    if [ $quick = 1 ]; then
        run_harness translate "$b/translate_bench" --slots $slots --reps 3 --lookups 262144 --conc-slots 64,4096 --conc-secs 0.2
        run_harness search_layouts "$b/search_layouts"
        run_harness attributes "$b/attributes_bench" 3
        run_harness dirty_log "$b/dirty_log_bench" 3
        run_harness runloop "$b/runloop_bench" 3 2000
        run_harness kvm_bind "$b/kvm_bind_bench" --slots 200 --reps 3
        run_harness rust "$rs" --quick --translate-slots $slots
        run_harness bits_interleaved dotnet run -c $CONFIG --no-build --project bench -- --bits-interleaved 2
        run_harness dotnet dotnet run -c $CONFIG --no-build --project bench -- --filter '*' --job dry --inProcess \
            --artifacts "$BENCH_LOG/bdn"
    else
        run_harness translate "$b/translate_bench" --slots $slots --conc-slots 1,64,4096,32764
        run_harness search_layouts "$b/search_layouts"
        run_harness attributes "$b/attributes_bench" 15
        run_harness dirty_log "$b/dirty_log_bench" 15
        run_harness runloop "$b/runloop_bench" 21 20000
        run_harness kvm_bind "$b/kvm_bind_bench" --slots 1000 --reps 7
        run_harness rust "$rs" --translate-slots $slots
        run_harness bits_interleaved dotnet run -c $CONFIG --no-build --project bench -- --bits-interleaved 15
        # Out of process (one process per case: exact 0 B allocations, no cross-case JIT state);
        # TranslateBench at the slot counts the targets name (the C harness sweeps them all).
        run_harness dotnet env HVRT_BDN_SLOTS=64,4096 dotnet run -c $CONFIG --no-build --project bench -- --filter '*' \
            --job short --iterationTime 100 --warmupCount 2 --artifacts "$BENCH_LOG/bdn"
    fi
    cat /proc/loadavg >"$BENCH_LOG/loadavg-end"
    # A full run rewrites the generated part of bench/RESULTS.md and the plot; a smoke run writes
    # its report next to its logs, so it never replaces measured numbers.
    local report=bench/RESULTS.md png=bench/translate.png
    if [ $quick = 1 ]; then
        report=$BENCH_LOG/RESULTS.md png=$BENCH_LOG/translate.png
        cp bench/RESULTS.md "$report"
    fi
    log "bench: collecting into $report and $png"
    python3 bench/collect.py "$BENCH_LOG" --out "$report" --plot "$png" \
        --mode "$([ $quick = 1 ] && echo quick || echo full)"
    log "bench: done in $(($(date +%s) - t0)) s; $bench_failed harness(es) failed"
    [ "$bench_failed" = 0 ]
}

passed=0
failed=0
skipped=0
add_counts() { passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + ${3:-0})); }

# Adds one suite's "passed failed skipped" (empty: it printed no summary, so it crashed) and
# counts one more failure when it exited non-zero without reporting a failed test.
tally() {
    local name=$1 counts=$2 rc=$3
    if [ -z "$counts" ]; then
        echo "$name crashed or printed no summary (rc=$rc)" >&2
        add_counts 0 1
        return
    fi
    local p f s
    read -r p f s <<<"$counts"
    add_counts "$p" "$f" "$s"
    [ "$rc" = 0 ] || [ "$f" != 0 ] || add_counts 0 1
}

run_xunit() {
    log "xunit: tests/"
    local logf="$OUT/xunit.log" rc=0
    HVRT_POISON=1 dotnet test tests/Runtime.Tests.csproj -c $CONFIG --nologo 2>&1 | tee "$logf" || rc=$?
    tally xunit "$(sed -nE 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+).*/\2 \1 \3/p' "$logf" | tail -n1)" "$rc"
}

# The bit kernels again with fewer ISAs accelerated under the JIT, so ForPath's fallbacks run too
# (.NET 10 reads DOTNET_EnableAVX512; the older DOTNET_EnableAVX512F is ignored).
run_xunit_isa_knobs() {
    local knob
    for knob in DOTNET_EnableAVX512=0 DOTNET_EnableAVX2=0 DOTNET_EnableHWIntrinsic=0; do
        log "xunit: bit kernels with $knob"
        local logf="$OUT/xunit-${knob%%=*}.log" rc=0
        env "$knob" dotnet test tests/Runtime.Tests.csproj -c $CONFIG --nologo --no-build \
            --filter 'FullyQualifiedName~Hvrt.Tests.Bit' 2>&1 | tee "$logf" || rc=$?
        tally "xunit $knob" "$(sed -nE 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+).*/\2 \1 \3/p' "$logf" | tail -n1)" "$rc"
    done
}

# Each C test prints "hvrt-c: N passed, N failed, N skipped" as its last line.
run_c_tests() {
    for bin in "$OUT"/bin/*_test; do
        [ -e "$bin" ] || continue
        log "C: $(basename "$bin")"
        local logf="$OUT/$(basename "$bin").log" rc=0
        HVRT_POISON=1 "$bin" 2>&1 | tee "$logf" || rc=$?
        tally "$(basename "$bin")" "$(sed -nE 's/^hvrt-c: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$logf" | tail -n1)" "$rc"
    done
    # The differential test again with hvrt bound to a second KVM VM: its answers must be KVM's.
    if [ -e "$OUT/bin/kvm_diff_test" ]; then
        log "C: kvm_diff_test, hvrt bound (HVRT_DIFF_BIND=1)"
        local logf="$OUT/kvm_diff_test-bound.log" rc=0
        HVRT_POISON=1 HVRT_DIFF_BIND=1 "$OUT/bin/kvm_diff_test" 2>&1 | tee "$logf" || rc=$?
        tally "kvm_diff_test bound" "$(sed -nE 's/^hvrt-c: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$logf" | tail -n1)" "$rc"
    fi
}

# Every C test again in hvrt's debug mode (HVRT_DEBUG=1: quarantined handles, thread checks):
# what is right in release mode must stay right there, and misuse is refused, never a crash.
run_c_tests_debug() {
    for bin in "$OUT"/bin/*_test; do
        [ -e "$bin" ] || continue
        log "C: $(basename "$bin") (HVRT_DEBUG=1)"
        local logf="$OUT/$(basename "$bin")-debug.log" rc=0
        HVRT_DEBUG=1 HVRT_POISON=1 "$bin" >"$logf" 2>&1 || rc=$?
        [ "$rc" = 0 ] || cat "$logf"
        tally "$(basename "$bin") (HVRT_DEBUG)" "$(sed -nE 's/^hvrt-c: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$logf" | tail -n1)" "$rc"
    done
}

# The C tests and examples again under ASan+UBSan (scripts/sanitize.sh; ~1 min), the leak test at
# its suite size; one counted suite, the script's closing "sanitize asan: N passed, ..." line.
run_asan() {
    log "C tests under ASan+UBSan: scripts/sanitize.sh asan"
    local logf="$OUT/sanitize-asan.log" rc=0
    HVRT_OUT="$OUT" HVRT_LEAK_VMS=30000 scripts/sanitize.sh asan 2>&1 | tee "$logf" || rc=$?
    tally "sanitize asan" "$(sed -nE 's/^sanitize asan: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$logf" | tail -n1)" "$rc"
}

# cargo test of the crate: the sum of every test binary's "test result: ... N passed; N failed;
# N ignored" line (--no-fail-fast runs them all); no line at all (a compile error) is a failure.
# cargo counts a test that returned early as passed: the tests that called common::skip (named
# in HVRT_SKIP_LOG, once each) move from passed to skipped.
run_rust_tests() {
    log "Rust: cargo test of native/rust/hvrt"
    local logf="$OUT/rust-crate-test.log" skips="$OUT/rust-crate-skips.log" rc=0
    rm -f "$skips"
    HVRT_POISON=1 HVRT_SKIP_LOG="$skips" crate_cargo test --no-fail-fast 2>&1 | tee "$logf" || rc=$?
    local nskip=0
    [ -f "$skips" ] && nskip=$(sort -u "$skips" | wc -l)
    tally "cargo test (native/rust/hvrt)" "$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/p' "$logf" |
        awk -v k="$nskip" 'NF == 3 { p += $1; f += $2; s += $3; n++ } END { if (n) print p - k, f, s + k }')" "$rc"
}

# The examples as tests: each checks what it prints and exits non-zero on a wrong answer. The VMMs
# (vmm.c, vmm.rs) without a usable /dev/kvm print "no real guest on this machine" and run only the
# simulated part: one passed, and the real guest one skipped.
run_examples() {
    local ex
    for ex in demo vmm rust-vmm; do
        log "example: $ex"
        local rc=0
        if [ "$ex" = rust-vmm ]; then
            HVRT_POISON=1 crate_cargo run -q --example vmm >"$OUT/$ex.log" 2>&1 || rc=$?
        else
            HVRT_POISON=1 "$OUT/bin/$ex" >"$OUT/$ex.log" 2>&1 || rc=$?
        fi
        if [ "$rc" = 0 ] && grep -q "no real guest on this machine" "$OUT/$ex.log"; then
            tally "example $ex" "1 0 1" 0 # the simulated part passed; the real guest did not run
        elif [ "$rc" = 0 ]; then
            tally "example $ex" "1 0 0" 0
        else
            cat "$OUT/$ex.log"
            tally "example $ex" "0 1 0" "$rc"
        fi
    done
}

# bench/collect.py, which writes the report of ./build.sh bench: its verdicts and the splice into
# bench/RESULTS.md, on made-up logs (no benchmark runs).
run_bench_report_test() {
    log "bench report: bench/test_collect.py"
    local logf="$OUT/bench-report-test.log" rc=0
    python3 bench/test_collect.py 2>&1 | tee "$logf" || rc=$?
    tally "bench/test_collect.py" "$(sed -nE 's/^hvrt-c: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$logf" | tail -n1)" "$rc"
}

# The ABI fuzzer (native/fuzz/README.md): its corpus replayed against the model, then a short
# libFuzzer run; each prints an hvrt-c summary line.
run_fuzz_tests() {
    local what
    for what in replay smoke; do
        log "fuzz: scripts/fuzz.sh $what"
        local logf="$OUT/fuzz-$what.log" rc=0
        HVRT_OUT="$OUT" HVRT_POISON=1 scripts/fuzz.sh "$what" 2>&1 | tee "$logf" || rc=$?
        tally "fuzz $what" "$(sed -nE 's/^hvrt-c: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$logf" | tail -n1)" "$rc"
    done
}

ensure_tools
case "$mode" in build | test) ensure_rust_deps ;; esac
case "$mode" in
    build)
        build_lib
        build_native
        build_bench
        run_demo
        run_rust_example
        ;;
    test)
        build_lib
        build_native
        build_bench
        run_xunit
        run_xunit_isa_knobs
        run_c_tests
        run_c_tests_debug
        run_asan
        run_rust_tests
        run_examples
        run_fuzz_tests
        run_bench_report_test
        echo "$passed passed, $failed failed, $skipped skipped"
        [ "$failed" = 0 ]
        ;;
    bench)
        shift
        if [ $# = 0 ] || [ "${1:-}" = --quick ] || [ "${1:-}" = all ]; then
            [ "${1:-}" = all ] && shift
            [ $# -le 1 ] && [ "${1:---quick}" = --quick ] || { echo "usage: ./build.sh bench [all] [--quick]" >&2; exit 2; }
            run_all_bench "$@"
            exit
        fi
        if [ "${1:-}" = dotnet ]; then
            shift
        fi
        if [ "${1:-}" = native ]; then
            shift
            build_lib
            build_native
            log "C harness: bench/native/translate_bench.c"
            "$OUT/bin/translate_bench" "$@"
            exit
        fi
        if [ "${1:-}" = rust ]; then
            shift
            build_lib
            ensure_rust_deps
            log "Rust harness: bench/rust (hvrt vs vm-memory)"
            HVRT_LIB_DIR="$OUT/lib" CARGO_TARGET_DIR="$OUT/rust" \
                cargo run -q --release --offline --manifest-path bench/rust/Cargo.toml -- "$@"
            exit
        fi
        [ $# -gt 0 ] || set -- --filter '*'
        dotnet run -c $CONFIG --project bench -- "$@"
        ;;
    sanitize) build_lib && build_native && shift && HVRT_OUT="$OUT" exec scripts/sanitize.sh "$@" ;;
    soak) build_lib && build_native && shift && HVRT_OUT="$OUT" exec scripts/soak.sh "$@" ;;
    fuzz) build_lib && shift && HVRT_OUT="$OUT" exec scripts/fuzz.sh "$@" ;;
    *)
        echo "usage: ./build.sh [test | fuzz [seconds] | sanitize [asan|valgrind] | soak [minutes] | bench [--quick] | bench native [harness args] | bench rust [harness args] | bench dotnet [BenchmarkDotNet args] | bench BenchmarkDotNet-args]" >&2
        exit 2
        ;;
esac
