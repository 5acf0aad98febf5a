"""The model-card forms of a model-quality result: the metadata card and Markdown tables.

:func:`quality_card` is what ``examples/attach_model_quality.py`` stores in a checkpoint
(``chggen model info`` prints it); :func:`markdown_report` gives the tables of
``chggen_kernels/data/MODEL_CARD.md`` from a ``benchmarks/eval_model_quality.py`` result.
Re-exported by :mod:`chggen_kernels.evaluation`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["markdown_report", "quality_card", "sampler_text"]


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _rate(summary: Mapping[str, Any]) -> str:
    rate = summary.get("symmetry_success_rate")
    if rate is None:
        return "-"
    ci = summary.get("symmetry_success_rate_ci95")
    return f"{100 * rate:.1f} %" + _interval(ci)


def _interval(ci: Sequence[float] | None) -> str:
    """`` [lo-hi]`` in percent for a Wilson interval, or nothing."""
    return f" [{100 * ci[0]:.0f}-{100 * ci[1]:.0f}]" if ci else ""


def _count(k: int, n: int, ci: Sequence[float] | None) -> str:
    return f"{k}/{n}{_interval(ci)}"


def _top_spacegroups(histogram: Mapping[str, int], n: int = 4) -> str:
    pairs = sorted(histogram.items(), key=lambda kv: (-kv[1], int(kv[0])))[:n]
    return ", ".join(f"{k}: {v}" for k, v in pairs) or "-"


def sampler_text(sampler: Mapping[str, Any]) -> str:
    """"200 levels x 5 corrector steps at or below 1.0 Å" from a result's sampler settings
    (the ceiling, in Å of sigma, only when the correctors have one)."""
    ceiling = sampler.get("corrector_sigma_max")
    return (f"{sampler.get('n_levels', '?')} levels x "
            f"{sampler.get('n_corrector_steps', '?')} corrector steps"
            + (f" at or below {ceiling} Å" if ceiling else ""))


def quality_card(result: Mapping[str, Any]) -> dict[str, Any]:
    """The measured quality an evaluation result stores in a checkpoint's metadata.

    Per chemical system and mode: samples, failed, relaxed, symmetric (with the 95 % Wilson
    interval of the rate), median relaxation ΔE (eV/atom) and RMSD (Å); the validation
    loss per sigma bin; the sampler and the number of samples. ``chggen model info``
    prints it.
    """
    settings = result.get("settings", {})
    sampler = settings.get("sampler", {})
    keys = ("system", "mode", "n_samples", "n_failed", "n_relaxed", "n_symmetric",
            "symmetry_success_rate", "symmetry_success_rate_ci95", "median_delta_e_relax",
            "median_rmsd_relax")
    validation = result.get("validation") or {}
    return {
        "systems": [{k: s.get(k) for k in keys} for s in result.get("systems_summary", [])],
        "frameworks": [{k: f.get(k) for k in ("system", "n_frameworks", "n_above_p1",
                                                "n_above_p1bar")}
                       for f in result.get("frameworks_summary", [])],
        "frameworks_reference_ladder": [
            {k: f.get(k) for k in ("system", "n_frameworks", "n_above_p1", "n_above_p1bar")}
            for f in result.get("frameworks_summary_reference_ladder", [])],
        "validation_by_bin": {row["sigma_bin"]: row["trained"]
                              for row in validation.get("bins", [])},
        "sampler": sampler_text(sampler),
        "samples_per_cell": settings.get("samples"),
        "sizes": settings.get("sizes"),
        "seed": settings.get("seed"),
        "source": "benchmarks/eval_model_quality.py",
    }


def markdown_report(result: Mapping[str, Any]) -> str:
    """Markdown tables of an evaluation result (the JSON of eval_model_quality.py)."""
    lines: list[str] = []
    settings = result.get("settings", {})
    sampler = settings.get("sampler", {})
    reduced = settings.get("sampler_reduced", False)
    head = (f"Checkpoint `{result.get('checkpoint', {}).get('label', '?')}` "
            f"(sha256 {str(result.get('checkpoint', {}).get('sha256', ''))[:12]}); "
            f"sampler {sampler_text(sampler)}"
            + (" (**reduced**, not the reference 200 x 5)" if reduced else " (reference)")
            + f"; hull {settings.get('hull', '?')}; seed {settings.get('seed', '?')}; wall time "
            f"{_fmt(result.get('wall_time_s'), '.0f')} s.")
    lines += [head, ""]
    validation = result.get("validation")
    if validation and validation.get("bins"):
        lines += [f"Validation DSM loss ({validation.get('n_crystals')} held-out crystals, "
                  f"{validation.get('noise_draws')} noise draws each; split: "
                  f"{validation.get('split')})", "",
                  "| sigma range (Å) | trained | untrained | change |", "|---|---|---|---|"]
        for row in validation["bins"] + [validation["all"]]:
            change = row.get("relative_change")
            lines.append(f"| {row['sigma_bin']} | {row['trained']:.3f} | {row['untrained']:.3f}"
                         f" | {'-' if change is None else f'{100 * change:+.0f} %'} |")
        lines.append("")
    groups = result.get("groups_summary", [])
    if groups:
        lines += ["Symmetry success rate by composition and cell size (rate over relaxed "
                  "candidates, 95 % Wilson interval in brackets)", "",
                  "| system | formula | atoms/cell | mode | samples | failed | symmetric | "
                  "rate | hosts (symmetric framework) | top space groups |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for g in groups:
            hosts = g.get("hosts")
            host_text = (f"{hosts['n_hosts']} ({hosts['n_symmetric_framework']})"
                         if hosts else "-")
            lines.append(f"| {g['system']} | {g['formula']} | {g['atoms_per_cell']} | "
                         f"{g['mode']} | {g['n_samples']} | {g['n_failed']} | "
                         f"{g['n_symmetric']} | {_rate(g)} | {host_text} | "
                         f"{_top_spacegroups(g['spacegroup_histogram'])} |")
        lines.append("")
    frameworks = result.get("frameworks_summary", [])
    reference = {f["system"]: f for f in result.get("frameworks_summary_reference_ladder", [])}
    if frameworks:
        lines += ["Frameworks of the relaxed unconditional candidates (guests removed, "
                  "symmetry ladder 0.1-2.0 Å with the two-fold pass; the workflow inpaints "
                  "into those above P-1; last column: spglib alone, the reference ladder)", "",
                  "| system | frameworks | above P1 | above P-1 | ladder space groups "
                  "| above P-1, reference ladder |", "|---|---|---|---|---|---|"]
        for f in frameworks:
            ref = reference.get(f["system"])
            ref_text = "-" if ref is None else _count(
                ref["n_above_p1bar"], ref["n_frameworks"], ref["above_p1bar_ci95"])
            lines.append(f"| {f['system']} | {f['n_frameworks']} | "
                         f"{_count(f['n_above_p1'], f['n_frameworks'], f['above_p1_ci95'])} | "
                         f"{_count(f['n_above_p1bar'], f['n_frameworks'], f['above_p1bar_ci95'])}"
                         f" | {_top_spacegroups(f['spacegroup_histogram'], 6)} | {ref_text} |")
        lines.append("")
    systems = result.get("systems_summary", [])
    if systems:
        lines += ["Per chemical system and mode (relaxation: generated vs CHGNet-relaxed; "
                  "paper, Zn-P-S: median ΔE 0.08 eV/atom, RMSD 0.10 Å, unconditional "
                  "symmetric rate < 5 %)", "",
                  "| system | mode | samples | relaxed | symmetric | rate | median ΔE "
                  "(eV/atom) | median RMSD (Å) | median E_d (eV/atom) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for s in systems:
            lines.append(f"| {s['system']} | {s['mode']} | {s['n_samples']} | "
                         f"{s['n_relaxed']} | {s['n_symmetric']} | {_rate(s)} | "
                         f"{_fmt(s['median_delta_e_relax'])} | {_fmt(s['median_rmsd_relax'])} | "
                         f"{_fmt(s['median_e_d'])} |")
        lines.append("")
    return "\n".join(lines)
