# Sourced by scripts/common.sh (so by build.sh and every scripts/*.sh): the one way the project
# installs a Debian package it needs (nothing installed by hand survives to CI or the next machine).
# apt_install PKG...: quiet; apt's chatter (debconf notes) is shown only if it fails; returns
# apt's status so the caller decides whether a failure is fatal.
apt_install() {
    local out
    if ! out=$(apt-get update -qq 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" 2>&1); then
        printf '%s\n' "$out" >&2
        return 1
    fi
}
