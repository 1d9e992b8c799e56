"""Samples and summarises OVS's PMD cycle accounting for bench/chain.sh.

Sampling (default mode): once a second, "ovs-appctl dpif-netdev/pmd-stats-show"
(packets received, idle and processing cycles of the PMD thread: exact
counters) and "dpif-netdev/pmd-rxq-show -secs 5" (each rxq's share of the PMD's
cycles over its last completed 5-second interval, in whole percent).  One JSON
object per sample is written to stdout.

Summary (--summarize FILE): per second, the ring's rate (Mpps) and the PMD's
busy cycles per packet; per PMD interval (each time the rxq shares change, i.e.
a new 5-second interval completed), the busy cycles of the 5 seconds before it
split by the rxq shares into the cycles per packet of port type A (rxq a1:
A dequeue + datapath + A enqueue) and B (rxq b1), and their ratio A/B.  Only
the intervals within 10 % of the run's best rate count: when the loop falls
into a slow state, a cost shared by both pairs pulls every ratio towards 1.

Standard library only: run it with the system python (/usr/bin/python3).
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
import time

NEAR_BEST = 0.9


def appctl(path, *args):
    return subprocess.run([path, "--timeout=10", *args], check=True,
                          capture_output=True, text=True).stdout


def parse_pmd_stats(text):
    """Counters of the (first) PMD thread in pmd-stats-show."""
    out = {}
    in_pmd = False
    for line in text.splitlines():
        if line.startswith("pmd thread"):
            if out:
                break
            in_pmd = True
            continue
        if not line.startswith(" "):
            in_pmd = False
        if not in_pmd:
            continue
        m = re.match(r"\s*(packets received|idle cycles|processing cycles):\s*(\d+)", line)
        if m:
            out[m.group(1).split()[0]] = int(m.group(2))
    return out


def parse_rxq_show(text):
    """{port: percent} and the overhead percent of pmd-rxq-show."""
    shares, overhead = {}, None
    for line in text.splitlines():
        m = re.match(r"\s*port:\s*(\S+)\s+queue-id:\s*(\d+).*pmd usage:\s*(\d+) %", line)
        if m and m.group(2) == "0":
            shares[m.group(1)] = int(m.group(3))
        m = re.match(r"\s*overhead:\s*(\d+) %", line)
        if m:
            overhead = int(m.group(1))
    return shares, overhead


def sample(args):
    meta = dict(kv.split("=", 1) for kv in args.meta)
    print(json.dumps({"meta": meta, "label": args.label,
                      "rxq_a": args.rxq_a, "rxq_b": args.rxq_b}), flush=True)
    start = time.monotonic()
    for i in range(args.secs + 1):
        # Keep to a 1-second grid.
        time.sleep(max(0.0, start + i - time.monotonic()))
        t = time.monotonic() - start
        stats = parse_pmd_stats(appctl(args.appctl, "dpif-netdev/pmd-stats-show"))
        shares, overhead = parse_rxq_show(
            appctl(args.appctl, "dpif-netdev/pmd-rxq-show", "-secs", "5"))
        print(json.dumps({"t": round(t, 3), **stats, "shares": shares,
                          "overhead": overhead}), flush=True)


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def summarize(args):
    with open(args.summarize) as f:
        lines = [json.loads(x) for x in f if x.strip()]
    head, samples = lines[0], lines[1:]
    meta, rxq_a, rxq_b = head["meta"], head["rxq_a"], head["rxq_b"]
    chain = meta.get("topo") == "chain"
    # Every ring pass is received twice by the PMD in the chain (a1, b1).
    passes = 2 if chain else 1

    print(f"# {head['label']}")
    print(f"{'t(s)':>5} {'Mpps':>7} {'busy cyc/pkt':>12}")
    for prev, cur in zip(samples, samples[1:]):
        dt = cur["t"] - prev["t"]
        pkts = (cur["packets"] - prev["packets"]) / passes
        busy = cur["processing"] - prev["processing"]
        print(f"{cur['t']:5.0f} {pkts / dt / 1e6:7.3f} "
              f"{fmt(busy / pkts if pkts else None):>12}")

    # PMD intervals (5 s each): the rxq shares changed between samples j-1
    # and j, or 5 samples passed since the last one (a steady load repeats
    # the same whole-percent shares, and an interval would go unnoticed).
    windows = []
    last = None
    for j in range(5, len(samples)):
        prev, cur = samples[j - 1], samples[j]
        same = (cur["shares"], cur["overhead"]) == (prev["shares"], prev["overhead"])
        if same and last is not None and j - last < 5:
            continue
        last = j
        first = samples[j - 5]
        dt = cur["t"] - first["t"]
        pkts = (cur["packets"] - first["packets"]) / passes
        busy = cur["processing"] - first["processing"]
        pa = cur["shares"].get(rxq_a, 0)
        pb = cur["shares"].get(rxq_b, 0) if rxq_b else 0
        total = pa + pb + (cur["overhead"] or 0)
        if not pkts or not total:
            continue
        cpp = busy / pkts
        windows.append({"t": cur["t"], "mpps": pkts / dt / 1e6, "cpp": cpp,
                        "pa": pa, "pb": pb, "overhead": cur["overhead"],
                        "cpp_a": cpp * pa / total,
                        "cpp_b": cpp * pb / total if rxq_b else None,
                        "ratio": pa / pb if pb else None})
    if not windows:
        print("no complete PMD interval was sampled", file=sys.stderr)
        sys.exit(1)
    best = max(w["mpps"] for w in windows)
    near = [w for w in windows if w["mpps"] >= NEAR_BEST * best]
    print()
    print(f"{'t(s)':>5} {'Mpps':>7} {'cyc/pkt':>8} {'A %':>4} {'B %':>4} {'ovh %':>5} "
          f"{'A cyc/pkt':>9} {'B cyc/pkt':>9} {'A/B':>6}  (5-s PMD intervals; * = near best)")
    for w in windows:
        print(f"{w['t']:5.0f} {w['mpps']:7.3f} {w['cpp']:8.1f} {w['pa']:4d} {w['pb']:4d} "
              f"{w['overhead'] or 0:5d} {fmt(w['cpp_a']):>9} {fmt(w['cpp_b']):>9} "
              f"{fmt(w['ratio'], 3):>6}  {'*' if w in near else ''}")

    med = statistics.median
    result = dict(meta)
    result.update({
        "label": head["label"],
        "intervals": len(windows), "near_best": len(near),
        "best_mpps": round(best, 3),
        "mpps": round(med(w["mpps"] for w in near), 3),
        "cpp": round(med(w["cpp"] for w in near), 1),
        "cpp_a": round(med(w["cpp_a"] for w in near), 1),
    })
    if rxq_b:
        sa, sb = sum(w["pa"] for w in near), sum(w["pb"] for w in near)
        result["cpp_b"] = round(med(w["cpp_b"] for w in near), 1)
        result["ratio"] = round(sa / sb, 3) if sb else None
    if args.counters:
        with open(args.counters) as f:
            result["ports"] = json.load(f)

    print()
    print(f"summary ({len(near)} of {len(windows)} intervals within "
          f"{100 - NEAR_BEST * 100:.0f} % of the best, {fmt(best, 3)} Mpps):")
    print(f"  Mpps {result['mpps']:.3f}, PMD busy cycles/packet {result['cpp']:.1f}")
    print(f"  A {meta.get('a')}: {result['cpp_a']:.1f} cycles/packet")
    if rxq_b:
        print(f"  B {meta.get('b')}: {result['cpp_b']:.1f} cycles/packet")
        print(f"  ratio A/B (sum of A shares / sum of B shares): {fmt(result['ratio'], 3)}")
    for port, c in result.get("ports", {}).items():
        print(f"  {port} ({c['type']}): rx {c['rx_packets']} tx {c['tx_packets']} "
              f"rx_dropped {c['rx_dropped']} tx_dropped {c['tx_dropped']} "
              f"ovs_tx_failure_drops {c['ovs_tx_failure_drops']} "
              f"ovs_tx_retries {c['ovs_tx_retries']}")
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")
    print("RESULT " + json.dumps({k: v for k, v in result.items() if k != "ports"}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--appctl")
    p.add_argument("--secs", type=int, default=30)
    p.add_argument("--rxq-a", default="a1")
    p.add_argument("--rxq-b", default="")
    p.add_argument("--meta", action="append", default=[])
    p.add_argument("--label", default="")
    p.add_argument("--summarize")
    p.add_argument("--counters")
    p.add_argument("--out")
    args = p.parse_args()
    summarize(args) if args.summarize else sample(args)


if __name__ == "__main__":
    main()
