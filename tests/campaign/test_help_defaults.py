"""Every default ``--help`` states is the one the code runs with: sampler options show the
default preset resolved as a run resolves it, relaxation options the settings' fields."""

from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from campaign.cli import build_parser
from campaign.commands.benchmark import SAMPLER_OPTIONS as BENCHMARK_SAMPLER
from campaign.commands.generate import RELAX_OPTIONS
from campaign.commands.generate import SAMPLER_OPTIONS as GENERATE_SAMPLER
from campaign.stages.resources import resolve_sampler_settings
from chggen_kernels.relax import RelaxSettings
from chggen_kernels.sampling import SamplerSettings


def _subparser(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _shown_default(parser: argparse.ArgumentParser, option: str) -> str:
    action = next(a for a in parser._actions if option in a.option_strings)
    match = re.search(r"\(default ([^()]*)\)$", action.help or "")
    assert match, f"{option}: no default in its help {action.help!r}"
    return match.group(1)


def _text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


RUN_DEFAULTS = dataclasses.asdict(resolve_sampler_settings({}, None))


@pytest.mark.parametrize(("command", "options"), [
    (("generate",), GENERATE_SAMPLER),
    (("inpaint",), GENERATE_SAMPLER),
    (("benchmark", "csp"), BENCHMARK_SAMPLER),
    (("benchmark", "hosts"), BENCHMARK_SAMPLER),
])
def test_sampler_help_defaults_are_what_a_run_uses(command, options) -> None:
    parser = _subparser(build_parser(), *command)
    for field, option in options.items():
        shown = _shown_default(parser, option)
        if field in ("sigma_min", "sigma_max"):
            assert shown == "the checkpoint's"
        else:
            assert shown == _text(RUN_DEFAULTS[field]), (command, option)
    # the default preset is the fields' defaults: what --help shows, a run uses
    assert RUN_DEFAULTS["n_levels"] == SamplerSettings.n_levels == 60


def test_relaxation_help_defaults_are_the_settings_fields() -> None:
    for command in (("generate",), ("inpaint",), ("benchmark", "csp")):
        parser = _subparser(build_parser(), *command)
        for field, option in RELAX_OPTIONS.items():
            assert _shown_default(parser, option) == _text(getattr(RelaxSettings, field))


def test_same_option_same_meaning_and_version(capsys) -> None:
    parser = build_parser()
    for command in (("top",), ("export",), ("generate",), ("inpaint",)):
        sub = _subparser(parser, *command)
        action = next(a for a in sub._actions if "--top" in a.option_strings)
        assert "-n" in action.option_strings, command
    with pytest.raises(SystemExit):
        parser.parse_args(["--version"])
    assert capsys.readouterr().out.startswith("chggen ")


def test_spglib_warnings_are_off_unless_asked_for(monkeypatch) -> None:
    import os

    from campaign import cli

    monkeypatch.delenv("SPGLIB_WARNING", raising=False)
    monkeypatch.setattr(cli, "run_command", lambda args: 0)
    assert cli.main(["check", "nothing.yaml"]) == 0
    assert os.environ["SPGLIB_WARNING"] == "OFF"
    monkeypatch.setenv("SPGLIB_WARNING", "ON")
    assert cli.main(["check", "nothing.yaml"]) == 0
    assert os.environ["SPGLIB_WARNING"] == "ON"
