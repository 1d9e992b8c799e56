"""Markdown table of bench/chain.sh results (the lines of $NVH_BENCH_OUT).

    /usr/bin/python3 bench/table.py RESULTS.jsonl...
    /usr/bin/python3 bench/table.py --summary RESULTS.jsonl...

One row per run, in file order: topology, frame size, ring, port types A and
B, Mpps (median of the intervals near the run's best), PMD cycles/packet of A
and of B, the ratio A/B and, for a chain of both types, the ratio
vhostuserclient / dpdkvhostuserclient, and the ports' drop and retry counters (sums over the
run's ports of tx_dropped, ovs_tx_failure_drops and ovs_tx_retries).

--summary: one row per case (topology, size, ring, port types), in order of
first appearance: the number of runs, the median of the runs' ratios
vhostuserclient / dpdkvhostuserclient (A/B for an A/A chain), every run's
ratio, and the medians of each port type's cycles/packet and of Mpps.  For
vm2phy and phy2vm, whose runs measure one type each, a row per type.  A
phychain run gives two results, vm2phy-chain and phy2vm-chain.
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
    print("| topology | size | ring | A | B | Mpps | A cyc/pkt | B cyc/pkt | A/B "
          "| vhostuserclient / dpdkvhostuserclient | intervals | tx_dropped | tx_failure_drops | tx_retries |")
    print("| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
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
                print(f"| {r['topo']} | {r['size']} | {r['ring']} | {r['a']} "
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
                b = r["b"] if paired(r) else "-"
                cases.setdefault((r["topo"], r["size"], r["ring"], r["a"], b), []).append(r)
    med = statistics.median
    print("| topology | size | ring | A | B | runs | ratio (median) | ratios "
          "| A cyc/pkt | B cyc/pkt | Mpps | drops + failures + retries |")
    print("| --- | ---: | --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for (topo, size, ring, a, b), rs in cases.items():
        ratios = []
        for r in rs:
            if r.get("ratio") is None:
                continue
            # Orient A/B chains as vhostuserclient / dpdkvhostuserclient.
            swapped = topo.endswith("chain") and a != b and a != "vhostuserclient"
            ratios.append(1 / r["ratio"] if swapped else r["ratio"])
        lost = sum(int(p[k]) for r in rs for p in r.get("ports", {}).values()
                   for k in ("tx_dropped", "ovs_tx_failure_drops", "ovs_tx_retries"))
        cpp_b = [r["cpp_b"] for r in rs if r.get("cpp_b") is not None]
        print(f"| {topo} | {size} | {ring} | {a} | {b} | {len(rs)} "
              f"| {cell(med(ratios) if ratios else None, '.3f')} "
              f"| {', '.join(format(x, '.3f') for x in ratios) or '-'} "
              f"| {med(r['cpp_a'] for r in rs):.0f} "
              f"| {cell(med(cpp_b) if cpp_b else None, '.0f')} "
              f"| {med(r['mpps'] for r in rs):.2f} | {lost} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--summary":
        summary(sys.argv[2:])
    else:
        main(sys.argv[1:])
