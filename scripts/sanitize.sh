#!/usr/bin/env bash
# The C tests and examples under AddressSanitizer + UndefinedBehaviorSanitizer, and under
# valgrind memcheck, against the real libhvrt.so (which NativeAOT builds without instrumentation:
# ASan checks the tests' use of memory hvrt hands out and hvrt's malloc/free through its
# interceptors; memcheck checks every instruction, hvrt's included).
#
#   scripts/sanitize.sh [asan|valgrind|all]   (default all; ./build.sh sanitize [...] builds first)
#
# Expects out/lib/libhvrt.so, out/publish/hvrt.so.dbg and out/bin/*_test (./build.sh builds them).
# Each suite prints "<tool> <name>: N passed, N failed, N skipped"; the last line is
# "sanitize <tool>: N passed, N failed, N skipped" (summed; a crash, a sanitizer report or a
# missing summary counts as one failure), and the exit status is non-zero if anything failed.
# Env: HVRT_VALGRIND_LEAK_VMS (default 3000, ~10 s) sizes lifecycle_leak_test under valgrind, which runs
# it ~25x slower; HVRT_LEAK_VMS (default 100000 here, ~1 min under ASan) sizes it under ASan.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SAN=$OUT/sanitize
mode=${1:-all}

[ -e "$OUT/lib/libhvrt.so" ] || { echo "no $OUT/lib/libhvrt.so: run ./build.sh first" >&2; exit 1; }
[ -e "$OUT/publish/hvrt.so.dbg" ] || { echo "no $OUT/publish/hvrt.so.dbg: run ./build.sh first" >&2; exit 1; }

passed=0 failed=0 skipped=0
# count TOOL NAME LOG RC EXAMPLE: adds one suite; a test's counts come from its "hvrt-c:" line, an
# example counts 1 passed when it exits 0.
count() {
    local tool=$1 name=$2 logf=$3 rc=$4 example=$5 p=0 f=0 s=0 line
    if [ "$example" = 1 ]; then
        if [ "$rc" = 0 ]; then p=1; else f=1; fi
    else
        line=$(sed -nE 's/^hvrt-c: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$logf" | tail -n1)
        if [ -z "$line" ]; then
            f=1
        else
            read -r p f s <<<"$line"
            [ "$rc" = 0 ] || [ "$f" != 0 ] || f=1 # a report after the summary (leak, memcheck error)
        fi
    fi
    if [ "$f" != 0 ]; then
        echo "---- $tool $name failed (rc=$rc), $logf:" >&2
        tail -n 60 "$logf" >&2
    fi
    echo "$tool $name: $p passed, $f failed, $s skipped"
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

# The tests and the C examples; the examples check their own output and exit non-zero on a wrong one.
SOURCES=(native/tests/*_test.c native/examples/demo.c native/examples/vmm.c)

# ---- ASan + UBSan -------------------------------------------------------------------------
# The runtime's symbols (hvrt.so.dbg, found through the .so's .gnu_debuglink in the same
# directory) name the frames of reports and let lsan.supp match the runtime's function by name.
# A directory of its own: valgrind 3.19 cannot read this DWARF 5 file (see below).
#
# ASAN_OPTIONS, each for a reason:
#   allow_user_segv_handler=1  the runtime installs its own SIGSEGV/SIGBUS handler after ASan's
#                              (a fault in managed code becomes a NullReferenceException) and
#                              hands faults outside managed code back to the previous handler,
#                              ASan's, which reports them as usual. With 0, ASan keeps the signal
#                              for itself and a managed null dereference that hvrt would handle
#                              becomes an ASan SEGV report: the library would not run as shipped.
#   handle_abort=1             a runtime FailFast (an exception escaping an export, a runtime
#                              assert) ends in abort(): ASan then prints the C stack that called
#                              into hvrt, which the runtime's own message lacks.
#   allocator_may_return_null=1  a failed allocation returns NULL, as glibc's does, instead of
#                              aborting: hvrt turns it into -ENOMEM, and tests provoke exactly that
#                              (misuse_test's dirty bitmap under a tight RLIMIT_AS).
#   detect_leaks=1             LeakSanitizer at exit (the default on x86-64 Linux; stated because
#                              the leak checks rely on it), with lsan.supp for the runtime's own
#                              per-thread wait monitors, whose pointers live in the GC heap.
# Left at their defaults: use_sigaltstack=1 (ASan's alternate signal stack per thread; the
# runtime's handler runs on it, SA_ONSTACK), detect_stack_use_after_return=0 (its fake stacks are
# C frames only; not needed here).
ASAN_ENV=(
    ASAN_OPTIONS=allow_user_segv_handler=1:handle_abort=1:allocator_may_return_null=1:detect_leaks=1
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
)

# A test that turns hvrt's debug mode on itself (misuse_test) gets the debug suppressions too:
# debug mode keeps every destroyed handle's block on purpose (see lsan-debug.supp).
debug_mode_test() { grep -q 'setenv("HVRT_DEBUG"' "$1"; }
ASAN_CFLAGS="-std=c11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -D_GNU_SOURCE -Inative/include
    -fsanitize=address,undefined -fno-sanitize-recover=undefined"

run_asan() {
    local lib=$SAN/asan-lib bin=$SAN/asan-bin src name rc supp
    mkdir -p "$lib" "$bin"
    cp "$OUT/lib/libhvrt.so" "$OUT/publish/hvrt.so.dbg" "$lib/"
    log "sanitize asan: compiling the C tests and examples with -fsanitize=address,undefined"
    for src in "${SOURCES[@]}"; do
        # shellcheck disable=SC2086
        gcc $ASAN_CFLAGS -o "$bin/$(basename "${src%.c}")" "$src" -L"$lib" -lhvrt -Wl,-rpath,"$lib" -lpthread
    done
    for src in "${SOURCES[@]}"; do
        name=$(basename "${src%.c}")
        rc=0
        supp=$ROOT/scripts/lsan.supp
        debug_mode_test "$src" && supp=$ROOT/scripts/lsan-debug.supp
        env "${ASAN_ENV[@]}" LSAN_OPTIONS="suppressions=$supp:print_suppressions=0" HVRT_POISON=1 HVRT_LEAK_VMS="${HVRT_LEAK_VMS:-100000}" "$bin/$name" >"$SAN/asan-$name.log" 2>&1 || rc=$?
        count asan "$name" "$SAN/asan-$name.log" "$rc" "$([[ $src == native/examples/* ]] && echo 1 || echo 0)"
    done
}

# ---- valgrind memcheck --------------------------------------------------------------------
# valgrind 3.19 (Debian 12) stops at hvrt.so.dbg's DWARF 5 forms ("unhandled dwarf2 abbrev form
# code 0x25 ... Giving up"), so it gets a copy of the library whose debug link points at the
# symbol table alone (objcopy --strip-debug): function names, no line numbers. The tests are the
# normal out/bin binaries; their RUNPATH lets LD_LIBRARY_PATH pick the copy.
#
# Flags: --error-exitcode fails the run on any memcheck error (invalid read/write, uninitialised
# value, bad free) and, with --errors-for-leak-kinds=definite, on a block nothing points to at
# exit. memcheck scans all mapped memory, the GC heap included, so hvrt's blocks held by managed
# objects count as reachable (that is why "definite" suffices and needs no runtime suppression);
# lifecycle_leak_test measures what is reachable but should not be (RSS, fds, maps).
#
# KVM ioctls: valgrind knows KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_CHECK_EXTENSION,
# KVM_CREATE_VCPU, KVM_RUN and a few more by name; every other request hvrt and the tests issue is
# _IOR/_IOW/_IOWR-encoded, and memcheck's generic handler checks and marks the size the request
# encodes. It cannot see memory behind a pointer inside the struct (KVM_GET_DIRTY_LOG writes the
# bitmap the struct points to): hvrt's harvest buffer is zeroed at allocation, so that is neither
# a false report nor a missed one. A request it cannot classify prints "unhandled ioctl" and a
# syscall it does not model "unhandled syscall": either fails the run, since memcheck's verdict
# would then rest on a guess.
VG_FLAGS=(--error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
    --suppressions="$ROOT/scripts/valgrind.supp" --gen-suppressions=all --num-callers=40)

ensure_valgrind() {
    command -v valgrind >/dev/null && return 0
    log "installing valgrind"
    apt_install valgrind || exit 1
}

run_valgrind() {
    ensure_valgrind
    local lib=$SAN/vg-lib src name rc
    mkdir -p "$lib"
    objcopy --strip-debug "$OUT/publish/hvrt.so.dbg" "$lib/hvrt.so.dbg"
    objcopy --remove-section=.gnu_debuglink --add-gnu-debuglink="$lib/hvrt.so.dbg" "$OUT/lib/libhvrt.so" "$lib/libhvrt.so"
    LD_LIBRARY_PATH="$lib" ldd "$OUT/bin/abi_smoke_test" | grep -q "$lib/libhvrt.so" ||
        { echo "out/bin binaries do not take libhvrt.so from LD_LIBRARY_PATH (RPATH instead of RUNPATH?)" >&2; exit 1; }
    log "sanitize valgrind: $(valgrind --version), every C test and example under memcheck"
    for src in "${SOURCES[@]}"; do
        name=$(basename "${src%.c}")
        [ -x "$OUT/bin/$name" ] || { echo "no $OUT/bin/$name: run ./build.sh first" >&2; exit 1; }
        rc=0
        local extra=()
        debug_mode_test "$src" && extra=(--suppressions="$ROOT/scripts/valgrind-debug.supp")
        env LD_LIBRARY_PATH="$lib" HVRT_POISON=1 HVRT_LEAK_VMS="${HVRT_VALGRIND_LEAK_VMS:-3000}" \
            valgrind "${VG_FLAGS[@]}" "${extra[@]}" "$OUT/bin/$name" >"$SAN/vg-$name.log" 2>&1 || rc=$?
        if grep -qE 'unhandled ioctl|unhandled [a-z0-9-]* ?syscall|unhandled instruction' "$SAN/vg-$name.log"; then
            echo "valgrind $name: valgrind did not model a call (see $SAN/vg-$name.log)" >&2
            [ "$rc" != 0 ] || rc=98
        fi
        grep -q "in use at exit" "$SAN/vg-$name.log" || [ "$rc" != 0 ] || rc=97 # valgrind itself gave up
        count valgrind "$name" "$SAN/vg-$name.log" "$rc" "$([[ $src == native/examples/* ]] && echo 1 || echo 0)"
    done
}

# Every runtime function the suppression files name must exist in the library: the names are
# NativeAOT's mangled namespace + class + method, so a move or rename would silently turn a
# suppression off (or hide nothing) and fail the run for the wrong reason. One check in the tally.
check_supp_names() {
    local names missing=0 n symbols
    names=$(grep -hoE '(leak:|fun:)hvrt_Hvrt_[A-Za-z0-9_]+' "$ROOT"/scripts/*.supp | sed 's/^[a-z]*://' | sort -u)
    # Read once into a variable: `nm | grep -q` under pipefail fails when grep stops early (SIGPIPE).
    symbols=$(nm "$OUT/publish/hvrt.so.dbg")
    for n in $names; do
        if ! grep -q " $n\$" <<<"$symbols"; then
            echo "sanitize: a suppression names $n, which libhvrt.so does not have (renamed or moved?)" >&2
            missing=$((missing + 1))
        fi
    done
    if [ "$missing" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    echo "suppression names: $(echo "$names" | wc -w) checked, $missing missing"
}

check_supp_names
case "$mode" in
    asan) run_asan ;;
    valgrind) run_valgrind ;;
    all) run_asan; run_valgrind ;;
    *) echo "usage: scripts/sanitize.sh [asan|valgrind|all]" >&2; exit 2 ;;
esac
echo "sanitize $mode: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
