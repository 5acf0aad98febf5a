"""Training settings (:class:`TrainSettings`) and the learning-rate schedule."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

from chggen_kernels.settings import check_int

__all__ = ["TrainSettings", "sigma_bin_edges", "sigma_bin_labels"]

Schedule = Literal["cosine", "plateau"]


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Denoising score-matching hyper-parameters.

    Noise: ``sigma_min``/``sigma_max`` (Å), one sigma per crystal with log(sigma) uniform
    (reference range 0.01-10 Å); ``exact_target`` uses the wrapped-Gaussian score
    (``False``: the reference minimum-image target).

    Batches: ``batch_size`` crystals per step; with ``max_atoms_per_batch`` a batch is
    filled with crystals until the next would exceed that many atoms (at most
    ``batch_size`` crystals, at least one).

    Optimiser: Adam with ``lr``, linear warm-up over ``warmup_steps``; then ``"cosine"``
    decay from ``lr`` (end of warm-up) to ``lr * min_lr_factor`` (last step), or
    ``"plateau"`` (reference): multiply by ``plateau_factor`` after ``plateau_patience``
    validations without improvement, not below ``lr * min_lr_factor``. Gradient norm
    clipped to ``grad_clip``; ``ema_decay`` for the averaged weights used in validation
    and checkpoints.

    Length: ``n_steps`` optimiser steps, or ``epochs`` passes over the training crystals
    (overrides ``n_steps`` when given).

    Validation: ``val_fraction`` of the crystals held out (at least one); each is noised
    ``val_noise_draws`` times with fixed, stratified log-uniform sigmas; the loss is
    reported overall and in ``n_sigma_bins`` log-spaced sigma bins.

    ``seed`` fixes the split, the batch order and the noise; ``log_every``,
    ``val_every`` and ``checkpoint_every`` are in steps. ``dtype`` of model and data.
    """

    sigma_min: float = 0.01
    sigma_max: float = 10.0
    exact_target: bool = True
    batch_size: int = 16
    max_atoms_per_batch: int | None = None
    lr: float = 1e-3
    warmup_steps: int = 100
    schedule: Schedule = "cosine"
    min_lr_factor: float = 0.01
    plateau_factor: float = 0.6
    plateau_patience: int = 5
    grad_clip: float = 0.5
    ema_decay: float = 0.999
    n_steps: int = 10_000
    epochs: float | None = None
    val_fraction: float = 0.1
    val_noise_draws: int = 6
    n_sigma_bins: int = 3
    seed: int = 0
    log_every: int = 10
    val_every: int = 200
    checkpoint_every: int = 1000
    dtype: Literal["float32", "float64"] = "float32"

    def __post_init__(self) -> None:
        _positive("sigma_min", self.sigma_min)
        _positive("sigma_max", self.sigma_max)
        if self.sigma_max < self.sigma_min:
            raise ValueError(
                f"TrainSettings.sigma_max ({self.sigma_max}) must be >= sigma_min "
                f"({self.sigma_min})"
            )
        for name in ("batch_size", "n_steps", "val_noise_draws", "n_sigma_bins", "log_every",
                     "val_every", "checkpoint_every", "plateau_patience"):
            _positive_int(name, getattr(self, name))
        _positive_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.max_atoms_per_batch is not None:
            _positive_int("max_atoms_per_batch", self.max_atoms_per_batch)
        _positive("lr", self.lr)
        _positive("grad_clip", self.grad_clip)
        if self.epochs is not None:
            _positive("epochs", self.epochs)
        for name in ("min_lr_factor", "plateau_factor"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"TrainSettings.{name} must lie in (0, 1], got {value!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"TrainSettings.ema_decay must lie in [0, 1), got {self.ema_decay!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(
                f"TrainSettings.val_fraction must lie in (0, 1), got {self.val_fraction!r}"
            )
        if self.schedule not in ("cosine", "plateau"):
            raise ValueError(
                f"TrainSettings.schedule must be 'cosine' or 'plateau', got {self.schedule!r}"
            )
        if self.dtype not in ("float32", "float64"):
            raise ValueError(
                f"TrainSettings.dtype must be 'float32' or 'float64', got {self.dtype!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainSettings:
        """Inverse of :meth:`to_dict`; an unknown key is an error naming it."""
        from chggen_kernels.settings import reject_unknown

        reject_unknown(data, [f.name for f in dataclasses.fields(cls)], "TrainSettings")
        return cls(**data)

    def lr_factor(self, step: int, plateau_scale: float = 1.0) -> float:
        """Multiplier of ``lr`` for optimiser step ``step`` (0-based)."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.schedule == "cosine":
            span = max(1, self.n_steps - self.warmup_steps)
            progress = min(1.0, max(0.0, (step + 1 - self.warmup_steps) / span))
            decay = self.min_lr_factor + (1 - self.min_lr_factor) * 0.5 * (
                1 + math.cos(math.pi * progress)
            )
        else:
            decay = max(self.min_lr_factor, plateau_scale)
        return warm * decay


def sigma_bin_edges(sigma_min: float, sigma_max: float, n_bins: int) -> list[float]:
    """``n_bins + 1`` log-spaced edges from ``sigma_min`` to ``sigma_max`` (Å)."""
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    return [math.exp(lo + (hi - lo) * k / n_bins) for k in range(n_bins + 1)]


def sigma_bin_labels(edges: list[float]) -> list[str]:
    """Labels like ``sigma[0.01,0.1)``; the last bin is closed."""
    n = len(edges) - 1
    return [
        f"sigma[{edges[k]:.3g},{edges[k + 1]:.3g}" + ("]" if k == n - 1 else ")")
        for k in range(n)
    ]


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"TrainSettings.{name} must be a positive finite number, got {value!r}")


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    check_int("TrainSettings", name, value, minimum)
