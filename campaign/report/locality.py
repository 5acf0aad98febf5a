"""Locality-bias analysis (paper Fig. 2): local environments of generated structures
against the training set.

Partial radial distribution functions per species pair and coordination-number
distributions per element, for the diffusion model's raw output (``structure_generated``,
before relaxation) and for the training crystals of the same chemical system. Similar
curves with broken long-range order (low symmetry) are the signature of locality bias:
the model learned local motifs but not how to tile them periodically.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from campaign.report.figures import new_figure, save_figure
from campaign.report.load import ReportError, default_output_dir, load_candidates, parse_structure
from chggen_kernels.analysis import (
    CoordinationStats,
    PartialRDF,
    RDFSettings,
    coordination_distribution,
    partial_rdf,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from pymatgen.core import Structure

__all__ = [
    "LocalityResult",
    "analyze_locality",
    "coordination_figure",
    "load_generated_structures",
    "load_reference_structures",
    "rdf_figure",
]

GENERATED_COLOR = "#1f77b4"
REFERENCE_COLOR = "0.35"


@dataclasses.dataclass(frozen=True)
class LocalityResult:
    """Files written by :func:`analyze_locality` and its numbers (``summary``)."""

    output_dir: Path
    figures: dict[str, Path]
    summary_path: Path
    summary: dict[str, Any]
    notes: tuple[str, ...]


def _subsample(items: list, n: int | None, seed: int) -> list:
    if n is None or len(items) <= n:
        return items
    keep = np.sort(np.random.default_rng(seed).choice(len(items), size=n, replace=False))
    return [items[i] for i in keep]


def load_generated_structures(
    directory: str | Path,
    which: Literal["generated", "relaxed"] = "generated",
    max_structures: int | None = None,
    seed: int = 0,
) -> list[Structure]:
    """Structures of a results folder: the sampler's output (``generated``, every row that
    has one, also those whose relaxation failed) or the relaxed ones; a random subset of
    ``max_structures`` (fixed ``seed``) when there are more.

    Raises:
        ReportError: missing or empty folder, or no row with such a structure.
    """
    if which not in ("generated", "relaxed"):
        raise ValueError(f"which must be 'generated' or 'relaxed', got {which!r}")
    column = f"structure_{which}"
    table = load_candidates(directory, columns=["candidate_id", column], require_success=False)
    rows = table[table[column].notna()]
    if rows.empty:
        raise ReportError(
            f"results folder {str(directory)!r}: none of the {len(table)} candidates has a "
            f"{which} structure (see the failure_reason column)"
        )
    picked = _subsample(list(zip(rows[column], rows["candidate_id"], strict=True)),
                        max_structures, seed)
    return [parse_structure(text, cid) for text, cid in picked]


def load_reference_structures(
    path: str | Path,
    elements: Sequence[str] | None = None,
    max_structures: int | None = None,
    seed: int = 0,
) -> list[Structure]:
    """Training crystals from a Parquet table (``structure`` column, pymatgen JSON), a
    folder of Parquet or CIF/POSCAR files, or an extended-XYZ file; invalid crystals are
    skipped. ``elements``: keep crystals made only of these elements. A random subset of
    ``max_structures`` is returned when there are more.

    Raises:
        ReportError: nothing readable, or no crystal within ``elements``.
    """
    from chggen_kernels.training.data import TrainingDataError, load_training_data

    try:
        data = load_training_data(path, on_invalid="skip")
    except TrainingDataError as exc:
        raise ReportError(f"reference structures: {exc}") from None
    structures = data.structures()
    if elements is not None:
        allowed = set(elements)
        structures = [s for s in structures
                      if {el.symbol for el in s.composition.elements} <= allowed]
        if not structures:
            raise ReportError(
                f"reference structures {str(path)!r}: none of the {data.n_read} crystals is "
                f"made only of {'-'.join(sorted(allowed))}"
            )
    return _subsample(structures, max_structures, seed)


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, n)
    return (n + cols - 1) // cols, cols


def rdf_figure(generated: PartialRDF, reference: PartialRDF | None = None) -> Figure:
    """One panel per species pair: g(r) of generated structures (solid) and of the
    training set (dashed); r in Å (paper Fig. 2c, d)."""
    pairs = generated.pairs
    rows, cols = _grid(len(pairs))
    fig = new_figure(3.4 * cols, 2.6 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, pair in zip(axes, pairs, strict=False):
        ax.plot(generated.r, generated.g[pair], color=GENERATED_COLOR,
                label=f"generated (n={generated.n_structures[pair]})")
        if reference is not None and pair in reference.g:
            ax.plot(reference.r, reference.g[pair], "--", color=REFERENCE_COLOR,
                    label=f"training (n={reference.n_structures[pair]})")
        ax.axhline(1.0, color="0.8", linewidth=0.8)
        ax.set_title(f"{pair[0]}-{pair[1]}", fontsize=10)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("g(r)")
        ax.legend(frameon=False, fontsize=7)
    for ax in axes[len(pairs):]:
        ax.set_axis_off()
    return fig


def coordination_figure(
    generated: CoordinationStats, reference: CoordinationStats | None = None
) -> Figure:
    """One panel per element: share of sites with each coordination number, generated
    versus training (paper Fig. 2e, f)."""
    elements = sorted(generated.counts)
    rows, cols = _grid(max(1, len(elements)))
    fig = new_figure(3.4 * cols, 2.6 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, element in zip(axes, elements, strict=False):
        gen = generated.fractions(element)
        ref = reference.fractions(element) if reference is not None else {}
        cns = sorted(set(gen) | set(ref))
        x = np.arange(len(cns))
        width = 0.4 if ref else 0.8
        ax.bar(x - (0.2 if ref else 0.0), [100 * gen.get(c, 0.0) for c in cns], width,
               color=GENERATED_COLOR, label="generated")
        if ref:
            ax.bar(x + 0.2, [100 * ref.get(c, 0.0) for c in cns], width,
                   color=REFERENCE_COLOR, label="training")
        ax.set_xticks(x, [str(c) for c in cns])
        ax.set_title(element, fontsize=10)
        ax.set_xlabel("coordination number")
        ax.set_ylabel("sites (%)")
        ax.legend(frameon=False, fontsize=7)
    for ax in axes[len(elements):]:
        ax.set_axis_off()
    return fig


def _rdf_summary(generated: PartialRDF, reference: PartialRDF | None) -> dict[str, Any]:
    out = {}
    width = np.diff(generated.edges)
    for pair in generated.pairs:
        g = generated.g[pair]
        entry: dict[str, Any] = {"n_generated": generated.n_structures[pair],
                                 "highest_peak_generated": float(generated.r[int(np.argmax(g))])}
        if reference is not None and pair in reference.g:
            h = reference.g[pair]
            entry |= {"n_training": reference.n_structures[pair],
                      "highest_peak_training": float(reference.r[int(np.argmax(h))]),
                      "mean_abs_difference": float(np.sum(np.abs(g - h) * width) / width.sum())}
        out[f"{pair[0]}-{pair[1]}"] = entry
    return out


def _cn_summary(generated: CoordinationStats, reference: CoordinationStats | None) -> dict:
    out = {}
    for element in sorted(generated.counts):
        gen = generated.fractions(element)
        entry: dict[str, Any] = {"fractions_generated": {str(k): v for k, v in gen.items()},
                                 "mean_generated": generated.mean(element)}
        if reference is not None and element in reference.counts:
            ref = reference.fractions(element)
            cns = set(gen) | set(ref)
            entry |= {"fractions_training": {str(k): v for k, v in ref.items()},
                      "mean_training": reference.mean(element),
                      "total_variation": 0.5 * sum(abs(gen.get(c, 0) - ref.get(c, 0))
                                                   for c in cns)}
        out[element] = entry
    return out


def analyze_locality(
    directory: str | Path,
    reference: str | Path | None = None,
    output_dir: str | Path | None = None,
    *,
    which: Literal["generated", "relaxed"] = "generated",
    max_structures: int | None = 200,
    rdf: RDFSettings | None = None,
    cn_method: Literal["crystalnn", "min_dist"] = "crystalnn",
    seed: int = 0,
) -> LocalityResult:
    """RDF and coordination-number comparison of a run's structures with the training set.

    ``reference`` is the training set (see :func:`load_reference_structures`); only its
    crystals made of the run's elements are used. ``max_structures`` bounds both sides
    (random subsets, fixed ``seed``). Writes ``rdf.png``, ``coordination.png`` and
    ``locality.json`` (positions of the highest g(r) peak in Å, mean |g_gen - g_train| per pair, CN
    distributions, mean CNs and their total-variation distance) to ``output_dir``
    (default ``DIR/_report/locality``).
    """
    rdf = rdf or RDFSettings()
    structures = load_generated_structures(directory, which, max_structures, seed)
    elements = sorted({el.symbol for s in structures for el in s.composition.elements})
    notes: list[str] = []
    ref_structures = (load_reference_structures(reference, elements, max_structures, seed)
                      if reference is not None else None)
    if ref_structures is None:
        notes.append("no training set given (--reference): generated structures only")
    gen_rdf = partial_rdf(structures, rdf)
    ref_rdf = partial_rdf(ref_structures, rdf) if ref_structures else None
    gen_cn = coordination_distribution(structures, cn_method)
    ref_cn = coordination_distribution(ref_structures, cn_method, elements=elements) \
        if ref_structures else None
    for label, stats in (("generated", gen_cn), ("training", ref_cn)):
        if stats is not None and stats.n_failed:
            notes.append(f"coordination numbers failed on {stats.n_failed} {label} structures "
                         f"(first: {stats.failures[0]})")
    out = Path(output_dir) if output_dir is not None else default_output_dir(
        directory, "report") / "locality"
    figures = {"rdf": save_figure(rdf_figure(gen_rdf, ref_rdf), out / "rdf.png"),
               "coordination": save_figure(coordination_figure(gen_cn, ref_cn),
                                           out / "coordination.png")}
    summary = {
        "structures": which, "n_generated": len(structures),
        "n_training": len(ref_structures) if ref_structures else 0,
        "reference": None if reference is None else str(reference),
        "elements": elements, "rdf_r_max": rdf.r_max, "rdf_bin_width": rdf.bin_width,
        "cn_method": cn_method, "rdf": _rdf_summary(gen_rdf, ref_rdf),
        "coordination": _cn_summary(gen_cn, ref_cn), "notes": notes,
    }
    summary_path = out / "locality.json"
    summary_path.write_text(json.dumps(summary, indent=2))
    return LocalityResult(out, figures, summary_path, summary, tuple(notes))
