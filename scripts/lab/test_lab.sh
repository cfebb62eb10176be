# shellcheck shell=bash
# Sourced by scripts/test.sh: the lab part of ./build.sh test. For each lab kernel
# (scripts/kvm_lab.sh kernels) one boot runs every suite that uses KVM, and its logs are tallied
# like the host's suites (test.sh's tally, hvrt_c_counts); each kernel prints
#   lab KERNEL: N passed, N failed, N skipped (T s)
# and its counts go into the closing line. A kernel that cannot be prepared or a boot that does
# not finish is a failed suite, never a skip.
#
# Which suites: the C tests and the Rust crate's test binaries whose source uses KVM (opens
# /dev/kvm, asks test_util.h or common/ for a KVM VM, or includes a header that does), found
# by grep at run time so that a new KVM test joins the lab without an edit here; the others need
# no kernel and run on the host only (layout.rs even compiles C, and the guest has no
# compiler). Then kvm_diff_test again bound (HVRT_DIFF_BIND=1), the probe (which must find VM
# type 1 on 6.12-sw), and the example VMMs, which run a real guest there.

# The lab's sizes: the leak test's VM count (30,000 took 153 s inside), one suite's and one
# boot's time limits.
LAB_LEAK_VMS=${HVRT_LAB_LEAK_VMS:-1000}
LAB_SUITE_TIMEOUT=${HVRT_LAB_SUITE_TIMEOUT:-300}
LAB_BOOT_TIMEOUT=${HVRT_LAB_TIMEOUT:-1200}
LAB_USES_KVM='/dev/kvm|kvm_vm\(|"kvm_guest\.h"|"kvm_diff_kvm\.h"'

lab_q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# lab_build: the probe, the Rust test binaries (cargo test --no-run) and the Rust example VMM;
# sets LAB_RUST (lines "NAME EXECUTABLE" of the test binaries that use KVM).
LAB_RUST=
lab_build() {
    scripts/kvm_lab.sh probe >/dev/null || return 1
    crate_cargo build -q --example vmm || return 1
    local json="$OUT/lab/rust-tests.json"
    crate_cargo test --no-run --message-format=json >"$json" || return 1
    LAB_RUST=$(python3 - "$json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["name"], m["target"]["src_path"], m["executable"])
PY
    ) || return 1
    local name src exe out=
    while read -r name src exe; do
        grep -qE "$LAB_USES_KVM" "$src" && out+="$name $exe"$'\n'
    done <<<"$LAB_RUST"
    LAB_RUST=$out
}

# lab_plan KERNEL PLAN FILESVAR: writes the guest's script (scripts/lab/suite.sh, then one
# "suite" line per suite) and sets LAB_SUITES ("KIND NAME" lines, in order) and, in the array
# named FILESVAR, the --file arguments of the boot.
LAB_SUITES=
lab_plan() {
    local kernel=$1 plan=$2
    local -n files=$3
    local bin name exe crate=$ROOT/native/rust/hvrt
    files=()
    LAB_SUITES=
    {
        echo "# The lab's suites on kernel $kernel, written by scripts/lab/test_lab.sh."
        echo "LAB_SUITE_TIMEOUT=$LAB_SUITE_TIMEOUT"
        cat scripts/lab/suite.sh
        # (scripts/kvm_lab.sh boot adds $OUT/bin, $OUT/lib and the headers itself.)
        files+=(--file "$OUT/lab/kvm_probe")
        LAB_SUITES+="c kvm_probe"$'\n'
        if [ "$kernel" = 6.12-sw ]; then
            echo "suite kvm_probe $(lab_q "$ROOT") $(lab_q "$OUT/lab/kvm_probe") --expect-vm-type 1"
        else
            echo "suite kvm_probe $(lab_q "$ROOT") $(lab_q "$OUT/lab/kvm_probe")"
        fi
        for bin in "$OUT"/bin/*_test; do
            name=$(basename "$bin")
            grep -qsE "$LAB_USES_KVM" "native/tests/$name.c" || continue
            files+=(--file "$bin")
            LAB_SUITES+="c $name"$'\n'
            echo "suite $name $(lab_q "$ROOT") env HVRT_POISON=1 HVRT_LEAK_VMS=$LAB_LEAK_VMS $(lab_q "$bin")"
        done
        if [ -e "$OUT/bin/kvm_diff_test" ]; then
            LAB_SUITES+="c kvm_diff_test-bound"$'\n'
            echo "suite kvm_diff_test-bound $(lab_q "$ROOT") env HVRT_POISON=1 HVRT_DIFF_BIND=1 $(lab_q "$OUT/bin/kvm_diff_test")"
        fi
        while read -r name exe; do
            [ -n "$name" ] || continue
            files+=(--file "$exe")
            LAB_SUITES+="rust rust-$name"$'\n'
            # Like cargo test: the crate's directory as cwd; skips named in HVRT_SKIP_LOG.
            echo "suite rust-$name $(lab_q "$crate") env HVRT_POISON=1 \"HVRT_SKIP_LOG=\$HVRT_LAB_OUT/rust-$name.skips\" $(lab_q "$exe")"
        done <<<"$LAB_RUST"
        files+=(--file "$OUT/bin/vmm" --file "$OUT/rust-crate/debug/examples/vmm")
        LAB_SUITES+="example example-vmm"$'\n'"example example-rust-vmm"$'\n'
        echo "suite example-vmm $(lab_q "$ROOT") env HVRT_POISON=1 $(lab_q "$OUT/bin/vmm")"
        echo "suite example-rust-vmm $(lab_q "$ROOT") env HVRT_POISON=1 $(lab_q "$OUT/rust-crate/debug/examples/vmm")"
    } >"$plan"
}

# lab_tally KERNEL DIR: each suite of LAB_SUITES from DIR/NAME.log and DIR/NAME.rc, judged as
# the host part judges it (C: the hvrt-c line; Rust: libtest's result line less the skips;
# examples: exit status, "no real guest on this machine" a skip).
lab_tally() {
    local kernel=$1 dir=$2 kind name logf rc counts
    while read -r kind name; do
        [ -n "$name" ] || continue
        logf=$dir/$name.log
        rc=$(cat "$dir/$name.rc" 2>/dev/null || echo "none: it never finished")
        counts=
        case "$kind" in
            c) [ -f "$logf" ] && counts=$(hvrt_c_counts "$logf") ;;
            rust)
                local nskip=0
                [ -f "$dir/$name.skips" ] && nskip=$(sort -u "$dir/$name.skips" | wc -l)
                [ -f "$logf" ] && counts=$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/p' "$logf" |
                    awk -v k="$nskip" 'NF == 3 { p += $1; f += $2; s += $3; n++ } END { if (n) print p - k, f, s + k }')
                ;;
            example)
                if [ "$rc" = 0 ] && grep -q "no real guest on this machine" "$logf"; then
                    counts="1 0 1"
                elif [ "$rc" = 0 ]; then
                    counts="1 0 0"
                else
                    counts="0 1 0"
                fi
                ;;
        esac
        tally "lab $kernel $name" "$counts" "$rc"
    done <<<"$LAB_SUITES"
}

# shellcheck disable=SC2154 # passed, failed, skipped: test.sh's counters, which tally adds to
run_lab_kernel() {
    local kernel=$1 t0=$SECONDS p0=$passed f0=$failed s0=$skipped rc=0
    local dir=$OUT/lab/$kernel plan=$OUT/lab/plan-$kernel.sh boot_files=()
    log "lab $kernel: preparing the kernel (scripts/kvm_lab.sh prepare $kernel)"
    if ! scripts/kvm_lab.sh prepare "$kernel"; then
        echo "lab $kernel: FAILED: the kernel could not be prepared" >&2
        tally "lab $kernel prepare" "0 1 0" 1
    else
        lab_plan "$kernel" "$plan" boot_files
        rm -rf "$dir"
        log "lab $kernel: booting, $(grep -c . <<<"$LAB_SUITES") suites (console: $dir/console.log)"
        scripts/kvm_lab.sh boot "$kernel" --out "$dir" --timeout "$LAB_BOOT_TIMEOUT" "${boot_files[@]}" \
            -- sh "$plan" 2>&1 | tee "$OUT/lab-$kernel.log" || rc=$?
        lab_tally "$kernel" "$dir"
        if [ "$rc" != 0 ]; then
            echo "lab $kernel: FAILED: the boot did not finish (scripts/kvm_lab.sh boot: status $rc)" >&2
            tally "lab $kernel boot" "0 1 0" "$rc"
        fi
    fi
    echo "lab $kernel: $((passed - p0)) passed, $((failed - f0)) failed, $((skipped - s0)) skipped ($((SECONDS - t0)) s)"
}

run_lab() {
    log "KVM lab: the suites that use KVM, in a guest of each lab kernel (scripts/kvm_lab.sh)"
    mkdir -p "$OUT/lab"
    if ! lab_build; then
        echo "lab: FAILED: the probe or the Rust binaries could not be built" >&2
        tally "lab build" "0 1 0" 1
        return
    fi
    local kernel
    for kernel in $(scripts/kvm_lab.sh kernels); do run_lab_kernel "$kernel"; done
}
