#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# live_options: options changed on ports that carry traffic.
#   mtu_request  9000 applies at once (Interface mtu); an impossible value
#                (100000) is refused by the port, OVS logs it and the port
#                keeps 9000 and keeps forwarding.
#   tx-retries-max
#                0 and 32 apply without disturbing the connection (logged);
#                33 is refused: a clear message in status:config_error and
#                the log, while the port keeps its connection and forwards
#                on its last valid options (the Interface error column stays
#                empty: it would mean OVS took the port out); back at 8 the
#                refusal is cleared.
#   vhost-server-path
#                moved to new sockets on live ports: the ports leave the old
#                frontend, connect to a new one there and forward.
# Traffic is checked with exact counts (testpmd, 64 and 1518 bytes).
# dpdkvhostuserclient silently ignores a bad tx-retries-max and a new path,
# so those two parts run for vhostuserclient only.
source "$(dirname "$0")/lib.sh"

BURSTS=${NVH_BURSTS:-4}

nvh_setup_testpmd_test
ours=0
[ "$NVH_PORT_TYPE" = vhostuserclient ] && ours=1

nvh_ovs_start
nvh_two_port_bridge
a=$(nvh_sock vhu0)
b=$(nvh_sock vhu1)

# forwarding TP LABEL: both ports ready, exact counts both ways.
forwarding() {
    nvh_wait_port_ready vhu0 60 || nvh_fail "$2: vhu0 not ready"
    nvh_wait_port_ready vhu1 60 || nvh_fail "$2: vhu1 not ready"
    nvh_log "$2: exchanging frames"
    nvh_tp_exchange "$1" "$BURSTS" 64
    nvh_tp_exchange "$1" "$BURSTS" 1518
}
log_has() { grep -qE "$1" "$NVH_WORK/ovs/log/ovs-vswitchd.log"; }
error_of() { nvh_iface_get "$1" error | sed 's/^\[\]$//'; }
has_error() { [ -n "$(error_of "$1")" ]; }
no_error() { [ -z "$(error_of "$1")" ]; }
config_error_of() { nvh_iface_status "$1" config_error 2>/dev/null; }
no_config_error() { [ -z "$(config_error_of "$1")" ]; }
mtu_is() { [ "$(nvh_iface_get "$1" mtu)" = "$2" ]; }
connects() { nvh_iface_status "$1" connects 2>/dev/null || echo "?"; }

nvh_tp_start tp1 "$a" "$b"
nvh_tp_sync tp1 60
forwarding tp1 "first frontend"

# ---- mtu_request -------------------------------------------------------
vsctl set Interface vhu0 mtu_request=9000 -- set Interface vhu1 mtu_request=9000 ||
    nvh_fail "cannot set mtu_request"
nvh_wait_for 30 "vhu0 mtu 9000" mtu_is vhu0 9000 >/dev/null
nvh_wait_for 30 "vhu1 mtu 9000" mtu_is vhu1 9000 >/dev/null
nvh_check_eq "vhu0 mtu after mtu_request=9000" 9000 "$(nvh_iface_get vhu0 mtu)"
nvh_check_eq "vhu1 mtu after mtu_request=9000" 9000 "$(nvh_iface_get vhu1 mtu)"
forwarding tp1 "MTU 9000"
vsctl set Interface vhu1 mtu_request=100000 || nvh_fail "cannot set mtu_request"
nvh_wait_for 30 "OVS refusing MTU 100000" log_has "vhu1.*(MTU|mtu).*100000" >/dev/null
nvh_check_eq "the refused MTU is logged" yes "$(log_has 'vhu1.*(MTU|mtu).*100000' && echo yes || echo no)"
nvh_check_eq "vhu1 keeps MTU 9000" 9000 "$(nvh_iface_get vhu1 mtu)"
forwarding tp1 "after a refused MTU"
vsctl set Interface vhu1 mtu_request=9000

# ---- tx-retries-max ------------------------------------------------------
if [ $ours = 1 ]; then
    c0=$(connects vhu0)
    for v in 0 32; do
        vsctl set Interface vhu0 options:tx-retries-max=$v || nvh_fail "cannot set tx-retries-max=$v"
        nvh_wait_for 30 "tx-retries-max=$v applied" log_has "vhu0: tx-retries-max set to $v" >/dev/null
        nvh_check_eq "vhu0: tx-retries-max=$v logged" yes \
            "$(log_has "vhu0: tx-retries-max set to $v" && echo yes || echo no)"
        nvh_check_eq "vhu0 error column with tx-retries-max=$v" "" "$(error_of vhu0)"
    done
    nvh_check_eq "vhu0 kept its connection across the changes" "$c0" "$(connects vhu0)"
    forwarding tp1 "tx-retries-max 32"

    vsctl set Interface vhu0 options:tx-retries-max=33 || nvh_fail "cannot set tx-retries-max=33"
    nvh_wait_status vhu0 config_error '?*' 30
    nvh_check_match "vhu0 status:config_error with tx-retries-max=33" \
        'tx-retries-max .*33.* is not an integer between 0 and 32' "$(config_error_of vhu0)"
    nvh_check_eq "the refusal is logged" yes \
        "$(log_has 'vhu0: tx-retries-max "33" is not an integer between 0 and 32; the port keeps its last valid configuration' && echo yes || echo no)"
    nvh_check_eq "vhu0 error column with tx-retries-max=33 (the port stays)" "" "$(error_of vhu0)"
    nvh_check_eq "vhu0 kept its connection through the refusal" "$c0" "$(connects vhu0)"
    nvh_check_eq "vhu0 still ready" ready "$(nvh_iface_status vhu0 state)"
    # The port keeps carrying the guest's traffic on its last valid options.
    forwarding tp1 "tx-retries-max 33 refused"
    vsctl show >/dev/null || nvh_fail "ovs-vsctl show failed"
    nvh_ovs_alive || nvh_fail "ovs-vswitchd died"
    nvh_check_eq "vhu1 still ready" ready "$(nvh_iface_status vhu1 state)"

    vsctl set Interface vhu0 options:tx-retries-max=8 || nvh_fail "cannot set tx-retries-max=8"
    nvh_wait_for 30 "vhu0 config_error cleared" no_config_error vhu0 >/dev/null
    nvh_check_eq "vhu0 status:config_error after the fix" "" "$(config_error_of vhu0)"
    nvh_check_eq "vhu0 kept its connection through the fix" "$c0" "$(connects vhu0)"
    forwarding tp1 "tx-retries-max fixed"
else
    nvh_log "tx-retries-max: skipped for $NVH_PORT_TYPE (it ignores bad values)"
fi

# ---- vhost-server-path ---------------------------------------------------
if [ $ours = 1 ]; then
    a2=$(nvh_sock vhu0-new)
    b2=$(nvh_sock vhu1-new)
    vsctl set Interface vhu0 options:vhost-server-path="$a2" \
        -- set Interface vhu1 options:vhost-server-path="$b2" || nvh_fail "cannot move the ports"
    nvh_wait_port_down vhu0 30 || nvh_check_eq "vhu0 left its old socket" yes no
    nvh_wait_port_down vhu1 30 || nvh_check_eq "vhu1 left its old socket" yes no
    nvh_check_eq "vhu0 status:socket" "$a2" "$(nvh_iface_status vhu0 socket)"
    nvh_check_eq "path change logged" yes \
        "$(log_has 'vhu0: vhost-server-path changed, reconnecting' && echo yes || echo no)"
    nvh_tp_stop tp1
    nvh_tp_start tp2 "$a2" "$b2"
    nvh_tp_sync tp2 60
    forwarding tp2 "new sockets"
    # A new path is a new backend: its connections are counted afresh.
    nvh_check_eq "vhu0 status:connects on the new path" 1 "$(connects vhu0)"
    nvh_check_eq "vhu1 status:connects on the new path" 1 "$(connects vhu1)"
    nvh_tp_stop tp2
else
    nvh_log "vhost-server-path: skipped for $NVH_PORT_TYPE (it keeps its first path)"
    nvh_tp_stop tp1
fi

nvh_ovs_alive || nvh_fail "ovs-vswitchd died"
nvh_finish
