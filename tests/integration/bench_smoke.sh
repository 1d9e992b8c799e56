#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_smoke: the benchmark of docs/performance.md still runs and reports.
# Not a performance test: no number is compared with a threshold (these
# machines are shared and noisy; bench/chain.sh is where speed is measured).
#
# Runs bench/chain.sh three times, briefly (NVH_BENCH_SECS, 10 s): the A/B
# chain (64 B, split ring, testpmd memory in hugepages), the phychain with
# the types swapped (A=dpdkvhostuserclient, packed ring, 4 KB pages) and the
# chain with the l3 pipeline (whose pair B routes the frames testpmd's
# 5tswap turned around: every frame b1 received, b2 sent on, but for
# testpmd's first bursts into b1, which go to pair A's address).  Checks
# that each exits 0 and writes its result lines (one, two, one) with
# positive rates and cycles for both port types and the driver (testpmd),
# every port of the run present with its counters, no packet dropped or
# retried (the chain's frames circulate: a drop would show a broken port),
# every packet that a1 received sent on by a2; that bench/table.py reads
# them (the swapped run oriented as vhostuserclient / dpdkvhostuserclient);
# and that the benchmark left none of its processes, sockets or DPDK files
# behind.
source "$(dirname "$0")/lib.sh"

SECS=${NVH_BENCH_SECS:-10}
BENCH=$NVH_REPO/bench

nvh_init
nvh_require_root
nvh_require_cmd dpdk-testpmd
nvh_require_ovs

out=$NVH_WORK/results.jsonl
before_runs=$(ls /var/run/dpdk 2>/dev/null | sort)
before_huge=$(ls /dev/hugepages 2>/dev/null | sort)

# run NAME ENV...: one chain.sh run, its output in $NVH_WORK/NAME.log.
run() {
    local name=$1
    shift
    nvh_log "bench/chain.sh $*"
    env NVH_BENCH_SECS="$SECS" NVH_BENCH_WARMUP=2 NVH_BENCH_OUT="$out" NVH_TMPDIR="$NVH_WORK" \
        "$@" bash "$BENCH/chain.sh" > "$NVH_WORK/$name.log" 2>&1
    local rc=$?
    tail -3 "$NVH_WORK/$name.log"
    [ "$rc" -eq 0 ] || nvh_fail "chain.sh ($name) exited $rc; see $NVH_WORK/$name.log"
}

run chain NVH_BENCH_TOPO=chain NVH_BENCH_SIZE=64 NVH_BENCH_RING=split
run phychain NVH_BENCH_TOPO=phychain NVH_BENCH_SIZE=512 NVH_BENCH_RING=packed \
    NVH_BENCH_HUGE=0 NVH_BENCH_A=dpdkvhostuserclient NVH_BENCH_B=vhostuserclient
run l3 NVH_BENCH_TOPO=chain NVH_BENCH_SIZE=64 NVH_BENCH_RING=split NVH_BENCH_FLOWS=l3

checks=$(/usr/bin/python3 - "$out" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
want = [("chain", "vhostuserclient", "64", "split", "2M", "simple", ["a1", "a2", "b1", "b2"]),
        ("vm2phy-chain", "dpdkvhostuserclient", "512", "packed", "4K", "simple",
         ["a1", "a2", "b1", "b2", "ring0", "ring1"]),
        ("phy2vm-chain", "dpdkvhostuserclient", "512", "packed", "4K", "simple",
         ["a1", "a2", "b1", "b2", "ring0", "ring1"]),
        ("chain", "vhostuserclient", "64", "split", "2M", "l3", ["a1", "a2", "b1", "b2"])]
print("lines", len(lines))
for r, (topo, a, size, ring, pages, flows, ports) in zip(lines, want):
    ok = (r["topo"] == topo and r["a"] == a and r["size"] == size and r["ring"] == ring
          and r["flows"] == flows
          and r["guest_pages"] == pages and sorted(r["ports"]) == sorted(ports)
          and r["mpps"] > 0 and r["cpp_a"] > 0 and r["cpp_b"] > 0 and r["ratio"] > 0
          and r["near_best"] >= 1 and r.get("driver_cpp", 0) > 0)
    lost = sum(int(p[k]) for p in r["ports"].values()
               for k in ("tx_dropped", "ovs_tx_failure_drops", "ovs_tx_retries"))
    a1, a2 = r["ports"]["a1"], r["ports"]["a2"]
    passed = (int(a2["tx_packets"]) == int(a1["rx_packets"]) > 0)
    if flows == "l3":
        # b1 also received testpmd's own first bursts (2 x 32 frames to
        # 198.18.0.2, pair A's route), which its route table drops.
        b1, b2 = r["ports"]["b1"], r["ports"]["b2"]
        passed = passed and int(b2["tx_packets"]) == int(b1["rx_packets"]) - 64 > 0
        if not passed:
            a1, a2 = b1, b2
    print(f"{topo}/{flows}", "fields", "ok" if ok else "bad:" + json.dumps(r)[:300],
          "lost", lost, "a1->a2", "ok" if passed else f'{a1["rx_packets"]} {a2["tx_packets"]}')
EOF
)
echo "$checks"
nvh_check_eq "result lines" 4 "$(awk '$1 == "lines" { print $2 }' <<<"$checks")"
while read -r topo _ fields _ lost _ passed; do
    nvh_check_eq "$topo: fields" ok "$fields"
    nvh_check_eq "$topo: drops + failures + retries" 0 "$lost"
    nvh_check_eq "$topo: every frame a1 received, a2 sent (l3: b1, b2 too)" ok "$passed"
done < <(grep -v '^lines' <<<"$checks")

summary=$(/usr/bin/python3 "$BENCH/table.py" --summary "$out")
echo "$summary"
nvh_check_eq "summary rows" 4 "$(grep -c '^| .*chain |' <<<"$summary")"
# The swapped phychain is reported as vhostuserclient against the built-in.
nvh_check_eq "swapped runs oriented" 2 \
    "$(grep -c '| vhostuserclient | dpdkvhostuserclient | 1 | .* (B/A) |' <<<"$summary")"

# Nothing of the benchmark's left: its work directories (under ours) hold
# no socket, no process of its runs is alive, no DPDK runtime directory or
# hugepage file of them remains.
nvh_check_eq "sockets left" "" "$(find "$NVH_WORK" -type s 2>/dev/null)"
pids=$(grep -ho 'pid [0-9]*' "$NVH_WORK"/*.log | awk '{ print $2 }' | sort -u)
alive=""
for p in $pids; do
    nvh_alive "$p" && alive="$alive $p"
done
nvh_check_eq "processes of the runs still alive" "" "$alive"
nvh_check_eq "DPDK runtime directories" "$before_runs" "$(ls /var/run/dpdk 2>/dev/null | sort)"
nvh_check_eq "hugepage files" "$before_huge" "$(ls /dev/hugepages 2>/dev/null | sort)"
nvh_finish
