#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ovs_restart: ovs-vswitchd stopped and started again under two running QEMU
# guests that ping each other through it (actions=NORMAL).
#
#   g1 (vhu0, ofport 1) and g2 (vhu1, ofport 2) both ping the other every
#   0.1 s (nvh.role=ping-stream: every reply on the console).  QEMU serves
#   the vhost-user sockets (server=on), so the ports are the clients and
#   must connect again to the same QEMU processes by themselves.
#
# OpenFlow rules are not kept across a restart: the one rule set here is
# the same as the default rule of a bridge without controller (standalone
# fail mode), which the new process has.
#
# Phase "exit": "ovs-appctl exit"; phase "kill": SIGKILL (stale pidfile,
# control socket and DPDK runtime files remain; nvh_vswitchd_start copes).
# Each time ovs-vswitchd is started again with the same arguments on the
# same database (ovsdb-server keeps running); the guests are neither
# restarted nor reconfigured.  Checks after each restart: both guests get
# at least AFTER more replies within RESUME_TIMEOUT seconds; both ports are
# ready (status:status=connected), the new process's statistics count the
# new traffic in both directions and the error column is empty.  Prints
# each port's connects counter and the gap (longest run of unanswered
# pings) of each guest.
source "$(dirname "$0")/lib.sh"

BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-90}
RESUME_TIMEOUT=${NVH_RESTART_RESUME_TIMEOUT:-60}
INTERVAL=0.1
BEFORE=20   # replies each guest gets before the first stop
AFTER=50    # replies each guest must get after each restart
GUEST_LIFETIME=900
IP1=198.18.0.1
IP2=198.18.0.2

nvh_setup_guest_test

nvh_ovs_start
nvh_two_port_bridge "actions=NORMAL"
s0=$(nvh_sock vhu0)
s1=$(nvh_sock vhu1)

NVH_PING_INTERVAL=$INTERVAL
nvh__stat_at_least() { [ "$(nvh_iface_stat "$1" "$2")" -ge "$3" ]; }

ping_args=(nvh.role=ping-stream "nvh.interval=$INTERVAL"
           "nvh.count=$((GUEST_LIFETIME * 10))" "nvh.timeout=$GUEST_LIFETIME")
nvh_guest_start g1 "$s0" 52:54:00:00:00:01 nvh.ip=$IP1/24 nvh.peer=$IP2 "${ping_args[@]}"
nvh_guest_start g2 "$s1" 52:54:00:00:00:02 nvh.ip=$IP2/24 nvh.peer=$IP1 "${ping_args[@]}"

nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready"
nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready"
nvh_ping_streams_up "$BOOT_TIMEOUT" "$BEFORE" g1 g2
nvh_log "features negotiated: vhu0 $(nvh_iface_status vhu0 features)," \
    "vhu1 $(nvh_iface_status vhu1 features)"

# restart_phase NAME: stops ovs-vswitchd the NAME way (exit or kill),
# starts it again and checks that the guests' traffic resumes.
restart_phase() {
    local phase=$1 g p k v t t0 gap
    declare -A last=()
    nvh_log "$phase: stopping ovs-vswitchd (pid $NVH_VSWITCHD_PID)"
    t0=$SECONDS
    case "$phase" in
        exit) nvh_vswitchd_exit ;;
        kill) nvh_vswitchd_kill ;;
    esac
    # No reply can cross while ovs-vswitchd is gone: whatever comes later
    # went through the new process.
    for g in g1 g2; do last[$g]=$(nvh_ping_last $g); done
    nvh_log "$phase: last answered: g1 seq=${last[g1]}, g2 seq=${last[g2]}"
    nvh_vswitchd_start
    nvh_log "$phase: ovs-vswitchd running again $((SECONDS - t0)) s after the stop began"

    for p in vhu0 vhu1; do
        nvh_wait_port_ready $p "$RESUME_TIMEOUT" || {
            nvh_log "$p status after the restart: $(vsctl get Interface $p status)"
            nvh_fail "$phase: $p not ready again within ${RESUME_TIMEOUT}s"
        }
    done
    # The guests resume on their own: a first new reply, then AFTER more.
    for g in g1 g2; do
        nvh_wait_for "$RESUME_TIMEOUT" "$g's answers beyond seq=${last[$g]}" \
            nvh_ping_beyond $g $((last[$g] + 1)) ||
            nvh_fail "$phase: $g's pings are not answered within ${RESUME_TIMEOUT}s" \
                "of the restart (last answered seq=$(nvh_ping_last $g))"
        nvh_log "$phase: $g answered again $((SECONDS - t0)) s after the stop began"
    done
    nvh_ping_streams_resumed "$phase" "$RESUME_TIMEOUT" "$AFTER" last g1 g2

    # The new process sees both ports connected, ready, without error, and
    # counts the new traffic (its statistics start at 0).
    for p in vhu0 vhu1; do
        nvh_check_eq "$phase: $p status:status" connected "$(nvh_iface_status $p status)"
        [ "$NVH_PORT_TYPE" = vhostuserclient ] &&
            nvh_check_eq "$phase: $p status:state" ready "$(nvh_iface_status $p state)"
        nvh_check_eq "$phase: $p error column" "[]" "$(nvh_iface_get $p error)"
        for k in rx_packets tx_packets; do
            nvh_wait_for 15 "$p $k >= $AFTER" nvh__stat_at_least $p $k $AFTER >/dev/null
            v=$(nvh_iface_stat $p $k)
            [ "$v" -ge "$AFTER" ] || nvh_check_eq "$phase: $p statistics:$k >= $AFTER" yes "no ($v)"
            nvh_log "$phase: $p statistics:$k = $v"
        done
        # vhostuserclient counts connections (the built-in port has no such
        # key): the new process connected once, without flapping.
        v=$(nvh_iface_status $p connects)
        nvh_log "$phase: $p connects = ${v:-(no such status key)}"
        [ "$NVH_PORT_TYPE" = vhostuserclient ] &&
            nvh_check_eq "$phase: $p status:connects" 1 "$v"
    done
}

restart_phase exit
restart_phase kill

for g in g1 g2; do
    nvh_check_eq "$g's ping still running" "" \
        "$(grep -a '^NVH-\(DONE\|ERROR\)' "${NVH_GUEST_CONSOLE[$g]}" | tr -d '\r')"
done
ofctl dump-flows br0 | sed 's/^/    /'
appctl fdb/show br0 | sed 's/^/    /'

nvh_finish
