# SPDX-License-Identifier: Apache-2.0
"""Samples and summarises OVS's PMD cycle accounting for bench/chain.sh.

Sampling (default mode): once a second, "ovs-appctl dpif-netdev/pmd-stats-show"
(packets received, idle and processing cycles of the PMD thread: exact
counters) and "dpif-netdev/pmd-rxq-show -secs 5" (each rxq's share of the PMD's
cycles over its last completed 5-second interval, in whole percent).  One JSON
object per sample is written to stdout.

Summary (--summarize FILE): per second, the ring's rate (Mpps) and the PMD's
busy cycles per packet; per PMD interval (each time the rxq shares change, i.e.
a new 5-second interval completed), the busy cycles of the 5 seconds before it
split by the rxq shares (all queues of a port together; the shares of every
port and the PMD's overhead make up its busy cycles) into the cycles per
packet of each compared pair of rxqs: port type A (chain: rxq a1, A dequeue +
datapath + A enqueue) and B (rxq b1), and their ratio A/B.  One result per
pair (--pair NAME=RXQ_A/RXQ_B, or --rxq-a/--rxq-b named after the topology).
Only the intervals within 10 % of the run's best rate count: when the loop
falls into a slow state, a cost shared by both pairs pulls every ratio
towards 1.

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
    """{port: percent, all its queues} and the overhead percent of
    pmd-rxq-show."""
    shares, overhead = {}, None
    for line in text.splitlines():
        m = re.match(r"\s*port:\s*(\S+)\s+queue-id:\s*(\d+).*pmd usage:\s*(\d+) %", line)
        if m:
            shares[m.group(1)] = shares.get(m.group(1), 0) + int(m.group(3))
        m = re.match(r"\s*overhead:\s*(\d+) %", line)
        if m:
            overhead = int(m.group(1))
    return shares, overhead


def pairs_of(args, meta):
    """[(name, rxq_a, rxq_b)] from --pair NAME=A/B, else --rxq-a/--rxq-b."""
    if not args.pair:
        return [(meta.get("topo", ""), args.rxq_a, args.rxq_b)]
    out = []
    for p in args.pair:
        name, rxqs = p.split("=", 1)
        a, b = rxqs.split("/", 1)
        out.append((name, a, b))
    return out


def sample(args):
    meta = dict(kv.split("=", 1) for kv in args.meta)
    print(json.dumps({"meta": meta, "label": args.label, "passes": args.passes,
                      "pairs": pairs_of(args, meta)}), flush=True)
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


def pmd_intervals(samples, passes):
    """The PMD's 5-second intervals: the rxq shares changed between samples
    j-1 and j, or 5 samples passed since the last one (a steady load repeats
    the same whole-percent shares, and an interval would go unnoticed)."""
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
        total = sum(cur["shares"].values()) + (cur["overhead"] or 0)
        if not pkts or not total:
            continue
        windows.append({"t": cur["t"], "mpps": pkts / dt / 1e6, "cpp": busy / pkts,
                        "shares": cur["shares"], "overhead": cur["overhead"] or 0,
                        "total": total})
    return windows


def pair_result(meta, name, rxq_a, rxq_b, windows, near, floor=None):
    """The result of one pair of rxqs over the intervals near the best, with
    the ratio over every interval too ("ratio_all"), and each side's cycles
    minus the OVS floor ("work_a", "work_b") when the floor is known."""
    med = statistics.median

    def cpp_of(w, rxq):
        return w["cpp"] * w["shares"].get(rxq, 0) / w["total"]

    result = dict(meta)
    result.update({
        "topo": name,
        "intervals": len(windows), "near_best": len(near),
        "best_mpps": round(max(w["mpps"] for w in windows), 3),
        "mpps": round(med(w["mpps"] for w in near), 3),
        "cpp": round(med(w["cpp"] for w in near), 1),
        "cpp_a": round(med(cpp_of(w, rxq_a) for w in near), 1),
    })
    if rxq_b:
        sa = sum(w["shares"].get(rxq_a, 0) for w in near)
        sb = sum(w["shares"].get(rxq_b, 0) for w in near)
        result["cpp_b"] = round(med(cpp_of(w, rxq_b) for w in near), 1)
        result["ratio"] = round(sa / sb, 3) if sb else None
        sa_all = sum(w["shares"].get(rxq_a, 0) for w in windows)
        sb_all = sum(w["shares"].get(rxq_b, 0) for w in windows)
        result["ratio_all"] = round(sa_all / sb_all, 3) if sb_all else None
    if floor is not None:
        result["floor"] = round(floor, 1)
        result["work_a"] = round(result["cpp_a"] - floor, 1)
        if rxq_b:
            result["work_b"] = round(result["cpp_b"] - floor, 1)
    return result


def summarize(args):
    with open(args.summarize) as f:
        lines = [json.loads(x) for x in f if x.strip()]
    head, samples = lines[0], lines[1:]
    meta = head["meta"]
    # Samples of an older chain.sh name one pair, and no passes.
    passes = head.get("passes") or (2 if meta.get("topo") == "chain" else 1)
    pairs = head.get("pairs") or [(meta.get("topo", ""), head["rxq_a"], head["rxq_b"])]

    print(f"# {head['label']}")
    print(f"{'t(s)':>5} {'Mpps':>7} {'busy cyc/pkt':>12}")
    for prev, cur in zip(samples, samples[1:]):
        dt = cur["t"] - prev["t"]
        pkts = (cur["packets"] - prev["packets"]) / passes
        busy = cur["processing"] - prev["processing"]
        print(f"{cur['t']:5.0f} {pkts / dt / 1e6:7.3f} "
              f"{fmt(busy / pkts if pkts else None):>12}")

    windows = pmd_intervals(samples, passes)
    if not windows:
        print("no complete PMD interval was sampled", file=sys.stderr)
        sys.exit(1)
    best = max(w["mpps"] for w in windows)
    near = [w for w in windows if w["mpps"] >= NEAR_BEST * best]
    rxqs = [r for _, a, b in pairs for r in (a, b) if r]
    print()
    print(f"{'t(s)':>5} {'Mpps':>7} {'cyc/pkt':>8} "
          + " ".join(f"{r + ' %':>8}" for r in rxqs)
          + f" {'ovh %':>5}  (5-s PMD intervals; * = near best)")
    for w in windows:
        print(f"{w['t']:5.0f} {w['mpps']:7.3f} {w['cpp']:8.1f} "
              + " ".join(f"{w['shares'].get(r, 0):8d}" for r in rxqs)
              + f" {w['overhead']:5d}  {'*' if w in near else ''}")

    ports = None
    if args.counters:
        with open(args.counters) as f:
            ports = json.load(f)
    print()
    print(f"summary ({len(near)} of {len(windows)} intervals within "
          f"{100 - NEAR_BEST * 100:.0f} % of the best, {fmt(best, 3)} Mpps):")
    results = []
    for name, rxq_a, rxq_b in pairs:
        result = pair_result(meta, name, rxq_a, rxq_b, windows, near, args.floor)
        result["label"] = head["label"] + (f" [{name}]" if len(pairs) > 1 else "")
        if args.driver_cpp is not None:
            result["driver_cpp"] = round(args.driver_cpp, 1)
        if ports is not None:
            result["ports"] = ports
        results.append(result)
        print(f"  {name}: Mpps {result['mpps']:.3f}, PMD busy cycles/packet {result['cpp']:.1f}")
        print(f"    A {meta.get('a')} (rxq {rxq_a}): {result['cpp_a']:.1f} cycles/packet")
        if rxq_b:
            print(f"    B {meta.get('b')} (rxq {rxq_b}): {result['cpp_b']:.1f} cycles/packet")
            print(f"    ratio A/B (sum of A shares / sum of B shares): "
                  f"{fmt(result['ratio'], 3)} (every interval: {fmt(result['ratio_all'], 3)})")
        if args.driver_cpp is not None:
            print(f"    driver (testpmd's forwarding core): {args.driver_cpp:.1f} "
                  f"cycles per packet it forwarded")
        if args.floor is not None:
            print(f"    OVS floor {args.floor:.1f} cycles/packet; vhost work A "
                  f"{result['work_a']:.1f}" + (f", B {result['work_b']:.1f}" if rxq_b else ""))
    for port, c in (ports or {}).items():
        print(f"  {port} ({c['type']}): rx {c['rx_packets']} tx {c['tx_packets']} "
              f"rx_dropped {c['rx_dropped']} tx_dropped {c['tx_dropped']} "
              f"ovs_tx_failure_drops {c['ovs_tx_failure_drops']} "
              f"ovs_tx_retries {c['ovs_tx_retries']}")
    for result in results:
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
    p.add_argument("--pair", action="append", default=[],
                   help="NAME=RXQ_A/RXQ_B: a pair of rxqs compared (repeatable)")
    p.add_argument("--passes", type=int, default=1,
                   help="times the PMD receives each frame of the loop")
    p.add_argument("--meta", action="append", default=[])
    p.add_argument("--label", default="")
    p.add_argument("--summarize")
    p.add_argument("--counters")
    p.add_argument("--out")
    p.add_argument("--driver-cpp", type=float,
                   help="the driver's (testpmd's forwarding core's) cycles per "
                        "packet, recorded in the result as driver_cpp")
    p.add_argument("--floor", type=float,
                   help="OVS floor in cycles/packet (chain.sh NVH_BENCH_FLOOR)")
    args = p.parse_args()
    summarize(args) if args.summarize else sample(args)


if __name__ == "__main__":
    main()
