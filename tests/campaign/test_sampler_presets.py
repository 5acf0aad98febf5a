"""Sampler presets where a run's settings are resolved: ``--sampler NAME``, YAML
``sampler: {preset: NAME}``, the default preset, explicit fields over the preset."""

from __future__ import annotations

import argparse
import dataclasses
from types import SimpleNamespace

import pytest

from campaign.commands.generate import SAMPLER_OPTIONS, add_shared_arguments
from campaign.commands.options import given_values
from campaign.config.model import CampaignConfigError, validate_config
from campaign.stages.resources import resolve_sampler_settings
from chggen_kernels.sampling import DEFAULT_PRESET, SAMPLER_PRESETS, SamplerSettings

TRAINED = SimpleNamespace(sigma_min=0.02, sigma_max=8.0)  # a checkpoint's sigma range, Å


def test_default_preset_then_checkpoint_range_then_explicit_fields() -> None:
    default = resolve_sampler_settings({}, TRAINED)
    expected = SamplerSettings.from_preset(DEFAULT_PRESET, sigma_min=0.02, sigma_max=8.0)
    assert default == expected and default.to_dict()["preset"] == DEFAULT_PRESET
    reference = resolve_sampler_settings({"preset": "reference", "n_levels": 50}, TRAINED)
    assert (reference.n_levels, reference.n_corrector_steps, reference.method) == (50, 5, "pc")
    fast = resolve_sampler_settings({"preset": "fast", "n_corrector_steps": None}, None)
    assert fast == SamplerSettings.from_preset("fast")  # None: not given


def test_cli_sampler_option_names_a_preset() -> None:
    parser = argparse.ArgumentParser()
    add_shared_arguments(parser)
    args = parser.parse_args(["--sampler", "reference", "--n-levels", "30"])
    given = given_values(args, [*SAMPLER_OPTIONS, "preset"])
    assert given == {"preset": "reference", "n_levels": 30}
    assert resolve_sampler_settings(given, None).n_levels == 30
    with pytest.raises(SystemExit):
        parser.parse_args(["--sampler", "quick"])
    args = parser.parse_args(["--sampler-method", "ode", "--start-sigma", "1.5"])
    assert given_values(args, SAMPLER_OPTIONS) == {"method": "ode", "start_sigma": 1.5}


def test_yaml_sampler_section_takes_a_preset() -> None:
    base = {"compositions": {"chemical_systems": ["Li-Si"]}}
    assert set(SAMPLER_PRESETS) >= {"reference", "fast"}
    config = validate_config({**base, "sampler": {"preset": "reference"}})
    assert config.sampler == {"preset": "reference"}
    with pytest.raises(CampaignConfigError, match=r"SamplerSettings.preset must be one of"):
        validate_config({**base, "sampler": {"preset": "quick"}})


# What a results folder written before the defaults moved into the SamplerSettings fields
# recorded (its _fingerprint.json and every row's sampler_settings): the same effective
# settings must record the same values, or those folders refuse to resume.
RECORDED_DEFAULT = {
    "churn": 0.0, "corrector_sigma_max": 1.0, "corrector_step_rule": "per_crystal",
    "inpaint_n_corrector_steps": 1, "inpaint_n_levels": 100, "jump_length": 10,
    "max_atoms_per_batch": 4096, "method": "pc", "n_corrector_steps": 4, "n_levels": 60,
    "preset": "fast-pc", "record_every": None, "resample_passes": 3, "sigma_max": 8.0,
    "sigma_min": 0.02, "snr": 0.4, "start_sigma": 1.0}
RECORDED_REFERENCE = RECORDED_DEFAULT | {
    "corrector_sigma_max": None, "inpaint_n_corrector_steps": None, "inpaint_n_levels": None,
    "n_corrector_steps": 5, "n_levels": 200, "preset": "reference", "start_sigma": None}


def test_the_field_defaults_are_what_runs_and_record_what_they_recorded() -> None:
    default = resolve_sampler_settings({}, TRAINED)
    assert default.to_dict() == RECORDED_DEFAULT
    assert default == dataclasses.replace(SamplerSettings(), sigma_min=0.02, sigma_max=8.0,
                                          preset=DEFAULT_PRESET)  # the fields, unchanged
    assert SAMPLER_PRESETS[DEFAULT_PRESET] == {}
    reference = resolve_sampler_settings({"preset": "reference"}, TRAINED)
    assert reference.to_dict() == RECORDED_REFERENCE


def test_a_start_not_given_stays_inside_the_sigma_range() -> None:
    narrow = SimpleNamespace(sigma_min=0.01, sigma_max=0.5)  # trained below 1 Å
    assert resolve_sampler_settings({}, narrow).start_sigma == 0.5
    assert SamplerSettings.from_dict({"sigma_max": 0.5}).start_sigma == 0.5
    assert SamplerSettings.from_dict({"preset": "fast-inpainting", "sigma_min": 2.0,
                                      "sigma_max": 20.0}).start_sigma == 2.0
    assert resolve_sampler_settings({"preset": "reference"}, narrow).start_sigma is None
    with pytest.raises(ValueError, match=r"start_sigma must be a number in \[sigma_min, "
                       r"sigma_max\] = \[0.01, 0.5\] Å or None, got 2.0"):
        resolve_sampler_settings({"start_sigma": 2.0}, narrow)  # given: not moved


def test_sampler_option_help_is_read_from_the_preset_table() -> None:
    from campaign.cli import build_parser
    from chggen_kernels.sampling import describe_preset

    assert describe_preset("reference") == ("200 levels x 5 correctors, RePaint 3 passes x "
                                            "jump 10")
    assert describe_preset(DEFAULT_PRESET) == (
        "60 levels x 4 correctors at or below 1 Å; inpainting 100 x 1 from 1 Å, RePaint 3 "
        "passes x jump 10")
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in (["generate"], ["inpaint"], ["scan"], ["benchmark", "csp"],
                    ["benchmark", "hosts"]):
        p = sub.choices[command[0]]
        if len(command) > 1:
            p = next(a for a in p._actions
                     if isinstance(a, argparse._SubParsersAction)).choices[command[1]]
        text = next(a for a in p._actions if "--sampler" in a.option_strings).help
        assert f"default {DEFAULT_PRESET}: {describe_preset(DEFAULT_PRESET)}" in text, command
        assert f"reference: the CHGGen {describe_preset('reference')}" in text, command


def test_cost_estimate_reads_the_resolved_repaint_passes() -> None:
    from campaign.config.plan import score_evaluations

    sampler = resolve_sampler_settings({"preset": "reference"}, None).to_dict()
    assert score_evaluations(sampler, inpainting=True) == 3 * (200 + 5 * 200)
    with pytest.raises(KeyError, match="resample_passes"):  # no silent fallback of 1
        score_evaluations({k: v for k, v in sampler.items() if k != "resample_passes"},
                          inpainting=True)
