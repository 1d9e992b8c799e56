#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# testpmd_multiqueue: two vhost-user client ports on a netdev bridge, each
# connected to a virtio_user port of one testpmd with 4 queue pairs
# (queues=4, --rxq=4 --txq=4).  OpenFlow forwards port 1 <-> 2.
#
# Checks: each port reports 4 queue pairs and has 4 rxqs in
# dpif-netdev/pmd-rxq-show, as status:n_rxq and n_txq say (where the port
# shows them); testpmd sends on all 4 queues of each port and
# every transmitq vring of both ports counts frames, as do the per-queue
# statistics rx_q<N>_good_packets and tx_q<N>_good_packets; what each testpmd port
# sent arrives at the other one, and OVS's statistics agree.  Then testpmd
# reconfigures its ports to 2 queue pairs (the other 2 are disabled through
# its control queue): the ports' rxqs follow and traffic still flows.
source "$(dirname "$0")/lib.sh"

BURSTS=${NVH_BURSTS:-4}
QUEUES=4

nvh_setup_testpmd_test

nvh_ovs_start
NVH_TP_QUEUES=$QUEUES nvh_two_port_testpmd tp -- --rxq=$QUEUES --txq=$QUEUES

# n_queues: rxqs of PORT listed by pmd-rxq-show.
n_rxqs() {
    appctl dpif-netdev/pmd-rxq-show | grep -cE "port: $1 +queue-id: +[0-9]+"
}
rxqs_are() { [ "$(n_rxqs "$1")" = "$2" ]; }

for port in vhu0 vhu1; do
    if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
        nvh_wait_status $port queue_pairs $QUEUES ||
            nvh_fail "$port: status:queue_pairs is not $QUEUES"
    fi
    nvh_wait_for 30 "$port to have $QUEUES rxqs" rxqs_are $port $QUEUES ||
        nvh_fail "$port: $(n_rxqs $port) rxqs instead of $QUEUES"
done
appctl dpif-netdev/pmd-rxq-show | sed 's/^/    /'
nvh_check_eq "vhu0 rxqs" $QUEUES "$(n_rxqs vhu0)"
nvh_check_eq "vhu1 rxqs" $QUEUES "$(n_rxqs vhu1)"

# check_n_queues PORT N: status:n_rxq and n_txq are N (required of
# vhostuserclient; dpdkvhostuserclient shows them from OVS 3.2 on).
check_n_queues() {
    local key v
    for key in n_rxq n_txq; do
        # The status column follows within a few seconds.
        [ "$NVH_PORT_TYPE" = vhostuserclient ] &&
            nvh_wait_status "$1" $key "$2" 15 >/dev/null
        v=$(nvh_iface_status "$1" $key 2>/dev/null) || v=""
        v=${v:-(absent)}
        if [ "$NVH_PORT_TYPE" = vhostuserclient ] || [ "$v" != "(absent)" ]; then
            nvh_check_eq "$1 status:$key" "$2" "$v"
        fi
    done
}
check_n_queues vhu0 $QUEUES
check_n_queues vhu1 $QUEUES

# send_and_check LABEL: one round of traffic from both testpmd ports;
# each side receives exactly what the other sent.
total=0
send_and_check() {
    local label=$1 stats tx0 tx1 rx0 rx1
    nvh_tp_send tp "$BURSTS" 64
    # "start tx_first" sends BURSTS bursts on every forwarding stream.
    sleep 1
    stats=$(nvh_tp_stats tp)
    read -r _ _ _ tx0 _ <<<"$(echo "$stats" | awk '$1 == 0')"
    read -r _ _ _ tx1 _ <<<"$(echo "$stats" | awk '$1 == 1')"
    if [ "${tx0:-0}" -eq 0 ] || [ "${tx1:-0}" -eq 0 ]; then
        nvh_fail "$label: testpmd sent nothing ($stats)"
    fi
    rx1=$(nvh_tp_wait_rx tp 1 "$tx0")
    rx0=$(nvh_tp_wait_rx tp 0 "$tx1")
    nvh_tp_run tp stop
    nvh_info "$label: port 0 sent $tx0, port 1 received $rx1; port 1 sent $tx1, port 0 received $rx0"
    nvh_check_eq "$label: testpmd port 1 RX = port 0 TX" "$tx0" "$rx1"
    nvh_check_eq "$label: testpmd port 0 RX = port 1 TX" "$tx1" "$rx0"
    total=$((total + tx0))
    nvh_check_iface_stat vhu0 rx_packets "$total"
    nvh_check_iface_stat vhu1 tx_packets "$total"
}

send_and_check "$QUEUES queue pairs"

if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
    appctl vhostuserclient/show vhu0 | sed 's/^/    /'
    for port in vhu0 vhu1; do
        moved=0
        for q in $(seq 0 $((QUEUES - 1))); do
            n=$(nvh_vring_packets $port $((2 * q + 1)))
            nvh_info "$port transmitq$q (vring $((2 * q + 1))): $n packets"
            [ "$n" -gt 0 ] && moved=$((moved + 1))
            # The same counters as per-queue custom statistics.
            nvh_check_iface_stat $port "rx_q${q}_good_packets" "$n"
            nvh_check_iface_stat $port "tx_q${q}_good_packets" \
                "$(nvh_vring_packets $port $((2 * q)))"
        done
        nvh_check_eq "$port transmitq vrings that carried frames" $QUEUES $moved
        sum=0
        for q in $(seq 0 $((QUEUES - 1))); do
            sum=$((sum + $(nvh_vring_packets $port $((2 * q)))))
        done
        nvh_check_eq "$port receiveq vrings add up to tx_packets" \
            "$(nvh_iface_stat $port tx_packets)" "$sum"
    done
fi

# Fewer queue pairs: virtio_user disables pairs 2 and 3 (its control queue
# sends SET_VRING_ENABLE 0 for them).
nvh_info "testpmd: 2 queue pairs per port"
nvh_tp_run tp "port stop all" "port config all rxq 2" "port config all txq 2" \
    "port start all"
for port in vhu0 vhu1; do
    nvh_wait_for 30 "$port to have 2 rxqs" rxqs_are $port 2 ||
        nvh_fail "$port: $(n_rxqs $port) rxqs instead of 2"
done
appctl dpif-netdev/pmd-rxq-show | sed 's/^/    /'
nvh_check_eq "vhu0 rxqs after reconfiguration" 2 "$(n_rxqs vhu0)"
check_n_queues vhu0 2
nvh_wait_port_ready vhu0 || nvh_fail "vhu0 not ready after reconfiguration"
nvh_wait_port_ready vhu1 || nvh_fail "vhu1 not ready after reconfiguration"
nvh_check_iface_stat vhu0 rx_packets "$total"
send_and_check "2 queue pairs"

nvh_finish
