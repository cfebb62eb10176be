#!/usr/bin/env bash
# The ABI fuzzer (native/fuzz/README.md). Needs out/lib/libhvrt.so (./build.sh fuzz builds it first).
#   scripts/fuzz.sh [SECONDS]        build out/fuzz/abi_fuzz (clang-14 libFuzzer + ASan) and run it for
#                                    SECONDS (default 60) on native/fuzz/corpus; new inputs go to
#                                    out/fuzz/corpus, crashes to out/fuzz/crashes/
#   scripts/fuzz.sh smoke [SECONDS]  the same, short (default 25), ending with an hvrt-c summary line
#   scripts/fuzz.sh replay [PATH...] build out/fuzz/abi_replay (gcc, no libFuzzer) and run every input
#                                    of native/fuzz/corpus (or PATHs) once against the model
# Extra libFuzzer flags: HVRT_FUZZ_FLAGS="-jobs=2 ...".
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FZ=$OUT/fuzz
LIB=$OUT/lib/libhvrt.so
SRC="native/fuzz/abi_fuzz.c"
INC="-D_GNU_SOURCE -Inative/include -Inative/tests"

[ -e "$LIB" ] || { echo "$LIB is missing: run ./build.sh fuzz (or ./build.sh first)" >&2; exit 1; }
mkdir -p "$FZ/corpus" "$FZ/crashes"

# Debian's clang-14 ships libFuzzer and ASan's runtimes in a separate package.
ensure_fuzz_deps() {
    local missing=()
    command -v clang-14 >/dev/null || missing+=(clang-14)
    compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null || missing+=(libclang-rt-14-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_install "${missing[@]}" || exit 1
    fi
}

build_replay() {
    gcc $CFLAGS -Inative/tests -o "$FZ/abi_replay" $SRC native/fuzz/replay.c $LDFLAGS
}

# The harness and the model are instrumented; libhvrt.so (NativeAOT) cannot be, so libFuzzer's
# coverage is the harness's branches plus the per-(op, errno) counters abi_fuzz.c exports.
build_fuzzer() {
    ensure_fuzz_deps
    clang-14 -std=c11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -DHVRT_FUZZ_LIBFUZZER $INC -o "$FZ/abi_fuzz" $SRC $LDFLAGS
}

# ASan and the .NET runtime inside libhvrt.so share the process (native/fuzz/README.md): the
# runtime installs SIGSEGV/SIGFPE handlers (hardware exceptions of managed code), which
# allow_user_segv_handler=1 lets stand; its start-up allocations live as long as the process, so
# LeakSanitizer's report at exit would only list those.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allow_user_segv_handler=1}
# hvrt fills the blocks it frees with 0xA5: a use after free inside the (uninstrumented) .so shows.
export HVRT_POISON=${HVRT_POISON:-1}

run_fuzzer() {
    local secs=$1 logf=$FZ/fuzz-$(date +%Y%m%d-%H%M%S).log rc=0
    log "fuzzing for $secs s (log $logf)"
    # Corpus dirs: the first receives new inputs (out/fuzz/corpus, not the repo's).
    "$FZ/abi_fuzz" -max_total_time="$secs" -dict=native/fuzz/abi.dict -use_value_profile=1 -max_len=1024 -len_control=20 \
        -print_final_stats=1 -artifact_prefix="$FZ/crashes/" ${HVRT_FUZZ_FLAGS:-} \
        "$FZ/corpus" native/fuzz/corpus >"$logf" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$logf" | tail -n 2 >&2 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$logf" >&2 || true
    if [ "$rc" != 0 ]; then
        grep -E -A3 'MISMATCH|ERROR: |SUMMARY:|Test unit written' "$logf" | head -n 40 >&2 || true
        echo "abi_fuzz failed (rc=$rc): the input is in $FZ/crashes/; replay it with" >&2
        echo "  HVRT_FUZZ_VERBOSE=1 $FZ/abi_replay $FZ/crashes/<file>" >&2
    fi
    return "$rc"
}

main() {
    local mode=${1:-} secs rc
    case "$mode" in
        replay)
            shift
            build_replay
            [ $# -gt 0 ] || set -- native/fuzz/corpus
            "$FZ/abi_replay" "$@"
            ;;
        smoke)
            secs=${2:-25}
            build_replay
            build_fuzzer
            rc=0
            run_fuzzer "$secs" || rc=$?
            if [ "$rc" = 0 ]; then echo "hvrt-c: 1 passed, 0 failed, 0 skipped"; else echo "hvrt-c: 0 passed, 1 failed, 0 skipped"; fi
            exit "$rc"
            ;;
        '' | [0-9]*)
            build_replay
            build_fuzzer
            run_fuzzer "${mode:-60}"
            ;;
        *)
            echo "usage: scripts/fuzz.sh [SECONDS] | smoke [SECONDS] | replay [PATH...]" >&2
            exit 2
            ;;
    esac
}

# One line: bash has read all of main before it runs, so editing this file mid-run is harmless.
main "$@"; exit
