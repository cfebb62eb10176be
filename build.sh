#!/usr/bin/env bash
# hvrt build driver: the modes below, each run by a script of scripts/ (common.sh: the shared
# helpers and build steps; test.sh: the test mode; bench.sh: the bench modes).
#   ./build.sh          build everything (libhvrt.so, header check, C examples, tests' binaries, the Rust crate) and run the demo and the example VMMs
#   ./build.sh test     build, then run every suite (the layering guard, xunit, C ABI tests, the differential test bound and unbound, the Rust crate's tests, the examples, the bench report's tests, then the KVM lab's suites in a guest of each lab kernel) and print "N passed, N failed, N skipped" (scripts/test.sh)
#   ./build.sh test --no-lab | --lab-only   the same without the KVM lab's part, or only that part (after building the library and the C binaries)
#   ./build.sh bench         (scripts/bench.sh) run every benchmark (C harnesses, Rust harness vs vm-memory, --bits-interleaved,
#                            every BenchmarkDotNet suite) and rewrite the generated top of
#                            bench/RESULTS.md + bench/translate.png (~10 min)
#   ./build.sh bench --quick the same, smoke-sized (~1 min; BenchmarkDotNet --job dry in-process); report and
#                            logs in out/bench/ (bench/RESULTS.md is left alone)
#   ./build.sh bench native [ARGS]  build the library and run the C harness bench/native/translate_bench.c
#   ./build.sh bench rust [ARGS]    build the library and run the Rust harness bench/rust (hvrt vs vm-memory)
#   ./build.sh bench ab REV [ROUNDS]  is this tree slower than REV? the C harnesses against both libraries, alternating (scripts/ab_bench.sh)
#   ./build.sh bench dotnet [ARGS]  the BenchmarkDotNet suites; ARGS go to BenchmarkDotNet (default: --filter '*')
#   ./build.sh bench ARGS    (ARGS not starting with a mode above) the same: ARGS go to BenchmarkDotNet
#   ./build.sh sanitize [asan|valgrind]  the C tests and examples under ASan+UBSan and/or valgrind memcheck (scripts/sanitize.sh)
#   ./build.sh soak [minutes]  readers, a churning writer, conversions and dirty logging together, invariants checked (scripts/soak.sh)
#   ./build.sh fuzz [SECONDS]  build the library and run the ABI fuzzer for SECONDS (default 60; scripts/fuzz.sh)
#   ./build.sh lab [KERNEL|all] [-- CMD ARGS...]  build the library and the C binaries, boot each lab kernel (6.1, 6.12,
#                            6.12-sw; default all) under QEMU's emulation with a real KVM inside, and run CMD there
#                            (relative paths are the repository root's; out/bin and out/lib are in the guest); its output
#                            streams, the exit status is CMD's; without CMD, the KVM probe, saved as
#                            native/tests/lab/caps-KERNEL.txt (scripts/kvm_lab.sh, README "The KVM lab")
#   ./build.sh lab record [KERNEL|all|host]...  record KVM's answers to kvm_diff_test's requests, one file
#                            per kernel, in native/tests/lab/answers/ (scripts/lab_record.sh; kvm_replay_test replays them)
set -euo pipefail
. "$(dirname "$0")/scripts/common.sh"
mode=${1:-build}

ensure_tools
case "$mode" in
    build)
        ensure_rust_deps
        build_lib
        build_native
        build_bench
        run_demo
        run_rust_example
        ;;
    test) shift && exec scripts/test.sh "$@" ;;
    bench) shift && exec scripts/bench.sh "$@" ;;
    sanitize) build_lib && build_native && shift && HVRT_OUT="$OUT" exec scripts/sanitize.sh "$@" ;;
    soak) build_lib && build_native && shift && HVRT_OUT="$OUT" exec scripts/soak.sh "$@" ;;
    fuzz) build_lib && shift && HVRT_OUT="$OUT" exec scripts/fuzz.sh "$@" ;;
    lab)
        build_lib && build_native && shift
        # ./build.sh lab record [KERNEL|all|host]...: KVM's answers into native/tests/lab/answers/.
        [ "${1:-}" = record ] && shift && HVRT_OUT="$OUT" exec scripts/lab_record.sh "$@"
        HVRT_OUT="$OUT" exec scripts/kvm_lab.sh run "$@"
        ;;
    *)
        echo "usage: ./build.sh [test [--no-lab | --lab-only] | lab [KERNEL|all] [-- CMD ARGS...] | lab record [KERNEL|all|host]... | fuzz [seconds] | sanitize [asan|valgrind] | soak [minutes] | bench [--quick] | bench native [harness args] | bench rust [harness args] | bench dotnet [BenchmarkDotNet args] | bench BenchmarkDotNet-args]" >&2
        exit 2
        ;;
esac
