"""Random search, random and Voronoi guests, guests-only relaxation."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.lj import LennardJones
from pymatgen.core import Lattice, Structure

from chggen_kernels.benchmark import (
    compatible_space_groups,
    guests_only_relaxer,
    match_structures,
    random_guest_structures,
    random_search_structures,
    voronoi_guest_structures,
    voronoi_sites,
)
from chggen_kernels.benchmark.baselines import min_interatomic_distance
from chggen_kernels.relax import RelaxSettings
from chggen_kernels.testing import rock_salt


def test_compatible_space_groups_respect_wyckoff_multiplicities() -> None:
    one = compatible_space_groups({"Si": 1})
    assert 225 in one and 229 in one  # fcc / bcc: one atom per primitive cell
    assert 221 in one  # simple cubic
    assert 14 not in one and 230 not in one  # smallest orbits: 2 and 8 per primitive cell
    odd = compatible_space_groups({"Li": 3, "Si": 1})
    assert {1, 221, 225} <= set(odd)  # P1; Cu3Au type (3c + 1a); BiF3 type (8c + 4a in F)
    assert 230 not in odd
    with pytest.raises(ValueError, match="positive atom counts"):
        compatible_space_groups({"Si": 0})


def test_random_search_gives_the_composition_volume_and_contacts_asked_for() -> None:
    made = random_search_structures({"Li": 4, "Si": 2}, 4, 20.0, seed=3, min_distance=1.0)
    assert len(made) == 4
    for b in made:
        s = b.structure
        assert s is not None and b.failure_reason is None
        assert s.composition.as_dict() == {"Li": 4.0, "Si": 2.0}
        assert s.volume == pytest.approx(6 * 20.0)
        assert min_interatomic_distance(s) >= 1.0
        assert b.label.startswith("sg")
    again = random_search_structures({"Li": 4, "Si": 2}, 4, 20.0, seed=3, min_distance=1.0)
    assert [a.structure == b.structure for a, b in zip(made, again, strict=True)] == [True] * 4
    other = random_search_structures({"Li": 4, "Si": 2}, 4, 20.0, seed=4, min_distance=1.0)
    assert any(a.structure != b.structure for a, b in zip(made, other, strict=True))


def test_random_search_reports_impossible_contacts_as_failures() -> None:
    made = random_search_structures({"Si": 8}, 2, 1.0, seed=0, min_distance=3.0, max_tries=3)
    assert [b.structure for b in made] == [None, None]
    assert "no crystal with atoms >= 3.0 Å apart in 3 draws" in made[0].failure_reason


def framework() -> Structure:
    s = rock_salt()
    s.remove_species(["Na"])
    return s


def test_random_guests_keep_the_framework_and_the_minimum_distance() -> None:
    fw = framework()
    made = random_guest_structures(fw, {"Na": 4}, 3, seed=1, min_distance=2.0)
    for b in made:
        s = b.structure
        assert s is not None
        assert [site.specie.symbol for site in s][:4] == ["Cl"] * 4
        assert np.allclose(s.frac_coords[:4], fw.frac_coords)
        assert min_interatomic_distance(s) >= 2.0
    crowded = random_guest_structures(fw, {"Na": 40}, 1, seed=1, min_distance=2.0,
                                      max_tries=50)
    assert crowded[0].structure is None and "no position 2.0 Å" in crowded[0].failure_reason


def test_voronoi_sites_of_fcc_chlorine_are_the_octahedral_and_tetrahedral_holes() -> None:
    sites = voronoi_sites(framework())
    clearances = sorted({round(c, 2) for _, c in sites}, reverse=True)
    a = 5.64
    assert clearances == [round(a / 2, 2), round(a * np.sqrt(3) / 4, 2)]
    assert len(sites) == 4 + 8


def test_voronoi_guests_on_the_most_open_sites_rebuild_rock_salt() -> None:
    made = voronoi_guest_structures(framework(), {"Na": 4}, 2, seed=0, min_distance=1.5)
    assert match_structures(made[0].structure, rock_salt()).matched
    too_many = voronoi_guest_structures(framework(), {"Na": 13}, 1, seed=0)
    assert too_many[0].structure is None and "Voronoi sites" in too_many[0].failure_reason


def test_guests_only_relaxation_moves_guests_and_nothing_else() -> None:
    lattice = Lattice.cubic(6.0)
    s = Structure(lattice, ["Ar", "Ar", "Kr"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.3, 0.1, 0.1]])
    relaxer = guests_only_relaxer(LennardJones(sigma=2.5, epsilon=0.01, rc=5.9),
                                  RelaxSettings(fmax=0.01, max_steps=200), fixed=[0, 1])
    out = relaxer.relax(s)
    assert out.status == "ok", out.failure_reason
    r = out.structure_relaxed
    assert np.allclose(r.lattice.matrix, lattice.matrix)
    assert np.allclose(r.frac_coords[:2] % 1, s.frac_coords[:2] % 1, atol=1e-9)
    assert np.linalg.norm(r[2].coords - s[2].coords) > 0.05  # the guest moved
    assert out.energy_relaxed_per_atom < out.energy_initial_per_atom
