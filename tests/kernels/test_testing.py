"""The shipped test helpers: they pass a correct score function and catch broken ones.

A property check that cannot fail is a defect, so every ``assert_*`` helper is shown to
raise on a deliberately wrong score function with an informative message.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chggen_kernels import CrystalBatch, edge_vectors, neighbor_list
from chggen_kernels.testing import (
    assert_batch_consistent,
    assert_permutation_equivariant,
    assert_rotation_equivariant,
    assert_supercell_invariant,
    assert_translation_invariant,
    bcc,
    diamond,
    fcc,
    perovskite,
    random_rotation,
    random_triclinic,
    rock_salt,
    supercell_batch,
    wurtzite,
)


@pytest.fixture(scope="module")
def batch() -> CrystalBatch:
    rng = np.random.default_rng(11)
    return CrystalBatch.from_structures(
        [
            random_triclinic(rng, 4, ("Zn", "P", "S"), unwrapped=True),
            random_triclinic(rng, 3, ("Li", "Si")),
            random_triclinic(rng, 5, ("O",), volume_per_atom=12.0),
        ]
    )


SIGMA = torch.tensor([0.2, 0.7, 1.5], dtype=torch.float64)


def pair_score(batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
    """A correct periodic score: Gaussian pair attraction over every image within 4 Å."""
    nl = neighbor_list(batch, 4.0)
    vec = edge_vectors(batch, nl)
    weight = torch.exp(-vec.square().sum(1) / 2.0) * batch.atomic_numbers[nl.edge_index[1]] / 10
    out = torch.zeros_like(batch.positions).index_add_(0, nl.edge_index[0], vec * weight[:, None])
    return out / sigma[batch.crystal_index, None]


# ---------------------------------------------------------------------- positive control
def test_correct_pair_score_passes_every_check(batch: CrystalBatch) -> None:
    assert_rotation_equivariant(pair_score, batch, SIGMA)
    assert_rotation_equivariant(pair_score, batch, SIGMA, inversion=True)
    assert_translation_invariant(pair_score, batch, SIGMA)
    assert_permutation_equivariant(pair_score, batch, SIGMA)
    assert_supercell_invariant(pair_score, batch, SIGMA, scaling=(2, 1, 1))
    assert_supercell_invariant(pair_score, batch, SIGMA, scaling=(1, 2, 3))
    assert_batch_consistent(pair_score, batch, SIGMA)


# ---------------------------------------------------------------------- each check can fail
def test_rotation_check_catches_a_constant_vector(batch: CrystalBatch) -> None:
    def constant(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(b.positions)

    with pytest.raises(AssertionError, match=r"rotation equivariance violated: \d+ of 12 atoms"):
        assert_rotation_equivariant(constant, batch, SIGMA)


def test_rotation_check_with_inversion_catches_an_axial_vector(batch: CrystalBatch) -> None:
    # A cross product of two polar vectors is axial: it rotates correctly but does not
    # flip under inversion.
    def axial(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        polar = pair_score(b, sigma)
        nl = neighbor_list(b, 4.0)
        vec = edge_vectors(b, nl)
        other = torch.zeros_like(polar).index_add_(0, nl.edge_index[0], vec * vec.norm(dim=1,
                                                                                       keepdim=True))
        return torch.linalg.cross(polar, other)

    assert_rotation_equivariant(axial, batch, SIGMA)
    with pytest.raises(AssertionError, match="improper rotation equivariance violated"):
        assert_rotation_equivariant(axial, batch, SIGMA, inversion=True)


def test_translation_check_catches_absolute_positions(batch: CrystalBatch) -> None:
    def positions(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        return b.positions.clone()

    assert_rotation_equivariant(positions, batch, SIGMA)  # positions do rotate...
    with pytest.raises(AssertionError, match="translation invariance violated"):
        assert_translation_invariant(positions, batch, SIGMA)  # ...but are not invariant


def test_lattice_shift_check_catches_a_non_periodic_score(batch: CrystalBatch) -> None:
    def centred(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        mean = torch.zeros_like(b.lattices[:, 0]).index_add_(0, b.crystal_index, b.positions)
        return b.positions - mean[b.crystal_index] / b.atoms_per_crystal[b.crystal_index, None]

    with pytest.raises(AssertionError, match=r"lattice-shift \(periodicity\) invariance violated"):
        assert_translation_invariant(centred, batch, SIGMA)


def test_permutation_check_catches_order_dependence(batch: CrystalBatch) -> None:
    def to_next_atom(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        # vector to the next atom in storage order (rotation-equivariant, order-dependent)
        return torch.roll(b.positions, -1, dims=0) - b.positions

    assert_rotation_equivariant(to_next_atom, batch, SIGMA)
    with pytest.raises(AssertionError, match="permutation equivariance violated"):
        assert_permutation_equivariant(to_next_atom, batch, SIGMA)


def test_supercell_check_catches_a_cell_only_sum(batch: CrystalBatch) -> None:
    def cell_only(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        # pair forces inside the stored cell only, ignoring periodic images
        out = torch.zeros_like(b.positions)
        offsets = b.offsets.tolist()
        for c in range(b.n_crystals):
            pos = b.positions[offsets[c] : offsets[c + 1]]
            diff = pos[None] - pos[:, None]
            out[offsets[c] : offsets[c + 1]] = (diff * torch.exp(-diff.square().sum(-1,
                                                keepdim=True) / 8)).sum(1)
        return out

    with pytest.raises(AssertionError, match=r"supercell \(2, 1, 1\) invariance violated"):
        assert_supercell_invariant(cell_only, batch, SIGMA)


def test_batch_check_catches_cross_crystal_leakage(batch: CrystalBatch) -> None:
    def leaky(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        return pair_score(b, sigma) * b.n_atoms  # depends on the rest of the batch

    with pytest.raises(AssertionError, match=r"batch consistency \(batched vs one crystal"):
        assert_batch_consistent(leaky, batch, SIGMA)


def test_zero_score_is_rejected_as_vacuous(batch: CrystalBatch) -> None:
    def zero(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(b.positions)

    with pytest.raises(AssertionError, match="the check would be vacuous"):
        assert_rotation_equivariant(zero, batch, SIGMA)
    assert_rotation_equivariant(zero, batch, SIGMA, min_score=0.0)


def test_wrong_output_shape_is_reported(batch: CrystalBatch) -> None:
    def flat(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        return b.positions[:, :2]

    with pytest.raises(AssertionError, match=r"returned shape \(12, 2\), expected \(12, 3\)"):
        assert_batch_consistent(flat, batch, SIGMA)


def test_failure_message_names_crystal_atom_and_vectors(batch: CrystalBatch) -> None:
    def broken_in_crystal_2(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        out = pair_score(b, sigma)
        if b.n_crystals == 3:  # only the batched call is wrong, in crystal 2, atom 1
            out[b.offsets[2] + 1] += 1.0
        return out

    with pytest.raises(AssertionError) as info:
        assert_batch_consistent(broken_in_crystal_2, batch, SIGMA)
    message = str(info.value)
    assert "1 of 12 atoms off; worst is atom 1 (Z=8) of crystal 2" in message
    assert "expected [" in message and "got [" in message and "tolerance" in message


# ---------------------------------------------------------------------- crystals and utilities
@pytest.mark.parametrize(
    ("structure", "n_atoms", "volume"),
    [
        (rock_salt(), 8, 5.64**3),
        (rock_salt(primitive=True), 2, 5.64**3 / 4),
        (bcc(), 2, 2.87**3),
        (fcc(), 4, 3.61**3),
        (diamond(), 8, 5.43**3),
        (wurtzite(), 4, 3.25**2 * np.sqrt(3) / 2 * 5.21),
        (perovskite(), 5, 3.905**3),
    ],
)
def test_tiny_crystals_have_the_textbook_cells(structure, n_atoms: int, volume: float) -> None:
    assert len(structure) == n_atoms
    assert structure.volume == pytest.approx(volume, rel=1e-9)


def test_diamond_nearest_neighbour_distance() -> None:
    # Si-Si bond length a * sqrt(3) / 4, four bonds per atom.
    s = diamond()
    distances = np.sort(s.distance_matrix[0])[1:5]
    np.testing.assert_allclose(distances, 5.43 * np.sqrt(3) / 4, rtol=1e-12)


def test_random_triclinic_density_and_species() -> None:
    s = random_triclinic(np.random.default_rng(0), 7, ("Li", "Si"), volume_per_atom=15.0)
    assert s.volume == pytest.approx(7 * 15.0)
    assert [str(x) for x in s.species] == ["Li", "Si", "Li", "Si", "Li", "Si", "Li"]
    angles = np.array(s.lattice.angles)
    assert ((angles > 60) & (angles < 120)).all()


def test_random_rotation_is_proper_and_orthogonal() -> None:
    rot = random_rotation(np.random.default_rng(5))
    torch.testing.assert_close(rot @ rot.T, torch.eye(3, dtype=torch.float64))
    assert float(torch.linalg.det(rot)) == pytest.approx(1.0)


def test_supercell_batch_layout(batch: CrystalBatch) -> None:
    big = supercell_batch(batch, (1, 2, 3))
    assert big.n_atoms == 6 * batch.n_atoms
    torch.testing.assert_close(big.volumes, 6 * batch.volumes)
    # image (0, 1, 2) of atom 0 of crystal 0 is shifted by b + 2c
    first = batch.positions[0] + batch.lattices[0, 1] + 2 * batch.lattices[0, 2]
    n0 = int(batch.atoms_per_crystal[0])
    torch.testing.assert_close(big.positions[5 * n0], first)
