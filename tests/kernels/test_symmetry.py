"""Framework refinement by the tolerance ladder, and final space groups."""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

import chggen_kernels.symmetry as symmetry
from chggen_kernels.symmetry import (
    DEFAULT_LADDER,
    SymmetryInputError,
    SymmetryTolerance,
    final_symmetry,
    refine_framework,
)

FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def li2s() -> Structure:
    """Antifluorite Li2S, Fm-3m (225); without Li: fcc S, 4 atoms in the conventional cell."""
    coords = np.concatenate([FCC, FCC + 0.25, FCC + 0.75])
    return Structure(Lattice.cubic(5.71), ["S"] * 4 + ["Li"] * 8, coords % 1.0)


def wurtzite() -> Structure:
    """Wurtzite ZnS, P6_3mc (186); without Zn: hcp S, P6_3/mmc (194), 2 atoms."""
    coords = [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, 0.375], [2 / 3, 1 / 3, 0.875]]
    return Structure(Lattice.hexagonal(3.82, 6.26), ["Zn", "Zn", "S", "S"], coords)


def half_heusler_lizn_p() -> Structure:
    """LiZnP, F-43m (216); without Li: zinc blende ZnP, F-43m, 8 atoms conventional."""
    coords = np.concatenate([FCC, FCC + 0.25, FCC + 0.5])
    return Structure(Lattice.cubic(5.77), ["P"] * 4 + ["Zn"] * 4 + ["Li"] * 4, coords % 1.0)


def perturbed(structure: Structure, distance: float, seed: int) -> Structure:
    """Every atom moved by exactly ``distance`` Å in a random direction."""
    rng = np.random.default_rng(seed)
    step = rng.normal(size=(len(structure), 3))
    step *= distance / np.linalg.norm(step, axis=1, keepdims=True)
    return Structure(structure.lattice, structure.species, structure.cart_coords + step,
                     coords_are_cartesian=True)


def test_default_ladder_is_the_reference_ladder():
    assert [t.symprec for t in DEFAULT_LADDER] == [0.1, 0.2, 0.5, 0.8, 1.0, 1.5, 2.0]
    assert [t.angle_tolerance for t in DEFAULT_LADDER] == [10, 15, 15, 15, 20, 30, 30]


def test_final_symmetry_of_known_crystals():
    assert final_symmetry(li2s()).number == 225
    info = final_symmetry(wurtzite())
    assert (info.number, info.symbol, info.is_symmetric, info.note) == (186, "P6_3mc", True, None)
    assert final_symmetry(half_heusler_lizn_p(), symprec=0.01, angle_tolerance=5).number == 216


def test_final_symmetry_never_raises():
    overlapping = Structure(Lattice.cubic(3.0), ["H", "H"], [[0, 0, 0], [0, 0, 1e-4]])
    info = final_symmetry(overlapping)
    assert (info.number, info.symbol, info.is_symmetric) == (1, "P1", False)
    assert "spglib found no symmetry dataset for H2" in info.note
    empty = final_symmetry(Structure(Lattice.cubic(3.0), [], []))
    assert empty.number == 1 and empty.note == "structure has no atoms"
    bad_tol = final_symmetry(li2s(), symprec=-1.0)
    assert bad_tol.number == 1 and "symprec must be > 0" in bad_tol.note


@pytest.mark.parametrize(
    ("build", "guest", "expected_number", "conventional_atoms", "guests_per_conventional"),
    [(li2s, "Li", 225, 4, 8), (wurtzite, "Zn", 194, 2, 2), (half_heusler_lizn_p, "Li", 216, 8, 4)],
)
def test_small_perturbation_is_recovered_at_the_first_rung(
    build, guest, expected_number, conventional_atoms, guests_per_conventional
):
    # 0.02 Å per atom: two atoms differ by at most 0.04 Å < symprec 0.1 Å.
    supercell = build() * (2, 2, 2)
    n_guest = sum(site.specie.symbol == guest for site in supercell)
    for seed in range(3):
        result = refine_framework(perturbed(supercell, 0.02, seed), guest)
        assert result.success and result.rung == 0
        assert (result.symprec, result.angle_tolerance) == (0.1, 10)
        assert result.spacegroup_number == expected_number
        assert guest not in {s.specie.symbol for s in result.structure}
        assert result.n_guest_removed == n_guest
        assert result.n_framework_atoms == len(supercell) - n_guest
        assert len(result.structure) == conventional_atoms
        assert result.multiplicity == pytest.approx(1 / 8)
        assert result.n_guest_scaled == pytest.approx(guests_per_conventional)
        # the refined framework is exactly symmetric
        assert final_symmetry(result.structure, 1e-4, 1.0).number == expected_number


def test_primitive_cell_option():
    result = refine_framework(perturbed(li2s() * (2, 2, 2), 0.02, 0), "Li", cell="primitive")
    assert result.spacegroup_number == 225 and len(result.structure) == 1
    assert result.multiplicity == pytest.approx(1 / 32) and result.n_guest_scaled == 2.0


def test_large_perturbation_needs_a_higher_rung():
    supercell = wurtzite() * (2, 2, 2)
    for seed in range(3):
        structure = perturbed(supercell, 0.3, seed)
        framework = structure.copy()
        framework.remove_species(["Zn"])
        # The three lowest rungs see no symmetry at all ...
        for tol in DEFAULT_LADDER[:3]:
            assert final_symmetry(framework, tol.symprec, tol.angle_tolerance).number == 1
        # ... and the ladder climbs to symprec 1.0 Å and finds hcp S again.
        result = refine_framework(structure, ["Zn"])
        assert result.success and result.rung == 4
        assert (result.symprec, result.angle_tolerance) == (1.0, 20)
        assert (result.spacegroup_number, result.spacegroup_symbol) == (194, "P6_3/mmc")
        assert result.n_guest_scaled == pytest.approx(2.0)


def test_random_p1_framework_fails_cleanly():
    rng = np.random.default_rng(0)
    lattice = Lattice.from_parameters(5, 6, 7, 80, 85, 100)
    structure = Structure(lattice, ["Si"] * 4 + ["Li"] * 4, rng.random((8, 3)))
    result = refine_framework(structure, "Li", ladder=DEFAULT_LADDER[:2])
    assert not result.success
    assert (result.spacegroup_number, result.rung, result.symprec) == (1, 1, 0.2)
    assert result.multiplicity == 1.0
    assert result.structure.composition.reduced_formula == "Si"
    assert len(result.structure) == 4


def test_rung_changing_the_composition_is_skipped(monkeypatch):
    real = symmetry._standardise
    calls = []

    def merging_first_call(structure, tol, primitive):
        calls.append(tol.symprec)
        refined = real(structure, tol, primitive)
        if len(calls) == 1:  # pretend spglib merged a Zn atom at the first rung
            refined.remove_sites([i for i, s in enumerate(refined) if s.specie.symbol == "Zn"][:1])
        return refined

    monkeypatch.setattr(symmetry, "_standardise", merging_first_call)
    result = refine_framework(perturbed(half_heusler_lizn_p() * (2, 2, 2), 0.02, 0), "Li")
    assert calls == [0.1, 0.2]
    assert result.success and result.rung == 1
    assert result.structure.composition.reduced_formula == "ZnP"
    assert "changes the framework composition" in result.notes[0]


def test_failure_reports_no_rejected_space_group(monkeypatch):
    real = symmetry._standardise

    def always_merging(structure, tol, primitive):
        refined = real(structure, tol, primitive)
        refined.remove_sites([i for i, s in enumerate(refined) if s.specie.symbol == "Zn"][:1])
        return refined

    monkeypatch.setattr(symmetry, "_standardise", always_merging)
    # every rung sees F-43m but changes the composition: a failure, reported as P1
    structure = perturbed(half_heusler_lizn_p() * (2, 2, 2), 0.02, 0)
    result = refine_framework(structure, "Li", twofold_search=False)
    assert not result.success and result.method == "none"
    assert (result.spacegroup_number, result.spacegroup_symbol) == (1, "P1")
    assert len(result.notes) == len(DEFAULT_LADDER)
    # the two-fold pass finds its operations too, and each standard cell merges as well
    result = refine_framework(structure, "Li")
    assert not result.success and (result.spacegroup_number, result.spacegroup_symbol) == (1, "P1")
    assert len(result.notes) == 2 * len(DEFAULT_LADDER)


def test_refine_framework_bad_inputs():
    with pytest.raises(SymmetryInputError, match=r"none of the guest species \['Mg'\] is present "
                                                 r"in Li8 S4 \(species: Li, S\)"):
        refine_framework(li2s(), "Mg")
    # partially present guest lists are fine
    assert refine_framework(li2s(), ["Li", "Mg"]).n_guest_removed == 8
    with pytest.raises(SymmetryInputError, match=r"nothing is left of Li8 S4 after removing"):
        refine_framework(li2s(), ["Li", "S"])
    with pytest.raises(SymmetryInputError, match=r"guest species 'Lithium' is not an element"):
        refine_framework(li2s(), "Lithium")
    with pytest.raises(SymmetryInputError, match=r"cell must be 'conventional' or 'primitive', "
                                                 r"got 'standard'"):
        refine_framework(li2s(), "Li", cell="standard")
    with pytest.raises(SymmetryInputError, match="ladder must contain at least one"):
        refine_framework(li2s(), "Li", ladder=())
    with pytest.raises(SymmetryInputError, match=r"angle_tolerance must be > 0 degrees, got 0"):
        SymmetryTolerance(0.1, 0)
    disordered = Structure(Lattice.cubic(4.0), [{"Li": 0.5, "Na": 0.5}, "Cl"],
                           [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(SymmetryInputError, match=r"is disordered \(partial occupancy\)"):
        refine_framework(disordered, "Li")
