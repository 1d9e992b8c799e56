#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# log_rate_limit: the log lines a frontend can cause at will are rate limited
# per port.  Port "flood" gets a frontend that accepts CYCLES connections
# and on each sends a header that announces a payload larger than any
# request, then closes it (each connection: a "connected to the frontend"
# INFO line and a "disconnected: payload size larger than any request" WARN
# line from the core; a frontend that only closes its end is logged at INFO,
# as normal operation); then port "quiet" gets one such connection.  In
# ovs-vswitchd.log:
#   * flood has its first lines of each kind, and at most the burst of each
#     (20, plus what the limit refills at 10 INFO / 5 WARN a minute);
#   * quiet's first (and only) WARN still shows: flood's burst, spent, was
#     its own.
# Without per-port limits the INFO lines are not limited at all and the one
# shared WARN limit, spent by flood, hides quiet's line.
source "$(dirname "$0")/lib.sh"

CYCLES=${NVH_LOG_CYCLES:-60}
BURST=20
SLACK=2   # Refills at 10 a minute over the ~10 s of the flood.

nvh_require_port_type vhostuserclient
nvh_init
nvh_require_root
nvh_require_hugepages "$NVH_SOCKET_MEM"
[ -x /usr/bin/python3 ] || nvh_skip "/usr/bin/python3 missing (the frontend)"

# frontend SOCKET COUNT: a vhost-user "frontend" that accepts COUNT
# connections and on each sends a SET_FEATURES header (request 2, flags =
# version 1) with a 1 MiB payload size, then closes it; prints "done" when
# all were made.
frontend() {
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import os, socket, struct, sys
path, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
s.settimeout(60)
for _ in range(count):
    c, _ = s.accept()
    c.sendall(struct.pack("=III", 2, 1, 1 << 20))
    c.close()
print("done", flush=True)
EOF
}

nvh_ovs_start
nvh_add_bridge br0
sf=$(nvh_sock flood)
sq=$(nvh_sock quiet)
nvh_add_port br0 flood "$sf" 1
nvh_add_port br0 quiet "$sq" 2

frontend "$sf" "$CYCLES" > "$NVH_WORK/flood.out" 2>&1 &
nvh_register_pid frontend-flood $!
nvh_wait_for 120 "$CYCLES connections to flood" grep -q done "$NVH_WORK/flood.out" ||
    nvh_fail "flood's frontend: $(cat "$NVH_WORK/flood.out")"

frontend "$sq" 1 > "$NVH_WORK/quiet.out" 2>&1 &
nvh_register_pid frontend-quiet $!
nvh_wait_for 30 "one connection to quiet" grep -q done "$NVH_WORK/quiet.out" ||
    nvh_fail "quiet's frontend: $(cat "$NVH_WORK/quiet.out")"

count() { nvh_ovs_log | grep -c -- "$1"; }
quiet_warned() { [ "$(count "|netdev_vhost|WARN|.*$sq: disconnected: payload size")" -ge 1 ]; }
nvh_wait_for 10 "quiet's disconnect line" quiet_warned

connected=$(count "|netdev_vhost|INFO|.*$sf: connected to the frontend")
disconnected=$(count "|netdev_vhost|WARN|.*$sf: disconnected: payload size")
nvh_log "flood: $CYCLES connections, $connected 'connected' and $disconnected 'disconnected' lines"
nvh_log "$(nvh_ovs_log | grep -c 'Dropped [0-9]* log messages') 'Dropped N log messages' lines"
nvh_check_eq "flood's first connection logged" true "$([ "$connected" -ge 1 ] && echo true || echo false)"
nvh_check_eq "flood's first disconnect logged" true "$([ "$disconnected" -ge 1 ] && echo true || echo false)"
nvh_check_eq "flood's INFO lines within the limit" true \
    "$([ "$connected" -le $((BURST + SLACK)) ] && echo true || echo false)"
nvh_check_eq "flood's WARN lines within the limit" true \
    "$([ "$disconnected" -le $((BURST + SLACK)) ] && echo true || echo false)"
nvh_check_eq "quiet's first WARN logged" 1 \
    "$(count "|netdev_vhost|WARN|.*$sq: disconnected: payload size")"
nvh_ovs_alive || nvh_fail "ovs-vswitchd died"
nvh_finish
