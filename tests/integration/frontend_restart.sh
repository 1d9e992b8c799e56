#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# frontend_restart: the frontend (testpmd, virtio_user in server mode) starts
# only after the ports were added, so the ports first wait for their sockets.
# Traffic must flow once it is up; then the frontend is killed (SIGKILL, as a
# crash) and later quits cleanly (stdin closed); each time the ports must
# notice, reconnect to the restarted frontend, and forward again.
source "$(dirname "$0")/lib.sh"

BURSTS=${NVH_BURSTS:-4}
N=$((BURSTS * 32))

nvh_setup_testpmd_test

nvh_ovs_start
s0=$(nvh_sock vhu0)
s1=$(nvh_sock vhu1)
rm -f "$s0" "$s1"
nvh_two_port_bridge

# Before any frontend exists the ports wait (and keep waiting).
sleep 2
for p in vhu0 vhu1; do
    case "$NVH_PORT_TYPE" in
        vhostuserclient)
            nvh_check_match "$p status:state before the frontend" '^waiting' \
                "$(nvh_iface_status $p state)" ;;
        *)
            nvh_check_eq "$p status:status before the frontend" disconnected \
                "$(nvh_iface_status $p status)" ;;
    esac
done

# round LABEL: starts testpmd, checks forwarding both ways with exact counts.
round() {
    local label=$1 stats p
    nvh_tp_start_wait "tp-$label" "$s0" "$s1"
    nvh_tp_send "tp-$label" "$BURSTS" 64
    nvh_tp_wait_rx "tp-$label" 1 "$N" >/dev/null
    nvh_tp_wait_rx "tp-$label" 0 "$N" >/dev/null
    stats=$(nvh_tp_stats "tp-$label")
    nvh_tp_run "tp-$label" stop
    for p in 0 1; do
        read -r _ rxp _ txp _ <<<"$(echo "$stats" | awk -v p=$p '$1 == p')"
        nvh_check_eq "$label: testpmd port $p TX-packets" "$N" "${txp:-?}"
        nvh_check_eq "$label: testpmd port $p RX-packets" "$N" "${rxp:-?}"
    done
}

connects() { nvh_iface_status "$1" connects 2>/dev/null || echo "?"; }

round first
[ "$NVH_PORT_TYPE" = vhostuserclient ] && c0=$(connects vhu0)

nvh_info "killing the frontend (SIGKILL)"
nvh_tp_kill tp-first
nvh_wait_port_down vhu0 30 || nvh_check_eq "vhu0 noticed the frontend is gone" yes no
nvh_wait_port_down vhu1 30 || nvh_check_eq "vhu1 noticed the frontend is gone" yes no
# The port must survive a while without a frontend.
sleep 3
nvh_ovs_alive || nvh_fail "ovs-vswitchd died"

round after-kill
if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
    nvh_check_eq "vhu0 status:connects after one reconnection" "$((c0 + 1))" "$(connects vhu0)"
fi

nvh_info "stopping the frontend cleanly"
nvh_tp_stop tp-after-kill
nvh_wait_port_down vhu0 30 || nvh_check_eq "vhu0 noticed the frontend quit" yes no
nvh_wait_port_down vhu1 30 || nvh_check_eq "vhu1 noticed the frontend quit" yes no

round after-stop
if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
    nvh_check_eq "vhu0 status:connects after two reconnections" "$((c0 + 2))" "$(connects vhu0)"
fi

# Our port's counters live as long as the port: they add up over the three
# connections.  The built-in port resets them at every new connection.
case "$NVH_PORT_TYPE" in
    vhostuserclient) expect=$((3 * N)) ;;
    *)               expect=$N ;;
esac
nvh_check_iface_stat vhu0 rx_packets $expect
nvh_check_iface_stat vhu1 tx_packets $expect
nvh_finish
