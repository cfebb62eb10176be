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
cd "$(dirname "$0")/.."
OUT=${HVRT_OUT:-$PWD/out}
minutes=${1:-10}

[ -e "$OUT/lib/libhvrt.so" ] || { echo "no $OUT/lib/libhvrt.so: run ./build.sh first" >&2; exit 1; }
mkdir -p "$OUT/bin"
lib=$OUT/lib san=()
if [ "${HVRT_SOAK_ASAN:-0}" = 1 ]; then
    lib=$OUT/sanitize/asan-lib # with hvrt.so.dbg beside it, so lsan.supp matches by name
    mkdir -p "$lib" && cp "$OUT/lib/libhvrt.so" "$OUT/publish/hvrt.so.dbg" "$lib/"
    san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    export ASAN_OPTIONS=allow_user_segv_handler=1:handle_abort=1:allocator_may_return_null=1:detect_leaks=1
    export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
gcc -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Inative/include "${san[@]}" -o "$OUT/bin/soak" \
    native/soak/soak.c -L"$lib" -lhvrt -Wl,-rpath,"$lib" -lpthread

leak_vms=${HVRT_LEAK_VMS:-100000}
if [ "$leak_vms" != 0 ]; then
    printf '==> soak: lifecycle_leak_test with %s VMs\n' "$leak_vms" >&2
    gcc -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Inative/include -o "$OUT/bin/lifecycle_leak_test" \
        native/tests/lifecycle_leak_test.c -L"$OUT/lib" -lhvrt -Wl,-rpath,"$OUT/lib" -lpthread
    HVRT_POISON=1 HVRT_LEAK_VMS=$leak_vms "$OUT/bin/lifecycle_leak_test"
fi
printf '==> soak: %s minutes (HVRT_POISON=1: a freed slot set reads as garbage)\n' "$minutes" >&2
HVRT_POISON=1 exec "$OUT/bin/soak" "$minutes"
