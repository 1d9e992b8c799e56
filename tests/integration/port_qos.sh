#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# port_qos: ingress policing and egress QoS on vhost-user client ports, as
# OVS applies them to its own vhost ports.  Two ports on a netdev bridge,
# each connected to a virtio_user port of one testpmd; OpenFlow forwards
# port 1 <-> 2.  In every round both testpmd ports send N frames at once,
# far faster than the configured rates: testpmd port 0's frames go
# vhu0 -> vhu1 -> testpmd port 1 (the direction under test), port 1's go
# vhu1 -> vhu0 -> port 0 (never policed: all of them must arrive).
#
#   1. ingress_policing_rate/burst on vhu0: some frames are dropped, counted
#      in vhu0's ovs_rx_qos_drops and rx_dropped; forwarded + dropped is
#      exactly what vhu0 received; the forwarded bytes (as the meter counts
#      them, without Ethernet header) stay within burst + rate x the
#      measured time of the round.
#   2. policing removed (rate 0): everything passes, no new drops.
#   3. QoS egress-policer on vhu1 (cir/cbs): the same with vhu1's
#      ovs_tx_qos_drops and tx_dropped; qos/show shows the configuration.
#   4. trtcm-policer on vhu1 with a default queue: the same; the queue's
#      statistics (qos/show) count the frames it passed and dropped.
#   5. QoS cleared: everything passes, no new drops.
#   6. Sustained load: testpmd (a second instance per port, so that vhu1's
#      side only receives) transmits without pause into vhu0 for
#      NVH_LOAD_SECS (3) with ingress_policing_rate=10000, burst 1000: exact
#      accounting again, the same bound on the forwarded bytes, and the
#      rate that got through is printed (measured, not asserted).
source "$(dirname "$0")/lib.sh"

BURSTS=${NVH_BURSTS:-16}        # bursts of 32 frames per port and round
SIZE=1518
N=$((BURSTS * 32))
LEN=$((SIZE - 14))              # what the meters count of one frame
RATE_KBPS=1000                  # ingress_policing_rate
BURST_KB=100                    # ingress_policing_burst
CIR=125000                      # egress: bytes/s
CBS=15000                       # egress: bytes

nvh_setup_testpmd_test

nvh_ovs_start
nvh_two_port_testpmd tp

types=$(appctl qos/show-types vhu1)
for t in egress-policer trtcm-policer; do
    nvh_check_match "qos/show-types vhu1 lists $t" "QoS type: $t" "$types"
done

now_ns() { date +%s%N; }

# Counters one round is checked against, read when the previous round's
# counters have settled.
declare -A BASE=()
base_read() {
    local k
    for k in vhu0:rx_packets vhu1:tx_packets vhu0:rx_dropped vhu1:tx_dropped \
             vhu0:ovs_rx_qos_drops vhu1:ovs_tx_qos_drops; do
        BASE[$k]=$(nvh_iface_stat "${k%%:*}" "${k#*:}")
    done
}

# counters_are PORT:KEY=VALUE...: all of them, as OVS shows them now.
counters_are() {
    local kv k
    for kv in "$@"; do
        k=${kv%%=*}
        [ "$(nvh_iface_stat "${k%%:*}" "${k#*:}")" = "${kv#*=}" ] || return 1
    done
}

# round LABEL DROP-PORT:DROP-COUNTER DROPPED-KEY [CIR-BYTES CBS-BYTES]: one
# round of traffic; DROP-COUNTER and DROPPED-KEY (rx_dropped or tx_dropped)
# of DROP-PORT must grow by what was sent and not forwarded.  With CIR and
# CBS (bytes/s, bytes), something must have been dropped and the forwarded
# bytes must respect the meter; without them nothing may be dropped.
round() {
    local label=$1 counter=$2 dropped_key=$3 cir=${4:-} cbs=${5:-}
    local port=${counter%%:*} t0 elapsed fwd_early stats
    local rx0 tx0 rx1 tx1 sent fwd drops

    base_read
    nvh_info "$label: each testpmd port sends $N frames of $SIZE bytes"
    t0=$(now_ns)
    nvh_tp_send tp "$BURSTS" "$SIZE"
    # The unpoliced direction: once it is through, so is the other.
    nvh_tp_wait_rx tp 0 "$N" >/dev/null
    fwd_early=$(nvh_tp_port_stat tp 1 rx_packets)
    elapsed=$(($(now_ns) - t0))
    stats=$(nvh_tp_stats tp)
    nvh_tp_run tp stop
    echo "$stats" | sed 's/^/    testpmd port rx_pkts rx_bytes tx_pkts tx_bytes: /'
    read -r _ rx0 _ tx0 _ <<<"$(echo "$stats" | awk '$1 == 0')"
    read -r _ rx1 _ tx1 _ <<<"$(echo "$stats" | awk '$1 == 1')"
    nvh_check_eq "$label: unpoliced direction, testpmd port 0 RX-packets" \
        "$tx1" "$rx0"
    sent=$tx0
    fwd=$rx1
    drops=$((sent - fwd))
    nvh_info "$label: sent $sent, forwarded $fwd, so $drops not forwarded"
    ROUND_SENT=$sent
    ROUND_FWD=$fwd

    # OVS's statistics column lags by up to 5 s.
    local want=("vhu0:rx_packets=$((BASE[vhu0:rx_packets] + sent))"
                "vhu1:tx_packets=$((BASE[vhu1:tx_packets] + fwd))"
                "$counter=$((BASE[$counter] + drops))"
                "$port:$dropped_key=$((BASE[$port:$dropped_key] + drops))")
    nvh_wait_for 20 "$label counters" counters_are "${want[@]}" >/dev/null
    local kv k
    for kv in "${want[@]}"; do
        k=${kv%%=*}
        nvh_check_eq "$label: OVS Interface ${k%%:*} statistics:${k#*:}" \
            "${kv#*=}" "$(nvh_iface_stat "${k%%:*}" "${k#*:}")"
    done

    if [ -n "$cir" ]; then
        local bytes=$((fwd_early * LEN))
        local bound=$((cbs + cir * elapsed / 1000000000 + LEN))
        nvh_check_eq "$label: frames dropped by QoS > 0" yes \
            "$([ "$drops" -gt 0 ] && echo yes || echo "no ($drops)")"
        nvh_info "$label: $fwd_early frames ($bytes metered bytes) forwarded" \
            "within $((elapsed / 1000000)) ms; burst $cbs B + rate $cir B/s" \
            "x time (+ one frame) = $bound B"
        nvh_check_eq "$label: forwarded bytes <= burst + rate x elapsed" yes \
            "$([ "$bytes" -le "$bound" ] && echo yes || echo "no ($bytes > $bound)")"
    else
        nvh_check_eq "$label: all frames forwarded" "$sent" "$fwd"
        nvh_check_eq "$label: testpmd port 0 sent every frame" "$N" "$sent"
    fi
}

# 1. Ingress policing on vhu0.
vsctl set Interface vhu0 ingress_policing_rate=$RATE_KBPS \
    ingress_policing_burst=$BURST_KB || nvh_fail "cannot set policing"
round ingress-policing vhu0:ovs_rx_qos_drops rx_dropped \
    $((RATE_KBPS * 1000 / 8)) $((BURST_KB * 1000 / 8))

# 2. No policing.
vsctl set Interface vhu0 ingress_policing_rate=0 ingress_policing_burst=0 ||
    nvh_fail "cannot remove policing"
round no-policing vhu0:ovs_rx_qos_drops rx_dropped

# 3. egress-policer on vhu1.
vsctl -- set Port vhu1 qos=@q -- --id=@q create QoS type=egress-policer \
    other-config:cir=$CIR other-config:cbs=$CBS >/dev/null ||
    nvh_fail "cannot create the egress-policer"
show=$(appctl qos/show vhu1)
echo "$show" | sed 's/^/    /'
nvh_check_match "qos/show vhu1 type" "QoS: vhu1 egress-policer" "$show"
nvh_check_eq "qos/show vhu1 cir" "cir: $CIR" "$(echo "$show" | grep -x "cir: .*")"
nvh_check_eq "qos/show vhu1 cbs" "cbs: $CBS" "$(echo "$show" | grep -x "cbs: .*")"
round egress-policer vhu1:ovs_tx_qos_drops tx_dropped "$CIR" "$CBS"

# 4. trtcm-policer on vhu1: the port and its default queue 0 both at
# CIR/CBS, no excess rate; green or yellow at both passes.
vsctl -- set Port vhu1 qos=@q -- --id=@q create QoS type=trtcm-policer \
    other-config:cir=$CIR other-config:cbs=$CBS \
    other-config:eir=0 other-config:ebs=0 queues:0=@q0 \
    -- --id=@q0 create Queue other-config:cir=$CIR other-config:cbs=$CBS \
    other-config:eir=0 other-config:ebs=0 >/dev/null ||
    nvh_fail "cannot create the trtcm-policer"
show=$(appctl qos/show vhu1)
echo "$show" | sed 's/^/    /'
nvh_check_match "qos/show vhu1 type" "QoS: vhu1 trtcm-policer" "$show"
nvh_check_match "qos/show vhu1 lists the default queue" "Default:" "$show"
round trtcm-policer vhu1:ovs_tx_qos_drops tx_dropped "$CIR" "$CBS"
# The default queue metered every frame of the round: what it passed plus
# what it dropped is what was sent.  Its meter and the port's are alike but
# were configured at different instants, so their token refills are out of
# phase by up to one refill period: the queue can pass (green) a frame that
# the port's colour-aware meter then drops, never the reverse.  Such a frame
# costs the queue tokens the port keeps, so it cannot happen twice in a
# row: the queue passed what was forwarded, or one frame more.
show=$(appctl qos/show vhu1)
echo "$show" | sed 's/^/    /'
qstat() { echo "$show" | sed -n '/^Default:/,$p' | awk -v k="$1:" '$1 == k { print $2 }'; }
q_pass=$(qstat tx_packets)
q_drop=$(qstat tx_errors)
nvh_check_eq "trtcm-policer: default queue tx_packets + tx_errors" \
    "$ROUND_SENT" "$((q_pass + q_drop))"
nvh_check_eq "trtcm-policer: default queue passed what was forwarded (or one more)" \
    yes "$( ((q_pass == ROUND_FWD || q_pass == ROUND_FWD + 1)) && echo yes || echo "no ($q_pass)")"
nvh_check_eq "trtcm-policer: default queue tx_bytes = tx_packets x $LEN" \
    "$((q_pass * LEN))" "$(qstat tx_bytes)"

# 5. No QoS.
vsctl clear Port vhu1 qos || nvh_fail "cannot clear the QoS"
nvh_check_eq "qos/show vhu1 without QoS" "QoS not configured on vhu1" \
    "$(appctl qos/show vhu1)"
round no-qos vhu1:ovs_tx_qos_drops tx_dropped

# 6. Sustained load through the ingress policer.
RATE2_KBPS=10000
BURST2_KB=1000
cir2=$((RATE2_KBPS * 1000 / 8))
cbs2=$((BURST2_KB * 1000 / 8))
nvh_tp_stop tp
nvh_tp_start_wait tpa "$(nvh_sock vhu0)"
nvh_tp_start_wait tpb "$(nvh_sock vhu1)"
vsctl set Interface vhu0 ingress_policing_rate=$RATE2_KBPS \
    ingress_policing_burst=$BURST2_KB || nvh_fail "cannot set policing"
base_read
nvh_tp_run tpb stop "clear port stats all" "set fwd rxonly" start
nvh_tp_run tpa stop "clear port stats all" "set fwd txonly" "set burst 32" \
    "set txpkts $SIZE"
t0=$(now_ns)
nvh_tp_run tpa start
sleep "${NVH_LOAD_SECS:-3}"
nvh_tp_run tpa stop
traffic_ms=$((($(now_ns) - t0) / 1000000))
sent=$(nvh_tp_port_stat tpa 0 tx_packets)
[[ $sent =~ ^[0-9]+$ ]] && [ "$sent" -gt 0 ] ||
    nvh_fail "load: testpmd sent nothing ($sent)"
# Once OVS has taken every frame, forwarded (received by testpmd B) +
# policed adds up.  (dpdkvhostuserclient resets rx_packets/tx_packets when
# a frontend connects, so those are not compared with values from before.)
fwd_drops() {
    echo $(($(nvh_tp_port_stat tpb 0 rx_packets)
            + $(nvh_iface_stat vhu0 ovs_rx_qos_drops)
            - BASE[vhu0:ovs_rx_qos_drops]))
}
fwd_drops_is() { [ "$(fwd_drops)" = "$1" ]; }
nvh_wait_for 20 "load counters" fwd_drops_is "$sent" >/dev/null
fwd=$(nvh_tp_port_stat tpb 0 rx_packets)
elapsed=$(($(now_ns) - t0))
nvh_tp_run tpb stop
drops=$(($(nvh_iface_stat vhu0 ovs_rx_qos_drops) - BASE[vhu0:ovs_rx_qos_drops]))
nvh_info "load: sent $sent, forwarded $fwd, policed $drops"
nvh_check_eq "load: forwarded + policed = sent" "$sent" "$((fwd + drops))"
nvh_check_eq "load: vhu0 rx_dropped" "$((BASE[vhu0:rx_dropped] + drops))" \
    "$(nvh_iface_stat vhu0 rx_dropped)"
nvh_check_eq "load: frames dropped by QoS > 0" yes \
    "$([ "$drops" -gt 0 ] && echo yes || echo "no ($drops)")"
bytes=$((fwd * LEN))
bound=$((cbs2 + cir2 * elapsed / 1000000000 + LEN))
nvh_info "load: $bytes metered bytes forwarded within $((elapsed / 1000000)) ms" \
    "(bound $bound B); over the $traffic_ms ms of traffic that is" \
    "$((bytes * 8 / traffic_ms)) kbit/s, $(((bytes - cbs2) * 8 / traffic_ms))" \
    "kbit/s without the burst, for a rate of $RATE2_KBPS kbit/s"
nvh_check_eq "load: forwarded bytes <= burst + rate x elapsed" yes \
    "$([ "$bytes" -le "$bound" ] && echo yes || echo "no ($bytes > $bound)")"

# The same drops per queue (one queue pair): vhu0's policing in rx_q0_dropped,
# vhu1's egress QoS in tx_q0_dropped.
if [ "$NVH_PORT_TYPE" = vhostuserclient ]; then
    nvh_check_iface_stat vhu0 rx_q0_dropped "$(nvh_iface_stat vhu0 ovs_rx_qos_drops)"
    nvh_check_iface_stat vhu1 tx_q0_dropped "$(nvh_iface_stat vhu1 tx_dropped)"
    nvh_check_eq "vhu1 tx_q0_dropped > 0" yes \
        "$([ "$(nvh_iface_stat vhu1 tx_q0_dropped)" -gt 0 ] && echo yes || echo no)"
fi

nvh_finish
