#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# port_status_stats: what an operator sees of a running port.  Two ports,
# vhu0 (mtu_request=1600) and vhu1 (default MTU), each connected to its own
# testpmd (tpa, tpb; virtio_user in server mode, one queue pair); OpenFlow
# forwards 1 -> 2 and 2 -> 1.
#   - status keys by name (those dpdkvhostuserclient shows, and for
#     vhostuserclient its extras): backend, mtu = mtu_request with and
#     without a frontend, n_rxq/n_txq = the rxqs OVS polls (also checked
#     when the port shows them, as newer OVS does), no userspace-tso
#     without userspace TSO;
#   - statistics by name and value: broadcast, multicast and unicast frames
#     of three sizes from tpa land in the right classes and size bins, on
#     vhu0's rx side and vhu1's tx side, and in the per-queue counters;
#   - a receiver that stops draining (tpb stopped while tpa keeps sending)
#     makes vhu1's ovs_tx_failure_drops grow, the port stays up and traffic
#     flows again once tpb receives; for vhostuserclient the per-queue
#     tx_q0_dropped, _failure_drops, _retries and _guest_ring_full equal the
#     port's tx_dropped, ovs_tx_failure_drops, ovs_tx_retries and
#     tx_guest_ring_full (one queue pair), and frames sent while the
#     frontend is gone count in tx_dropped but in no queue's;
#   - link_state down and up (and, for vhostuserclient, link_resets + 2)
#     across a restart of tpb;
#   - vhostuserclient only: "ovs-appctl vhostuserclient/reconnect" drops
#     the connection, connects again (connects + 1) and traffic flows.
source "$(dirname "$0")/lib.sh"

BURSTS=2
N=$((BURSTS * 32))
OURS=false
[ "$NVH_PORT_TYPE" = vhostuserclient ] && OURS=true

nvh_setup_testpmd_test

nvh_ovs_start
nvh_two_port_bridge
VHU0_MTU=1600
vsctl set Interface vhu0 mtu_request=$VHU0_MTU
s0=$(nvh_sock vhu0)
s1=$(nvh_sock vhu1)
nvh_tp_start_wait tpa "$s0,mac=02:00:00:00:00:0a"
nvh_tp_start_wait tpb "$s1,mac=02:00:00:00:00:0b"

# ---- Status ------------------------------------------------------------
status=$(vsctl get Interface vhu0 status)
nvh_info "vhu0 status: $status"
nvh_check_eq "vhu0 status:mode" client "$(nvh_iface_status vhu0 mode)"
nvh_check_eq "vhu0 status:status" connected "$(nvh_iface_status vhu0 status)"
nvh_check_eq "vhu0 status:socket" "$s0" "$(nvh_iface_status vhu0 socket)"
nvh_check_match "vhu0 status:features" '^0x[0-9a-f]{16}$' "$(nvh_iface_status vhu0 features)"
nvh_check_eq "vhu0 status:num_of_vrings" 2 "$(nvh_iface_status vhu0 num_of_vrings)"
nvh_check_eq "vhu0 status:vring_0_size" 1024 "$(nvh_iface_status vhu0 vring_0_size)"
nvh_check_eq "vhu0 status:vring_1_size" 1024 "$(nvh_iface_status vhu0 vring_1_size)"
# Shown only when known (virtio_user sets no MTU; NUMA of its memory).
for key in mtu numa; do
    v=$(nvh_iface_status vhu0 $key 2>/dev/null) || v=""
    [ -n "$v" ] && nvh_check_match "vhu0 status:$key" '^[0-9]+$' "$v"
done
if $OURS; then
    nvh_check_eq "vhu0 status:state" ready "$(nvh_iface_status vhu0 state)"
    nvh_check_eq "vhu0 status:connects" 1 "$(nvh_iface_status vhu0 connects)"
    nvh_check_match "vhu0 status:connected_seconds" '^[0-9]+$' \
        "$(nvh_iface_status vhu0 connected_seconds)"
    nvh_check_match "vhu0 status:protocol_features" '^0x[0-9a-f]{16}$' \
        "$(nvh_iface_status vhu0 protocol_features)"
    nvh_check_eq "vhu0 status:ring_type" split "$(nvh_iface_status vhu0 ring_type)"
    nvh_check_eq "vhu0 status:queue_pairs" 1 "$(nvh_iface_status vhu0 queue_pairs)"
fi
nvh_check_eq "vhu0 link_state" up "$(nvh_iface_get vhu0 link_state)"

# status_of PORT KEY: the status value, or "(absent)".
status_of() {
    local v
    v=$(nvh_iface_status "$1" "$2" 2>/dev/null) || v=""
    echo "${v:-(absent)}"
}
# settle: OVS refreshes the statistics column every 5 s; after 6 s without
# traffic it shows the final counters.
settle() { sleep 6; }
# n_rxqs PORT: the rxqs of PORT that pmd-rxq-show lists.
n_rxqs() {
    appctl dpif-netdev/pmd-rxq-show | grep -cE "port: $1 +queue-id: +[0-9]+"
}
nvh_check_eq "vhu0 Interface mtu" $VHU0_MTU "$(nvh_iface_get vhu0 mtu)"
nvh_check_eq "vhu0 rxqs in pmd-rxq-show (queues=1)" 1 "$(n_rxqs vhu0)"
# n_rxq/n_txq: newer dpdkvhostuserclient ports show them too.
for key in n_rxq n_txq; do
    v=$(status_of vhu0 $key)
    if $OURS || [ "$v" != "(absent)" ]; then
        nvh_check_eq "vhu0 status:$key (rxqs OVS polls)" "$(n_rxqs vhu0)" "$v"
    fi
done
# Shown only when userspace TSO is on and the guest sends no TSO frames.
nvh_check_eq "vhu0 status:userspace-tso (userspace TSO off)" "(absent)" \
    "$(status_of vhu0 userspace-tso)"
if $OURS; then
    nvh_check_eq "vhu0 status:backend" netdev-vhost "$(status_of vhu0 backend)"
    nvh_check_eq "vhu0 status:mtu (mtu_request)" $VHU0_MTU "$(status_of vhu0 mtu)"
    nvh_check_eq "vhu1 status:mtu (default)" 1500 "$(status_of vhu1 mtu)"
    # virtio_user negotiates no VIRTIO_NET_F_MTU.
    nvh_check_eq "vhu0 status:frontend_mtu" "(absent)" \
        "$(status_of vhu0 frontend_mtu)"
else
    nvh_check_eq "vhu0 status:backend (built-in port)" "(absent)" \
        "$(status_of vhu0 backend)"
fi

# ---- Frame classes and size bins ---------------------------------------
# tp_listen NAME: clears NAME's counters and makes it receive only.
tp_listen() {
    nvh_tp_run "$1" stop "clear port stats all" "set fwd rxonly" start
}

tp_listen tpb
got=0
# Destination, frame size: the bins are 64, 256-511, 1024-1522.
for class in "ff:ff:ff:ff:ff:ff 64" "01:00:5e:00:00:01 300" "02:00:00:00:00:0b 1518"; do
    read -r mac size <<<"$class"
    # testpmd ignores "set eth-peer" while forwarding.
    nvh_tp_run tpa stop "set eth-peer 0 $mac"
    nvh_tp_send tpa "$BURSTS" "$size"
    got=$((got + N))
    nvh_check_eq "tpb received after $N frames to $mac ($size B)" "$got" \
        "$(nvh_tp_wait_rx tpb 0 "$got")"
done
nvh_tp_run tpa stop

T=$((3 * N))
nvh_check_iface_stat vhu0 rx_packets $T
nvh_check_iface_stat vhu1 tx_packets $T
for side in "vhu0 rx" "vhu1 tx"; do
    read -r port dir <<<"$side"
    nvh_check_iface_stat "$port" ${dir}_broadcast_packets $N
    nvh_check_iface_stat "$port" ${dir}_multicast_packets $N
    nvh_check_iface_stat "$port" ${dir}_1_to_64_packets $N
    nvh_check_iface_stat "$port" ${dir}_65_to_127_packets 0
    nvh_check_iface_stat "$port" ${dir}_256_to_511_packets $N
    nvh_check_iface_stat "$port" ${dir}_1024_to_1522_packets $N
    nvh_check_iface_stat "$port" ${dir}_1523_to_max_packets 0
    # Per queue, under DPDK's vhost statistics names.
    nvh_check_iface_stat "$port" ${dir}_q0_good_packets $T
    nvh_check_iface_stat "$port" ${dir}_q0_good_bytes $((N * (64 + 300 + 1518)))
    nvh_check_iface_stat "$port" ${dir}_q0_broadcast_packets $N
    nvh_check_iface_stat "$port" ${dir}_q0_multicast_packets $N
    nvh_check_iface_stat "$port" ${dir}_q0_size_64_packets $N
    nvh_check_iface_stat "$port" ${dir}_q0_size_256_511_packets $N
    nvh_check_iface_stat "$port" ${dir}_q0_size_1024_1518_packets $N
done

# Every counter dpdkvhostuserclient reports is there by name.
stats=$(vsctl get Interface vhu1 statistics)
keys="rx_packets rx_bytes tx_packets tx_bytes rx_dropped tx_dropped
      rx_multicast_packets tx_multicast_packets rx_broadcast_packets
      tx_broadcast_packets rx_1_to_64_packets tx_1_to_64_packets
      rx_1024_to_1522_packets tx_1523_to_max_packets
      ovs_tx_retries ovs_tx_failure_drops ovs_tx_mtu_exceeded_drops
      ovs_tx_qos_drops ovs_rx_qos_drops ovs_tx_invalid_hwol_drops
      rx_q0_good_packets rx_q0_undersize_packets rx_q0_guest_notifications
      tx_q0_good_packets tx_q0_size_1519_max_packets tx_q0_guest_notifications"
$OURS && keys="$keys rx_errors tx_errors rx_invalid_descriptors
      rx_undersized_frames rx_oversized_frames tx_invalid_descriptors
      tx_guest_buffer_too_small tx_guest_ring_full
      rx_q0_dropped tx_q0_dropped tx_q0_failure_drops tx_q0_retries
      tx_q0_guest_ring_full"
for k in $keys; do
    nvh_check_match "vhu1 statistics has $k" "(^|[{ ])$k=[0-9]+" \
        "$(echo "$stats" | grep -oE "(^|[{ ])$k=[0-9]+" || echo "(absent)")"
done

# ---- A receiver that stops draining ------------------------------------
fail_before=$(nvh_iface_stat vhu1 ovs_tx_failure_drops)
nvh_tp_run tpb stop
nvh_tp_run tpa "set eth-peer 0 02:00:00:00:00:0b" "set txpkts 64" \
    "set fwd txonly" start
grows() { [ "$(nvh_iface_stat vhu1 ovs_tx_failure_drops)" -gt "$fail_before" ]; }
nvh_wait_for 30 "vhu1 ovs_tx_failure_drops to grow" grows ||
    nvh_check_eq "vhu1 ovs_tx_failure_drops grows" "> $fail_before" \
        "$(nvh_iface_stat vhu1 ovs_tx_failure_drops)"
nvh_tp_run tpa stop
nvh_info "vhu1 with a receiver not draining: $(vsctl get Interface vhu1 statistics |
    grep -oE '(tx_dropped|ovs_tx_failure_drops|ovs_tx_retries|tx_guest_ring_full)=[0-9]+' | tr '\n' ' ')"
if $OURS; then
    gt0() { [ "$(nvh_iface_stat vhu1 tx_guest_ring_full)" -gt 0 ]; }
    nvh_wait_for 15 "vhu1 tx_guest_ring_full > 0" gt0 ||
        nvh_check_eq "vhu1 tx_guest_ring_full > 0" yes no
    nvh_check_iface_stat vhu0 rx_errors 0
    nvh_check_iface_stat vhu1 tx_errors 0
    nvh_check_eq "vhu1 status:state (not draining)" ready "$(nvh_iface_status vhu1 state)"
    # One queue pair: its counters are the port's.  Compared within one
    # read of the column (all counters of one refresh), once it settled.
    Q0_PAIRS="tx_dropped:tx_q0_dropped ovs_tx_failure_drops:tx_q0_failure_drops
              ovs_tx_retries:tx_q0_retries tx_guest_ring_full:tx_q0_guest_ring_full"
    q0_is_port() {
        local st p
        st=$(vsctl get Interface vhu1 statistics)
        for p in $Q0_PAIRS; do
            [ "$(nvh_status_key "$st" "${p%:*}")" = \
              "$(nvh_status_key "$st" "${p#*:}")" ] || return 1
        done
    }
    settle
    nvh_wait_for 15 "vhu1 tx_q0_* = the port's counters" q0_is_port
    st=$(vsctl get Interface vhu1 statistics)
    for p in $Q0_PAIRS; do
        nvh_check_eq "vhu1 statistics:${p#*:} (= ${p%:*})" \
            "$(nvh_status_key "$st" "${p%:*}")" "$(nvh_status_key "$st" "${p#*:}")"
    done
    nvh_check_iface_stat vhu0 rx_q0_dropped 0
fi
nvh_check_eq "vhu1 status:status (not draining)" connected "$(nvh_iface_status vhu1 status)"
nvh_check_eq "vhu1 link_state (not draining)" up "$(nvh_iface_get vhu1 link_state)"

# Traffic flows again once tpb receives (the frames left in its ring
# arrive too, so at least N).
tp_listen tpb
nvh_tp_run tpa "set eth-peer 0 02:00:00:00:00:0b"
nvh_tp_send tpa "$BURSTS" 64
n=$(nvh_tp_wait_rx tpb 0 $N)
nvh_check_eq "tpb receives again after draining resumed (>= $N)" yes \
    "$([ "$n" != "?" ] && [ "$n" -ge $N ] && echo yes || echo "no ($n)")"
nvh_tp_run tpa stop

# ---- link_state and link_resets across a frontend restart ---------------
resets=$(nvh_iface_get vhu1 link_resets)
nvh_tp_stop tpb
nvh_wait_port_down vhu1 || nvh_fail "vhu1 did not go down"
link_is() { [ "$(nvh_iface_get vhu1 link_state)" = "$1" ]; }
nvh_wait_for 15 "vhu1 link_state down" link_is down
nvh_check_eq "vhu1 link_state without frontend" down "$(nvh_iface_get vhu1 link_state)"
nvh_check_eq "vhu1 status:status without frontend" disconnected "$(nvh_iface_status vhu1 status)"
if $OURS; then
    nvh_check_eq "vhu1 status:mtu without frontend" 1500 "$(status_of vhu1 mtu)"
    nvh_check_eq "vhu1 status:backend without frontend" netdev-vhost \
        "$(status_of vhu1 backend)"
    nvh_check_eq "vhu1 status:n_rxq without frontend" "(absent)" \
        "$(status_of vhu1 n_rxq)"
    # Frames for a port without a frontend are dropped before a queue pair
    # is picked: in tx_dropped, in no tx_q<N>_dropped.
    settle
    drop_before=$(nvh_iface_stat vhu1 tx_dropped)
    q0_before=$(nvh_iface_stat vhu1 tx_q0_dropped)
    nvh_tp_send tpa "$BURSTS" 64
    dropped_all() { [ "$(nvh_iface_stat vhu1 tx_dropped)" -ge $((drop_before + N)) ]; }
    nvh_wait_for 15 "vhu1 tx_dropped to grow by $N" dropped_all
    nvh_tp_run tpa stop
    settle
    nvh_check_eq "vhu1 tx_dropped without frontend" $((drop_before + N)) \
        "$(nvh_iface_stat vhu1 tx_dropped)"
    nvh_check_eq "vhu1 tx_q0_dropped without frontend" "$q0_before" \
        "$(nvh_iface_stat vhu1 tx_q0_dropped)"
fi
nvh_tp_start_wait tpb "$s1,mac=02:00:00:00:00:0b"
nvh_wait_for 15 "vhu1 link_state up" link_is up
nvh_check_eq "vhu1 link_state after the restart" up "$(nvh_iface_get vhu1 link_state)"
# netdev-dpdk counts link changes of ethdev ports only.
$OURS && nvh_check_eq "vhu1 link_resets after a restart" "$((resets + 2))" \
    "$(nvh_iface_get vhu1 link_resets)"

# ---- ovs-appctl vhostuserclient/reconnect -------------------------------
if $OURS; then
    nvh_check_match "list-commands has vhostuserclient/reconnect" \
        "vhostuserclient/reconnect port" "$(appctl list-commands | grep vhostuserclient/)"
    c=$(nvh_iface_status vhu1 connects)
    nvh_check_match "reconnect reply" "vhu1: disconnected, reconnecting" \
        "$(appctl vhostuserclient/reconnect vhu1 2>&1)"
    nvh_check_match "reconnect of an unknown port fails" "no such" \
        "$(appctl vhostuserclient/reconnect nosuchport 2>&1)"
    nvh_wait_status vhu1 connects $((c + 1)) 30
    nvh_check_eq "vhu1 status:connects after reconnect" $((c + 1)) \
        "$(nvh_iface_status vhu1 connects)"
    nvh_wait_port_ready vhu1 || nvh_fail "vhu1 not ready after reconnect"
    nvh_check_eq "vhu1 status:last_error" "reconnect requested" \
        "$(nvh_iface_status vhu1 last_error)"
    appctl vhostuserclient/show vhu1 | sed 's/^/    /'
fi
tp_listen tpb
nvh_tp_send tpa "$BURSTS" 64
n=$(nvh_tp_wait_rx tpb 0 $N)
nvh_check_eq "tpb receives after the restart/reconnect" $N "$n"
nvh_tp_run tpa stop

nvh_finish
