#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# qemu_ping: two QEMU guests (stock Debian kernel, virtio_net) on two
# vhost-user client ports ping each other: first with explicit OpenFlow rules
# (port 1 <-> port 2), then with actions=NORMAL (MAC learning), with small and
# near-MTU echo requests.  The guests are rebooted between the two rounds.
source "$(dirname "$0")/lib.sh"

COUNT=${NVH_PING_COUNT:-5}
BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-90}
IP1=198.18.0.1
IP2=198.18.0.2

nvh_setup_guest_test

nvh_ovs_start
nvh_two_port_bridge
s1=$(nvh_sock vhu0)
s2=$(nvh_sock vhu1)

# ping_round LABEL SIZE: boots both guests, g1 pings g2, checks the result.
ping_round() {
    local label=$1 size=$2 res
    nvh_guest_start "g2-$label" "$s2" 52:54:00:00:00:02 \
        nvh.ip=$IP2/24 nvh.peer=$IP1 nvh.role=answer nvh.timeout=$((BOOT_TIMEOUT * 2))
    nvh_guest_start "g1-$label" "$s1" 52:54:00:00:00:01 \
        nvh.ip=$IP1/24 nvh.peer=$IP2 nvh.role=ping nvh.count="$COUNT" \
        nvh.size="$size" nvh.timeout=$((BOOT_TIMEOUT * 2))
    nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready ($label)"
    nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready ($label)"
    nvh_guest_wait "g2-$label" '^NVH-READY' "$BOOT_TIMEOUT" >/dev/null ||
        nvh_fail "guest g2 did not come up ($label)"
    res=$(nvh_guest_wait "g1-$label" '^NVH-(RESULT|ERROR)' "$BOOT_TIMEOUT") ||
        nvh_fail "guest g1 reported no result ($label)"
    nvh_log "$label: g1 says: $res"
    # NVH_FEATURE_CHECKS, if set: on vhu1, whose guest (g2) is still up;
    # g1 powers off after its result, which resets vhu0's features.
    nvh_check_features vhu1
    nvh_check_eq "$label: echo replies received of $COUNT (payload $size B)" \
        "role=ping sent=$COUNT received=$COUNT" "${res#NVH-RESULT }"
    nvh_guest_stop "g1-$label"
    nvh_guest_stop "g2-$label"
}

ping_round explicit 56
ofctl dump-flows br0 | sed 's/^/    /'
for m in in_port=1 in_port=2; do
    n=$(nvh_flow_packets br0 $m)
    [ "$n" != none ] && [ "$n" -ge "$COUNT" ] ||
        nvh_check_eq "flow $m n_packets >= $COUNT" yes "no ($n)"
done

nvh_flows br0 "actions=NORMAL"
ping_round normal 1400
ofctl dump-flows br0 | sed 's/^/    /'
n=$(nvh_flow_packets br0 "")
[ "$n" != none ] && [ "$n" -ge $((2 * COUNT)) ] ||
    nvh_check_eq "flow actions=NORMAL n_packets >= $((2 * COUNT))" yes "no ($n)"
appctl fdb/show br0 | sed 's/^/    /'

nvh_finish
