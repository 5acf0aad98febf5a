"""The real stage runner inside the actor classes (without Ray), and the proof that the
local runner (``chggen generate``) and the campaign (``chggen run``'s planning and actors)
make the same candidates from the same composition, seed and settings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from pymatgen.core import Structure

from campaign.cli import main
from campaign.config.model import validate_config
from campaign.distributed.workers import RelaxWorker, SamplerWorker, runner_settings
from campaign.engine.store import read_results
from campaign.jobs.tasks import task_specs, unconditional_tasks
from campaign.stages.runner import build_runner
from chggen_kernels.model import ScoreModel
from chggen_kernels.training import CheckpointMetadata, save_checkpoint
from chggen_kernels.training.tiny import tiny_model_config

pytestmark = pytest.mark.slow
SIGMA = (0.05, 3.0)  # Å: a user's model trained on a non-default noise range


def write_user_checkpoint(path: Path) -> str:
    """A tiny random-weight model trained (so its metadata says) on sigma in ``SIGMA``."""
    torch.manual_seed(3)
    config = tiny_model_config(n_layers=1, hidden_irreps="4x0e+2x1o", radial_hidden=(8,),
                               n_radial_basis=4, species_embedding_dim=4, noise_embedding_dim=4)
    model = ScoreModel(config)
    metadata = CheckpointMetadata(data_hash="feedfacecafebeef", sigma_min=SIGMA[0],
                                  sigma_max=SIGMA[1], volume_prior={"Li": 20.0, "Si": 16.0})
    save_checkpoint(path, config.to_dict(), model.state_dict(), metadata)
    return str(path)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    return write_user_checkpoint(tmp_path_factory.mktemp("model") / "user.pt")


@pytest.fixture(autouse=True)
def _restore_threads():
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def _campaign(checkpoint: str, output: Path, n_samples: int = 2):
    return validate_config({
        "compositions": {"cells": ["Li3Si"]}, "samples_per_task": n_samples,
        "sampler": {"n_levels": 4, "n_corrector_steps": 1},
        "relax": {"max_steps": 3}, "model": {"checkpoint": checkpoint},
        "output": str(output), "seed": 7})


def _campaign_rows(config) -> list:
    """What ``chggen run`` computes: the driver's plan, then the actors' classes."""
    from campaign.stages.resources import checkpoint_volume_prior

    task = next(unconditional_tasks(config))
    v0 = checkpoint_volume_prior(config.model.checkpoint).volume_per_atom(task.composition)
    specs = task_specs(task, config.seed, v0)
    sampler = SamplerWorker(build_runner, runner_settings(config), 1, False)
    generated = sampler.generate(specs)
    generated = [generated] if len(specs) == 1 else list(generated)
    relaxer = RelaxWorker(build_runner, runner_settings(config, 1), 1)
    return [relaxer.relax(c) for c in generated]


def test_generate_and_run_make_the_same_candidates(checkpoint: str, tmp_path: Path) -> None:
    config = _campaign(checkpoint, tmp_path / "campaign")
    campaign = {r.candidate_id: r for r in _campaign_rows(config)}
    out = tmp_path / "generate"
    argv = ["generate", "Li3Si", "--n-samples", "2", "--seed", "7", "--n-levels", "4",
            "--n-corrector", "1", "--max-steps", "3", "--threads", "1", "--checkpoint",
            checkpoint, "--out", str(out), "--quiet"]
    main(argv)
    local = read_results(out).set_index("candidate_id")
    assert sorted(local.index) == sorted(campaign)
    for cid, record in campaign.items():
        row = local.loc[cid]
        for column in ("task_id", "seed", "lattice_family", "lattice_ratio",
                       "volume_per_atom_prior", "structure_generated", "structure_relaxed",
                       "energy_relaxed_per_atom", "sampler_settings", "model_checkpoint"):
            mine = getattr(record, column)
            assert (pd.isna(row[column]) and mine is None) or row[column] == mine, column
    ok = [r for r in campaign.values() if r.status == "ok"]
    assert ok  # bit-identical relaxed structures and energies on CPU, not only failures
    for record in campaign.values():
        assert local.loc[record.candidate_id, "status"] == record.status
        settings = json.loads(record.sampler_settings)
        assert (settings["sigma_min"], settings["sigma_max"]) == SIGMA  # the checkpoint's
        # V0 from the checkpoint's prior: (3 x 20 + 1 x 16) / 4 = 19 Å^3/atom; cell = 4 V0
        generated = Structure.from_dict(json.loads(record.structure_generated))
        assert generated.volume == pytest.approx(76.0, rel=1e-4)
        assert record.lattice_family in ("cubic", "tetragonal", "orthorhombic", "monoclinic",
                                         "triclinic", "hexagonal", "rhombohedral")


def test_worker_guards_turn_failures_into_rows(checkpoint: str, tmp_path: Path) -> None:
    config = _campaign(checkpoint, tmp_path / "c", n_samples=1)
    task = next(unconditional_tasks(config))
    spec = task_specs(task, config.seed, 19.0)[0]
    sampler = SamplerWorker(build_runner, runner_settings(config), 1, False)
    assert sampler.ready()["device"] == "cpu"
    bad = dataclasses.replace(spec, lattice_family="any")  # not a planned lattice
    failed = sampler.generate([bad])
    assert failed.status == "failed" and "lattice_family must be one of" in failed.failure_reason
    relaxer = RelaxWorker(build_runner, runner_settings(config, 1), 1)
    record = relaxer.relax(dataclasses.replace(failed, failure_reason="sampler: non-finite "
                                               "positions at level 3"))
    assert (record.status, record.failure_reason) == (
        "failed", "sampler: non-finite positions at level 3")


def test_missing_checkpoint_names_the_path(tmp_path: Path) -> None:
    from campaign.stages.resources import ModelNotAvailableError

    config = _campaign(str(tmp_path / "nowhere.pt"), tmp_path / "c")
    with pytest.raises(ModelNotAvailableError, match="nowhere.pt"):
        SamplerWorker(build_runner, runner_settings(config), 1, False)
