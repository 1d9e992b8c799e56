#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs Open vSwitch's own DPDK system tests (tests/system-dpdk.at, what
# "make check-dpdk" runs) that add a dpdkvhostuserclient port, against
# netdev-vhost's vhostuserclient port, on OVS's macros and testsuite driver.
#
#   1. Copies tests/system-dpdk.at and tests/system-dpdk-macros.at from the
#      OVS tree the build unpacked (<build>/ovs) into
#      <build>/ovs-system-dpdk/tests and applies vhostuserclient.patch (next
#      to this script; its header says what it changes and why).
#   2. Builds the testsuite driver with OVS's own rule and Makefile
#      (testsuite.mk): <build>/ovs/tests/system-dpdk-vhostuserclient-testsuite.
#   3. Runs the selected tests as "make check-dpdk" would (-C tests, OVS's
#      AUTOTEST_PATH), with ovs-vswitchd loading the plugin
#      (OVS_PLUGIN_DIR=<prefix>/lib/openvswitch/plugins), then removes the
#      hugepage file testpmd leaves behind (--file-prefix page0,
#      --single-file-segments: 512 MB held until removed).
#   4. Prints the summary, each test's result, and the log of every test
#      that did not pass.  Exits 0 only if every selected test passed: a
#      skipped one (e.g. no free hugepages) fails the run too.
# All of it runs under the integration lock, the one the integration tests
# take (two userspace datapaths collide on the tap "ovs-netdev"; the tests'
# namespaces, taps and testpmd prefix have fixed names).
#
# Needs root, scripts/setup.sh (dpdk-testpmd, iputils-ping, ethtool,
# hugepages) and scripts/build.sh (the OVS tree and the install tree).
#
# Environment:
#   NVH_BUILD_DIR   build tree (default: build in the repository)
#   NVH_PREFIX      install prefix holding the plugin (default <build>/install)
#   NVH_LOCK_FILE, NVH_LOCK_WAIT   as for the integration tests
#                   (/tmp/netdev-vhost-integration.lock, 3600 s)
#   NVH_SYSDPDK_TESTS  test titles to run, one per line (default: the
#                   twelve below)
#   TESTSUITEFLAGS  more arguments for the testsuite (e.g. -v, -d)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${NVH_BUILD_DIR:-$repo/build}
prefix=${NVH_PREFIX:-$build/install}
ovs=$build/ovs
derived=$build/ovs-system-dpdk
suite_name=system-dpdk-vhostuserclient-testsuite
suite=$ovs/tests/$suite_name
lock=${NVH_LOCK_FILE:-/tmp/netdev-vhost-integration.lock}

# Every upstream test that adds a dpdkvhostuserclient port.  Not run: the
# tests on a physical port (OVS_DPDK_PRE_PHY_SKIP: a NIC bound to vfio or
# igb_uio), "ping vhost-user ports" (dpdkvhostuser, server mode, which this
# port does not implement), "EAL init" and "user configured mempool" (no
# vhost port), the MFEX tests (net_pcap ports, scapy, AVX512).
default_tests="OVS-DPDK - add vhost-user-client port
OVS-DPDK - ping vhost-user-client ports
OVS-DPDK - Ingress policing create delete vport port
OVS-DPDK - Ingress policing no policing rate
OVS-DPDK - Ingress policing no policing burst
OVS-DPDK - QoS create delete vport port
OVS-DPDK - QoS no cir
OVS-DPDK - QoS no cbs
OVS-DPDK - MTU increase vport port
OVS-DPDK - MTU decrease vport port
OVS-DPDK - MTU upper bound vport port
OVS-DPDK - MTU lower bound vport port"
tests=${NVH_SYSDPDK_TESTS:-$default_tests}

log() { echo "ovs-system-dpdk: $*"; }
die() { echo "FAIL: ovs_system_dpdk: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] ||
    die "needs root (hugepages, DPDK, network namespaces), after scripts/setup.sh"
for cmd in dpdk-testpmd ping ethtool ip lscpu flock patch autom4te make; do
    command -v "$cmd" >/dev/null || die "$cmd not installed (scripts/setup.sh)"
done
if [ ! -f "$ovs/tests/system-dpdk.at" ] || [ ! -f "$ovs/Makefile" ]; then
    die "no configured OVS tree in $ovs (scripts/build.sh)"
fi
[ -x "$ovs/vswitchd/ovs-vswitchd" ] || die "$ovs/vswitchd/ovs-vswitchd not built (scripts/build.sh)"
plugin_dir=$prefix/lib/openvswitch/plugins
[ -f "$plugin_dir/netdev-vhost.so" ] ||
    die "no $plugin_dir/netdev-vhost.so (scripts/build.sh installs it)"

# The rest under the lock.  -o: the lock is held by flock itself, not by an
# fd the daemons the tests start would inherit.
if [ -z "${NVH_LOCK_HELD:-}" ]; then
    log "taking $lock (waits while another run that starts ovs-vswitchd holds it)"
    exec flock -o -w "${NVH_LOCK_WAIT:-3600}" "$lock" \
        env NVH_LOCK_HELD=$$ bash "$0" "$@"
fi

# testpmd takes 512 MB of 2 MB hugepages (--socket-mem=512), ovs-vswitchd
# what its mempools need; OVS's macros skip a test when none is free.
need=384
nr=/sys/kernel/mm/hugepages/hugepages-2048kB
[ -d $nr ] || die "this kernel has no 2 MB hugepages"
awk '$3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts ||
    die "no hugetlbfs mounted (scripts/setup.sh)"
free=$(cat $nr/free_hugepages)
if [ "$free" -lt "$need" ]; then
    total=$(cat $nr/nr_hugepages)
    log "reserving $((total + need - free)) 2 MB hugepages (free: $free, need: $need)"
    echo $((total + need - free)) > $nr/nr_hugepages || true
    free=$(cat $nr/free_hugepages)
    [ "$free" -ge "$need" ] || die "only $free free 2 MB hugepages, need $need"
fi

# ---- 1. The derived .at files ----------------------------------------------
# Written only when their content changes, so that the driver is rebuilt
# only then.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvh-sysdpdk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tests" "$derived/tests"
for f in system-dpdk.at system-dpdk-macros.at; do
    cp "$ovs/tests/$f" "$tmp/tests/$f"
done
(cd "$tmp" && patch -p1 --fuzz=0 --no-backup-if-mismatch --quiet) \
    < "$here/vhostuserclient.patch" ||
    die "vhostuserclient.patch does not apply to $ovs/tests (another OVS release?)"
for f in system-dpdk.at system-dpdk-macros.at; do
    cmp -s "$tmp/tests/$f" "$derived/tests/$f" || cp "$tmp/tests/$f" "$derived/tests/$f"
done

# ---- 2. The testsuite driver, by OVS's rule ---------------------------------
nice -n 19 make -s -C "$ovs" -f Makefile -f "$here/testsuite.mk" \
    NVH_SYSDPDK_DIR="$derived" "tests/$suite_name" ||
    die "cannot build $suite"

# Test titles -> numbers, from the driver's own list.
list=$("$suite" -C "$ovs/tests" --list)
numbers=()
while IFS= read -r title; do
    [ -n "$title" ] || continue
    n=$(awk -v t="$title" '
        match($0, /^ *[0-9]+: [^ ]+ +/) {
            if (substr($0, RLENGTH + 1) == t) { sub(/:.*/, ""); print $1 + 0 }
        }' <<<"$list")
    [ -n "$n" ] || die "no test \"$title\" in $suite"
    numbers+=("$n")
done <<<"$tests"
log "tests ${numbers[*]} of $suite"

# ---- 3. Run ---------------------------------------------------------------------
export OVS_PLUGIN_DIR=$plugin_dir
unset OVS_NETDEV_PLUGINS
out=$tmp/out
# shellcheck disable=SC2206  # TESTSUITEFLAGS is a list of words.
run=("$suite" -C "$ovs/tests" AUTOTEST_PATH='utilities:vswitchd:ovsdb:vtep:tests:ipsec'
     "${numbers[@]}" ${TESTSUITEFLAGS:-})
rc=0
"${run[@]}" | tee "$out" || rc=$?

# testpmd's hugepage file and runtime directory (prefix page0, the tests'),
# once no process maps it any more: the tests end testpmd by closing its
# stdin, and it may take a moment to go.
for _ in $(seq 50); do
    grep -qs /dev/hugepages/page0map_ /proc/[0-9]*/maps || break
    sleep 0.2
done
if grep -qs /dev/hugepages/page0map_ /proc/[0-9]*/maps; then
    log "warning: /dev/hugepages/page0map_* still mapped, left in place"
else
    rm -f /dev/hugepages/page0map_*
    rm -rf /var/run/dpdk/page0
fi

# ---- 4. Results ---------------------------------------------------------------
# The driver prints "  N: TITLE   ok|FAILED (file:line)|skipped (file:line)".
bad=()
for n in "${numbers[@]}"; do
    line=$(grep -E "^ *$n: " "$out" | tail -n 1 || true)
    case $line in
        *" ok") ;;
        *) bad+=("$n") ;;
    esac
done
for n in "${bad[@]}"; do
    dir=$ovs/tests/$suite_name.dir/$(printf '%02d' "$n")
    [ -d "$dir" ] || dir=$ovs/tests/$suite_name.dir/$n
    line=$(grep -E "^ *$n: " "$out" | tail -n 1 || true)
    echo "======== test $n did not pass: ${line:-no result}"
    # The driver keeps the directory of a failed test, not of a skipped one
    # (file:line above is the AT_SKIP_IF that skipped it).
    [ -d "$dir" ] || continue
    echo "-------- $dir"
    if [ -f "$dir/$suite_name.log" ]; then
        cat "$dir/$suite_name.log"
    fi
    if [ -f "$dir/ovs-vswitchd.log" ]; then
        echo "-------- $dir/ovs-vswitchd.log (last 60 lines)"
        tail -n 60 "$dir/ovs-vswitchd.log"
    fi
done
if [ "$rc" -ne 0 ] || [ "${#bad[@]}" -gt 0 ]; then
    die "${#bad[@]} of ${#numbers[@]} tests did not pass (${bad[*]:-}; exit status $rc); log: $ovs/tests/$suite_name.log"
fi
echo "PASS: ovs_system_dpdk (${#numbers[@]} tests of OVS's system-dpdk.at on vhostuserclient)"
