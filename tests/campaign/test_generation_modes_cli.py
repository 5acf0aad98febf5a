"""``--mode symmetric`` and ``--mode template`` through the CLI (generate) and the campaign
configuration (scan): a tiny random-weight checkpoint, few noise levels, real CHGNet."""

from __future__ import annotations

import argparse

import pytest
import torch
from pymatgen.core import Structure

from campaign.cli import main
from campaign.commands.scan import config_from_args, register
from campaign.engine.store import read_results
from campaign.jobs.tasks import load_starts, task_specs, unconditional_tasks

FAST = ["--n-levels", "6", "--n-corrector", "1", "--max-steps", "12", "--threads", "1",
        "--quiet"]


@pytest.fixture(autouse=True)
def _restore_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def test_generate_template_starts_from_substituted_known_phases(tmp_path, checkpoint):
    out = tmp_path / "run"
    argv = ["generate", "LiSi", "--formula-units", "2", "--n-samples", "2", "--mode",
            "template", "--checkpoint", checkpoint, "--out", str(out), *FAST]
    assert main(argv) == 0
    rows = read_results(out)
    assert list(rows["mode"]) == ["template", "template"]
    assert rows["start_from"].str.startswith("template ").all()
    assert "LiSi " not in " ".join(rows["start_from"])  # never the target formula itself
    for text in rows["structure_generated"].dropna():
        assert Structure.from_str(text, fmt="json").composition.reduced_formula == "LiSi"


def test_generate_says_in_one_line_when_no_template_of_the_type_exists(tmp_path, checkpoint,
                                                                      capsys):
    """Li11Si2 (A2B11, 13 atoms) has no known phase of its type: the candidates fall back
    to symmetric starts, one line on stderr says so (under --quiet too), every row too."""
    out = tmp_path / "run"
    argv = ["generate", "Li11Si2", "--n-samples", "2", "--mode", "template",
            "--checkpoint", checkpoint, "--out", str(out), *FAST]
    assert main(argv) == 0
    reason = ("template: no known phase of stoichiometry type A2B11|13 other than the "
              "target formula; symmetric (sg ")
    lines = [line for line in capsys.readouterr().err.splitlines() if "fall back" in line]
    assert len(lines) == 1
    assert lines[0].startswith(f"--mode template: 2/2 candidates fall back to symmetric: "
                               f"{reason}")
    rows = read_results(out)
    assert list(rows["mode"]) == ["symmetric", "symmetric"]
    assert rows["start_from"].str.startswith(reason).all()


def test_generate_symmetric_records_the_space_group_of_each_start(tmp_path, checkpoint):
    out = tmp_path / "run"
    argv = ["generate", "Li2Si", "--formula-units", "2", "--n-samples", "2", "--mode",
            "symmetric", "--checkpoint", checkpoint, "--out", str(out), *FAST]
    assert main(argv) == 0
    rows = read_results(out)
    assert list(rows["mode"]) == ["symmetric", "symmetric"]
    assert rows["spacegroup_start"].between(1, 230).all()
    assert rows["wyckoff_letters"].str.contains("Li:").all()
    assert rows["start_from"].str.startswith("sg ").all()


def _scan_args(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["scan", "Li-Si", "--budget", "4", "--no-inpaint", *extra])


@pytest.mark.parametrize("mode", ["symmetric", "template"])
def test_scan_mode_plans_first_stage_tasks_of_that_mode(mode):
    config = config_from_args(_scan_args("--mode", mode))
    assert config.generation == mode
    uncond = config_from_args(_scan_args("--mode", "unconditional"))
    tasks = list(unconditional_tasks(config))
    # a mode's tasks never share an id with the unconditional ones (a folder never mixes them)
    assert {t.task_id for t in tasks}.isdisjoint(t.task_id for t in unconditional_tasks(uncond))
    specs = task_specs(tasks[0], config.seed, 15.0, config.generation, load_starts())
    assert {s.mode for s in specs} == {mode}
    assert len(specs) == tasks[0].n_samples


def test_the_main_job_starts_from_templates_on_their_orbits():
    """chggen scan's default first stage is the mode chosen on the validation split and
    measured on --set extended; a YAML campaign keeps the paper's unconditional one."""
    from campaign.config.model import CampaignConfig

    assert config_from_args(_scan_args()).generation == "template-symmetric"
    assert CampaignConfig.model_fields["generation"].default == "unconditional"


def test_scan_rejects_an_unknown_mode(capsys):
    with pytest.raises(SystemExit):
        _scan_args("--mode", "nope")
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_dry_run_names_the_first_stage_mode_and_counts_template_levels(capsys):
    """The plan of scan --mode template-symmetric says how the 16 first-stage candidates
    start, and a template sample costs only the levels below TEMPLATE_SIGMA (0.75 Å)."""
    from campaign.config.plan import describe_campaign, score_evaluations
    from campaign.stages.resources import resolve_sampler_settings

    config = config_from_args(_scan_args("--mode", "template-symmetric"))
    lines = describe_campaign(config)
    assert lines[0].startswith("campaign 'scan-Li-Si': modes unconditional (first stage "
                               "started as template-symmetric)")
    assert " 4 first-stage (template-symmetric) + at most 0 inpainted" in lines[1]
    sampler = resolve_sampler_settings({}, None).to_dict()
    full = score_evaluations(sampler, inpainting=False)
    template = score_evaluations(sampler, inpainting=False, generation="template")
    assert full == 220 and template == 190  # fast-pc: 60 levels, 4 correctors below 1 Å
    assert score_evaluations(sampler, inpainting=False, generation="symmetric") == full
    assert f"{template} score evaluations per template-symmetric sample" in lines[4]
    plain = describe_campaign(config_from_args(_scan_args("--mode", "unconditional")))
    assert "4 unconditional + at most 0 inpainted" in plain[1]
    assert "first stage" not in plain[0]


@pytest.mark.parametrize(("extra", "message"), [
    (["--guest", "Li"], "--guest Li: --mode template does not inpaint (chggen scan --mode "
                        "template inpaints after it)"),
    (["--samples-per-host", "3"], "--samples-per-host 3: --mode template does not inpaint"),
    (["--lattice-family", "cubic"], "--lattice-family cubic: --mode template takes its "
                                    "lattice from its start"),
    (["--lattice-ratio", "1:1.5"], "--lattice-ratio 1:1.5: --mode template takes its lattice"),
])
def test_generate_refuses_options_a_start_mode_would_ignore(capsys, extra, message):
    assert main(["generate", "Li2Si", "--mode", "template", "--dry-run", *extra]) == 2
    assert message in capsys.readouterr().err
    assert main(["generate", "Li2Si", "--mode", "template", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing started" in out
