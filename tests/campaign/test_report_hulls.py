"""Hull figures of ternary and quaternary systems, decomposition entry ids, provenance and
the candidate cards of ``chggen report`` (no browser: see test_report_browser.py)."""

from __future__ import annotations

import html
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from pymatgen.core import Composition, Lattice, Structure

from campaign.engine.store import ResultStore
from campaign.report import build_report, load_candidates
from campaign.report.cards import volume_change
from campaign.report.phase import decomposition_sources, multinary_systems
from campaign.report.viewer import structure_scene
from tests.campaign._report_data import antifluorite_li2si, p1_li3si, record, write_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _references(elements: list[str]) -> dict[str, float]:
    """Elemental ground-state energies (eV/atom) of the shipped offline hull."""
    from chggen_kernels.thermo import OfflineHullSource

    entries = OfflineHullSource().entries(elements)
    return {el: min(e.energy_per_atom for e in entries if e.composition.reduced_formula == el)
            for el in elements}


def _cell(formula: str, a: float = 7.0) -> Structure:
    """A cubic cell of ``formula`` with its atoms on a jittered grid (no clashes)."""
    species = [el for el, n in Composition(formula).items() for _ in range(int(n))]
    side = int(np.ceil(len(species) ** (1 / 3)))
    grid = [(i, j, k) for i in range(side) for j in range(side) for k in range(side)]
    rng = np.random.default_rng(len(species))
    frac = (np.array(grid[: len(species)], float) + 0.5) / side
    frac += rng.normal(0.0, 0.01, frac.shape)
    return Structure(Lattice.cubic(a), species, frac % 1.0)


def _energy(formula: str, e_form: float, refs: dict[str, float]) -> float:
    comp = Composition(formula)
    return sum(comp.get_atomic_fraction(el) * refs[el.symbol] for el in comp) + e_form


def write_multinary(directory):
    """Li-P-S (ternary) and Li-Zn-P-S (quaternary) candidates: one far below the hull of
    each system, the others above it."""
    refs = _references(["Li", "Zn", "P", "S"])
    rows = []
    for k, (formula, e_form, mode) in enumerate([
        ("Li3PS4", -3.0, "unconditional"), ("Li7P3S11", 0.3, "inpaint"),
        ("Li2ZnP2S7", -3.0, "unconditional"), ("LiZnPS4", 0.3, "unconditional"),
        ("Li2S", 0.2, "unconditional"),
    ]):
        rows.append(record(f"c{k}-{formula}", _cell(formula), mode=mode, task_id="m1",
                           energy=_energy(formula, e_form, refs), e_d=e_form,
                           spacegroup=(1, "P1")))
    ResultStore(directory).write_task("m1", rows)
    return directory


@pytest.fixture(scope="module")
def multinary(tmp_path_factory):
    folder = write_multinary(tmp_path_factory.mktemp("multi") / "results")
    return folder, build_report(folder, n_cells=1, top=5)


def test_multinary_systems_are_the_maximal_ones(multinary):
    folder, _ = multinary
    drawn, too_large = multinary_systems(load_candidates(folder))
    assert drawn == ["Li-P-S-Zn"] and too_large == []  # Li-P-S lies inside Li-P-S-Zn


def test_ternary_and_quaternary_hull_figures(tmp_path, multinary):
    _, report = multinary
    assert {"hull_Li-P-S-Zn", "hull_Li-S"} <= set(report.figures)
    assert report.figures["hull_Li-P-S-Zn"].read_bytes().startswith(PNG_MAGIC)
    folder = tmp_path / "ternary"
    refs = _references(["Li", "P", "S"])
    ResultStore(folder).write_task("t1", [
        record("a", _cell("Li3PS4"), energy=_energy("Li3PS4", -3.0, refs), e_d=-1.0,
               spacegroup=(1, "P1")),
        record("b", _cell("Li7P3S11"), mode="inpaint", energy=_energy("Li7P3S11", 0.3, refs),
               e_d=0.5, spacegroup=(1, "P1")),
    ])
    ternary = build_report(folder, n_cells=0, top=2)
    path = ternary.figures["hull_Li-P-S"]
    assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 20_000
    page = ternary.html_path.read_text(encoding="utf-8")
    assert "Li-P-S phase diagram" in page and ternary.notes == ()


def test_decomposition_products_carry_hull_entry_ids():
    from chggen_kernels.thermo import OfflineHullSource, get_hull

    diagram = get_hull(OfflineHullSource(), "Li-Si")
    sources = decomposition_sources("0.6429 Li2Si + 0.3571 Si", diagram)
    assert [term for term, _ in sources] == ["0.6429 Li2Si", "0.3571 Si"]
    assert all(entry_id for _, entry_id in sources)
    assert decomposition_sources("1 Xx9", diagram) == [("1 Xx9", "")]
    assert decomposition_sources(None, diagram) == []


def test_scene_has_cell_images_bonds_and_polyhedra():
    scene = structure_scene(antifluorite_li2si())
    assert scene["anion"] == "Si" and scene["n_sites"] == 12
    assert len(scene["atoms"]) > 12  # images on the faces and bonded atoms outside
    assert len(scene["polyhedra"]) == 8  # every Li in a Si4 tetrahedron
    assert all(len(p["triangles"]) == 4 for p in scene["polyhedra"])
    assert all(0 <= i < len(scene["atoms"]) and 0 <= j < len(scene["atoms"])
               for i, j in scene["bonds"])


@pytest.fixture(scope="module")
def lisi(tmp_path_factory):
    folder = write_results(tmp_path_factory.mktemp("lisi") / "results")
    (folder / "_campaign.yaml").write_text("name: test-campaign\nsampler: {preset: fast}\n")
    (folder / "_fingerprint.json").write_text(json.dumps(
        {"digest": "d", "values": {"checkpoint_sha256": "ab" * 32, "hull": "offline",
                                   "sampler": {"preset": "fast", "n_levels": 60},
                                   "chggen_version": "0.1.0"}}))
    return folder, build_report(folder, n_cells=2, top=4)


def test_cards_cifs_and_volume_change(lisi):
    folder, report = lisi
    page = report.html_path.read_text(encoding="utf-8")
    assert len(report.cifs) == 4 and all(p.is_file() for p in report.cifs)
    assert report.cifs[0].name == "01_LiSi_lisi-cscl.cif"
    assert "_cell_length_a" in report.cifs[0].read_text()
    assert page.count('class="viewer-box"') == 4
    assert page.count('class="fallback"') == 2  # static pictures of the first n_cells
    assert len(re.findall(r'href="data:chemical/x-cif;base64,', page)) == 8  # table + card
    # the synthetic rows store the same structure twice: no volume change
    assert "relaxation ΔV</th><td>+0.0 %" in page
    lines = report.table_path.read_text().splitlines()
    assert "delta_v_relax" in lines[0].split(",")
    # the row's own delta_v_relax wins; without it, the volumes of the two structures
    small, large = Structure(Lattice.cubic(3.0), ["Li"], [[0, 0, 0]]), \
        Structure(Lattice.cubic(3.3), ["Li"], [[0, 0, 0]])
    row = SimpleNamespace(candidate_id="x", delta_v_relax=None,
                          structure_generated=json.dumps(small.as_dict()),
                          structure_relaxed=json.dumps(large.as_dict()))
    assert volume_change(row) == pytest.approx(1.1**3 - 1)
    row.delta_v_relax = -0.25
    assert volume_change(row) == -0.25


def test_provenance_block(lisi):
    _, report = lisi
    page = report.html_path.read_text(encoding="utf-8")
    block = page[page.index('<section id="provenance">'):]
    assert "tiny.pt" in block and "ab" * 32 in block  # checkpoint of the rows, fingerprint
    assert "CHGNet" in block and "offline:chggen-chgnet" in block
    assert "11 rows: 9 ok, 2 failed" in block
    assert "relaxation: did not converge" in block and "sampler: NaN positions" in block
    assert "2025-01-01T00:00:00+00:00" in block and "name: test-campaign" in block
    assert "preset fast" in block and "CPUs" in block


def test_title_wraps_and_is_never_clipped(tmp_path):
    name = "a-results-folder-with-a-very-long-name-" * 4
    folder = write_results(tmp_path / name.strip("-"))
    page = build_report(folder, n_cells=0, top=1).html_path.read_text(encoding="utf-8")
    style = page[page.index("<style>"):page.index("</style>")]
    h1 = style[style.index("h1 {"):style.index("}", style.index("h1 {"))]
    assert "overflow-wrap: anywhere" in h1 and "white-space: normal" in h1
    assert "overflow: hidden" not in style and "text-overflow: ellipsis" not in style
    assert f"<h1>chggen report: {name.strip('-')}</h1>" in page


def test_cards_name_hull_entries_only_for_the_run_hull(tmp_path):
    from chggen_kernels.thermo import OfflineHullSource, get_hull

    source = OfflineHullSource()
    diagram = get_hull(source, "Li-Si")  # loads the files: the full name
    rows = []
    for cid, hull in (("same", source.name), ("other", "offline:an-older-hull")):
        row = record(cid, antifluorite_li2si() if cid == "same" else p1_li3si(),
                     energy=-3.0, e_d=0.04 if cid == "same" else 0.05,
                     spacegroup=(225, "Fm-3m"))
        rows.append({**row, "hull_source": hull, "decomposition": "0.6429 Li2Si + 0.3571 Si"})
    ResultStore(tmp_path / "r").write_task("t1", rows)
    page = build_report(tmp_path / "r", n_cells=0, top=2).html_path.read_text(encoding="utf-8")
    ids = dict(decomposition_sources("0.6429 Li2Si + 0.3571 Si", diagram))
    assert html.escape(ids["0.6429 Li2Si"]) in page and ids["0.6429 Li2Si"]
    other = page[page.index('id="candidate-2"'):]
    assert "against offline:an-older-hull; entry ids only" in other
    assert html.escape(ids["0.6429 Li2Si"]) not in other
