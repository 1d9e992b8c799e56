# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Integration-test library, the OVS part: the sandboxed ovsdb-server and
# ovs-vswitchd, bridges, ports, flows, and reading the Interface status and
# statistics.
# Sourced by ../lib.sh (which the test scripts source), not on its own.

# ---------------------------------------------------------------------------
# Sandboxed OVS
# ---------------------------------------------------------------------------
NVH_OVS_DPDK_PREFIX=""  # ovs-vswitchd's --file-prefix
NVH_VSWITCHD_PID=""     # the running (or last) ovs-vswitchd

vsctl()  { "$NVH_PREFIX/bin/ovs-vsctl" --timeout=30 "$@"; }
ofctl()  { "$NVH_PREFIX/bin/ovs-ofctl" "$@"; }
appctl() { "$NVH_PREFIX/bin/ovs-appctl" --timeout=30 "$@"; }

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

    nvh_ovs_configure_dpdk ovs
    for kv in "$@"; do
        vsctl --no-wait set Open_vSwitch . "other_config:$kv" || nvh_fail "cannot set $kv"
    done
    nvh_vswitchd_start
}

# nvh_ovs_configure_dpdk TAG: DPDK's settings in the database, before
# ovs-vswitchd starts: dpdk-init, NVH_SOCKET_MEM, NVH_PMD_MASK, no PCI and an
# EAL --file-prefix of this run's own (NVH_OVS_DPDK_PREFIX, removed at
# clean-up).
nvh_ovs_configure_dpdk() {
    NVH_OVS_DPDK_PREFIX="nvh$$$1"
    NVH_DPDK_PREFIXES+=("$NVH_OVS_DPDK_PREFIX")
    vsctl --no-wait set Open_vSwitch . \
        other_config:dpdk-init=true \
        other_config:dpdk-socket-mem="$NVH_SOCKET_MEM" \
        other_config:dpdk-extra="--no-pci --file-prefix=$NVH_OVS_DPDK_PREFIX" \
        other_config:pmd-cpu-mask="$NVH_PMD_MASK" || nvh_fail "cannot configure DPDK"
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

# nvh_two_port_bridge [FLOW...]: the usual pair of ports under test on a
# running OVS: bridge br0 with vhu0 (OpenFlow port 1) and vhu1 (port 2) of
# type $NVH_PORT_TYPE on the sockets $(nvh_sock vhu0) and $(nvh_sock vhu1),
# and the FLOWs (default: each port forwards to the other).
nvh_two_port_bridge() {
    nvh_add_bridge br0
    nvh_add_port br0 vhu0 "$(nvh_sock vhu0)" 1
    nvh_add_port br0 vhu1 "$(nvh_sock vhu1)" 2
    if [ $# -eq 0 ]; then
        set -- "in_port=1,actions=output:2" "in_port=2,actions=output:1"
    fi
    nvh_flows br0 "$@"
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
    map=$(vsctl --if-exists get Interface "$1" status 2>/dev/null) || return 1
    [ "$(nvh_status_key "$map" backend)" = netdev-vhost ] || { key=status; want=connected; }
    [ "$(nvh_status_key "$map" "$key")" = "$want" ] || return 1
    NVH_READY_STATUS[$1]=$map
}

# nvh_wait_port_ready PORT [TIMEOUT]: the port can carry traffic.
#   served by netdev-vhost (status:backend, whatever the type): state = ready
#   served by DPDK's vhost library: status:status = connected (set once vrings
#   are ready)
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

# nvh_served_by PORT: "netdev-vhost", "dpdk" or "unknown", each shown
# positively: netdev-vhost lists the port in vhostuserclient/show with its
# backend; DPDK's vhost library gives it no status:backend and netdev-dpdk's
# get-mempool-info accepts it (only for netdev-dpdk's own classes).
nvh_served_by() {
    if appctl vhostuserclient/show "$1" 2>/dev/null | grep -q '^  type: .*backend: netdev-vhost'; then
        echo netdev-vhost
    elif [ -z "$(nvh_iface_status "$1" backend)" ] &&
         appctl netdev-dpdk/get-mempool-info "$1" >/dev/null 2>&1; then
        echo dpdk
    else
        echo unknown
    fi
}

# nvh_wait_port_down PORT [TIMEOUT]: the frontend is gone.
nvh_wait_port_down() {
    if [ "$(nvh_iface_status "$1" backend)" = netdev-vhost ]; then
        nvh_wait_status "$1" state 'waiting*' "${2:-30}"
    else
        nvh_wait_status "$1" status disconnected "${2:-30}"
    fi
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

# nvh_vring_packets PORT VRING: the packets counter of one vring in
# "ovs-appctl vhostuserclient/show PORT" (0 if the vring is not listed).
nvh_vring_packets() {
    appctl vhostuserclient/show "$1" | awk -v v="$2" '
        $1 == "vring" { cur = $2 }
        $1 == "packets" && cur == v { sub(",", "", $2); print $2; f = 1; exit }
        END { if (!f) print 0 }'
}
