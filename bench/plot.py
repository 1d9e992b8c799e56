# SPDX-License-Identifier: Apache-2.0
"""Chart of bench/chain.sh results by frame size: cycles/packet of each
port type, the ratio vhostuserclient / dpdkvhostuserclient, and Mpps.

    /usr/bin/python3 bench/plot.py RESULTS.jsonl [MORE.jsonl...] OUT.png

The RESULTS files hold the result lines chain.sh appends to $NVH_BENCH_OUT.
Only A/B chain runs (A and B of different types) with the simple pipeline
and one queue pair are drawn (the l3, NORMAL and multi-queue chains of the
same size are other cases, in the tables of docs/performance.md); per frame
size and ring the median over the runs is taken, each run oriented as
vhostuserclient / dpdkvhostuserclient whichever position it had.  Needs
matplotlib (Debian's python3-matplotlib, installed by scripts/setup.sh).
"""
import json
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def simple_ab_chain(r):
    """An A/B chain run with the simple pipeline and one queue pair (lines
    written before chain.sh recorded flows and queues were such runs)."""
    return (r.get("topo") == "chain" and r["a"] != r["b"]
            and r.get("flows", "simple") == "simple"
            and str(r.get("queues", "1")) == "1")


def oriented_ratio(r):
    """The run's ratio as vhostuserclient / dpdkvhostuserclient."""
    return r["ratio"] if r["a"] == "vhostuserclient" else 1 / r["ratio"]


def main(paths, out):
    runs = defaultdict(list)
    for path in paths:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if simple_ab_chain(r) and r.get("ratio"):
                    runs[(r["ring"], int(r["size"]))].append(r)

    fig, (ax_c, ax_r, ax_m) = plt.subplots(1, 3, figsize=(15, 4))
    styles = {"split": "-", "packed": "--"}
    for ring in ("split", "packed"):
        sizes = sorted(s for (rg, s) in runs if rg == ring)
        if not sizes:
            continue
        med = statistics.median
        for key, name, color in (("cpp_a", "vhostuserclient", "tab:blue"),
                                 ("cpp_b", "dpdkvhostuserclient", "tab:orange")):
            # A is vhostuserclient unless the run swapped the positions.
            ys = []
            for s in sizes:
                vals = [r[key] if r["a"] == "vhostuserclient" else r[
                    "cpp_b" if key == "cpp_a" else "cpp_a"] for r in runs[(ring, s)]]
                ys.append(med(vals))
            ax_c.plot(sizes, ys, styles[ring], marker="o", color=color,
                      label=f"{name}, {ring}")
        ax_r.plot(sizes, [med(oriented_ratio(r) for r in runs[(ring, s)]) for s in sizes],
                  styles[ring], marker="o", color="tab:purple", label=f"median, {ring}")
        for s in sizes:
            ax_r.plot([s] * len(runs[(ring, s)]), [oriented_ratio(r) for r in runs[(ring, s)]],
                      "x" if ring == "split" else "+", color="tab:gray")
        ax_m.plot(sizes, [med(r["mpps"] for r in runs[(ring, s)]) for s in sizes],
                  styles[ring], marker="o", color="tab:green", label=f"chain, {ring}")

    ax_c.set_title("PMD cycles per packet, per port pair")
    ax_c.set_xlabel("frame size (bytes)")
    ax_c.set_ylabel("cycles / packet")
    ax_c.set_ylim(bottom=0)
    ax_c.legend(fontsize=8)
    ax_r.axhline(1.0, color="black", linewidth=0.8)
    ax_r.axhline(0.8, color="tab:red", linestyle=":",
                 label="goal of round two: 0.80 (0.70 at 64 B split)")
    ax_r.set_title("ours / built-in (runs: x split, + packed)")
    ax_r.set_xlabel("frame size (bytes)")
    ax_r.set_ylabel("ratio of cycles / packet")
    ax_r.set_ylim(bottom=0)
    ax_r.legend(fontsize=8)
    ax_m.set_title("Chain rate (both pairs, one PMD thread)")
    ax_m.set_xlabel("frame size (bytes)")
    ax_m.set_ylabel("Mpps")
    ax_m.set_ylim(bottom=0)
    ax_m.legend(fontsize=8)
    for ax in (ax_c, ax_r, ax_m):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1:-1], sys.argv[-1])
