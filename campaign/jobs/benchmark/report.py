"""The outputs of a benchmark run: candidates Parquet, summary JSON, markdown, figure.

All are rewritten at the end of every run from the finished parts of the compounds and
methods asked for (``OUT/candidates.parquet``, ``OUT/summary.json``, ``OUT/summary.md``,
``OUT/match_at_k.png`` for CSP or ``OUT/host_recovery.png`` for hosts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from campaign.engine.store import write_text_atomic
from campaign.jobs.benchmark.store import write_table

__all__ = ["plot_host_recovery", "plot_match_at_k", "write_outputs"]


def _atomic_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def plot_match_at_k(summary: Mapping[str, Any], path: Path,
                    methods: Sequence[str] | None = None) -> Path:
    """match@k against k, one line per method, the 95 % Wilson band shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for method in methods or summary["methods"]:
        entry = summary["methods"].get(method)
        if entry is None:
            continue
        curve = entry["match_at_k"]
        ks = [c["k"] for c in curve]
        rates = [100 * (c["rate"] or 0.0) for c in curve]
        line, = ax.plot(ks, rates, marker="o", ms=3, label=f"{method} (n={entry['n_compounds']})")
        low = [100 * c["ci95"][0] if c["ci95"] else 0.0 for c in curve]
        high = [100 * c["ci95"][1] if c["ci95"] else 0.0 for c in curve]
        ax.fill_between(ks, low, high, color=line.get_color(), alpha=0.12, lw=0)
    ax.set_xlabel("k (relaxed candidates per compound)")
    ax.set_ylabel("match@k (% of compounds)")
    ax.set_ylim(0, 100)
    ax.set_xlim(1, max(1, int(summary["k_max"])))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Known structures recovered (StructureMatcher 0.3 / 0.5 / 10°)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_host_recovery(summary: Mapping[str, Any], path: Path,
                       methods: Sequence[str] | None = None) -> Path:
    """Hosts recovered (match or LES) per method, one bar per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [m for m in (methods or summary["methods"]) if m in summary["methods"]]
    stages = summary["stages"]
    width = 0.8 / max(1, len(stages))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for j, stage in enumerate(stages):
        values = [100 * (summary["methods"][m][stage]["recovered"]["rate"] or 0.0)
                  for m in names]
        ax.bar([i + j * width for i in range(len(names))], values, width, label=stage)
    ax.set_xticks([i + width * (len(stages) - 1) / 2 for i in range(len(names))], names)
    ax.set_ylabel("hosts recovered (match or LES, %)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_outputs(out: Path, summary: Mapping[str, Any], markdown: str,
                  rows: Sequence[Mapping[str, Any]], candidate_schema: pa.Schema,
                  kind: str, methods: Sequence[str]) -> list[Path]:
    """Write the four outputs atomically; returns their paths (``summary["scores"]`` is
    the :func:`~chggen_kernels.benchmark.summarise_csp` / ``summarise_hosts`` result)."""
    out = Path(out)
    paths = [write_table(out / "candidates.parquet", rows, candidate_schema)]
    summary_path = out / "summary.json"
    _atomic_text(summary_path, json.dumps(summary, indent=1, sort_keys=False) + "\n")
    md_path = out / "summary.md"
    _atomic_text(md_path, markdown)
    figure = out / ("match_at_k.png" if kind == "csp" else "host_recovery.png")
    temporary = figure.with_name(f".{figure.stem}.{os.getpid()}.tmp.png")
    scores = summary["scores"]
    if kind == "csp":
        plot_match_at_k(scores, temporary, methods)
    else:
        plot_host_recovery(scores, temporary, methods)
    os.replace(temporary, figure)
    return paths + [summary_path, md_path, figure]
