"""The timeline figure of benchmarks/bench_autoscaling.py, from its JSON result.

    python benchmarks/plot_autoscaling.py benchmarks/results/autoscaling.json \\
        benchmarks/results/autoscaling_timeline.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["plot"]


def plot(result: dict[str, Any], path: str) -> None:
    """Node lifetimes (one row per node) with their calls, kills and the autoscaler's
    launches; below, candidates relaxed over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes = sorted(result["nodes"], key=lambda n: (n["up_s"] is None, n["up_s"] or 0))
    end = max([n["down_s"] or 0 for n in nodes] + [result["measured"]["all_workers_gone_s"]])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1.3]})
    colors = {"head": "0.6", "gpu_sampler": "tab:orange", "cpu_relax": "tab:blue"}
    rows = {n["node_id"]: i for i, n in enumerate(nodes)}
    for n in nodes:
        start = n["up_s"] if n["up_s"] is not None else 0
        stop = n["down_s"] if n["down_s"] is not None else end
        top.barh(rows[n["node_id"]], stop - start, left=start, height=0.5, alpha=0.3,
                 color=colors[n["type"]])
    for c in result["calls"]:
        row = rows.get(c["node_id"])
        if row is not None:
            top.barh(row, max(c["t1_s"] - c["t0_s"], 0.05), left=c["t0_s"], height=0.3,
                     color=colors["gpu_sampler" if c["event"] == "generate" else "cpu_relax"])
    for e in result["autoscaler_events"]:
        if e["event"] == "launch":
            top.axvline(e["t_s"], color=colors.get(e["node_type"], "k"), ls=":", lw=1)
    for k in result["kills"]:
        top.axvline(k["t_s"], color="red", lw=1.5)
        top.text(k["t_s"], -0.6, f" SIGKILL {k['kind']} raylet", color="red", fontsize=8)
        if k["node_marked_dead_s"] is not None:
            top.plot(k["node_marked_dead_s"], rows[k["node_id"]], "kx")
    top.axvline(result["measured"]["campaign_s"], color="k", lw=1)
    top.set_ylim(-0.8, len(nodes) - 0.5)
    top.set_yticks(range(len(nodes)),
                   [f"{n['type']} …{n['node_id'][-5:]}" for n in nodes], fontsize=8)
    top.set_title("Fake autoscaling cluster on 127.0.0.1: nodes up (light), calls (dark), "
                  "node launched (dotted), kill (red), node marked dead (x), campaign end "
                  "(black)", fontsize=9)
    relaxed = sorted((c["t1_s"], c.get("ids") or [str(i) for i in range(c["n"])])
                     for c in result["calls"] if c["event"] == "relax")
    seen: set[str] = set()
    xs, ys = [0.0], [0]
    for t, ids in relaxed:
        seen.update(ids)
        xs.append(t)
        ys.append(len(seen))
    bottom.step(xs, ys, where="post")
    bottom.set_ylabel("candidates relaxed")
    bottom.set_xlabel("seconds since the campaign started")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    plot(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2])
