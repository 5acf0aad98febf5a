"""Aggregation of generated-candidate rows into the model-quality numbers of the model card.

Pure functions on plain rows (``CandidateRecord.to_dict()`` or any mapping with the same
column names), used by ``benchmarks/eval_model_quality.py``:

* :func:`summarize_rows`: counts, symmetry success rate, space-group histogram and the
  relaxation statistics of one group of candidates;
* :func:`summarize_by`: the same for every value of some grouping columns;
* :func:`summarize_frameworks`: how far the frameworks of the unconditional candidates
  (guests removed) climb the symmetry ladder: above P1, above P-1, per system;
* :func:`compare_sigma_bins`, :func:`validation_loss_comparison`: validation DSM loss per
  sigma bin, trained vs untrained on the same noisy held-out crystals;
* :func:`markdown_report`: the tables for ``chggen_kernels/data/MODEL_CARD.md``.

Definitions (paper, Fig. 4f / Fig. 6): a candidate is *symmetric* when its relaxed structure
has a space-group number above 2 (neither P1 nor P-1). The *symmetry success rate* is the
share of successfully relaxed candidates (``status == "ok"``) that are symmetric;
``symmetry_success_rate_all`` counts failed candidates as not symmetric. Units:
``delta_e_relax`` (generated minus relaxed energy) and energies in eV/atom, ``rmsd_relax``
in Å.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "SYMMETRIC_MIN_SPACEGROUP",
    "compare_sigma_bins",
    "failure_category",
    "is_symmetric_row",
    "markdown_report",
    "quality_card",
    "summarize_by",
    "summarize_frameworks",
    "summarize_rows",
    "validation_loss_comparison",
    "wilson_interval",
]

#: Space-group numbers from this one up count as symmetric (1 = P1, 2 = P-1 do not).
SYMMETRIC_MIN_SPACEGROUP = 3


def _as_mapping(row: Any) -> Mapping[str, Any]:
    if isinstance(row, Mapping):
        return row
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    raise TypeError(f"a row must be a mapping or a dataclass record, got {type(row).__name__}")


def is_symmetric_row(row: Mapping[str, Any]) -> bool:
    """True for a successfully relaxed row whose relaxed space group is above P-1."""
    sg = row.get("spacegroup_relaxed")
    return row.get("status") == "ok" and sg is not None and int(sg) >= SYMMETRIC_MIN_SPACEGROUP


def failure_category(reason: str | None) -> str:
    """The stage prefix of a failure reason, e.g. ``'relaxation'`` or ``'sampler'``."""
    if not reason:
        return "unknown"
    return reason.split(":", 1)[0].strip() or "unknown"


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score interval (default 95 %) of a binomial rate ``k / n``; None for n = 0."""
    if isinstance(k, bool) or isinstance(n, bool) or not (0 <= k <= n):
        raise ValueError(f"wilson_interval needs integers 0 <= k <= n, got k={k!r}, n={n!r}")
    if n == 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _finite_values(rows: Iterable[Mapping[str, Any]], column: str) -> list[float]:
    out = []
    for row in rows:
        value = row.get(column)
        if value is not None and math.isfinite(float(value)):
            out.append(float(value))
    return out


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return float(statistics.fmean(values)) if values else None


def summarize_rows(rows: Iterable[Any]) -> dict[str, Any]:
    """Counts, symmetry success rate and relaxation statistics of one group of rows.

    Returns ``n_samples`` (rows), ``n_failed``, ``n_relaxed`` (status ok), ``n_symmetric``,
    ``symmetry_success_rate`` (``n_symmetric / n_relaxed``, None without relaxed rows) with
    its 95 % Wilson interval, ``symmetry_success_rate_all`` (``n_symmetric / n_samples``),
    ``spacegroup_histogram`` (relaxed space-group number -> count, ok rows only, keys as
    strings in ascending number), ``failures`` (stage -> count), medians and means of
    ``delta_e_relax`` (eV/atom) and ``rmsd_relax`` (Å) over ok rows, the median relaxed
    energy and E_d (eV/atom), ``n_converged`` and ``atoms_per_cell_generated`` (cell size
    -> count: inpainted cells can be larger than their hosts).
    """
    items = [_as_mapping(r) for r in rows]
    ok = [r for r in items if r.get("status") == "ok"]
    n_symmetric = sum(is_symmetric_row(r) for r in ok)
    histogram = Counter(int(r["spacegroup_relaxed"]) for r in ok
                        if r.get("spacegroup_relaxed") is not None)
    failures = Counter(failure_category(r.get("failure_reason")) for r in items
                       if r.get("status") != "ok")
    sizes = Counter(int(r["n_atoms"]) for r in items if r.get("n_atoms") is not None)
    delta_e = _finite_values(ok, "delta_e_relax")
    rmsd = _finite_values(ok, "rmsd_relax")
    energy = _finite_values(ok, "energy_relaxed_per_atom")
    e_d = _finite_values(ok, "e_d")
    interval = wilson_interval(n_symmetric, len(ok))
    return {
        "n_samples": len(items),
        "n_failed": len(items) - len(ok),
        "n_relaxed": len(ok),
        "n_symmetric": n_symmetric,
        "symmetry_success_rate": n_symmetric / len(ok) if ok else None,
        "symmetry_success_rate_ci95": list(interval) if interval else None,
        "symmetry_success_rate_all": n_symmetric / len(items) if items else None,
        "spacegroup_histogram": {str(k): histogram[k] for k in sorted(histogram)},
        "failures": dict(sorted(failures.items())),
        "n_converged": sum(bool(r.get("relax_converged")) for r in ok),
        "median_delta_e_relax": _median(delta_e),
        "mean_delta_e_relax": _mean(delta_e),
        "median_rmsd_relax": _median(rmsd),
        "mean_rmsd_relax": _mean(rmsd),
        "n_rmsd": len(rmsd),
        "median_energy_relaxed_per_atom": _median(energy),
        "median_e_d": _median(e_d),
        "n_e_d_negative": sum(v < 0 for v in e_d),
        "atoms_per_cell_generated": {str(k): sizes[k] for k in sorted(sizes)},
    }


def summarize_by(rows: Iterable[Any], keys: Sequence[str]) -> list[dict[str, Any]]:
    """:func:`summarize_rows` for every combination of the ``keys`` columns present,
    sorted by those values; each entry holds the key values plus the summary."""
    if not keys:
        raise ValueError("summarize_by needs at least one key column")
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        mapping = _as_mapping(row)
        missing = [k for k in keys if k not in mapping]
        if missing:
            raise KeyError(f"row {mapping.get('candidate_id', '?')!r} lacks the columns {missing}")
        groups.setdefault(tuple(mapping[k] for k in keys), []).append(mapping)

    def order(item: tuple[tuple[Any, ...], Any]) -> tuple[tuple[Any, ...], ...]:
        return tuple((v is None, not isinstance(v, int | float),
                      v if isinstance(v, int | float) else 0, str(v)) for v in item[0])

    return [dict(zip(keys, key, strict=True)) | summarize_rows(members)
            for key, members in sorted(groups.items(), key=order)]


def summarize_frameworks(runs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per chemical system: the space groups the symmetry ladder gives the frameworks.

    ``runs``: mappings with ``system`` and ``framework_spacegroups`` (space-group number ->
    number of hosts whose framework ends the ladder there: the first rung above P-1, or P1 /
    P-1 at the last rung). Counts and 95 % Wilson intervals of the frameworks above P1
    (number > 1) and above P-1 (number > 2, the frameworks the workflow inpaints into).
    """
    histograms: dict[str, Counter[int]] = {}
    for run in runs:
        counts = histograms.setdefault(str(run["system"]), Counter())
        for number, n in (run.get("framework_spacegroups") or {}).items():
            counts[int(number)] += int(n)
    out = []
    for system, counts in sorted(histograms.items()):
        n = sum(counts.values())
        above_p1 = sum(v for k, v in counts.items() if k > 1)
        above_p1bar = sum(v for k, v in counts.items() if k >= SYMMETRIC_MIN_SPACEGROUP)
        out.append({"system": system, "n_frameworks": n,
                    "n_above_p1": above_p1, "above_p1_ci95": wilson_interval(above_p1, n),
                    "n_above_p1bar": above_p1bar,
                    "above_p1bar_ci95": wilson_interval(above_p1bar, n),
                    "spacegroup_histogram": {str(k): counts[k] for k in sorted(counts)}})
    return out


def compare_sigma_bins(trained: Mapping[str, float], untrained: Mapping[str, float]
                       ) -> list[dict[str, Any]]:
    """Per sigma bin: trained and untrained validation DSM loss and the relative change
    (``trained / untrained - 1``, None when the untrained loss is 0)."""
    if set(trained) != set(untrained):
        raise ValueError(f"sigma bins differ: trained {sorted(trained)}, "
                         f"untrained {sorted(untrained)}")
    out = []
    for label in trained:
        a, b = float(trained[label]), float(untrained[label])
        out.append({"sigma_bin": label, "trained": a, "untrained": b,
                    "relative_change": a / b - 1 if b != 0 else None})
    return out


# ---------------------------------------------------------------------------- validation
def _held_out(metadata: Any, data: Any, seed: int) -> tuple[list[int], str]:
    """Indices of the held-out crystals of ``data`` and how they were chosen."""
    from chggen_kernels.training import split_train_val

    n = len(data.crystals)
    n_val, n_train = metadata.extra.get("n_val"), metadata.extra.get("n_train", 0)
    val_ids = metadata.extra.get("validation_ids") or metadata.extra.get("val_ids")
    if val_ids:
        wanted = set(val_ids)
        found = [i for i, c in enumerate(data.crystals) if c.structure_id in wanted]
        if found:  # none found: the file is another data set, all of it held out
            return found, f"checkpoint validation_ids ({len(found)} of {len(wanted)} found)"
    if metadata.data_hash == data.hash and n_val and n_val + n_train == n:
        _, found = split_train_val(n, n_val / n, seed)
        return found, f"checkpoint split reproduced (seed {seed}, {n_val} of {n} held out)"
    return list(range(n)), "every crystal of the file (not the checkpoint's training data)"


def validation_loss_comparison(
    checkpoint: str | Path,
    data: Any,
    *,
    noise_draws: int | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Validation DSM loss (sigma^2-weighted, per atom) per sigma bin [0.01, 0.1), [0.1, 1),
    [1, 10] Å of a checkpoint and of an untrained model of the same configuration.

    ``data`` is a :class:`~chggen_kernels.training.TrainingData`. The held-out crystals are
    the checkpoint's ``validation_ids`` (structure ids in the metadata's ``extra``) when
    listed and present in ``data``; else, when ``data`` is the checkpoint's training set
    (same data hash and crystal count), its seeded split is reproduced; else every crystal
    counts as held out.
    ``limit`` keeps the first crystals only. Both models see the same fixed noise (the
    trainer's stratified validation draws, ``noise_draws`` per crystal, default the
    checkpoint's); the untrained model is initialised after ``torch.manual_seed(seed)``
    like the trainer's.
    """
    import torch

    from chggen_kernels.model import ScoreModel, ScoreModelConfig
    from chggen_kernels.training import (
        Trainer,
        TrainSettings,
        checkpoint_metadata,
        load_score_model,
        read_checkpoint,
    )

    payload = read_checkpoint(checkpoint)
    metadata = checkpoint_metadata(payload, checkpoint)
    model, _ = load_score_model(checkpoint)
    stored = dict(metadata.extra.get("settings", {}))
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    settings = TrainSettings.from_dict({k: v for k, v in stored.items() if k in known} | {
        "sigma_min": 0.01, "sigma_max": 10.0, "n_sigma_bins": 3,
        "val_noise_draws": noise_draws or stored.get("val_noise_draws", 6)})
    val_idx, split = _held_out(metadata, data, settings.seed)
    if limit is not None:
        val_idx = val_idx[:limit]
        split += f"; first {len(val_idx)} used"
    val = [data.crystals[i].structure for i in val_idx]
    t0 = time.perf_counter()
    trainer = Trainer(model, val, val, settings, data.hash)
    trained = trainer.validate(use_ema=True)  # the EMA copy holds the checkpoint's weights
    torch.manual_seed(settings.seed)
    untrained = ScoreModel(ScoreModelConfig.from_dict(payload["model_config"]))
    trainer.ema_model = untrained.to(dtype=getattr(torch, settings.dtype)).eval()
    baseline = trainer.validate(use_ema=True)  # the same fixed noisy crystals
    return {
        "data_hash": data.hash, "checkpoint_data_hash": metadata.data_hash, "split": split,
        "n_crystals": len(val), "noise_draws": settings.val_noise_draws,
        "n_noisy_samples": trained.n_samples, "seed": settings.seed,
        "bins": compare_sigma_bins(trained.loss_by_sigma, baseline.loss_by_sigma),
        "all": compare_sigma_bins({"all": trained.loss}, {"all": baseline.loss})[0],
        "checkpoint_recorded": {
            "final_val_by_bin": metadata.extra.get("final_val_by_bin"),
            "untrained_val_by_bin": metadata.extra.get("untrained_val_by_bin")},
        "wall_s": time.perf_counter() - t0,
    }


# ---------------------------------------------------------------------------- markdown
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
