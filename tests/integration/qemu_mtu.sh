#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# qemu_mtu: jumbo frames between two QEMU guests.  The virtio-net devices
# have host_mtu=9000 (QEMU reports it to the backend with
# VHOST_USER_NET_SET_MTU and to the guest with VIRTIO_NET_F_MTU), the guests
# set MTU 9000, both ports have mtu_request=9000, and g1 pings g2 with
# 8972-byte payloads (9000-byte IP packets) across OVS.
#
# Checks: both ports' MTU is 9000 and (vhostuserclient) status:frontend_mtu
# shows the 9000 the frontend reported, status:mtu the port's; both guests
# run with MTU 9000; every jumbo echo request is answered.
source "$(dirname "$0")/lib.sh"

COUNT=${NVH_PING_COUNT:-5}
BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-90}
MTU=9000
SIZE=$((MTU - 28))
IP1=198.18.0.1
IP2=198.18.0.2

nvh_setup_guest_test

nvh_ovs_start
nvh_two_port_bridge
s1=$(nvh_sock vhu0)
s2=$(nvh_sock vhu1)
vsctl set Interface vhu0 mtu_request=$MTU -- set Interface vhu1 mtu_request=$MTU

export NVH_GUEST_DEVICE_ARGS=",host_mtu=$MTU"
nvh_guest_start g2 "$s2" 52:54:00:00:00:02 nvh.ip=$IP2/24 nvh.peer=$IP1 \
    nvh.role=answer nvh.mtu=$MTU nvh.timeout=$((BOOT_TIMEOUT * 2))
nvh_guest_start g1 "$s1" 52:54:00:00:00:01 nvh.ip=$IP1/24 nvh.peer=$IP2 \
    nvh.role=ping nvh.mtu=$MTU nvh.count="$COUNT" nvh.size=$SIZE \
    nvh.timeout=$((BOOT_TIMEOUT * 2))
nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready"
nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready"

for port in vhu0 vhu1; do
    nvh_check_eq "$port Interface mtu" $MTU "$(nvh_iface_get $port mtu)"
    if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
        nvh_wait_status $port frontend_mtu $MTU ||
            nvh_check_eq "$port status:frontend_mtu (from NET_SET_MTU)" $MTU \
                "$(nvh_iface_status $port frontend_mtu)"
        nvh_check_eq "$port status:mtu" $MTU "$(nvh_iface_status $port mtu)"
    fi
done
for g in g1 g2; do
    ready=$(nvh_guest_wait $g '^NVH-READY' "$BOOT_TIMEOUT") ||
        nvh_fail "guest $g did not come up"
    nvh_log "$g: $ready"
    nvh_check_match "$g interface MTU" "mtu=$MTU " "$ready "
done
res=$(nvh_guest_wait g1 '^NVH-(RESULT|ERROR)' "$BOOT_TIMEOUT") ||
    nvh_fail "guest g1 reported no result"
nvh_log "g1 says: $res"
nvh_check_eq "jumbo echo replies received of $COUNT (payload $SIZE B)" \
    "role=ping sent=$COUNT received=$COUNT" "${res#NVH-RESULT }"
# Each echo request crossed as one frame of MTU + 14 bytes (the Interface
# statistics column is refreshed every few seconds).
jumbo_carried() {
    [ "$(nvh_iface_stat vhu1 tx_packets)" -ge "$COUNT" ] &&
        [ "$(nvh_iface_stat vhu1 tx_bytes)" -ge $((COUNT * (MTU + 14))) ]
}
nvh_wait_for 15 "vhu1 to count $COUNT jumbo frames" jumbo_carried ||
    nvh_check_eq "vhu1 carried $COUNT jumbo frames" yes \
        "no ($(nvh_iface_stat vhu1 tx_packets) packets, $(nvh_iface_stat vhu1 tx_bytes) bytes)"
nvh_info "vhu1 tx_packets $(nvh_iface_stat vhu1 tx_packets), tx_bytes $(nvh_iface_stat vhu1 tx_bytes)"
nvh_guest_stop g1
nvh_guest_stop g2

nvh_finish
