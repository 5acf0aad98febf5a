"""Periodic neighbour list: checked against pymatgen on random and pathological cells."""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from chggen_kernels import CrystalBatch, edge_vectors, neighbor_list


def _random_triclinic(rng: np.random.Generator, n_atoms: int, skew: float = 0.3) -> Structure:
    lattice = np.eye(3) * rng.uniform(3.0, 6.0, size=3) + rng.normal(0, skew * 3, size=(3, 3))
    if np.linalg.det(lattice) < 0:
        lattice[0] *= -1
    frac = rng.uniform(-0.5, 1.5, size=(n_atoms, 3))  # deliberately unwrapped
    return Structure(Lattice(lattice), ["Si"] * n_atoms, frac)


def _pymatgen_pairs(s: Structure, cutoff: float) -> list[tuple[int, int, tuple, float]]:
    c, nb, images, d = s.get_neighbor_list(cutoff)
    # pymatgen's images refer to wrapped fractional coordinates; compare by distance
    # multiset per centre atom instead (robust to the wrap convention).
    return sorted((int(a), int(b), round(float(x), 6)) for a, b, x in zip(c, nb, d, strict=True)
                  if x > 1e-8)


def _ours(s: Structure, cutoff: float, **kw) -> list[tuple[int, int, float]]:
    batch = CrystalBatch.from_structures([s])
    nl = neighbor_list(batch, cutoff, **kw)
    d = edge_vectors(batch, nl).norm(dim=1)
    i, j = nl.edge_index
    return sorted(
        (int(a), int(b), round(float(x), 6))
        for a, b, x in zip(i.tolist(), j.tolist(), d.tolist(), strict=True)
    )


@pytest.mark.parametrize("seed", range(6))
def test_matches_pymatgen_on_random_triclinic_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = _random_triclinic(rng, n_atoms=int(rng.integers(1, 7)), skew=0.4)
    assert _ours(s, 5.0) == _pymatgen_pairs(s, 5.0)


def test_cell_much_smaller_than_cutoff_finds_far_images() -> None:
    # 1-atom simple cubic cell with a = 2 Å, cutoff 7 Å: neighbours up to 3 cells away.
    s = Structure(Lattice.cubic(2.0), ["Cu"], [[0, 0, 0]])
    ours = _ours(s, 7.0)
    expected = sum(
        1
        for x in range(-4, 5)
        for y in range(-4, 5)
        for z in range(-4, 5)
        if 0 < 2.0 * np.sqrt(x * x + y * y + z * z) < 7.0
    )
    assert len(ours) == expected
    assert expected > 26  # more than the 27-image search could ever find


def test_strongly_skewed_cell_matches_pymatgen() -> None:
    lattice = np.array([[4.0, 0, 0], [3.9, 0.5, 0], [3.8, 0.3, 0.6]])
    s = Structure(Lattice(lattice), ["Si", "O"], [[0.1, 0.2, 0.3], [0.6, 0.5, 0.9]])
    assert _ours(s, 4.05) == _pymatgen_pairs(s, 4.05)


def test_max_neighbors_keeps_nearest_first() -> None:
    s = Structure(Lattice.cubic(2.0), ["Cu"], [[0, 0, 0]])
    batch = CrystalBatch.from_structures([s])
    full = neighbor_list(batch, 7.0)
    capped = neighbor_list(batch, 7.0, max_neighbors=6)
    assert capped.n_edges == 6
    d = edge_vectors(batch, capped).norm(dim=1)
    torch.testing.assert_close(d, torch.full_like(d, 2.0))
    d_full = edge_vectors(batch, full).norm(dim=1)
    assert bool((torch.diff(d_full) >= -1e-12).all()), "edges of a centre sorted by distance"


def test_batch_equals_concatenation_of_singles() -> None:
    rng = np.random.default_rng(7)
    structures = [_random_triclinic(rng, k) for k in (2, 5, 3)]
    batch = CrystalBatch.from_structures(structures)
    together = neighbor_list(batch, 4.5)
    counts = [neighbor_list(CrystalBatch.from_structures([s]), 4.5).n_edges for s in structures]
    assert together.n_edges == sum(counts)
    per_crystal = torch.bincount(batch.crystal_index[together.edge_index[0]], minlength=3)
    assert per_crystal.tolist() == counts


def test_bad_cutoff_is_refused() -> None:
    s = Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]])
    with pytest.raises(ValueError, match="cutoff must be positive, got 0"):
        neighbor_list(CrystalBatch.from_structures([s]), 0)
