"""Wyckoff tables in the framework's own cell and combinations of positions (known
answers from the International Tables: Fm-3m and Fd-3m, conventional and primitive)."""

from __future__ import annotations

import numpy as np
import pytest
import spglib
from pymatgen.core import Lattice, Structure

from chggen_kernels.testing import diamond, fcc
from chggen_kernels.wyckoff import (
    WyckoffError,
    format_choice,
    parse_choice,
    usable_sites,
    wyckoff_combinations,
    wyckoff_table,
)


def fcc_cl(a: float = 5.64) -> Structure:
    """Cl framework of rock salt, conventional cubic cell (Fm-3m, 4a occupied)."""
    return fcc(a, "Cl")


def diamond_si(primitive: bool = False, a: float = 5.43) -> Structure:
    if primitive:
        lattice = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
        return Structure(lattice, ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    return diamond(a)


def _invariant(structure: Structure, orbit: np.ndarray) -> bool:
    cell = (structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers)
    data = spglib.get_symmetry_dataset(cell, symprec=1e-3)
    for rot, trans in zip(data.rotations, data.translations, strict=True):
        image = orbit @ rot.T + trans
        d = image[:, None, :] - orbit[None, :, :]
        d -= np.round(d)
        if np.abs(d).max(axis=2).min(axis=1).max() > 1e-8:
            return False
    return True


def test_fd3m_table_in_conventional_and_primitive_cells() -> None:
    ita = [("8a", 0), ("8b", 0), ("16c", 0), ("16d", 0), ("32e", 1), ("48f", 1), ("96g", 2),
           ("96h", 1), ("192i", 3)]
    for primitive, per_cell in ((False, 1), (True, 4)):
        structure = diamond_si(primitive)
        table = wyckoff_table(structure)
        assert (table.spacegroup_number, table.spacegroup_symbol) == (227, "Fd-3m")
        assert [(s.label, s.dof) for s in table.sites] == ita
        assert [s.n_in_cell for s in table.sites] == [s.multiplicity // per_cell
                                                      for s in table.sites]
        assert table.n_operations == 192 // per_cell
        rng = np.random.default_rng(0)
        for site in table.sites:
            orbit = site.orbit(rng.uniform(size=3))
            if primitive:  # (the conventional check is the same, 4^3 times slower)
                assert _invariant(structure, orbit), site.label
            d = orbit[:, None] - orbit[None]
            d -= np.round(d)
            distinct = np.abs(d).max(axis=2) + np.eye(len(orbit))
            assert distinct.min() > 1e-6  # members are distinct points
        # the Si atoms sit on one 8a/8b orbit (the two are equivalent by the normaliser)
        si = {tuple(np.round(np.mod(p, 1), 6) % 1) for p in structure.frac_coords}
        on_orbit = [s.label for s in table.sites if s.dof == 0
                    and {tuple(np.round(np.mod(p, 1), 6) % 1) for p in s.orbit()} == si]
        assert len(on_orbit) == 1 and on_orbit[0] in ("8a", "8b")


def test_special_settings_origin_choice_and_hexagonal_axes() -> None:
    # R-3m (hexagonal axes) and P4/nmm (two origin choices) from symmetric random crystals
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    from pyxtal import pyxtal

    for number, species in ((166, ["Li", "Si"]), (129, ["Li", "Si"]), (12, ["Li", "Si"])):
        # pyxtal's random_state makes a draw reproducible; a draw can land on a supergroup
        # (e.g. P4/mmm for P4/nmm), so take the first draw that keeps the requested group.
        for random_state in range(50):
            crystal = pyxtal()
            crystal.from_random(3, number, species, [3, 6] if number == 166 else [2, 2],
                                random_state=random_state)
            structure = crystal.to_pymatgen()
            if SpacegroupAnalyzer(structure, symprec=1e-3).get_space_group_number() == number:
                break
        else:
            raise AssertionError(f"no pyxtal draw kept space group {number}")
        table = wyckoff_table(structure, symprec=1e-3)
        assert table.spacegroup_number == number
        for site in table.sites:
            assert _invariant(structure, site.orbit(np.array([0.11, 0.23, 0.37]))), site.label


def test_a_supercell_that_breaks_the_point_group_is_refused() -> None:
    with pytest.raises(WyckoffError, match="supercell that breaks the point symmetry"):
        wyckoff_table(diamond_si() * (1, 1, 2))
    with pytest.raises(WyckoffError, match="symprec must be a positive number, got 0"):
        wyckoff_table(diamond_si(), symprec=0)


def test_rock_salt_combinations_known_answers() -> None:
    table = wyckoff_table(fcc_cl())
    host = fcc_cl().frac_coords

    def labels(n: int) -> set[str]:
        found = wyckoff_combinations(table, {"Na": n}, max_combinations=100, host_frac=host)
        return {format_choice(c) for c in found}

    assert labels(4) == {"Na:4b"}  # 4a holds the Cl atoms
    assert labels(8) == {"Na:8c"}
    assert labels(12) == {"Na:4b,8c"}
    assert labels(24) == {"Na:24d", "Na:24e"}
    assert labels(6) == set()  # unreachable: no orbit sizes add up to 6
    assert labels(2) == set()
    # without the host-distance rule 4a is allowed again
    free = wyckoff_combinations(table, {"Na": 4}, max_combinations=10, min_host_distance=0)
    assert {format_choice(c) for c in free} == {"Na:4a", "Na:4b"}
    # a fixed point holds one orbit over all species: 4 Na + 4 K need 4a and 4b
    assert wyckoff_combinations(table, {"Na": 4, "K": 4}, host_frac=host) == []
    both = wyckoff_combinations(table, {"Na": 4, "K": 8}, host_frac=host)
    assert [format_choice(c) for c in both] == ["Na:4b;K:8c"]


def test_diamond_combinations_and_excluded_points() -> None:
    table = wyckoff_table(diamond_si())
    host = diamond_si().frac_coords
    keep, excluded = usable_sites(table, host)
    assert set(excluded) == {"8a"} and "from a host atom" in excluded["8a"]
    assert table.sites[0].label == "8a" and 0 not in keep
    found = wyckoff_combinations(table, {"Li": 16}, max_combinations=50, host_frac=host)
    assert {format_choice(c) for c in found} == {"Li:16c", "Li:16d"}  # 8b twice is not allowed
    found = wyckoff_combinations(table, {"Li": 24}, max_combinations=50, host_frac=host)
    assert {format_choice(c) for c in found} == {"Li:8b,16c", "Li:8b,16d"}


def test_many_combinations_are_drawn_distinct_and_reproducible() -> None:
    table = wyckoff_table(fcc_cl())
    kwargs = {"max_combinations": 7, "host_frac": fcc_cl().frac_coords}
    first = wyckoff_combinations(table, {"Na": 400}, seed=3, **kwargs)
    again = wyckoff_combinations(table, {"Na": 400}, seed=3, **kwargs)
    other = wyckoff_combinations(table, {"Na": 400}, seed=4, **kwargs)
    assert len(first) == 7 and len(set(first)) == 7 and first == again and first != other
    for choice in first:
        assert sum(table.site(label).n_in_cell for label in choice.labels[0]) == 400
        fixed = [lab for lab in choice.labels[0] if table.site(lab).dof == 0]
        assert len(fixed) == len(set(fixed))


def test_text_form_and_bad_input_messages() -> None:
    choice = parse_choice("Li:4a,8c,8c;Mg:2b")
    assert choice.as_dict() == {"Li": ("4a", "8c", "8c"), "Mg": ("2b",)}
    assert format_choice(choice) == "Li:4a,8c,8c;Mg:2b"
    for bad in ("Li", "Li:a4", "Li:4a;Li:8c", ":4a"):
        with pytest.raises(WyckoffError, match="wyckoff_letters"):
            parse_choice(bad)
    table = wyckoff_table(fcc_cl())
    with pytest.raises(WyckoffError, match="max_combinations must be an integer >= 1, got 0"):
        wyckoff_combinations(table, {"Na": 4}, max_combinations=0)
    with pytest.raises(WyckoffError, match="guest count of Na must be an integer >= 1, got 0"):
        wyckoff_combinations(table, {"Na": 0})
    with pytest.raises(WyckoffError, match="'99z' does not exist in Fm-3m"):
        table.site("99z")
