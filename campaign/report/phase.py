"""Hull figures of ternary and quaternary systems (pymatgen ``PDPlotter``, matplotlib
backend) with the candidates marked, and the hull entries behind a decomposition.

The reference phases come from the same hull source as the binary figure
(:mod:`campaign.report.hull`); ``PDPlotter`` draws their hull (Gibbs triangle for three
elements, tetrahedron for four). The candidates are drawn on top at their compositions:
a star when their relaxed energy lies below the reference hull (they would change it), a
diamond above it, coloured by mode.

``PDPlotter``'s matplotlib backend draws with ``pyplot``: the figures here are made on
pyplot's Agg backend and closed as soon as they are saved (:func:`close_figure`).
"""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

from campaign.report.hull import _candidate_entries, _elements
from campaign.report.modes import REFERENCE_COLOR, mode_color, mode_label, mode_order

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "MAX_PLOT_ELEMENTS",
    "close_figure",
    "decomposition_sources",
    "multinary_hull_figure",
    "multinary_systems",
]

MAX_PLOT_ELEMENTS = 4  # PDPlotter draws 1-4 components
_ON_HULL = 1e-6  # eV/atom: a candidate this far below the reference hull counts as below


def multinary_systems(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Systems of three or more elements of the successful candidates that no other
    system of the run contains: (those with at most four elements, those with more)."""
    ok = table[table["status"] == "ok"]
    sets = {frozenset(_elements(c)) for c in ok["chemsys"].dropna()}
    maximal = [s for s in sets if len(s) >= 3 and not any(s < other for other in sets)]
    names = sorted("-".join(sorted(s)) for s in maximal)
    drawn = [n for n in names if len(n.split("-")) <= MAX_PLOT_ELEMENTS]
    return drawn, [n for n in names if n not in drawn]


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on a non-interactive backend (Agg unless one already is)."""
    import matplotlib
    import matplotlib.pyplot as plt

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        plt.switch_backend("Agg")
    return plt


def close_figure(fig: Figure) -> None:
    """Forget a pyplot figure once saved (pyplot keeps every open figure)."""
    _pyplot().close(fig)


def _plot_coordinates(phase_diagram: Any, composition: Any) -> np.ndarray:
    """Where PDPlotter puts a composition: atomic fractions of the diagram's elements
    after the first, through pymatgen's triangle / tetrahedron transform."""
    from pymatgen.analysis.phase_diagram import tet_coord, triangular_coord

    fractions = [composition.get_atomic_fraction(el) for el in phase_diagram.elements][1:]
    if len(fractions) == 2:
        return np.asarray(triangular_coord(fractions), float)
    return np.asarray(tet_coord(fractions), float)


def _candidate_points(table: pd.DataFrame, phase_diagram: Any, chemsys: str) -> list[dict]:
    inside, entries = _candidate_entries(table, chemsys)
    points = []
    for mode, entry in zip(inside["mode"], entries, strict=True):
        _, e_hull = phase_diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
        points.append({"mode": str(mode), "xyz": _plot_coordinates(phase_diagram,
                                                                  entry.composition),
                       "below": e_hull is not None and float(e_hull) < -_ON_HULL})
    return points


def multinary_hull_figure(table: pd.DataFrame, phase_diagram: Any, chemsys: str,
                          hull_name: str = "") -> Figure | None:
    """The hull of a ternary (Gibbs triangle) or quaternary (tetrahedron) system drawn by
    ``PDPlotter`` from the reference phases, with the candidates inside the system on
    top (star: below the reference hull, diamond: above; colour: mode). ``None`` when no
    candidate lies inside. Close it with :func:`close_figure` once saved."""
    from pymatgen.analysis.phase_diagram import PDPlotter

    n_elements = len(phase_diagram.elements)
    if n_elements not in (3, 4):
        raise ValueError(f"{chemsys}: multinary hull figures need 3 or 4 elements")
    points = _candidate_points(table, phase_diagram, chemsys)
    if not points:
        return None
    plt = _pyplot()
    fig = plt.figure(figsize=(6.4, 5.6))
    ax = fig.add_subplot(projection="3d" if n_elements == 4 else None)
    plt.sca(ax)
    plotter = PDPlotter(phase_diagram, show_unstable=0.0, backend="matplotlib",
                        markerfacecolor=REFERENCE_COLOR, markersize=6, linewidth=1.2)
    plotter.get_plot(label_stable=True, label_unstable=False, ax=ax)
    fig.set_size_inches(6.4, 5.6)
    for text in ax.texts:  # PDPlotter labels at 24 pt bold
        text.set_fontsize(7 if n_elements == 4 else 8)
    if n_elements == 4:  # thinner hull edges, the numbered key at the lower left
        for line in ax.lines:
            line.set_linewidth(0.8)
            line.set_markersize(4)
        for text in fig.texts:
            text.set_fontsize(6)
            text.set_verticalalignment("bottom")
        fig.subplots_adjust(left=0.12, right=1.0, top=0.9, bottom=0.0)
    for mode in mode_order(p["mode"] for p in points):
        for below in (False, True):
            sub = [p["xyz"] for p in points if p["mode"] == mode and p["below"] == below]
            if not sub:
                continue
            xyz = np.array(sub).T
            where = "below" if below else "above"
            ax.scatter(*xyz, marker="*" if below else "D", s=110 if below else 22,
                       color=mode_color(mode), edgecolors="k" if below else "none",
                       linewidths=0.6, alpha=0.85, zorder=5,
                       label=f"{mode_label(mode)}, {where} the reference hull "
                       f"({len(sub)})")
    n_below = sum(p["below"] for p in points)
    title = (f"{chemsys} hull{f' ({hull_name})' if hull_name else ''}: {len(points)} "
             f"candidates, {n_below} below")
    ax.set_title(textwrap.fill(title, 72), fontsize=9)  # long hull names wrap, never cut
    ax.legend(frameon=False, fontsize=7, loc="upper right")
    if n_elements == 3:  # equal axes by resizing the box: both limits stay as PDPlotter set
        ax.set_aspect("equal", adjustable="box")
        fig.subplots_adjust(left=0.02, right=0.98, top=0.93, bottom=0.02)
    return fig


_TERM = re.compile(r"^\s*([0-9.eE+-]+)\s+(\S+)(?:\s+\([^)]*\))?\s*$")  # "(mp-1)": an id


def decomposition_sources(decomposition: str | None, phase_diagram: Any) -> list[tuple[str, str]]:
    """``(term, hull entry id)`` for each product of a row's ``decomposition`` text
    (``"0.6667 LiSi + 0.3333 Si"``): the id of the stable entry of ``phase_diagram`` with
    that reduced formula (``""`` when it has none, e.g. a hull other than the run's)."""
    if not decomposition or not isinstance(decomposition, str):
        return []
    ids: dict[str, str] = {}
    for entry in phase_diagram.stable_entries:
        entry_id = getattr(entry, "entry_id", None) or getattr(entry, "name", "")
        ids.setdefault(entry.composition.reduced_formula, str(entry_id or ""))
    out = []
    for term in decomposition.split(" + "):
        match = _TERM.match(term)
        formula = match.group(2) if match else term.strip()
        out.append((term.strip(), ids.get(formula, "")))
    return out
