#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# reconnect_latency: how long a waiting port takes to connect once its
# frontend listens.  The port watches the socket's directory (inotify), so
# it connects as soon as the socket appears instead of at its next poll.
#
# NVH_ROUNDS (default 5) times testpmd, then NVH_QEMU_ROUNDS (default 3)
# times QEMU, each started on the port's socket after the port has been
# waiting; each is killed (SIGKILL) once connected, and the port must notice
# and wait again.  The time from the socket's creation (its mtime: the
# frontend's bind(), followed by listen()) to the port's "connected to the
# frontend" log line is printed per round, with min/median/max.  No time is
# asserted (shared machines are noisy): the test fails only if a frontend is
# not connected within 30 s or the port does not notice its end.
source "$(dirname "$0")/lib.sh"

ROUNDS=${NVH_ROUNDS:-5}
QEMU_ROUNDS=${NVH_QEMU_ROUNDS:-3}

nvh_require_port_type vhostuserclient
nvh_setup_testpmd_test

nvh_ovs_start
# Every connection is timed by its "connected to the frontend" line, and a
# port's lines are rate-limited (a frontend reconnecting at will must not
# flood the log): each round adds four (connected, link up, disconnected,
# link down), more than the limit's burst over all rounds.  The limit is not
# what this test measures.
appctl vlog/disable-rate-limit netdev_vhost >/dev/null ||
    nvh_fail "cannot disable netdev_vhost's rate limit"
nvh_add_bridge br0
sock=$(nvh_sock vhu0)
rm -f "$sock"
nvh_add_port br0 vhu0 "$sock" 1

# connect_lines: how many times the port logged a connection so far.
connect_lines() { grep -c "$sock: connected to the frontend" "$NVH_WORK/ovs/log/ovs-vswitchd.log"; }
# ms_between EPOCH-NS LOG-TIMESTAMP: milliseconds (3 decimals).
ms_between() {
    local t1
    t1=$(date -d "$2" +%s%N) || return 1
    awk -v a="$1" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'
}

latencies=()
# measure LABEL: waits for the socket and the next connect line, prints
# and records the latency.
measure() {
    local label=$1 before=$2 deadline t_bind line stamp ms
    deadline=$((SECONDS + 30))
    until [ -S "$sock" ]; do
        [ $SECONDS -lt $deadline ] || nvh_fail "$label: no socket at $sock"
        sleep 0.01
    done
    t_bind=$(stat -c %.9Y "$sock" | tr -d .)
    until [ "$(connect_lines)" -gt "$before" ]; do
        [ $SECONDS -lt $deadline ] || nvh_fail "$label: the port did not connect within 30 s"
        sleep 0.05
    done
    line=$(grep "$sock: connected to the frontend" "$NVH_WORK/ovs/log/ovs-vswitchd.log" | tail -n1)
    stamp=${line%%|*}
    ms=$(ms_between "$t_bind" "$stamp") || nvh_fail "$label: cannot read the log time '$stamp'"
    nvh_log "$label: connected $ms ms after the socket appeared"
    latencies+=("$ms")
}

# The port waits before any frontend exists (and after each one is gone).
wait_down() {
    nvh_wait_port_down vhu0 30 || nvh_check_eq "$1: the port noticed the frontend is gone" yes no
    sleep 0.5
}

for i in $(seq 1 "$ROUNDS"); do
    before=$(connect_lines)
    nvh_tp_start "tp$i" "$sock"
    measure "testpmd round $i" "$before"
    nvh_tp_kill "tp$i"
    wait_down "testpmd round $i"
done

if [ "$QEMU_ROUNDS" -gt 0 ]; then
    nvh_guest_build
    for i in $(seq 1 "$QEMU_ROUNDS"); do
        before=$(connect_lines)
        nvh_guest_start "q$i" "$sock" 52:54:00:00:00:0$i nvh.role=answer nvh.timeout=30
        measure "QEMU round $i" "$before"
        kill -KILL "${NVH_GUEST_PID[q$i]}" 2>/dev/null
        wait "${NVH_GUEST_PID[q$i]}" 2>/dev/null
        wait_down "QEMU round $i"
    done
fi

sorted=$(printf '%s\n' "${latencies[@]}" | sort -n)
n=${#latencies[@]}
nvh_log "socket-to-connected latency over $n rounds (ms): min $(echo "$sorted" | head -n1)," \
    "median $(echo "$sorted" | sed -n "$(( (n + 1) / 2 ))p"), max $(echo "$sorted" | tail -n1)"
nvh_check_eq "every round measured" "$((ROUNDS + QEMU_ROUNDS))" "$n"
nvh_ovs_alive || nvh_fail "ovs-vswitchd died"
nvh_finish
