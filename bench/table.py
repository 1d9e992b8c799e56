"""Markdown table of bench/chain.sh results (the lines of $NVH_BENCH_OUT).

    /usr/bin/python3 bench/table.py RESULTS.jsonl...

One row per run, in file order: topology, frame size, ring, port types A and
B, Mpps (median of the intervals near the run's best), PMD cycles/packet of A
and of B, the ratio A/B and, for a chain of both types, the ratio
vhostuserclient / dpdkvhostuserclient, and the ports' drop and retry counters (sums over the
run's ports of tx_dropped, ovs_tx_failure_drops and ovs_tx_retries).
"""
import json
import sys

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
                chain = r["topo"] == "chain"
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


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
