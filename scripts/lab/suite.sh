# shellcheck shell=dash
# The guest's half of the lab part of ./build.sh test (busybox sh): the top of the plan that
# scripts/lab/test_lab.sh writes for one boot; each line after it runs one suite.
#
#   suite NAME DIR CMD [ARG...]   CMD in DIR, its output streamed and kept in $HVRT_LAB_OUT/NAME.log,
#                                 its exit status in $HVRT_LAB_OUT/NAME.rc (143: killed after
#                                 $LAB_SUITE_TIMEOUT s, so one hung suite cannot eat the boot)
# The host tallies NAME.log and NAME.rc as it tallies its own suites; a suite without NAME.rc
# never finished.
: "${LAB_SUITE_TIMEOUT:=300}"
suite() {
    name=$1 dir=$2
    shift 2
    start=$(date +%s)
    echo "==> lab $HVRT_LAB_KERNEL: $name"
    mkdir -p "$dir"
    {
        (cd "$dir" && exec timeout -k 10 "$LAB_SUITE_TIMEOUT" "$@")
        echo $? >"$HVRT_LAB_OUT/$name.rc"
    } 2>&1 | tee "$HVRT_LAB_OUT/$name.log"
    echo "==> lab $HVRT_LAB_KERNEL: $name: exit status $(cat "$HVRT_LAB_OUT/$name.rc") ($(($(date +%s) - start)) s)"
}
