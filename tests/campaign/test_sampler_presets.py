"""Sampler presets where a run's settings are resolved: ``--sampler NAME``, YAML
``sampler: {preset: NAME}``, the default preset, explicit fields over the preset."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

from campaign.commands.generate import SAMPLER_OPTIONS, add_shared_arguments
from campaign.config import CampaignConfigError, validate_config
from campaign.options import given_values
from campaign.resources import resolve_sampler_settings
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
