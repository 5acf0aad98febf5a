"""The Verlet neighbour list: the exact list at every call, searched again only when needed."""

import numpy as np
import pytest
import torch

from chggen_kernels import CrystalBatch, edge_vectors, neighbor_list
from chggen_kernels.model import ScoreModel, cpu_default_config
from chggen_kernels.sampling import SamplerSettings, sample
from chggen_kernels.testing import randomize_parameters
from chggen_kernels.verlet import VerletNeighbors, VerletScore


def _random_batch(n_crystals: int, n_atoms: int, seed: int = 0,
                  volume_per_atom: float = 18.0) -> CrystalBatch:
    """Skewed cells at 18 Å^3/atom: about 27 neighbours within 5 Å, so a cap of 16 bites,
    and cells under 6 Å, so atoms see their own images (equal distances at +a and -a)."""
    rng = np.random.default_rng(seed)
    crystals = []
    for _ in range(n_crystals):
        lattice = (volume_per_atom * n_atoms) ** (1 / 3) * (np.eye(3) + rng.normal(0, 0.1, (3, 3)))
        crystals.append((rng.random((n_atoms, 3)) @ lattice, lattice,
                         rng.integers(1, 20, n_atoms)))
    return CrystalBatch.from_arrays(crystals, dtype=torch.float32)


def _edges(batch: CrystalBatch, nl) -> list[tuple[int, int, tuple[int, ...]]]:
    shifts = nl.shifts.round().long().tolist()
    return list(zip(nl.edge_index[0].tolist(), nl.edge_index[1].tolist(), map(tuple, shifts),
                    strict=True))


@pytest.mark.parametrize(("n_crystals", "n_atoms", "cap"), [(2, 6, 16), (6, 8, None), (3, 8, 8)])
def test_every_call_returns_the_exact_list_along_a_wrapped_random_walk(n_crystals, n_atoms,
                                                                        cap) -> None:
    batch = _random_batch(n_crystals, n_atoms)
    verlet = VerletNeighbors(5.0, cap, skin=1.0)
    rng = torch.Generator().manual_seed(1)
    for step in range(40):
        noise = 0.5 if step < 8 else 0.02  # fast moves first (plain searches), then reuse
        batch = batch.replace(positions=batch.positions
                              + noise * torch.randn(batch.positions.shape, generator=rng))
        if step % 5 == 2:
            batch = batch.wrap()  # atoms jump by whole lattice vectors
        exact, reused = neighbor_list(batch, 5.0, cap), verlet(batch)
        assert _edges(batch, reused) == _edges(batch, exact), step
        torch.testing.assert_close(edge_vectors(batch, reused), edge_vectors(batch, exact))
    assert verlet.n_calls == 40
    assert 8 <= verlet.n_searches <= 16  # every fast call, then a few while atoms drift


def test_other_crystals_or_cells_are_searched_again() -> None:
    verlet = VerletNeighbors(5.0, 16, skin=1.0)
    first = _random_batch(2, 6, seed=0)
    verlet(first)
    verlet(first)
    searches = verlet.n_searches
    other = _random_batch(2, 6, seed=5)
    assert _edges(other, verlet(other)) == _edges(other, neighbor_list(other, 5.0, 16))
    strained = first.replace(lattices=first.lattices * 1.02,
                             positions=first.positions * 1.02)
    assert _edges(strained, verlet(strained)) == _edges(strained,
                                                        neighbor_list(strained, 5.0, 16))
    assert verlet.n_searches == searches + 2


def test_atoms_that_separate_and_non_finite_positions_are_handled() -> None:
    batch = _random_batch(1, 6)
    together = batch.positions.clone()
    together[1] = together[0]  # two atoms on top of each other at the search
    batch = batch.replace(positions=together)
    verlet = VerletNeighbors(5.0, None, skin=1.0)
    verlet(batch)
    verlet(batch)  # slow enough to build the wide list
    apart = together.clone()
    apart[1, 0] += 0.2
    moved = batch.replace(positions=apart)
    assert _edges(moved, verlet(moved)) == _edges(moved, neighbor_list(moved, 5.0, None))
    assert (0, 1, (0, 0, 0)) in _edges(moved, verlet(moved))
    broken = apart.clone()
    broken[2] = float("nan")
    searches = verlet.n_searches
    verlet(batch.replace(positions=broken))  # NaN is never "moved less than the skin"
    assert verlet.n_searches == searches + 1


def test_skin_zero_searches_every_call_and_bad_settings_are_refused() -> None:
    batch = _random_batch(1, 6)
    verlet = VerletNeighbors(5.0, None, skin=0.0)
    verlet(batch)
    verlet(batch)
    assert verlet.n_searches == 2
    with pytest.raises(ValueError, match="skin must be >= 0 Å, got -1.0"):
        VerletNeighbors(5.0, None, skin=-1.0)
    with pytest.raises(ValueError, match="cutoff must be positive, got 0.0"):
        VerletNeighbors(0.0)


def test_sampling_with_the_verlet_score_is_identical_to_the_plain_model() -> None:
    torch.manual_seed(0)
    model = ScoreModel(cpu_default_config(max_neighbors=16, n_layers=1)).eval()
    randomize_parameters(model, std=0.3, seed=2)
    batch = _random_batch(2, 6)
    settings = SamplerSettings.from_preset(
        "reference", n_levels=60, n_corrector_steps=1, sigma_max=2.0, sigma_min=0.001)
    verlet = VerletScore(model)
    with torch.no_grad():
        plain = sample(model, batch, settings, seeds=[1, 2]).batch.positions
        reused = sample(verlet, batch, settings, seeds=[1, 2]).batch.positions
    torch.testing.assert_close(reused, plain, rtol=0, atol=1e-5)
    assert verlet.neighbors.n_searches < verlet.neighbors.n_calls  # the list was reused
