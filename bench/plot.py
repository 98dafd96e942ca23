"""Renders docs/benchmarks.png from the JSON that bench/compare.py writes (--json-out)."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dest):
    with open(src) as f:
        r = json.load(f)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    pub = r.get("publish", [])
    for k in sorted({p["groups_changed"] for p in pub}):
        pts = sorted((p["cache_bytes"] / 1e6, p["held_merge_ms"], p["held_fast_ms"])
                     for p in pub if p["groups_changed"] == k)
        left.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                  label="merging %d groups of another run" % k)
        left.plot([p[0] for p in pts], [p[2] for p in pts], marker="x", linestyle="--",
                  label="fast path, %d groups written" % k)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("shared cache size (MB)")
    left.set_ylabel("time under the publish lock (ms)")
    left.set_title("Lock time follows changes, not cache size")
    left.legend(fontsize=7)
    ov = r.get("overhead", [])
    xs = [o["cache_bytes"] / 1e6 for o in ov]
    right.plot(xs, [o["overhead_ms"] for o in ov], marker="o", label="typecache - plain mypy")
    right.plot(xs, [o["pants_overhead_ms"] for o in ov], marker="s", label="Pants' scheme - plain mypy")
    right.plot(xs, [o["snapshot_ms"] for o in ov], marker="^", linestyle=":", label="typecache snapshot")
    right.set_xscale("log")
    right.set_xlabel("shared cache size (MB)")
    right.set_ylabel("added time per warm run (ms)")
    right.set_title("Overhead of a warm mypy run (median)")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(dest, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
