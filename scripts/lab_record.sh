#!/usr/bin/env bash
# ./build.sh lab record [KERNEL|all|host]...: records KVM's answers to kvm_diff_test's requests,
# one file per kernel, into native/tests/lab/answers/ (kvm_replay_test.c replays them against
# hvrt on every machine, KVM or not). Each lab kernel (default: all of them, and this host's
# /dev/kvm where it is usable) runs kvm_diff_test with HVRT_DIFF_RECORD; a run with a mismatch
# records nothing (the file would hold answers hvrt does not give). HVRT_DIFF_OPS (default 20000
# a pass) and HVRT_DIFF_SEED pass through.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

answers=$ROOT/native/tests/lab/answers
ops=${HVRT_DIFF_OPS:-20000}
mkdir -p "$answers"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(all host)

record_host() {
    if ! { exec 3<>/dev/kvm; } 2>/dev/null; then
        log "record: no usable /dev/kvm here: the host's kernel is not recorded"
        return 0
    fi
    exec 3>&-
    local name tmp
    name=host-$(uname -r)
    tmp=$(mktemp)
    log "record: this host's KVM ($(uname -r)), $ops ops a pass"
    if HVRT_DIFF_OPS=$ops HVRT_DIFF_RECORD=$tmp "$OUT/bin/kvm_diff_test" | tail -n 3; then
        mv "$tmp" "$answers/$name.txt" && chmod 644 "$answers/$name.txt"
        log "record: $answers/$name.txt"
    else
        rm -f "$tmp"
        log "record: $name: kvm_diff_test failed; nothing recorded"
        return 1
    fi
}

record_lab() { # KERNEL
    local k=$1 dir=$OUT/lab/record/$1
    rm -rf "$dir" && mkdir -p "$dir"
    log "record: lab kernel $k, $ops ops a pass"
    # The binary is named inside sh -c's string, so it goes in with --file (and its libraries).
    if HVRT_OUT="$OUT" scripts/kvm_lab.sh boot "$k" --out "$dir" --file "$OUT/bin/kvm_diff_test" -- \
        sh -c "HVRT_DIFF_OPS=$ops ${HVRT_DIFF_SEED:+HVRT_DIFF_SEED=$HVRT_DIFF_SEED} HVRT_DIFF_RECORD=\$HVRT_LAB_OUT/answers.txt out/bin/kvm_diff_test" |
        tail -n 3 && [ -s "$dir/answers.txt" ]; then
        cp "$dir/answers.txt" "$answers/$k.txt" && chmod 644 "$answers/$k.txt"
        log "record: $answers/$k.txt"
    else
        log "record: $k: kvm_diff_test failed in the lab; nothing recorded"
        return 1
    fi
}

failed=0
for t in "${targets[@]}"; do
    case "$t" in
        host) record_host || failed=1 ;;
        all) for k in $(HVRT_OUT="$OUT" scripts/kvm_lab.sh kernels); do record_lab "$k" || failed=1; done ;;
        *) record_lab "$t" || failed=1 ;;
    esac
done
exit $failed
