"""The statistics of benchmarks/bench_sampler_quality.py: medians with percentile-bootstrap
95 % intervals, the bootstrap interval of a difference of medians, Newcombe's interval of a
difference of shares, and :func:`summarize_setting` (the quality numbers of one sampler
setting and their differences to the reference). ``bench_sampler_quality`` re-exports
them."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from typing import Any


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def bootstrap_median(values: Sequence[float], n: int = 2000, seed: int = 0
                     ) -> list[float] | None:
    """95 % percentile-bootstrap interval of the median."""
    if len(values) < 2:
        return None
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(n))
    return [float(meds[int(0.025 * n)]), float(meds[int(0.975 * n) - 1])]


def bootstrap_difference(a: Sequence[float], b: Sequence[float], n: int = 2000, seed: int = 0
                         ) -> list[float] | None:
    """95 % bootstrap interval of median(a) - median(b)."""
    if len(a) < 2 or len(b) < 2:
        return None
    rng = random.Random(seed)
    diffs = sorted(statistics.median(rng.choices(a, k=len(a)))
                   - statistics.median(rng.choices(b, k=len(b))) for _ in range(n))
    return [float(diffs[int(0.025 * n)]), float(diffs[int(0.975 * n) - 1])]


def newcombe_difference(k1: int, n1: int, k2: int, n2: int) -> list[float] | None:
    """95 % Newcombe (Wilson hybrid) interval of k1/n1 - k2/n2."""
    from chggen_kernels.evaluation import wilson_interval

    if not n1 or not n2:
        return None
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson_interval(k1, n1), wilson_interval(k2, n2)  # type: ignore[misc]
    d = p1 - p2
    low = d - ((p1 - l1) ** 2 + (u2 - p2) ** 2) ** 0.5
    return [low, d + ((u1 - p1) ** 2 + (p2 - l2) ** 2) ** 0.5]


def _values(rows: list[dict[str, Any]], column: str, system: str | None = None) -> list[float]:
    return [float(r[column]) for r in rows if r["status"] == "ok" and r.get(column) is not None
            and (system is None or r["system"] == system)]


def _share(k: int, n: int) -> dict[str, Any]:
    from chggen_kernels.evaluation import wilson_interval

    ci = wilson_interval(k, n)
    return {"k": k, "n": n, "rate": k / n if n else None, "ci95": list(ci) if ci else None}


def summarize_setting(rows: list[dict[str, Any]], reference: list[dict[str, Any]] | None
                      ) -> dict[str, Any]:
    """The quality numbers of one setting, and their differences to the reference."""
    from chggen_kernels.evaluation import is_symmetric_row

    ok = [r for r in rows if r["status"] == "ok"]
    out: dict[str, Any] = {"n_samples": len(rows), "relaxed": _share(len(ok), len(rows)),
                           "symmetric": _share(sum(map(is_symmetric_row, ok)), len(ok))}
    for column in ("delta_e_relax", "rmsd_relax"):
        values = _values(rows, column)
        out[column] = {"median": _median(values), "ci95": bootstrap_median(values)}
    e_d = sorted(_values(rows, "e_d", "Li-Si"))
    out["e_d_li_si"] = {"n": len(e_d), "median": _median(e_d), "ci95": bootstrap_median(e_d),
                        "quartiles": statistics.quantiles(e_d, n=4) if len(e_d) > 1 else None,
                        "n_below_0.1": sum(v < 0.1 for v in e_d)}
    recovered = [r for r in rows if r.get("host_recovered") is not None]
    if recovered:
        out["host_recovered"] = _share(sum(bool(r["host_recovered"]) for r in recovered),
                                       len(recovered))
    if reference is not None:
        out["vs_reference"] = _differences(rows, reference)
    return out


def _differences(rows: list[dict[str, Any]], ref: list[dict[str, Any]]) -> dict[str, Any]:
    from chggen_kernels.evaluation import is_symmetric_row

    ok, ref_ok = [r for r in rows if r["status"] == "ok"], [r for r in ref if r["status"] == "ok"]
    out: dict[str, Any] = {
        "relaxed": newcombe_difference(len(ok), len(rows), len(ref_ok), len(ref)),
        "symmetric": newcombe_difference(sum(map(is_symmetric_row, ok)), len(ok),
                                         sum(map(is_symmetric_row, ref_ok)), len(ref_ok))}
    for column, system in (("delta_e_relax", None), ("rmsd_relax", None), ("e_d", "Li-Si")):
        out[column] = bootstrap_difference(_values(rows, column, system),
                                           _values(ref, column, system))
    rec = [r for r in rows if r.get("host_recovered") is not None]
    ref_rec = [r for r in ref if r.get("host_recovered") is not None]
    if rec and ref_rec:
        out["host_recovered"] = newcombe_difference(
            sum(bool(r["host_recovered"]) for r in rec), len(rec),
            sum(bool(r["host_recovered"]) for r in ref_rec), len(ref_rec))
    return out
