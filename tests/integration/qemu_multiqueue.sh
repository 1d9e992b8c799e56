#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# qemu_multiqueue: two QEMU guests with multiqueue virtio-net devices
# (-netdev vhost-user,queues=N, -device virtio-net-pci,mq=on, -smp N: Linux
# enables one queue pair per online CPU) on two vhost-user client ports,
# with N = 2 and then 4.
#
# Checks, for each N: both guests use N queue pairs; both ports report N
# queue pairs and have N rxqs in dpif-netdev/pmd-rxq-show; g1 pings g2 with
# N pings at once, each pinned to its own CPU (so the guest's XPS sends them
# on different transmit queues): every echo is answered and the transmitq
# vrings of more than one queue pair of g1's port count frames.
source "$(dirname "$0")/lib.sh"

COUNT=${NVH_PING_COUNT:-10}
BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-120}
IP1=198.18.0.1
IP2=198.18.0.2

nvh_setup_guest_test

nvh_ovs_start
nvh_two_port_bridge
s1=$(nvh_sock vhu0)
s2=$(nvh_sock vhu1)

n_rxqs() {
    appctl dpif-netdev/pmd-rxq-show | grep -cE "port: $1 +queue-id: +[0-9]+"
}
rxqs_are() { [ "$(n_rxqs "$1")" = "$2" ]; }

round() {
    local q=$1 res ready before=() moved=0 n i
    if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
        for i in $(seq 0 $((q - 1))); do
            before[i]=$(nvh_vring_packets vhu0 $((2 * i + 1)))
        done
    fi
    NVH_GUEST_QUEUES=$q nvh_guest_start "g2-$q" "$s2" 52:54:00:00:00:02 \
        nvh.ip=$IP2/24 nvh.peer=$IP1 nvh.role=answer nvh.timeout=$((BOOT_TIMEOUT * 2))
    NVH_GUEST_QUEUES=$q nvh_guest_start "g1-$q" "$s1" 52:54:00:00:00:01 \
        nvh.ip=$IP1/24 nvh.peer=$IP2 nvh.role=ping nvh.count="$COUNT" \
        nvh.flows="$q" nvh.linger="$BOOT_TIMEOUT" nvh.timeout=$((BOOT_TIMEOUT * 2))
    nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready ($q pairs)"
    nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready ($q pairs)"
    for g in g1 g2; do
        ready=$(nvh_guest_wait "$g-$q" '^NVH-READY' "$BOOT_TIMEOUT") ||
            nvh_fail "guest $g did not come up ($q pairs)"
        nvh_log "$g: $ready"
        nvh_check_match "$g uses $q transmit queues" "txqs=$q " "$ready "
    done
    for port in vhu0 vhu1; do
        if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
            nvh_wait_status $port queue_pairs "$q" ||
                nvh_check_eq "$port status:queue_pairs" "$q" \
                    "$(nvh_iface_status $port queue_pairs)"
        fi
        nvh_wait_for 30 "$port to have $q rxqs" rxqs_are $port "$q" ||
            nvh_check_eq "$port rxqs in pmd-rxq-show" "$q" "$(n_rxqs $port)"
    done
    appctl dpif-netdev/pmd-rxq-show | sed 's/^/    /'
    res=$(nvh_guest_wait "g1-$q" '^NVH-(RESULT|ERROR)' "$BOOT_TIMEOUT") ||
        nvh_fail "guest g1 reported no result ($q pairs)"
    nvh_log "$q pairs: g1 says: $res"
    nvh_check_eq "$q pairs: echo replies" \
        "role=ping sent=$((q * COUNT)) received=$((q * COUNT))" \
        "${res#NVH-RESULT }"
    if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
        appctl vhostuserclient/show vhu0 | sed 's/^/    /'
        for i in $(seq 0 $((q - 1))); do
            n=$(( $(nvh_vring_packets vhu0 $((2 * i + 1))) - before[i] ))
            nvh_info "$q pairs: vhu0 transmitq$i: $n frames"
            [ "$n" -gt 0 ] && moved=$((moved + 1))
        done
        if [ "$moved" -lt 2 ]; then
            nvh_check_eq "$q pairs: transmitq vrings of vhu0 that carried frames" \
                ">= 2" "$moved"
        fi
    fi
    nvh_guest_stop "g1-$q"
    nvh_guest_stop "g2-$q"
}

round 2
round 4

nvh_finish
