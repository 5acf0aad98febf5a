"""Behaviour of the batched sampler: reproducibility, batching, guards, records."""

from __future__ import annotations

import pytest
import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.sampling import (
    SamplerSettings,
    level_sigmas,
    periodic_gaussian_mixture_score,
    sample,
    sampler_schedule,
)

SITES = torch.tensor([[0.25, 0.25, 0.25], [0.75, 0.75, 0.75]], dtype=torch.float64)
SCORE = periodic_gaussian_mixture_score(SITES, torch.tensor([0.7, 0.3]), width=0.1)
FAST = SamplerSettings.from_preset(
    "reference", n_levels=12, n_corrector_steps=2, resample_passes=2, jump_length=3)


pytestmark = pytest.mark.usefixtures("one_thread")


def _crystals(sizes: list[int], mask: bool = False, seed: int = 0) -> CrystalBatch:
    """Crystals of different sizes, lattices and species (Å), host atoms at random sites."""
    g = torch.Generator().manual_seed(seed)
    arrays, masks = [], []
    for i, n in enumerate(sizes):
        lattice = torch.diag(torch.tensor([3.0 + 0.5 * i, 3.5, 4.0], dtype=torch.float64))
        if i % 2:
            lattice[1, 0] = 0.8  # a skewed cell as well
        frac = torch.rand((n, 3), generator=g, dtype=torch.float64)
        numbers = torch.randint(1, 30, (n,), generator=g)
        arrays.append(((frac @ lattice).numpy(), lattice.numpy(), numbers.numpy()))
        masks.append((torch.arange(n) % 2 == 0).numpy())
    return CrystalBatch.from_arrays(arrays, masks=masks if mask else None)


@pytest.mark.parametrize("mask", [False, True])
def test_a_crystal_does_not_depend_on_its_batch_or_the_budget_split(mask: bool) -> None:
    batch = _crystals([3, 5, 2, 4], mask=mask)
    seeds = [11, 12, 13, 14]
    together = sample(SCORE, batch, FAST, seeds)
    split = sample(
        SCORE, batch, SamplerSettings(**{**FAST.to_dict(), "max_atoms_per_batch": 6}), seeds
    )
    alone = sample(SCORE, batch[2], FAST, [13])
    # the noise is identical; the analytic score truncates its image sums per call, which
    # differs from batch to batch at the 1e-13 level, hence not bit-for-bit equality
    torch.testing.assert_close(split.batch.positions, together.batch.positions, rtol=0, atol=1e-8)
    a, b = batch.offsets[2].item(), batch.offsets[3].item()
    torch.testing.assert_close(
        alone.batch.positions, together.batch.positions[a:b], rtol=0, atol=1e-8
    )
    # a different seed gives a different crystal
    other = sample(SCORE, batch[2], FAST, [99])
    assert (other.batch.positions - alone.batch.positions).abs().max() > 1e-3


def test_lattice_species_and_mask_are_kept_and_positions_wrapped() -> None:
    batch = _crystals([3, 5, 2], mask=True)
    result = sample(SCORE, batch, FAST, seeds=7)
    out = result.batch
    assert torch.equal(out.lattices, batch.lattices)
    assert torch.equal(out.atomic_numbers, batch.atomic_numbers)
    assert torch.equal(out.mask, batch.mask) and torch.equal(out.crystal_index, batch.crystal_index)
    frac = out.frac_positions()
    assert bool(((frac >= -1e-12) & (frac < 1 + 1e-12)).all())
    assert result.seeds == (7, 8, 9) and not bool(result.failed.any())


def test_unconditional_run_calls_the_score_once_per_update_on_the_whole_batch() -> None:
    calls: list[int] = []

    def counting(batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        assert sigma.shape == (batch.n_crystals,)
        calls.append(batch.n_crystals)
        return SCORE(batch, sigma)

    settings = SamplerSettings.from_preset("reference", n_levels=10, n_corrector_steps=3)
    result = sample(counting, _crystals([2, 3, 4]), settings, seeds=0)
    # T predictor steps and M corrector steps at every level but the clean one
    assert len(calls) == result.n_score_calls == 10 + 9 * 3
    assert set(calls) == {3}
    assert result.inpainting is False


def test_host_atoms_end_at_their_given_positions() -> None:
    batch = _crystals([4, 6, 3], mask=True)
    result = sample(SCORE, batch, FAST, seeds=[1, 2, 3])
    host = ~batch.mask
    wrapped = batch.wrap().positions
    deviation = (result.batch.positions[host] - wrapped[host]).norm(dim=1)
    assert float(deviation.max()) < 3 * FAST.sigma_min
    guests = result.batch.positions[batch.mask] - wrapped[batch.mask]
    assert float(guests.norm(dim=1).min()) > 1e-3  # guests were generated, not copied
    assert result.inpainting is True


def test_a_crystal_going_non_finite_is_frozen_and_the_others_go_on() -> None:
    threshold = 1.0
    poison = 99  # crystals containing this element get a NaN score below the threshold

    def poisoned(batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        score = SCORE(batch, sigma)
        bad = (batch.atomic_numbers == poison) & (sigma[batch.crystal_index] < threshold)
        return torch.where(bad.unsqueeze(1), torch.full_like(score, torch.nan), score)

    batch = _crystals([3, 4, 5])
    numbers = batch.atomic_numbers.clone()
    numbers[3] = poison  # first atom of crystal 1
    batch = batch.replace(atomic_numbers=numbers)
    settings = SamplerSettings.from_preset("reference", n_levels=20, n_corrector_steps=0)
    result = sample(poisoned, batch, settings, seeds=[5, 6, 7])
    sigmas = level_sigmas(settings.sigma_max, settings.sigma_min, settings.n_levels)
    first_bad_level = next(k for k, s in enumerate(sigmas) if s < threshold)
    assert result.failed.tolist() == [False, True, False]
    assert result.failed_level.tolist() == [-1, first_bad_level, -1]
    assert bool(torch.isfinite(result.batch.positions).all())  # frozen at last finite state
    assert result.structures()[1] is None
    assert result.records()[1]["failed_level"] == first_bad_level
    # the survivors are exactly what they would have been without the failing crystal
    survivors = sample(poisoned, batch[[0, 2]], settings, seeds=[5, 7])
    keep = batch.crystal_index != 1
    torch.testing.assert_close(
        result.batch.positions[keep], survivors.batch.positions, rtol=0, atol=1e-12
    )


def test_trajectories_are_recorded_every_k_levels() -> None:
    settings = SamplerSettings.from_preset(
        "reference", n_levels=12, n_corrector_steps=1, record_every=4)
    batch = _crystals([2, 3])
    result = sample(SCORE, batch, settings, seeds=0)
    assert result.trajectories is not None and len(result.trajectories) == 2
    traj = result.trajectories[1]
    assert traj.levels.tolist() == [0, 4, 8, 12]
    assert traj.sigmas[0].item() == 10.0 and traj.sigmas[-1].item() == 0.0
    assert traj.positions.shape == (4, 3, 3)
    torch.testing.assert_close(traj.positions[-1], result.batch.positions[2:5])
    assert sample(SCORE, batch, FAST, seeds=0).trajectories is None


def test_every_sample_records_its_settings_and_seed() -> None:
    result = sample(SCORE, _crystals([2, 3]), FAST, seeds=[4, 9])
    assert result.settings == FAST.to_dict()
    records = result.records()
    assert [r["seed"] for r in records] == [4, 9]
    assert records[0]["sampler_settings"] == FAST.to_dict() and records[0]["failed"] is False
    structures = result.structures()
    assert len(structures) == 2 and len(structures[1]) == 3


def test_bad_requests_raise_clear_errors() -> None:
    batch = _crystals([2, 5])
    with pytest.raises(ValueError, match="got 1 seeds for 2 crystals; need one per crystal"):
        sample(SCORE, batch, FAST, seeds=[1])
    with pytest.raises(ValueError, match=r"seed of crystal 1 must be an integer .*got -3"):
        sample(SCORE, batch, FAST, seeds=[1, -3])
    small = SamplerSettings(**{**FAST.to_dict(), "max_atoms_per_batch": 4})
    too_big = "crystal 1 has 5 atoms, more than max_atoms_per_batch = 4"
    with pytest.raises(ValueError, match=too_big):
        sample(SCORE, batch, small, seeds=0)

    def wrong_shape(b: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        return torch.zeros(b.n_atoms, dtype=b.dtype)

    with pytest.raises(ValueError, match=r"score_fn returned \(7,\); expected .* \(7, 3\)"):
        sample(wrong_shape, batch, FAST, seeds=0)


def test_inpainting_follows_the_repaint_schedule() -> None:
    """Every reverse step calls the score 1 + M times (once at the clean step); jumps none."""
    batch = _crystals([3, 4], mask=True)
    result = sample(SCORE, batch, FAST, seeds=0)
    steps = sampler_schedule(FAST.n_levels, FAST.resample_passes, FAST.jump_length)
    reverse = sum(step.is_reverse for step in steps)
    assert reverse > FAST.n_levels  # resampling happened
    assert result.n_score_calls == reverse * (1 + FAST.n_corrector_steps) - FAST.n_corrector_steps


@pytest.mark.parametrize("rule", ["per_atom", "per_crystal"])
def test_a_zero_score_gives_capped_finite_corrector_steps(rule: str) -> None:
    """|score| = 0 would make the SNR step infinite; the cap keeps every crystal finite."""

    def zero(batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(batch.positions)

    settings = SamplerSettings.from_preset(
        "reference", n_levels=6, n_corrector_steps=2, corrector_step_rule=rule)
    result = sample(zero, _crystals([2, 3]), settings, seeds=0)
    assert not bool(result.failed.any())
    assert bool(torch.isfinite(result.batch.positions).all())
