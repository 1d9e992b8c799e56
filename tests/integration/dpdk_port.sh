#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# dpdk_port: vhost-user client ports and a DPDK ethdev port on one bridge.
# The DPDK port is a net_ring vdev, which loops what it transmits back to its
# receive side.  Frames from testpmd port A go vhu0 -> ring0 -> (loop) ->
# vhu1 -> testpmd port B, and B's frames take the mirror path (told apart by
# source MAC on the way back from the ring).  Every frame is counted at every
# hop.
source "$(dirname "$0")/lib.sh"

BURSTS=${NVH_BURSTS:-8}
SIZES=${NVH_SIZES:-"64 1518"}
N=$((BURSTS * 32))
MAC_A=02:00:00:00:00:0a
MAC_B=02:00:00:00:00:0b

nvh_setup_testpmd_test

nvh_ovs_start
nvh_two_port_bridge
# net_ring loops tx queue i to rx queue i.  OVS gives a DPDK port one tx queue
# per PMD thread plus one for the main thread, and each thread sends on its
# own: poll as many rx queues so that no looped frame is stranded.
mask=$((NVH_PMD_MASK))
npmd=0
while [ $mask -gt 0 ]; do npmd=$((npmd + (mask & 1))); mask=$((mask >> 1)); done
vsctl add-port br0 ring0 -- set Interface ring0 type=dpdk \
    options:dpdk-devargs=net_ring0 options:n_rxq=$((npmd + 1)) ofport_request=3 ||
    nvh_fail "cannot add the dpdk port"
err=$(nvh_iface_get ring0 error)
[ -z "$err" ] || [ "$err" = "[]" ] || nvh_fail "ring0: $err"
nvh_flows br0 \
    "in_port=1,actions=output:3" \
    "in_port=2,actions=output:3" \
    "in_port=3,dl_src=$MAC_A,actions=output:2" \
    "in_port=3,dl_src=$MAC_B,actions=output:1"

nvh_tp_start_wait tp "$(nvh_sock vhu0),mac=$MAC_A" "$(nvh_sock vhu1),mac=$MAC_B"

total_pkts=0
total_bytes=0
for size in $SIZES; do
    nvh_info "sending $N frames of $size bytes from each testpmd port through ring0"
    nvh_tp_exchange tp "$BURSTS" "$size"
    total_pkts=$((total_pkts + N))
    total_bytes=$((total_bytes + N * size))
    for port in vhu0 vhu1; do
        nvh_check_iface_stat $port rx_packets $total_pkts
        nvh_check_iface_stat $port tx_packets $total_pkts
        nvh_check_iface_stat $port rx_bytes $total_bytes
    done
    nvh_check_iface_stat ring0 tx_packets $((2 * total_pkts))
    nvh_check_iface_stat ring0 rx_packets $((2 * total_pkts))
done

ofctl dump-flows br0 | sed 's/^/    /'
nvh_finish
