"""DSM targets: the wrapped-Gaussian score against a brute-force image sum, in both regimes."""

import itertools
import math

import numpy as np
import pytest
import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.training.targets import (
    dsm_loss_per_crystal,
    minimum_image,
    minimum_image_score,
    periodic_score,
    perturb,
    sample_log_uniform_sigmas,
)

CUBIC = np.eye(3) * 3.0
# A strongly skewed triclinic cell (angles far from 90 degrees).
SKEWED = np.array([[3.0, 0.0, 0.0], [2.6, 1.5, 0.0], [1.9, 0.9, 2.2]])


def _batch(lattices: list[np.ndarray], n_atoms: int = 3) -> CrystalBatch:
    rng = np.random.default_rng(1)
    crystals = [(rng.random((n_atoms, 3)) @ lat, lat, np.full(n_atoms, 14)) for lat in lattices]
    return CrystalBatch.from_arrays(crystals)


def _brute_force_score(d: np.ndarray, lattice: np.ndarray, sigma: float) -> np.ndarray:
    """grad log sum_n exp(-|d + nL|^2 / 2 sigma^2) by an explicit, generous image sum."""
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(lattice).T, axis=1)
    reach = 10.0 * sigma + 2.0 * np.linalg.norm(d, axis=1).max()
    k = [int(math.ceil(reach / s)) + 1 for s in spacing]
    n = np.array(list(itertools.product(*(range(-x, x + 1) for x in k))), float) @ lattice
    out = []
    for di in d:
        v = di + n
        logw = -(v * v).sum(1) / (2 * sigma**2)
        w = np.exp(logw - logw.max())
        out.append(-(w[:, None] * v).sum(0) / (w.sum() * sigma**2))
    return np.array(out)


@pytest.mark.parametrize("lattice", [CUBIC, SKEWED], ids=["cubic", "skewed"])
@pytest.mark.parametrize("sigma", [0.02, 0.3, 1.0, 1.7, 4.0])
def test_periodic_score_matches_brute_force_image_sum(lattice: np.ndarray, sigma: float) -> None:
    batch = _batch([lattice])
    d = torch.randn(3, 3, dtype=torch.float64) * sigma * 1.5
    exact = periodic_score(batch, d, torch.tensor([sigma], dtype=torch.float64)).numpy()
    reference = _brute_force_score(d.numpy(), lattice, sigma)
    # sigma * score is the dimensionless quantity (O(1) at small sigma).
    np.testing.assert_allclose(exact * sigma, reference * sigma, atol=1e-10)


def test_small_sigma_target_is_minimum_image_over_sigma_squared() -> None:
    batch = _batch([CUBIC, SKEWED])
    sigma = torch.tensor([0.05, 0.05], dtype=torch.float64)
    d = torch.randn(6, 3, dtype=torch.float64) * 0.05
    d = d + torch.tensor([[1.0, -2.0, 0.0]], dtype=torch.float64) @ batch.lattices[0]  # image
    exact = periodic_score(batch, d, sigma)
    mic = minimum_image_score(batch, d, sigma)
    np.testing.assert_allclose(exact.numpy(), mic.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose((-mic * 0.05**2).numpy(), minimum_image(batch, d).numpy(),
                               atol=1e-12)


def test_large_sigma_target_differs_from_minimum_image_and_vanishes() -> None:
    """sigma comparable to the cell: the minimum image is wrong; sigma >> cell: score -> 0."""
    batch = _batch([CUBIC])
    d = torch.tensor([[1.2, 0.3, -0.4], [1.4, 1.4, 1.4], [0.1, 0.0, 0.0]], dtype=torch.float64)
    s = torch.tensor([1.5], dtype=torch.float64)
    exact = periodic_score(batch, d, s)
    mic = minimum_image_score(batch, d, s)
    assert float((exact - mic).abs().max() * 1.5) > 0.1
    huge = periodic_score(batch, d, torch.tensor([10.0], dtype=torch.float64))
    assert float(huge.abs().max()) < 1e-12


def test_minimum_image_in_a_skewed_cell_is_the_shortest_vector() -> None:
    batch = _batch([SKEWED])
    d = torch.tensor([[2.5, 1.3, 0.1], [-0.4, 2.2, 2.0], [4.0, 0.0, -1.0]], dtype=torch.float64)
    mic = minimum_image(batch, d).numpy()
    grid = np.array(list(itertools.product(range(-4, 5), repeat=3)), float) @ SKEWED
    for di, m in zip(d.numpy(), mic, strict=True):
        lengths = np.linalg.norm(di + grid, axis=1)
        assert np.linalg.norm(m) == pytest.approx(lengths.min(), abs=1e-12)
        # m is lattice-equivalent to d: (m - d) is an integer combination of the rows
        frac = (m - di) @ np.linalg.inv(SKEWED)
        np.testing.assert_allclose(frac, np.round(frac), atol=1e-9)


def test_perturb_wraps_and_its_target_is_minus_noise_over_sigma_at_small_sigma() -> None:
    batch = _batch([CUBIC, SKEWED], n_atoms=4)
    gen = torch.Generator().manual_seed(3)
    sigma = torch.tensor([0.01, 0.02], dtype=torch.float64)
    noisy = perturb(batch, sigma, generator=gen)
    frac = noisy.batch.frac_positions()
    assert bool(((frac >= 0) & (frac < 1)).all())
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    per_atom_sigma = sigma[batch.crystal_index, None]
    np.testing.assert_allclose((noisy.target * per_atom_sigma).numpy(), (-z).numpy(), atol=1e-9)
    # eqn (6) weighting: the zero score costs |z|^2 per atom, the exact target costs 0
    loss_zero = dsm_loss_per_crystal(torch.zeros_like(z), noisy)
    expected = (z**2).sum(1).reshape(2, 4).mean(1)
    np.testing.assert_allclose(loss_zero.numpy(), expected.numpy(), rtol=1e-9)
    assert float(dsm_loss_per_crystal(noisy.target, noisy).abs().max()) == 0.0


def test_log_uniform_sigmas_cover_the_range_evenly_in_log() -> None:
    sig = sample_log_uniform_sigmas(20000, 0.01, 10.0, generator=torch.Generator().manual_seed(0))
    assert float(sig.min()) >= 0.01 and float(sig.max()) <= 10.0
    counts = np.histogram(np.log10(sig.numpy()), bins=3, range=(-2, 1))[0]
    np.testing.assert_allclose(counts / 20000, 1 / 3, atol=0.02)
    with pytest.raises(ValueError, match="need 0 < sigma_min <= sigma_max"):
        sample_log_uniform_sigmas(3, 1.0, 0.1)


def test_periodic_score_rejects_bad_sigma() -> None:
    batch = _batch([CUBIC])
    d = torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"sigma must have shape \(1,\)"):
        periodic_score(batch, d, torch.tensor([0.1, 0.2], dtype=torch.float64))
    with pytest.raises(ValueError, match="sigma must be positive"):
        periodic_score(batch, d, torch.tensor([0.0], dtype=torch.float64))
