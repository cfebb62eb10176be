# shellcheck shell=bash
# Sourced by scripts/kvm_lab.sh: Debian packages the lab uses without installing them (a guest
# kernel must never become the host's: linux-headers-* even depends on its linux-image, so
# `apt-get install` of headers would install a kernel). Names are resolved at run time, newest
# first, because the archive drops old kernel ABIs (6.1.0-N-amd64, 6.12.N+deb12-amd64).

# apt_lists_fresh: apt-get update once per process (a new machine has no lists; a stale list
# names versions the archive no longer has).
LAB_APT_UPDATED=
apt_lists_fresh() {
    [ -n "$LAB_APT_UPDATED" ] && return 0
    apt-get update -qq >/dev/null 2>&1 || { echo "lab: apt-get update failed" >&2; return 1; }
    LAB_APT_UPDATED=1
}

# apt_candidate PKG: the version apt would take, empty if apt does not know PKG.
apt_candidate() {
    apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -n1
}

# apt_depends PKG: PKG's Depends field (one line, as apt-cache show prints it).
apt_depends() {
    apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Depends: //p' | head -n1
}

# apt_meta_target META REGEX: the package that the metapackage META depends on, if it matches
# REGEX (linux-image-amd64 -> linux-image-6.1.0-57-amd64); else the highest name matching REGEX.
apt_meta_target() {
    local meta=$1 re=$2 dep
    dep=$(apt-cache depends "$meta" 2>/dev/null | sed -nE 's/^ +Depends: ([^ ]+).*/\1/p' | grep -E "$re" | head -n1 || true)
    [ -n "$dep" ] || dep=$(apt-cache pkgnames 2>/dev/null | grep -E "$re" | sort -V | tail -n1 || true)
    printf '%s\n' "$dep"
}

# apt_fetch DIR PKG=VERSION...: download exactly these versions into DIR, apt's complaint on
# stderr if it cannot. APT::Sandbox::User=root: DIR may be a directory the _apt user cannot
# write (under /root).
apt_fetch() {
    local dir=$1 out
    shift
    if ! out=$(cd "$dir" && apt-get -q -o APT::Sandbox::User=root download "$@" 2>&1); then
        printf 'lab: apt-get download %s failed:\n%s\n' "$*" "$out" >&2
        return 1
    fi
}
