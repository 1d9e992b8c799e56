# SPDX-License-Identifier: Apache-2.0
"""Chart of bench/chain.sh results: cycles/packet and Mpps by frame size.

    /usr/bin/python3 bench/plot.py RESULTS.jsonl OUT.png

RESULTS.jsonl holds the result lines chain.sh appends to $NVH_BENCH_OUT.  Only
A/B chain runs (A and B of different types) are drawn; per frame size and ring
the median over the runs is taken.  Needs matplotlib (Debian's
python3-matplotlib, installed by scripts/setup.sh).
"""
import json
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(path, out):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("topo") != "chain" or r["a"] == r["b"]:
                continue
            runs[(r["ring"], int(r["size"]))].append(r)

    fig, (ax_c, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
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
        ax_m.plot(sizes, [med(r["mpps"] for r in runs[(ring, s)]) for s in sizes],
                  styles[ring], marker="o", color="tab:green", label=f"chain, {ring}")

    ax_c.set_title("PMD cycles per packet, per port pair")
    ax_c.set_xlabel("frame size (bytes)")
    ax_c.set_ylabel("cycles / packet")
    ax_c.set_ylim(bottom=0)
    ax_c.legend(fontsize=8)
    ax_m.set_title("Chain rate (both pairs, one PMD thread)")
    ax_m.set_xlabel("frame size (bytes)")
    ax_m.set_ylabel("Mpps")
    ax_m.set_ylim(bottom=0)
    ax_m.legend(fontsize=8)
    for ax in (ax_c, ax_m):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
