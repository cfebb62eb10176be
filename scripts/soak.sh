#!/usr/bin/env bash
# Soak: the full-size leak check, then readers, a churning writer, conversions and dirty logging
# together on one VM for the given minutes with every invariant checked continuously
# (native/soak/soak.c says which). Progress every 30 s; the last line is "soak: 0 violations" or
# "soak: FAILED", and the exit status is non-zero on any violation or leak.
#
#   scripts/soak.sh [minutes]   (default 10; ./build.sh soak [minutes] builds the library first)
#
# Env: HVRT_LEAK_VMS (default 100000) sizes the leak check (0 skips it); HVRT_SOAK_ASAN=1 builds
# the soak with ASan+UBSan (options as scripts/sanitize.sh): a read through hvrt_inline.h of a
# slot set hvrt already freed is then a heap-use-after-free report.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
minutes=${1:-10}

[ -e "$OUT/lib/libhvrt.so" ] || { echo "no $OUT/lib/libhvrt.so: run ./build.sh first" >&2; exit 1; }
mkdir -p "$OUT/bin"
lib=$OUT/lib san=()
if [ "${HVRT_SOAK_ASAN:-0}" = 1 ]; then
    lib=$OUT/sanitize/asan-lib # with hvrt.so.dbg beside it, so lsan.supp matches by name
    mkdir -p "$lib" && cp "$OUT/lib/libhvrt.so" "$OUT/publish/hvrt.so.dbg" "$lib/"
    san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    export ASAN_OPTIONS=allow_user_segv_handler=1:handle_abort=1:allocator_may_return_null=1:detect_leaks=1
    export LSAN_OPTIONS=suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
gcc $CFLAGS "${san[@]}" -o "$OUT/bin/soak" native/soak/soak.c -L"$lib" -lhvrt -Wl,-rpath,"$lib" -lpthread

leak_vms=${HVRT_LEAK_VMS:-100000}
if [ "$leak_vms" != 0 ]; then
    log "soak: lifecycle_leak_test with $leak_vms VMs"
    gcc $CFLAGS -o "$OUT/bin/lifecycle_leak_test" native/tests/lifecycle_leak_test.c $LDFLAGS
    HVRT_POISON=1 HVRT_LEAK_VMS=$leak_vms "$OUT/bin/lifecycle_leak_test"
fi
log "soak: $minutes minutes (HVRT_POISON=1: a freed slot set reads as garbage)"
HVRT_POISON=1 exec "$OUT/bin/soak" "$minutes"
