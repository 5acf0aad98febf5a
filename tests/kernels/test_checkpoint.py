"""Checkpoints: one weights_only-loadable file; clear errors for every kind of bad file."""

import dataclasses
from pathlib import Path

import pytest
import torch

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.model import ScoreModel
from chggen_kernels.training import (
    CHECKPOINT_VERSION,
    CheckpointError,
    CheckpointMetadata,
    load_score_model,
    read_checkpoint,
    save_checkpoint,
    update_checkpoint_metadata,
)
from chggen_kernels.training.tiny import tiny_crystals, tiny_model_config


@pytest.fixture(scope="module")
def model() -> ScoreModel:
    torch.manual_seed(0)
    m = ScoreModel(tiny_model_config())
    with torch.no_grad():  # move off the zero-output initialisation
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return m


def _metadata(**changes) -> CheckpointMetadata:
    base = CheckpointMetadata(data_hash="ab" * 32, sigma_min=0.01, sigma_max=10.0, steps=7,
                              wall_time_s=1.5, volume_prior={"Li": 20.1, "Si": 19.9},
                              best_val_loss=0.8, extra={"n_train": 3})
    return dataclasses.replace(base, **changes)


def _save(path: Path, model: ScoreModel, **payload_changes) -> Path:
    return save_checkpoint(path, model_config=model.config.to_dict(),
                           state_dict=model.state_dict(), metadata=_metadata(),
                           **payload_changes)


def test_round_trip_gives_the_same_scores_and_metadata(tmp_path: Path, model: ScoreModel) -> None:
    path = _save(tmp_path / "m.pt", model, training_state={"step": 7, "rng": torch.arange(3)})
    raw = torch.load(path, weights_only=True)
    assert raw["format_version"] == CHECKPOINT_VERSION
    assert raw["training_state"]["step"] == 7
    loaded, meta = load_score_model(path)
    assert meta == _metadata()
    assert not loaded.training
    batch = CrystalBatch.from_structures(tiny_crystals(2), dtype=torch.float32)
    sigma = torch.tensor([0.1, 1.0])
    with torch.no_grad():
        expected = model(batch, sigma)
        assert float(expected.abs().max()) > 0
        torch.testing.assert_close(loaded(batch, sigma), expected, rtol=0, atol=0)


def test_volume_prior_slot_can_be_filled_later(tmp_path: Path, model: ScoreModel) -> None:
    path = save_checkpoint(tmp_path / "m.pt", model_config=model.config.to_dict(),
                           state_dict=model.state_dict(), metadata=_metadata(volume_prior=None))
    assert load_score_model(path)[1].volume_prior is None
    update_checkpoint_metadata(path, volume_prior={"Zn": 15.2})
    assert load_score_model(path)[1].volume_prior == {"Zn": 15.2}


def test_missing_and_corrupt_files(tmp_path: Path, model: ScoreModel) -> None:
    with pytest.raises(CheckpointError, match=r"checkpoint '.*nope\.pt' does not exist"):
        load_score_model(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 20)
    with pytest.raises(CheckpointError, match=r"checkpoint '.*junk\.pt' is corrupt"):
        load_score_model(junk)
    good = _save(tmp_path / "good.pt", model)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"checkpoint '.*truncated\.pt' is corrupt"):
        load_score_model(truncated)


class _NotAllowed:
    pass


def test_unsafe_content_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "unsafe.pt"
    torch.save({"format": "chggen-score-model", "thing": _NotAllowed()}, path)
    with pytest.raises(CheckpointError,
                       match=r"holds objects other than tensors and plain Python values"):
        read_checkpoint(path)


def test_foreign_newer_and_incomplete_files(tmp_path: Path, model: ScoreModel) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save(model.state_dict(), foreign)  # a bare state dict, as other tools write
    with pytest.raises(CheckpointError, match="is not a chggen score-model checkpoint"):
        load_score_model(foreign)
    good = torch.load(_save(tmp_path / "good.pt", model), weights_only=True)
    newer = tmp_path / "newer.pt"
    torch.save({**good, "format_version": 99}, newer)
    with pytest.raises(CheckpointError,
                       match=r"has format version 99; this chggen reads versions up to 1"):
        load_score_model(newer)
    incomplete = tmp_path / "incomplete.pt"
    torch.save({k: v for k, v in good.items() if k != "metadata"}, incomplete)
    with pytest.raises(CheckpointError, match=r"is missing \['metadata'\]"):
        load_score_model(incomplete)


def test_incompatible_configuration_or_weights(tmp_path: Path, model: ScoreModel) -> None:
    good = torch.load(_save(tmp_path / "good.pt", model), weights_only=True)
    bad_config = tmp_path / "bad_config.pt"
    torch.save({**good, "model_config": {**good["model_config"], "n_heads": 4}}, bad_config)
    with pytest.raises(CheckpointError,
                       match=r"has an incompatible model configuration: "
                             r"ScoreModelConfig.n_heads = 4: unknown field"):
        load_score_model(bad_config)
    other = tmp_path / "other.pt"
    torch.save({**good, "model_config": {**good["model_config"], "n_layers": 3}}, other)
    with pytest.raises(CheckpointError, match="the weights do not fit the model configuration"):
        load_score_model(other)
    bad_meta = tmp_path / "bad_meta.pt"
    torch.save({**good, "metadata": {**good["metadata"], "colour": "blue"}}, bad_meta)
    with pytest.raises(CheckpointError, match=r"has invalid metadata: .*\['colour'\]"):
        load_score_model(bad_meta)
