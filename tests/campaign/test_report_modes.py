"""Every candidate mode has its own colour and label, the same in every report figure
(symmetry rates, histograms, space groups, binary and ternary hulls), and modes are listed
first stage before inpainting."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from pymatgen.core import Composition, Lattice, Structure

from campaign.engine.store import ResultStore
from campaign.report import load_candidates, summary_counts
from campaign.report.figures import (
    relaxation_figure,
    spacegroup_figure,
    symmetry_rate_figure,
)
from campaign.report.hull import binary_hull_figure
from campaign.report.modes import (
    MODE_COLORS,
    MODE_LABELS,
    MODE_ORDER,
    REFERENCE_COLOR,
    describe_modes,
    mode_color,
    mode_order,
)
from campaign.report.phase import close_figure, multinary_hull_figure
from chggen_kernels.workflow.records import CANDIDATE_MODES, FIRST_STAGE_MODES, INPAINT_MODES
from tests.campaign._report_data import (
    antifluorite_li2si,
    bcc_li,
    cscl_lisi,
    diamond_si,
    mix,
    p1_li3si,
    record,
    rocksalt_lisi,
)

LABEL_TO_MODE = {label: mode for mode, label in MODE_LABELS.items()}


def _hex(color) -> str:
    return to_hex(color, keep_alpha=False)


def _li_p_s_cell(formula: str) -> Structure:
    """A cubic 7 Å cell of ``formula``, atoms on a jittered grid."""
    species = [el for el, n in Composition(formula).items() for _ in range(int(n))]
    side = int(np.ceil(len(species) ** (1 / 3)))
    grid = [(i, j, k) for i in range(side) for j in range(side) for k in range(side)]
    frac = (np.array(grid[: len(species)], float) + 0.5) / side
    frac += np.random.default_rng(len(species)).normal(0.0, 0.01, frac.shape)
    return Structure(Lattice.cubic(7.0), species, frac % 1.0)


def _li_p_s_energy(formula: str, e_form: float) -> float:
    """Energy (eV/atom) ``e_form`` above the offline hull's elemental references."""
    from chggen_kernels.thermo import OfflineHullSource

    entries = OfflineHullSource().entries(["Li", "P", "S"])
    comp = Composition(formula)
    return e_form + sum(
        comp.get_atomic_fraction(el) * min(e.energy_per_atom for e in entries
                                           if e.composition.reduced_formula == el.symbol)
        for el in comp)


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> pd.DataFrame:
    """Li-Si candidates of all six modes, and Li-P-S ones of three (ternary hull)."""
    lisi = [
        ("u-li", bcc_li(), "unconditional", mix(0.0, 0.0), (229, "Im-3m")),
        ("s-si", diamond_si(), "symmetric", mix(1.0, 0.0), (227, "Fd-3m")),
        ("t-lisi", cscl_lisi(), "template", mix(0.5, -0.15), (221, "Pm-3m")),
        ("ts-lisi", rocksalt_lisi(), "template-symmetric", mix(0.5, -0.05), (225, "Fm-3m")),
        ("i-li2si", antifluorite_li2si(), "inpaint", mix(1 / 3, -0.10), (225, "Fm-3m")),
        ("is-li3si", p1_li3si(), "inpaint-symmetric", mix(0.25, 0.02), (2, "P-1")),
    ]
    rows = [record(cid, s, mode=mode, energy=energy, e_d=0.01, spacegroup=sg)
            for cid, s, mode, energy, sg in lisi]
    for k, (formula, e_form, mode) in enumerate([("Li3PS4", -3.0, "template"),
                                                 ("Li7P3S11", 0.3, "symmetric"),
                                                 ("Li2S", 0.2, "inpaint-symmetric")]):
        rows.append(record(f"m{k}", _li_p_s_cell(formula), mode=mode,
                           energy=_li_p_s_energy(formula, e_form), e_d=e_form,
                           spacegroup=(1, "P1")))
    folder = tmp_path_factory.mktemp("modes") / "results"
    ResultStore(folder).write_task("t1", rows)
    return load_candidates(folder)


def test_every_mode_has_its_own_colour_and_label_and_the_paper_keeps_its_two() -> None:
    assert set(MODE_COLORS) == set(MODE_LABELS) == set(CANDIDATE_MODES) == set(MODE_ORDER)
    colours = [_hex(c) for c in MODE_COLORS.values()]
    assert len(set(colours)) == len(CANDIDATE_MODES)
    assert REFERENCE_COLOR not in colours
    assert len(set(MODE_LABELS.values())) == len(CANDIDATE_MODES)
    assert (MODE_COLORS["unconditional"], MODE_COLORS["inpaint"]) == ("#1f77b4", "#ff7f0e")
    # matplotlib's default cycle would give every mode without a colour the paper's blue
    assert mode_color("template") != "#1f77b4" and mode_color("symmetric") != "#1f77b4"


def test_modes_are_ordered_first_stage_before_inpainting() -> None:
    assert (*FIRST_STAGE_MODES, *INPAINT_MODES) == MODE_ORDER
    assert mode_order(["inpaint-symmetric", "template", "inpaint", "later-mode",
                       "unconditional", "template"]) == [
        "unconditional", "template", "inpaint", "inpaint-symmetric", "later-mode"]
    assert describe_modes(["inpaint", "template", "unconditional"]) == (
        "first stage (unconditional, template) versus inpainting (inpainting)")
    assert describe_modes(["symmetric"]) == "first stage (symmetric)"


def test_summary_lists_modes_first_stage_before_inpainting(table) -> None:
    assert list(summary_counts(table)["by_mode"]) == [
        "unconditional", "symmetric", "template", "template-symmetric", "inpaint",
        "inpaint-symmetric"]


def _legend_colours(ax, pattern: str = r"^([^(]+?)(?: \(|$)") -> dict[str, str]:
    """Mode -> colour of the legend entries of ``ax`` (mode named by its label)."""
    out = {}
    for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
        name = re.match(pattern, label).group(1)
        if hasattr(handle, "patches"):  # bars
            colour = handle.patches[0].get_facecolor()
        elif hasattr(handle, "get_facecolors"):  # scatter; open markers: their edge
            faces = handle.get_facecolors()
            colour = faces[0] if len(faces) else handle.get_edgecolors()[0]
        else:  # histogram patch
            colour = handle.get_facecolor()
        out[LABEL_TO_MODE.get(name, name)] = _hex(colour)
    return out


@pytest.mark.parametrize("figure", [symmetry_rate_figure, relaxation_figure,
                                    spacegroup_figure])
def test_statistics_figures_colour_each_mode_its_own_way(table, figure) -> None:
    fig = figure(table)
    colours = _legend_colours(fig.axes[0])
    assert colours == {m: MODE_COLORS[m] for m in CANDIDATE_MODES}
    assert list(colours) == list(MODE_ORDER)  # the legend too: first stage first


def test_binary_hull_colours_modes_apart_from_the_reference_phases(table) -> None:
    from chggen_kernels.thermo import OfflineHullSource, get_hull

    fig = binary_hull_figure(table, get_hull(OfflineHullSource(), "Li-Si"), "Li-Si")
    colours = _legend_colours(fig.axes[0], r"^(?:candidates, )?(.+)$")
    assert colours["reference, on hull"] == REFERENCE_COLOR
    assert {m: colours[m] for m in CANDIDATE_MODES} == MODE_COLORS


def test_ternary_hull_colours_every_mode_its_own_way(table) -> None:
    from chggen_kernels.thermo import OfflineHullSource, get_hull

    fig = multinary_hull_figure(table, get_hull(OfflineHullSource(), "Li-P-S"), "Li-P-S")
    try:
        colours = _legend_colours(fig.axes[0], r"^(.+), (?:above|below) the reference hull")
    finally:
        close_figure(fig)
    # bcc Li (unconditional) lies inside Li-P-S too
    assert colours == {m: MODE_COLORS[m] for m in ("unconditional", "symmetric", "template",
                                                  "inpaint-symmetric")}
    assert len(set(colours.values())) == 4  # no shared grey
