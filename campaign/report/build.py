"""``build_report``: a results folder -> PNG figures, a ranked CSV and one HTML page."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from campaign.report.cells import cell_figure
from campaign.report.dedup import unique_candidates
from campaign.report.figures import (
    E_D_SCREENING_THRESHOLD,
    e_d_figure,
    relaxation_figure,
    save_figure,
    spacegroup_figure,
    symmetry_rate_figure,
)
from campaign.report.html import TABLE_COLUMNS, FigureBlock, render_page
from campaign.report.hull import (
    binary_hull_figure,
    binary_systems,
    hull_source_from_spec,
    infer_hull_spec,
)
from campaign.report.load import (
    default_output_dir,
    load_candidates,
    parse_structure,
    summary_counts,
)
from chggen_kernels.analysis import MatchSettings

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["ReportResult", "build_report", "safe_name"]


@dataclasses.dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote: the page, the PNG files by name, the ranked CSV,
    the summary JSON, and notes on what could not be drawn."""

    output_dir: Path
    html_path: Path
    figures: dict[str, Path]
    table_path: Path
    summary_path: Path
    notes: tuple[str, ...]


def safe_name(text: str) -> str:
    """``text`` with everything but letters, digits, ``.``, ``_`` and ``-`` replaced."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))


_CAPTIONS = {
    "symmetry_rate": ("Symmetry success rate versus atoms per cell",
                      "Share of relaxed candidates whose space group is above P1 / P-1, "
                      "unconditional versus inpainting (paper Fig. 6); failed candidates "
                      "are not counted."),
    "relaxation": ("Relaxation distributions",
                   "Energy change (generated minus relaxed, eV/atom) and RMSD between "
                   "generated and relaxed structures (Å), dashed lines at the medians "
                   "(paper Fig. 4a, b)."),
    "e_d": ("Decomposition energy",
            "E_d against the reference hull (eV/atom); black line at 0, red dotted line at "
            f"the {1000 * E_D_SCREENING_THRESHOLD:.0f} meV/atom DFT screening threshold "
            "(paper Fig. 4c)."),
    "spacegroups": ("Space groups", "Space groups of the relaxed candidates, by mode."),
}


def _block(name: str, fig: Figure | None, out: Path, figures: dict[str, Path],
           title: str | None = None, caption: str | None = None, note: str = "") -> FigureBlock:
    default_title, default_caption = _CAPTIONS.get(name, (name, ""))
    title, caption = title or default_title, caption or default_caption
    if fig is None:
        return FigureBlock(title, caption, None, note or "no data in the results")
    path = save_figure(fig, out / f"{name}.png")
    figures[name] = path
    return FigureBlock(title, caption, path.read_bytes())


def _hull_blocks(table: pd.DataFrame, hull: str, out: Path, figures: dict[str, Path],
                 notes: list[str]) -> list[FigureBlock]:
    from chggen_kernels.thermo import HullSourceError, ThermoInputError, get_hull

    systems = binary_systems(table)
    if not systems:
        found = ", ".join(sorted(set(table["chemsys"].dropna()))) or "none"
        notes.append(f"formation-energy hull: drawn for binary systems only (found {found})")
        return []
    spec = infer_hull_spec(table) if hull == "auto" else hull
    blocks = []
    for chemsys in systems:
        name = f"hull_{safe_name(chemsys)}"
        title = f"{chemsys} formation-energy hull"
        caption = (f"Formation energies (eV/atom) of the reference phases ({spec} hull) and "
                   "of the relaxed candidates against the same elemental references "
                   "(paper Fig. 5a).")
        try:
            source = hull_source_from_spec(spec)
            phase_diagram = get_hull(source, chemsys)
            fig = binary_hull_figure(table, phase_diagram, chemsys, hull_name=source.name)
        except (HullSourceError, ThermoInputError, ValueError, OSError) as exc:
            notes.append(f"{title}: not drawn ({exc})")
            blocks.append(FigureBlock(title, caption, None, f"not drawn: {exc}"))
            continue
        blocks.append(_block(name, fig, out, figures, title, caption))
    return blocks


def _cell_blocks(unique: pd.DataFrame, n_cells: int, out: Path,
                 figures: dict[str, Path]) -> list[FigureBlock]:
    import pandas as pd

    blocks = []
    for row in unique.head(n_cells).itertuples(index=False):
        structure = parse_structure(row.structure_relaxed, row.candidate_id)
        sg = row.spacegroup_symbol_relaxed or "?"
        e_d = "" if pd.isna(row.e_d) else f", E_d {row.e_d:+.3f} eV/atom"
        title = f"#{row.rank} {row.formula} ({sg}){e_d}"
        name = f"cells/cell_{row.rank:02d}_{safe_name(row.candidate_id)}"
        fig = cell_figure(structure, title)
        path = save_figure(fig, out / f"{name}.png")
        figures[name] = path
        blocks.append(FigureBlock(title, f"candidate {row.candidate_id}, {row.composition}, "
                                  f"{len(structure)} atoms", path.read_bytes()))
    return blocks


def build_report(
    directory: str | Path,
    output_dir: str | Path | None = None,
    *,
    top: int = 20,
    n_cells: int = 6,
    hull: str = "auto",
    match: MatchSettings | None = None,
) -> ReportResult:
    """Write the report of a results folder.

    Args:
        directory: results folder (``part-*.parquet``).
        output_dir: where to write; default ``DIR/_report`` (ignored by Parquet readers).
        top: rows of the ranked table of unique candidates.
        n_cells: unit-cell pictures of the best unique candidates (0: none).
        hull: reference hull of the formation-energy plot: ``auto`` (the one the run
            used, from its ``hull_source`` column), ``offline``, ``mp`` or a file path.
        match: StructureMatcher tolerances for merging duplicates.

    Writes ``index.html`` (self-contained), one PNG per figure, ``cells/*.png``,
    ``top_candidates.csv`` and ``summary.json``.

    Raises:
        ReportError: the folder is missing, empty, or every candidate failed.
    """
    if top < 1 or n_cells < 0:
        raise ValueError(f"top must be >= 1 and n_cells >= 0, got top={top}, n_cells={n_cells}")
    table = load_candidates(directory)
    out = Path(output_dir) if output_dir is not None else default_output_dir(directory, "report")
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Path] = {}
    notes: list[str] = []
    summary = summary_counts(table)
    blocks = [
        _block("symmetry_rate", symmetry_rate_figure(table), out, figures),
        _block("relaxation", relaxation_figure(table), out, figures),
        _block("e_d", e_d_figure(table), out, figures,
               note="no E_d in the results (run without a hull?)"),
        _block("spacegroups", spacegroup_figure(table), out, figures),
    ]
    blocks += _hull_blocks(table, hull, out, figures, notes)
    unique = unique_candidates(table, top=top, settings=match)
    cells = _cell_blocks(unique, n_cells, out, figures)
    shown = [c for c, _, _ in TABLE_COLUMNS if c in unique.columns]
    table_path = out / "top_candidates.csv"
    unique[[*shown, "duplicate_ids"]].astype({"spacegroup_relaxed": "Int64"}).to_csv(
        table_path, index=False)
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps({**summary, "notes": notes}, indent=2))
    html_path = out / "index.html"
    page = render_page(f"chggen report: {Path(directory).resolve().name}", summary, blocks,
                       unique, cells, notes)
    html_path.write_text(page, encoding="utf-8")
    return ReportResult(out, html_path, figures, table_path, summary_path, tuple(notes))
