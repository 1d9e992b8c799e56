#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# connect_cycles: a frontend that connects and goes away over and over must
# not make ovs-vswitchd grow.
#
# Part 1: the stress frontend (tests/tools/vhost_user_cycles, the in-tree
# frontend of the unit tests) lets one port connect NVH_CYCLES times (default
# 1000).  Every connection gets fresh memfd guest memory (two regions), a
# queue pair with fresh kick/call eventfds, and frames that the bridge sends
# back to the port (actions=in_port); then it is closed with frames still in
# flight, abruptly (as a killed QEMU) or after GET_VRING_BASE (as a stopping
# one).  After a warm-up of NVH_WARMUP_CYCLES, ovs-vswitchd's open fds,
# mappings and RSS are read; after all cycles they must be back where they
# were: memfd mappings exactly, fds and other mappings within a small slack
# (below), RSS within NVH_RSS_SLACK_KB.  The port's connects counter must have
# gone up by exactly the number of cycles, and its rx/tx packet counters must
# equal what the frontend saw the port take from and put into its rings.
#
# Part 2: a real frontend (testpmd, virtio_user) on the same socket path,
# with frames looping between it and the bridge, is killed with SIGKILL: the
# port goes down and ovs-vswitchd's memfd mappings and fds return exactly to
# what they were before testpmd connected; a new testpmd on the same path gets
# connected and receives exactly what it sends.
#
# Only for the vhostuserclient type (the stress frontend speaks what our unit
# tests need, and the connects counter is ours).
source "$(dirname "$0")/lib.sh"

CYCLES=${NVH_CYCLES:-1000}
WARMUP=${NVH_WARMUP_CYCLES:-20}
FRAMES=4          # exchanged (and checked) per cycle
BURST=32          # left in flight when a connection goes away
# Slack for open fds: fds of OVS's own that have nothing to do with the port
# (the unixctl server closes an ovs-appctl connection only on its next poll
# loop; the database connection may be re-established).  Measured: none
# needed so far.  A per-connection leak shows as at least one fd per cycle.
FD_SLACK=${NVH_FD_SLACK:-2}
# All mappings: glibc may add or trim a malloc arena mapping (measured: none
# needed so far).
MAP_SLACK=${NVH_MAP_SLACK:-4}
RSS_SLACK_KB=${NVH_RSS_SLACK_KB:-8192}

nvh_require_port_type vhostuserclient
nvh_setup_testpmd_test

TOOL=$NVH_BUILD_DIR/tests/tools/vhost_user_cycles
[ -x "$TOOL" ] || nvh_fail "$TOOL missing (build the tests)"

nvh_ovs_start
VSWITCHD=$(cat "$NVH_WORK/ovs/run/ovs-vswitchd.pid")
nvh_add_bridge br0
sock=$(nvh_sock vhu0)
nvh_add_port br0 vhu0 "$sock" 1
nvh_flows br0 "in_port=1,actions=in_port"

memfd_names() {
    grep -o '/memfd:[^ ]*' "/proc/$VSWITCHD/maps" | sed 's/[-_0-9]*$//' |
        sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }'
}
# fd_types: ovs-vswitchd's open fds counted by kind ("socket",
# "anon_inode:[eventfd]", "/memfd:seg", ...), one "COUNT KIND" a line.
fd_types() {
    find "/proc/$VSWITCHD/fd" -mindepth 1 -maxdepth 1 -exec readlink {} + |
        sed -e 's/ (deleted)$//' -e 's/:\[[0-9]*\]$//' -e 's/[-_0-9]*$//' |
        sort | uniq -c
}
# fd_diff BEFORE: the kinds whose count changed since BEFORE (fd_types).
fd_diff() {
    diff <(echo "$1") <(fd_types) | sed -n 's/^\([<>]\) *\([0-9]*\) /\1\2 /p' |
        sed 's/^</before: /; s/^>/now: /' | paste -sd ';' - | sed 's/;/; /g'
}
snapshot() { echo "$(nvh_vswitchd_fds) $(nvh_vswitchd_maps) $(nvh_vswitchd_memfd_maps) $(nvh_vswitchd_rss_kb)"; }
show()     { nvh_info "$1: fds=$2 maps=$3 memfd_maps=$4 rss=${5}kB"; }
connects() { nvh_iface_status vhu0 connects 2>/dev/null || echo "?"; }

# settled FDS MEMFD: the port has let go of everything a frontend gave it.
settled() { [ "$(nvh_vswitchd_memfd_maps)" -eq "$2" ] && nvh_within "$(nvh_vswitchd_fds)" "$1" "$FD_SLACK"; }
settled_exactly() { [ "$(nvh_vswitchd_memfd_maps)" -eq "$2" ] && [ "$(nvh_vswitchd_fds)" -eq "$1" ]; }

# cycles LABEL N: runs the stress frontend for N cycles; adds what the port
# took and delivered to TAKEN and DELIVERED.
TAKEN=0
DELIVERED=0
cycles() {
    local label=$1 n=$2 log=$NVH_WORK/cycles-$1.log pid rc line t d
    "$TOOL" --socket "$sock" --cycles "$n" --frames $FRAMES --burst $BURST \
        > "$log" 2>&1 &
    pid=$!
    nvh_register_pid "cycles-$label" "$pid"
    wait "$pid"
    rc=$?
    sed 's/^/    /' "$log"
    [ "$rc" -eq 0 ] || nvh_fail "stress frontend ($label) failed (status $rc)"
    line=$(grep '^cycles=' "$log") || nvh_fail "no totals from the stress frontend"
    t=$(echo "$line" | sed -n 's/.* taken=\([0-9]*\).*/\1/p')
    d=$(echo "$line" | sed -n 's/.* delivered=\([0-9]*\).*/\1/p')
    TAKEN=$((TAKEN + t))
    DELIVERED=$((DELIVERED + d))
}

# ---- Part 1: the stress frontend -----------------------------------------
c0=$(connects)
nvh_info "warm-up: $WARMUP cycles"
cycles warmup "$WARMUP"
nvh_wait_port_down vhu0 30 || nvh_fail "vhu0 did not go down after the warm-up"
# The port reports waiting only after it unmapped the guest's memory.
read -r fd0 map0 mfd0 rss0 <<<"$(snapshot)"
show "baseline after the warm-up" "$fd0" "$map0" "$mfd0" "$rss0"
# DPDK's own hugepage segments are memfds too (one per page): print what
# the memfd mappings are, so a leaked guest region stands out by name.
nvh_info "memfd mappings by name: $(memfd_names)"
types0=$(fd_types)

start=$SECONDS
nvh_info "$CYCLES cycles"
cycles main "$CYCLES"
elapsed=$((SECONDS - start))
nvh_info "$CYCLES cycles took ${elapsed}s"
nvh_wait_port_down vhu0 30 || nvh_check_eq "vhu0 down after the cycles" yes no
nvh_wait_for 30 "ovs-vswitchd's fds and memfd mappings to settle" \
    settled "$fd0" "$mfd0" || true
read -r fd1 map1 mfd1 rss1 <<<"$(snapshot)"
show "after $CYCLES cycles" "$fd1" "$map1" "$mfd1" "$rss1"
nvh_ovs_alive || nvh_fail "ovs-vswitchd died"

nvh_check_eq "memfd mappings after $CYCLES cycles" "$mfd0" "$mfd1"
if nvh_within "$fd1" "$fd0" "$FD_SLACK"; then
    nvh_info "ok: open fds $fd1 within $FD_SLACK of $fd0"
else
    nvh_check_eq "open fds after $CYCLES cycles (slack $FD_SLACK)" "$fd0" "$fd1"
    nvh_info "fd kinds that changed: $(fd_diff "$types0")"
fi
nvh_within "$map1" "$map0" "$MAP_SLACK" &&
    nvh_info "ok: mappings $map1 within $MAP_SLACK of $map0" ||
    nvh_check_eq "mappings after $CYCLES cycles (slack $MAP_SLACK)" "$map0" "$map1"
growth=$((rss1 - rss0))
if [ "$growth" -le "$RSS_SLACK_KB" ]; then
    nvh_info "ok: RSS grew by ${growth}kB (bound ${RSS_SLACK_KB}kB)"
else
    nvh_check_eq "RSS growth within ${RSS_SLACK_KB}kB" "<= $RSS_SLACK_KB" "$growth"
fi
nvh_check_eq "vhu0 status:connects" "$((c0 + WARMUP + CYCLES))" "$(connects)"
nvh_info "the stress frontend saw the port take $TAKEN and deliver $DELIVERED frames"
nvh_check_iface_stat vhu0 rx_packets "$TAKEN"
nvh_check_iface_stat vhu0 tx_packets "$DELIVERED"
nvh_check_iface_stat vhu0 rx_errors 0

# ---- Part 2: testpmd killed mid-traffic ----------------------------------
read -r fdb mapb mfdb rssb <<<"$(snapshot)"
show "before testpmd" "$fdb" "$mapb" "$mfdb" "$rssb"
typesb=$(fd_types)
rxb=$(nvh_iface_stat vhu0 rx_packets)
c1=$(connects)
nvh_tp_start tp-killed "$sock"
nvh_tp_sync tp-killed 60
nvh_wait_port_ready vhu0 || nvh_fail "vhu0 not ready with testpmd"
# One port, io forwarding, and the bridge's in_port action: the first burst
# goes round between testpmd and the bridge until testpmd dies.
nvh_tp_run tp-killed "set fwd io" "start tx_first"
nvh_wait_for 20 "frames looping through testpmd" nvh__tp_rx_reached tp-killed 0 10000 ||
    nvh_check_eq "frames loop between testpmd and the bridge" yes no
read -r fdt mapt mfdt rsst <<<"$(snapshot)"
show "with testpmd forwarding" "$fdt" "$mapt" "$mfdt" "$rsst"
nvh_info "mappings of testpmd's memory: $((mfdt - mfdb)) memfd, $((mapt - mapb)) in all; fds: $((fdt - fdb))"
nvh_info "memfd mappings by name: $(memfd_names)"

nvh_tp_kill tp-killed
nvh_wait_port_down vhu0 30 || nvh_check_eq "vhu0 noticed testpmd was killed" yes no
nvh_wait_for 30 "ovs-vswitchd to release testpmd's memory and fds" \
    settled_exactly "$fdb" "$mfdb" || true
read -r fdk mapk mfdk rssk <<<"$(snapshot)"
show "after the SIGKILL" "$fdk" "$mapk" "$mfdk" "$rssk"
nvh_ovs_alive || nvh_fail "ovs-vswitchd died"
nvh_check_eq "memfd mappings after testpmd was killed" "$mfdb" "$mfdk"
# One connection: no slack (measured: none needed); OVS opens nothing of its
# own in between.
nvh_check_eq "open fds after testpmd was killed" "$fdb" "$fdk"
[ "$fdk" = "$fdb" ] || {
    nvh_info "fd kinds that changed: $(fd_diff "$typesb")"
}
nvh_within "$mapk" "$mapb" "$MAP_SLACK" &&
    nvh_info "ok: mappings $mapk within $MAP_SLACK of $mapb" ||
    nvh_check_eq "mappings after testpmd was killed (slack $MAP_SLACK)" "$mapb" "$mapk"

# Hairpin: every frame the port sent was one it had received (both counters
# from one read of the statistics column, once it shows the loop: OVS
# refreshes it every 5 s).
rx_grew() { [ "$(nvh_iface_stat vhu0 rx_packets)" -gt "$rxb" ]; }
nvh_wait_for 15 "vhu0 statistics to count the loop" rx_grew ||
    nvh_check_eq "vhu0 rx_packets counted the loop" yes no
stats=$(vsctl get Interface vhu0 statistics)
rxk=$(echo "$stats" | grep -o '[{ ]rx_packets=[0-9]*' | cut -d= -f2)
txk=$(echo "$stats" | grep -o '[{ ]tx_packets=[0-9]*' | cut -d= -f2)
nvh_info "vhu0 rx_packets=$rxk tx_packets=$txk after the loop"
[ "$txk" -le "$rxk" ] ||
    nvh_check_eq "vhu0 sent no more frames than it received" "<= $rxk" "$txk"

nvh_tp_start tp-new "$sock"
nvh_tp_sync tp-new 60
nvh_wait_port_ready vhu0 || nvh_fail "vhu0 not ready with the new testpmd"
nvh_check_eq "vhu0 status:connects after two testpmd connections" "$((c1 + 2))" "$(connects)"
nvh_tp_send tp-new 4 64
got=$(nvh_tp_wait_rx tp-new 0 128)
nvh_check_eq "new testpmd received its frames back" 128 "$got"
nvh_check_eq "new testpmd sent" 128 "$(nvh_tp_port_stat tp-new 0 tx_packets)"
nvh_tp_stop tp-new
nvh_finish
