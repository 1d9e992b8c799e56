#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# libvirt_guest: libvirt drives the guest.  The test starts a libvirtd of its
# own (tests/integration/lib/libvirt.sh) and defines and starts with virsh a
# domain g1 with <interface type='vhostuser'> (mode='server', memfd memory
# shared) on port vhu0; a plain QEMU guest g2 on vhu1 (as in qemu_ping)
# pings it through OVS.  libvirt must have found the OVS Interface of the
# socket (virsh domiflist), and "virsh domifstat g1 vhu0", which libvirt
# reads from OVS with ovs-vsctl, must count the ping traffic and agree with
# the Interface statistics, rx and tx swapped (libvirt shows the guest's
# view: what the port sent, the guest received).  Destroying the domain
# must take vhu0 down.
source "$(dirname "$0")/lib.sh"

COUNT=${NVH_PING_COUNT:-5}
BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-90}
IP1=198.18.0.1  # g1, the libvirt domain: answers
IP2=198.18.0.2  # g2, plain QEMU: pings

nvh_setup_guest_test
nvh_require_libvirt

nvh_ovs_start
nvh_two_port_bridge
s1=$(nvh_sock vhu0)
s2=$(nvh_sock vhu1)
nvh_libvirtd_start

# The counters of vhu0, OVS's and libvirt's, read by read_counters.
declare -A OVS=() LV=()
KEYS="rx_packets rx_bytes tx_packets tx_bytes"

# swapped KEY: the name of KEY in the other's view (rx_... <-> tx_...).
swapped() { case $1 in rx_*) echo "tx_${1#rx_}" ;; *) echo "rx_${1#tx_}" ;; esac; }

# read_counters: OVS's statistics of vhu0, then libvirt's (domifstat), then
# OVS's again; true if OVS did not change in between (it refreshes the
# column every 5 s) and libvirt's agree with them, swapped.
read_counters() {
    local k before="" after="" ok=0
    for k in $KEYS; do before+="$(nvh_iface_stat vhu0 "$k") "; done
    for k in $KEYS; do LV[$k]=$(nvh_domifstat g1 vhu0 "$k"); done
    for k in $KEYS; do
        OVS[$k]=$(nvh_iface_stat vhu0 "$k")
        after+="${OVS[$k]} "
        [ "${LV[$(swapped "$k")]}" = "${OVS[$k]}" ] || ok=1
    done
    [ "$before" = "$after" ] && return $ok
    return 1
}

# check_counters LABEL: libvirt's counters agree with OVS's (swapped).
check_counters() {
    local k
    nvh_wait_for 20 "domifstat to agree with OVS" read_counters
    for k in $KEYS; do
        nvh_check_eq "$1: domifstat g1 vhu0 $(swapped "$k") = OVS vhu0 statistics:$k" \
            "${OVS[$k]}" "${LV[$(swapped "$k")]}"
    done
}

nvh_libvirt_guest_start g1 "$s1" 52:54:00:00:00:01 vhu0 \
    nvh.ip=$IP1/24 nvh.peer=$IP2 nvh.role=answer nvh.timeout=$((BOOT_TIMEOUT * 3))
nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready"
nvh_guest_wait g1 '^NVH-READY' "$BOOT_TIMEOUT" >/dev/null || nvh_fail "guest g1 did not come up"
nvh_virsh domiflist g1 | sed 's/^/    /'
nvh_check_eq "virsh domiflist g1: interface (from OVS, by socket path)" vhu0 \
    "$(nvh_virsh domiflist g1 | awk '$2 == "vhostuser" { print $1 }')"

# What the guest sent while it booted: in the column after its next refresh.
sleep 6
check_counters "before the ping"
declare -A BASE=()
for k in $KEYS; do BASE[$k]=${LV[$k]}; done
nvh_log "domifstat g1 vhu0 before the ping: $(for k in $KEYS; do printf '%s=%s ' "$k" "${LV[$k]}"; done)"

nvh_guest_start g2 "$s2" 52:54:00:00:00:02 \
    nvh.ip=$IP2/24 nvh.peer=$IP1 nvh.role=ping nvh.count="$COUNT" nvh.timeout=$((BOOT_TIMEOUT * 2))
nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready"
res=$(nvh_guest_wait g2 '^NVH-(RESULT|ERROR)' "$BOOT_TIMEOUT") ||
    nvh_fail "guest g2 reported no result"
nvh_log "g2 says: $res"
nvh_check_eq "echo replies from the libvirt guest received of $COUNT" \
    "role=ping sent=$COUNT received=$COUNT" "${res#NVH-RESULT }"

# The guest received the echo requests (OVS: vhu0 tx) and sent the replies
# (vhu0 rx); wait for the column to show them, bytes too: g2's ARP request
# is one more frame to g1, so a refresh taken before the last echo request
# already has COUNT more packets (and 56 bytes fewer than COUNT requests).
nvh__moved() {
    [ "$(nvh_iface_stat vhu0 tx_packets)" -ge $((BASE[rx_packets] + COUNT)) ] &&
        [ "$(nvh_iface_stat vhu0 rx_packets)" -ge $((BASE[tx_packets] + COUNT)) ] &&
        [ "$(nvh_iface_stat vhu0 tx_bytes)" -ge $((BASE[rx_bytes] + COUNT * 98)) ] &&
        [ "$(nvh_iface_stat vhu0 rx_bytes)" -ge $((BASE[tx_bytes] + COUNT * 98)) ]
}
nvh_wait_for 15 "vhu0 statistics to count the ping" nvh__moved
check_counters "after the ping"
nvh_log "domifstat g1 vhu0 after the ping: $(for k in $KEYS; do printf '%s=%s ' "$k" "${LV[$k]}"; done)"
nvh_virsh domifstat g1 vhu0 | sed 's/^/    /'
for k in rx_packets tx_packets; do
    d=$((LV[$k] - BASE[$k]))
    [ "$d" -ge "$COUNT" ] ||
        nvh_check_eq "domifstat g1 vhu0 $k grew by >= $COUNT" yes "no ($d)"
done
for k in rx_bytes tx_bytes; do
    d=$((LV[$k] - BASE[$k]))
    # Echo request/reply frames of a 56-byte payload: 98 bytes each.
    [ "$d" -ge $((COUNT * 98)) ] ||
        nvh_check_eq "domifstat g1 vhu0 $k grew by >= $((COUNT * 98))" yes "no ($d)"
done

nvh_guest_stop g2
nvh_libvirt_guest_stop g1
nvh_wait_port_down vhu0 || nvh_check_eq "vhu0 down after virsh destroy" yes no

nvh_finish
