"""Known-phase labels (chggen_kernels.thermo.novelty) and decomposition products with their
source ids (chggen_kernels.thermo.energy). Known answers: the shipped Li2Si (mp-27705) is
that known phase, also strained and shaken; the antifluorite Li2Si is another structure of
a known composition; Li3Si has no known phase; the offline hull splits Li9Si4 into Li2Si
(mp-27705) and Li15Si4 (Li15Si4_mp)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.entries.computed_entries import ComputedEntry

from chggen_kernels.relax import RelaxResult
from chggen_kernels.thermo import OfflineHullSource, decomposition_energy, get_hull, read_entries
from chggen_kernels.thermo.energy import products_from_json, products_to_json
from chggen_kernels.thermo.known_structures import read_known_phase_structures
from chggen_kernels.thermo.novelty import KnownPhaseLabeller, describe_novelty
from chggen_kernels.workflow import (
    CandidateSpec,
    GeneratedCandidate,
    HullProvider,
    relax_and_score_many,
)

LI2SI_ID = "mp-27705"  # the offline hull's Li2Si (Cmcm), shipped with its structure


@pytest.fixture(scope="module")
def labeller() -> KnownPhaseLabeller:
    return KnownPhaseLabeller()


@pytest.fixture(scope="module")
def li2si() -> Structure:
    (phase,) = read_known_phase_structures(formulas=["Li2Si"])
    assert phase.source_id == LI2SI_ID
    return phase.structure


def test_the_shipped_li2si_is_the_known_phase(labeller, li2si) -> None:
    label = labeller.label(li2si)
    assert (label.novelty, label.known_phase_id, label.formula) == ("known-phase", LI2SI_ID,
                                                                    "Li2Si")
    assert label.text == "known phase Li2Si (mp-27705)"


def test_a_relaxed_looking_copy_still_matches(labeller, li2si) -> None:
    # what CHGNet does to a DFT cell: a few % strain, sites shaken by 0.1 Å, a supercell
    copy = li2si.copy()
    copy.apply_strain([0.03, -0.02, 0.04])
    rng = np.random.default_rng(0)
    for i in range(len(copy)):
        copy.translate_sites([i], rng.normal(0.0, 0.1 / np.sqrt(3), 3), frac_coords=False)
    copy.make_supercell([1, 1, 2])
    label = labeller.label(copy)
    assert (label.novelty, label.known_phase_id) == ("known-phase", LI2SI_ID)


def test_another_li2si_polymorph_is_a_known_composition(labeller) -> None:
    antifluorite = Structure.from_spacegroup("Fm-3m", Lattice.cubic(6.2), ["Si", "Li"],
                                             [[0, 0, 0], [0.25, 0.25, 0.25]])
    assert antifluorite.composition.reduced_formula == "Li2Si"
    label = labeller.label(antifluorite)
    assert (label.novelty, label.known_phase_id) == ("known-composition", None)
    assert label.text == "known composition, new structure"


def test_a_composition_without_a_known_phase_is_new(labeller) -> None:
    li3si = Structure.from_spacegroup("Fm-3m", Lattice.cubic(6.3), ["Si", "Li", "Li"],
                                      [[0, 0, 0], [0.25, 0.25, 0.25], [0.5, 0.5, 0.5]])
    assert li3si.composition.reduced_formula == "Li3Si"
    label = labeller.label(li3si)
    assert (label.novelty, label.known_phase_id, label.text) == ("new-composition", None,
                                                                 "new composition")


def test_the_file_is_read_once_per_new_formulas(li2si) -> None:
    calls = []

    def read(path, formulas):
        calls.append(sorted(formulas))
        return read_known_phase_structures(path, formulas=formulas)

    labeller = KnownPhaseLabeller(read=read)
    labeller.preload(["Li2Si", "LiSi", "Li3Si"])
    for _ in range(3):
        assert labeller.label(li2si).novelty == "known-phase"
    labeller.preload(["LiSi", "Li2Si"])
    assert calls == [["Li2Si", "Li3Si", "LiSi"]]


def test_describe_novelty_of_missing_labels() -> None:
    assert describe_novelty(None) == "unknown"  # a failed row or an older chggen's
    assert describe_novelty(float("nan"), None) == "unknown"
    assert describe_novelty("known-phase", "mp-1") == "known phase (mp-1)"
    assert describe_novelty("new-composition", None, "Li3Si") == "new composition"


# ------------------------------------------------------------------ decomposition products
def _entry(formula: str, energy_per_atom: float, source_id: str) -> ComputedEntry:
    comp = Composition(formula)
    return ComputedEntry(comp, energy_per_atom * comp.num_atoms, entry_id=source_id,
                         data={"source_id": source_id})


def test_decomposition_products_carry_ids_fractions_and_energies() -> None:
    # Li -1.9, Si -5.4; LiSi -3.95 (formation -0.30) and Li2Si -3.4167 (formation -0.25)
    # on the hull. A LiSi2 candidate splits into 2/3 LiSi + 1/3 Si.
    diagram = PhaseDiagram([_entry("Li", -1.9, "mp-135"), _entry("Si", -5.4, "mp-149"),
                            _entry("LiSi", -3.95, "mp-795"),
                            _entry("Li2Si", -1.9 * 2 / 3 - 5.4 / 3 - 0.25, "mp-27705")])
    result = decomposition_energy("LiSi2", -4.4, diagram)
    assert [(p.formula, p.source_id) for p in result.products] == [("LiSi", "mp-795"),
                                                                  ("Si", "mp-149")]
    assert [p.fraction for p in result.products] == pytest.approx([2 / 3, 1 / 3])
    assert [p.energy_per_atom for p in result.products] == pytest.approx([-3.95, -5.4])
    assert result.decomposition_string == "0.6667 LiSi (mp-795) + 0.3333 Si (mp-149)"
    assert result.e_d == pytest.approx(-4.4 - (2 / 3 * -3.95 + 1 / 3 * -5.4))
    back = products_from_json(products_to_json(result.products))
    assert [(p.formula, p.source_id) for p in back] == [("LiSi", "mp-795"), ("Si", "mp-149")]
    assert json.loads(products_to_json(result.products))[0] == {
        "formula": "LiSi", "source_id": "mp-795", "fraction": pytest.approx(2 / 3),
        "energy_per_atom": -3.95}
    assert products_from_json(None) == () and products_from_json("not json") == ()


def test_offline_hull_products_name_their_source_ids() -> None:
    diagram = get_hull(OfflineHullSource(), "Li-Si")
    result = decomposition_energy("Li9Si4", -3.1895, diagram)
    assert result.e_d == pytest.approx(0.020, abs=1e-4)
    assert [(p.formula, p.source_id) for p in result.products] == [
        ("Li2Si", LI2SI_ID), ("Li15Si4", "Li15Si4_mp")]
    assert result.products[0].energy_per_atom == pytest.approx(-3.294187)
    assert result.products[0].collection == "matcalc/mp-binary-pbe-elasticity-2025.1"
    below = decomposition_energy("Li2Si", -3.3042, diagram)  # measured without Li2Si
    assert (below.e_d, below.e_above_hull) == (pytest.approx(-0.0238, abs=1e-4),
                                               pytest.approx(-0.010, abs=1e-4))
    assert [(p.formula, p.collection) for p in below.products] == [("Li5Si2", "own_build"),
                                                                   ("Si", "matcalc/MP-PBE-"
                                                                    "Element-Refs")]
    assert result.decomposition_string == \
        "0.7912 Li2Si (mp-27705) + 0.2088 Li15Si4 (Li15Si4_mp)"


def test_a_hull_files_source_ids_are_kept(tmp_path) -> None:
    path = tmp_path / "hull.csv"
    path.write_text("formula,energy_per_atom,source_id\nLi,-1.9,mp-135\nSi,-5.4,\n"
                    "LiSi,-3.95,mine-7\n")
    diagram = PhaseDiagram(read_entries(path))
    result = decomposition_energy("LiSi2", -4.0, diagram)
    assert {p.formula: p.source_id for p in result.products} == {"LiSi": "mine-7", "Si": ""}
    assert result.decomposition_string == "0.6667 LiSi (mine-7) + 0.3333 Si"


# ------------------------------------------------------------------ in the scored rows
class _AsGiven:
    """'Relaxes' nothing: each structure comes back at a fixed energy (eV/atom)."""

    def __init__(self, energy: float) -> None:
        self.energy = energy

    def relax(self, structure: Structure) -> RelaxResult:
        return RelaxResult("ok", None, structure, self.energy, self.energy, 0.0, 0.0,
                           "fractional_displacement", 3, True, 0.01, 0.01, structure.volume,
                           structure.volume, len(structure), 0.1)


def _generated(structure: Structure, candidate_id: str) -> GeneratedCandidate:
    composition = {el.symbol: int(n) for el, n in structure.composition.items()}
    spec = CandidateSpec(candidate_id=candidate_id, task_id="t", composition=composition,
                         mode="unconditional", seed=1, lattice_family="cubic")
    return GeneratedCandidate(spec, "ok", structure.as_dict(), None, 0.01, {}, "hand-made")


def test_scored_rows_carry_ids_and_labels_and_failed_rows_none(li2si) -> None:
    squeezed = Structure(Lattice.cubic(5.0), ["Li", "Li", "Si"],
                         [[0, 0, 0], [0.5, 0.5, 0.5], [0.1, 0, 0]])  # 0.5 Å: screened out
    calls = []

    def read(path, formulas):
        calls.append(sorted(formulas))
        return read_known_phase_structures(path, formulas=formulas)

    rows = relax_and_score_many(
        [_generated(li2si, "t-000"), _generated(squeezed, "t-001"),
         _generated(li2si.copy(), "t-002")],
        _AsGiven(-3.2742), HullProvider(OfflineHullSource()),
        known_phases=KnownPhaseLabeller(read=read))
    assert [r.status for r in rows] == ["ok", "failed", "ok"]
    assert calls == [["Li2Si"]]  # one read for the batch
    for row in (rows[0], rows[2]):
        assert (row.novelty, row.known_phase_id) == ("known-phase", LI2SI_ID)
        assert row.e_d == pytest.approx(0.020, abs=1e-4)
        assert row.decomposition == "1 Li2Si (mp-27705)"
        (product,) = json.loads(row.decomposition_products)
        assert (product["formula"], product["source_id"]) == ("Li2Si", LI2SI_ID)
    assert rows[1].novelty is None and rows[1].decomposition_products is None
