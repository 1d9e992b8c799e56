# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Integration-test library, the OVN part: several chassis on one machine.
# Sourced by ../lib.sh (which the test scripts source), not on its own.
#
#   central        OVN's northbound and southbound databases (ovsdb-server)
#                  and ovn-northd, in $NVH_WORK/central, reached over unix
#                  sockets.
#   chassis N      a hypervisor: ovsdb-server + the patched ovs-vswitchd with
#                  DPDK (its own run, db and log directories under
#                  $NVH_WORK/chN, its own EAL --file-prefix) and
#                  ovn-controller, all in a network namespace of their own.
#                  Its tunnel endpoint is the LOCAL port of a netdev bridge
#                  br-phy whose other port is one end of a veth pair (OVS's
#                  userspace tunnelling); br-int is a netdev bridge too.
#
# Every daemon is recorded by PID (clean-up ends it); the namespaces, and
# with them the veth pairs, are deleted at clean-up.

NVH_OVN_CENTRAL=""        # $NVH_WORK/central once started
declare -A NVH_CH_NS=()   # chassis N -> its network namespace

# ---- Central ---------------------------------------------------------------

nbctl() { ovn-nbctl --timeout=30 --db="unix:$NVH_OVN_CENTRAL/nb.sock" "$@"; }
sbctl() { ovn-sbctl --timeout=30 --db="unix:$NVH_OVN_CENTRAL/sb.sock" "$@"; }

# nvh__daemon NAME PIDFILE CMD...: starts a daemon that detaches (CMD has
# --detach and --pidfile=PIDFILE) and records its PID.
nvh__daemon() {
    local name=$1 pidfile=$2 pid
    shift 2
    "$@" 2>>"$NVH_WORK/$name.stderr" || {
        cat "$NVH_WORK/$name.stderr"
        nvh_fail "$name did not start"
    }
    pid=$(cat "$pidfile") || nvh_fail "no pidfile of $name"
    nvh_register_pid "$name" "$pid"
}

# nvh_ovn_central_start: the NB and SB databases and ovn-northd.
nvh_ovn_central_start() {
    local c=$NVH_WORK/central db
    nvh_require_cmd ovn-northd ovn-nbctl ovn-sbctl ovn-controller
    [ -f /usr/share/ovn/ovn-nb.ovsschema ] || nvh_fail "OVN schemas missing (ovn-common)"
    mkdir -p "$c"
    NVH_OVN_CENTRAL=$c
    for db in nb sb; do
        "$NVH_PREFIX/bin/ovsdb-tool" create "$c/$db.db" "/usr/share/ovn/ovn-$db.ovsschema" ||
            nvh_fail "ovsdb-tool create $db failed"
        OVS_RUNDIR=$c nvh__daemon "ovsdb-server-$db" "$c/$db.pid" \
            "$NVH_PREFIX/sbin/ovsdb-server" "$c/$db.db" --remote="punix:$c/$db.sock" \
            --pidfile="$c/$db.pid" --unixctl="$c/$db.ctl" --log-file="$c/$db.log" \
            --detach --no-chdir
    done
    OVN_RUNDIR=$c nvh__daemon ovn-northd "$c/northd.pid" \
        ovn-northd --ovnnb-db="unix:$c/nb.sock" --ovnsb-db="unix:$c/sb.sock" \
        --pidfile="$c/northd.pid" --log-file="$c/northd.log" --detach --no-chdir
    nbctl --wait=sb sync || nvh_fail "ovn-northd does not answer"
    nvh_log "OVN central: NB, SB, ovn-northd $(ovn-northd --version | awk 'NR == 1 { print $NF }')"
}

# ---- Chassis ---------------------------------------------------------------

# nvh_ch N CMD...: CMD (a command or a function of this library, e.g. vsctl,
# appctl, nvh_wait_port_ready) on chassis N's OVS and ovn-controller.
nvh_ch() {
    local d=$NVH_WORK/ch$1
    shift
    OVS_RUNDIR=$d/run OVS_DBDIR=$d/db OVS_LOGDIR=$d/log OVS_SYSCONFDIR=$d/etc \
        OVN_RUNDIR=$d/ovn OVN_LOGDIR=$d/log DB_SOCK=$d/run/db.sock "$@"
}

# nvh_ch_exec N CMD...: CMD inside chassis N's network namespace, with its
# environment (which "ip netns exec" passes on).
nvh_ch_exec() {
    local n=$1
    shift
    nvh_ch "$n" ip netns exec "${NVH_CH_NS[$n]}" "$@"
}

nvh__netns_delete() { ip netns del "$1" 2>/dev/null; }

# nvh_ovn_link N1 IP1 N2 IP2: the namespaces of chassis N1 and N2 (created if
# new) and a veth pair between them, "vethN1" in N1's and "vethN2" in N2's
# (their underlay; IPs are assigned to br-phy by nvh_ovn_chassis_start).
nvh_ovn_link() {
    local n
    nvh_require_cmd ip
    for n in "$1" "$3"; do
        [ -n "${NVH_CH_NS[$n]:-}" ] && continue
        NVH_CH_NS[$n]=nvh$$ch$n
        ip netns add "${NVH_CH_NS[$n]}" || nvh_fail "cannot create namespace ${NVH_CH_NS[$n]}"
        NVH_CLEANUP+=("nvh__netns_delete ${NVH_CH_NS[$n]}")
        ip -n "${NVH_CH_NS[$n]}" link set lo up
    done
    ip link add "nvh$$v$1" netns "${NVH_CH_NS[$1]}" type veth \
        peer name "nvh$$v$3" netns "${NVH_CH_NS[$3]}" ||
        nvh_fail "cannot create the veth pair between chassis $1 and $3"
    if ! ip -n "${NVH_CH_NS[$1]}" link set "nvh$$v$1" name "veth$1" up ||
       ! ip -n "${NVH_CH_NS[$3]}" link set "nvh$$v$3" name "veth$3" up; then
        nvh_fail "cannot bring the veth pair up"
    fi
}

nvh__ch_dpdk_initialized() {
    nvh_alive "$1" || nvh_fail "chassis $2: ovs-vswitchd died"
    [ "$(nvh_ch "$2" vsctl get Open_vSwitch . dpdk_initialized 2>/dev/null)" = true ]
}

nvh__ch_route_known() {
    nvh_ch "$1" appctl ovs/route/show 2>/dev/null | grep -q "${2%.*}.0/24 dev br-phy"
}

# nvh_ovn_chassis_start N TUNNEL-IP PMD-MASK [KEY=VALUE...]: chassis N
# ("nvh-chN"), after nvh_ovn_link made its namespace.  KEY=VALUEs go to
# other_config before ovs-vswitchd starts (e.g. vhost-backend=netdev-vhost).
# The steps are those of docs/user-guide.md "Running under OVN".
nvh_ovn_chassis_start() {
    local n=$1 ip=$2 mask=$3 d=$NVH_WORK/ch$1 pid kv
    shift 3
    nvh_require_ovs
    [ -n "${NVH_CH_NS[$n]:-}" ] || nvh_fail "chassis $n has no namespace (nvh_ovn_link)"
    mkdir -p "$d"/run "$d"/db "$d"/log "$d"/etc "$d"/ovn
    "$NVH_PREFIX/bin/ovsdb-tool" create "$d/db/conf.db" \
        "$NVH_PREFIX/share/openvswitch/vswitch.ovsschema" || nvh_fail "ovsdb-tool create failed"
    nvh__daemon "ch$n-ovsdb-server" "$d/run/ovsdb-server.pid" \
        nvh_ch_exec "$n" "$NVH_PREFIX/sbin/ovsdb-server" "$d/db/conf.db" \
        --remote="punix:$d/run/db.sock" --pidfile --detach --no-chdir --log-file
    nvh_ch "$n" vsctl --no-wait init || nvh_fail "chassis $n: ovs-vsctl init failed"
    nvh_ch "$n" nvh_ovs_configure_dpdk "ch$n"
    nvh_ch "$n" vsctl --no-wait set Open_vSwitch . other_config:pmd-cpu-mask="$mask" ||
        nvh_fail "chassis $n: cannot set the PMD mask"
    for kv in "$@"; do
        nvh_ch "$n" vsctl --no-wait set Open_vSwitch . "other_config:$kv" ||
            nvh_fail "chassis $n: cannot set $kv"
    done
    nvh_ch "$n" vsctl --no-wait set Open_vSwitch . \
        external_ids:system-id="nvh-ch$n" \
        external_ids:hostname="nvh-ch$n" \
        external_ids:ovn-remote="unix:$NVH_OVN_CENTRAL/sb.sock" \
        external_ids:ovn-encap-type=geneve \
        external_ids:ovn-encap-ip="$ip" \
        external_ids:ovn-bridge-datapath-type=netdev ||
        nvh_fail "chassis $n: cannot set OVN's external_ids"

    nvh__daemon "ch$n-ovs-vswitchd" "$d/run/ovs-vswitchd.pid" \
        nvh_ch_exec "$n" "$NVH_PREFIX/sbin/ovs-vswitchd" "unix:$d/run/db.sock" \
        --pidfile --detach --no-chdir --log-file
    pid=$(cat "$d/run/ovs-vswitchd.pid")
    nvh_wait_for 60 "chassis $n: DPDK initialisation" nvh__ch_dpdk_initialized "$pid" "$n" ||
        nvh_fail "chassis $n: ovs-vswitchd did not initialise DPDK"

    # The underlay: br-phy's LOCAL port carries the tunnel endpoint address,
    # the veth is its uplink.
    nvh_ch "$n" vsctl add-br br-phy -- set Bridge br-phy datapath_type=netdev \
        -- add-port br-phy "veth$n" || nvh_fail "chassis $n: cannot add br-phy"
    if ! ip -n "${NVH_CH_NS[$n]}" addr add "$ip/24" dev br-phy ||
       ! ip -n "${NVH_CH_NS[$n]}" link set br-phy up; then
        nvh_fail "chassis $n: cannot give br-phy $ip"
    fi
    nvh_wait_for 10 "chassis $n: OVS's route to ${ip%.*}.0/24 via br-phy" \
        nvh__ch_route_known "$n" "$ip" || nvh_fail "chassis $n: no tunnel route"
    # The integration bridge, as OVN's documentation has it for DPDK.
    nvh_ch "$n" vsctl add-br br-int -- set Bridge br-int datapath_type=netdev \
        fail_mode=secure other_config:disable-in-band=true ||
        nvh_fail "chassis $n: cannot add br-int"

    nvh__daemon "ch$n-ovn-controller" "$d/ovn/ovn-controller.pid" \
        nvh_ch_exec "$n" ovn-controller "unix:$d/run/db.sock" \
        --pidfile="$d/ovn/ovn-controller.pid" --log-file="$d/log/ovn-controller.log" \
        --detach --no-chdir
    nvh_log "chassis nvh-ch$n: ovs-vswitchd pid $pid in ${NVH_CH_NS[$n]}, tunnel endpoint $ip"
}

nvh__chassis_registered() { [ -n "$(sbctl --bare --columns=name find Chassis name="$1")" ]; }

# nvh_ovn_wait_chassis NAME...: each chassis registered in the SB database.
nvh_ovn_wait_chassis() {
    local c
    for c in "$@"; do
        nvh_wait_for 60 "chassis $c in the southbound database" nvh__chassis_registered "$c" ||
            nvh_fail "chassis $c never registered"
    done
}

# nvh_ovn_bindings: "CHASSIS PORT" per port binding, as "ovn-sbctl show"
# lists them.
nvh_ovn_bindings() {
    sbctl show | awk '
        $1 == "Chassis" { c = $2; gsub(/"/, "", c) }
        $1 == "Port_Binding" { p = $2; gsub(/"/, "", p); print c, p }'
}

# nvh_ovn_bound_to PORT: the chassis "ovn-sbctl show" lists PORT under.
nvh_ovn_bound_to() { nvh_ovn_bindings | awk -v p="$1" '$2 == p { print $1 }'; }

nvh__bound_to_is() { [ "$(nvh_ovn_bound_to "$1")" = "$2" ]; }

# nvh_ovn_wait_bound PORT CHASSIS [TIMEOUT]
nvh_ovn_wait_bound() {
    nvh_wait_for "${3:-60}" "$1 bound to $2" nvh__bound_to_is "$1" "$2" || {
        sbctl show
        return 1
    }
}
