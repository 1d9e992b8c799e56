# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash source-path=SCRIPTDIR
# Integration-test library for netdev-vhost.  Sourced by the test scripts in
# this directory (and by scripts/demo.sh); the one file they source.
#
# This file is the common core: environment, work directory, reporting and
# checks, prerequisites, PID bookkeeping and clean-up.  It sources the parts
# in lib/, one per thing the tests drive:
#   lib/ovs.sh      the sandboxed ovsdb-server and ovs-vswitchd, bridges,
#                   ports, flows, Interface status and statistics
#   lib/testpmd.sh  dpdk-testpmd with virtio_user frontends
#   lib/guest.sh    QEMU guests and their image
#   lib/libvirt.sh  a libvirtd of the test's own, guests started through it
#   lib/ovn.sh      OVN: central databases and ovn-northd, chassis in
#                   network namespaces of their own
#
# Everything a test starts lives in one work directory (sandboxed OVS run, db
# and log directories, vhost-user sockets, testpmd and QEMU logs) and every
# process it starts is recorded by PID and ended by PID on exit.  Nothing is
# ever killed by name.
#
# Environment (all optional):
#   NVH_PREFIX        OVS install prefix (default: $NVH_BUILD_DIR/install)
#   NVH_BUILD_DIR     build tree (default: build in the repository)
#   NVH_PORT_TYPE     vhost-user client port type under test
#                     (default: vhostuserclient; dpdkvhostuserclient is the
#                     port built into OVS, used as a reference)
#   NVH_GUEST_DIR     guest kernel + initramfs (default: $NVH_BUILD_DIR/guest,
#                     built on demand by scripts/build-guest.sh)
#   NVH_TMPDIR        parent of the work directory (default: $TMPDIR or /tmp;
#                     keep it short: vhost-user socket paths are limited to
#                     107 bytes)
#   NVH_KEEP=1        keep the work directory even when the test passes
#   NVH_PMD_MASK      OVS pmd-cpu-mask (default 0x1)
#   NVH_SOCKET_MEM    OVS dpdk-socket-mem in MB (default 512)
#   NVH_TP_LCORES     testpmd lcores, main first (default 0,1)
#   NVH_TP_QUEUES     queue pairs of each testpmd virtio_user port (default 1)
#   NVH_TP_HUGEPAGES=1 testpmd's memory (the guest memory its virtio_user ports
#                     share) in 2 MB hugepages instead of plain pages; the
#                     caller reserves 256 MB more (nvh_require_hugepages)
#   NVH_VSWITCHD_ARGS extra ovs-vswitchd arguments
#   NVH_VLOG          "ovs-appctl vlog/set" settings applied once ovs-vswitchd
#                     runs (plugin modules exist only then), e.g.
#                     "netdev_vhost:file:dbg"

NVH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${NVH_BUILD_DIR:=$NVH_REPO/build}"
: "${NVH_PREFIX:=$NVH_BUILD_DIR/install}"
: "${NVH_PORT_TYPE:=vhostuserclient}"
: "${NVH_GUEST_DIR:=$NVH_BUILD_DIR/guest}"
: "${NVH_TMPDIR:=${TMPDIR:-/tmp}}"
: "${NVH_PMD_MASK:=0x1}"
: "${NVH_SOCKET_MEM:=512}"
: "${NVH_TP_LCORES:=0,1}"
: "${NVH_VSWITCHD_ARGS:=}"
: "${NVH_VLOG:=}"
export NVH_BUILD_DIR NVH_PREFIX NVH_PORT_TYPE

set -u -o pipefail

NVH_TEST=${NVH_TEST:-$(basename "$0" .sh)}
NVH_WORK=""
NVH_FAILURES=0
NVH_DONE=""             # set once PASS/FAIL/SKIP has been printed
NVH_PIDS=()             # "name:pid" in start order
NVH_DPDK_PREFIXES=()    # DPDK --file-prefix values to clean up
NVH_CLEANUP=()          # commands run at clean-up, after the processes end

# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------
nvh_log()  { echo "[$(date +%H:%M:%S)] $NVH_TEST: $*"; }
nvh_info() { nvh_log "$*"; }

# Ends the test as failed.
nvh_fail() {
    echo "FAIL: $NVH_TEST: $*"
    NVH_DONE=fail
    exit 1
}

# Ends the test as skipped: only when the test has no meaning in this run
# (e.g. another port type), never for a missing prerequisite.
nvh_skip() {
    echo "SKIP: $NVH_TEST: $*"
    NVH_DONE=skip
    exit 77
}

# Ends the test: PASS unless an assertion failed.
nvh_finish() {
    if [ "$NVH_FAILURES" -gt 0 ]; then
        nvh_fail "$NVH_FAILURES check(s) failed (port type $NVH_PORT_TYPE)"
    fi
    echo "PASS: $NVH_TEST (port type $NVH_PORT_TYPE)"
    NVH_DONE=pass
    exit 0
}

# nvh_check_eq WHAT EXPECTED ACTUAL: records a failure (and goes on) if they
# differ; prints both either way.
nvh_check_eq() {
    if [ "$2" = "$3" ]; then
        nvh_log "ok: $1 = $3"
    else
        nvh_log "MISMATCH: $1: expected '$2', got '$3'"
        NVH_FAILURES=$((NVH_FAILURES + 1))
    fi
}

# nvh_assert_eq WHAT EXPECTED ACTUAL: like nvh_check_eq, but fails at once.
nvh_assert_eq() {
    nvh_check_eq "$@"
    [ "$2" = "$3" ] || nvh_fail "$1: expected '$2', got '$3'"
}

# nvh_check_match WHAT EXTENDED-REGEX ACTUAL
nvh_check_match() {
    if [[ $3 =~ $2 ]]; then
        nvh_log "ok: $1 = '$3' (matches /$2/)"
    else
        nvh_log "MISMATCH: $1: '$3' does not match /$2/"
        NVH_FAILURES=$((NVH_FAILURES + 1))
    fi
}

# nvh_wait_for TIMEOUT DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
nvh_wait_for() {
    local timeout=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + timeout))
    while ! "$@"; do
        if [ $SECONDS -ge $deadline ]; then
            nvh_log "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# ---------------------------------------------------------------------------
# Set-up, prerequisites and clean-up
# ---------------------------------------------------------------------------

# nvh_init: creates the work directory and installs the clean-up trap.
# Two userspace datapaths on one host collide on the kernel tap
# "ovs-netdev", and PMD threads and hugepages are shared: tests (and
# benchmark runs) that start ovs-vswitchd must never overlap.  nvh_init takes
# an exclusive lock on NVH_LOCK_FILE and holds it until the test's shell is
# gone, however it ends; another run waits for it, up to NVH_LOCK_WAIT
# seconds (default 3600).  The lock is held by a small process of its own,
# not by an fd of the test's shell, so that no daemon the test starts
# inherits it (a daemon left behind by a killed test would hold it for
# ever).  A run started by one that holds the lock (bench_smoke runs
# bench/chain.sh) inherits it: NVH_LOCK_HELD in its environment.
nvh__lock() {
    local file=${NVH_LOCK_FILE:-/tmp/netdev-vhost-integration.lock} line
    [ -z "${NVH_LOCK_HELD:-}" ] || return 0
    # shellcheck disable=SC2016  # Expanded by the holder's shell.
    exec {NVH_LOCK_PIPE}< <(exec sh -c '
        exec 9>>"$1" || exit 1
        if ! flock -n 9; then
            echo waiting
            flock -w "$2" 9 || exit 1
        fi
        echo locked
        exec 1>&-
        while kill -0 "$3" 2>/dev/null; do sleep 0.5; done' \
        nvh-lock "$file" "${NVH_LOCK_WAIT:-3600}" $$ 9>&-)
    while read -r -u "$NVH_LOCK_PIPE" line; do
        case $line in
            waiting) nvh_log "waiting for another run that started ovs-vswitchd ($file)" ;;
            locked) export NVH_LOCK_HELD=$$; return 0 ;;
        esac
    done
    nvh_fail "cannot take the lock $file (held for ${NVH_LOCK_WAIT:-3600} s?)"
}

nvh_init() {
    nvh_require_root   # Every test starts ovs-vswitchd with DPDK.
    nvh__lock
    mkdir -p "$NVH_TMPDIR"
    NVH_WORK=$(mktemp -d "$NVH_TMPDIR/nvh-XXXXXX") || nvh_fail "mktemp failed"
    trap nvh_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    nvh_log "work directory $NVH_WORK, port type $NVH_PORT_TYPE, prefix $NVH_PREFIX"
}

# A missing prerequisite fails the test rather than skipping it: a suite that
# skipped its integration tests would end green having shown nothing.
# scripts/setup.sh provides all of them; CI runs as root.
nvh_require_root() {
    [ "$(id -u)" -eq 0 ] ||
        nvh_fail "needs root (hugepages, DPDK, QEMU): run the tests as root, after scripts/setup.sh"
}

nvh_require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || nvh_fail "$c not installed (scripts/setup.sh)"
    done
}

# nvh_require_hugepages MB: reserves and mounts 2 MB hugepages if needed.
nvh_require_hugepages() {
    local need=$(( ($1 + 1) / 2 )) nr=/sys/kernel/mm/hugepages/hugepages-2048kB
    local free total
    [ -d $nr ] || nvh_fail "kernel has no 2 MB hugepages"
    if ! awk '$3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts; then
        mkdir -p /dev/hugepages
        mount -t hugetlbfs none /dev/hugepages 2>/dev/null ||
            nvh_fail "no hugetlbfs mounted and cannot mount one"
    fi
    free=$(cat $nr/free_hugepages)
    if [ "$free" -lt "$need" ]; then
        total=$(cat $nr/nr_hugepages)
        nvh_log "reserving $((total + need - free)) 2 MB hugepages (free: $free, need: $need)"
        echo $((total + need - free)) > $nr/nr_hugepages 2>/dev/null
        free=$(cat $nr/free_hugepages)
        [ "$free" -ge "$need" ] ||
            nvh_fail "only $free free 2 MB hugepages, need $need (scripts/setup.sh)"
    fi
}

# nvh_require_port_type TYPE...: skips unless NVH_PORT_TYPE is one of them.
nvh_require_port_type() {
    local t
    for t in "$@"; do [ "$NVH_PORT_TYPE" = "$t" ] && return 0; done
    nvh_skip "only meaningful for port type(s) $*, not $NVH_PORT_TYPE"
}

nvh_register_pid() { NVH_PIDS+=("$1:$2"); }

nvh_alive() { kill -0 "$1" 2>/dev/null; }

# nvh_stop_pid NAME PID [GRACE]: TERM, then KILL after GRACE seconds.
nvh_stop_pid() {
    local name=$1 pid=$2 grace=${3:-5} i
    nvh_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace * 10; i++)); do
        nvh_alive "$pid" || break
        sleep 0.1
    done
    if nvh_alive "$pid"; then
        nvh_log "$name (pid $pid) ignored SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do nvh_alive "$pid" || break; sleep 0.1; done
    fi
    wait "$pid" 2>/dev/null
    return 0
}

nvh_dump_logs() {
    local f
    [ -n "$NVH_WORK" ] && [ -d "$NVH_WORK" ] || return 0
    for f in "$NVH_WORK"/ovs/log/*.stderr "$NVH_WORK"/ovs/log/ovs-vswitchd.log \
             "$NVH_WORK"/ch*/log/*.log "$NVH_WORK"/central/*.log "$NVH_WORK"/*.stderr \
             "$NVH_WORK"/*.log "$NVH_WORK"/*.console; do
        [ -s "$f" ] || continue
        echo "----- last lines of ${f#"$NVH_WORK"/} -----"
        grep -v "|coverage|" "$f" | tail -n 40
    done
    echo "----- end of logs (work directory kept: $NVH_WORK) -----"
}

nvh_cleanup() {
    local rc=$? entry name pid i p
    trap - EXIT INT TERM
    set +e
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        [ -n "$NVH_DONE" ] || echo "FAIL: $NVH_TEST: exited with status $rc"
        nvh_dump_logs
    fi
    # testpmd: closing its stdin makes it quit cleanly.
    for name in "${!NVH_TP_FD[@]}"; do
        eval "exec ${NVH_TP_FD[$name]}>&-" 2>/dev/null
    done
    for ((i = ${#NVH_PIDS[@]} - 1; i >= 0; i--)); do
        entry=${NVH_PIDS[i]}
        name=${entry%:*}
        pid=${entry##*:}
        case "$name" in
            ovs-vswitchd)
                nvh_alive "$pid" && timeout 10 "$NVH_PREFIX/bin/ovs-appctl" -t ovs-vswitchd exit >/dev/null 2>&1
                nvh_stop_pid "$name" "$pid" 10 ;;
            testpmd*) nvh_stop_pid "$name" "$pid" 3 ;;
            *) nvh_stop_pid "$name" "$pid" 5 ;;
        esac
    done
    for ((i = ${#NVH_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${NVH_CLEANUP[i]}"
    done
    # DPDK runtime files of the processes we started (unique prefixes).
    for p in "${NVH_DPDK_PREFIXES[@]}"; do
        rm -rf "/var/run/dpdk/$p"
        rm -f /dev/hugepages/"$p"map_* 2>/dev/null
    done
    if [ -n "$NVH_WORK" ] && [ -d "$NVH_WORK" ]; then
        if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
            if [ "${NVH_KEEP:-0}" = 1 ]; then
                echo "work directory kept: $NVH_WORK"
            else
                rm -rf "$NVH_WORK"
            fi
        fi
    fi
    exit "$rc"
}

# ---------------------------------------------------------------------------
# The parts
# ---------------------------------------------------------------------------
# shellcheck source=lib/ovs.sh
source "$NVH_REPO/tests/integration/lib/ovs.sh"
# shellcheck source=lib/testpmd.sh
source "$NVH_REPO/tests/integration/lib/testpmd.sh"
# shellcheck source=lib/guest.sh
source "$NVH_REPO/tests/integration/lib/guest.sh"
# shellcheck source=lib/libvirt.sh
source "$NVH_REPO/tests/integration/lib/libvirt.sh"
# shellcheck source=lib/ovn.sh
source "$NVH_REPO/tests/integration/lib/ovn.sh"
