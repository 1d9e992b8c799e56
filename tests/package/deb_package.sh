#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctest package.deb: builds the Debian package (scripts/build-deb.sh), runs
# lintian on it (any error fails) and checks, without installing anything:
#   - Depends pins openvswitch-switch-dpdk and openvswitch-common to exactly
#     the Debian version of the installed openvswitch-source;
#   - the files are where they belong, and nothing else is shipped (no
#     /usr/sbin, /etc or /var file: the database is never the package's);
#   - the packaged ovs-vswitchd has Debian's compiled-in paths and finds the
#     plugin next to itself (<dir>/../lib/openvswitch/plugins);
#   - the maintainer scripts, run against a scratch root (DPKG_ROOT, which
#     update-alternatives honours) holding Debian's two alternatives, make
#     ours /usr/sbin/ovs-vswitchd and give Debian's back on removal, in auto
#     mode and after a selection made by hand, and keep ours on upgrade.
#
# Environment: NVH_DEB_BUILD_DIR (build tree for scripts/build-deb.sh),
# NVH_PROJECT_VERSION (netdev-vhost's version, the start of the package's).
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
failures=0
work=$(mktemp -d "${TMPDIR:-/tmp}/nvh-deb-XXXXXX")
trap 'rm -rf "$work"' EXIT

log() { echo "package.deb: $*"; }
fail() { echo "FAIL: package.deb: $*"; exit 1; }
check() {   # check WHAT EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        log "ok: $1 = $3"
    else
        log "MISMATCH: $1: expected '$2', got '$3'"
        failures=$((failures + 1))
    fi
}
check_has() {   # check_has WHAT NEEDLE HAYSTACK
    if grep -qF -- "$2" <<<"$3"; then
        log "ok: $1 has '$2'"
    else
        log "MISMATCH: $1 lacks '$2'"
        failures=$((failures + 1))
    fi
}

for tool in lintian dpkg-deb dpkg-query update-alternatives; do
    command -v "$tool" >/dev/null || fail "$tool not installed (scripts/setup.sh)"
done

# ---- Build ------------------------------------------------------------------
"$repo/scripts/build-deb.sh" > "$work/build.log" 2>&1 ||
    { tail -n 60 "$work/build.log"; fail "scripts/build-deb.sh failed"; }
deb=$(tail -n 1 "$work/build.log")
[ -f "$deb" ] || fail "no package: '$deb'"
log "package $deb"

# ---- lintian ----------------------------------------------------------------
# Every tag is printed; errors fail the test, warnings are listed only.
lintian --info --display-info --fail-on error "$deb" > "$work/lintian.txt" 2>&1
lintian_rc=$?
sed 's/^/  lintian: /' "$work/lintian.txt"
errors=$(grep -c '^E: ' "$work/lintian.txt")
warnings=$(grep -c '^W: ' "$work/lintian.txt")
log "lintian: $errors error(s), $warnings warning(s), exit status $lintian_rc"
check "lintian errors" 0 "$errors"
check "lintian exit status" 0 "$lintian_rc"

# ---- Control fields ---------------------------------------------------------
ovs_version=$(dpkg-query -W -f='${Version}' openvswitch-source)
depends=$(dpkg-deb -f "$deb" Depends)
log "Depends: $depends"
check_has Depends "openvswitch-switch-dpdk (= $ovs_version)" "$depends"
check_has Depends "openvswitch-common (= $ovs_version)" "$depends"
check_has Depends "librte-eal" "$depends"   # dpkg-shlibdeps ran
check "Package" netdev-vhost-switch "$(dpkg-deb -f "$deb" Package)"
check "Architecture" "$(dpkg --print-architecture)" "$(dpkg-deb -f "$deb" Architecture)"
check "Version" "${NVH_PROJECT_VERSION:-0.1.0}+ovs$ovs_version-1" "$(dpkg-deb -f "$deb" Version)"

# ---- Files ------------------------------------------------------------------
dpkg-deb -c "$deb" > "$work/contents.txt"
sed 's/^/  /' "$work/contents.txt"
files=$(awk '$1 !~ /^d/ { print $1, $2, $6 }' "$work/contents.txt" | sort)
expected=$(sort <<'LIST'
-rwxr-xr-x root/root ./usr/lib/netdev-vhost/sbin/ovs-vswitchd
-rw-r--r-- root/root ./usr/lib/netdev-vhost/lib/openvswitch/plugins/netdev-vhost.so
-rwxr-xr-x root/root ./usr/lib/netdev-vhost/lib/openvswitch/plugins/netdev-vhost-keeper
-rw-r--r-- root/root ./usr/lib/systemd/system/ovs-vswitchd.service.d/netdev-vhost.conf
-rw-r--r-- root/root ./usr/share/doc/netdev-vhost-switch/changelog.Debian.gz
-rw-r--r-- root/root ./usr/share/doc/netdev-vhost-switch/copyright
LIST
)
check "files (mode, owner, path)" "$expected" "$files"

dpkg-deb -x "$deb" "$work/tree"
vswitchd=$work/tree/usr/lib/netdev-vhost/sbin/ovs-vswitchd
strings_out=$(strings -a "$vswitchd")
for path in /var/run/openvswitch /etc/openvswitch /var/log/openvswitch \
            /usr/share/openvswitch; do
    check_has "ovs-vswitchd's compiled-in paths" "$path" "$strings_out"
done
if grep -q '/usr/local' <<<"$strings_out"; then
    log "MISMATCH: ovs-vswitchd names /usr/local (configured without Debian's paths)"
    failures=$((failures + 1))
fi
check "ovs-vswitchd --version" "ovs-vswitchd (Open vSwitch) ${ovs_version%%-*}" \
      "$("$vswitchd" --version | head -n 1)"
check "plugin next to the binary" yes \
      "$([ -f "$(dirname "$vswitchd")/../lib/openvswitch/plugins/netdev-vhost.so" ] && echo yes)"
check "plugin's dynamic symbols" "ovs_plugin_configure ovs_plugin_exit ovs_plugin_init ovs_plugin_ovs_version" \
      "$(nm -D --defined-only "$work/tree/usr/lib/netdev-vhost/lib/openvswitch/plugins/netdev-vhost.so" |
         awk '$3 ~ /^ovs_plugin_/ { print $3 }' | sort | xargs)"
check "keeper next to the plugin" yes \
      "$([ -x "$work/tree/usr/lib/netdev-vhost/lib/openvswitch/plugins/netdev-vhost-keeper" ] && echo yes)"
check "ovs-vswitchd.service drop-in" "KillMode=process" \
      "$(grep '^KillMode=' "$work/tree/usr/lib/systemd/system/ovs-vswitchd.service.d/netdev-vhost.conf")"

# ---- Maintainer scripts, against a scratch root -----------------------------
dpkg-deb -e "$deb" "$work/control"
for s in postinst prerm postrm; do
    [ -x "$work/control/$s" ] || { log "MISMATCH: no executable $s"; failures=$((failures + 1)); }
done
root=$work/root
ours=/usr/lib/netdev-vhost/sbin/ovs-vswitchd
stock=/usr/lib/openvswitch-switch/ovs-vswitchd
dpdk=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
alt() { DPKG_ROOT=$root update-alternatives "$@"; }
query() { alt --query ovs-vswitchd | sed -n "s/^$1: //p"; }
# Where /usr/sbin/ovs-vswitchd leads in the scratch root (its links are
# absolute: followed by hand, inside the root).
target() { readlink "$root$(readlink "$root/usr/sbin/ovs-vswitchd")"; }
run_script() { DPKG_ROOT=$root "$work/control/$1" "${@:2}" > "$work/script.log" 2>&1 ||
               { cat "$work/script.log"; log "MISMATCH: $* failed"; failures=$((failures + 1)); }; }
# A root as openvswitch-switch and openvswitch-switch-dpdk leave it: their
# binaries registered with priorities 100 and 50, a database.
new_root() {
    rm -rf "$root"
    mkdir -p "$root/usr/sbin" "$root/etc/alternatives" "$root/etc/openvswitch" \
             "$root/var/lib/dpkg/alternatives" "$root/var/log" \
             "$root/$(dirname $stock)" "$root/$(dirname $dpdk)"
    cp -a "$work/tree/usr" "$root/"
    printf '#!/bin/sh\n' > "$root/$stock"
    printf '#!/bin/sh\n' > "$root/$dpdk"
    chmod 755 "$root/$stock" "$root/$dpdk"
    echo 'a database' > "$root/etc/openvswitch/conf.db"
    alt --install /usr/sbin/ovs-vswitchd ovs-vswitchd $stock 100 >/dev/null
    alt --install /usr/sbin/ovs-vswitchd ovs-vswitchd $dpdk 50 >/dev/null
}

log "alternatives, auto mode"
new_root
run_script postinst configure
check "after install: selected" "$ours" "$(query Value)"
check "after install: /usr/sbin/ovs-vswitchd" "$ours" "$(target)"
check "after install: mode" auto "$(query Status)"
run_script postinst configure "$(dpkg-deb -f "$deb" Version)"   # reconfigure
run_script prerm upgrade "$(dpkg-deb -f "$deb" Version)"
check "after upgrade: selected" "$ours" "$(query Value)"
run_script prerm remove                      # a removal that fails
run_script postinst abort-remove
check "after an aborted removal: selected" "$ours" "$(query Value)"
run_script prerm remove
run_script postrm remove
check "after remove: /usr/sbin/ovs-vswitchd" "$stock" "$(target)"
check "after remove: ours withdrawn" "" "$(alt --list ovs-vswitchd | grep -xF $ours)"
run_script postrm purge
check "after purge: database untouched" "a database" "$(cat "$root/etc/openvswitch/conf.db")"

log "alternatives, DPDK selected by hand (Debian's README.Debian)"
new_root
alt --set ovs-vswitchd $dpdk >/dev/null
run_script postinst configure
check "after install: selected" "$ours" "$(query Value)"
check "after install: /usr/sbin/ovs-vswitchd" "$ours" "$(target)"
run_script prerm remove
run_script postrm remove
check "after remove: /usr/sbin/ovs-vswitchd" "$dpdk" "$(target)"
check "after remove: mode" manual "$(query Status)"
check "after remove: no state left" "" "$(ls -A "$root/var/lib/netdev-vhost-switch" 2>/dev/null)"
check "after remove: database untouched" "a database" "$(cat "$root/etc/openvswitch/conf.db")"

if [ "$failures" -gt 0 ]; then
    fail "$failures check(s) failed"
fi
echo "PASS: package.deb"
