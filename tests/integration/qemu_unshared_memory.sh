#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# qemu_unshared_memory: a QEMU guest whose memory backend lacks share=on
# boots and sets up its rings, but writes them into private copies the switch
# never sees.  Its port must say so: status:warning and a WARN log line.  A
# guest with share=on on the other port, whose frames do cross, must get no
# warning.
source "$(dirname "$0")/lib.sh"

BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-90}
IP1=198.18.0.1
IP2=198.18.0.2
WARNING='guest memory not shared*share=on*'

nvh_require_port_type vhostuserclient
nvh_setup_guest_test

nvh_ovs_start
nvh_two_port_bridge
s1=$(nvh_sock vhu0)
s2=$(nvh_sock vhu1)

# Both guests keep trying to reach the other (ARP requests, echo requests),
# so both transmit: the unshared one into memory the switch never sees.
NVH_GUEST_SHARE=off nvh_guest_start unshared "$s1" 52:54:00:00:00:01 \
    nvh.ip=$IP1/24 nvh.peer=$IP2 nvh.role=ping nvh.count=3 \
    nvh.timeout=$((BOOT_TIMEOUT * 3))
nvh_guest_start shared "$s2" 52:54:00:00:00:02 \
    nvh.ip=$IP2/24 nvh.peer=$IP1 nvh.role=ping nvh.count=3 \
    nvh.timeout=$((BOOT_TIMEOUT * 3))

nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready"
nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready"

# The unshared guest: the warning appears once it has kicked a few times.
nvh_wait_status vhu0 warning "$WARNING" "$((BOOT_TIMEOUT * 2))" ||
    nvh_fail "vhu0 shows no 'guest memory not shared' warning"
nvh_check_match "vhu0 status:warning" 'guest memory not shared' \
    "$(nvh_iface_status vhu0 warning)"
n=$(grep -c "$s1: guest memory appears not shared.*share=on" \
        "$NVH_WORK/ovs/log/ovs-vswitchd.log")
nvh_check_eq "WARN lines about vhu0's memory in ovs-vswitchd.log" 1 "$n"
nvh_check_eq "vhu0 status:state (a warning, not a failure)" ready \
    "$(nvh_iface_status vhu0 state)"

# The shared guest: its frames reach the switch (its avail index moves), and
# it gets no warning for it.
vhu1_received() { [ "$(nvh_iface_stat vhu1 rx_packets)" -ge 3 ]; }
nvh_wait_for "$BOOT_TIMEOUT" "frames from the shared guest on vhu1" vhu1_received ||
    nvh_fail "no frames from the shared guest on vhu1"
nvh_check_eq "vhu1 status:warning (shared guest)" "" \
    "$(nvh_iface_status vhu1 warning)"
n=$(grep -c "$s2: guest memory appears not shared" \
        "$NVH_WORK/ovs/log/ovs-vswitchd.log")
nvh_check_eq "WARN lines about vhu1's memory" 0 "$n"
# What the unshared guest sent never arrived.
nvh_check_eq "vhu0 statistics:rx_packets (unshared guest)" 0 \
    "$(nvh_iface_stat vhu0 rx_packets)"

nvh_guest_stop unshared
nvh_guest_stop shared
nvh_finish
