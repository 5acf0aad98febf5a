"""Markdown tables of the benchmark summaries (:mod:`chggen_kernels.benchmark.scoring`).

"strict" columns use the stricter match (pymatgen's defaults, 0.2 / 0.3 / 5 degrees).

Rates are printed as ``hits/n rate % [low-high]`` with the 95 % Wilson interval; energies
in eV/atom, RMS distances normalised (pymatgen) and in Å.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["csp_markdown", "format_rate", "hosts_markdown"]


def format_rate(entry: Mapping[str, Any] | None) -> str:
    """``"3/10 30 % [11-60]"``; ``"-"`` for no data."""
    if not entry or not entry.get("n"):
        return "-"
    low, high = entry["ci95"]
    return (f"{entry['hits']}/{entry['n']} {100 * entry['rate']:.0f} % "
            f"[{100 * low:.0f}-{100 * high:.0f}]")


def _num(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _ks(k_max: int) -> list[int]:
    return sorted({k for k in (1, 5, 10, k_max) if k <= k_max})


def csp_markdown(summary: Mapping[str, Any], formulas: Mapping[str, str] | None = None,
                 methods: Sequence[str] | None = None) -> str:
    """Methods side by side (match@k, found-as-lowest, RMS, best - known), then one row per
    compound with each method's first matching budget index and best - known energy."""
    k_max = int(summary["k_max"])
    ks = _ks(k_max)
    order = list(methods or summary["methods"])
    head = ["method", "compounds", "candidates (ok)", *[f"match@{k}" for k in ks],
            f"match@{k_max} strict", "found-as-lowest", "mean RMS (norm.)", "mean RMS (Å)",
            "median E_best - E_known (eV/atom)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in order:
        e = summary["methods"].get(m)
        if e is None:
            continue
        curve = {c["k"]: c for c in e["match_at_k"]}
        cells = [m, str(e["n_compounds"]), f"{e['n_candidates']} ({e['n_ok']})",
                 *[format_rate(curve[k]) for k in ks],
                 format_rate(e["match_at_k_strict"][-1]), format_rate(e["found_as_lowest"]),
                 _num(e["rms"]["mean"]), _num(e["rms_angstrom"]["mean"]),
                 _num(e["best_minus_reference"]["median"], "+.3f")]
        lines.append("| " + " | ".join(cells) + " |")
    by: dict[str, dict[str, Mapping[str, Any]]] = {}
    for c in summary["compounds"]:
        by.setdefault(c["compound_id"], {})[c["method"]] = c
    present = [m for m in order if m in summary["methods"]]
    lines += ["", "Per compound: first matching candidate (budget index, '-' none) / "
              "E_best - E_known (eV/atom)", "",
              "| compound | formula | " + " | ".join(present) + " |",
              "|" + "---|" * (2 + len(present))]
    for cid, entries in by.items():
        cells = [cid, (formulas or {}).get(cid, "")]
        for m in present:
            c = entries.get(m)
            cells.append("-" if c is None else
                         f"{c['first_match'] or '-'} / {_num(c['best_minus_reference'], '+.3f')}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def hosts_markdown(summary: Mapping[str, Any], methods: Sequence[str] | None = None) -> str:
    """One row per method and stage: hosts recovered (match or LES), matched, LES."""
    head = ["method", "stage", "hosts", "candidates", "recovered (match or LES)", "match",
            "strict match", "recovered (strict match or LES)", "LES",
            "median E_best - E_known (eV/atom)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods or summary["methods"]:
        e = summary["methods"].get(m)
        if e is None:
            continue
        for stage in summary["stages"]:
            s = e[stage]
            lines.append("| " + " | ".join([
                m, stage, str(e["n_hosts"]), str(e["n_candidates"]),
                format_rate(s["recovered"]), format_rate(s["matched"]),
                format_rate(s["matched_strict"]), format_rate(s["recovered_strict"]),
                format_rate(s["les"]),
                _num(s["best_minus_reference"]["median"], "+.3f")]) + " |")
    return "\n".join(lines) + "\n"
