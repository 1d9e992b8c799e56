#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# testpmd_forward: two vhost-user client ports on a netdev bridge, each
# connected to a virtio_user port of one testpmd (server mode).  OpenFlow
# forwards port 1 -> 2 and 2 -> 1.  Each testpmd port sends a fixed number of
# 64-byte and then 1518-byte frames; the other port must receive exactly that
# many, and OVS's Interface statistics must agree (rx on the sending side's
# port, tx on the receiving side's).
#
# NVH_TP_DEVARGS: more virtio_user arguments for both testpmd ports, e.g.
# ",packed_vq=1" (testpmd_variants.sh runs this test with several);
# NVH_FEATURE_CHECKS: feature bits to check (lib.sh, nvh_check_features).
source "$(dirname "$0")/lib.sh"

BURSTS=${NVH_BURSTS:-8}          # bursts of 32 frames per port and size
SIZES=${NVH_SIZES:-"64 1518"}
N=$((BURSTS * 32))

nvh_setup_testpmd_test

nvh_ovs_start
nvh_two_port_testpmd tp
nvh_check_features vhu0 vhu1   # NVH_FEATURE_CHECKS, if set

# Both ports are polled by a PMD thread (is_pmd): each has an rxq there.
rxqs=$(appctl dpif-netdev/pmd-rxq-show)
echo "$rxqs" | sed 's/^/    /'
for port in vhu0 vhu1; do
    nvh_check_match "pmd-rxq-show lists $port" "port: $port +queue-id: +0" \
        "$(echo "$rxqs" | grep -E "port: $port " || echo "(absent)")"
done

total_pkts=0
total_bytes=0
for size in $SIZES; do
    nvh_info "sending $N frames of $size bytes from each testpmd port"
    nvh_tp_exchange tp "$BURSTS" "$size"
    total_pkts=$((total_pkts + N))
    total_bytes=$((total_bytes + N * size))
    for port in vhu0 vhu1; do
        nvh_check_iface_stat $port rx_packets $total_pkts
        nvh_check_iface_stat $port tx_packets $total_pkts
        nvh_check_iface_stat $port rx_bytes $total_bytes
        nvh_check_iface_stat $port tx_bytes $total_bytes
    done
done

ofctl dump-ports br0 | sed 's/^/    /'
nvh_finish
