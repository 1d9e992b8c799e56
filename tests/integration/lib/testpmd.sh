# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Integration-test library, the testpmd part: dpdk-testpmd with virtio_user
# frontends (server mode) for the ports under test.
# Sourced by ../lib.sh (which the test scripts source), not on its own.

# ---------------------------------------------------------------------------
# testpmd with virtio_user frontends
#
# testpmd runs interactively with its stdin on a FIFO that the test keeps open
# on a file descriptor; commands are written to it and their output is read
# from the log.  testpmd prints no prompt on a non-terminal, so a command is
# known to be done when the output of a later "set verbose 0" ("Change verbose
# level ...") appears: testpmd runs commands one at a time, in order.
# ---------------------------------------------------------------------------

declare -A NVH_TP_FD=() NVH_TP_LOG=() NVH_TP_PID=()

# nvh_setup_testpmd_test: the start of a test with testpmd frontends: work
# directory and clean-up (nvh_init), root, dpdk-testpmd, and hugepages for
# NVH_SOCKET_MEM (set it first to change it).
nvh_setup_testpmd_test() {
    nvh_init
    nvh_require_root
    nvh_require_cmd dpdk-testpmd
    nvh_require_hugepages "$NVH_SOCKET_MEM"
}

# nvh_tp_start NAME SOCKET[,DEVARGS]... [-- EXTRA-TESTPMD-ARGS]: one
# virtio_user port per socket (DEVARGS: more virtio_user arguments such as
# mac=02:00:00:00:00:01) (server=1: testpmd listens; the OVS port connects to it).  testpmd
# blocks in start-up until every port has connected.
nvh_tp_start() {
    local name=$1 i=0 fifo log prefix pid fd
    local vdevs=() extra=() mem
    shift
    nvh_require_cmd dpdk-testpmd
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; extra=("$@"); break; fi
        rm -f "${1%%,*}"
        vdevs+=(--vdev "net_virtio_user$i,path=$1,server=1,queues=${NVH_TP_QUEUES:-1},queue_size=1024")
        i=$((i + 1))
        shift
    done
    # Guest memory: 256 MB of plain memory, or of hugepages in one file per
    # memory segment list (NVH_TP_HUGEPAGES=1, the caller has reserved them).
    if [ "${NVH_TP_HUGEPAGES:-0}" = 1 ]; then
        mem=(-m 256 --single-file-segments)
    else
        mem=(--no-huge -m 256)
    fi
    fifo=$NVH_WORK/$name.in
    log=$NVH_WORK/$name.log
    prefix="nvh$$$name"
    NVH_DPDK_PREFIXES+=("$prefix")
    rm -f "$fifo"
    mkfifo "$fifo" || nvh_fail "mkfifo $fifo failed"
    # stdbuf: testpmd's stdout is a file; without it replies stay buffered.
    stdbuf -o0 -e0 dpdk-testpmd -l "$NVH_TP_LCORES" "${mem[@]}" --file-prefix="$prefix" \
        --no-pci "${vdevs[@]}" -- -i --total-num-mbufs=16384 "${extra[@]}" \
        < "$fifo" >> "$log" 2>&1 &
    pid=$!
    exec {fd}>"$fifo"
    nvh_register_pid "testpmd-$name" "$pid"
    NVH_TP_FD[$name]=$fd
    NVH_TP_LOG[$name]=$log
    NVH_TP_PID[$name]=$pid
    nvh_log "testpmd $name started (pid $pid, $i port(s))"
}

# nvh_tp_stop NAME: closes testpmd's stdin (it quits), KILL if it hangs.
nvh_tp_stop() {
    local name=$1
    [ -n "${NVH_TP_FD[$name]:-}" ] || return 0
    eval "exec ${NVH_TP_FD[$name]}>&-"
    nvh_stop_pid "testpmd-$name" "${NVH_TP_PID[$name]}" 5
    unset "NVH_TP_FD[$name]"
    nvh_log "testpmd $name stopped"
}

# nvh_tp_kill NAME: SIGKILL, as a crashing frontend.
nvh_tp_kill() {
    local name=$1
    eval "exec ${NVH_TP_FD[$name]}>&-"
    kill -KILL "${NVH_TP_PID[$name]}" 2>/dev/null
    wait "${NVH_TP_PID[$name]}" 2>/dev/null
    unset "NVH_TP_FD[$name]"
    nvh_log "testpmd $name killed"
}

# nvh_tp_cmd NAME LINE...: sends command lines (does not wait).
nvh_tp_cmd() {
    local name=$1 line
    shift
    nvh_alive "${NVH_TP_PID[$name]}" || nvh_fail "testpmd $name is not running"
    for line in "$@"; do
        printf '%s\n' "$line" >&"${NVH_TP_FD[$name]}" ||
            nvh_fail "cannot write to testpmd $name"
    done
}

nvh__tp_markers() { grep -c 'Change verbose level from' "${NVH_TP_LOG[$1]}"; }

nvh__tp_synced() {
    nvh_alive "${NVH_TP_PID[$1]}" || nvh_fail "testpmd $1 died (log: ${NVH_TP_LOG[$1]})"
    [ "$(nvh__tp_markers "$1")" -gt "$2" ]
}

# nvh_tp_sync NAME [TIMEOUT]: waits until testpmd has run every command sent
# so far (including start-up, i.e. all its ports have connected).
nvh_tp_sync() {
    local name=$1 n
    n=$(nvh__tp_markers "$name")
    nvh_tp_cmd "$name" "set verbose 0"
    nvh_wait_for "${2:-60}" "testpmd $name to process its commands" \
        nvh__tp_synced "$name" "$n" || nvh_fail "testpmd $name is stuck"
}

# nvh_tp_run NAME LINE...: sends command lines and waits for them.
nvh_tp_run() {
    local name=$1
    nvh_tp_cmd "$@"
    nvh_tp_sync "$name"
}

# nvh_tp_stats NAME: prints "PORT RX-packets RX-bytes TX-packets TX-bytes"
# per port, from a fresh "show port stats all".
nvh_tp_stats() {
    local name=$1 off
    off=$(stat -c %s "${NVH_TP_LOG[$name]}")
    nvh_tp_run "$name" "show port stats all"
    tail -c +"$((off + 1))" "${NVH_TP_LOG[$name]}" | awk '
        /NIC statistics for port/ { for (i = 1; i <= NF; i++) if ($i == "port") p = $(i + 1) }
        /RX-packets:/ { for (i = 1; i <= NF; i++) { if ($i == "RX-packets:") rp[p] = $(i + 1); if ($i == "RX-bytes:") rb[p] = $(i + 1) } }
        /TX-packets:/ { for (i = 1; i <= NF; i++) { if ($i == "TX-packets:") tp[p] = $(i + 1); if ($i == "TX-bytes:") tb[p] = $(i + 1) } }
        END { for (q in rp) print q, rp[q], rb[q], tp[q], tb[q] }' | sort -n
}

# nvh_tp_port_stat NAME PORT FIELD: FIELD is rx_packets, rx_bytes, tx_packets
# or tx_bytes.
nvh_tp_port_stat() {
    local col
    case "$3" in
        rx_packets) col=2 ;; rx_bytes) col=3 ;; tx_packets) col=4 ;; tx_bytes) col=5 ;;
        *) nvh_fail "unknown testpmd field $3" ;;
    esac
    nvh_tp_stats "$1" | awk -v p="$2" -v c="$col" '$1 == p { print $c; f = 1 } END { if (!f) print "?" }'
}

nvh__tp_rx_reached() {
    local got
    got=$(nvh_tp_port_stat "$1" "$2" rx_packets)
    [ "$got" != "?" ] && [ "$got" -ge "$3" ]
}

# nvh_tp_send NAME BURSTS SIZE: every port of testpmd NAME sends BURSTS bursts
# of 32 frames of SIZE bytes ("start tx_first"), then keeps receiving
# (rxonly) until "stop".  Counters are cleared first.
nvh_tp_send() {
    local name=$1 bursts=$2 size=$3
    nvh_tp_run "$name" "stop" "clear port stats all" "set fwd rxonly" \
        "set burst 32" "set txpkts $size" "start tx_first $bursts"
}

# nvh_tp_wait_rx NAME PORT EXPECTED [TIMEOUT]: waits until PORT has received
# at least EXPECTED frames, then a second more (to catch extra frames);
# prints the final count.
nvh_tp_wait_rx() {
    nvh_wait_for "${4:-20}" "testpmd $1 port $2 to receive $3 frames" \
        nvh__tp_rx_reached "$1" "$2" "$3" >/dev/null
    sleep 1
    nvh_tp_port_stat "$1" "$2" rx_packets
}

# nvh_tp_exchange NAME BURSTS SIZE: each of testpmd NAME's two ports sends
# BURSTS bursts of 32 frames of SIZE bytes (rxonly otherwise); checks that
# each port sent and received exactly that many frames and bytes.
nvh_tp_exchange() {
    local tp=$1 n=$(($2 * 32)) size=$3 stats p rxp rxb txp
    nvh_tp_send "$tp" "$2" "$size"
    nvh_tp_wait_rx "$tp" 1 "$n" >/dev/null
    nvh_tp_wait_rx "$tp" 0 "$n" >/dev/null
    stats=$(nvh_tp_stats "$tp")
    nvh_tp_run "$tp" stop
    echo "$stats" | sed 's/^/    testpmd port rx_pkts rx_bytes tx_pkts tx_bytes: /'
    for p in 0 1; do
        read -r _ rxp rxb txp _ <<<"$(echo "$stats" | awk -v p=$p '$1 == p')"
        nvh_check_eq "testpmd port $p TX-packets ($size B)" "$n" "${txp:-?}"
        nvh_check_eq "testpmd port $p RX-packets ($size B)" "$n" "${rxp:-?}"
        nvh_check_eq "testpmd port $p RX-bytes ($size B)" "$((n * size))" "${rxb:-?}"
    done
}

# nvh_tp_start_wait NAME SOCKET[,DEVARGS]... [-- EXTRA-TESTPMD-ARGS]: starts
# testpmd NAME as nvh_tp_start does, waits until it has connected all its
# ports, then until the OVS port on each socket is ready; the sockets are
# the ports' own (nvh_sock PORT), so each port is named after its socket.
nvh_tp_start_wait() {
    local name=$1 a port
    nvh_tp_start "$@"
    nvh_tp_sync "$name" 60
    shift
    for a in "$@"; do
        [ "$a" = -- ] && break
        port=${a%%,*}
        port=${port##*/}
        port=${port%.sock}
        nvh_wait_port_ready "$port" || nvh_fail "$port not ready"
    done
}

# nvh_two_port_testpmd NAME [-- EXTRA-TESTPMD-ARGS]: the usual testpmd set-up
# on a running OVS: the two ports of nvh_two_port_bridge (crossed flows) and
# testpmd NAME with one virtio_user port on each (port 0 on vhu0, port 1 on
# vhu1, both with the devargs in NVH_TP_DEVARGS, e.g. ",packed_vq=1");
# returns when both ports are ready.
nvh_two_port_testpmd() {
    local name=$1
    shift
    nvh_two_port_bridge
    nvh_tp_start_wait "$name" "$(nvh_sock vhu0)${NVH_TP_DEVARGS:-}" \
        "$(nvh_sock vhu1)${NVH_TP_DEVARGS:-}" "$@"
}
