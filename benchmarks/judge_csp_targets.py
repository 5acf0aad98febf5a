"""Issue 36's targets, judged from a ``chggen benchmark csp`` summary: the chosen chggen
mode against random search, on the compounds both ran (paired).

Usage (after ``chggen benchmark csp --set extended --k 20 ... --out DIR``)::

    python benchmarks/judge_csp_targets.py DIR/summary.json --method template-symmetric \\
        --baseline random --k 20 --out benchmarks/results/csp_extended_targets.json

The targets (each one a row of the result, with both methods' numbers, the ratio, what
passing needs and by how much it was missed):

* ``match_at_1``: matched at the first candidate at least 2x as often as the baseline;
* ``misses_at_k``: compounds missed at match@k at most half the baseline's;
* ``misses_found_as_lowest``: compounds whose lowest-energy candidate is not the known
  crystal, at most half the baseline's;
* ``match_at_k_10to20``: match@k at least 2x the baseline's on compounds of 10-20 atoms;
* ``paired_test``: McNemar's exact test at match@k, p < 0.05 (and the method ahead);
* ``cpu_s_per_match``: CPU seconds per compound matched at k at most half the baseline's.

Also written: the compounds the method misses at match@k (formula, atoms, which other
methods of the run found them), the numbers a reader needs to say what limits it, and the
method paired with every other method of the run (McNemar's exact test at match@1 and
match@k on the compounds both ran: the ablation).
Counts are compounds; CPU seconds are process time (generation, sampling, relaxation).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from stamp import stamp, stamped  # noqa: E402

from chggen_kernels.benchmark.paired import mcnemar_exact, paired_against  # noqa: E402

ALPHA = 0.05  # significance level of the paired test
FACTOR = 2.0  # "at least twice", "at most half"


def _hit(row: dict[str, Any], k: int) -> bool:
    return row.get("first_match") is not None and int(row["first_match"]) <= k


def _at_least(name: str, method: float, baseline: float, need: float, what: str
              ) -> dict[str, Any]:
    need = max(need, 1.0)  # "twice none" still asks for one
    return {"target": name, "what": what, "method": method, "baseline": baseline,
            "ratio": method / baseline if baseline else None,
            "needed": need, "passed": method >= need,
            "short_by": max(0.0, need - method)}


def _at_most(name: str, method: float, baseline: float, allowed: float, what: str
             ) -> dict[str, Any]:
    return {"target": name, "what": what, "method": method, "baseline": baseline,
            "ratio": method / baseline if baseline else None,
            "allowed": allowed, "passed": method <= allowed,
            "over_by": max(0.0, method - allowed)}


def _cpu_per_match(rows: Sequence[dict[str, Any]], k: int) -> float | None:
    timed = [r for r in rows if r.get("cpu_s") is not None]
    found = sum(_hit(r, k) for r in timed)
    return sum(float(r["cpu_s"]) for r in timed) / found if found else None


def _cpu_target(cpu_m: float | None, cpu_b: float | None, k_max: int) -> dict[str, Any]:
    """CPU seconds per compound matched at the run's budget (a task's CPU time is that of
    all ``k_max`` candidates); ``None`` where a method matched nothing. Passes when the
    method matched something and spends at most half the baseline's (or the baseline
    matched nothing)."""
    allowed = None if cpu_b is None else cpu_b / FACTOR
    passed = cpu_m is not None and (allowed is None or cpu_m <= allowed)
    return {"target": "cpu_s_per_match", "what": f"CPU seconds per compound matched at "
            f"{k_max} (the run's budget)", "method": cpu_m, "baseline": cpu_b,
            "ratio": cpu_m / cpu_b if cpu_m is not None and cpu_b else None,
            "allowed": allowed, "passed": passed,
            "over_by": max(0.0, cpu_m - allowed) if cpu_m is not None and allowed else None}


def judge(summary: dict[str, Any], method: str, baseline: str, k: int | None = None
          ) -> dict[str, Any]:
    """The targets of ``method`` against ``baseline`` at match@``k`` (``None``: the run's
    budget ``k_max``) on the compounds both have a score for in ``summary`` (a ``chggen
    benchmark csp`` ``summary.json``)."""
    k_max = int(summary["scores"]["k_max"])
    k = k_max if k is None else k
    if not 1 <= k <= k_max:
        raise SystemExit(f"--k must be 1-{k_max} (the run's budget), got {k}")
    rows = summary["scores"]["compounds"]
    by = {(r["method"], r["compound_id"]): r for r in rows}
    ids = [c["compound_id"] for c in summary["compounds"]
           if (method, c["compound_id"]) in by and (baseline, c["compound_id"]) in by]
    if not ids:
        raise SystemExit(f"--method/--baseline: no compound has scores for both {method!r} "
                         f"and {baseline!r}")
    mine = [by[(method, i)] for i in ids]
    base = [by[(baseline, i)] for i in ids]
    n = len(ids)
    large = [j for j, r in enumerate(mine) if r.get("n_atoms") is not None
             and 10 <= int(r["n_atoms"]) <= 20]
    m1, b1 = sum(_hit(r, 1) for r in mine), sum(_hit(r, 1) for r in base)
    mk, bk = sum(_hit(r, k) for r in mine), sum(_hit(r, k) for r in base)
    ml, bl = (sum(bool(r.get("found_as_lowest")) for r in rows_) for rows_ in (mine, base))
    m_large = sum(_hit(mine[j], k) for j in large)
    b_large = sum(_hit(base[j], k) for j in large)
    only_m = sum(_hit(a, k) and not _hit(b, k) for a, b in zip(mine, base, strict=True))
    only_b = sum(_hit(b, k) and not _hit(a, k) for a, b in zip(mine, base, strict=True))
    p = mcnemar_exact(only_m, only_b)
    cpu_m, cpu_b = _cpu_per_match(mine, k_max), _cpu_per_match(base, k_max)
    targets = [
        _at_least("match_at_1", m1, b1, FACTOR * b1, f"compounds matched at 1 of {n}"),
        _at_most("misses_at_k", n - mk, n - bk, (n - bk) / FACTOR,
                 f"compounds not matched at {k} of {n}"),
        _at_most("misses_found_as_lowest", n - ml, n - bl, (n - bl) / FACTOR,
                 f"compounds whose lowest candidate is not the known crystal, of {n}"),
        _at_least("match_at_k_10to20", m_large, b_large, FACTOR * b_large,
                  f"compounds of 10-20 atoms matched at {k} of {len(large)}"),
        {"target": "paired_test", "what": f"McNemar's exact test at match@{k}",
         "method_only": only_m, "baseline_only": only_b, "p": p, "alpha": ALPHA,
         "passed": p < ALPHA and only_m > only_b},
        _cpu_target(cpu_m, cpu_b, k_max),
    ]
    others = sorted({r["method"] for r in rows} - {method})
    missed = [{"compound_id": i, "formula": r.get("formula"), "n_atoms": r.get("n_atoms"),
               "best_minus_reference_eV_per_atom": r.get("best_minus_reference"),
               "found_by": [o for o in others if (o, i) in by and _hit(by[(o, i)], k)]}
              for i, r in zip(ids, mine, strict=True) if not _hit(r, k)]
    paired = _paired_with_every_method(rows, method, k)
    formulas = {c["compound_id"]: c.get("formula") for c in summary["compounds"]}
    for entry in missed:
        entry["formula"] = entry["formula"] or formulas.get(entry["compound_id"])
    return {"method": method, "baseline": baseline, "k": k, "n_compounds": n,
            "n_compounds_in_set": len(summary["compounds"]), "n_10to20": len(large),
            "targets": targets, "all_passed": all(t["passed"] for t in targets),
            "missed_at_k": missed, "paired_with_every_method": paired}


@dataclasses.dataclass(frozen=True)
class _Score:
    """A summary row as :func:`~chggen_kernels.benchmark.paired.paired_against` reads it."""

    method: str
    compound_id: str
    first_match: int | None

    def matched_at(self, k: int) -> bool:
        return self.first_match is not None and int(self.first_match) <= k


def _paired_with_every_method(rows: Sequence[dict[str, Any]], method: str, k: int
                              ) -> list[dict[str, Any]]:
    """``method`` against every other method of ``rows`` on the compounds both ran:
    McNemar's exact test at match@1 and at match@``k`` (what the ablation paragraphs of
    the docs quote)."""
    scores = [_Score(r["method"], r["compound_id"], r.get("first_match")) for r in rows]
    at = {a: paired_against(scores, method, a) for a in (1, k)}
    out = []
    for other in sorted(at[k]):
        entry: dict[str, Any] = {"other": other, "n_compounds": at[k][other]["n_compounds"]}
        for a, per in at.items():
            p = per[other]  # seen from ``other``: its "baseline" is ``method``
            entry[f"match_at_{a}"] = {
                "method": p["baseline_only"] + p["both"], "other": p["method_only"] + p["both"],
                "method_only": p["baseline_only"], "other_only": p["method_only"],
                "p": p["p_mcnemar"]}
        out.append(entry)
    return out


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def table(result: dict[str, Any]) -> str:
    """The targets as a Markdown table."""
    lines = [f"{result['method']} against {result['baseline']}, k = {result['k']}, "
             f"{result['n_compounds']} compounds ({result['n_10to20']} of 10-20 atoms)", "",
             "| target | method | baseline | needed | passed |", "|---|---|---|---|---|"]
    for t in result["targets"]:
        if t["target"] == "paired_test":
            lines.append(f"| paired test (only method / only baseline) | {t['method_only']} | "
                         f"{t['baseline_only']} | p < {t['alpha']} (p = {t['p']:.3g}) | "
                         f"{'yes' if t['passed'] else 'no'} |")
            continue
        need = (f">= {_num(t['needed'])}" if "needed" in t else f"<= {_num(t['allowed'])}")
        lines.append(f"| {t['target']} | {_num(t['method'])} | {_num(t['baseline'])} | {need} "
                     f"| {'yes' if t['passed'] else 'no'} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("summary", type=Path, help="summary.json of a benchmark csp run")
    parser.add_argument("--method", default="template-symmetric")
    parser.add_argument("--baseline", default="random")
    parser.add_argument("--k", type=int, default=None,
                        help="budget of match@k (default: the run's, k_max)")
    parser.add_argument("--out", type=Path, help="JSON to write (stamped)")
    args = parser.parse_args(argv)
    summary = json.loads(args.summary.read_text())
    result = judge(summary, args.method, args.baseline, args.k)
    print(table(result))
    if args.out is not None:
        data = stamped({"summary": str(args.summary), **result}, stamp(argv))
        args.out.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
