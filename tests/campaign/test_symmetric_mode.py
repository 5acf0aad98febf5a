"""Mode ``inpaint-symmetric`` in the campaign and the CLI: configuration, task ids, the
framework stage of the relaxation actor (real runner, no model needed), the driver's host
expansion, and
``chggen inpaint --symmetric`` / ``chggen generate --mode inpaint-symmetric`` end to end
(tiny random-weight checkpoint, real CHGNet, offline Li-Si hull)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

from campaign.cli import main
from campaign.config.model import CampaignConfigError, validate_config
from campaign.engine.store import CANDIDATE_SCHEMA, read_results
from campaign.jobs.tasks import inpainting_task
from campaign.stages.runner import RunnerSettings, StageRunner
from chggen_kernels.symmetry import final_symmetry
from chggen_kernels.testing import diamond

FAST = ["--n-levels", "6", "--n-corrector", "1", "--resample-passes", "1", "--jump-length", "2",
        "--max-steps", "12", "--threads", "1", "--quiet"]
BASE = {"compositions": {"cells": ["Li2Si"]}, "inpaint": {"guest_species": ["Li"]}}


@pytest.fixture(autouse=True)
def _restore_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def antifluorite_row() -> dict:
    """A relaxed Li2Si antifluorite host row (Fm-3m; Li on 8c of the Si fcc framework)."""
    a = 6.1
    fcc = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    li = [[x + dx, y + dy, z + dz] for x, y, z in fcc for dx, dy, dz in
          ((0.25, 0.25, 0.25), (0.75, 0.75, 0.75))]
    structure = Structure(Lattice.cubic(a), ["Si"] * 4 + ["Li"] * 8, fcc + li)
    row = {name: None for name in CANDIDATE_SCHEMA.names}
    row |= {"candidate_id": "abc-001", "task_id": "abc", "formula": "Li2Si",
            "composition": "Li8Si4", "chemsys": "Li-Si", "n_atoms": 12, "mode": "unconditional",
            "n_guest": 0, "seed": 1, "status": "ok", "e_d": 0.0, "spacegroup_relaxed": 225,
            "structure_relaxed": json.dumps(structure.as_dict()), "created_at": "x"}
    return row


# ------------------------------------------------------------------ configuration, tasks
def test_config_accepts_the_mode_and_names_bad_values() -> None:
    config = validate_config({**BASE, "modes": ["unconditional", "inpaint-symmetric"]})
    assert config.inpaint.max_wyckoff_combinations == 64
    with pytest.raises(CampaignConfigError, match="modes: 'inpaint-symmetric' needs 'uncond"):
        validate_config({**BASE, "modes": ["inpaint-symmetric"]})
    with pytest.raises(CampaignConfigError,
                       match=r"inpaint = .*: InpaintSettings\.max_wyckoff_combinations must be an "
                       r"integer >= 1, got 0"):
        validate_config({**BASE, "modes": ["unconditional", "inpaint-symmetric"],
                         "inpaint": {"guest_species": ["Li"], "max_wyckoff_combinations": 0}})
    with pytest.raises(CampaignConfigError, match=r"modes = \['unconditional', 'symmetric'\]: "
                       r"'symmetric' is how the first stage starts: set generation: symmetric"):
        validate_config({**BASE, "modes": ["unconditional", "symmetric"]})
    with pytest.raises(CampaignConfigError, match=r"modes\[1\] = 'sideways': Input should be"):
        validate_config({**BASE, "modes": ["unconditional", "sideways"]})


def test_one_task_per_inpainting_mode_and_host() -> None:
    config = validate_config({**BASE, "modes": ["unconditional", "inpaint", "inpaint-symmetric"]})
    host = antifluorite_row()
    plain = inpainting_task(config, host)
    symmetric = inpainting_task(config, host, "inpaint-symmetric")
    assert (plain.mode, symmetric.mode) == ("inpaint", "inpaint-symmetric")
    assert plain.task_id != symmetric.task_id
    capped = validate_config({**BASE, "modes": ["unconditional", "inpaint-symmetric"],
                              "inpaint": {"guest_species": ["Li"], "max_wyckoff_combinations": 2}})
    assert inpainting_task(capped, host, "inpaint-symmetric").task_id != symmetric.task_id
    assert inpainting_task(capped, host).task_id == plain.task_id  # plain ids unchanged
    with pytest.raises(ValueError, match="inpainting mode must be one of"):
        inpainting_task(config, host, "unconditional")

    from campaign.jobs.campaign import CampaignJob

    tasks = list(CampaignJob(config).hosts_of([host]))
    assert [t.mode for t in tasks] == ["inpaint", "inpaint-symmetric"]
    assert all(t.host == host for t in tasks)  # what the framework is refined from


def test_framework_stage_gives_symmetric_specs_with_the_task_ids(tmp_path) -> None:
    runner = StageRunner(RunnerSettings())  # the framework stage loads no model
    config = validate_config({**BASE, "modes": ["unconditional", "inpaint-symmetric"]})
    task = inpainting_task(config, antifluorite_row(), "inpaint-symmetric")
    specs = runner.inpainting_specs(antifluorite_row(), ["Li"], 2, task_id=task.task_id,
                                    campaign_seed=config.seed, mode="inpaint-symmetric",
                                    max_combinations=64, max_atoms=None)
    assert [s.mode for s in specs] == ["inpaint-symmetric"] * 2
    assert [s.wyckoff_letters for s in specs] == ["Li:8c"] * 2  # 4a holds Si; 4b + 4? none
    assert [s.candidate_id for s in specs] == [f"{task.task_id}-000", f"{task.task_id}-001"]
    assert {s.parent_id for s in specs} == {"abc-001"}
    plain = runner.inpainting_specs(antifluorite_row(), ["Li"], 2, task_id="t", campaign_seed=0,
                                    mode="inpaint", max_combinations=64, max_atoms=None)
    assert {s.mode for s in plain} == {"inpaint"} and plain[0].wyckoff_letters is None
    assert runner.inpainting_specs({"status": "broken"}, ["Li"], 2, task_id="t",
                                   campaign_seed=0, mode="inpaint", max_combinations=64,
                                   max_atoms=None) == []


# ------------------------------------------------------------------ CLI
def test_inpaint_symmetric_host_file(tmp_path, checkpoint, capsys) -> None:
    path = tmp_path / "si.cif"
    CifWriter(diamond()).write_file(str(path))
    out = tmp_path / "sym"
    argv = ["inpaint", str(path), "--guest", "Li:8", "--symmetric", "--n-samples", "1",
            "--checkpoint", checkpoint, "--out", str(out), *FAST]
    assert main(argv) in (0, 1)
    printed = capsys.readouterr().out
    rows = read_results(out)
    assert list(rows["mode"]) == ["inpaint-symmetric"]
    assert list(rows["wyckoff_letters"]) == ["Li:8b"] and rows["symmetric_fallback"].isna().all()
    assert set(rows["spacegroup_framework"]) == {227}
    for text in rows["structure_generated"].dropna():  # symmetric before relaxation
        assert final_symmetry(Structure.from_dict(json.loads(text)), 0.01, 5.0).number == 227
    assert "1/1 inpaint-symmetric candidates on Wyckoff orbits; 0 fell back" in printed

    out = tmp_path / "fallback"
    argv = ["inpaint", str(path), "--guest", "Li:5", "--symmetric", "--n-samples", "1",
            "--checkpoint", checkpoint, "--out", str(out), *FAST]
    main(argv)
    row = read_results(out).iloc[0]
    assert row["mode"] == "inpaint-symmetric" and pd.isna(row["wyckoff_letters"])
    assert row["symmetric_fallback"].startswith("no combination of Wyckoff positions of Fd-3m")
    assert "0/1 inpaint-symmetric candidates on Wyckoff orbits; 1 fell back" in (
        capsys.readouterr().out)


def test_generate_inpaint_symmetric_chain(tmp_path, checkpoint, capsys) -> None:
    out = tmp_path / "run"
    argv = ["generate", "LiSi", "--n-samples", "2", "--mode", "inpaint-symmetric", "--guest",
            "Li", "--samples-per-host", "2", "--max-hosts", "1", "--lattice-family", "cubic",
            "--checkpoint", checkpoint, "--out", str(out), "--seed", "1", *FAST]
    main(argv)
    rows = read_results(out)
    symmetric = rows[rows["mode"] == "inpaint-symmetric"]
    assert len(symmetric) == 2 and (rows["mode"] == "inpaint").sum() == 0
    assert symmetric["candidate_id"].str.endswith(("-000", "-001")).all()
    assert symmetric["task_id"].nunique() == 1 and set(symmetric["parent_id"]) <= set(
        rows["candidate_id"])
    assert symmetric["wyckoff_letters"].notna().any()
    for _, row in symmetric.iterrows():
        assert pd.isna(row["wyckoff_letters"]) != pd.isna(row["symmetric_fallback"])
        if pd.notna(row["wyckoff_letters"]) and row["structure_generated"]:
            generated = Structure.from_dict(json.loads(row["structure_generated"]))
            assert final_symmetry(generated, 0.01, 5.0).number == row["spacegroup_framework"]
    capsys.readouterr()
    bad = ["generate", "LiSi", "--mode", "inpaint-symmetric", "--guest", "Li",
           "--max-wyckoff-combinations", "0", "--checkpoint", checkpoint, "--quiet"]
    assert main(bad) == 2
    assert ("inpainting.max_wyckoff_combinations = 0: must be an integer >= 1, got 0"
            in capsys.readouterr().err)


def test_no_refined_host_ranks_the_unconditional_candidates(capsys) -> None:
    from campaign.commands.generate import print_results
    from campaign.jobs.chain import ChainResult
    from chggen_kernels.workflow import CandidateSpec, failed_row

    rows = []
    for k, e_d in enumerate((0.05, -0.01)):
        spec = CandidateSpec(candidate_id=f"t-{k:03d}", task_id="t",
                             composition={"Li": 2, "Si": 1}, mode="unconditional", seed=k,
                             lattice_family="cubic", lattice_ratio="1:1")
        row = failed_row(spec, "")
        row.status, row.failure_reason, row.e_d = "ok", None, e_d
        row.energy_relaxed_per_atom, row.spacegroup_relaxed = -3.0, 1
        row.spacegroup_symbol_relaxed, row.e_above_hull = "P1", max(e_d, 0.0)
        rows.append(row)
    result = ChainResult(unconditional=rows, inpainted=[], n_hosts=2, n_symmetric_hosts=0)
    assert print_results(result, ("inpaint-symmetric",), 10, None) == 0
    out = capsys.readouterr().out
    assert ("no inpainting: 0 of 2 hosts have a framework that refines above P-1" in out)
    ranked = [line.split()[1] for line in out.splitlines() if line.split()
              and line.split()[0].isdigit()]
    assert ranked == ["t-001", "t-000"]  # the unconditional candidates, lowest E_d first
