#!/usr/bin/env bash
# ./build.sh test: build, then run every suite (the layering guard, xunit, the C ABI tests, the
# differential test bound and unbound, ASan, the Rust crate's tests, the examples, the fuzzer's
# replay and smoke run, the bench report's tests), then the KVM lab's part (the suites that use
# KVM, in a guest of each lab kernel: scripts/lab/test_lab.sh) and print "N passed, N failed,
# N skipped" as the last line; the exit status is non-zero if anything failed. A suite's failure
# does not stop the run; a build failure does.
#
#   scripts/test.sh [--no-lab | --lab-only]   (what ./build.sh test [--no-lab | --lab-only] runs; any cwd)
#     --no-lab    the host suites only
#     --lab-only  build the library and the C binaries, then only the lab part
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lab=1
host=1
case "${1:-}" in
    "") ;;
    --no-lab) lab= ;;
    --lab-only) host= ;;
    *) echo "usage: scripts/test.sh [--no-lab | --lab-only]" >&2 && exit 2 ;;
esac

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

# "passed failed skipped" from a log's last summary line, empty without one: the C tests' (and
# every suite that prints the same) "hvrt-c: N passed, N failed, N skipped", and dotnet test's.
hvrt_c_counts() { sed -nE 's/^hvrt-c: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$1" | tail -n1; }
xunit_counts() { sed -nE 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+).*/\2 \1 \3/p' "$1" | tail -n1; }

# The runtime's layering guards (scripts/runtime_deps.py --check: exit 0 when every arrow
# between runtime/ folders is one the layering allows, issue 17): one check.
run_layering_guard() {
    log "layering guard: scripts/runtime_deps.py --check"
    local logf="$OUT/layering-guard.log" rc=0
    python3 scripts/runtime_deps.py --check 2>&1 | tee "$logf" || rc=$?
    if [ "$rc" = 0 ]; then
        tally "layering guard" "1 0 0" 0
    else
        tally "layering guard" "0 1 0" "$rc"
    fi
}

# The guard's own tests (scripts/test_runtime_deps.py): every rule fires on a fake tree.
run_layering_guard_test() {
    log "layering guard tests: scripts/test_runtime_deps.py"
    local logf="$OUT/layering-guard-test.log" rc=0
    python3 scripts/test_runtime_deps.py 2>&1 | tee "$logf" || rc=$?
    tally "scripts/test_runtime_deps.py" "$(hvrt_c_counts "$logf")" "$rc"
}

run_xunit() {
    log "xunit: tests/"
    local logf="$OUT/xunit.log" rc=0
    HVRT_POISON=1 dotnet test tests/Runtime.Tests.csproj -c $CONFIG --nologo 2>&1 | tee "$logf" || rc=$?
    tally xunit "$(xunit_counts "$logf")" "$rc"
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
        tally "xunit $knob" "$(xunit_counts "$logf")" "$rc"
    done
}

# Each C test prints "hvrt-c: N passed, N failed, N skipped" as its last line.
run_c_tests() {
    for bin in "$OUT"/bin/*_test; do
        [ -e "$bin" ] || continue
        log "C: $(basename "$bin")"
        local logf="$OUT/$(basename "$bin").log" rc=0
        HVRT_POISON=1 "$bin" 2>&1 | tee "$logf" || rc=$?
        tally "$(basename "$bin")" "$(hvrt_c_counts "$logf")" "$rc"
    done
    # The differential test again with hvrt bound to a second KVM VM: its answers must be KVM's.
    if [ -e "$OUT/bin/kvm_diff_test" ]; then
        log "C: kvm_diff_test, hvrt bound (HVRT_DIFF_BIND=1)"
        local logf="$OUT/kvm_diff_test-bound.log" rc=0
        HVRT_POISON=1 HVRT_DIFF_BIND=1 "$OUT/bin/kvm_diff_test" 2>&1 | tee "$logf" || rc=$?
        tally "kvm_diff_test bound" "$(hvrt_c_counts "$logf")" "$rc"
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
        tally "$(basename "$bin") (HVRT_DEBUG)" "$(hvrt_c_counts "$logf")" "$rc"
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
    tally "bench/test_collect.py" "$(hvrt_c_counts "$logf")" "$rc"
}

# The ABI fuzzer (native/fuzz/README.md): its corpus replayed against the model, then a short
# libFuzzer run; each prints an hvrt-c summary line.
run_fuzz_tests() {
    local what
    for what in replay smoke; do
        log "fuzz: scripts/fuzz.sh $what"
        local logf="$OUT/fuzz-$what.log" rc=0
        HVRT_OUT="$OUT" HVRT_POISON=1 scripts/fuzz.sh "$what" 2>&1 | tee "$logf" || rc=$?
        tally "fuzz $what" "$(hvrt_c_counts "$logf")" "$rc"
    done
}

# shellcheck source=scripts/lab/test_lab.sh
. "$ROOT/scripts/lab/test_lab.sh"

ensure_tools
ensure_rust_deps
build_lib
build_native
if [ -n "$host" ]; then
    build_bench
    run_layering_guard
    run_layering_guard_test
    run_xunit
    run_xunit_isa_knobs
    run_c_tests
    run_c_tests_debug
    run_asan
    run_rust_tests
    run_examples
    run_fuzz_tests
    run_bench_report_test
fi
[ -z "$lab" ] || run_lab
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
