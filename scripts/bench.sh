#!/usr/bin/env bash
# ./build.sh bench: the benchmarks (README "Benchmarks"; usage in build.sh's header).
#   scripts/bench.sh [all] [--quick]  every harness, then bench/collect.py writes the report
#   scripts/bench.sh native [ARGS]    the C harness bench/native/translate_bench.c
#   scripts/bench.sh rust [ARGS]      the Rust harness bench/rust (hvrt vs vm-memory)
#   scripts/bench.sh ab REV [ROUNDS]  this tree's library against REV's, in alternating processes (scripts/ab_bench.sh)
#   scripts/bench.sh [dotnet] [ARGS]  the BenchmarkDotNet suites (default ARGS: --filter '*')
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

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

ensure_tools
if [ $# = 0 ] || [ "${1:-}" = --quick ] || [ "${1:-}" = all ]; then
    [ "${1:-}" = all ] && shift
    [ $# -le 1 ] && [ "${1:---quick}" = --quick ] || { echo "usage: ./build.sh bench [all] [--quick]" >&2; exit 2; }
    run_all_bench "$@"
    exit
fi
if [ "${1:-}" = dotnet ]; then
    shift
fi
if [ "${1:-}" = ab ]; then
    shift
    exec "$ROOT/scripts/ab_bench.sh" "$@"
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
