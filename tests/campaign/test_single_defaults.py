"""Each default is defined once, where the thing it configures lives (issue 31): the
command-line options and their "(default X)" help read the settings objects, the campaign
file's sections and ``chggen train``'s ``data:`` section reject an unknown key with the
one message of :func:`chggen_kernels.settings.reject_unknown`, the hull source and the
checkpoint are resolved by one function each."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from campaign.cli import build_parser, main
from campaign.commands.options import default_of, shown
from campaign.config.model import (
    CampaignConfig,
    CampaignConfigError,
    LatticeConfig,
    ModelConfig,
    ResourcesConfig,
    validate_config,
)

BASE = {"compositions": {"chemical_systems": ["Li-Si"]}}


def _parser(*names: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _action(parser: argparse.ArgumentParser, option: str) -> argparse.Action:
    return next(a for a in parser._actions if option in a.option_strings)


def _assert_reads(parser: argparse.ArgumentParser, option: str, value: object) -> None:
    """``option`` defaults to ``value`` and its help says so."""
    action = _action(parser, option)
    assert action.default == value, (option, action.default, value)
    assert re.search(rf"default {re.escape(shown(value))}\b", action.help or ""), (
        option, action.help)


def _benchmark_cases() -> list[tuple[tuple[str, ...], str, object]]:
    from campaign.jobs.benchmark.csp import CspSettings
    from campaign.jobs.benchmark.driver import RunSpec
    from campaign.jobs.benchmark.hosts import HostSettings

    csp, hosts = ("benchmark", "csp"), ("benchmark", "hosts")
    return [
        (csp, "--k", CspSettings.k), (csp, "--guest", CspSettings.guest),
        (csp, "--min-distance", CspSettings.random_min_distance), (csp, "--z", CspSettings.z),
        (csp, "--cell", CspSettings.cell), (csp, "--seed", CspSettings.seed),
        (csp, "--max-atoms", RunSpec.max_atoms), (csp, "--energy-tol", RunSpec.energy_tol),
        (csp, "--workers", RunSpec.workers), (hosts, "--n-samples", HostSettings.n_samples),
        (hosts, "--min-distance", HostSettings.min_distance), (hosts, "--cell", HostSettings.cell),
        (hosts, "--seed", HostSettings.seed),
    ]


def _data_cases() -> list[tuple[tuple[str, ...], str, object]]:
    from campaign.jobs.data.options import BuildOptions

    options = {"--random-per-system": "random_per_system", "--max-atoms": "max_atoms",
               "--ehull-max": "ehull_max", "--mp-ehull-max": "mp_ehull_max",
               "--val-fraction": "val_fraction", "--test-fraction": "test_fraction",
               "--min-distance": "min_distance", "--workers": "workers", "--seed": "seed",
               "--fmax": "fmax", "--max-steps": "max_steps"}
    return [(("data", "build"), option, default_of(BuildOptions, field))
            for option, field in options.items()]


def _campaign_cases() -> list[tuple[tuple[str, ...], str, object]]:
    from campaign.commands.scan import DEFAULT_BUDGET, DEFAULT_GENERATION
    from chggen_kernels.hosts import OCCUPANCY_TOLERANCE

    samples, seed = default_of(CampaignConfig, "samples_per_task"), default_of(CampaignConfig,
                                                                                "seed")
    return [
        (("generate",), "--n-samples", samples), (("generate",), "--seed", seed),
        (("inpaint",), "--n-samples", samples), (("inpaint",), "--seed", seed),
        (("inpaint",), "--occupancy-tolerance", OCCUPANCY_TOLERANCE),
        (("generate",), "--lattice-family", default_of(LatticeConfig, "families")[0]),
        (("generate",), "--formula-units", None), (("scan",), "--budget", DEFAULT_BUDGET),
        (("scan",), "--seed", seed), (("scan",), "--mode", DEFAULT_GENERATION),
    ]


@pytest.mark.parametrize(("command", "option", "value"),
                         _benchmark_cases() + _data_cases() + _campaign_cases())
def test_every_option_reads_its_settings_default(command, option, value) -> None:
    parser = _parser(*command)
    if option == "--formula-units":  # not given: DEFAULT_FORMULA_UNITS, shown in its help
        from campaign.commands.generate import DEFAULT_FORMULA_UNITS

        assert _action(parser, option).default is None
        assert f"(default {DEFAULT_FORMULA_UNITS})" in _action(parser, option).help
        return
    if option in ("--mode",):  # the default is named in the running text
        assert _action(parser, option).default == value
        assert f"default {value}" in _action(parser, option).help
        return
    _assert_reads(parser, option, value)


def test_help_follows_a_changed_settings_default(monkeypatch) -> None:
    from campaign.jobs.benchmark.csp import CspSettings
    from campaign.jobs.data.options import BuildOptions

    monkeypatch.setattr(CspSettings.__dataclass_fields__["k"], "default", 7)
    monkeypatch.setattr(BuildOptions.__dataclass_fields__["workers"], "default", 3)
    monkeypatch.setattr(CampaignConfig.model_fields["seed"], "default", 11)
    _assert_reads(_parser("benchmark", "csp"), "--k", 7)
    _assert_reads(_parser("data", "build"), "--workers", 3)
    _assert_reads(_parser("generate"), "--seed", 11)


def test_one_definition_of_each_shared_constant() -> None:
    from campaign.commands.train import TrainConfig, load_train_config
    from campaign.jobs.data.options import BuildOptions
    from chggen_kernels.datasets import DEFAULT_MAX_ATOMS
    from chggen_kernels.relax import RelaxSettings
    from chggen_kernels.structure_check import DEFAULT_MIN_DISTANCE
    from chggen_kernels.training import MIN_INTERATOMIC_DISTANCE, TrainSettings

    assert RelaxSettings.min_distance == MIN_INTERATOMIC_DISTANCE == DEFAULT_MIN_DISTANCE
    assert TrainConfig.min_distance == BuildOptions.min_distance == DEFAULT_MIN_DISTANCE
    assert load_train_config(None).min_distance == DEFAULT_MIN_DISTANCE
    assert BuildOptions.max_atoms == DEFAULT_MAX_ATOMS
    assert TrainSettings.val_noise_draws == 6  # the evaluation's fallback reads the field
    import inspect

    from chggen_kernels import evaluation

    assert "TrainSettings.val_noise_draws" in inspect.getsource(evaluation)


def test_the_hull_build_script_reads_the_hull_relaxation_constants(monkeypatch) -> None:
    from chggen_kernels.thermo import build_reference
    from chggen_kernels.thermo.potential_hull import HULL_FMAX, HULL_MAX_STEPS

    seen = {}
    monkeypatch.setattr(build_reference, "_build",
                        lambda args, *rest: seen.update(vars(args)))
    build_reference.main(["--only", "Li"])
    assert (seen["fmax"], seen["steps"]) == (HULL_FMAX, HULL_MAX_STEPS) == (0.05, 1000)


def test_scan_writes_only_what_it_decides() -> None:
    from campaign.commands.scan import scan_config
    from chggen_kernels.workflow.settings import InpaintSettings

    config = scan_config("Li-Si", relax_actors=2)
    assert config.lattice == LatticeConfig()
    assert config.inpaint.hosts_per_task == InpaintSettings.hosts_per_task
    resources = ResourcesConfig()
    assert (config.resources.cpus_per_sampler, config.resources.cpus_per_relax_actor) == (
        resources.cpus_per_sampler, resources.cpus_per_relax_actor)
    assert config.model.checkpoint is None and config.seed == default_of(CampaignConfig, "seed")
    assert scan_config("Li-Si", relax_actors=2, checkpoint="m.pt").model.checkpoint == "m.pt"


def test_the_shipped_model_has_one_sentinel() -> None:
    assert ModelConfig().checkpoint is None and ModelConfig(checkpoint="").checkpoint is None
    assert validate_config({**BASE, "model": {"checkpoint": ""}}).model.checkpoint is None
    assert _action(_parser("scan"), "--checkpoint").default is None


# ------------------------------------------------------------------ unknown fields
def _known(cls: type) -> str:
    names = ([f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls)
             else list(cls.model_fields))
    return ", ".join(names)


def _sections() -> list[tuple[dict, str]]:
    from campaign.config.model import CompositionLine, HullConfig, Limits
    from chggen_kernels.relax import RelaxSettings
    from chggen_kernels.sampling import SamplerSettings
    from chggen_kernels.workflow.settings import InpaintSettings

    line = {"end_members": ["Li", "Si"], "inclde": True}
    return [
        ({"relax": {"fmaxx": 1}}, f"relax.fmaxx = 1: unknown field (known: "
                                  f"{_known(RelaxSettings)})"),
        ({"inpaint": {"hostz": 2}}, f"inpaint.hostz = 2: unknown field (known: "
                                    f"{_known(InpaintSettings)})"),
        ({"sampler": {"n_levelz": 3}}, f"sampler.n_levelz = 3: unknown field (known: "
                                       f"{_known(SamplerSettings)})"),
        ({"lattice": {"familes": ["any"]}}, f"lattice.familes = ['any']: unknown field "
                                            f"(known: {_known(LatticeConfig)})"),
        ({"limits": {"hostz": 3}}, f"limits.hostz = 3: unknown field (known: "
                                   f"{_known(Limits)})"),
        ({"hull": {"src": "mp"}}, f"hull.src = 'mp': unknown field (known: "
                                  f"{_known(HullConfig)})"),
        ({"compositions": {"chemical_systems": ["Li-Si"], "lines": [line]}},
         f"compositions.lines[0].inclde = True: unknown field (known: "
         f"{_known(CompositionLine)})"),
        ({"resourcez": {}}, f"resourcez = {{}}: unknown field (known: "
                            f"{_known(CampaignConfig)}, mlip)"),
    ]


@pytest.mark.parametrize(("changes", "message"), _sections())
def test_a_typo_in_any_yaml_section_gives_the_one_message(changes, message) -> None:
    with pytest.raises(CampaignConfigError) as info:
        validate_config({**BASE, **changes}, source="c.yaml")
    assert str(info.value) == f"c.yaml: {message}"


def test_the_same_typo_reads_the_same_in_yaml_api_settings_and_train(tmp_path: Path) -> None:
    from campaign.commands.train import TrainConfigError, load_train_config
    from chggen_kernels.relax import RelaxSettings
    from chggen_kernels.settings import SettingsError, strict_from_dict

    tail = f"fmaxx = 1: unknown field (known: {_known(RelaxSettings)})"
    with pytest.raises(CampaignConfigError) as yaml_error:
        validate_config({**BASE, "relax": {"fmaxx": 1}}, source="c.yaml")
    with pytest.raises(SettingsError) as settings_error:
        strict_from_dict(RelaxSettings, {"fmaxx": 1}, "relax")
    assert str(yaml_error.value) == f"c.yaml: relax.{tail}"
    assert str(settings_error.value) == f"relax.{tail}"
    bad = tmp_path / "train.yaml"
    bad.write_text("data:\n  min_distanse: 0.4\n")
    with pytest.raises(TrainConfigError) as train_error:
        load_train_config(bad)
    assert str(train_error.value) == (f"{bad}: data.min_distanse = 0.4: unknown field (known: "
                                      "on_invalid, min_distance)")


# ------------------------------------------------------------------ hull and checkpoint
def test_report_refuses_a_bad_hull_with_the_kernels_message(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    assert main(["report", str(folder), "--hull", "none"]) == 2
    err = capsys.readouterr().err
    assert err == ("chggen report: --hull 'none': hull figures need a hull: 'offline', 'mp' "
                   "or a CSV/JSON file, not 'none'\n")
    assert main(["report", str(folder), "--hull", "nowhere.csv"]) == 2
    assert capsys.readouterr().err == (
        "chggen report: --hull 'nowhere.csv': hull source 'nowhere.csv' is not 'offline', "
        "'mp', 'none' or an existing CSV/JSON file of reference energies\n")
    assert list(folder.iterdir()) == []


def test_fingerprint_hashes_a_hull_file_through_the_kernels_parser(tmp_path: Path) -> None:
    from campaign.engine.folder import file_sha256, settings_fingerprint
    from campaign.stages.resources import checkpoint_file

    hull = tmp_path / "hull.csv"
    hull.write_text("formula,energy_per_atom\nLi,-1.9\n")
    common = {"checkpoint": checkpoint_file(None), "sampler": {}, "relax": {}}
    assert settings_fingerprint(**common, hull=str(hull)).values["hull"] == (
        f"file sha256:{file_sha256(hull)}")
    assert settings_fingerprint(**common, hull="offline").values["hull"] == "offline"


def test_benchmark_resolves_the_checkpoint_as_every_command(tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    from campaign.stages import resources

    monkeypatch.setattr(resources, "default_model_path", lambda: tmp_path / "absent.pt")
    assert main(["benchmark", "csp", "--out", str(tmp_path / "o"), "--limit", "1",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chggen benchmark csp: no score model: this installation ships no "
                          "default model") and len(err.strip().splitlines()) == 1
