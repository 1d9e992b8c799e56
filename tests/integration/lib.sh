# shellcheck shell=bash
# Integration-test library for netdev-vhost.  Sourced by the test scripts in
# this directory (and by scripts/demo.sh).
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
NVH_OVS_DPDK_PREFIX=""  # ovs-vswitchd's --file-prefix
NVH_VSWITCHD_PID=""     # the running (or last) ovs-vswitchd
declare -A NVH_TP_FD=() NVH_TP_LOG=() NVH_TP_PID=()
declare -A NVH_GUEST_PID=() NVH_GUEST_CONSOLE=()

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

# Ends the test as skipped: only for a prerequisite that is really missing.
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
nvh_init() {
    mkdir -p "$NVH_TMPDIR"
    NVH_WORK=$(mktemp -d "$NVH_TMPDIR/nvh-XXXXXX") || nvh_fail "mktemp failed"
    trap nvh_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    nvh_log "work directory $NVH_WORK, port type $NVH_PORT_TYPE, prefix $NVH_PREFIX"
}

# nvh_require_ovs: the OVS install must exist (a missing one is a build
# problem, not a reason to skip).
nvh_require_ovs() {
    local f
    for f in sbin/ovs-vswitchd sbin/ovsdb-server bin/ovs-vsctl bin/ovs-ofctl \
             bin/ovs-appctl bin/ovsdb-tool; do
        [ -x "$NVH_PREFIX/$f" ] || nvh_fail "$NVH_PREFIX/$f missing (run scripts/build.sh)"
    done
    [ -f "$NVH_PREFIX/share/openvswitch/vswitch.ovsschema" ] ||
        nvh_fail "$NVH_PREFIX/share/openvswitch/vswitch.ovsschema missing"
}

nvh_require_root() {
    [ "$(id -u)" -eq 0 ] || nvh_skip "needs root (hugepages, DPDK)"
}

nvh_require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || nvh_skip "$c not installed (scripts/setup.sh)"
    done
}

# nvh_require_hugepages MB: reserves and mounts 2 MB hugepages if needed.
nvh_require_hugepages() {
    local need=$(( ($1 + 1) / 2 )) nr=/sys/kernel/mm/hugepages/hugepages-2048kB
    local free total
    [ -d $nr ] || nvh_skip "kernel has no 2 MB hugepages"
    if ! awk '$3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts; then
        mkdir -p /dev/hugepages
        mount -t hugetlbfs none /dev/hugepages 2>/dev/null ||
            nvh_skip "no hugetlbfs mounted and cannot mount one"
    fi
    free=$(cat $nr/free_hugepages)
    if [ "$free" -lt "$need" ]; then
        total=$(cat $nr/nr_hugepages)
        nvh_log "reserving $((total + need - free)) 2 MB hugepages (free: $free, need: $need)"
        echo $((total + need - free)) > $nr/nr_hugepages 2>/dev/null
        free=$(cat $nr/free_hugepages)
        [ "$free" -ge "$need" ] ||
            nvh_skip "only $free free 2 MB hugepages, need $need (scripts/setup.sh)"
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
# Sandboxed OVS
# ---------------------------------------------------------------------------
vsctl()  { "$NVH_PREFIX/bin/ovs-vsctl" --timeout=30 "$@"; }
ofctl()  { "$NVH_PREFIX/bin/ovs-ofctl" "$@"; }
appctl() { "$NVH_PREFIX/bin/ovs-appctl" --timeout=30 "$@"; }

# nvh_ovs_start: ovsdb-server + ovs-vswitchd with DPDK, all files in
# $NVH_WORK/ovs.  Extra "key=value" arguments are set in other_config.
nvh_ovs_start() {
    local d=$NVH_WORK/ovs kv pid
    nvh_require_ovs
    mkdir -p "$d"/run "$d"/db "$d"/log "$d"/etc
    export OVS_RUNDIR=$d/run OVS_DBDIR=$d/db OVS_LOGDIR=$d/log OVS_SYSCONFDIR=$d/etc
    export OVS_PKGDATADIR=$NVH_PREFIX/share/openvswitch OVS_BINDIR=$NVH_PREFIX/bin
    export DB_SOCK=$d/run/db.sock

    "$NVH_PREFIX/bin/ovsdb-tool" create "$d/db/conf.db" \
        "$NVH_PREFIX/share/openvswitch/vswitch.ovsschema" || nvh_fail "ovsdb-tool create failed"
    "$NVH_PREFIX/sbin/ovsdb-server" "$d/db/conf.db" --remote="punix:$DB_SOCK" \
        --pidfile --detach --no-chdir --log-file 2>>"$d/log/ovsdb-server.stderr" ||
        { cat "$d/log/ovsdb-server.stderr"; nvh_fail "ovsdb-server did not start"; }
    pid=$(cat "$d/run/ovsdb-server.pid") || nvh_fail "no ovsdb-server pidfile"
    nvh_register_pid ovsdb-server "$pid"
    vsctl --no-wait init || nvh_fail "ovs-vsctl init failed"

    NVH_OVS_DPDK_PREFIX="nvh$$ovs"
    NVH_DPDK_PREFIXES+=("$NVH_OVS_DPDK_PREFIX")
    vsctl --no-wait set Open_vSwitch . \
        other_config:dpdk-init=true \
        other_config:dpdk-socket-mem="$NVH_SOCKET_MEM" \
        other_config:dpdk-extra="--no-pci --file-prefix=$NVH_OVS_DPDK_PREFIX" \
        other_config:pmd-cpu-mask="$NVH_PMD_MASK" || nvh_fail "cannot configure DPDK"
    for kv in "$@"; do
        vsctl --no-wait set Open_vSwitch . "other_config:$kv" || nvh_fail "cannot set $kv"
    done
    nvh_vswitchd_start
}

# nvh_vswitchd_start: starts ovs-vswitchd on the sandbox's database (first
# from nvh_ovs_start; again after nvh_vswitchd_exit or nvh_vswitchd_kill,
# with the same arguments), applies NVH_VLOG and waits for DPDK.  Its PID is
# registered (clean-up ends it) and kept in NVH_VSWITCHD_PID.  Files a killed
# ovs-vswitchd left behind (pidfile, DPDK runtime directory and hugepage
# files of its --file-prefix) are removed first.
nvh_vswitchd_start() {
    local d=$NVH_WORK/ovs pid kv iface
    if [ -n "${NVH_VSWITCHD_PID:-}" ]; then
        nvh_alive "$NVH_VSWITCHD_PID" &&
            nvh_fail "ovs-vswitchd (pid $NVH_VSWITCHD_PID) is still running"
        rm -f "$d/run/ovs-vswitchd.pid" "$d/run/ovs-vswitchd.$NVH_VSWITCHD_PID.ctl"
        rm -rf "/var/run/dpdk/$NVH_OVS_DPDK_PREFIX"
        rm -f /dev/hugepages/"$NVH_OVS_DPDK_PREFIX"map_* 2>/dev/null
        # What the last one wrote stays in the database: reset it, so that
        # whatever the test reads next comes from the new process.
        vsctl --no-wait set Open_vSwitch . dpdk_initialized=false ||
            nvh_fail "cannot reset dpdk_initialized"
        for iface in $(vsctl --bare --columns=name list Interface); do
            vsctl --no-wait clear Interface "$iface" status statistics link_state ||
                nvh_fail "cannot reset Interface $iface"
        done
    fi
    # shellcheck disable=SC2086  # NVH_VSWITCHD_ARGS is a list of words.
    "$NVH_PREFIX/sbin/ovs-vswitchd" "unix:$DB_SOCK" --pidfile --detach --no-chdir \
        --log-file $NVH_VSWITCHD_ARGS 2>>"$d/log/ovs-vswitchd.stderr" ||
        nvh_fail "ovs-vswitchd did not start"
    pid=$(cat "$d/run/ovs-vswitchd.pid") || nvh_fail "no ovs-vswitchd pidfile"
    nvh_register_pid ovs-vswitchd "$pid"
    NVH_VSWITCHD_PID=$pid
    for kv in $NVH_VLOG; do
        appctl vlog/set "$kv" >/dev/null || nvh_fail "ovs-appctl vlog/set $kv failed"
    done
    nvh_wait_for 60 "DPDK initialisation" nvh__dpdk_initialized ||
        nvh_fail "ovs-vswitchd did not initialise DPDK"
    nvh_log "ovs-vswitchd $("$NVH_PREFIX/sbin/ovs-vswitchd" --version | head -n1 | awk '{print $NF}') running (pid $pid)"
}

nvh__vswitchd_gone() { ! nvh_alive "$NVH_VSWITCHD_PID"; }

# nvh_vswitchd_exit: "ovs-appctl exit" (graceful); waits until it is gone.
nvh_vswitchd_exit() {
    appctl -t ovs-vswitchd exit >/dev/null || nvh_fail "ovs-appctl exit failed"
    nvh_wait_for 30 "ovs-vswitchd (pid $NVH_VSWITCHD_PID) to exit" nvh__vswitchd_gone ||
        nvh_fail "ovs-vswitchd did not exit"
    nvh_log "ovs-vswitchd (pid $NVH_VSWITCHD_PID) exited"
}

# nvh_vswitchd_kill: SIGKILL, as a crash; waits until it is gone.
nvh_vswitchd_kill() {
    kill -KILL "$NVH_VSWITCHD_PID" 2>/dev/null
    nvh_wait_for 30 "ovs-vswitchd (pid $NVH_VSWITCHD_PID) to die" nvh__vswitchd_gone ||
        nvh_fail "ovs-vswitchd survived SIGKILL"
    nvh_log "ovs-vswitchd (pid $NVH_VSWITCHD_PID) killed"
}

nvh__dpdk_initialized() {
    nvh_ovs_alive || nvh_fail "ovs-vswitchd died"
    [ "$(vsctl get Open_vSwitch . dpdk_initialized 2>/dev/null)" = true ]
}

nvh_ovs_alive() {
    local pid
    pid=$(cat "$NVH_WORK/ovs/run/ovs-vswitchd.pid" 2>/dev/null) && nvh_alive "$pid"
}

# ovs-vswitchd's resources, for leak checks (the process in NVH_VSWITCHD_PID):
# open fds, mappings, mappings of memfds (guest memory, DPDK's segments) and
# resident memory in kB.
nvh_vswitchd_fds()        { find "/proc/$NVH_VSWITCHD_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
nvh_vswitchd_maps()       { wc -l < "/proc/$NVH_VSWITCHD_PID/maps"; }
nvh_vswitchd_memfd_maps() { grep -c '/memfd:' "/proc/$NVH_VSWITCHD_PID/maps"; }
nvh_vswitchd_rss_kb()     { awk '/^VmRSS:/ { print $2 }' "/proc/$NVH_VSWITCHD_PID/status"; }
# nvh_within A B SLACK: |A - B| <= SLACK.
nvh_within() { local d=$(($1 - $2)); [ ${d#-} -le "$3" ]; }

nvh_ovs_log() { cat "$NVH_WORK/ovs/log/ovs-vswitchd.log"; }

# nvh_add_bridge BR: a userspace (netdev) bridge.
nvh_add_bridge() {
    vsctl add-br "$1" -- set Bridge "$1" datapath_type=netdev ||
        nvh_fail "cannot add bridge $1"
}

# nvh_sock NAME: the path of a vhost-user socket in the work directory.
nvh_sock() { echo "$NVH_WORK/$1.sock"; }

# nvh_add_port BR PORT SOCKET [OFPORT]: a port of type $NVH_PORT_TYPE.
nvh_add_port() {
    local extra=()
    [ $# -ge 4 ] && extra=(ofport_request="$4")
    vsctl add-port "$1" "$2" -- set Interface "$2" type="$NVH_PORT_TYPE" \
        options:vhost-server-path="$3" "${extra[@]}" ||
        nvh_fail "cannot add port $2 ($NVH_PORT_TYPE, $3)"
}

# nvh_iface_get PORT COLUMN[:KEY]: prints the value, unquoted.
nvh_iface_get() {
    local v
    v=$(vsctl --if-exists get Interface "$1" "$2" 2>/dev/null) || return 1
    v=${v#\"}
    v=${v%\"}
    printf '%s\n' "$v"
}

nvh_iface_status() { nvh_iface_get "$1" "status:$2"; }

# shellcheck disable=SC2053  # $3 is a glob on purpose.
nvh__status_matches() { [[ "$(nvh_iface_status "$1" "$2")" == $3 ]]; }

# nvh_wait_status PORT KEY GLOB [TIMEOUT]: waits for status:KEY to match GLOB.
nvh_wait_status() {
    local timeout=${4:-30}
    nvh_wait_for "$timeout" "$1 status:$2 ~ '$3'" nvh__status_matches "$1" "$2" "$3" || {
        nvh_log "$1 status: $(vsctl get Interface "$1" status 2>&1)"
        return 1
    }
}

# nvh_status_key MAP KEY: the value of KEY in a map column as ovs-vsctl
# prints it ({a=b, c="d, e"}), unquoted; empty if KEY is absent.
nvh_status_key() {
    printf '%s\n' "$1" | awk -v want="$2" '
        # word(): a bare or quoted word starting at i, up to one of "stop".
        function word(stop,    w, c) {
            w = ""
            if (substr(s, i, 1) == "\"") {
                for (i++; i <= n && (c = substr(s, i, 1)) != "\""; i++) {
                    if (c == "\\") { i++; c = substr(s, i, 1) }
                    w = w c
                }
                i++
            } else {
                for (; i <= n && index(stop, substr(s, i, 1)) == 0; i++)
                    w = w substr(s, i, 1)
            }
            return w
        }
        {
            s = $0; sub(/^\{/, "", s); sub(/\}$/, "", s); n = length(s); i = 1
            while (i <= n) {
                while (substr(s, i, 1) == " " || substr(s, i, 1) == ",") i++
                k = word("=")
                i++
                v = word(",")
                if (k == want) { print v; exit }
            }
        }'
}

declare -A NVH_READY_STATUS=()

# nvh__port_ready_now PORT: one read of PORT's status column; true if it shows
# the port ready, and then that read is kept in NVH_READY_STATUS[PORT].
nvh__port_ready_now() {
    local map key=state want=ready
    [ "$NVH_PORT_TYPE" = vhostuserclient ] || { key=status; want=connected; }
    map=$(vsctl --if-exists get Interface "$1" status 2>/dev/null) || return 1
    [ "$(nvh_status_key "$map" "$key")" = "$want" ] || return 1
    NVH_READY_STATUS[$1]=$map
}

# nvh_wait_port_ready PORT [TIMEOUT]: the port can carry traffic.
#   vhostuserclient:     status:state = ready
#   dpdkvhostuserclient: status:status = connected (set once vrings are ready)
# The status read that showed it ready stays available (nvh_ready_status).
nvh_wait_port_ready() {
    nvh_wait_for "${2:-30}" "$1 to be ready" nvh__port_ready_now "$1" || {
        nvh_log "$1 status: $(vsctl get Interface "$1" status 2>&1)"
        return 1
    }
}

# nvh_ready_status PORT KEY: status:KEY as it was when nvh_wait_port_ready
# last saw PORT ready, in the same read as the ready state.  The frontend
# may have gone since (a guest that has done its work powers off), and with
# it every key that describes the connection.
nvh_ready_status() { nvh_status_key "${NVH_READY_STATUS[$1]:-}" "$2"; }

# nvh_wait_port_down PORT [TIMEOUT]: the frontend is gone.
nvh_wait_port_down() {
    case "$NVH_PORT_TYPE" in
        vhostuserclient) nvh_wait_status "$1" state 'waiting*' "${2:-30}" ;;
        *)               nvh_wait_status "$1" status disconnected "${2:-30}" ;;
    esac
}

# nvh_iface_stat PORT KEY: one counter of the Interface statistics column (0
# when absent).  OVS refreshes the column every 5 seconds.
nvh_iface_stat() {
    local v
    v=$(vsctl --if-exists get Interface "$1" "statistics:$2" 2>/dev/null) || v=0
    echo "${v:-0}"
}

nvh__stat_is() { [ "$(nvh_iface_stat "$1" "$2")" = "$3" ]; }

# nvh_check_iface_stat PORT KEY EXPECTED [TIMEOUT]: waits (the column lags by
# up to 5 s) and records a mismatch if the counter never reaches EXPECTED.
nvh_check_iface_stat() {
    nvh_wait_for "${4:-15}" "$1 statistics:$2 = $3" nvh__stat_is "$1" "$2" "$3" >/dev/null
    nvh_check_eq "OVS Interface $1 statistics:$2" "$3" "$(nvh_iface_stat "$1" "$2")"
}

# nvh_check_features PORT...: NVH_FEATURE_CHECKS ("BIT=0|1 ...", from the
# environment) lists virtio feature bits the ports must (1) or must not (0)
# have negotiated, as status:features shows them.
nvh_check_features() {
    local fc bit port f
    for fc in ${NVH_FEATURE_CHECKS:-}; do
        bit=${fc%%=*}
        for port in "$@"; do
            f=$(nvh_iface_status "$port" features)
            nvh_check_eq "$port negotiated feature bit $bit" "${fc#*=}" \
                "$(( (${f:-0} >> bit) & 1 ))"
        done
    done
}

# nvh_flows BR FLOW...: replaces the bridge's OpenFlow table.
nvh_flows() {
    local br=$1 f
    shift
    ofctl del-flows "$br" || nvh_fail "ovs-ofctl del-flows $br failed"
    for f in "$@"; do
        ofctl add-flow "$br" "$f" || nvh_fail "ovs-ofctl add-flow $br '$f' failed"
    done
}

# nvh_flow_packets BR MATCH: n_packets of the flow whose match is exactly
# MATCH as ovs-ofctl prints it (e.g. "in_port=1"; "" for a match-all flow).
nvh_flow_packets() {
    ofctl dump-flows "$1" | awk -v m="$2" '
        /n_packets=/ {
            n = ""; match_ = ""
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^n_packets=/) { n = $i; sub(/^n_packets=/, "", n); sub(/,$/, "", n) }
                # The match is the field before "actions=", unless that is
                # the last statistic (which ends with a comma).
                if ($i ~ /^actions=/) { match_ = $(i - 1); if (match_ ~ /,$/) match_ = "" }
            }
            if (match_ == m) { print n; f = 1; exit }
        }
        END { if (!f) print "none" }'
}

# ---------------------------------------------------------------------------
# testpmd with virtio_user frontends
#
# testpmd runs interactively with its stdin on a FIFO that the test keeps open
# on a file descriptor; commands are written to it and their output is read
# from the log.  testpmd prints no prompt on a non-terminal, so a command is
# known to be done when the output of a later "set verbose 0" ("Change verbose
# level ...") appears: testpmd runs commands one at a time, in order.
# ---------------------------------------------------------------------------

# nvh_tp_start NAME SOCKET[,DEVARGS]... [-- EXTRA-TESTPMD-ARGS]: one
# virtio_user port per socket (DEVARGS: more virtio_user arguments such as
# mac=02:00:00:00:00:01) (server=1: testpmd listens; the OVS port connects to it).  testpmd
# blocks in start-up until every port has connected.
nvh_tp_start() {
    local name=$1 i=0 fifo log prefix pid fd
    local vdevs=() extra=() mem
    shift
    nvh_require_cmd dpdk-testpmd
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; extra=("$@"); break; fi
        rm -f "${1%%,*}"
        vdevs+=(--vdev "net_virtio_user$i,path=$1,server=1,queues=${NVH_TP_QUEUES:-1},queue_size=1024")
        i=$((i + 1))
        shift
    done
    # Guest memory: 256 MB of plain memory, or of hugepages in one file per
    # memory segment list (NVH_TP_HUGEPAGES=1, the caller has reserved them).
    if [ "${NVH_TP_HUGEPAGES:-0}" = 1 ]; then
        mem=(-m 256 --single-file-segments)
    else
        mem=(--no-huge -m 256)
    fi
    fifo=$NVH_WORK/$name.in
    log=$NVH_WORK/$name.log
    prefix="nvh$$$name"
    NVH_DPDK_PREFIXES+=("$prefix")
    rm -f "$fifo"
    mkfifo "$fifo" || nvh_fail "mkfifo $fifo failed"
    # stdbuf: testpmd's stdout is a file; without it replies stay buffered.
    stdbuf -o0 -e0 dpdk-testpmd -l "$NVH_TP_LCORES" "${mem[@]}" --file-prefix="$prefix" \
        --no-pci "${vdevs[@]}" -- -i --total-num-mbufs=16384 "${extra[@]}" \
        < "$fifo" >> "$log" 2>&1 &
    pid=$!
    exec {fd}>"$fifo"
    nvh_register_pid "testpmd-$name" "$pid"
    NVH_TP_FD[$name]=$fd
    NVH_TP_LOG[$name]=$log
    NVH_TP_PID[$name]=$pid
    nvh_log "testpmd $name started (pid $pid, $i port(s))"
}

# nvh_tp_stop NAME: closes testpmd's stdin (it quits), KILL if it hangs.
nvh_tp_stop() {
    local name=$1
    [ -n "${NVH_TP_FD[$name]:-}" ] || return 0
    eval "exec ${NVH_TP_FD[$name]}>&-"
    nvh_stop_pid "testpmd-$name" "${NVH_TP_PID[$name]}" 5
    unset "NVH_TP_FD[$name]"
    nvh_log "testpmd $name stopped"
}

# nvh_tp_kill NAME: SIGKILL, as a crashing frontend.
nvh_tp_kill() {
    local name=$1
    eval "exec ${NVH_TP_FD[$name]}>&-"
    kill -KILL "${NVH_TP_PID[$name]}" 2>/dev/null
    wait "${NVH_TP_PID[$name]}" 2>/dev/null
    unset "NVH_TP_FD[$name]"
    nvh_log "testpmd $name killed"
}

# nvh_tp_cmd NAME LINE...: sends command lines (does not wait).
nvh_tp_cmd() {
    local name=$1 line
    shift
    nvh_alive "${NVH_TP_PID[$name]}" || nvh_fail "testpmd $name is not running"
    for line in "$@"; do
        printf '%s\n' "$line" >&"${NVH_TP_FD[$name]}" ||
            nvh_fail "cannot write to testpmd $name"
    done
}

nvh__tp_markers() { grep -c 'Change verbose level from' "${NVH_TP_LOG[$1]}"; }

nvh__tp_synced() {
    nvh_alive "${NVH_TP_PID[$1]}" || nvh_fail "testpmd $1 died (log: ${NVH_TP_LOG[$1]})"
    [ "$(nvh__tp_markers "$1")" -gt "$2" ]
}

# nvh_tp_sync NAME [TIMEOUT]: waits until testpmd has run every command sent
# so far (including start-up, i.e. all its ports have connected).
nvh_tp_sync() {
    local name=$1 n
    n=$(nvh__tp_markers "$name")
    nvh_tp_cmd "$name" "set verbose 0"
    nvh_wait_for "${2:-60}" "testpmd $name to process its commands" \
        nvh__tp_synced "$name" "$n" || nvh_fail "testpmd $name is stuck"
}

# nvh_tp_run NAME LINE...: sends command lines and waits for them.
nvh_tp_run() {
    local name=$1
    nvh_tp_cmd "$@"
    nvh_tp_sync "$name"
}

# nvh_tp_stats NAME: prints "PORT RX-packets RX-bytes TX-packets TX-bytes"
# per port, from a fresh "show port stats all".
nvh_tp_stats() {
    local name=$1 off
    off=$(stat -c %s "${NVH_TP_LOG[$name]}")
    nvh_tp_run "$name" "show port stats all"
    tail -c +"$((off + 1))" "${NVH_TP_LOG[$name]}" | awk '
        /NIC statistics for port/ { for (i = 1; i <= NF; i++) if ($i == "port") p = $(i + 1) }
        /RX-packets:/ { for (i = 1; i <= NF; i++) { if ($i == "RX-packets:") rp[p] = $(i + 1); if ($i == "RX-bytes:") rb[p] = $(i + 1) } }
        /TX-packets:/ { for (i = 1; i <= NF; i++) { if ($i == "TX-packets:") tp[p] = $(i + 1); if ($i == "TX-bytes:") tb[p] = $(i + 1) } }
        END { for (q in rp) print q, rp[q], rb[q], tp[q], tb[q] }' | sort -n
}

# nvh_tp_port_stat NAME PORT FIELD: FIELD is rx_packets, rx_bytes, tx_packets
# or tx_bytes.
nvh_tp_port_stat() {
    local col
    case "$3" in
        rx_packets) col=2 ;; rx_bytes) col=3 ;; tx_packets) col=4 ;; tx_bytes) col=5 ;;
        *) nvh_fail "unknown testpmd field $3" ;;
    esac
    nvh_tp_stats "$1" | awk -v p="$2" -v c="$col" '$1 == p { print $c; f = 1 } END { if (!f) print "?" }'
}

nvh__tp_rx_reached() {
    local got
    got=$(nvh_tp_port_stat "$1" "$2" rx_packets)
    [ "$got" != "?" ] && [ "$got" -ge "$3" ]
}

# nvh_tp_send NAME BURSTS SIZE: every port of testpmd NAME sends BURSTS bursts
# of 32 frames of SIZE bytes ("start tx_first"), then keeps receiving
# (rxonly) until "stop".  Counters are cleared first.
nvh_tp_send() {
    local name=$1 bursts=$2 size=$3
    nvh_tp_run "$name" "stop" "clear port stats all" "set fwd rxonly" \
        "set burst 32" "set txpkts $size" "start tx_first $bursts"
}

# nvh_tp_wait_rx NAME PORT EXPECTED [TIMEOUT]: waits until PORT has received
# at least EXPECTED frames, then a second more (to catch extra frames);
# prints the final count.
nvh_tp_wait_rx() {
    nvh_wait_for "${4:-20}" "testpmd $1 port $2 to receive $3 frames" \
        nvh__tp_rx_reached "$1" "$2" "$3" >/dev/null
    sleep 1
    nvh_tp_port_stat "$1" "$2" rx_packets
}

# nvh_tp_exchange NAME BURSTS SIZE: each of testpmd NAME's two ports sends
# BURSTS bursts of 32 frames of SIZE bytes (rxonly otherwise); checks that
# each port sent and received exactly that many frames and bytes.
nvh_tp_exchange() {
    local tp=$1 n=$(($2 * 32)) size=$3 stats p rxp rxb txp
    nvh_tp_send "$tp" "$2" "$size"
    nvh_tp_wait_rx "$tp" 1 "$n" >/dev/null
    nvh_tp_wait_rx "$tp" 0 "$n" >/dev/null
    stats=$(nvh_tp_stats "$tp")
    nvh_tp_run "$tp" stop
    echo "$stats" | sed 's/^/    testpmd port rx_pkts rx_bytes tx_pkts tx_bytes: /'
    for p in 0 1; do
        read -r _ rxp rxb txp _ <<<"$(echo "$stats" | awk -v p=$p '$1 == p')"
        nvh_check_eq "testpmd port $p TX-packets ($size B)" "$n" "${txp:-?}"
        nvh_check_eq "testpmd port $p RX-packets ($size B)" "$n" "${rxp:-?}"
        nvh_check_eq "testpmd port $p RX-bytes ($size B)" "$((n * size))" "${rxb:-?}"
    done
}

# ---------------------------------------------------------------------------
# QEMU guests (stock Debian kernel, busybox initramfs: see
# scripts/build-guest.sh and tests/integration/guest/init)
# ---------------------------------------------------------------------------

# nvh_guest_build: builds (or finds cached) the guest kernel and initramfs.
nvh_guest_build() {
    nvh_require_cmd qemu-system-x86_64 cpio dpkg-deb
    "$NVH_REPO/scripts/build-guest.sh" "$NVH_GUEST_DIR" >"$NVH_WORK/build-guest.log" 2>&1 || {
        tail -n 20 "$NVH_WORK/build-guest.log"
        nvh_fail "scripts/build-guest.sh failed"
    }
}

# nvh_guest_start NAME SOCKET MAC KERNEL-ARGS...: QEMU (TCG) with one
# virtio-net device on a vhost-user socket that QEMU serves (server=on,
# wait=on: QEMU waits for the port to connect before starting the guest).
# KERNEL-ARGS are nvh.* parameters of the guest init.
# NVH_GUEST_QUEUES=N (in the environment of the call) gives the device N
# queue pairs (mq=on) and the guest N CPUs, so that Linux enables all N.
# NVH_GUEST_DEVICE_ARGS: more virtio-net-pci properties (",host_mtu=9000").
# NVH_GUEST_SHARE=off (in the environment of the call) sets share=off on
# the guest memory backend (memfd's default is on): a misconfigured guest
# whose memory the switch maps but never sees change.
# NVH_GUEST_QEMU_ARGS: more QEMU arguments (words), e.g. "-incoming defer".
# Every guest has a QMP monitor on $NVH_WORK/NAME.qmp (see nvh_qmp).
nvh_guest_start() {
    local name=$1 sock=$2 mac=$3 pid console mem=${NVH_GUEST_MEM:-256M}
    local extra=()
    read -r -a extra <<<"${NVH_GUEST_QEMU_ARGS:-}"
    local share=on
    [ "${NVH_GUEST_SHARE:-on}" = off ] && share=off
    local queues=${NVH_GUEST_QUEUES:-1} mq=()
    [ "$queues" -gt 1 ] && mq=(-smp "$queues")
    shift 3
    console=$NVH_WORK/$name.console
    rm -f "$sock" "$console"
    qemu-system-x86_64 -accel tcg -nodefaults -display none -no-reboot \
        -name "$name" -m "$mem" "${mq[@]}" \
        -object memory-backend-memfd,id=mem,size="$mem",share=$share \
        -machine pc,memory-backend=mem \
        -kernel "$NVH_GUEST_DIR/vmlinuz" -initrd "$NVH_GUEST_DIR/initramfs.img" \
        -append "console=ttyS0 quiet panic=-1 $*" \
        -serial "file:$console" \
        -chardev "socket,id=c0,path=$sock,server=on,wait=on" \
        -netdev "type=vhost-user,id=n0,chardev=c0,queues=$queues" \
        -device "virtio-net-pci,netdev=n0,mac=$mac,vectors=0,mq=$([ "$queues" -gt 1 ] && echo on || echo off)${NVH_GUEST_DEVICE_ARGS:-}" \
        -qmp "unix:$NVH_WORK/$name.qmp,server=on,wait=off" "${extra[@]}" \
        >"$NVH_WORK/$name.qemu.log" 2>&1 &
    pid=$!
    nvh_register_pid "qemu-$name" "$pid"
    NVH_GUEST_PID[$name]=$pid
    NVH_GUEST_CONSOLE[$name]=$console
    nvh_log "guest $name started (pid $pid, $sock, $mac, memory share=$share, $*)"
}

nvh__console_has() {
    grep -qE "$2" "${NVH_GUEST_CONSOLE[$1]}" 2>/dev/null && return 0
    if ! nvh_alive "${NVH_GUEST_PID[$1]}"; then
        grep -qE "$2" "${NVH_GUEST_CONSOLE[$1]}" 2>/dev/null && return 0
        nvh_log "guest $1 exited without printing /$2/"
        return 2
    fi
    return 1
}

# nvh_guest_wait NAME EXTENDED-REGEX [TIMEOUT]: waits for a console line;
# prints the first matching line.
nvh_guest_wait() {
    local name=$1 re=$2 timeout=${3:-60} deadline rc
    deadline=$((SECONDS + timeout))
    while true; do
        nvh__console_has "$name" "$re"
        rc=$?
        [ $rc -eq 0 ] && break
        if [ $rc -eq 2 ] || [ $SECONDS -ge $deadline ]; then
            nvh_log "guest $name: no /$re/ on the console after ${timeout}s"
            return 1
        fi
        sleep 0.2
    done
    grep -m1 -E "$re" "${NVH_GUEST_CONSOLE[$name]}" | tr -d '\r'
}

# nvh_vring_packets PORT VRING: the packets counter of one vring in
# "ovs-appctl vhostuserclient/show PORT" (0 if the vring is not listed).
nvh_vring_packets() {
    appctl vhostuserclient/show "$1" | awk -v v="$2" '
        $1 == "vring" { cur = $2 }
        $1 == "packets" && cur == v { sub(",", "", $2); print $2; f = 1; exit }
        END { if (!f) print 0 }'
}

# nvh_qmp NAME COMMAND [ARGUMENTS-JSON] [--field KEY]: runs one QMP command
# on guest NAME's monitor and prints its return value (tests/integration/
# qmp.py).  The system python: its standard library is all it needs.
nvh_qmp() {
    local name=$1
    shift
    /usr/bin/python3 "$NVH_REPO/tests/integration/qmp.py" "$NVH_WORK/$name.qmp" "$@"
}

# nvh_guest_stop NAME: ends QEMU (the guest may already have powered off).
nvh_guest_stop() {
    nvh_stop_pid "qemu-$1" "${NVH_GUEST_PID[$1]}" 5
}
