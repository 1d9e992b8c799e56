#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# qemu_tcp_offload: a TCP transfer between two QEMU guests through OVS, with
# other_config:userspace-tso-enable=$NVH_TSO (default true).  With TSO the
# ports offer and the guests negotiate VIRTIO_NET_F_CSUM, HOST_TSO4/6 and
# the receive offloads, so the guests exchange partially checksummed 64 kB
# segments; without it VIRTIO_NET_F_CSUM is not offered, which leaves the
# guests no transmit offload (as on dpdkvhostuserclient, the segmentation
# bits stay offered but need CSUM).  Either way the data (NVH_TCP_KIB KiB of
# random bytes) must arrive intact: same size and MD5 on both sides.
source "$(dirname "$0")/lib.sh"

TSO=${NVH_TSO:-true}
KIB=${NVH_TCP_KIB:-4096}
BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-90}
IP1=198.18.0.1
IP2=198.18.0.2
# The offload bits: the guest's receive offloads GUEST_CSUM, GUEST_TSO4/6,
# GUEST_ECN, GUEST_UFO (offered in any case, as dpdkvhostuserclient does)
# and its transmit offloads CSUM, HOST_TSO4/6 (offered only with userspace
# TSO, as on dpdkvhostuserclient).
GUEST_OFFLOADS=$(( (1 << 1) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) ))
HOST_OFFLOADS=$(( (1 << 0) | (1 << 11) | (1 << 12) ))
CSUM=1

# The 256 MB of dpdk-socket-mem on which dpdkvhostuserclient runs these
# guests with TSO: ours must fit in it too (MTU-sized mbufs, 64 kB buffers
# only for the frames that need them).  dpdk-socket-limit holds DPDK to it
# (without a limit its heap grows into any free huge pages).
NVH_SOCKET_MEM=${NVH_TSO_SOCKET_MEM:-256}
nvh_setup_guest_test

nvh_ovs_start "userspace-tso-enable=$TSO" "dpdk-socket-limit=$NVH_SOCKET_MEM"
nvh_two_port_bridge "actions=NORMAL"
s1=$(nvh_sock vhu0)
s2=$(nvh_sock vhu1)

timeout=$((BOOT_TIMEOUT * 3))
nvh_guest_start recv "$s2" 52:54:00:00:00:02 \
    nvh.ip=$IP2/24 nvh.peer=$IP1 nvh.role=tcp-recv nvh.port=5001 nvh.timeout=$timeout
nvh_guest_start send "$s1" 52:54:00:00:00:01 \
    nvh.ip=$IP1/24 nvh.peer=$IP2 nvh.role=tcp-send nvh.port=5001 \
    nvh.kib="$KIB" nvh.timeout=$timeout
nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready"
nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready"

# The features as the ports showed them when they became ready, in the same
# status read: once both guests are up the transfer starts, and the receiver
# powers off as soon as it has the data, which takes the features out of
# vhu1's status; reading them later races with that.
for p in vhu0 vhu1; do
    f=$(nvh_ready_status $p features)
    nvh_log "$p: features $f"
    [ -n "$f" ] || nvh_fail "$p: no features in status"
    nvh_check_eq "$p: receive offloads negotiated" \
        "$(printf 0x%x $GUEST_OFFLOADS)" "$(printf 0x%x $((f & GUEST_OFFLOADS)))"
    if [ "$TSO" = true ]; then
        nvh_check_eq "$p: transmit offloads negotiated" \
            "$(printf 0x%x $HOST_OFFLOADS)" "$(printf 0x%x $((f & HOST_OFFLOADS)))"
    else
        nvh_check_eq "$p: no checksum offload from the guest" 0 $((f & CSUM))
        # Nor HOST_TSO4/6 or HOST_UFO, which dpdkvhostuserclient does not
        # offer without TSO: a guest that acked them could not move there.
        nvh_check_eq "$p: no HOST_TSO4/6 or HOST_UFO negotiated" 0x0 \
            "$(printf 0x%x $((f & ((1 << 11) | (1 << 12) | (1 << 14)))))"
    fi
done

sent=$(nvh_guest_wait send '^NVH-(RESULT|ERROR)' "$BOOT_TIMEOUT") ||
    nvh_fail "sender reported nothing"
nvh_log "sender: $sent"
got=$(nvh_guest_wait recv '^NVH-(RESULT|ERROR)' "$timeout") ||
    nvh_fail "receiver reported nothing"
nvh_log "receiver: $got"
nvh_check_match "sender wrote $KIB KiB" "^NVH-RESULT role=tcp-send bytes=$((KIB * 1024)) md5=" "$sent"
nvh_check_eq "received data (size and MD5)" "${sent#NVH-RESULT role=tcp-send }" \
    "${got#NVH-RESULT role=tcp-recv }"

appctl vhostuserclient/show vhu0 | sed 's/^/    /'
# The pools the ports got, and no complaint about memory.
nvh_ovs_log | grep -E 'created mempool' | sed 's/^/    /'
nvh_check_eq "no mempool failure in the log" "" \
    "$(nvh_ovs_log | grep -Ei 'cannot create mempool|no mempool' | head -n 3)"
# The sender's frames (vhu0's transmitq, vring 1): with TSO the guest hands
# over segments larger than a 1518-byte frame, without it none is.
avg=$(appctl vhostuserclient/show vhu0 | awk '
    $1 == "vring" { cur = $2 }
    $1 == "packets" && cur == 1 { sub(",", "", $2); p = $2; b = $4 }
    END { print (p > 0 ? int(b / p) : 0) }')
nvh_log "vhu0 transmitq: $avg bytes per frame on average"
if [ "$TSO" = true ]; then
    nvh_check_eq "segments larger than the MTU from the sender" yes \
        "$([ "$avg" -gt 1518 ] && echo yes || echo "no ($avg)")"
else
    nvh_check_eq "no frame larger than the MTU from the sender" yes \
        "$([ "$avg" -gt 0 ] && [ "$avg" -le 1518 ] && echo yes || echo "no ($avg)")"
fi
nvh_guest_stop send
nvh_guest_stop recv
nvh_finish
