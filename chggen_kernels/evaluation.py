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
* :func:`markdown_report`, :func:`quality_card` (from :mod:`chggen_kernels.quality_report`):
  the tables for ``chggen_kernels/data/MODEL_CARD.md`` and the card a checkpoint stores.

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

from chggen_kernels.quality_report import markdown_report, quality_card, sampler_text

__all__ = [
    "SYMMETRIC_MIN_SPACEGROUP",
    "compare_sigma_bins",
    "failure_category",
    "is_symmetric_row",
    "markdown_report",
    "quality_card",
    "sampler_text",
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


def summarize_frameworks(runs: Iterable[Mapping[str, Any]],
                         key: str = "framework_spacegroups") -> list[dict[str, Any]]:
    """Per chemical system: the space groups the symmetry ladder gives the frameworks.

    ``runs``: mappings with ``system`` and ``key`` (space-group number -> number of hosts
    whose framework ends the ladder there: the first rung above P-1, or P1 / P-1 at the
    last rung; e.g. ``"framework_spacegroups_reference_ladder"`` for spglib alone). Counts
    and 95 % Wilson intervals of the frameworks above P1 (number > 1) and above P-1
    (number > 2, the frameworks the workflow inpaints into).
    """
    histograms: dict[str, Counter[int]] = {}
    for run in runs:
        counts = histograms.setdefault(str(run["system"]), Counter())
        for number, n in (run.get(key) or {}).items():
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
        "val_noise_draws": noise_draws or stored.get("val_noise_draws",
                                                      TrainSettings.val_noise_draws)})
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
