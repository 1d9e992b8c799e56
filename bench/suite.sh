#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# suite.sh RESULTS.jsonl [CHART.png]: the runs of docs/performance.md, one
# bench/chain.sh each, results appended to RESULTS.jsonl; then the chart
# (bench/plot.py) if CHART.png is given.
#
#   NVH_BENCH_RUNS   runs of each case (3): every A/B chain, the A/A chains
#                    (the simple, l3 and NORMAL pipelines), the phychain
#                    (VM -> DPDK port and DPDK port -> VM side by side) and
#                    alternating vm2phy pairs of the two types
#   NVH_BENCH_SECS   seconds per run (30)
#   NVH_BENCH_LOCK   a lock file taken (flock) around each run, released
#                    between runs, for machines shared with other tests
#   NVH_BENCH_ONLY   run only the cases whose name matches this extended
#                    regular expression (e.g. '^(ab64|l3ab64)-')
# Runs chain.sh as root like the integration tests (see docs/testing.md).
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: suite.sh RESULTS.jsonl [CHART.png]}
chart=${2:-}
runs=${NVH_BENCH_RUNS:-3}
V=vhostuserclient D=dpdkvhostuserclient

# name  topology A B size ring [flows [queues]]
# The A/B chains alternate the positions of the two types (odd runs
# A=vhostuserclient, even runs A=dpdkvhostuserclient): the pair polled
# first is not exactly as cheap as the other (the A/A chain shows by how
# much; with the l3 and NORMAL pipelines by far more than with the
# simple one, so each has its own A/A chain), and bench/table.py --summary
# orients every run as vhostuserclient / dpdkvhostuserclient.
cases=()
for ((i = 1; i <= runs; i++)); do
    if ((i % 2)); then X=$V Y=$D; else X=$D Y=$V; fi
    cases+=("ab64-$i chain $X $Y 64 split" "aa64-$i chain $V $V 64 split"
            "ab512-$i chain $X $Y 512 split" "ab1518-$i chain $X $Y 1518 split"
            "ab64p-$i chain $X $Y 64 packed" "ab512p-$i chain $X $Y 512 packed"
            "ab1518p-$i chain $X $Y 1518 packed" "phy64-$i phychain $X $Y 64 split"
            "v2p-$i vm2phy $V - 64 split" "v2pd-$i vm2phy $D - 64 split"
            "l3ab64-$i chain $X $Y 64 split l3" "normab64-$i chain $X $Y 64 split normal"
            "l3aa64-$i chain $V $V 64 split l3" "normaa64-$i chain $V $V 64 split normal"
            "q4ab64-$i chain $X $Y 64 split simple 4")
done
cases+=("dd64 chain $D $D 64 split")

run() {
    if [ -n "${NVH_BENCH_LOCK:-}" ]; then
        flock "$NVH_BENCH_LOCK" "$@"
    else
        "$@"
    fi
}

for c in "${cases[@]}"; do
    read -r name topo a b size ring flows queues <<<"$c"
    [[ $name =~ ${NVH_BENCH_ONLY:-.} ]] || continue
    echo "=== $name: $topo A=$a B=$b $size B $ring ${flows:-simple} ${queues:-1}"
    run env NVH_BENCH_TOPO="$topo" NVH_BENCH_A="$a" NVH_BENCH_B="$b" \
        NVH_BENCH_SIZE="$size" NVH_BENCH_RING="$ring" NVH_BENCH_OUT="$out" \
        NVH_BENCH_FLOWS="${flows:-simple}" NVH_BENCH_QUEUES="${queues:-1}" \
        bash "$here/chain.sh" | grep -vE '^ +[0-9]+ +[0-9.]+ +[0-9.-]+$'
done
[ -z "$chart" ] || /usr/bin/python3 "$here/plot.py" "$out" "$chart"
