"""CrystalBatch: conversions, slicing, concatenation, devices and input validation."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from pymatgen.core import Lattice, Structure

from chggen_kernels import CrystalBatch, CrystalInputError


def _nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])


def _si() -> Structure:
    return Structure(Lattice.hexagonal(3.8, 6.2), ["Si", "Si"], [[0, 0, 0], [1 / 3, 2 / 3, 0.5]])


def test_round_trip_pymatgen_keeps_species_lattice_and_positions() -> None:
    structures = [_nacl(), _si()]
    batch = CrystalBatch.from_structures(structures)
    assert batch.n_crystals == 2
    assert batch.n_atoms == 10
    assert batch.atoms_per_crystal.tolist() == [8, 2]
    assert batch.offsets.tolist() == [0, 8, 10]
    back = batch.to_structures()
    for s, b in zip(structures, back, strict=True):
        assert s.species == b.species
        np.testing.assert_allclose(s.lattice.matrix, b.lattice.matrix, atol=1e-12)
        np.testing.assert_allclose(s.cart_coords, b.cart_coords, atol=1e-12)
    torch.testing.assert_close(batch.volumes, torch.tensor([s.volume for s in structures],
                                                           dtype=torch.float64))


def test_round_trip_ase() -> None:
    atoms = [bulk("Cu", "fcc", a=3.6), bulk("NaCl", "rocksalt", a=5.64, cubic=True)]
    batch = CrystalBatch.from_ase(atoms)
    back = batch.to_ase()
    for a, b in zip(atoms, back, strict=True):
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
        np.testing.assert_allclose(a.cell[:], b.cell[:])
        np.testing.assert_allclose(a.positions, b.positions)


def test_slicing_and_concat_are_inverse() -> None:
    structures = [_nacl(), _si(), _nacl()]
    mask = [np.arange(8) % 2 == 0, None, np.ones(8, bool)]
    batch = CrystalBatch.from_structures(structures, masks=mask)
    parts = [batch[0], batch[1:3]]
    assert parts[1].n_crystals == 2
    again = CrystalBatch.concat(parts)
    for name in ("positions", "lattices", "atomic_numbers", "crystal_index", "mask"):
        torch.testing.assert_close(getattr(again, name), getattr(batch, name))
    picked = batch[[2, 0]]
    assert picked.atoms_per_crystal.tolist() == [8, 8]
    assert bool(picked.mask[:8].all()) and picked.mask[8:].tolist() == mask[0].tolist()
    assert batch[torch.tensor([False, True, False])].n_atoms == 2
    with pytest.raises(IndexError, match="crystal index 3 out of range for 3"):
        batch[3]


def test_wrap_keeps_fractional_in_unit_interval_and_is_periodic_equivalent() -> None:
    batch = CrystalBatch.from_structures([_si()])
    moved = batch.replace(positions=batch.positions + torch.tensor([7.9, -12.3, 30.1],
                                                                   dtype=torch.float64))
    frac = moved.wrap().frac_positions()
    assert bool(((frac >= 0) & (frac < 1)).all())
    delta = moved.frac_positions() - frac
    torch.testing.assert_close(delta, torch.round(delta))


def test_to_changes_dtype_and_immutability() -> None:
    batch = CrystalBatch.from_structures([_nacl()])
    b32 = batch.to(dtype=torch.float32)
    assert b32.positions.dtype == torch.float32 and b32.lattices.dtype == torch.float32
    assert b32.atomic_numbers.dtype == torch.long
    with pytest.raises(AttributeError):
        batch.positions = batch.positions  # type: ignore[misc]


def test_disordered_structure_refused_with_clear_message() -> None:
    s = Structure(Lattice.cubic(4.0), [{"Li": 0.5}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(CrystalInputError, match=r"crystal 0 \(Li0.5O1\) has partly occupied sites"):
        CrystalBatch.from_structures([s])


@pytest.mark.parametrize(
    ("positions", "cell", "numbers", "message"),
    [
        ([[0, 0, 0]], np.zeros((3, 3)), [14], r"crystal 0 has a cell volume of 0 Å\^3"),
        ([[0, 0, 0]], -np.eye(3) * 3, [14], r"crystal 0 has a cell volume of -27 Å\^3"),
        ([[np.nan, 0, 0]], np.eye(3) * 3, [14], "crystal 0 has non-finite coordinates"),
        ([[0, 0, 0]], np.eye(3) * 3, [0], "crystal 0 has unknown element with atomic number 0"),
        ([[0, 0, 0]], np.eye(3) * 3, [119], "unknown element with atomic number 119"),
        (np.zeros((0, 3)), np.eye(3) * 3, [], "crystal 0 has no atoms"),
    ],
)
def test_bad_input_named(positions, cell, numbers, message) -> None:
    with pytest.raises(CrystalInputError, match=message):
        CrystalBatch.from_arrays([(np.array(positions, float), cell, np.array(numbers))])


def test_non_periodic_ase_refused() -> None:
    with pytest.raises(CrystalInputError, match=r"not periodic in all three directions"):
        CrystalBatch.from_ase([Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.7]])])


def test_inconsistent_tensors_refused() -> None:
    batch = CrystalBatch.from_structures([_nacl()])
    with pytest.raises(CrystalInputError, match=r"mask must be a bool tensor of shape \(8,\)"):
        batch.replace(mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(CrystalInputError, match="crystal_index must be sorted"):
        two = CrystalBatch.from_structures([_si(), _si()])
        two.replace(crystal_index=torch.tensor([1, 1, 0, 0]))
