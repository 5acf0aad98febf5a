"""The learned Wyckoff prior and random symmetric crystals on its assignments. Known
answers: stoichiometry types and anonymous order by hand, the ITA Wyckoff positions of
rock salt (Fm-3m 4a/4b), CsCl (Pm-3m 1a/1b), fluorite (Fm-3m 4a/8c) and wurtzite (P6_3mc
2b/2b), the smoothing frequencies of the prior, and the spglib symmetry of drawn crystals."""

from __future__ import annotations

import gzip
import json
import re
import warnings

import numpy as np
import pytest
import spglib
import torch
from pymatgen.core import Lattice, Structure

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.testing import rock_salt, wurtzite
from chggen_kernels.wyckoff import OrbitConstraint
from chggen_kernels.wyckoff.crystals import (
    centring_multiplicity,
    compatible_space_groups,
    min_interatomic_distance,
    random_symmetric_crystal,
    start_orbits,
)
from chggen_kernels.wyckoff.prior import (
    WyckoffPrior,
    anonymous_species,
    crystal_family,
    learn_wyckoff_prior,
    read_assignment,
    stoichiometry_type,
)


def cscl(a: float = 4.12) -> Structure:
    return Structure(Lattice.cubic(a), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def fluorite(a: float = 5.46) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Ca", "F"],
                                     [[0, 0, 0], [0.25, 0.25, 0.25]])


@pytest.fixture(scope="module")
def salts() -> WyckoffPrior:
    """Rock salt twice (once as the conventional cell), CsCl once, fluorite once."""
    return learn_wyckoff_prior([rock_salt(), rock_salt(5.0, ("K", "Br"), primitive=True),
                                cscl(), fluorite()], smoothing=1.0)


# ------------------------------------------------------------------ types and families
def test_stoichiometry_type_is_the_anonymous_formula_and_the_atom_count() -> None:
    assert stoichiometry_type({"Li": 4, "Si": 2}) == "AB2|6"
    assert stoichiometry_type({"Na": 1, "Cl": 1}) == "AB|2"
    assert stoichiometry_type({"Na": 4, "Cl": 4}) == "AB|8"  # the atom count tells cells apart
    assert stoichiometry_type({"Ca": 4, "F": 8}) == "AB2|12"
    assert stoichiometry_type({"Li": 3, "P": 1, "S": 4, "O": 0}) == "AB3C4|8"  # zero: absent
    # Fe and P both once: the less electronegative (Fe 1.83 < P 2.19) is A
    assert stoichiometry_type({"Li": 2, "Fe": 1, "P": 1, "O": 4}) == "ABC2D4|8"
    assert stoichiometry_type({"Si": 7}) == "A|7"


def test_anonymous_order_is_counts_then_electronegativity_then_symbol() -> None:
    assert anonymous_species({"F": 1, "Li": 1}) == ["Li", "F"]  # X: Li 0.98 < F 3.98
    assert anonymous_species({"Cl": 1, "Na": 1}) == ["Na", "Cl"]
    assert anonymous_species({"Li": 4, "Si": 2}) == ["Si", "Li"]  # fewest atoms first
    assert anonymous_species({"O": 2, "Ti": 1, "Zn": 0}) == ["Ti", "O"]
    # K and Rb share X = 0.82: the symbol decides
    assert anonymous_species({"Rb": 1, "K": 1}) == ["K", "Rb"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pymatgen's noble-gas warning is silenced
        order = anonymous_species({"He": 1, "Cs": 1})
    assert order == ["Cs", "He"]  # no electronegativity: last among equal counts


@pytest.mark.parametrize(("spacegroup", "family"), [
    (1, "triclinic"), (2, "triclinic"), (3, "monoclinic"), (15, "monoclinic"),
    (16, "orthorhombic"), (74, "orthorhombic"), (75, "tetragonal"), (142, "tetragonal"),
    (143, "hexagonal"), (167, "hexagonal"), (194, "hexagonal"), (195, "cubic"), (230, "cubic"),
])
def test_crystal_family_boundaries(spacegroup: int, family: str) -> None:
    assert crystal_family(spacegroup) == family


@pytest.mark.parametrize("spacegroup", [0, -1, 231])
def test_crystal_family_outside_1_to_230_raises(spacegroup: int) -> None:
    with pytest.raises(ValueError, match=rf"^space group must be 1\.\.230, got {spacegroup}$"):
        crystal_family(spacegroup)


# ------------------------------------------------------------------ reading and learning
def test_read_assignment_gives_the_ita_positions_of_known_structures() -> None:
    assert read_assignment(rock_salt())[:2] == (225, {"Na": ("4a",), "Cl": ("4b",)})
    assert read_assignment(cscl())[:2] == (221, {"Cs": ("1a",), "Cl": ("1b",)})
    assert read_assignment(fluorite()) == (225, {"Ca": ("4a",), "F": ("8c",)},
                                           (1.0, 1.0, 90.0, 90.0, 90.0))
    sg, sites, shape = read_assignment(wurtzite(3.25, 5.21))
    assert (sg, sites) == (186, {"Zn": ("2b",), "O": ("2b",)})
    assert shape == (1.0, round(5.21 / 3.25, 3), 90.0, 90.0, 120.0)
    # the primitive cell of rock salt has the same conventional labels
    assert read_assignment(rock_salt(primitive=True))[:2] == (225, {"Na": ("4a",),
                                                                    "Cl": ("4b",)})


def test_learned_prior_counts_assignments_per_type_in_anonymous_order(salts) -> None:
    # NaCl and KBr (A = the cation) are one AB|2 rock-salt assignment seen twice
    assert salts.assignments == {
        "AB|2": [(225, (("4a",), ("4b",)), 2), (221, (("1a",), ("1b",)), 1)],
        "AB2|3": [(225, (("4a",), ("8c",)), 1)],
    }
    assert set(salts.shapes) == {"cubic"} and len(salts.shapes["cubic"]) == 4
    assert salts.known({"Li": 1, "F": 1}) == 3 and salts.known({"Mg": 1, "Cl": 2}) == 1
    assert salts.known({"Li": 2, "F": 2}) == 0  # AB|4 is another type
    assert salts.smoothing == 1.0


def test_save_load_round_trip(salts, tmp_path) -> None:
    path = tmp_path / "prior.json.gz"
    salts.save(path)
    loaded = WyckoffPrior.load(path)
    assert loaded == salts  # assignments, shapes, description and smoothing


def test_load_errors_name_the_file(tmp_path) -> None:
    missing = tmp_path / "none.json.gz"
    with pytest.raises(ValueError, match=f"^Wyckoff prior {re.escape(str(missing))}: "):
        WyckoffPrior.load(missing)
    other = tmp_path / "other.json.gz"
    with gzip.open(other, "wt") as handle:
        json.dump({"format": "something-else"}, handle)
    with pytest.raises(ValueError, match=f"^Wyckoff prior {re.escape(str(other))}: not a "
                                         "chggen-wyckoff-prior file$"):
        WyckoffPrior.load(other)


def test_a_cell_larger_than_spglibs_primitive_cell_is_not_learned() -> None:
    class Unreduced(Structure):
        """A cell pymatgen's reduction misses (as for some distorted, near-bcc metals)."""

        def get_primitive_structure(self, *args, **kwargs):
            return self

    # bcc in its 2-atom cubic cell: Im-3m 2a is one atom per primitive cell, not two
    cubic = Unreduced(Lattice.cubic(3.3), ["Nb", "Nb"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert read_assignment(cubic)[:2] == (229, {"Nb": ("2a",)})
    prior = learn_wyckoff_prior([cubic, rock_salt()])
    assert set(prior.assignments) == {"AB|2"}  # no "A|2" entry that holds one atom
    assert set(prior.shapes) == {"cubic"} and len(prior.shapes["cubic"]) == 1


def _type_counts(kind: str) -> list[int]:
    formula, total = kind.split("|")
    values = [int(v or 1) for _, v in re.findall(r"([A-Z])(\d*)", formula)]
    scale, rest = divmod(int(total), sum(values))
    assert rest == 0, kind
    return [v * scale for v in values]


#: Entries of the shipped prior learned before learn_wyckoff_prior skipped cells larger
#: than spglib's primitive cell at 0.1 Å (a distorted Nb7 counted as one C2/m 2d atom).
SHIPPED_DEFECTS = {("A|7", 12, (("2d",),))}


def test_every_shipped_assignment_holds_the_atoms_of_its_type() -> None:
    prior = WyckoffPrior.load()
    assert prior.known({"Na": 1, "Cl": 1}) > 100
    assert (225, (("4a",), ("4b",))) in [(sg, labels) for sg, labels, _ in
                                         prior.assignments["AB|2"]]
    assert set(prior.shapes) == {"triclinic", "monoclinic", "orthorhombic", "tetragonal",
                                 "hexagonal", "cubic"}
    bad = set()
    for kind, entries in prior.assignments.items():
        counts = _type_counts(kind)
        for sg, labels, n in entries:
            assert n >= 1 and len(labels) == len(counts)
            m = centring_multiplicity(sg)
            held = [sum(int(label[:-1]) for label in ls) for ls in labels]
            if held != [c * m for c in counts]:
                bad.add((kind, sg, labels))
    assert bad <= SHIPPED_DEFECTS


# ------------------------------------------------------------------ drawing
def test_draw_uses_the_data_with_probability_n_over_n_plus_smoothing(salts) -> None:
    rng = np.random.default_rng(0)
    draws = [salts.draw({"Na": 1, "Cl": 1}, rng) for _ in range(4000)]
    learned = [d for d in draws if d is not None]
    # n = 3 known AB|2 crystals, smoothing 1: None with probability 1/4 (sd 0.007)
    assert abs(1 - len(learned) / 4000 - 0.25) < 0.03
    rocksalt = sum(d.spacegroup == 225 for d in learned) / len(learned)
    assert abs(rocksalt - 2 / 3) < 0.03  # in proportion to the counts (2 : 1)
    fluorite_type = [salts.draw({"Mg": 1, "Cl": 2}, rng) for _ in range(4000)]
    assert abs(sum(d is None for d in fluorite_type) / 4000 - 0.5) < 0.03  # n = 1: 1/2


def test_draw_maps_labels_to_the_target_elements(salts) -> None:
    rng = np.random.default_rng(1)
    drawn = [salts.draw({"F": 1, "Li": 1}, rng) for _ in range(50)]
    rocksalt = next(d for d in drawn if d is not None and d.spacegroup == 225)
    assert rocksalt.sites == {"Li": ("4a",), "F": ("4b",)}
    assert rocksalt.source == "learned (2 of 3 known AB|2 crystals)"
    assert rocksalt.wyckoff_letters == "F:4b;Li:4a"
    b2 = next(d for d in drawn if d is not None and d.spacegroup == 221)
    assert b2.sites == {"Li": ("1a",), "F": ("1b",)}
    mgcl2 = next(d for d in (salts.draw({"Mg": 1, "Cl": 2}, rng) for _ in range(50)) if d)
    assert mgcl2.sites == {"Mg": ("4a",), "Cl": ("8c",)}  # the fewer atoms (A) on 4a


def test_unknown_types_always_fall_back_to_the_uniform_prior(salts) -> None:
    rng = np.random.default_rng(2)
    assert all(salts.draw({"Na": 1, "Cl": 3}, rng) is None for _ in range(200))
    assert all(salts.draw({"Na": 2, "Cl": 2}, rng) is None for _ in range(200))
    assert salts.shape("monoclinic", rng) is None
    assert salts.shape("cubic", rng) == (1.0, 1.0, 90.0, 90.0, 90.0)


# ------------------------------------------------------------------ symmetric crystals
def test_compatible_space_groups_know_the_centring() -> None:
    one_each = compatible_space_groups({"Na": 1, "Cl": 1})
    assert {1, 2, 216, 221, 225} <= set(one_each)  # Fm-3m: 4a + 4b of the conventional cell
    assert 227 not in one_each  # Fd-3m's smallest orbit is 8 (2 per primitive cell)
    assert 229 not in one_each  # Im-3m has one orbit of one atom per primitive cell (2a)
    two = compatible_space_groups({"Si": 2})
    assert 227 in two and 229 not in two  # diamond 8a; Im-3m has no orbit of 4
    assert 229 in compatible_space_groups({"Fe": 1})  # bcc
    with pytest.raises(ValueError, match=r"^composition needs positive atom counts, got "
                                         r"\{'Na': -1\}$"):
        compatible_space_groups({"Na": -1})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_symmetric_crystal_has_the_composition_volume_and_separation(seed) -> None:
    composition = {"Li": 4, "Si": 2}
    drawn = random_symmetric_crystal(composition, 18.0, np.random.default_rng(seed),
                                     min_distance=1.2)
    s = drawn.structure
    assert drawn.failure_reason is None and drawn.source == "uniform prior"
    assert len(s) == 6 and s.composition.as_dict() == {"Li": 4.0, "Si": 2.0}
    assert s.volume == pytest.approx(6 * 18.0, rel=1e-6)
    assert min_interatomic_distance(s) >= 1.2
    assert drawn.spacegroup in compatible_space_groups(composition)
    # at 0.01 Å the crystal has the group drawn or a supergroup of it (never less symmetry)
    found = read_assignment(s, 0.01)
    assert found is not None and _order(s, 0.01) >= _order_of_group(drawn.spacegroup)
    again = random_symmetric_crystal(composition, 18.0, np.random.default_rng(seed),
                                     min_distance=1.2)
    assert again.structure == s and again.wyckoff_letters == drawn.wyckoff_letters


def _order(structure: Structure, symprec: float) -> int:
    """Point-group order of the crystal's space group (operations per lattice point)."""
    cell = (structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers)
    data = spglib.get_symmetry_dataset(cell, symprec=symprec)
    return len({r.tobytes() for r in np.asarray(data.rotations)})


def _order_of_group(spacegroup: int) -> int:
    from pyxtal.symmetry import Group

    general = Group(spacegroup).Wyckoff_positions[0].multiplicity
    return int(general) // centring_multiplicity(spacegroup)


def test_a_one_assignment_prior_builds_that_crystal() -> None:
    prior = learn_wyckoff_prior([wurtzite()], smoothing=1e-9)
    assert prior.assignments == {"AB|4": [(186, (("2b",), ("2b",)), 1)]}
    for seed in range(3):
        drawn = random_symmetric_crystal({"Zn": 2, "S": 2}, 20.0, np.random.default_rng(seed),
                                         prior)
        s = drawn.structure
        assert drawn.source == "learned (1 of 1 known AB|4 crystals)"
        assert (drawn.spacegroup, drawn.wyckoff_letters) == (186, "S:2b;Zn:2b")
        sg, sites, shape = read_assignment(s, 0.01)
        assert (sg, sites) == (186, {"Zn": ("2b",), "S": ("2b",)})
        # the lattice is the learned hexagonal shape, scaled to 4 x 20 Å^3
        assert shape[:2] == pytest.approx(prior.shapes["hexagonal"][0][:2], abs=2e-3)
        assert s.volume == pytest.approx(80.0, rel=1e-6)


def test_rocksalt_prior_gives_rock_salt_for_a_new_salt() -> None:
    prior = learn_wyckoff_prior([rock_salt()], smoothing=1e-9)
    drawn = random_symmetric_crystal({"K": 1, "Br": 1}, 25.0, np.random.default_rng(3), prior)
    s = drawn.structure
    assert read_assignment(s, 0.01)[:2] == (225, {"K": ("4a",), "Br": ("4b",)})
    a = (4 * 50.0) ** (1 / 3)  # conventional cube of 4 formula units
    assert s.get_distance(0, 1) == pytest.approx(a / 2, rel=1e-6)  # K-Br = a/2


def test_an_impossible_separation_gives_no_structure_and_the_reason() -> None:
    drawn = random_symmetric_crystal({"Li": 4, "Si": 2}, 18.0, np.random.default_rng(0),
                                     min_distance=50.0, max_tries=3)
    assert drawn.structure is None and drawn.spacegroup is None
    assert drawn.wyckoff_letters is None and drawn.source == "uniform prior"
    assert drawn.failure_reason == ("symmetric start: no crystal of 6 atoms with atoms >= "
                                    "50.0 Å apart in 3 draws")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_start_orbits_tie_every_atom_and_projection_keeps_the_group(seed) -> None:
    drawn = random_symmetric_crystal({"Li": 4, "Si": 2}, 18.0, np.random.default_rng(seed),
                                     min_distance=1.2)
    s = drawn.structure
    orbits, spacegroup, letters = start_orbits(s)
    found = read_assignment(s, 0.01)
    assert sorted(orbits.member_atoms.tolist()) == list(range(len(s)))  # every atom, once
    assert spacegroup == found[0]
    assert letters == ";".join(f"{el}:{','.join(v)}" for el, v in sorted(found[1].items()))
    assert sorted(orbits.labels) == sorted(label for v in found[1].values() for label in v)
    species = np.array([site.specie.symbol for site in s])
    for k in range(orbits.n_orbits):  # an orbit holds one element
        assert len(set(species[orbits.member_atoms[orbits.member_orbit == k]])) == 1
    batch = CrystalBatch.from_arrays([(s.cart_coords, s.lattice.matrix,
                                       np.array(s.atomic_numbers))], dtype=torch.float64)
    bound = OrbitConstraint([orbits]).bind(batch, [0])
    # a randomly displaced copy is projected back onto orbits: members are the images of
    # their representative, and the crystal has the start's group and positions at 1e-4 Å
    rng = np.random.default_rng(5)
    moved = batch.positions + torch.tensor(rng.normal(scale=0.2, size=(len(s), 3)))
    projected = bound.project(moved).numpy()
    frac = projected @ np.linalg.inv(s.lattice.matrix)
    rep = frac[orbits.rep_atoms][orbits.member_orbit]
    expected = np.einsum("kij,kj->ki", orbits.rotations, rep) + orbits.translations
    d = frac[orbits.member_atoms] - expected
    assert np.abs(d - np.round(d)).max() < 1e-10
    on_orbits = Structure(s.lattice, s.species, projected, coords_are_cartesian=True)
    assert read_assignment(on_orbits, 1e-4)[:2] == found[:2]
    again = bound.project(torch.tensor(projected)).numpy()  # a projection: idempotent
    d = (again - projected) @ np.linalg.inv(s.lattice.matrix)
    assert np.abs(d - np.round(d)).max() < 1e-10
