#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# testpmd_txq_mapping: more PMD threads than guest queues.
#
# OVS runs two PMD threads (pmd-cpu-mask=0x3) plus its main thread, so
# dpif-netdev wants 3 txqs per port.  Port vhu0 (ofport 1) is served by a
# testpmd virtio_user port with 2 queue pairs, port vhu1 (ofport 2) by a
# second testpmd with 1 queue pair.  Both ports report as many txqs as their
# guest has queue pairs (configured_tx_queues in dpif/show, as netdev-dpdk's
# vhost ports do), fewer than 3: dpif-netdev uses dynamic txqs (XPS) and
# calls send with concurrent_txq set, and the port must lock the guest queue.
#
# vhu0's two rxqs are pinned to different PMD threads (pmd-rxq-affinity
# 0:0,1:1), vhu1's rxq to core 1.  OpenFlow forwards 1 <-> 2.
#
# Checks, for vhu0 -> vhu1, after one uncounted warm-up burst per queue
# (flow setup): testpmd sends a fixed number of frames on each
# of vhu0's two queues; both PMD threads receive exactly their queue's share
# (pmd-stats-show) and so both transmit into vhu1, whose guest has one
# queue; the testpmd behind vhu1 receives exactly what was sent, in several
# rounds and two frame sizes; vhu1's tx_packets (and, for vhostuserclient,
# tx_q0_good_packets) add up exactly and nothing is dropped (tx_dropped,
# ovs_tx_failure_drops).  Then a few seconds of continuous traffic on both
# queues (more than the receiver takes, so both PMD threads contend for
# vhu1's queue): every frame is accounted for, sent = vhu0 rx_packets =
# vhu1 tx_packets + tx_dropped, vhu1 tx_packets = received.  Last the
# reverse direction, vhu1 -> vhu0 (one PMD thread transmitting into a
# 2-queue port through XPS).
source "$(dirname "$0")/lib.sh"

BURSTS=${NVH_BURSTS:-8}         # per queue and round; 2 x 8 x 32 = 512 frames
SIZES=${NVH_SIZES:-"64 64 64 1518"}
NVH_PMD_MASK=0x3

nvh_setup_testpmd_test

nvh_ovs_start
nvh_two_port_bridge
s0=$(nvh_sock vhu0)
s1=$(nvh_sock vhu1)
# Every rxq pinned: the pinned PMD threads are isolated, so an unpinned rxq
# would not be polled at all.
vsctl set Interface vhu0 other_config:pmd-rxq-affinity="0:0,1:1" ||
    nvh_fail "cannot pin vhu0's rxqs"
vsctl set Interface vhu1 other_config:pmd-rxq-affinity="0:1" ||
    nvh_fail "cannot pin vhu1's rxq"

# Two testpmd processes: testpmd configures the same number of queues on all
# its ports.  The virtio_user ports get different MAC addresses.
NVH_TP_QUEUES=2 nvh_tp_start_wait tpa "$s0,mac=02:00:00:00:00:0a" -- --rxq=2 --txq=2
NVH_TP_QUEUES=1 nvh_tp_start_wait tpb "$s1,mac=02:00:00:00:00:0b"

# rxq_cores PORT: "QUEUE:CORE" per rxq of PORT in pmd-rxq-show.
rxq_cores() {
    appctl dpif-netdev/pmd-rxq-show | awk -v p="$1" '
        /^[^ ]/ { core = "" }   # "pmd thread ...", "main thread:"
        /^pmd thread/ { core = $NF; sub(":", "", core) }
        $1 == "port:" && $2 == p { print $4 ":" core }' | sort | tr '\n' ' ' |
        sed 's/ $//'
}
rxqs_are() { [ "$(rxq_cores "$1")" = "$2" ]; }

nvh_wait_for 30 "vhu0's rxqs on cores 0 and 1" rxqs_are vhu0 "0:0 1:1" ||
    nvh_log "vhu0 rxqs: $(rxq_cores vhu0)"
nvh_wait_for 30 "vhu1's rxq on core 1" rxqs_are vhu1 "0:1" ||
    nvh_log "vhu1 rxqs: $(rxq_cores vhu1)"
appctl dpif-netdev/pmd-rxq-show | sed 's/^/    /'
nvh_check_eq "vhu0 rxq:core" "0:0 1:1" "$(rxq_cores vhu0)"
nvh_check_eq "vhu1 rxq:core" "0:1" "$(rxq_cores vhu1)"

# config PORT KEY: a key of the port's configuration as dpif/show prints it.
config() {
    appctl dpif/show | grep -E "^[[:space:]]+$1 " |
        grep -oE "$2=[0-9]+" | cut -d= -f2
}
nvh_check_eq "vhu0 configured_tx_queues" 2 "$(config vhu0 configured_tx_queues)"
nvh_check_eq "vhu1 configured_tx_queues" 1 "$(config vhu1 configured_tx_queues)"
nvh_check_eq "vhu1 configured_rx_queues" 1 "$(config vhu1 configured_rx_queues)"
if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
    nvh_check_eq "vhu1 status:queue_pairs" 1 "$(nvh_iface_status vhu1 queue_pairs)"
fi

# pmd_received CORE: "packets received" of the PMD thread on CORE.
pmd_received() {
    appctl dpif-netdev/pmd-stats-show | awk -v c="$1" '
        /^[^ ]/ { core = "" }   # "pmd thread ...", "main thread:"
        /^pmd thread/ { core = $NF; sub(":", "", core) }
        core == c && $1 == "packets" && $2 == "received:" { print $3; f = 1 }
        END { if (!f) print "?" }'
}

# delta AFTER BEFORE: AFTER - BEFORE, "?" unless both are numbers.
delta() {
    if [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]]; then
        echo $(($1 - $2))
    else
        echo "? ($1 - $2)"
    fi
}

# tp_xstat NAME PORT KEY: one extended statistic of a testpmd port.
tp_xstat() {
    local name=$1 off
    off=$(stat -c %s "${NVH_TP_LOG[$name]}")
    nvh_tp_run "$name" "show port xstats $2"
    tail -c +"$((off + 1))" "${NVH_TP_LOG[$name]}" |
        awk -v k="$3:" '$1 == k { print $2; f = 1; exit } END { if (!f) print "?" }'
}

# tp_listen NAME: clears NAME's counters and makes it receive only.
tp_listen() {
    nvh_tp_run "$1" stop "clear port stats all" "clear port xstats all" \
        "set fwd rxonly" start
}

# tp_tx NAME: frames testpmd NAME's port 0 has sent since its last clear.
tp_tx() { nvh_tp_port_stat "$1" 0 tx_packets; }

# lost_frames_report LABEL: where frames that did not arrive may have gone:
# the PMD threads' own counters (upcalls, lost), the datapath's and the
# port's drop counters.
lost_frames_report() {
    nvh_log "$1: frames missing; PMD statistics and drop counters:"
    appctl dpif-netdev/pmd-stats-show | sed 's/^/    /'
    appctl coverage/show | grep -Ei "drop|upcall|lost|contention|invalid" |
        sed 's/^/    /'
    vsctl get Interface vhu1 statistics | sed 's/^/    /'
}

# ---- vhu0 -> vhu1: both PMD threads transmit into one guest queue ------
# Warm-up: one burst per queue, so that each PMD thread has set up its
# datapath flow (the first frames of a flow take the upcall path) before the
# counted rounds.  Not checked, but logged with the counters if frames are
# missing; frames that reach the port are counted in the totals below.
tp_listen tpb
nvh_tp_send tpa 1 64
sleep 1
warm_sent=$(tp_tx tpa)
warm_got=$(nvh_tp_wait_rx tpb 0 "$warm_sent" 10)
nvh_tp_run tpa stop
nvh_tp_run tpb stop
nvh_info "warm-up: testpmd A sent $warm_sent, testpmd B received $warm_got"
nvh_assert_eq "warm-up: testpmd A TX-packets" 64 "$warm_sent"
[[ $warm_got =~ ^[0-9]+$ ]] || nvh_fail "warm-up: testpmd B RX-packets unknown"
[ "$warm_got" = "$warm_sent" ] || lost_frames_report "warm-up"

# What vhu0 received and vhu1 delivered, over the warm-up and the rounds.
total=$warm_sent
total_out=$warm_got
round=0
for size in $SIZES; do
    round=$((round + 1))
    label="round $round ($size B)"
    tp_listen tpb
    rx0_before=$(pmd_received 0)
    rx1_before=$(pmd_received 1)
    nvh_tp_send tpa "$BURSTS" "$size"
    sleep 1
    sent=$(tp_tx tpa)
    got=$(nvh_tp_wait_rx tpb 0 "$sent")
    sent_q0=$(tp_xstat tpa 0 tx_q0_good_packets)
    sent_q1=$(tp_xstat tpa 0 tx_q1_good_packets)
    nvh_tp_run tpa stop
    nvh_tp_run tpb stop
    nvh_info "$label: testpmd A sent $sent (queue 0: $sent_q0, queue 1: $sent_q1), testpmd B received $got"
    nvh_check_eq "$label: testpmd A TX-packets" $((2 * BURSTS * 32)) "$sent"
    nvh_check_eq "$label: testpmd A queue 0 TX" $((BURSTS * 32)) "$sent_q0"
    nvh_check_eq "$label: testpmd A queue 1 TX" $((BURSTS * 32)) "$sent_q1"
    nvh_check_eq "$label: testpmd B RX-packets" "$sent" "$got"
    [ "$got" = "$sent" ] || lost_frames_report "$label"
    nvh_check_eq "$label: testpmd B RX-bytes" $((sent * size)) \
        "$(nvh_tp_port_stat tpb 0 rx_bytes)"
    # Each queue's frames went through its own PMD thread.
    nvh_check_eq "$label: PMD core 0 received" $((BURSTS * 32)) \
        "$(delta "$(pmd_received 0)" "$rx0_before")"
    nvh_check_eq "$label: PMD core 1 received" $((BURSTS * 32)) \
        "$(delta "$(pmd_received 1)" "$rx1_before")"
    total=$((total + sent))
    total_out=$((total_out + got))
done

appctl dpif-netdev/pmd-stats-show | grep -E "^pmd|packets received" | sed 's/^/    /'
nvh_check_iface_stat vhu0 rx_packets "$total"
nvh_check_iface_stat vhu1 tx_packets "$total_out"
nvh_check_iface_stat vhu1 tx_dropped 0
nvh_check_iface_stat vhu1 ovs_tx_failure_drops 0
if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
    # Everything through the guest's one receiveq (vring 0).
    nvh_check_iface_stat vhu1 tx_q0_good_packets "$total_out"
    nvh_check_eq "vhu1 receiveq0 vring packets" "$total_out" "$(nvh_vring_packets vhu1 0)"
fi

# ---- vhu0 -> vhu1 under load -----------------------------------------
# The fixed rounds above are short: the PMD thread that shares its core
# with the testpmd lcores mostly runs after the other one is done.  Here
# testpmd A transmits without pause on both queues for a while, so both
# PMD threads have frames to send into vhu1's one queue for many scheduler
# time slices.  More than the receiver can take, so vhu1 may drop frames
# for lack of guest buffers; every frame must still be accounted for:
# what testpmd A sent = vhu0 rx_packets = vhu1 tx_packets + tx_dropped,
# and vhu1 tx_packets = what testpmd B received.
contention() {
    appctl coverage/read-counter vhost_client_tx_contention 2>/dev/null || echo "?"
}
[ "$NVH_PORT_TYPE" = vhostuserclient ] &&
    nvh_info "vhu1 tx lock contention so far: $(contention)"
vhu0_rx=$(nvh_iface_stat vhu0 rx_packets)
vhu1_tx=$(nvh_iface_stat vhu1 tx_packets)
vhu1_drop=$(nvh_iface_stat vhu1 tx_dropped)
rx0_before=$(pmd_received 0)
rx1_before=$(pmd_received 1)
tp_listen tpb
nvh_tp_run tpa stop "clear port stats all" "set fwd txonly" "set burst 32" \
    "set txpkts 64" start
sleep "${NVH_LOAD_SECS:-3}"
nvh_tp_run tpa stop
sent=$(tp_tx tpa)
[[ $sent =~ ^[0-9]+$ ]] && [ "$sent" -gt 0 ] ||
    nvh_fail "load: testpmd A sent nothing ($sent)"
nvh_check_iface_stat vhu0 rx_packets $((vhu0_rx + sent))
# vhu1's counters settle once every frame has gone through.
tx_plus_drops() {
    local tx drop
    tx=$(nvh_iface_stat vhu1 tx_packets)
    drop=$(nvh_iface_stat vhu1 tx_dropped)
    echo $((tx - vhu1_tx + drop - vhu1_drop))
}
tx_plus_drops_is() { [ "$(tx_plus_drops)" = "$1" ]; }
nvh_wait_for 15 "vhu1 tx_packets + tx_dropped to add up" tx_plus_drops_is "$sent"
nvh_check_eq "load: vhu1 tx_packets + tx_dropped = testpmd A TX" "$sent" "$(tx_plus_drops)"
delivered=$(($(nvh_iface_stat vhu1 tx_packets) - vhu1_tx))
dropped=$(($(nvh_iface_stat vhu1 tx_dropped) - vhu1_drop))
got=$(nvh_tp_wait_rx tpb 0 "$delivered")
nvh_tp_run tpb stop
pmd0=$(delta "$(pmd_received 0)" "$rx0_before")
pmd1=$(delta "$(pmd_received 1)" "$rx1_before")
nvh_info "load: testpmd A sent $sent (PMD core 0: $pmd0, core 1: $pmd1), vhu1 delivered $delivered, dropped $dropped; testpmd B received $got"
nvh_check_eq "load: testpmd B RX-packets = vhu1 tx_packets" "$delivered" "$got"
nvh_check_eq "load: frames received by PMD cores 0 + 1" "$sent" $((pmd0 + pmd1))
nvh_check_eq "load: PMD core 0 forwarded frames" yes "$([ "$pmd0" -gt 0 ] && echo yes || echo "no ($pmd0)")"
nvh_check_eq "load: PMD core 1 forwarded frames" yes "$([ "$pmd1" -gt 0 ] && echo yes || echo "no ($pmd1)")"
nvh_check_iface_stat vhu1 ovs_tx_failure_drops "$dropped"
if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
    nvh_check_iface_stat vhu1 tx_q0_good_packets $((vhu1_tx + delivered))
    nvh_check_eq "vhu1 receiveq0 vring packets" $((vhu1_tx + delivered)) \
        "$(nvh_vring_packets vhu1 0)"
    # How often the two PMD threads met at vhu1's queue lock (timing
    # dependent, not checked).
    nvh_info "vhu1 tx lock contention: $(contention)"
fi

# ---- vhu1 -> vhu0: one PMD thread, XPS onto a 2-queue guest ----------
tp_listen tpa
nvh_tp_send tpb "$BURSTS" 64
sleep 1
sent=$(tp_tx tpb)
got=$(nvh_tp_wait_rx tpa 0 "$sent")
nvh_tp_run tpa stop
nvh_tp_run tpb stop
nvh_info "reverse: testpmd B sent $sent, testpmd A received $got"
nvh_check_eq "reverse: testpmd B TX-packets" $((BURSTS * 32)) "$sent"
nvh_check_eq "reverse: testpmd A RX-packets" "$sent" "$got"
nvh_check_iface_stat vhu1 rx_packets "$sent"
nvh_check_iface_stat vhu0 tx_packets "$sent"
nvh_check_iface_stat vhu0 tx_dropped 0
nvh_check_iface_stat vhu0 ovs_tx_failure_drops 0

nvh_finish
