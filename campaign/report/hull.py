"""Formation-energy convex hull of a binary system with the candidates (paper Fig. 5a).

Reference phases come from a hull source of :mod:`chggen_kernels.thermo` (the shipped
offline CHGNet references by default); candidate formation energies are computed against
the elemental references of the same phase diagram, from their relaxed energies (eV/atom).
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

from campaign.report.figures import new_figure
from campaign.report.modes import REFERENCE_COLOR, mode_color, mode_label, mode_order

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "binary_hull_figure",
    "binary_systems",
    "candidate_formation_energies",
    "hull_source_from_spec",
    "infer_hull_spec",
]


def hull_source_from_spec(spec: str) -> Any:
    """``offline`` (shipped references), ``mp`` (Materials Project, cached) or a file path
    (CSV ``formula,energy_per_atom`` in eV/atom, or JSON entries): the kernels' one parser
    (:func:`~chggen_kernels.thermo.sources.hull_source_from_name`); a report needs a hull,
    so ``none`` is refused (ThermoInputError, a ValueError)."""
    from chggen_kernels.thermo.sources import ThermoInputError, hull_source_from_name

    source = hull_source_from_name(spec)
    if source is None:
        raise ThermoInputError("hull figures need a hull: 'offline', 'mp' or a CSV/JSON file, "
                               "not 'none'")
    return source


def infer_hull_spec(table: pd.DataFrame) -> str:
    """The hull the run used, from its ``hull_source`` column (``offline:...`` ->
    ``offline``, ``mp:...`` -> ``mp``); ``offline`` when unknown (e.g. a user file, whose
    path the table does not record: pass it explicitly)."""
    sources = table["hull_source"].dropna().astype(str)
    if len(sources) and sources.str.startswith("mp:").mean() > 0.5:
        return "mp"
    return "offline"


def _elements(chemsys: str) -> list[str]:
    return sorted(e for e in str(chemsys).split("-") if e)


def binary_systems(table: pd.DataFrame) -> list[str]:
    """Binary chemical systems among the successful candidates, e.g. ``['Li-Si']``."""
    ok = table[table["status"] == "ok"]
    return sorted({"-".join(_elements(c)) for c in ok["chemsys"].dropna()
                   if len(_elements(c)) == 2})


def _candidate_entries(table: pd.DataFrame, chemsys: str) -> tuple[pd.DataFrame, list[Any]]:
    """Successful rows inside ``chemsys`` with a relaxed energy, and their ``PDEntry``."""
    from pymatgen.analysis.phase_diagram import PDEntry
    from pymatgen.core import Composition

    allowed = set(_elements(chemsys))
    ok = table[(table["status"] == "ok") & table["energy_relaxed_per_atom"].notna()]
    inside = ok[[set(_elements(c)) <= allowed for c in ok["chemsys"]]]
    entries = []
    for composition, energy in zip(inside["composition"], inside["energy_relaxed_per_atom"],
                                   strict=True):
        comp = Composition(composition)
        entries.append(PDEntry(comp, float(energy) * comp.num_atoms))
    return inside, entries


def candidate_formation_energies(
    table: pd.DataFrame, phase_diagram: Any, chemsys: str
) -> pd.DataFrame:
    """Successful candidates inside ``chemsys`` with their formation energy (eV/atom).

    Columns: ``candidate_id``, ``mode``, ``formula``, ``x`` (atomic fraction of the
    alphabetically second element), ``e_form`` (eV/atom, against the phase diagram's
    elemental references), ``e_d``.
    """
    import pandas as pd

    b = _elements(chemsys)[1]
    inside, entries = _candidate_entries(table, chemsys)
    return pd.DataFrame({
        "candidate_id": inside["candidate_id"].to_list(),
        "mode": inside["mode"].to_list(),
        "formula": inside["formula"].to_list(),
        "x": [e.composition.get_atomic_fraction(b) for e in entries],
        "e_form": [float(phase_diagram.get_form_energy_per_atom(e)) for e in entries],
        "e_d": inside["e_d"].to_list(),
    }, columns=["candidate_id", "mode", "formula", "x", "e_form", "e_d"])


def _hull_line(phase_diagram: Any, element: str) -> tuple[np.ndarray, np.ndarray]:
    points = sorted(
        (e.composition.get_atomic_fraction(element), phase_diagram.get_form_energy_per_atom(e))
        for e in phase_diagram.stable_entries
    )
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def binary_hull_figure(
    table: pd.DataFrame, phase_diagram: Any, chemsys: str, hull_name: str = ""
) -> Figure | None:
    """Formation energy (eV/atom) versus composition: reference phases (stable: squares on
    the solid hull; unstable: open squares), candidates by mode, and the hull including
    the candidates (dashed) when they lower it. ``None`` if no candidate lies inside."""
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    a, b = _elements(chemsys)
    points = candidate_formation_energies(table, phase_diagram, chemsys)
    if points.empty:
        return None
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    x_ref, e_ref = _hull_line(phase_diagram, b)
    stable = {id(e) for e in phase_diagram.stable_entries}
    unstable = [e for e in phase_diagram.all_entries if id(e) not in stable]
    if unstable:
        ax.scatter([e.composition.get_atomic_fraction(b) for e in unstable],
                   [phase_diagram.get_form_energy_per_atom(e) for e in unstable],
                   marker="s", facecolors="none", edgecolors=REFERENCE_COLOR, s=30,
                   label="reference, above hull")
    ax.plot(x_ref, e_ref, "-", color=REFERENCE_COLOR, linewidth=1.2)
    ax.scatter(x_ref, e_ref, marker="s", color=REFERENCE_COLOR, s=40, zorder=3,
               label="reference, on hull")
    for mode in mode_order(points["mode"]):
        sub = points[points["mode"] == mode]
        ax.scatter(sub["x"], sub["e_form"], marker="D", s=18, alpha=0.7,
                   color=mode_color(mode), label=f"candidates, {mode_label(mode)}")
    combined = PhaseDiagram(list(phase_diagram.all_entries) + _candidate_entries(table, chemsys)[1],
                            elements=phase_diagram.elements)
    x_new, e_new = _hull_line(combined, b)
    if len(x_new) != len(x_ref) or not np.allclose(e_new, np.interp(x_new, x_ref, e_ref)):
        ax.plot(x_new, e_new, "--", color="tab:green", linewidth=1.2,
                label="hull with candidates")
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.set_xlim(-0.03, 1.03)
    ax.set_xlabel(f"x in {a}$_{{1-x}}${b}$_x$")
    ax.set_ylabel("formation energy (eV/atom)")
    title = f"{a}-{b} formation-energy hull" + (f" ({hull_name})" if hull_name else "")
    ax.set_title(textwrap.fill(title, 72), fontsize=10)  # long hull names wrap, never cut
    ax.legend(frameon=False, fontsize=7)
    return fig
