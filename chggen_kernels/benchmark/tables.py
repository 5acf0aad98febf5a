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
    lines += _cost_and_classes(summary, order, k_max)
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


def _cost_and_classes(summary: Mapping[str, Any], order: Sequence[str], k_max: int
                      ) -> list[str]:
    """CPU cost per find, match@1/5/k and found-as-lowest per size class, and the paired
    test against random search (summaries written before these existed: nothing)."""
    methods = [m for m in order if "cpu" in summary["methods"].get(m, {})]
    if not methods:
        return []
    ks = sorted({k for k in (1, 5, k_max) if k <= k_max})
    head = ["method", "CPU s (tasks timed)", "CPU s per compound", f"CPU s per match@{k_max}"]
    for label in ("< 10 atoms", "10-20 atoms"):
        head += [f"{label}: match@{k}" for k in ks] + [f"{label}: found-as-lowest"]
    lines = ["", "CPU seconds (process time: structure generation, sampling and relaxation) "
             "and rates per size class of the cell searched", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        e = summary["methods"][m]
        cpu = e["cpu"]
        cells = [m, f"{_num(cpu['cpu_s_total'], '.0f')} ({cpu['n_timed']})",
                 _num(cpu["cpu_s_per_compound"], ".1f"), _num(cpu["cpu_s_per_match"], ".1f")]
        for name in ("lt10", "10to20"):
            c = e["size_classes"][name]
            cells += [format_rate(c.get(f"match_at_{k}")) for k in ks]
            cells.append(format_rate(c["found_as_lowest"]))
        lines.append("| " + " | ".join(cells) + " |")
    paired = summary.get("paired_vs_random") or {}
    if paired:
        lines += ["", f"Paired against random search at match@{k_max} (McNemar's exact test "
                  "on the compounds both ran)", "",
                  "| method | compounds | found by it only | by random only | by both | p |",
                  "|---|---|---|---|---|---|"]
        for m in [m for m in order if m in paired]:
            p = paired[m]
            lines.append(f"| {m} | {p['n_compounds']} | {p['method_only']} | "
                         f"{p['baseline_only']} | {p['both']} | {p['p_mcnemar']:.3g} |")
    return lines


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
