"""Benchmark scores from candidate rows: match@k, found-as-lowest, energies, LES.

Rows are plain mappings (one per relaxed candidate, as the benchmark's Parquet stores
them); energies are CHGNet energies in eV/atom, RMS distances normalised as pymatgen
does (``rms``) and in Å (``rms_angstrom``). Rates come with 95 % Wilson intervals.

CSP (``chggen benchmark csp``), per compound and method:

* ``match@k``: a candidate among the first ``k`` relaxations (``budget_index <= k``, in
  the order the method spent its relaxations) matches the known structure;
* ``found-as-lowest``: the lowest-energy successful candidate matches the known structure,
  or lies below the relaxed known structure's energy (``E < E_known + energy_tol``);
* ``best - known``: lowest candidate energy minus the relaxed known structure's, eV/atom.

Hosts (``chggen benchmark hosts``), per host, method and stage (:data:`STAGES`: as
generated, after the guests-only relaxation, after the full relaxation): a host is
*recovered* when a candidate matches the original crystal or reaches a lower energy than
the relaxed original (XtalPaint's LES, ``E < E_known + energy_tol``); ``*_strict`` counts
use the stricter match (:data:`~chggen_kernels.benchmark.matching.STRICT_MATCH`).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chggen_kernels.evaluation import wilson_interval

__all__ = [
    "STAGES",
    "CspScore",
    "HostScore",
    "StageScore",
    "rate",
    "score_csp_compound",
    "score_host",
    "summarise_csp",
    "summarise_hosts",
]

STAGES = ("generated", "guests_relaxed", "relaxed")


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _true(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) \
        and bool(value)


def rate(hits: int, n: int) -> dict[str, Any]:
    """``{"hits", "n", "rate", "ci95"}``; rate and interval ``None`` when ``n == 0``."""
    interval = wilson_interval(hits, n)
    return {"hits": hits, "n": n, "rate": hits / n if n else None,
            "ci95": list(interval) if interval else None}


# ------------------------------------------------------------------ CSP
@dataclasses.dataclass(frozen=True)
class CspScore:
    """One compound under one method (energies eV/atom; ``rms`` normalised, Å for
    ``rms_angstrom``; ``first_match`` the 1-based budget index of the first match)."""

    compound_id: str
    method: str
    n_candidates: int
    n_ok: int
    first_match: int | None
    first_strict_match: int | None
    rms: float | None
    rms_angstrom: float | None
    lowest_energy: float | None
    reference_energy: float | None
    lowest_matches: bool
    lowest_below_reference: bool | None
    best_minus_reference: float | None
    n_atoms: int | None = None  # atoms of the cell searched
    cpu_s: float | None = None  # CPU seconds of the whole task (generation, sampling, relaxation)

    @property
    def found_as_lowest(self) -> bool:
        return self.lowest_matches or bool(self.lowest_below_reference)

    def matched_at(self, k: int, strict: bool = False) -> bool:
        first = self.first_strict_match if strict else self.first_match
        return first is not None and first <= k


def score_csp_compound(
    rows: Iterable[Mapping[str, Any]],
    reference_energy: float | None,
    *,
    compound_id: str,
    method: str,
    energy_tol: float = 0.0,
) -> CspScore:
    """Score one compound's candidate rows under one method.

    A row counts when ``status == "ok"``; it needs ``budget_index``, ``matched``,
    ``energy_per_atom`` (eV/atom), ``rms`` and ``rms_angstrom``; ``matched_strict`` (the
    stricter settings) is optional.
    """
    rows = list(rows)
    ok = [r for r in rows if r.get("status") == "ok"]
    matches = [r for r in ok if _true(r.get("matched"))]
    first = min((int(r["budget_index"]) for r in matches), default=None)
    first_strict = min((int(r["budget_index"]) for r in matches
                        if _true(r.get("matched_strict"))), default=None)
    best = min(matches, key=lambda r: _number(r.get("rms")) or math.inf, default=None)
    with_energy = [r for r in ok if _number(r.get("energy_per_atom")) is not None]
    lowest = min(with_energy, key=lambda r: (_number(r["energy_per_atom"]),
                                             int(r["budget_index"])), default=None)
    reference = _number(reference_energy)
    low_e = None if lowest is None else _number(lowest["energy_per_atom"])
    below = None if low_e is None or reference is None else low_e < reference + energy_tol
    return CspScore(
        compound_id=compound_id,
        method=method,
        n_candidates=len(rows),
        n_ok=len(ok),
        first_match=first,
        first_strict_match=first_strict,
        rms=None if best is None else _number(best.get("rms")),
        rms_angstrom=None if best is None else _number(best.get("rms_angstrom")),
        lowest_energy=low_e,
        reference_energy=reference,
        lowest_matches=lowest is not None and _true(lowest.get("matched")),
        lowest_below_reference=below,
        best_minus_reference=None if below is None else low_e - reference,  # type: ignore[operator]
        n_atoms=_known_atoms(rows),
        cpu_s=_number(rows[0].get("cpu_task_s")) if rows else None,
    )


def _known_atoms(rows: Sequence[Mapping[str, Any]]) -> int | None:
    """Atoms of the known cell searched (``n_atoms_known``; older rows: ``n_atoms``)."""
    for key in ("n_atoms_known", "n_atoms"):
        value = rows[0].get(key) if rows else None
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            return int(value)
    return None


def _stats(values: Sequence[float | None]) -> dict[str, float | None]:
    xs = [x for x in values if x is not None]
    return {"n": len(xs), "mean": statistics.fmean(xs) if xs else None,
            "median": statistics.median(xs) if xs else None}


def summarise_csp(scores: Sequence[CspScore], k_max: int) -> dict[str, Any]:
    """Per-method summary (JSON-friendly): match@k for k = 1..k_max, found-as-lowest, RMS
    of the matches, best - known energies; per-compound entries under ``compounds``."""
    if k_max < 1:
        raise ValueError(f"k_max must be >= 1, got {k_max}")
    methods: dict[str, Any] = {}
    for method in dict.fromkeys(s.method for s in scores):
        group = [s for s in scores if s.method == method]
        n = len(group)
        curve = [{"k": k, **rate(sum(s.matched_at(k) for s in group), n)}
                 for k in range(1, k_max + 1)]
        strict = [{"k": k, **rate(sum(s.matched_at(k, strict=True) for s in group), n)}
                  for k in range(1, k_max + 1)]
        methods[method] = {
            "n_compounds": n,
            "n_candidates": sum(s.n_candidates for s in group),
            "n_ok": sum(s.n_ok for s in group),
            "match_at_k": curve,
            "match_at_k_max": curve[-1],
            "match_at_k_strict": strict,
            "found_as_lowest": rate(sum(s.found_as_lowest for s in group), n),
            "rms": _stats([s.rms for s in group]),
            "rms_angstrom": _stats([s.rms_angstrom for s in group]),
            "best_minus_reference": _stats([s.best_minus_reference for s in group]),
            "cpu": cpu_cost(group, k_max),
            "size_classes": {name: _class_rates([s for s in group if inside(s.n_atoms)], k_max)
                             for name, inside in SIZE_CLASSES.items()},
        }
    compounds = [dataclasses.asdict(s) | {"found_as_lowest": s.found_as_lowest}
                 for s in scores]
    from chggen_kernels.benchmark.paired import paired_against

    return {"k_max": k_max, "methods": methods, "compounds": compounds,
            "paired_vs_random": paired_against(scores, "random", k_max)}


#: Size classes of the report: atoms in the cell searched.
SIZE_CLASSES = {"lt10": lambda n: n is not None and n < 10,
                "10to20": lambda n: n is not None and 10 <= n <= 20}


def _class_rates(group: Sequence[CspScore], k_max: int) -> dict[str, Any]:
    ks = sorted({k for k in (1, 5, k_max) if k <= k_max})
    return {"n_compounds": len(group),
            **{f"match_at_{k}": rate(sum(s.matched_at(k) for s in group), len(group))
               for k in ks},
            "found_as_lowest": rate(sum(s.found_as_lowest for s in group), len(group))}


def cpu_cost(group: Sequence[CspScore], k_max: int) -> dict[str, Any]:
    """CPU seconds spent (tasks that recorded them) and per compound matched at ``k_max``."""
    timed = [s for s in group if s.cpu_s is not None]
    total = sum(s.cpu_s for s in timed)  # type: ignore[misc]
    found = sum(s.matched_at(k_max) for s in timed)
    return {"n_timed": len(timed), "cpu_s_total": total,
            "cpu_s_per_compound": total / len(timed) if timed else None,
            "cpu_s_per_match": total / found if found else None}


# ------------------------------------------------------------------ hosts
@dataclasses.dataclass(frozen=True)
class StageScore:
    """One host, one method, one stage: any match, any LES, best energy - known (eV/atom)."""

    matched: bool
    les: bool
    best_minus_reference: float | None
    matched_strict: bool = False

    @property
    def recovered(self) -> bool:
        return self.matched or self.les

    @property
    def recovered_strict(self) -> bool:
        return self.matched_strict or self.les


@dataclasses.dataclass(frozen=True)
class HostScore:
    """One host under one method; ``stages`` maps each of :data:`STAGES` to its score."""

    compound_id: str
    method: str
    n_candidates: int
    reference_energy: float | None
    stages: dict[str, StageScore]


def score_host(
    rows: Iterable[Mapping[str, Any]],
    reference_energy: float | None,
    *,
    compound_id: str,
    method: str,
    energy_tol: float = 0.0,
) -> HostScore:
    """Score one host's candidate rows under one method.

    Per stage ``s`` a row needs ``matched_<s>`` and ``energy_<s>`` (eV/atom, ``None`` when
    that stage failed) and may carry ``matched_strict_<s>`` and ``valid_<s>`` (False:
    screened out, e.g. atoms closer than 1 Å); a stage without an energy, or not valid, is
    neither a match nor LES.
    """
    rows = list(rows)
    reference = _number(reference_energy)
    stages = {}
    for stage in STAGES:
        usable = [r for r in rows if _number(r.get(f"energy_{stage}")) is not None
                  and _true(r.get(f"valid_{stage}", True))]
        lowest = min((_number(r[f"energy_{stage}"]) for r in usable), default=None)
        matched = any(_true(r.get(f"matched_{stage}")) for r in usable)
        strict = any(_true(r.get(f"matched_strict_{stage}")) for r in usable)
        les = reference is not None and lowest is not None and lowest < reference + energy_tol
        stages[stage] = StageScore(
            matched=matched, les=les,
            best_minus_reference=None if reference is None or lowest is None
            else lowest - reference, matched_strict=strict)
    return HostScore(compound_id, method, len(rows), reference, stages)


def summarise_hosts(scores: Sequence[HostScore]) -> dict[str, Any]:
    """Per method and stage: recovered / matched / LES host counts with Wilson intervals."""
    methods: dict[str, Any] = {}
    for method in dict.fromkeys(s.method for s in scores):
        group = [s for s in scores if s.method == method]
        n = len(group)
        entry: dict[str, Any] = {"n_hosts": n, "n_candidates": sum(s.n_candidates for s in group)}
        for stage in STAGES:
            st = [s.stages[stage] for s in group]
            entry[stage] = {
                "recovered": rate(sum(x.recovered for x in st), n),
                "recovered_strict": rate(sum(x.recovered_strict for x in st), n),
                "matched": rate(sum(x.matched for x in st), n),
                "matched_strict": rate(sum(x.matched_strict for x in st), n),
                "les": rate(sum(x.les for x in st), n),
                "best_minus_reference": _stats([x.best_minus_reference for x in st]),
            }
        methods[method] = entry
    hosts = [{"compound_id": s.compound_id, "method": s.method, "n_candidates": s.n_candidates,
              "reference_energy": s.reference_energy,
              **{f"{stage}_{key}": value for stage, x in s.stages.items()
                 for key, value in (("matched", x.matched), ("les", x.les),
                                    ("recovered", x.recovered),
                                    ("matched_strict", x.matched_strict),
                                    ("best_minus_reference", x.best_minus_reference))}}
             for s in scores]
    return {"stages": list(STAGES), "methods": methods, "hosts": hosts}
