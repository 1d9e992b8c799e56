#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Demo: the vhostuserclient port type in a DPDK-enabled ovs-vswitchd.
#
#   1. builds and installs (scripts/build.sh) unless NVH_DEMO_SKIP_BUILD=1;
#   2. starts a sandboxed ovsdb-server + ovs-vswitchd (own run/db/log
#      directories, nothing of a system OVS is touched);
#   3. adds a netdev bridge with two vhostuserclient ports;
#   4. starts testpmd with two virtio_user ports in server mode (the ports
#      connect to them) and OpenFlow rules port 1 <-> port 2;
#   5. sends a fixed number of 64-byte and 1518-byte frames from each side and
#      prints testpmd's counters, ovs-ofctl dump-flows / dump-ports and the
#      Interface statistics;
#   6. with --guests: boots two QEMU guests on the same ports (the ports
#      reconnect to them) and has them ping each other through the bridge;
#   7. stops everything it started.
#
# Needs a machine prepared by scripts/setup.sh; runs as root.
# Usage: scripts/demo.sh [--guests]
# Environment: NVH_PORT_TYPE (default vhostuserclient; dpdkvhostuserclient
# shows OVS's own port for comparison), NVH_BUILD_DIR, NVH_PREFIX, NVH_KEEP=1.
set -u

repo=$(cd "$(dirname "$0")/.." && pwd)
guests=0
for a in "$@"; do
    case "$a" in
        --guests) guests=1 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo.sh: unknown argument $a" >&2; exit 2 ;;
    esac
done

if [ "${NVH_DEMO_SKIP_BUILD:-0}" != 1 ] && [ -x "$repo/scripts/build.sh" ]; then
    echo "=== building and installing (scripts/build.sh)"
    "$repo/scripts/build.sh" || { echo "demo.sh: build failed" >&2; exit 1; }
fi

# shellcheck disable=SC2034  # read by lib.sh
NVH_TEST=demo
# shellcheck source=../tests/integration/lib.sh
source "$repo/tests/integration/lib.sh"

BURSTS=8
N=$((BURSTS * 32))

section() { echo; echo "=== $*"; }

nvh_setup_testpmd_test

section "starting ovs-vswitchd (sandbox in $NVH_WORK/ovs)"
nvh_ovs_start
nvh_two_port_bridge
s0=$(nvh_sock vhu0)
s1=$(nvh_sock vhu1)
echo "ports are waiting for their frontends:"
for p in vhu0 vhu1; do echo "  $p: $(vsctl get Interface $p status)"; done

section "starting testpmd: virtio_user0 on $s0, virtio_user1 on $s1"
nvh_tp_start_wait tp "$s0" "$s1"
vsctl show

ok=1
for size in 64 1518; do
    section "each testpmd port sends $N frames of $size bytes"
    nvh_tp_send tp "$BURSTS" "$size"
    nvh_tp_wait_rx tp 1 "$N" >/dev/null
    nvh_tp_wait_rx tp 0 "$N" >/dev/null
    stats=$(nvh_tp_stats tp)
    nvh_tp_run tp stop
    printf '  %-13s %12s %12s %12s %12s\n' "testpmd port" RX-packets RX-bytes TX-packets TX-bytes
    echo "$stats" | while read -r p rp rb tp tb; do
        printf '  %-13s %12s %12s %12s %12s\n' "$p" "$rp" "$rb" "$tp" "$tb"
        [ "$rp" = "$N" ] && [ "$tp" = "$N" ] || echo "  ^ expected $N frames each way"
    done
    echo "$stats" | awk -v n="$N" '$2 != n || $4 != n { exit 1 }' || ok=0
done

section "ovs-ofctl dump-flows br0"
ofctl dump-flows br0
section "ovs-ofctl dump-ports br0"
ofctl dump-ports br0
section "Interface statistics (refreshed by OVS every 5 s)"
sleep 5
for p in vhu0 vhu1; do
    echo "  $p: rx_packets=$(nvh_iface_stat $p rx_packets) rx_bytes=$(nvh_iface_stat $p rx_bytes)" \
         "tx_packets=$(nvh_iface_stat $p tx_packets) tx_bytes=$(nvh_iface_stat $p tx_bytes)" \
         "tx_dropped=$(nvh_iface_stat $p tx_dropped)"
    echo "  $p status: $(vsctl get Interface $p status)"
done

if [ $guests = 1 ]; then
    section "replacing testpmd by two QEMU guests on the same sockets"
    nvh_tp_stop tp
    nvh_guest_build
    nvh_flows br0 "actions=NORMAL"
    nvh_guest_start g2 "$s1" 52:54:00:00:00:02 \
        nvh.ip=198.18.0.2/24 nvh.peer=198.18.0.1 nvh.role=answer nvh.timeout=180
    nvh_guest_start g1 "$s0" 52:54:00:00:00:01 \
        nvh.ip=198.18.0.1/24 nvh.peer=198.18.0.2 nvh.role=ping nvh.count=5 nvh.timeout=180
    if res=$(nvh_guest_wait g1 '^NVH-(RESULT|ERROR)' 120); then
        echo "guest g1: $res"
        [ "$res" = "NVH-RESULT role=ping sent=5 received=5" ] || ok=0
    else
        echo "guest g1 reported nothing"
        ok=0
    fi
    sed -n '/PING/,/round-trip/p' "$NVH_WORK/g1.console" | tr -d '\r'
    ofctl dump-flows br0
    nvh_guest_stop g1
    nvh_guest_stop g2
fi

section "cleaning up"
if [ $ok = 1 ]; then
    echo "demo: all frames arrived"
    # shellcheck disable=SC2034  # read by the clean-up in lib.sh
    NVH_DONE=pass
    exit 0
fi
nvh_fail "some frames were lost (see above)"
