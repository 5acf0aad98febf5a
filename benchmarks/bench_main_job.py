"""The main job (``chggen scan Li-Si`` on its defaults) before and after the speed work,
side by side in one run, same seeds.

Each variant runs ``chggen scan Li-Si --out DIR [extra options]`` as a fresh process from a
source tree (``--old-tree``: a checkout of the code before the speed work, e.g. made with
``git worktree add /tmp/old <commit>``; the current tree otherwise), one after the other
on the same machine. Per variant it records the wall time of the whole command (model
and CHGNet loading and Ray start included), candidates written and failed, candidates per
hour, and the quality numbers of the results: share relaxed without failure, symmetric
share after relaxation (Wilson 95 % intervals), median relaxation Delta E (eV/atom) and
RMSD (Å), and the E_d distribution (median and quartiles, eV/atom), per mode.

Usage::

    git worktree add /tmp/chggen-old <commit before the speed work>
    python benchmarks/bench_main_job.py --old-tree /tmp/chggen-old \\
        --variant old:old: --variant new:new: --variant reference:new:--sampler,reference

``--variant NAME:TREE:OPTIONS`` (TREE ``old`` or ``new``; OPTIONS comma-separated). Writes
``benchmarks/results/main_job.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chggen_kernels.evaluation import wilson_interval

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from stamp import stamp  # noqa: E402


def wilson(k: int, n: int) -> list[float]:
    """95 % Wilson interval of ``k`` of ``n`` (``[0, 1]`` for ``n = 0``), rounded."""
    return [round(x, 3) for x in wilson_interval(k, n) or (0.0, 1.0)]


def quality(table: Any) -> dict[str, Any]:
    """Quality numbers of one results table, per mode and over all rows."""
    out: dict[str, Any] = {}
    groups = {"all": table, **{m: g for m, g in table.groupby("mode")}}
    for name, rows in groups.items():
        ok = rows[rows["status"] == "ok"]
        symmetric = int(ok["is_symmetric"].fillna(False).astype(bool).sum())
        e_d = ok["e_d"].dropna()
        out[name] = {
            "candidates": len(rows), "relaxed_ok": len(ok),
            "relaxed_ok_interval": wilson(len(ok), len(rows)),
            "symmetric": symmetric, "symmetric_interval": wilson(symmetric, len(ok)),
            "median_delta_e_relax_eV_atom": _median(ok["delta_e_relax"]),
            "median_rmsd_relax_A": _median(ok["rmsd_relax"]),
            "e_d_eV_atom": {"median": _median(e_d), "q1": _quantile(e_d, 0.25),
                            "q3": _quantile(e_d, 0.75), "min": _quantile(e_d, 0.0)},
        }
    return out


def _median(series: Any) -> float | None:
    return _quantile(series, 0.5)


def _quantile(series: Any, q: float) -> float | None:
    values = series.dropna().astype(float)
    return None if values.empty else round(float(values.quantile(q)), 4)


def run_variant(name: str, tree: Path, options: list[str], work: Path) -> dict[str, Any]:
    import pandas as pd

    out = work / name
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, "-m", "campaign.cli", "scan", "Li-Si", "--out", str(out),
               "--no-progress", *options]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name}: exit {done.returncode}\n{done.stderr[-2000:]}")
    table = pd.read_parquet(out)
    n_ok = int((table["status"] == "ok").sum())
    return {
        "tree": str(tree), "options": options, "wall_s": round(wall, 1),
        "candidates": len(table), "failed": len(table) - n_ok,
        "candidates_per_hour": round(3600 * len(table) / wall, 1),
        "sampler_settings": json.loads(table["sampler_settings"].iloc[0]),
        "summary_line": next((line for line in done.stdout.splitlines()
                              if line.startswith("campaign finished")), ""),
        "quality": quality(table),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-tree", type=Path, default=None)
    parser.add_argument("--variant", action="append", required=True,
                        help="NAME:TREE:OPTIONS, TREE old|new, OPTIONS comma-separated")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results"
                        / "main_job.json")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="chggen-main-job-"))
    results: dict[str, Any] = {}
    for text in args.variant:
        name, tree_name, options = (text.split(":", 2) + ["", ""])[:3]
        tree = ROOT if tree_name == "new" else args.old_tree
        if tree is None:
            raise SystemExit(f"--variant {text}: needs --old-tree")
        results[name] = run_variant(name, tree, [o for o in options.split(",") if o], work)
        print(json.dumps({name: {k: results[name][k] for k in
                                 ("wall_s", "candidates", "failed", "candidates_per_hour")}}),
              flush=True)
    names = list(results)
    ratios = {f"{a}/{names[0]}": round(results[a]["candidates_per_hour"]
                                       / results[names[0]]["candidates_per_hour"], 2)
              for a in names[1:]}
    report = {"stamp": stamp(),
              "what": "chggen scan Li-Si on its defaults, variants one after the other",
              "variants": results, "candidates_per_hour_ratios": ratios}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(ratios))


if __name__ == "__main__":
    main()
