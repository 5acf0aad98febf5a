"""Noise schedule, RePaint visiting order and sampler settings."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from chggen_kernels.sampling import (
    DEFAULT_PRESET,
    SamplerSettings,
    SamplerStep,
    geometric_sigmas,
    level_sigmas,
    sampler_schedule,
)


def test_geometric_sigmas_run_from_max_to_min_with_constant_ratio() -> None:
    sigmas = geometric_sigmas(10.0, 0.01, 200)
    assert sigmas.shape == (200,)
    assert sigmas[0].item() == 10.0 and sigmas[-1].item() == 0.01
    ratios = sigmas[1:] / sigmas[:-1]
    expected = (0.01 / 10.0) ** (1 / 199)
    torch.testing.assert_close(ratios, torch.full_like(ratios, expected), rtol=1e-12, atol=0)


def test_level_sigmas_end_with_the_clean_level() -> None:
    levels = level_sigmas(10.0, 0.01, 5)
    assert len(levels) == 6 and levels[-1] == 0.0 and levels[-2] == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10.0, 0.01, 0), "n_levels must be a positive integer, got 0"),
        ((10.0, -1.0, 5), r"sigma_min must be a positive finite number \(Å\), got -1.0"),
        ((0.001, 0.01, 5), r"sigma_max must be finite and >= sigma_min = 0.01 \(Å\), got 0.001"),
    ],
)
def test_geometric_sigmas_reject_bad_arguments(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        geometric_sigmas(*args)


def test_plain_schedule_is_one_reverse_step_per_level() -> None:
    steps = sampler_schedule(7)
    assert steps == [SamplerStep(k, k + 1) for k in range(7)]


def test_jump_one_is_the_papers_algorithm_2() -> None:
    """r passes at every level t = T..2 (jump back one level in between), one at t = 1."""
    n_levels, passes = 5, 3
    expected = []
    for k in range(n_levels - 1):
        for n in range(passes):
            expected.append(SamplerStep(k, k + 1))
            if n < passes - 1:
                expected.append(SamplerStep(k + 1, k))
    expected.append(SamplerStep(n_levels - 1, n_levels))
    assert sampler_schedule(n_levels, passes, 1) == expected


@pytest.mark.parametrize(("n_levels", "passes", "jump"), [(200, 3, 10), (23, 2, 5), (9, 4, 3)])
def test_every_block_is_traversed_r_times_and_the_final_block_once(n_levels, passes, jump):
    steps = sampler_schedule(n_levels, passes, jump)
    visits = [0] * n_levels  # how often each reverse step k -> k + 1 is taken
    k = 0
    for step in steps:
        assert step.source == k, "moves must chain"
        if step.is_reverse:
            assert step.target == k + 1
            visits[k] += 1
        else:
            assert step.target == k - jump and k % jump == 0 and 0 < k < n_levels
        k = step.target
    assert k == n_levels
    last_jump_point = ((n_levels - 1) // jump) * jump
    assert visits[:last_jump_point] == [passes] * last_jump_point
    assert visits[last_jump_point:] == [1] * (n_levels - last_jump_point)


def test_defaults_are_the_default_preset_and_the_reference_is_an_override() -> None:
    s = SamplerSettings()
    assert (s.n_levels, s.n_corrector_steps, s.snr, s.corrector_sigma_max) == (60, 4, 0.4, 1.0)
    assert (s.inpaint_n_levels, s.inpaint_n_corrector_steps, s.start_sigma) == (100, 1, 1.0)
    assert (s.sigma_max, s.sigma_min, s.resample_passes, s.jump_length) == (10.0, 0.01, 3, 10)
    assert s.corrector_step_rule == "per_crystal" and s.record_every is None
    assert SamplerSettings.from_preset(DEFAULT_PRESET) == dataclasses.replace(
        s, preset=DEFAULT_PRESET)  # the default preset overrides nothing
    r = SamplerSettings.from_preset("reference")
    assert (r.n_levels, r.n_corrector_steps, r.corrector_sigma_max) == (200, 5, None)
    assert (r.inpaint_n_levels, r.inpaint_n_corrector_steps, r.start_sigma) == (None, None, None)
    assert (r.snr, r.resample_passes, r.jump_length) == (s.snr, s.resample_passes, s.jump_length)


def test_settings_round_trip_through_a_dict() -> None:
    s = SamplerSettings(n_levels=50, record_every=5, corrector_step_rule="per_crystal")
    d = s.to_dict()
    assert d["n_levels"] == 50 and d["corrector_step_rule"] == "per_crystal"
    assert SamplerSettings.from_dict(d) == s
    with pytest.raises(ValueError, match=r"SamplerSettings.n_steps = .*: unknown field \(known: "):
        SamplerSettings.from_dict({**d, "n_steps": 3})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_levels": 1}, r"SamplerSettings.n_levels must be an integer >= 2, got 1"),
        ({"n_corrector_steps": -1}, r"n_corrector_steps must be an integer >= 0, got -1"),
        ({"snr": 0.0}, r"SamplerSettings.snr must be a positive number, got 0.0"),
        ({"sigma_min": math.nan}, r"SamplerSettings.sigma_min must be a positive number, got nan"),
        ({"sigma_max": 0.005}, r"sigma_max \(0.005 Å\) must be larger than sigma_min \(0.01 Å\)"),
        ({"resample_passes": 0}, r"resample_passes must be an integer >= 1, got 0"),
        ({"jump_length": 2.5}, r"jump_length must be an integer >= 1, got 2.5"),
        ({"max_atoms_per_batch": 0}, r"max_atoms_per_batch must be an integer >= 1, got 0"),
        ({"record_every": True}, r"record_every must be an integer >= 1, got True"),
        ({"corrector_step_rule": "global"}, r"corrector_step_rule must be one of .* 'global'"),
    ],
)
def test_settings_reject_bad_values_naming_field_and_value(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        SamplerSettings(**changes)
