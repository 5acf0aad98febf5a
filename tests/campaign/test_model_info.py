"""``chggen model info``: the model card printed from a checkpoint's own metadata."""

import hashlib
import json

import pytest

from campaign.cli import main
from chggen_kernels.model import ScoreModel
from chggen_kernels.training import CheckpointMetadata, save_checkpoint
from chggen_kernels.training.tiny import tiny_model_config

QUALITY = {"sampler": "200 levels x 5 corrector steps", "samples_per_cell": 5, "seed": 0,
           "sizes": ["Li2Si:2"],
           "systems": [{"system": "Li-Si", "mode": "unconditional", "n_samples": 5,
                        "n_relaxed": 4, "n_symmetric": 3, "symmetry_success_rate": 0.75,
                        "symmetry_success_rate_ci95": [0.3, 0.95],
                        "median_delta_e_relax": 0.0712, "median_rmsd_relax": 0.25},
                       {"system": "Li-Si", "mode": "inpaint", "n_samples": 0,
                        "n_relaxed": 0, "n_symmetric": 0, "symmetry_success_rate": None,
                        "symmetry_success_rate_ci95": None, "median_delta_e_relax": None,
                        "median_rmsd_relax": None}],
           "frameworks": [{"system": "Li-Si", "n_frameworks": 4, "n_above_p1": 3,
                           "n_above_p1bar": 2}],
           "frameworks_reference_ladder": [{"system": "Li-Si", "n_frameworks": 4,
                                            "n_above_p1": 1, "n_above_p1bar": 1}]}


@pytest.fixture()
def checkpoint(tmp_path):
    model = ScoreModel(tiny_model_config())
    metadata = CheckpointMetadata(
        data_hash="abc123def4567890", sigma_min=0.01, sigma_max=10.0, steps=1234,
        wall_time_s=56.7, volume_prior={"Li": 20.1, "Si": 19.9}, best_val_loss=0.9,
        extra={"n_train": 30, "n_val": 3, "sources": {"aflow": 20, "decorated-chgnet": 13},
               "chemical_systems": {"Li-Si": 25, "Si": 8},
               "untrained_val_by_bin": {"sigma[0.01,0.1)": 3.0, "sigma[1,10]": 0.4},
               "final_val_by_bin": {"sigma[0.01,0.1)": 1.5, "sigma[1,10]": 0.2},
               "quality": QUALITY,
               "extra_data": {"repeat": [3, 10], "files": {
                   "own/train.parquet": {"kept": 338, "repeat": 3},
                   "subst/train.parquet": {"kept": 16, "repeat": 10}}},
               "run": {"init_from": {"path": "data/default_model.pt", "sha256": "e4" * 32,
                                     "steps": 12564}},
               "split": {"test_formulas": ["Li2Si", "ZnO"], "forced_test_formulas": ["Li2Si"]}},
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
    assert ("more training data (crystals kept x times repeated): train.parquet of own 338 x 3, "
            "train.parquet of subst 16 x 10") in out
    assert "warm start from   default_model.pt (sha256 e4e4e4e4e4e4, 12564 steps)" in out
    assert "measured quality (200 levels x 5 corrector steps, 5 samples per cell size" in out
    quality = [line.split() for line in out.splitlines() if line.startswith("  Li-Si")]
    assert quality[0] == ["Li-Si", "unconditional", "5", "4", "3", "75", "%", "[30-95]",
                          "0.071", "0.250"]
    assert quality[1][-3:] == ["-", "-", "-"]
    assert ("  Li-Si    frameworks (guests removed, symmetry ladder): 3/4 above P1, "
            "2/4 above P-1 (inpainted); spglib alone (reference ladder): 1/4") in out
    assert "held-out test formulas (2, never trained on; forced: Li2Si): Li2Si, ZnO" in out


def test_model_info_says_when_no_quality_is_recorded(tmp_path, capsys) -> None:
    model = ScoreModel(tiny_model_config())
    path = tmp_path / "bare.pt"
    save_checkpoint(path, model.config.to_dict(), model.state_dict(),
                    CheckpointMetadata(data_hash="0" * 16, sigma_min=0.01, sigma_max=10.0))
    assert main(["model", "info", "--checkpoint", str(path)]) == 0
    assert "measured quality  not recorded in this checkpoint" in capsys.readouterr().out


def test_model_info_json_round_trips(checkpoint, capsys) -> None:
    path, model = checkpoint
    assert main(["model", "info", "--checkpoint", str(path), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["n_parameters"] == model.n_parameters
    assert card["sigma_range_A"] == [0.01, 10.0]
    weights = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert card["checkpoint"].endswith(f"model.pt@abc123def456, weights sha256 {weights}")


def test_model_info_missing_checkpoint_is_a_clear_error(tmp_path, capsys) -> None:
    assert main(["model", "info", "--checkpoint", str(tmp_path / "nope.pt")]) == 2
    captured = capsys.readouterr()
    assert "does not exist (--checkpoint)" in captured.err and captured.out == ""


def test_the_shipped_model_is_the_documented_architecture() -> None:
    """The shipped weights use ``cpu_default_config`` (cap 16 since the cap-16 retraining)
    and carry a measured quality table, so ``model info`` never prints a bare card."""
    from campaign.stages.resources import default_model_path
    from chggen_kernels.model import ScoreModelConfig, cpu_default_config
    from chggen_kernels.training.checkpoint import read_checkpoint

    payload = read_checkpoint(default_model_path())
    config = ScoreModelConfig.from_dict(payload["model_config"])
    assert config == cpu_default_config()
    assert config.max_neighbors == 16
    assert payload["metadata"]["extra"]["quality"]["systems"]
