#!/usr/bin/env bash
# ./build.sh bench ab REV [ROUNDS]: is this tree slower than REV? The C harnesses of this tree run
# against two libraries, REV's libhvrt.so and this tree's, in alternating processes: rounds go
# base, head, head, base, base, head... (ABBA), so a drift of the shared machine lands on both
# alike. The exports did not change shape between the two (the harnesses are this tree's binaries,
# linked by RUNPATH and redirected with LD_LIBRARY_PATH), so each process measures one library
# and its own in-process C baselines. bench/ab_compare.py then gives, for every hvrt path, the
# median over rounds of head/base, raw and normalised by the C baseline of the same process, and
# flags a path as slower only when both say so by more than the noise margin.
#
# HVRT_AB_ONLY="translate dirty_log" runs only the harnesses named.
# REV's library is built once in a git worktree under out/ab/REV (kept for the next run).
# Logs: out/bench/ab/{base,head}-ROUND-HARNESS.log; the table on stdout and in out/bench/ab/ab.md.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rev=${1:?usage: ./build.sh bench ab REV [ROUNDS]}
rounds=${2:-6}
sha=$(git rev-parse --short=12 "$rev^{commit}")
base_tree=$OUT/ab/$sha
base_lib=$base_tree/out/lib
log_dir=$OUT/bench/ab

build_base_lib() {
    [ -f "$base_lib/libhvrt.so" ] && return
    log "ab: building $rev ($sha) in $base_tree"
    rm -rf "$base_tree"
    git worktree prune
    git worktree add --detach "$base_tree" "$sha" >/dev/null
    dotnet publish "$base_tree/runtime/Runtime.csproj" -c $CONFIG -o "$base_tree/out/publish" --nologo -v quiet
    mkdir -p "$base_lib"
    cp "$base_tree/out/publish/hvrt.so" "$base_lib/libhvrt.so"
}

# The harnesses, sized so that one round of all of them takes about a minute here.
HARNESSES=(
    "translate|$OUT/bin/translate_bench --slots 1,64,4096,32764 --reps 3 --lookups 262144 --conc-slots 64 --conc-secs 0.3"
    "attributes|$OUT/bin/attributes_bench 3"
    "dirty_log|$OUT/bin/dirty_log_bench 3"
    "runloop|$OUT/bin/runloop_bench 3 2000"
)

run_side() { # side round
    local side=$1 round=$2 h name cmd
    for h in "${HARNESSES[@]}"; do
        name=${h%%|*} cmd=${h#*|}
        [[ " ${HVRT_AB_ONLY:-$name} " == *" $name "* ]] || continue
        if [ "$side" = base ]; then
            HVRT_BENCH_RESULTS=1 LD_LIBRARY_PATH="$base_lib" $cmd >"$log_dir/$side-$round-$name.log" 2>&1
        else
            HVRT_BENCH_RESULTS=1 $cmd >"$log_dir/$side-$round-$name.log" 2>&1
        fi
    done
}

build_lib
build_native
build_base_lib
rm -rf "$log_dir" && mkdir -p "$log_dir"
# The redirection must really load REV's library, or the comparison compares a library with itself.
LD_LIBRARY_PATH="$base_lib" ldd "$OUT/bin/translate_bench" | grep -q "$base_lib/libhvrt.so" ||
    { echo "ab: LD_LIBRARY_PATH does not reach $base_lib" >&2; exit 1; }
log "ab: $rounds rounds, $rev ($sha) against this tree ($(git rev-parse --short=12 HEAD)$([ -z "$(git status --porcelain --untracked-files=no)" ] || echo ', with changes'))"
for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then run_side base $r && run_side head $r; else run_side head $r && run_side base $r; fi
    log "ab: round $r of $rounds done"
done
# Instructions per call of every export, counted by callgrind in one small run of each harness
# on each side: the same binary and seeds make the same calls, so a change in the count is a
# change in the code path, free of the machine's noise (which times on a shared 2-core host are
# not; see bench/RESULTS.md).
ICOUNT=(
    "translate|$OUT/bin/translate_bench --slots 64,4096 --reps 1 --lookups 65536 --no-conc"
    "dirty_log|$OUT/bin/dirty_log_bench 1"
    "runloop|$OUT/bin/runloop_bench 1 2000"
)
if [ "${HVRT_AB_ICOUNT:-1}" = 1 ] && command -v valgrind >/dev/null; then
    for h in "${ICOUNT[@]}"; do
        name=${h%%|*} cmd=${h#*|}
        [[ " ${HVRT_AB_ONLY:-$name} " == *" $name "* ]] || continue
        for side in base head; do
            lib=$OUT/lib
            [ "$side" = base ] && lib=$base_lib
            LD_LIBRARY_PATH="$lib" valgrind --tool=callgrind --callgrind-out-file="$log_dir/$side-$name.callgrind" \
                $cmd >/dev/null 2>&1
            callgrind_annotate --inclusive=yes "$log_dir/$side-$name.callgrind" >"$log_dir/$side-$name.icount" 2>/dev/null
        done
        log "ab: instructions counted: $name"
    done
fi
python3 bench/ab_compare.py "$log_dir" --base "$rev ($sha)" | tee "$log_dir/ab.md"
