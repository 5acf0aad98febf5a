"""The samplers reproduce known distributions: periodic Gaussian mixtures with exact scores."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.sampling import SamplerSettings, periodic_gaussian_mixture_score, sample

CUBIC = torch.eye(3, dtype=torch.float64) * 4.0  # Å
A, B = [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]  # fractional sites
A_GUEST, B_GUEST = [0.75, 0.25, 0.25], [0.25, 0.75, 0.75]


pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(n_crystals: int, n_atoms: int, mask: torch.Tensor | None = None, positions=None):
    n = n_crystals * n_atoms
    return CrystalBatch(
        positions=torch.zeros(n, 3, dtype=torch.float64) if positions is None else positions,
        lattices=CUBIC.expand(n_crystals, 3, 3).clone(),
        atomic_numbers=torch.full((n,), 3, dtype=torch.long),
        crystal_index=torch.arange(n_crystals).repeat_interleave(n_atoms),
        mask=None if mask is None else mask.repeat(n_crystals),
    )


def _nearest_site(batch: CrystalBatch, sites: list[list[float]]):
    """Index of the nearest site (periodic) and the displacement from it (Å) per atom."""
    d = batch.frac_positions()[:, None, :] - torch.tensor(sites, dtype=torch.float64)
    d = (d - torch.round(d)) @ CUBIC
    nearest = d.norm(dim=2).argmin(dim=1)
    return nearest, d[torch.arange(len(nearest)), nearest]


def _brute_force_log_density(x, lattice, sites, weights, s, reach=6):
    """Per-atom log density of the periodic mixture by a large explicit image sum."""
    images = torch.tensor(list(itertools.product(range(-reach, reach + 1), repeat=3)))
    shifts = images.double() @ lattice
    total = 0.0
    for site, w in zip(sites, weights, strict=True):
        d = x[:, None, :] - site @ lattice - shifts
        gauss = torch.exp(-(d * d).sum(-1) / (2 * s * s)).sum(1)
        total = total + w * gauss / (2 * math.pi * s * s) ** 1.5
    return torch.log(total)


@pytest.mark.parametrize(
    "lattice",
    [
        torch.tensor([[4.0, 0, 0], [1.0, 3.5, 0], [0.5, 0.7, 3.0]], dtype=torch.float64),
        torch.diag(torch.tensor([4.0, 3.0, 5.0], dtype=torch.float64)),
    ],
    ids=["skewed", "orthogonal"],
)
@pytest.mark.parametrize("sigma", [0.01, 0.7, 2.0, 6.0])
def test_mixture_score_is_the_gradient_of_the_periodic_log_density(lattice, sigma) -> None:
    """Covers all three evaluation paths (images, Fourier series, separable orthogonal)."""
    g = torch.Generator().manual_seed(3)
    positions = torch.rand((5, 3), generator=g, dtype=torch.float64) @ lattice
    batch = CrystalBatch(
        positions=positions,
        lattices=lattice[None],
        atomic_numbers=torch.ones(5, dtype=torch.long),
        crystal_index=torch.zeros(5, dtype=torch.long),
    )
    sites = torch.tensor([[0.1, 0.2, 0.3], [0.6, 0.5, 0.9]], dtype=torch.float64)
    weights = torch.tensor([0.7, 0.3], dtype=torch.float64)
    score = periodic_gaussian_mixture_score(sites, weights, width=0.3)
    x = positions.clone().requires_grad_(True)
    s = math.sqrt(0.3**2 + sigma**2)
    log_p = _brute_force_log_density(x, lattice, sites, weights, s, reach=3 + int(3 * s))
    (expected,) = torch.autograd.grad(log_p.sum(), x)
    got = score(batch, torch.tensor([sigma], dtype=torch.float64))
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_joint_mixture_score_couples_the_atoms_of_a_crystal() -> None:
    """Host near A: the guest's score points to A' (not to B'), as the joint density says."""
    sites = torch.tensor([[A, A_GUEST], [B, B_GUEST]], dtype=torch.float64)
    score = periodic_gaussian_mixture_score(sites, torch.tensor([0.5, 0.5]), width=0.2)
    frac = torch.tensor([A, [0.5, 0.25, 0.25]], dtype=torch.float64)  # guest between A', B'
    batch = _batch(1, 2, positions=frac @ CUBIC)
    guest_score = score(batch, torch.tensor([0.3], dtype=torch.float64))[1]
    towards_a_guest = (torch.tensor(A_GUEST, dtype=torch.float64) - frac[1]) @ CUBIC
    assert float(guest_score @ towards_a_guest) > 0
    with pytest.raises(ValueError, match="crystal 0 has 3 atoms; this joint mixture describes"):
        score(_batch(1, 3), torch.tensor([0.3], dtype=torch.float64))


def test_unconditional_samples_occupy_sites_with_the_mixture_weights() -> None:
    """800 independent atoms, weights 0.7 / 0.3.

    Tolerance: the binomial standard deviation of the observed fraction is
    sqrt(0.7 * 0.3 / 800) = 0.016; the Langevin corrector at the reference snr 0.4 has a
    discretisation bias of about -0.02 to -0.03 towards 0.5 (measured with 1600 atoms
    and 100-200 levels). A tolerance of 0.07 is 0.03 of bias plus 2.5 standard
    deviations; sampling ignoring the weights would give 0.5.
    """
    width = 0.1
    score = periodic_gaussian_mixture_score(torch.tensor([A, B]), torch.tensor([0.7, 0.3]), width)
    settings = SamplerSettings.from_preset(
        "reference", n_levels=50, n_corrector_steps=1, corrector_step_rule="per_crystal")
    result = sample(score, _batch(200, 4), settings, seeds=0)
    nearest, displacement = _nearest_site(result.batch, [A, B])
    assert abs(float((nearest == 0).double().mean()) - 0.7) < 0.07
    # every atom sits on a site, with a spread of the order of the site width
    assert float(displacement.norm(dim=1).max()) < 6 * width
    variance_ratio = float((displacement**2).mean()) / width**2
    assert 0.6 < variance_ratio < 1.6  # measured 1.33: Langevin at snr 0.4 broadens a little


def test_predictor_alone_reproduces_the_site_weights() -> None:
    """Algorithm 1 without corrector (ancestral sampling), 800 atoms: within 3.5 sd (0.056)."""
    score = periodic_gaussian_mixture_score(torch.tensor([A, B]), torch.tensor([0.3, 0.7]), 0.1)
    settings = SamplerSettings.from_preset("reference", n_levels=100, n_corrector_steps=0)
    result = sample(score, _batch(200, 4), settings, seeds=500)
    nearest, displacement = _nearest_site(result.batch, [A, B])
    assert abs(float((nearest == 1).double().mean()) - 0.7) < 0.056
    assert 0.75 < float((displacement**2).mean()) / 0.1**2 < 1.1  # measured 0.92


def test_inpainted_guests_follow_the_conditional_distribution_given_the_host() -> None:
    """Joint mixture: (host A, guest A') or (host B, guest B'), each with probability 1/2.

    With the host fixed at A every guest must land at A' (the conditional law). Without a
    mask, the same score generates both atoms: the guest is then at A' only about half of
    the time (its marginal), always consistent with where the host went.
    """
    sites = torch.tensor([[A, A_GUEST], [B, B_GUEST]], dtype=torch.float64)
    score = periodic_gaussian_mixture_score(sites, torch.tensor([0.5, 0.5]), width=0.1)
    n_crystals = 100
    given = (torch.tensor([A, [0.5, 0.5, 0.5]], dtype=torch.float64) @ CUBIC).repeat(n_crystals, 1)
    mask = torch.tensor([False, True])
    settings = SamplerSettings.from_preset(
        "reference", n_levels=30, n_corrector_steps=1, resample_passes=3, jump_length=5)
    conditional = sample(score, _batch(n_crystals, 2, mask, given), settings, seeds=0)
    nearest, _ = _nearest_site(conditional.batch, [A, B, A_GUEST, B_GUEST])
    guest = nearest[1::2]
    assert float((guest == 2).double().mean()) > 0.95
    host_shift = (conditional.batch.positions[0::2] - given[0::2]).norm(dim=1)
    assert float(host_shift.max()) < 3 * settings.sigma_min

    joint = sample(score, _batch(n_crystals, 2, None, given), settings, seeds=0)
    nearest, _ = _nearest_site(joint.batch, [A, B, A_GUEST, B_GUEST])
    host_at_a, guest_at_a = nearest[0::2] == 0, nearest[1::2] == 2
    assert abs(float(guest_at_a.double().mean()) - 0.5) < 0.18  # 3.6 sd of 100 draws
    assert bool((host_at_a == guest_at_a).all())
