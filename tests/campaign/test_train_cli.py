"""``chggen train``: checkpoints, JSONL log, skipped rows counted, resume, config errors."""

import json
from pathlib import Path

import pytest
import torch
from pymatgen.core import Lattice, Structure

from campaign.cli import main
from campaign.commands.train import TrainConfigError, load_train_config
from chggen_kernels.training import (
    TrainingCrystal,
    load_score_model,
    read_checkpoint,
    write_training_parquet,
)
from chggen_kernels.training.tiny import tiny_crystals

CONFIG = """\
model:
  preset: tiny
train:
  n_steps: {steps}
  batch_size: 4
  warmup_steps: 1
  val_every: 2
  log_every: 1
  checkpoint_every: 2
  val_noise_draws: 3
  val_fraction: 0.25
"""


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    crystals = [TrainingCrystal(structure_id=f"tiny-{i}", structure=s, source="synthetic")
                for i, s in enumerate(tiny_crystals(8, seed=2))]
    too_close = Structure(Lattice.cubic(4.0), ["Li", "Li"], [[0, 0, 0], [0.05, 0, 0]])
    crystals.insert(3, TrainingCrystal(structure_id="bad-1", structure=too_close))
    return write_training_parquet(tmp_path / "train.parquet", crystals)


def _config(tmp_path: Path, steps: int) -> Path:
    path = tmp_path / f"train_{steps}.yaml"
    path.write_text(CONFIG.format(steps=steps))
    return path


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_train_writes_checkpoints_and_a_log_then_resumes(tmp_path: Path, dataset: Path,
                                                         capsys) -> None:
    out = tmp_path / "run"
    args = ["train", "--data", str(dataset), "--out", str(out), "--quiet"]
    assert main([*args, "--config", str(_config(tmp_path, 2))]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 of 9 crystals" in err
    assert "'bad-1' (row 3): overlapping atoms: sites 0 (Li) and 1" in err

    records = _log(out)
    data = records[0]
    assert data["event"] == "data"
    assert (data["n_read"], data["n_skipped"], data["n_train"], data["n_val"]) == (9, 1, 6, 2)
    assert data["skipped"][0]["structure_id"] == "bad-1"
    assert [r["step"] for r in records if r["event"] == "train"] == [1, 2]
    val = [r for r in records if r["event"] == "val"]
    assert set(val[0]["loss_by_sigma"]) <= {"sigma[0.01,0.1)", "sigma[0.1,1)", "sigma[1,10]"}

    payload = torch.load(out / "last.pt", weights_only=True)
    assert payload["metadata"]["steps"] == 2
    assert payload["metadata"]["data_hash"] == data["data_hash"]
    prior = payload["metadata"]["volume_prior"]  # Å^3/atom per element of the training set
    elements = {el.symbol for s in tiny_crystals(8, seed=2) for el in s.composition}
    assert prior and set(prior) <= elements and all(v >= 0 for v in prior.values())
    model, meta = load_score_model(out / "best.pt")
    assert meta.sigma_min == 0.01 and meta.sigma_max == 10.0
    assert "training_state" not in read_checkpoint(out / "best.pt")

    # a second run into the same folder must say --resume
    assert main([*args, "--config", str(_config(tmp_path, 2))]) == 2
    assert "already holds a run (last.pt); pass --resume" in capsys.readouterr().err

    assert main([*args, "--config", str(_config(tmp_path, 4)), "--resume"]) == 0
    records = _log(out)
    starts = [r for r in records if r["event"] == "start"]
    assert [(s["step"], s["resumed"]) for s in starts] == [(0, False), (2, True)]
    assert [r["step"] for r in records if r["event"] == "train"] == [1, 2, 3, 4]
    assert read_checkpoint(out / "last.pt")["metadata"]["steps"] == 4


def test_strict_mode_stops_at_the_first_bad_crystal(tmp_path: Path, dataset: Path,
                                                    capsys) -> None:
    code = main(["train", "--data", str(dataset), "--out", str(tmp_path / "o"), "--quiet",
                 "--strict", "--config", str(_config(tmp_path, 2))])
    assert code == 2
    assert ("chggen train: crystal 'bad-1' (row 3): overlapping atoms: sites 0 (Li) and 1 (Li) "
            "are 0.200 Å apart, below 0.5 Å") in capsys.readouterr().err


def test_resume_on_other_data_is_refused(tmp_path: Path, dataset: Path, capsys) -> None:
    out = tmp_path / "run"
    config = str(_config(tmp_path, 1))
    assert main(["train", "--data", str(dataset), "--out", str(out), "--quiet",
                 "--config", config]) == 0
    other = write_training_parquet(tmp_path / "other.parquet", [
        TrainingCrystal(structure_id=f"o-{i}", structure=s)
        for i, s in enumerate(tiny_crystals(4, seed=5))])
    assert main(["train", "--data", str(other), "--out", str(out), "--quiet", "--resume",
                 "--config", config]) == 2
    assert "was trained on other data" in capsys.readouterr().err


def test_config_keys_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rate: 0.1\n")
    with pytest.raises(TrainConfigError,
                       match=r"bad\.yaml: train\.learning_rate = .*: unknown field"):
        load_train_config(bad)
    bad.write_text("trian:\n  lr: 0.1\n")
    with pytest.raises(TrainConfigError, match=r"trian = .*: unknown field"):
        load_train_config(bad)
    bad.write_text("model:\n  preset: huge\n")
    with pytest.raises(TrainConfigError, match=r"model\.preset = .*: must be one of"):
        load_train_config(bad)
    bad.write_text("train:\n  sigma_min: -1\n")
    with pytest.raises(TrainConfigError, match=r"train\.sigma_min = .*: must be a positive"):
        load_train_config(bad)
    bad.write_text("data:\n  on_invalid: ignore\n")
    with pytest.raises(TrainConfigError,
                       match=r"data\.on_invalid = .*: must be 'skip' or 'raise'"):
        load_train_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text("model:\n  noise_conditioning: none\ntrain:\n  lr: 0.002\n")
    config = load_train_config(good)
    assert config.model.noise_conditioning == "none" and config.train.lr == 0.002
    assert config.model.cutoff == 5.0  # the cpu_default preset
