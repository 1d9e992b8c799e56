#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# chain.sh: PMD cycles per packet of vhostuserclient and OVS's built-in
# dpdkvhostuserclient, measured side by side in one ovs-vswitchd.
#
# Topology "chain" (the default): four vhost-user ports on one netdev bridge,
# all polled by ONE PMD thread, two of port type A (a1, a2) and two of type B
# (b1, b2), and ONE testpmd with four virtio_user ports p0..p3 in io
# forwarding with --port-topology=chained (p1 -> p2, p3 -> p0).  One ring of
# packets passes
#
#     p0 -> a1 => a2 -> p1 -> p2 -> b1 => b2 -> p3 -> p0
#
# (OpenFlow in_port=a1 -> a2, in_port=b1 -> b2), so both pairs carry exactly
# the same packets, under the same noise.  OVS's per-rxq cycle accounting
# charges each rxq with its receive, its datapath work and its share of the
# transmit to the output port: rxq a1 carries the cost of one A dequeue + one
# A enqueue, rxq b1 the same for B.  bench/sample.py samples it every second.
# testpmd's forwarding core records its own cycles per packet
# (--record-core-cycles): driver_cpp in the result, the guest's side.
#
# Topology "phychain": the chain with a DPDK port between the two ports of
# each pair, a net_ring device that receives what it is sent (a loopback):
#
#     p0 -> a1 -> ring0 -> a2 -> p1 -> p2 -> b1 -> ring1 -> b2 -> p3 -> p0
#
# Rxq a1 carries an A dequeue + datapath + a DPDK transmit (VM -> DPDK
# port), rxq ring0 a DPDK receive + datapath + an A enqueue (DPDK port ->
# VM); b1 and ring1 the same for B.  Two results, "vm2phy-chain" (a1/b1)
# and "phy2vm-chain" (ring0/ring1), at the same rate in the same process.
# The ring ports have 2 rxqs: OVS sends on txq 1 from the PMD thread (txq 0
# is the main thread's), and each txq loops back to the rxq of its number.
#
# Topologies "vm2phy" and "phy2vm" (one port type, A): a virtio_user port
# and a DPDK port on net_null (the "physical" port: it drops what it is sent
# and makes frames as fast as it is polled).  vm2phy: testpmd txonly -> a1 ->
# null0.  phy2vm: null0 -> a1 -> testpmd rxonly.  Compare types by
# alternating runs (A=vhostuserclient, then A=dpdkvhostuserclient).
#
# Environment (all optional):
#   NVH_BENCH_TOPO   chain | phychain | vm2phy | phy2vm (default chain)
#   NVH_BENCH_A      port type of a1/a2                (default vhostuserclient)
#   NVH_BENCH_B      port type of b1/b2                (default dpdkvhostuserclient)
#   NVH_BENCH_SIZE   frame size in bytes (64, 512, 1518...)     (default 64)
#   NVH_BENCH_RING   split | packed (virtio_user packed_vq=1)   (default split)
#   NVH_BENCH_SECS   seconds of measurement            (default 30)
#   NVH_BENCH_WARMUP seconds of traffic before it      (default 5)
#   NVH_BENCH_BURSTS tx_first bursts of 32 per injecting port (default 1)
#   NVH_BENCH_OUT    file the result line (JSON) is appended to (optional)
#   NVH_BENCH_HUGE   1: testpmd's memory, which the vhost-user ports map, is
#                    in 2 MB hugepages (--single-file-segments), as a VM's on
#                    an OVS-DPDK host; 0: plain 4 KB pages (--no-huge, as the
#                    integration tests run testpmd)   (default 1)
#   NVH_BENCH_NICE   nice value given to ovs-vswitchd's and testpmd's threads
#                    (default -10; empty: leave them alone)
#   NVH_BENCH_PERF   seconds of "perf record -g" on ovs-vswitchd after the
#                    measurement (0: none); report in the work directory
#   NVH_BENCH_PERF_ARGS  perf record options (default -g; ovs-vswitchd has no
#                    frame pointers: "--call-graph dwarf" for callers)
#   NVH_BENCH_FLOWS  chain: the OpenFlow pipeline of the two pairs
#                    simple  in_port=a1 -> a2, in_port=b1 -> b2 (OVS's
#                            simple-match fast path)             (default)
#                    l3      a table of IPv4 routes (nw_dst, 200 prefixes of
#                            several lengths; the frames' destination hits a
#                            /32 per input port): megaflows that match the
#                            destination address, looked up through the EMC
#                            and the megaflow classifier.  testpmd forwards
#                            with 5tswap, so that pair B carries the frames
#                            of pair A with source and destination swapped
#                            (198.18.0.1 its /32): otherwise both pairs'
#                            flows share the same EMC entries and the pair
#                            whose flow took the first one is cheaper
#                            (docs/performance.md)
#                    normal  each pair on a bridge of its own with
#                            actions=NORMAL for what a1 (b1) receives (MAC
#                            learning; the frames'
#                            destination is never learnt, so each is flooded
#                            to the pair's other port: the bridge's LOCAL
#                            port is set no-flood).  testpmd forwards with
#                            5tswap, as for l3: pair B carries pair A's
#                            frames with addresses and ports swapped
#   NVH_BENCH_QUEUES queue pairs of every virtio_user port and vhost-user
#                    port (testpmd --rxq/--txq) (default 1)
#   NVH_BENCH_FLOOR  seconds of the OVS floor measured after the run in the
#                    same ovs-vswitchd (0: none): testpmd stopped, a DPDK
#                    net_null port forwarding to another by an in_port flow;
#                    the cycles per packet of its rxq are what OVS itself
#                    costs with the cheapest ports, and each type's "vhost
#                    work" is its pair's cycles minus that floor (default 15)
# and those of tests/integration/lib.sh (NVH_BUILD_DIR, NVH_PMD_MASK,
# NVH_TP_LCORES, NVH_KEEP...).
#
# CPUs: the PMD thread runs on core 0 (pmd-cpu-mask 0x1), testpmd's
# forwarding lcore on core 1 (NVH_TP_LCORES=0,1: lcore 0 is testpmd's main
# lcore, which sleeps on its command input).  On a 2-core machine the two
# busy loops own one core each; ovs-vswitchd's main thread and the sampling
# share them.  Nothing else busy should run meanwhile (bench/suite.sh can
# take a lock file around each run: NVH_BENCH_LOCK).
#
# Linux schedules the processes started by one setsid() as a group
# (autogroup) and applies nice values within a group, so the script re-runs
# itself under setsid (testpmd joins its group), ovs-vswitchd detaches into a
# group of its own, and both groups are given the nice value too; both groups
# end with the run.
#
# NVH_TEST, NVH_KEEP and NVH_DONE are read by tests/integration/lib.sh.
# shellcheck disable=SC2034,SC2119
if [ -z "${NVH_BENCH_SETSID:-}" ]; then
    NVH_BENCH_SETSID=1 exec setsid -w bash "$0" "$@"
fi
NVH_TEST=bench-${NVH_BENCH_TOPO:-chain}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"

TOPO=${NVH_BENCH_TOPO:-chain}
TYPE_A=${NVH_BENCH_A:-vhostuserclient}
TYPE_B=${NVH_BENCH_B:-dpdkvhostuserclient}
SIZE=${NVH_BENCH_SIZE:-64}
RING=${NVH_BENCH_RING:-split}
SECS=${NVH_BENCH_SECS:-30}
WARMUP=${NVH_BENCH_WARMUP:-5}
BURSTS=${NVH_BENCH_BURSTS:-1}
PERF_SECS=${NVH_BENCH_PERF:-0}
FLOWS=${NVH_BENCH_FLOWS:-simple}
QUEUES=${NVH_BENCH_QUEUES:-1}
FLOOR_SECS=${NVH_BENCH_FLOOR:-15}
NICE=${NVH_BENCH_NICE--10}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)

case "$RING" in
    split) devargs="" ;;
    packed) devargs=",packed_vq=1" ;;
    *) nvh_fail "NVH_BENCH_RING must be split or packed" ;;
esac

nvh_init
nvh_require_root
nvh_require_cmd dpdk-testpmd
if [ "${NVH_BENCH_HUGE:-1}" = 1 ]; then
    export NVH_TP_HUGEPAGES=1
    nvh_require_hugepages $((NVH_SOCKET_MEM + 256))
else
    export NVH_TP_HUGEPAGES=0
    nvh_require_hugepages "$NVH_SOCKET_MEM"
fi

# add_port PORT TYPE OFPORT: a vhost-user client port of TYPE.
add_port() {
    NVH_PORT_TYPE=$2 nvh_add_port br0 "$1" "$(nvh_sock "$1")" "$3"
}

wait_ready() {
    NVH_PORT_TYPE=$2 nvh_wait_port_ready "$1" || nvh_fail "$1 ($2) not ready"
}

# Interface statistics (the column lags by up to 5 s) of the ports, as JSON.
port_counters() {
    local port first=1
    printf '{'
    for port in "$@"; do
        [ $first = 1 ] || printf ', '
        first=0
        printf '"%s": {' "$port"
        printf '"type": "%s", ' "$(nvh_iface_get "$port" type)"
        printf '"rx_packets": %s, "tx_packets": %s, ' \
            "$(nvh_iface_stat "$port" rx_packets)" "$(nvh_iface_stat "$port" tx_packets)"
        printf '"rx_dropped": %s, "tx_dropped": %s, ' \
            "$(nvh_iface_stat "$port" rx_dropped)" "$(nvh_iface_stat "$port" tx_dropped)"
        printf '"ovs_tx_failure_drops": %s, "ovs_tx_retries": %s}' \
            "$(nvh_iface_stat "$port" ovs_tx_failure_drops)" \
            "$(nvh_iface_stat "$port" ovs_tx_retries)"
    done
    printf '}\n'
}

nvh_ovs_start
nvh_add_bridge br0

# add_ring_port PORT N OFPORT: a DPDK port on the loopback device net_ringN.
add_ring_port() {
    local err
    vsctl add-port br0 "$1" -- set Interface "$1" type=dpdk \
        "options:dpdk-devargs=net_ring$2" options:n_rxq=2 ofport_request="$3" ||
        nvh_fail "cannot add the net_ring port $1"
    err=$(nvh_iface_get "$1" error)
    [ -z "$err" ] || [ "$err" = "[]" ] || nvh_fail "$1: $err"
}

# l3_flows BR IN OUT DST: the pair's route table: 200 prefixes of lengths 8
# to 32 (none covering 198.18.0.0/24), then DST/32 to OUT.
l3_flows() {
    local br=$1 in=$2 out=$3 dst=$4 i
    {
        for ((i = 0; i < 200; i++)); do
            echo "priority=$((8 + i % 25)),ip,in_port=$in,nw_dst=$((10 + i % 90)).$((i * 7 % 256)).0.0/$((8 + i % 25)),actions=drop"
        done
        echo "priority=40,ip,in_port=$in,nw_dst=$dst,actions=output:$out"
    } > "$NVH_WORK/l3-$in.flows"
    ofctl add-flows "$br" "$NVH_WORK/l3-$in.flows" || nvh_fail "cannot add the l3 flows"
}

# chain_flows: the chain's pipeline (NVH_BENCH_FLOWS).
chain_flows() {
    case "$FLOWS" in
    simple)
        nvh_flows br0 "in_port=1,actions=output:2" "in_port=3,actions=output:4" \
            "priority=0,actions=drop" ;;
    l3)
        nvh_flows br0 "priority=0,actions=drop"
        # testpmd's frames go to 198.18.0.2; 5tswap turns them around
        # on their way from pair A to pair B and back.
        l3_flows br0 1 2 198.18.0.2
        l3_flows br0 3 4 198.18.0.1 ;;
    normal)
        # b1 and b2 move to a bridge of their own.
        vsctl del-port br0 b1 -- del-port br0 b2 || nvh_fail "cannot move b1, b2"
        nvh_add_bridge br1
        NVH_PORT_TYPE=$TYPE_B nvh_add_port br1 b1 "$(nvh_sock b1)" 3
        NVH_PORT_TYPE=$TYPE_B nvh_add_port br1 b2 "$(nvh_sock b2)" 4
        # What a2 and b2 receive (testpmd's first bursts from p1 and p3)
        # is dropped, as in the other pipelines, else it would circulate
        # in a loop of its own in each pair.
        # So are p2's own first bursts into b1 (testpmd addresses a
        # port's tx_first frames to 02:00:00:00:00:<port>): only p0's
        # circulate, turned around by 5tswap between the pairs.
        nvh_flows br0 "priority=10,in_port=2,actions=drop" "priority=1,actions=NORMAL"
        nvh_flows br1 "priority=10,in_port=4,actions=drop" \
            "priority=10,in_port=3,dl_dst=02:00:00:00:00:02,actions=drop" \
            "priority=1,actions=NORMAL"
        # Not flooded to the bridges' own (tap) ports.
        ofctl mod-port br0 br0 no-flood && ofctl mod-port br1 br1 no-flood ||
            nvh_fail "cannot keep the LOCAL ports out of the flood" ;;
    *) nvh_fail "NVH_BENCH_FLOWS must be simple, l3 or normal" ;;
    esac
}

passes=1
pairs=()
if [ "$QUEUES" -gt 1 ]; then
    export NVH_TP_QUEUES=$QUEUES
    tp_queues=(--rxq="$QUEUES" --txq="$QUEUES" --total-num-mbufs=65536)
else
    tp_queues=()
fi
[ "$FLOWS" = simple ] || [ "$TOPO" = chain ] ||
    nvh_fail "NVH_BENCH_FLOWS=$FLOWS applies to the chain topology only"
case "$TOPO" in
chain|phychain)
    add_port a1 "$TYPE_A" 1
    add_port a2 "$TYPE_A" 2
    add_port b1 "$TYPE_B" 3
    add_port b2 "$TYPE_B" 4
    if [ "$TOPO" = chain ]; then
        chain_flows
        passes=2
        pairs=(--pair chain=a1/b1)
    else
        add_ring_port ring0 0 5
        add_ring_port ring1 1 6
        nvh_flows br0 "in_port=1,actions=output:5" "in_port=5,actions=output:2" \
            "in_port=3,actions=output:6" "in_port=6,actions=output:4" \
            "priority=0,actions=drop"
        passes=4
        pairs=(--pair vm2phy-chain=a1/b1 --pair phy2vm-chain=ring0/ring1)
    fi
    # p0..p3 = a1, a2, b1, b2.
    nvh_tp_start tp "$(nvh_sock a1)$devargs" "$(nvh_sock a2)$devargs" \
        "$(nvh_sock b1)$devargs" "$(nvh_sock b2)$devargs" -- --port-topology=chained \
        --record-core-cycles "${tp_queues[@]}"
    nvh_tp_sync tp 60
    wait_ready a1 "$TYPE_A"; wait_ready a2 "$TYPE_A"
    wait_ready b1 "$TYPE_B"; wait_ready b2 "$TYPE_B"
    ports=(a1 a2 b1 b2)
    [ "$TOPO" = phychain ] && ports+=(ring0 ring1)
    # tx_first: every testpmd port sends BURSTS bursts; those of p0 and p2
    # circulate, those of p1 and p3 (into a2, b2) meet the drop flow.  With
    # the l3 and normal pipelines only p0's circulate (p2's are addressed
    # to pair A's route, or dropped), so p0 sends twice as many: the same
    # frames in flight.
    fwd=io first=$BURSTS
    [ "$FLOWS" = simple ] || fwd=5tswap first=$((2 * BURSTS))
    nvh_tp_run tp "set fwd $fwd" "set burst 32" "set txpkts $SIZE" \
        "start tx_first $first"
    ;;
vm2phy|phy2vm)
    add_port a1 "$TYPE_A" 1
    # vm2phy: no-rx=1, so that null0 only drops what it is sent.
    nullargs="net_null0,size=$SIZE"
    [ "$TOPO" = vm2phy ] && nullargs="$nullargs,no-rx=1"
    vsctl add-port br0 null0 -- set Interface null0 type=dpdk \
        "options:dpdk-devargs=$nullargs" ofport_request=2 ||
        nvh_fail "cannot add the net_null port"
    err=$(nvh_iface_get null0 error)
    [ -z "$err" ] || [ "$err" = "[]" ] || nvh_fail "null0: $err"
    nvh_tp_start tp "$(nvh_sock a1)$devargs"
    nvh_tp_sync tp 60
    wait_ready a1 "$TYPE_A"
    ports=(a1 null0)
    if [ "$TOPO" = vm2phy ]; then
        nvh_flows br0 "in_port=1,actions=output:2" "priority=0,actions=drop"
        nvh_tp_run tp "set fwd txonly" "set burst 32" "set txpkts $SIZE" "start"
        pairs=(--pair vm2phy=a1/)
    else
        nvh_flows br0 "in_port=2,actions=output:1" "priority=0,actions=drop"
        nvh_tp_run tp "set fwd rxonly" "start"
        pairs=(--pair phy2vm=null0/)
    fi
    ;;
*) nvh_fail "unknown NVH_BENCH_TOPO $TOPO" ;;
esac

# Raise the priority of every thread of the two busy loops (ovs-vswitchd
# with its PMD thread, testpmd with its forwarding lcore) over background
# work such as builds.  Linux applies a nice value per thread.
if [ -n "$NICE" ]; then
    for pid in "$NVH_VSWITCHD_PID" "${NVH_TP_PID[tp]}"; do
        [ -w /proc/"$pid"/autogroup ] && echo "$NICE" > /proc/"$pid"/autogroup
        for task in /proc/"$pid"/task/*; do
            renice -n "$NICE" -p "${task##*/}" >/dev/null 2>&1
        done
    done
fi
appctl dpif-netdev/pmd-rxq-show | sed 's/^/    /'
# The features each vhost-user port negotiated (IN_ORDER, packed...).
for port in "${ports[@]}"; do
    f=$(nvh_iface_status "$port" features)
    [ -z "$f" ] || nvh_info "$port ($(nvh_iface_get "$port" type)): features $f"
done
nvh_info "topology $TOPO, A=$TYPE_A B=$TYPE_B, $SIZE B, $RING ring; warm-up ${WARMUP}s, measuring ${SECS}s"
sleep "$WARMUP"

label="$TOPO $SIZE B $RING A=$TYPE_A"
[ ${#ports[@]} -ge 4 ] && label="$label B=$TYPE_B"
/usr/bin/python3 "$BENCH_DIR/sample.py" --appctl "$NVH_PREFIX/bin/ovs-appctl" \
    --secs "$SECS" "${pairs[@]}" --passes "$passes" \
    --meta "topo=$TOPO" --meta "a=$TYPE_A" --meta "b=$TYPE_B" --meta "size=$SIZE" \
    --meta "ring=$RING" --meta "bursts=$BURSTS" --meta "flows=$FLOWS" --meta "queues=$QUEUES" --meta "secs=$SECS" \
    --meta "cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    --meta "guest_pages=$([ "$NVH_TP_HUGEPAGES" = 1 ] && echo 2M || echo 4K)" --label "$label" \
    > "$NVH_WORK/sample.out" &
sampler=$!
nvh_register_pid sampler "$sampler"

if [ "$PERF_SECS" -gt 0 ]; then
    # Profile the middle of the run.
    sleep $(( SECS > PERF_SECS ? (SECS - PERF_SECS) / 2 : 0 ))
    # shellcheck disable=SC2086  # a list of words
    perf record ${NVH_BENCH_PERF_ARGS:--g} -o "$NVH_WORK/perf.data" -p "$NVH_VSWITCHD_PID" -- sleep "$PERF_SECS" \
        > "$NVH_WORK/perf-record.log" 2>&1 || nvh_log "perf record failed"
fi
wait "$sampler" || nvh_fail "sampling failed: $(cat "$NVH_WORK/sample.out")"

# Stop the traffic; after OVS's next statistics refresh, the counters.
nvh_tp_run tp stop
# The driver's side: the cycles per packet of testpmd's forwarding core
# (--record-core-cycles; the whole run, warm-up included), which a change
# that slows the guest's CPU shows where the PMD's cycles do not.
driver=()
d=$(grep -o "CPU cycles/packet=[0-9.]*" "${NVH_TP_LOG[tp]}" | tail -n 1 | cut -d= -f2 || true)
[ -n "$d" ] && driver=(--driver-cpp "$d")
sleep 6
port_counters "${ports[@]}" > "$NVH_WORK/counters.json"

# The OVS floor, in the same ovs-vswitchd: net_null0 (makes frames as fast
# as it is polled) -> net_null1 (drops them), by an in_port flow.  Its rxq's
# cycles per packet: a DPDK receive + datapath + a DPDK transmit.
floor=()
if [ "$FLOOR_SECS" -gt 0 ] && [[ $TOPO == *chain ]]; then
    nvh_add_bridge brf
    vsctl add-port brf null0 -- set Interface null0 type=dpdk \
        "options:dpdk-devargs=net_null0,size=$SIZE" ofport_request=1 \
        -- add-port brf null1 -- set Interface null1 type=dpdk \
        "options:dpdk-devargs=net_null1,size=$SIZE,no-rx=1" ofport_request=2 ||
        nvh_fail "cannot add the net_null ports"
    nvh_flows brf "in_port=1,actions=output:2" "priority=0,actions=drop"
    sleep 6
    /usr/bin/python3 "$BENCH_DIR/sample.py" --appctl "$NVH_PREFIX/bin/ovs-appctl" \
        --secs "$FLOOR_SECS" --pair floor=null0/ --passes 1 --meta topo=floor \
        --label floor > "$NVH_WORK/floor.out" || nvh_fail "sampling the floor failed"
    /usr/bin/python3 "$BENCH_DIR/sample.py" --summarize "$NVH_WORK/floor.out" \
        > "$NVH_WORK/floor.txt" || nvh_fail "no floor: $(cat "$NVH_WORK/floor.txt")"
    f=$(sed -n 's/^RESULT //p' "$NVH_WORK/floor.txt" |
        /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["cpp_a"])')
    nvh_info "OVS floor (net_null -> net_null, same ovs-vswitchd): $f cycles/packet"
    floor=(--floor "$f")
fi
/usr/bin/python3 "$BENCH_DIR/sample.py" --summarize "$NVH_WORK/sample.out" \
    --counters "$NVH_WORK/counters.json" "${floor[@]}" "${driver[@]}" \
    ${NVH_BENCH_OUT:+--out "$NVH_BENCH_OUT"}

if [ "$PERF_SECS" -gt 0 ] && [ -s "$NVH_WORK/perf.data" ]; then
    perf report -i "$NVH_WORK/perf.data" --stdio --no-children --percent-limit 0.5 \
        -g none --sort symbol > "$NVH_WORK/perf-report.txt" 2>/dev/null
    nvh_info "perf report: $NVH_WORK/perf-report.txt (top entries:)"
    grep -E '^ +[0-9.]+%' "$NVH_WORK/perf-report.txt" | head -n 25
    NVH_KEEP=1
fi
NVH_DONE=pass
exit 0
