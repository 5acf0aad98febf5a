"""Denoising score-matching training of a score model (eqn 6, weight sigma^2).

:class:`Trainer` owns the optimiser, the schedule, the exponential moving average (EMA) of
the weights, the batch order and the noise generator. It is deterministic for a given
seed and resumable bit for bit: :meth:`Trainer.training_state` holds everything that
changes during training as tensors and plain Python values (checkpoint-safe).

The model is any ``nn.Module`` with ``forward(batch, sigma) -> (n_atoms, 3)`` score in
Å^-1 that exposes ``config.to_dict()`` (:class:`~chggen_kernels.model.ScoreModel`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from chggen_kernels.crystal import CrystalBatch
from chggen_kernels.training.checkpoint import CheckpointMetadata, save_checkpoint
from chggen_kernels.training.settings import TrainSettings, sigma_bin_edges, sigma_bin_labels
from chggen_kernels.training.targets import (
    NoisyBatch,
    dsm_loss_per_crystal,
    perturb,
    sample_log_uniform_sigmas,
)

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = ["StepResult", "Trainer", "ValidationResult", "split_train_val"]

_VAL_SEED_OFFSET = 1_000_003


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded random split of ``range(n)``: at least one crystal on each side."""
    if n < 2:
        raise ValueError(f"need at least 2 crystals to hold some out for validation, got {n}")
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    order = np.random.default_rng(seed).permutation(n)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


@dataclasses.dataclass(frozen=True)
class StepResult:
    """One optimiser step: mean DSM loss of the batch, learning rate, gradient norm
    before clipping, crystals and atoms in the batch."""

    step: int
    loss: float
    lr: float
    grad_norm: float
    n_crystals: int
    n_atoms: int


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    """Validation DSM loss (EMA weights, fixed noise): overall and per sigma bin."""

    step: int
    loss: float
    loss_by_sigma: dict[str, float]
    n_samples: int


class Trainer:
    """DSM training loop state; call :meth:`train_step`, :meth:`validate` or :meth:`run`.

    Parameters
    ----------
    model
        Score model, trained in place; an EMA copy is kept in :attr:`ema_model`.
    train, val
        Training / validation crystals (pymatgen structures or a ``CrystalBatch``).
    settings
        :class:`TrainSettings`.
    data_hash
        Fingerprint of the training data, stored in checkpoints.
    device
        Where the model and the batches live.
    """

    def __init__(
        self,
        model: nn.Module,
        train: Sequence[Structure] | CrystalBatch,
        val: Sequence[Structure] | CrystalBatch,
        settings: TrainSettings,
        data_hash: str = "",
        device: torch.device | str = "cpu",
    ) -> None:
        if not isinstance(data_hash, str):
            raise TypeError(f"data_hash must be a string, got {type(data_hash).__name__}")
        self.settings = settings
        self.data_hash = data_hash
        self.device = torch.device(device)
        dtype = getattr(torch, settings.dtype)
        self.model = model.to(device=self.device, dtype=dtype)
        self.ema_model = copy.deepcopy(self.model).eval()
        for p in self.ema_model.parameters():
            p.requires_grad_(False)
        self.train_set = _as_batch(train, dtype, self.device)
        self.val_set = _as_batch(val, dtype, self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.lr)
        self.n_steps = self._total_steps()
        self.step = 0
        self.epoch = 0
        self.cursor = 0
        self.plateau_scale = 1.0
        self.plateau_best = math.inf
        self.plateau_bad = 0
        self.best_val_loss: float | None = None
        self.wall_time_s = 0.0
        self.noise_generator = torch.Generator().manual_seed(settings.seed)
        self._sizes = self.train_set.atoms_per_crystal.tolist()
        self._val_noisy = self._fixed_validation_noise()

    # ------------------------------------------------------------------ set-up
    def _total_steps(self) -> int:
        s = self.settings
        if s.epochs is None:
            return s.n_steps
        n = self.train_set.n_crystals
        if s.max_atoms_per_batch is None:
            per_epoch = math.ceil(n / s.batch_size)
        else:
            per_epoch = max(math.ceil(n / s.batch_size),
                            math.ceil(self.train_set.n_atoms / s.max_atoms_per_batch))
        return max(1, math.ceil(s.epochs * per_epoch))

    def _fixed_validation_noise(self) -> NoisyBatch:
        """Each validation crystal noised ``val_noise_draws`` times, one sigma per
        log-uniform stratum, with a generator independent of the training noise."""
        s = self.settings
        gen = torch.Generator().manual_seed(s.seed + _VAL_SEED_OFFSET)
        k = s.val_noise_draws
        clean = CrystalBatch.concat([self.val_set] * k)
        n_val = self.val_set.n_crystals
        stratum = torch.arange(k, dtype=torch.float64).repeat_interleave(n_val)
        u = (stratum + torch.rand(k * n_val, generator=gen, dtype=torch.float64)) / k
        lo, hi = math.log(s.sigma_min), math.log(s.sigma_max)
        sigma = torch.exp(lo + u * (hi - lo)).to(device=self.device, dtype=clean.dtype)
        return perturb(clean, sigma, generator=gen, exact_target=s.exact_target)

    # ------------------------------------------------------------------ batches
    def _permutation(self, epoch: int) -> list[int]:
        rng = np.random.default_rng([self.settings.seed, epoch])
        return rng.permutation(self.train_set.n_crystals).tolist()

    def _next_indices(self) -> list[int]:
        s = self.settings
        order = self._permutation(self.epoch)
        picked: list[int] = []
        atoms = 0
        while len(picked) < s.batch_size:
            if self.cursor >= len(order):
                if picked:
                    break
                self.epoch, self.cursor = self.epoch + 1, 0
                order = self._permutation(self.epoch)
            i = order[self.cursor]
            if (picked and s.max_atoms_per_batch is not None
                    and atoms + self._sizes[i] > s.max_atoms_per_batch):
                break
            picked.append(i)
            atoms += self._sizes[i]
            self.cursor += 1
        if self.cursor >= len(order):
            self.epoch, self.cursor = self.epoch + 1, 0
        return picked

    # ------------------------------------------------------------------ training
    def current_lr(self) -> float:
        return self.settings.lr * self.settings.lr_factor(self.step, self.plateau_scale)

    def train_step(self) -> StepResult:
        """One optimiser step on the next batch; updates the EMA weights."""
        s = self.settings
        start = time.perf_counter()
        self.model.train()
        clean = self.train_set[self._next_indices()]
        sigma = sample_log_uniform_sigmas(
            clean.n_crystals, s.sigma_min, s.sigma_max, generator=self.noise_generator,
            dtype=clean.dtype, device=self.device,
        )
        noisy = perturb(clean, sigma, generator=self.noise_generator,
                        exact_target=s.exact_target)
        score = self.model(noisy.batch, noisy.sigma)
        loss = dsm_loss_per_crystal(score, noisy).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at step {self.step}")
        lr = self.current_lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
        self.optimizer.step()
        self._update_ema()
        self.step += 1
        self.wall_time_s += time.perf_counter() - start
        return StepResult(self.step, float(loss.detach()), lr, float(grad_norm),
                          clean.n_crystals, clean.n_atoms)

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Warm-up of the decay so early averages are not dominated by the initial weights.
        decay = min(self.settings.ema_decay, (1 + self.step) / (10 + self.step))
        for ema_p, p in zip(self.ema_model.parameters(), self.model.parameters(), strict=True):
            ema_p.lerp_(p.detach(), 1 - decay)
        for ema_b, b in zip(self.ema_model.buffers(), self.model.buffers(), strict=True):
            ema_b.copy_(b)

    @torch.no_grad()
    def validate(self, use_ema: bool = True) -> ValidationResult:
        """DSM loss on the held-out crystals with the fixed noise, overall and per bin.

        Also advances the plateau schedule and :attr:`best_val_loss`.
        """
        s = self.settings
        model = self.ema_model if use_ema else self.model
        model.eval()
        start = time.perf_counter()
        noisy = self._val_noisy
        losses = []
        offsets = noisy.batch.offsets.tolist()
        for a in range(0, noisy.batch.n_crystals, s.batch_size):
            b = min(a + s.batch_size, noisy.batch.n_crystals)
            part = NoisyBatch(
                batch=noisy.batch[a:b],
                sigma=noisy.sigma[a:b],
                target=noisy.target[offsets[a] : offsets[b]],
            )
            losses.append(dsm_loss_per_crystal(model(part.batch, part.sigma), part))
        per_sample = torch.cat(losses).double().cpu()
        sigma = noisy.sigma.double().cpu()
        edges = sigma_bin_edges(s.sigma_min, s.sigma_max, s.n_sigma_bins)
        by_bin = {}
        for k, label in enumerate(sigma_bin_labels(edges)):
            inside = (sigma >= edges[k]) & (
                (sigma <= edges[k + 1]) if k == s.n_sigma_bins - 1 else (sigma < edges[k + 1])
            )
            if bool(inside.any()):
                by_bin[label] = float(per_sample[inside].mean())
        loss = float(per_sample.mean())
        if loss < self.plateau_best:
            self.plateau_best, self.plateau_bad = loss, 0
        else:
            self.plateau_bad += 1
            if self.plateau_bad >= s.plateau_patience:
                self.plateau_scale *= s.plateau_factor
                self.plateau_bad = 0
        self.wall_time_s += time.perf_counter() - start
        return ValidationResult(self.step, loss, by_bin, len(per_sample))

    def run(self, callback: Callable[[dict[str, Any]], None] | None = None) -> ValidationResult:
        """Train until :attr:`n_steps`, validating every ``val_every`` steps and at the end.

        ``callback`` receives ``{"event": "step", "step", "loss"}`` after every step,
        ``{"event": "train", ...}`` every ``log_every`` steps,
        ``{"event": "val", ..., "is_best": bool}`` after each validation and
        ``{"event": "checkpoint", "step": ...}`` every ``checkpoint_every`` steps.
        """
        s = self.settings
        emit = callback or (lambda record: None)
        result = None
        while self.step < self.n_steps:
            r = self.train_step()
            emit({"event": "step", "step": r.step, "loss": r.loss})
            if r.step % s.log_every == 0 or r.step == self.n_steps:
                emit({"event": "train", **dataclasses.asdict(r), "epoch": self.epoch})
            if r.step % s.val_every == 0 or r.step == self.n_steps:
                result = self.validate()
                is_best = self.best_val_loss is None or result.loss < self.best_val_loss
                if is_best:
                    self.best_val_loss = result.loss
                emit({"event": "val", **dataclasses.asdict(result), "is_best": is_best})
            if r.step % s.checkpoint_every == 0 or r.step == self.n_steps:
                emit({"event": "checkpoint", "step": r.step})
        return result if result is not None else self.validate()

    # ------------------------------------------------------------------ state
    def training_state(self) -> dict[str, Any]:
        """Everything needed to resume, as tensors and plain Python values."""
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "cursor": self.cursor,
            "plateau_scale": self.plateau_scale,
            "plateau_best": self.plateau_best,
            "plateau_bad": self.plateau_bad,
            "best_val_loss": self.best_val_loss,
            "wall_time_s": self.wall_time_s,
            "noise_generator": self.noise_generator.get_state(),
            "settings": self.settings.to_dict(),
        }

    def load_training_state(self, state: dict[str, Any], ema_state: dict[str, Any]) -> None:
        """Resume from :meth:`training_state` plus the EMA weights of the same checkpoint."""
        self.model.load_state_dict(state["model"])
        self.ema_model.load_state_dict(ema_state)
        self.optimizer.load_state_dict(state["optimizer"])
        for key in ("step", "epoch", "cursor", "plateau_scale", "plateau_best", "plateau_bad",
                    "best_val_loss", "wall_time_s"):
            setattr(self, key, state[key])
        self.noise_generator.set_state(state["noise_generator"])

    def metadata(self, volume_prior: dict[str, float] | None = None,
                 extra: dict[str, Any] | None = None) -> CheckpointMetadata:
        s = self.settings
        return CheckpointMetadata(
            data_hash=self.data_hash,
            sigma_min=s.sigma_min,
            sigma_max=s.sigma_max,
            steps=self.step,
            wall_time_s=self.wall_time_s,
            volume_prior=volume_prior,
            best_val_loss=self.best_val_loss,
            extra={"settings": s.to_dict(), "n_train": self.train_set.n_crystals,
                   "n_val": self.val_set.n_crystals, **(extra or {})},
        )

    def save(self, path: str | Path, volume_prior: dict[str, float] | None = None,
             extra: dict[str, Any] | None = None, resumable: bool = True) -> Path:
        """Write a checkpoint with the EMA weights (plus the training state if resumable)."""
        return save_checkpoint(
            path,
            model_config=self.model.config.to_dict(),
            state_dict=self.ema_model.state_dict(),
            metadata=self.metadata(volume_prior, extra),
            training_state=self.training_state() if resumable else None,
        )


def _as_batch(data: Sequence[Structure] | CrystalBatch, dtype: torch.dtype,
              device: torch.device) -> CrystalBatch:
    if isinstance(data, CrystalBatch):
        return data.to(device=device, dtype=dtype)
    return CrystalBatch.from_structures(list(data), dtype=dtype, device=device)
