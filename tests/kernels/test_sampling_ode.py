"""The probability-flow ODE sampler (Heun), the partial-noise start and the presets, on
exact analytic scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.sampling import (
    DEFAULT_PRESET,
    SAMPLER_PRESETS,
    SamplerSettings,
    heun_update,
    init_state,
    level_sigmas,
    periodic_gaussian_mixture_score,
    sample,
    sampler_schedule,
    start_position,
)
from chggen_kernels.wyckoff import OrbitConstraint

from .test_sampling_statistics import A_GUEST, B_GUEST, CUBIC, A, B, _batch, _nearest_site
from .test_symmetric_sampling import _orbit_error, _problem

ODE = SamplerSettings.from_preset(
    "reference", method="ode", n_levels=25, n_corrector_steps=0, resample_passes=1)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_heun_step_follows_the_exact_flow_of_a_gaussian() -> None:
    """One Gaussian site of width w in a 20 Å cell: the ODE flow from s_f to s_t scales the
    displacement by sqrt(w^2 + s_t^2) / sqrt(w^2 + s_f^2). Heun's local error is third
    order in the step (halving the step divides it by about 8) and far below Euler's."""
    width, s_f = 0.3, 0.8
    lattice = torch.eye(3, dtype=torch.float64) * 20.0
    score = periodic_gaussian_mixture_score(torch.tensor([[0.5, 0.5, 0.5]]), torch.ones(1), width)
    offset = torch.tensor([[0.6, -0.3, 0.2]], dtype=torch.float64)
    batch = CrystalBatch(positions=torch.full((1, 3), 10.0, dtype=torch.float64) + offset,
                         lattices=lattice[None], atomic_numbers=torch.ones(1, dtype=torch.long),
                         crystal_index=torch.zeros(1, dtype=torch.long))
    state = init_state(batch, [0], s_f, [0]).with_positions(batch.positions)
    errors = []
    for s_t in (0.5, 0.65):
        new, calls = heun_update(state, score, s_f, s_t)
        exact = offset * math.sqrt(width**2 + s_t**2) / math.sqrt(width**2 + s_f**2)
        errors.append(float((new - 10.0 - exact).norm()))
        assert calls == 2
    euler = offset + (s_f**2 - 0.5 * s_f) * score(batch, torch.tensor([s_f], dtype=torch.float64))
    exact = offset * math.sqrt(width**2 + 0.5**2) / math.sqrt(width**2 + s_f**2)
    assert errors[0] < 0.6 * float((euler - exact).norm())  # measured 0.45
    assert 6.0 < errors[0] / errors[1] < 16.0  # third order: 8 (measured 11.7)
    _, calls = heun_update(state, score, s_f, 0.0)  # last step: Euler, one evaluation
    assert calls == 1


def test_ode_samples_occupy_the_sites_with_the_mixture_weights() -> None:
    """800 atoms, weights 0.7 / 0.3, 25 levels (49 evaluations): the binomial sd is 0.016
    (tolerance 3.5 sd); the spread around a site matches its width (measured ratio 1.06),
    and the run is deterministic given the seed."""
    score = periodic_gaussian_mixture_score(torch.tensor([A, B]), torch.tensor([0.7, 0.3]), 0.1)
    result = sample(score, _batch(200, 4), ODE, seeds=0)
    assert result.n_score_calls == 2 * ODE.n_levels - 1
    nearest, displacement = _nearest_site(result.batch, [A, B])
    assert abs(float((nearest == 0).double().mean()) - 0.7) < 0.056
    assert 0.8 < float((displacement**2).mean()) / 0.1**2 < 1.3
    again = sample(score, _batch(200, 4), ODE, seeds=0)
    torch.testing.assert_close(again.batch.positions, result.batch.positions, rtol=0, atol=0)


def test_ode_inpainting_with_a_partial_start_follows_the_host() -> None:
    """Host fixed at A: every guest lands at A' with the full and the partial start; the
    partial start at 1.5 Å skips the levels above it (fewer evaluations) and hosts end
    exactly at their given positions."""
    sites = torch.tensor([[A, A_GUEST], [B, B_GUEST]], dtype=torch.float64)
    score = periodic_gaussian_mixture_score(sites, torch.tensor([0.5, 0.5]), width=0.1)
    given = (torch.tensor([A, [0.5, 0.5, 0.5]], dtype=torch.float64) @ CUBIC).repeat(50, 1)
    batch = _batch(50, 2, torch.tensor([False, True]), given)
    sigmas = level_sigmas(ODE.sigma_max, ODE.sigma_min, ODE.n_levels)
    calls = []
    for start_sigma in (None, 1.5):
        settings = SamplerSettings(**{**ODE.to_dict(), "resample_passes": 3, "jump_length": 5,
                                      "start_sigma": start_sigma})
        result = sample(score, batch, settings, seeds=0)
        nearest, _ = _nearest_site(result.batch, [A, B, A_GUEST, B_GUEST])
        assert bool((nearest[1::2] == 2).all())
        torch.testing.assert_close(result.batch.positions[0::2], given[0::2], rtol=0, atol=1e-9)
        start = start_position(sigmas, start_sigma)
        steps = sampler_schedule(ODE.n_levels, 3, 5, start)
        reverse = [s for s in steps if s.is_reverse]
        assert result.n_score_calls == 2 * len(reverse) - 1
        calls.append(result.n_score_calls)
    assert sigmas[start] <= 1.5 < sigmas[start - 1] and calls[1] < calls[0]
    # the unconditional sampler ignores start_sigma (inpainting only)
    plain = sample(score, _batch(4, 2), SamplerSettings(**{**ODE.to_dict(), "start_sigma": 1.0}))
    assert plain.n_score_calls == 2 * ODE.n_levels - 1


def test_partial_start_schedule_never_jumps_above_its_first_level() -> None:
    steps = sampler_schedule(20, resample_passes=2, jump_length=4, start=6)
    assert steps[0].source == 6 and steps[-1].target == 20
    assert min(min(s.source, s.target) for s in steps) == 6
    assert [s.source for s in steps if not s.is_reverse] == [10, 14, 18]
    assert sampler_schedule(20, 2, 4) == sampler_schedule(20, 2, 4, start=0)
    with pytest.raises(ValueError, match=r"start must be an integer in \[0, n_levels\)"):
        sampler_schedule(20, 2, 4, start=20)


def test_ode_keeps_the_orbits_exact() -> None:
    _, orbits, score, crystal, guest = _problem("Na:4b,32f,24e", 60)
    batch = CrystalBatch.from_arrays([crystal] * 2, masks=[guest] * 2, dtype=torch.float64)
    settings = SamplerSettings.from_preset(
        "reference", method="ode", n_levels=15, n_corrector_steps=0, sigma_max=5.0,
        resample_passes=2, jump_length=4, start_sigma=2.0, churn=0.2)
    out = sample(score, batch, settings, seeds=[1, 2], constraint=OrbitConstraint([orbits] * 2))
    for structure in out.structures():
        assert _orbit_error(structure.frac_coords, orbits) < 1e-10
        assert np.isfinite(structure.frac_coords).all()


def test_ode_failure_guard_drops_only_the_failing_crystal() -> None:
    score = periodic_gaussian_mixture_score(torch.tensor([A, B]), torch.ones(2), 0.1)

    def poisoned(batch: CrystalBatch, sigma: torch.Tensor) -> torch.Tensor:
        out = score(batch, sigma)
        bad = (batch.atomic_numbers == 99) & (sigma[batch.crystal_index] < 1.0)
        return torch.where(bad.unsqueeze(1), torch.full_like(out, torch.nan), out)

    batch = _batch(3, 2)
    numbers = batch.atomic_numbers.clone()
    numbers[2] = 99  # first atom of crystal 1
    result = sample(poisoned, batch.replace(atomic_numbers=numbers), ODE, seeds=[4, 5, 6])
    sigmas = level_sigmas(ODE.sigma_max, ODE.sigma_min, ODE.n_levels)
    first_bad = next(k for k, s in enumerate(sigmas) if s < 1.0)
    assert result.failed.tolist() == [False, True, False]
    assert result.failed_level.tolist() == [-1, first_bad - 1, -1]  # its second evaluation
    assert bool(torch.isfinite(result.batch.positions).all())


def test_presets_and_their_overrides() -> None:
    reference = SamplerSettings.from_preset("reference")
    assert dict(reference.to_dict(), preset=None) == {**SamplerSettings().to_dict(),
                                                      **SAMPLER_PRESETS["reference"]}
    assert reference.preset == "reference" and SAMPLER_PRESETS[DEFAULT_PRESET] == {}
    fast = SamplerSettings.from_preset("fast", n_levels=30)
    assert fast.n_levels == 30 and fast.preset == "fast"
    assert all(getattr(fast, k) == v for k, v in SAMPLER_PRESETS["fast"].items() if k != "n_levels")
    assert SamplerSettings.from_dict(fast.to_dict()) == fast  # rows round-trip
    with pytest.raises(ValueError, match=r"SamplerSettings.preset must be one of .* 'quick'"):
        SamplerSettings.from_preset("quick")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "euler"}, r"SamplerSettings.method must be one of .*'ode'.*, got 'euler'"),
        ({"start_sigma": 20.0}, r"start_sigma must be a number in \[sigma_min, sigma_max\] = "
                                r"\[0.01, 10.0\] Å or None, got 20.0"),
        ({"start_sigma": "1"}, r"start_sigma must be a number .* got '1'"),
        ({"method": "ode", "churn": 1.5}, r"SamplerSettings.churn must be a number in \[0, 1\], "
                                          r"got 1.5"),
        ({"churn": 0.1}, r"churn applies to method 'ode' only, got churn=0.1 with method 'pc'"),
        ({"corrector_sigma_max": 0.0}, r"SamplerSettings.corrector_sigma_max must be a positive "
                                       r"number \(Å\) or None, got 0.0"),
        ({"corrector_sigma_max": 0.005}, r"corrector_sigma_max \(0.005 Å\) is below sigma_min "
                                         r"\(0.01 Å\): no level would get a corrector step"),
    ],
)
def test_new_settings_reject_bad_values_naming_field_and_value(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        SamplerSettings(**changes)


def test_inpainting_levels_replace_the_levels_of_masked_batches_only() -> None:
    settings = SamplerSettings.from_preset(DEFAULT_PRESET)
    assert DEFAULT_PRESET == "fast-pc"
    plain, masked = settings.for_batch(False), settings.for_batch(True)
    assert (plain.n_levels, plain.n_corrector_steps, plain.corrector_sigma_max) == (60, 4, 1.0)
    reference = SamplerSettings.from_preset("fast-inpainting").for_batch(False)
    assert (reference.n_levels, reference.n_corrector_steps) == (200, 5)  # the reference
    assert (masked.n_levels, masked.n_corrector_steps, masked.start_sigma) == (100, 1, 1.0)
    whole = SamplerSettings.from_preset("reference")  # inpainting: the same levels
    assert whole.for_batch(True) == whole
    score = periodic_gaussian_mixture_score(torch.tensor([A, B]), torch.tensor([0.5, 0.5]), 0.3)
    small = SamplerSettings.from_preset(
        "reference", n_levels=12, n_corrector_steps=2, inpaint_n_levels=6,
        inpaint_n_corrector_steps=0, sigma_max=2.0)
    same = SamplerSettings.from_preset("reference", n_levels=6, n_corrector_steps=0, sigma_max=2.0)
    plain_small = SamplerSettings.from_preset(
        "reference", n_levels=12, n_corrector_steps=2, sigma_max=2.0)
    masked_batch = _batch(2, 3, mask=torch.tensor([True, False, False]))
    assert sample(score, _batch(2, 3), small).n_score_calls == sample(
        score, _batch(2, 3), plain_small).n_score_calls  # unconditional: n_levels as set
    result = sample(score, masked_batch, small, seeds=3)
    twin = sample(score, masked_batch, same, seeds=3)
    assert result.n_score_calls == twin.n_score_calls
    torch.testing.assert_close(result.batch.positions, twin.batch.positions)
    assert result.settings == small.to_dict()  # rows record what was asked for
    with pytest.raises(ValueError, match=r"inpaint_n_levels"):
        SamplerSettings(inpaint_n_levels=1)
