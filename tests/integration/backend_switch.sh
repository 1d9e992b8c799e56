#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# backend_switch: running QEMU guests moved between DPDK's vhost library and
# netdev-vhost, both ways, without restarting them.
#
#   g1 (vhu0, ofport 1) and g2 (vhu1, ofport 2) ping each other every 0.1 s
#   (nvh.role=ping-stream, actions=NORMAL).  vhu0 is created exactly as
#   OpenStack's os-vif creates a vhost-user port (type=dpdkvhostuserclient,
#   vhost-server-path, the external_ids nova and neutron read, mtu_request);
#   vhu1 is a vhostuserclient port throughout.
#
# Phases, each followed by the guests' pings resuming (the longest gap is
# printed) and a check of which backend serves vhu0:
#   builtin      other_config:vhost-backend unset: DPDK serves vhu0.
#   flip-ours    vhu0's type set to vhostuserclient.
#   flip-dpdk    and back to dpdkvhostuserclient.
#   switch-on    vhost-backend=netdev-vhost set on the running switch: logged
#                as taking effect at the next start; ovs-vswitchd restarted
#                : netdev-vhost serves vhu0 (status:backend,
#                vhostuserclient/show, the start-up log line).
#   replug       vhu0 deleted and added again the os-vif way, as a
#                nova-compute restart does: still on netdev-vhost.
#   bad-option   tx-retries-max=33 on vhu0: refused and shown in
#                status:config_error and the log while the guests keep
#                pinging; other_config:vhost-iommu-support=true: one WARN and
#                status:warning on vhu0.
#   switch-off   vhost-backend=dpdk and a restart: DPDK serves vhu0 again.
# At the end: both guests still run the same ping (never restarted), and
# QEMU logged no feature error ("vhost lacks feature ...").
source "$(dirname "$0")/lib.sh"

BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-90}
RESUME_TIMEOUT=${NVH_SWITCH_RESUME_TIMEOUT:-60}
INTERVAL=0.1
NVH_PING_INTERVAL=$INTERVAL
BEFORE=20   # replies each guest gets before the first move
AFTER=30    # replies each guest must get after each move
GUEST_LIFETIME=1200
IP1=198.18.0.1
IP2=198.18.0.2
MAC1=52:54:00:00:00:01
MAC2=52:54:00:00:00:02

nvh_setup_guest_test

nvh_ovs_start
nvh_add_bridge br0
nvh_flows br0 "actions=NORMAL"
s0=$(nvh_sock vhu0)
s1=$(nvh_sock vhu1)
log_has() { grep -qE "$1" "$NVH_WORK/ovs/log/ovs-vswitchd.log"; }
log_count() { grep -cE "$1" "$NVH_WORK/ovs/log/ovs-vswitchd.log"; }

# osvif_plug PORT SOCKET MAC: the port as os-vif (and nova before it)
# creates it for a vhost-user VIF in server mode on the QEMU side.
osvif_plug() {
    vsctl -- --may-exist add-port br0 "$1" -- set Interface "$1" \
        external_ids:iface-id="3b9ae8c2-0b4e-4d4b-9d55-$(printf %012d "${#1}")" \
        external_ids:iface-status=active external_ids:attached-mac="$3" \
        external_ids:vm-uuid=5f0e44b6-2f36-4d2a-8f67-6c1c9b0c7d11 \
        type=dpdkvhostuserclient options:vhost-server-path="$2" \
        mtu_request=1500 || nvh_fail "cannot plug $1 the os-vif way"
}

osvif_plug vhu0 "$s0" $MAC1
nvh_add_port br0 vhu1 "$s1"

ping_args=(nvh.role=ping-stream "nvh.interval=$INTERVAL"
           "nvh.count=$((GUEST_LIFETIME * 10))" "nvh.timeout=$GUEST_LIFETIME")
nvh_guest_start g1 "$s0" $MAC1 nvh.ip=$IP1/24 nvh.peer=$IP2 "${ping_args[@]}"
nvh_guest_start g2 "$s1" $MAC2 nvh.ip=$IP2/24 nvh.peer=$IP1 "${ping_args[@]}"
declare -A qemu_pid=([g1]=${NVH_GUEST_PID[g1]} [g2]=${NVH_GUEST_PID[g2]})

# resumed PHASE: both guests' pings are answered again after the last seq
# each had before the phase's change (LAST), AFTER more; prints the gaps.
declare -A last=()
mark() { local g; for g in g1 g2; do last[$g]=$(nvh_ping_last $g); done; }
resumed() {
    local phase=$1
    nvh_wait_port_ready vhu0 "$RESUME_TIMEOUT" || nvh_fail "$phase: vhu0 not ready"
    nvh_wait_port_ready vhu1 "$RESUME_TIMEOUT" || nvh_fail "$phase: vhu1 not ready"
    nvh_ping_streams_resumed "$phase" "$RESUME_TIMEOUT" "$AFTER" last g1 g2
}

restart_vswitchd() {
    nvh_vswitchd_exit
    nvh_vswitchd_start
}

# ---- builtin -------------------------------------------------------------
nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready"
nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready"
nvh_ping_streams_up "$BOOT_TIMEOUT" "$BEFORE" g1 g2
nvh_check_eq "builtin: start-up log names DPDK's vhost library" 1 \
    "$(log_count "dpdkvhostuserclient ports are served by DPDK's vhost library")"
nvh_check_eq "builtin: vhu0 served by" dpdk "$(nvh_served_by vhu0)"
nvh_check_eq "builtin: vhu1 served by" netdev-vhost "$(nvh_served_by vhu1)"
nvh_log "builtin: vhu0 features $(nvh_iface_status vhu0 features)"

# ---- flipping the type -------------------------------------------------------
mark
vsctl set Interface vhu0 type=vhostuserclient || nvh_fail "cannot flip vhu0"
resumed flip-ours
nvh_check_eq "flip-ours: vhu0 served by" netdev-vhost "$(nvh_served_by vhu0)"
nvh_check_eq "flip-ours: vhu0 status:backend" netdev-vhost "$(nvh_iface_status vhu0 backend)"
nvh_log "flip-ours: vhu0 features $(nvh_iface_status vhu0 features)"

mark
vsctl set Interface vhu0 type=dpdkvhostuserclient || nvh_fail "cannot flip vhu0 back"
resumed flip-dpdk
nvh_check_eq "flip-dpdk: vhu0 served by" dpdk "$(nvh_served_by vhu0)"

# ---- the switch, on a running switch and after a restart -----------------
vsctl set Open_vSwitch . other_config:vhost-backend=netdev-vhost ||
    nvh_fail "cannot set vhost-backend"
nvh_wait_for 30 "the change logged" log_has \
    'other_config:vhost-backend changed to "netdev-vhost": dpdkvhostuserclient ports stay on DPDK.s vhost library until ovs-vswitchd restarts' >/dev/null ||
    nvh_check_eq "switch-on: change on a running switch logged" yes no
nvh_check_eq "switch-on: vhu0 still served by" dpdk "$(nvh_served_by vhu0)"
mark
restart_vswitchd
resumed switch-on
nvh_check_eq "switch-on: start-up log names netdev-vhost" 1 \
    "$(log_count 'dpdkvhostuserclient ports are served by netdev-vhost \(other_config:vhost-backend=netdev-vhost\)')"
nvh_check_eq "switch-on: vhu0 served by" netdev-vhost "$(nvh_served_by vhu0)"
nvh_check_eq "switch-on: vhu0 type" dpdkvhostuserclient "$(nvh_iface_get vhu0 type)"
nvh_check_eq "switch-on: vhu0 status:backend" netdev-vhost "$(nvh_iface_status vhu0 backend)"
appctl vhostuserclient/show vhu0 | sed 's/^/    /'

# ---- re-plug, as nova-compute does at start ------------------------------
mark
vsctl del-port br0 vhu0 || nvh_fail "cannot delete vhu0"
osvif_plug vhu0 "$s0" $MAC1
resumed replug
nvh_check_eq "replug: vhu0 served by" netdev-vhost "$(nvh_served_by vhu0)"
nvh_check_eq "replug: vhu0 error column" "[]" "$(nvh_iface_get vhu0 error)"

# ---- a refused option on a live port, an ignored knob ----------------------
mark
connects=$(nvh_iface_status vhu0 connects)
vsctl set Interface vhu0 options:tx-retries-max=33 || nvh_fail "cannot set tx-retries-max"
nvh_wait_status vhu0 config_error '*tx-retries-max*' 30 ||
    nvh_check_eq "bad-option: status:config_error shown" yes no
nvh_check_match "bad-option: vhu0 status:config_error" \
    'tx-retries-max .*33.* is not an integer between 0 and 32' \
    "$(nvh_iface_status vhu0 config_error)"
nvh_check_eq "bad-option: refusal logged" yes \
    "$(log_has 'vhu0: tx-retries-max "33" is not an integer between 0 and 32; the port keeps its last valid configuration' && echo yes || echo no)"
resumed bad-option
nvh_check_eq "bad-option: vhu0 error column" "[]" "$(nvh_iface_get vhu0 error)"
# The port stayed as it was: same connection, the guests' pings never
# stopped (a ping or two may be lost on a busy machine, not a reconnect's
# worth), the refused value never applied.
nvh_check_eq "bad-option: vhu0 status:connects unchanged" "$connects" \
    "$(nvh_iface_status vhu0 connects)"
for g in g1 g2; do
    read -r _ _ gap _ _ <<<"$(printf '%s\n' "${NVH_PING_GAPS[@]}" | grep "^bad-option $g ")"
    [ "${gap:-99}" -le 2 ] ||
        nvh_check_eq "bad-option: $g's pings lost in a row (at most 2)" "<= 2" "${gap:-none}"
done
nvh_check_eq "bad-option: tx-retries-max 33 applied" no \
    "$(log_has 'vhu0: tx-retries-max set to 33' && echo yes || echo no)"
vsctl remove Interface vhu0 options tx-retries-max || nvh_fail "cannot remove tx-retries-max"

vsctl set Open_vSwitch . other_config:vhost-iommu-support=true || nvh_fail "cannot set iommu"
nvh_wait_status vhu0 warning '*vhost-iommu-support=true ignored*' 30 ||
    nvh_check_eq "iommu: status:warning shown" yes no
nvh_check_match "iommu: vhu0 status:warning" 'other_config:vhost-iommu-support=true ignored' \
    "$(nvh_iface_status vhu0 warning)"
nvh_check_eq "iommu: one WARN naming the knob" 1 \
    "$(log_count 'WARN.*other_config:vhost-iommu-support=true is ignored')"
vsctl remove Open_vSwitch . other_config vhost-iommu-support || nvh_fail "cannot remove iommu"

# ---- the switch off again ----------------------------------------------------
vsctl set Open_vSwitch . other_config:vhost-backend=dpdk || nvh_fail "cannot set vhost-backend"
mark
restart_vswitchd
resumed switch-off
nvh_check_eq "switch-off: vhu0 served by" dpdk "$(nvh_served_by vhu0)"
nvh_check_eq "switch-off: start-up log names DPDK's vhost library" 1 \
    "$(log_count "dpdkvhostuserclient ports are served by DPDK's vhost library \(other_config:vhost-backend=dpdk\)")"

# ---- the guests never noticed more than gaps ---------------------------------
for g in g1 g2; do
    nvh_check_eq "$g: same QEMU process" "${qemu_pid[$g]}" "${NVH_GUEST_PID[$g]}"
    nvh_alive "${qemu_pid[$g]}" || nvh_check_eq "$g: QEMU still running" yes no
    nvh_check_eq "$g: booted once" 1 "$(grep -ac '^NVH-PINGING' "${NVH_GUEST_CONSOLE[$g]}")"
    nvh_check_eq "$g: its ping still running" "" \
        "$(grep -a '^NVH-\(DONE\|ERROR\)' "${NVH_GUEST_CONSOLE[$g]}" | tr -d '\r')"
    # QEMU refuses a backend that offers less than the guest acked with
    # "vhost lacks feature mask ... for backend" (hw/net/vhost_net.c) and
    # then has no vhost-user device.  "ring restore failed" is what it logs
    # each time a backend goes away (it cannot read the ring's base): one per
    # virtqueue and disconnection, expected here.
    nvh_check_eq "$g: no feature error in QEMU's log" "" \
        "$(grep -iE 'lacks feature|feature.*(mismatch|not supported)|vhost_net.*fail|failed to init vhost' \
            "$NVH_WORK/$g.qemu.log")"
    nvh_log "$g: backend disconnections QEMU saw: $(grep -c 'VQ 0 ring restore failed' "$NVH_WORK/$g.qemu.log")"
done
nvh_log "longest ping gaps (phase, guest, pings lost in a row, ~seconds, slowest answer in ms):"
printf '    %s\n' "${NVH_PING_GAPS[@]}"

nvh_finish
