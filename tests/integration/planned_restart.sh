#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# planned_restart: ovs-vswitchd restarted under two QEMU guests without the
# guests noticing (the connections are handed over, netdev-vhost-handover.c).
#
#   g1 (vhu0) and g2 (vhu1) ping each other every 0.1 s; g2 also sends g1 a
#   paced TCP stream (NVH_TCP_KIB KiB, 160 KiB/s) that spans the restarts.
#   Both guests print their interface's carrier changes and ICMP counters
#   every 0.5 s (nvh.stats).
#
# Phase "planned", RESTARTS times: "ovs-appctl exit" (what "ovs-ctl stop"
# and the systemd units do), then the same ovs-vswitchd started again.
# After each: both ports ready without a new connection (status:connects
# stays 1, status:resumes counts the restarts, the connection's age goes on
# growing), the QEMU logs have no new line (QEMU logs every vhost-user
# disconnect), the guests' carrier never changed, at most one echo request
# per guest and restart went unanswered (the guests' kernel counters: busybox
# ping's own socket buffer drops replies that arrive in a burst, so its
# console lines undercount) and no reply came twice, and the keeper process
# has exited.  Then the TCP stream must have arrived whole (size and MD5).
#
# Phase "refused": the next ovs-vswitchd reads another version of the saved
# state (NETDEV_VHOST_STATE_VERSION): it closes the handed-over connections
# (QEMU logs the disconnect), the ports connect again as after any
# disconnect (connects = 1, resumes = 0 in the new process), and the
# guests' pings resume.
#
# Phase "kill": SIGKILL, as a crash: no keeper is started, the ports
# reconnect as before (QEMU logs it), and the pings resume.  At the end no
# keeper process or socket is left and ovs-vswitchd has as many memfd
# mappings as the first process had.
source "$(dirname "$0")/lib.sh"

BOOT_TIMEOUT=${NVH_BOOT_TIMEOUT:-90}
RESUME_TIMEOUT=${NVH_RESTART_RESUME_TIMEOUT:-60}
RESTARTS=${NVH_RESTARTS:-5}
TCP_KIB=${NVH_TCP_KIB:-8192}   # 51 s at 16 KiB every 0.1 s
INTERVAL=0.1
BEFORE=20
AFTER=30
GUEST_LIFETIME=900
IP1=198.18.0.1
IP2=198.18.0.2

nvh_setup_guest_test
[ "$NVH_PORT_TYPE" = vhostuserclient ] ||
    nvh_skip "the handover is netdev-vhost's (port type $NVH_PORT_TYPE)"

nvh_ovs_start
nvh_two_port_bridge "actions=NORMAL"
s0=$(nvh_sock vhu0)
s1=$(nvh_sock vhu1)
keeper_sock=$NVH_WORK/ovs/run/netdev-vhost.handover

NVH_PING_INTERVAL=$INTERVAL
common=(nvh.role=ping-stream "nvh.interval=$INTERVAL" "nvh.count=$((GUEST_LIFETIME * 10))"
        "nvh.timeout=$GUEST_LIFETIME" nvh.stats=0.5 nvh.port=5001 "nvh.kib=$TCP_KIB")
nvh_guest_start g1 "$s0" 52:54:00:00:00:01 nvh.ip=$IP1/24 nvh.peer=$IP2 nvh.tcp=recv "${common[@]}"
nvh_guest_start g2 "$s1" 52:54:00:00:00:02 nvh.ip=$IP2/24 nvh.peer=$IP1 nvh.tcp=send "${common[@]}"

nvh_wait_port_ready vhu0 "$BOOT_TIMEOUT" || nvh_fail "vhu0 not ready"
nvh_wait_port_ready vhu1 "$BOOT_TIMEOUT" || nvh_fail "vhu1 not ready"
nvh_ping_streams_up "$BOOT_TIMEOUT" "$BEFORE" g1 g2
nvh_wait_for 30 "g2's TCP stream to start" \
    grep -q '^NVH-RESULT role=tcp-send' "${NVH_GUEST_CONSOLE[g2]}" ||
    nvh_fail "g2 did not start its TCP stream"

# stats_line GUEST: the guest's last whole NVH-STATS line.  The guest
# writes its console while it is read: each read may see a newer line, so
# every value compared comes from one read of one line (and only whole
# lines, nvh_console).
stats_line() {
    nvh_console "$1" | grep -E '^NVH-STATS carrier_changes=[0-9]+ .* OutEchoReps=[0-9]+$' |
        tail -n 1
}
# field LINE KEY: the value of KEY in a stats line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
gstat() { field "$(stats_line "$1")" "$2"; }
# unanswered GUEST: echo requests the guest sent that no reply answered yet.
unanswered() {
    local l
    l=$(stats_line "$1")
    echo $(( $(field "$l" OutEchos) - $(field "$l" InEchoReps) ))
}
qemu_lines() { wc -l <"$NVH_WORK/$1.qemu.log"; }
keeper_running() { pgrep -f "netdev-vhost-keeper $keeper_sock" >/dev/null; }
keeper_gone() { ! keeper_running; }
connects_are() { [ "$(nvh_iface_status "$1" connects)" = "$2" ]; }
age() { nvh_iface_status "$1" connected_seconds; }

declare -A carrier0 qemu0 lost_total
for g in g1 g2; do
    carrier0[$g]=$(gstat $g carrier_changes)
    qemu0[$g]=$(qemu_lines $g)
    lost_total[$g]=0
done
nvh_log "guests' carrier changes at the start: g1 ${carrier0[g1]}, g2 ${carrier0[g2]}"
memfd_maps0=$(nvh_vswitchd_memfd_maps)

for ((r = 1; r <= RESTARTS; r++)); do
    declare -A last=() before=()
    ages="$(age vhu0) $(age vhu1)"
    for g in g1 g2; do before[$g]=$(unanswered $g); done
    t0=$SECONDS
    nvh_vswitchd_exit
    for g in g1 g2; do last[$g]=$(nvh_ping_last $g); done
    nvh_check_eq "restart $r: the keeper listens" yes \
        "$([ -S "$keeper_sock" ] && echo yes || echo no)"
    nvh_vswitchd_start
    for p in vhu0 vhu1; do
        nvh_wait_port_ready $p "$RESUME_TIMEOUT" || nvh_fail "restart $r: $p not ready"
    done
    nvh_ping_streams_resumed "restart $r" "$RESUME_TIMEOUT" "$AFTER" last g1 g2
    nvh_log "restart $r: pings flowing again $((SECONDS - t0)) s after the stop began"
    # Let the counters settle: a sample taken after the last replies.
    sleep 1.5
    for p in vhu0 vhu1; do
        nvh_check_eq "restart $r: $p status:connects" 1 "$(nvh_iface_status $p connects)"
        nvh_check_eq "restart $r: $p status:resumes" 1 "$(nvh_iface_status $p resumes)"
        nvh_check_eq "restart $r: $p error column" "[]" "$(nvh_iface_get $p error)"
    done
    set -- $ages
    a0=$(age vhu0); a1=$(age vhu1)
    nvh_log "restart $r: connection ages ${1}s -> ${a0}s (vhu0), ${2}s -> ${a1}s (vhu1)"
    [ "$a0" -ge "$1" ] && [ "$a1" -ge "$2" ] ||
        nvh_check_eq "restart $r: the connections' ages go on" yes no
    for g in g1 g2; do
        nvh_check_eq "restart $r: $g's QEMU logged nothing (no disconnect)" "${qemu0[$g]}" \
            "$(qemu_lines $g)"
        nvh_check_eq "restart $r: $g's carrier never changed" "${carrier0[$g]}" \
            "$(gstat $g carrier_changes)"
        lost=$(( $(unanswered $g) - before[$g] ))
        lost_total[$g]=$((lost_total[$g] + lost))
        nvh_log "restart $r: $g: echo requests lost: $lost"
        [ "$lost" -le 1 ] || nvh_check_eq "restart $r: $g lost at most 1 echo request" \
            "<= 1" "$lost"
        # Fewer unanswered than before, beyond the one that may have been in
        # flight then: replies that came twice (frames sent again).
        [ "$lost" -ge -1 ] || nvh_check_eq "restart $r: $g got no reply twice" \
            ">= -1" "$lost"
    done
    nvh_wait_for 10 "the keeper to exit" keeper_gone ||
        nvh_check_eq "restart $r: the keeper exited once both ports resumed" yes no
done
nvh_log "echo requests lost over $RESTARTS planned restarts: g1 ${lost_total[g1]}, g2 ${lost_total[g2]}"

nvh_wait_for 120 "the TCP stream to complete" \
    grep -q '^NVH-RESULT role=tcp-recv' "${NVH_GUEST_CONSOLE[g1]}" ||
    nvh_fail "g1 did not receive the whole TCP stream"
sent=$(nvh_guest_wait g2 '^NVH-RESULT role=tcp-send' 10)
got=$(nvh_guest_wait g1 '^NVH-RESULT role=tcp-recv' 10)
nvh_check_eq "TCP stream across the restarts (size and MD5)" "${sent#NVH-RESULT role=tcp-send }" \
    "${got#NVH-RESULT role=tcp-recv }"

# reconnected PHASE: after a restart without handover, the ports connected
# again (the new process's first connection), QEMU logged the disconnect
# (qemu0 holds its log's length before) and the pings resumed (after last).
reconnected() {
    local phase=$1 p g
    for p in vhu0 vhu1; do
        nvh_wait_port_ready $p "$RESUME_TIMEOUT" || nvh_fail "$phase: $p not ready"
    done
    nvh_ping_streams_resumed "$phase" "$RESUME_TIMEOUT" "$AFTER" last g1 g2
    for p in vhu0 vhu1; do
        nvh_check_eq "$phase: $p status:connects" 1 "$(nvh_iface_status $p connects)"
        nvh_check_eq "$phase: $p status:resumes" 0 "$(nvh_iface_status $p resumes)"
    done
    for g in g1 g2; do
        [ "$(qemu_lines $g)" -gt "${qemu0[$g]}" ] ||
            nvh_check_eq "$phase: $g's QEMU logged the disconnect" yes no
    done
}

# refused: the next process reads another version of the state.  It
# closes the connections it was handed; QEMU logs the disconnect and the
# ports connect again (the new process's first connection).
declare -A last=()
for g in g1 g2; do qemu0[$g]=$(qemu_lines $g); done
nvh_vswitchd_exit
for g in g1 g2; do last[$g]=$(nvh_ping_last $g); done
export NETDEV_VHOST_STATE_VERSION=999
nvh_vswitchd_start
unset NETDEV_VHOST_STATE_VERSION
reconnected refused
nvh_check_match "refused: the log says why" "cannot resume the connection handed over.*another version" \
    "$(grep 'cannot resume' "$NVH_WORK/ovs/log/ovs-vswitchd.log" | tail -n 1)"
nvh_wait_for 10 "the keeper to exit" keeper_gone ||
    nvh_check_eq "refused: the keeper exited" yes no

# kill: no handover, the ports reconnect as they always did.
declare -A last=()
for g in g1 g2; do qemu0[$g]=$(qemu_lines $g); done
nvh_vswitchd_kill
for g in g1 g2; do last[$g]=$(nvh_ping_last $g); done
nvh_check_eq "kill: no keeper started" no "$(keeper_running && echo yes || echo no)"
nvh_vswitchd_start
reconnected kill

# Nothing of the handovers is left: no keeper, no keeper socket, and the
# running ovs-vswitchd maps what the first one did.
nvh_check_eq "no keeper left" no "$(keeper_running && echo yes || echo no)"
nvh_check_eq "no keeper socket left" no "$([ -e "$keeper_sock" ] && echo yes || echo no)"
nvh_check_eq "memfd mappings of ovs-vswitchd (as in the first process)" "$memfd_maps0" \
    "$(nvh_vswitchd_memfd_maps)"

for g in g1 g2; do
    nvh_check_eq "$g's ping still running" "" \
        "$(grep -a '^NVH-\(DONE\|ERROR\)' "${NVH_GUEST_CONSOLE[$g]}" | tr -d '\r')"
done
nvh_finish
