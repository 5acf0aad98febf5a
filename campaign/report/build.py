"""``build_report``: a results folder -> PNG figures, CIFs, a ranked CSV and one HTML page
(3D views, hull figures of every system, provenance; self-contained, works offline)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaign.report.cards import candidate_cards, render_cards, volume_change
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
from campaign.report.modes import describe_modes
from campaign.report.phase import (
    close_figure,
    decomposition_sources,
    multinary_hull_figure,
    multinary_systems,
)
from campaign.report.provenance import collect_provenance, render_provenance
from campaign.report.viewer import VIEWER_SCRIPT, viewer_library
from chggen_kernels.analysis import MatchSettings
from chggen_kernels.thermo.novelty import describe_novelty

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["ReportResult", "build_report", "safe_name"]


@dataclasses.dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote: the page, the PNG files by name, the ranked CSV,
    the summary JSON, notes on what could not be drawn, and the CIFs of the ranked
    candidates (``cif/<rank>_<formula>_<id>.cif``; the page embeds them as data URIs)."""

    output_dir: Path
    html_path: Path
    figures: dict[str, Path]
    table_path: Path
    summary_path: Path
    notes: tuple[str, ...]
    cifs: tuple[Path, ...] = ()


def safe_name(text: str) -> str:
    """``text`` with everything but letters, digits, ``.``, ``_`` and ``-`` replaced."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))


_CAPTIONS = {
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


def _symmetry_caption(table: pd.DataFrame) -> str:
    """The symmetry figure's caption, naming the modes of the successful candidates."""
    modes = table.loc[table["status"] == "ok", "mode"].dropna()
    return ("Share of relaxed candidates whose space group is above P1 / P-1, by mode: "
            f"{describe_modes(modes)} (paper Fig. 6); failed candidates are not counted.")


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
                 notes: list[str]) -> tuple[list[FigureBlock], Any, dict[str, Any]]:
    """Hull figures of every system of the run (binary: formation-energy hull; ternary
    and quaternary: PDPlotter), the hull source used (``None``: none) and the phase
    diagrams by system."""
    from chggen_kernels.thermo import HullSourceError, ThermoInputError, get_hull

    binaries = binary_systems(table)
    multinary, too_large = multinary_systems(table)
    if too_large:
        notes.append(f"hull figures: drawn for 2 to 4 elements, not for {', '.join(too_large)}")
    if not binaries and not multinary:
        found = ", ".join(sorted(set(table["chemsys"].dropna()))) or "none"
        notes.append(f"hull figures: no system of two or more elements (found {found})")
        return [], None, {}
    spec = infer_hull_spec(table) if hull == "auto" else hull
    try:
        source = hull_source_from_spec(spec)
    except (HullSourceError, ThermoInputError, ValueError, OSError) as exc:
        notes.append(f"hull figures: not drawn ({exc})")
        return [], None, {}
    blocks, diagrams = [], {}
    for chemsys in [*binaries, *multinary]:
        binary = chemsys in binaries
        name = f"hull_{safe_name(chemsys)}"
        title = f"{chemsys} {'formation-energy hull' if binary else 'phase diagram'}"
        caption = (f"Formation energies (eV/atom) of the reference phases ({spec} hull) and "
                   "of the relaxed candidates against the same elemental references "
                   "(paper Fig. 5a)." if binary else
                   f"The hull of the reference phases ({spec} hull) drawn by pymatgen's "
                   "PDPlotter, labelled with their formulas; the candidates of the system at "
                   "their compositions: stars below the reference hull, diamonds above it, "
                   "coloured by mode.")
        try:
            phase_diagram = get_hull(source, chemsys)
            diagrams[chemsys] = phase_diagram
            fig = (binary_hull_figure(table, phase_diagram, chemsys, hull_name=source.name)
                   if binary else
                   multinary_hull_figure(table, phase_diagram, chemsys, hull_name=source.name))
        except (HullSourceError, ThermoInputError, ValueError, OSError) as exc:
            notes.append(f"{title}: not drawn ({exc})")
            blocks.append(FigureBlock(title, caption, None, f"not drawn: {exc}"))
            continue
        blocks.append(_block(name, fig, out, figures, title, caption))
        if fig is not None and not binary:
            close_figure(fig)
    return blocks, source, diagrams


def _source_lookup(source: Any, diagrams: dict[str, Any]) -> Any:
    """``row -> [(term, hull entry id)]`` of a row's decomposition, from the report's
    hull when it is the one the row was scored against (phase diagrams reused, others
    built once per system); ``[]`` otherwise."""
    from chggen_kernels.thermo import HullSourceError, ThermoInputError, get_hull

    def lookup(row: Any) -> list[tuple[str, str]]:
        chemsys = str(row.chemsys)
        if source is None or row.hull_source != source.name:
            return []  # ids of another hull than the run's would mislead
        if chemsys not in diagrams:
            try:
                diagrams[chemsys] = get_hull(source, chemsys)
            except (HullSourceError, ThermoInputError, ValueError, OSError):
                diagrams[chemsys] = None
        diagram = diagrams[chemsys]
        return decomposition_sources(row.decomposition, diagram) if diagram else []

    return lookup


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
        n_cells: static unit-cell pictures of the best unique candidates (0: none), shown
            in their cards where WebGL is unavailable; every ranked candidate gets a card
            with an interactive 3D view.
        hull: reference hull of the formation-energy plot: ``auto`` (the one the run
            used, from its ``hull_source`` column), ``offline``, ``mp`` or a file path.
        match: StructureMatcher tolerances for merging duplicates.

    Writes ``index.html`` (self-contained: figures, CIFs and the 3Dmol.js viewer
    inlined), one PNG per figure, ``cells/*.png``, ``cif/*.cif``, ``top_candidates.csv``
    and ``summary.json``.

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
        _block("symmetry_rate", symmetry_rate_figure(table), out, figures,
               "Symmetry success rate versus atoms per cell", _symmetry_caption(table)),
        _block("relaxation", relaxation_figure(table), out, figures),
        _block("e_d", e_d_figure(table), out, figures,
               note="no E_d in the results (run without a hull?)"),
        _block("spacegroups", spacegroup_figure(table), out, figures),
    ]
    hull_blocks, source, diagrams = _hull_blocks(table, hull, out, figures, notes)
    blocks += hull_blocks
    unique = unique_candidates(table, top=top, settings=match)
    unique["delta_v_relax"] = [volume_change(row) for row in unique.itertuples(index=False)]
    unique["known"] = [describe_novelty(getattr(row, "novelty", None),
                                        getattr(row, "known_phase_id", None))
                       for row in unique.itertuples(index=False)]
    cells = _cell_blocks(unique, n_cells, out, figures)
    pictures = {int(r): b.png for r, b in zip(unique["rank"], cells, strict=False) if b.png}
    cards = candidate_cards(unique, out, safe_name=safe_name,
                            sources=_source_lookup(source, diagrams), pictures=pictures)
    links = {c.rank: f'<a href="#{c.anchor}">3D</a> <a download="{c.cif_name}" '
                     f'href="{c.cif_uri}">CIF</a>' for c in cards}
    provenance = collect_provenance(directory, table,
                                    report_hull=source.name if source is not None else "")
    shown = [c for c, _, _ in TABLE_COLUMNS if c in unique.columns]
    table_path = out / "top_candidates.csv"
    unique[[*shown, "duplicate_ids"]].astype({"spacegroup_relaxed": "Int64"}).to_csv(
        table_path, index=False)
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps({**summary, "notes": notes}, indent=2))
    html_path = out / "index.html"
    page = render_page(f"chggen report: {Path(directory).resolve().name}", summary, blocks,
                       unique, cells, notes, cards=render_cards(cards), links=links,
                       provenance=render_provenance(provenance),
                       scripts=[viewer_library(), VIEWER_SCRIPT])
    html_path.write_text(page, encoding="utf-8")
    return ReportResult(out, html_path, figures, table_path, summary_path, tuple(notes),
                        tuple(out / "cif" / c.cif_name for c in cards))
