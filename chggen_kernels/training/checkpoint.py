"""Score-model checkpoints: one file, loadable with ``torch.load(weights_only=True)``.

A checkpoint is a ``torch.save`` of a dict holding only tensors and plain Python values:

=================  ==========================================================
key                content
=================  ==========================================================
format             ``"chggen-score-model"``
format_version     :data:`CHECKPOINT_VERSION` (int)
model_config       ``ScoreModelConfig.to_dict()``
state_dict         the weights used for sampling (the exponential moving average)
metadata           :class:`CheckpointMetadata` as a dict
training_state     optional: raw weights, optimiser, schedule and RNG state (resuming)
=================  ==========================================================

Files are written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from chggen_kernels.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from chggen_kernels.model import ScoreModel

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "CheckpointMetadata",
    "checkpoint_metadata",
    "load_score_model",
    "read_checkpoint",
    "save_checkpoint",
    "update_checkpoint_metadata",
]

CHECKPOINT_FORMAT = "chggen-score-model"
CHECKPOINT_VERSION = 1
_REQUIRED_KEYS = ("format", "format_version", "model_config", "state_dict", "metadata")


class CheckpointError(InputError, RuntimeError):
    """A checkpoint file is missing, corrupt or incompatible; the message names the path."""


@dataclasses.dataclass(frozen=True)
class CheckpointMetadata:
    """What a checkpoint says about its training.

    ``data_hash``: :func:`~chggen_kernels.training.data.dataset_hash` of the training set;
    ``sigma_min``/``sigma_max``: the trained noise range, Å; ``steps``: optimiser steps
    taken; ``wall_time_s``: training wall time, s; ``volume_prior``: per-element volume,
    Å^3/atom, or None; ``best_val_loss``: lowest validation loss seen (None before any
    validation); ``extra``: free plain-Python information (settings, data counts).
    """

    data_hash: str
    sigma_min: float
    sigma_max: float
    steps: int = 0
    wall_time_s: float = 0.0
    volume_prior: Mapping[str, float] | None = None
    best_val_loss: float | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["volume_prior"] = None if self.volume_prior is None else dict(self.volume_prior)
        out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointMetadata:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown metadata fields {unknown}")
        return cls(**data)


def save_checkpoint(
    path: str | Path,
    model_config: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    metadata: CheckpointMetadata,
    training_state: Mapping[str, Any] | None = None,
) -> Path:
    """Write one checkpoint file atomically; returns its path.

    ``state_dict`` should be the weights to sample with (the EMA); ``training_state``
    (resuming only) must itself hold only tensors and plain Python values.
    """
    path = Path(path)
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "model_config": dict(model_config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "metadata": metadata.to_dict(),
    }
    if training_state is not None:
        payload["training_state"] = dict(training_state)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint dict (``weights_only=True``, onto the CPU).

    Raises :class:`CheckpointError` naming the path for a missing file, a file that is not
    a torch archive, unsafe content, a foreign or newer format, or missing keys.
    """
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    if not path.is_file():
        raise CheckpointError(f"{where} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{where} is corrupt or holds objects other than tensors and plain Python "
            f"values ({_first_line(err)})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise CheckpointError(
            f"{where} is corrupt or not a torch checkpoint ({type(err).__name__}: "
            f"{_first_line(err)})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{where} is not a chggen score-model checkpoint")
    missing = [k for k in _REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"{where} is missing {missing}")
    version = payload["format_version"]
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{where} has format version {version!r}; this chggen reads versions up to "
            f"{CHECKPOINT_VERSION} (upgrade chggen)"
        )
    return payload


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def checkpoint_metadata(payload: Mapping[str, Any], path: str | Path) -> CheckpointMetadata:
    """The :class:`CheckpointMetadata` of a payload from :func:`read_checkpoint`."""
    try:
        return CheckpointMetadata.from_dict(payload["metadata"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} has invalid metadata: {err}") from None


def load_score_model(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[ScoreModel, CheckpointMetadata]:
    """Rebuild the :class:`~chggen_kernels.model.ScoreModel` of a checkpoint (EMA weights,
    eval mode) and return it with the metadata."""
    from chggen_kernels.model import ScoreModel, ScoreModelConfig

    payload = read_checkpoint(path)
    where = f"checkpoint {str(path)!r}"
    try:
        config = ScoreModelConfig.from_dict(payload["model_config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{where} has an incompatible model configuration: {err}") from None
    model = ScoreModel(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{where}: the weights do not fit the model configuration ({_first_line(err)})"
        ) from None
    model.to(device).eval()
    return model, checkpoint_metadata(payload, path)


def update_checkpoint_metadata(path: str | Path, **changes: Any) -> CheckpointMetadata:
    """Rewrite a checkpoint with some metadata fields replaced (e.g. ``volume_prior``)."""
    payload = read_checkpoint(path)
    try:
        metadata = dataclasses.replace(checkpoint_metadata(payload, path), **changes)
    except TypeError as err:
        raise CheckpointError(f"checkpoint {str(path)!r}: {err}") from None
    save_checkpoint(
        path,
        model_config=payload["model_config"],
        state_dict=payload["state_dict"],
        metadata=metadata,
        training_state=payload.get("training_state"),
    )
    return metadata
