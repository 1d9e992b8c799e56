# SPDX-License-Identifier: Apache-2.0
"""Markdown table of bench/chain.sh results (the lines of $NVH_BENCH_OUT).

    /usr/bin/python3 bench/table.py RESULTS.jsonl...
    /usr/bin/python3 bench/table.py --summary RESULTS.jsonl...

One row per run, in file order: topology, frame size, ring, port types A and
B, Mpps (median of the intervals near the run's best), PMD cycles/packet of A
and of B, the ratio A/B and, for a chain of both types, the ratio
vhostuserclient / dpdkvhostuserclient, and the ports' drop and retry counters (sums over the
run's ports of tx_dropped, ovs_tx_failure_drops and ovs_tx_retries).

--summary: one row per case (topology, size, ring, guest pages, OpenFlow
pipeline, queue pairs, port types), in order of first appearance: the number
of runs, the median of the runs' ratios vhostuserclient /
dpdkvhostuserclient (A/B for an A/A chain), every run's ratio, the medians
of the runs with vhostuserclient polled first (A) and second (B), the median of
the ratios over every interval of each run (not only those near its best
rate), and the medians of each port type's cycles/packet, of the OVS floor
measured in the same runs (NVH_BENCH_FLOOR), of each type's vhost work (its
cycles minus the floor), of the driver's cycles/packet (testpmd's
forwarding core, driver_cpp) and of Mpps.  A chain of both types is one case
whichever type was A: runs with A=dpdkvhostuserclient count with their ratio
inverted and their columns swapped (marked "(B/A)" in the list of ratios),
so that runs in both positions cancel the chain's own position bias (see the
A/A rows).  For vm2phy and phy2vm, whose runs measure one type each, a row
per type.  A phychain run gives two results, vm2phy-chain and phy2vm-chain.
Guest pages are those of testpmd's memory (2M or 4K; 4K for lines that do
not say).
"""
import json
import statistics
import sys

def paired(r):
    """Whether the run compared two rxqs in one process (chain, and the
    vm2phy-chain and phy2vm-chain results of a phychain run)."""
    return r["topo"].endswith("chain")


def cell(x, fmt):
    return "-" if x is None else format(x, fmt)


def main(paths):
    print("| topology | size | ring | guest pages | A | B | Mpps | A cyc/pkt | B cyc/pkt | A/B "
          "| vhostuserclient / dpdkvhostuserclient | intervals | tx_dropped | tx_failure_drops | tx_retries |")
    print("| --- | ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path in paths:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                ports = r.get("ports", {}).values()
                chain = paired(r)
                drops = sum(int(p["tx_dropped"]) for p in ports)
                fails = sum(int(p["ovs_tx_failure_drops"]) for p in ports)
                retries = sum(int(p["ovs_tx_retries"]) for p in ports)
                ratio, vd = r.get("ratio"), None
                if chain and ratio and r["a"] != r["b"]:
                    vd = ratio if r["a"] == "vhostuserclient" else 1 / ratio
                print(f"| {r['topo']} | {r['size']} | {r['ring']} | {r.get('guest_pages', '4K')} | {r['a']} "
                      f"| {r['b'] if chain else '-'} | {r['mpps']:.2f} "
                      f"| {cell(r['cpp_a'], '.0f')} | {cell(r.get('cpp_b'), '.0f')} "
                      f"| {cell(ratio, '.3f')} | {cell(vd, '.3f')} | {r['near_best']}/{r['intervals']} "
                      f"| {drops} | {fails} | {retries} |")


def summary(paths):
    cases = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                a, b = r["a"], r["b"] if paired(r) else "-"
                swapped = paired(r) and a != b and a != "vhostuserclient"
                if swapped:
                    a, b = b, a
                key = (r["topo"], r["size"], r["ring"], r.get("guest_pages", "4K"),
                       r.get("flows", "simple"), r.get("queues", "1"), a, b)
                cases.setdefault(key, []).append((r, swapped))
    med = statistics.median
    print("| topology | size | ring | guest pages | flows | queues | A | B | runs "
          "| ratio (median) | ratios | ours first / second (medians) "
          "| ratio, every interval (median) "
          "| A cyc/pkt | B cyc/pkt | OVS floor | A vhost work | B vhost work "
          "| driver cyc/pkt | Mpps | drops + failures + retries |")
    print("| --- | ---: | --- | --- | --- | ---: | --- | --- | ---: | ---: | --- | --- | ---: "
          "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (topo, size, ring, pages, flows, queues, a, b), rs in cases.items():
        ratios, ratios_all, shown, cpp_a, cpp_b = [], [], [], [], []
        first, second = [], []   # ratios with vhostuserclient as A / as B
        floors, work_a, work_b = [], [], []
        for r, swapped in rs:
            ca, cb = (r.get("cpp_b"), r["cpp_a"]) if swapped else (r["cpp_a"], r.get("cpp_b"))
            wa, wb = (r.get("work_b"), r.get("work_a")) if swapped else (r.get("work_a"), r.get("work_b"))
            cpp_a.append(ca)
            if cb is not None:
                cpp_b.append(cb)
            if r.get("floor") is not None:
                floors.append(r["floor"])
                work_a.append(wa)
                if wb is not None:
                    work_b.append(wb)
            if r.get("ratio") is None:
                continue
            # Oriented as vhostuserclient / dpdkvhostuserclient.
            ratios.append(1 / r["ratio"] if swapped else r["ratio"])
            shown.append(format(ratios[-1], ".3f") + (" (B/A)" if swapped else ""))
            (second if swapped else first).append(ratios[-1])
            if r.get("ratio_all"):
                ratios_all.append(1 / r["ratio_all"] if swapped else r["ratio_all"])
        lost = sum(int(p[k]) for r, _ in rs for p in r.get("ports", {}).values()
                   for k in ("tx_dropped", "ovs_tx_failure_drops", "ovs_tx_retries"))
        def m(xs, fmt=".0f"):
            return cell(med(xs) if xs else None, fmt)
        print(f"| {topo} | {size} | {ring} | {pages} | {flows} | {queues} | {a} | {b} | {len(rs)} "
              f"| {m(ratios, '.3f')} "
              f"| {', '.join(shown) or '-'} "
              f"| {m(first, '.3f')} / {m(second, '.3f')} "
              f"| {m(ratios_all, '.3f')} "
              f"| {med(cpp_a):.0f} | {m(cpp_b)} "
              f"| {m(floors)} | {m(work_a)} | {m(work_b)} "
              f"| {m([r['driver_cpp'] for r, _ in rs if r.get('driver_cpp') is not None])} "
              f"| {med(r['mpps'] for r, _ in rs):.2f} | {lost} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--summary":
        summary(sys.argv[2:])
    else:
        main(sys.argv[1:])
