"""``chggen model info``: the model card printed from a checkpoint's own metadata."""

import json

import pytest

from campaign.cli import main
from chggen_kernels.model import ScoreModel
from chggen_kernels.training import CheckpointMetadata, save_checkpoint
from chggen_kernels.training.tiny import tiny_model_config


@pytest.fixture()
def checkpoint(tmp_path):
    model = ScoreModel(tiny_model_config())
    metadata = CheckpointMetadata(
        data_hash="abc123def4567890", sigma_min=0.01, sigma_max=10.0, steps=1234,
        wall_time_s=56.7, volume_prior={"Li": 20.1, "Si": 19.9}, best_val_loss=0.9,
        extra={"n_train": 30, "n_val": 3, "sources": {"aflow": 20, "decorated-chgnet": 13},
               "chemical_systems": {"Li-Si": 25, "Si": 8},
               "untrained_val_by_bin": {"sigma[0.01,0.1)": 3.0, "sigma[1,10]": 0.4},
               "final_val_by_bin": {"sigma[0.01,0.1)": 1.5, "sigma[1,10]": 0.2}},
    )
    path = tmp_path / "model.pt"
    save_checkpoint(path, model.config.to_dict(), model.state_dict(), metadata)
    return path, model


def test_model_info_prints_the_card(checkpoint, capsys) -> None:
    path, model = checkpoint
    assert main(["model", "info", "--checkpoint", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"parameters        {model.n_parameters:,}" in out
    assert "1234 steps, 56.7 s wall, train/val crystals 30/3" in out
    assert "sigma[0.01,0.1)      1.5000  vs 3.0000" in out
    assert "training data by source: aflow 20, decorated-chgnet 13" in out
    assert "volume prior (Å^3/atom, 2 elements): Li 20.1, Si 19.9" in out


def test_model_info_json_round_trips(checkpoint, capsys) -> None:
    path, model = checkpoint
    assert main(["model", "info", "--checkpoint", str(path), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["n_parameters"] == model.n_parameters
    assert card["sigma_range_A"] == [0.01, 10.0]
    assert card["checkpoint"].endswith("model.pt@abc123def456")


def test_model_info_missing_checkpoint_is_a_clear_error(tmp_path, capsys) -> None:
    assert main(["model", "info", "--checkpoint", str(tmp_path / "nope.pt")]) == 2
    assert "does not exist (--checkpoint)" in capsys.readouterr().out
