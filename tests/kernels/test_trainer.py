"""Trainer: a tiny model learns to denoise; determinism, resuming, schedule, EMA, batching."""

import math

import pytest
import torch

from chggen_kernels.model import ScoreModel
from chggen_kernels.training import (
    Trainer,
    TrainSettings,
    read_checkpoint,
    sigma_bin_edges,
    sigma_bin_labels,
    split_train_val,
)
from chggen_kernels.training.tiny import tiny_crystals, tiny_model_config


def _trainer(n_crystals: int = 6, **settings) -> Trainer:
    structures = tiny_crystals(n_crystals, seed=1)
    base = {"batch_size": 2, "warmup_steps": 2, "n_steps": 4, "val_noise_draws": 3,
            "val_every": 1000, "log_every": 1000, "checkpoint_every": 1000}
    base.update(settings)
    torch.manual_seed(0)
    return Trainer(ScoreModel(tiny_model_config()), structures[:-2], structures[-2:],
                   TrainSettings(**base))


def _weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_tiny_model_validation_loss_falls_by_at_least_30_percent() -> None:
    """Rock salt, bcc and diamond cells (2-8 atoms); about 30 s on one idle core.

    Measured: 1.83 -> 0.96 (-47%, seed 0) and 1.85 -> 0.98 (-47%, seed 1).
    """
    structures = tiny_crystals(40, prototypes=("rocksalt", "bcc", "diamond"), seed=0)
    train_idx, val_idx = split_train_val(len(structures), 0.25, seed=0)
    settings = TrainSettings(n_steps=200, batch_size=16, lr=2e-2, warmup_steps=20,
                             ema_decay=0.98, val_every=200, log_every=50, grad_clip=1.0)
    torch.manual_seed(0)
    trainer = Trainer(ScoreModel(tiny_model_config()), [structures[i] for i in train_idx],
                      [structures[i] for i in val_idx], settings)
    before = trainer.validate()
    after = trainer.run()
    assert after.step == 200
    assert after.loss <= 0.7 * before.loss, (before, after)
    labels = sigma_bin_labels(sigma_bin_edges(0.01, 10.0, 3))
    assert list(after.loss_by_sigma) == labels == ["sigma[0.01,0.1)", "sigma[0.1,1)",
                                                     "sigma[1,10]"]
    # The small-noise bins are where denoising is learnable; both must improve.
    for label in labels[:2]:
        assert after.loss_by_sigma[label] < 0.8 * before.loss_by_sigma[label]


def test_training_is_deterministic_and_resumes_bit_for_bit(tmp_path) -> None:
    """A fresh trainer that loads a step-2 checkpoint reproduces an uninterrupted run."""
    straight = _trainer()
    for _ in range(4):
        straight.train_step()
    first = _trainer()
    for _ in range(2):
        first.train_step()
    path = first.save(tmp_path / "last.pt")
    payload = read_checkpoint(path)
    resumed = _trainer()
    resumed.load_training_state(payload["training_state"], payload["state_dict"])
    assert resumed.step == 2
    for _ in range(2):
        resumed.train_step()
    assert torch.equal(_weights(resumed.model), _weights(straight.model))
    assert torch.equal(_weights(resumed.ema_model), _weights(straight.ema_model))
    assert not torch.equal(_weights(resumed.model), _weights(first.model))


def test_ema_tracks_the_weights_with_a_warmed_up_decay() -> None:
    trainer = _trainer(ema_decay=0.999)
    before_model = _weights(trainer.model).clone()
    before_ema = _weights(trainer.ema_model).clone()
    assert torch.equal(before_model, before_ema)
    trainer.train_step()
    # first update uses decay min(0.999, 1/10) = 0.1
    expected = 0.1 * before_ema + 0.9 * _weights(trainer.model)
    torch.testing.assert_close(_weights(trainer.ema_model), expected)
    no_average = _trainer(ema_decay=0.0)
    no_average.train_step()
    assert torch.equal(_weights(no_average.ema_model), _weights(no_average.model))


def test_warmup_then_cosine_and_plateau_schedules() -> None:
    s = TrainSettings(lr=1.0, warmup_steps=10, n_steps=100, min_lr_factor=0.01)
    assert s.lr_factor(0) == pytest.approx(0.1)
    assert s.lr_factor(9) == pytest.approx(1.0)
    assert s.lr_factor(54) == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert s.lr_factor(99) == pytest.approx(0.01)  # the last step
    p = TrainSettings(schedule="plateau", warmup_steps=0, min_lr_factor=0.1)
    assert p.lr_factor(5, plateau_scale=0.6) == pytest.approx(0.6)
    assert p.lr_factor(5, plateau_scale=0.01) == pytest.approx(0.1)

    trainer = _trainer(schedule="plateau", plateau_patience=2, plateau_factor=0.5,
                       warmup_steps=0)
    for _ in range(3):  # same weights, same fixed noise: the loss never improves after #1
        trainer.validate()
    assert trainer.plateau_scale == 0.5
    assert trainer.current_lr() == pytest.approx(trainer.settings.lr * 0.5)


def test_batches_respect_the_atom_budget_and_cover_each_epoch_once() -> None:
    trainer = _trainer(n_crystals=14, batch_size=5, max_atoms_per_batch=12)
    sizes = trainer.train_set.atoms_per_crystal.tolist()
    seen: list[int] = []
    while trainer.epoch == 0:
        batch = trainer._next_indices()
        assert 1 <= len(batch) <= 5
        assert sum(sizes[i] for i in batch) <= 12 or len(batch) == 1
        seen.extend(batch)
    assert sorted(seen) == list(range(12))


def test_validation_noise_is_fixed_and_stratified_over_the_sigma_range() -> None:
    a, b = _trainer(val_noise_draws=6), _trainer(val_noise_draws=6)
    assert a.validate().loss == b.validate().loss
    sig = a._val_noisy.sigma.double()
    assert len(sig) == 2 * 6
    counts = torch.histc(torch.log10(sig), bins=3, min=-2, max=1)
    assert counts.tolist() == [4.0, 4.0, 4.0]


def test_settings_reject_bad_values_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"sigma_max \(0.001\) must be >= sigma_min"):
        TrainSettings(sigma_max=0.001)
    with pytest.raises(ValueError, match="TrainSettings.schedule must be 'cosine' or 'plateau'"):
        TrainSettings(schedule="linear")
    with pytest.raises(ValueError, match="TrainSettings.batch_size must be an integer >= 1"):
        TrainSettings(batch_size=0)
    with pytest.raises(ValueError,
                       match=r"TrainSettings.learning_rate = .*: unknown field \(known: "):
        TrainSettings.from_dict({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="need at least 2 crystals"):
        split_train_val(1, 0.1, 0)
