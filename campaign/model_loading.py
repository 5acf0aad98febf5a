"""Find and load the score model for the single-process commands.

``load_default_or_given(checkpoint)`` loads the checkpoint the user named, else the model
shipped with chggen (``chggen_kernels/data/default_model.pt``) when the installation has
one, else raises :class:`ModelNotAvailableError` saying how to pass ``--checkpoint``.
Checkpoints are read by :func:`chggen_kernels.training.load_score_model`; the volume
prior stored in a checkpoint's metadata (Å^3/atom per element) comes back as a
:class:`~chggen_kernels.lattice.VolumePrior`.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # pragma: no cover
    from chggen_kernels.lattice import VolumePrior
    from chggen_kernels.model import ScoreModel
    from chggen_kernels.training import CheckpointMetadata

__all__ = [
    "DEFAULT_MODEL_NAME",
    "LoadedModel",
    "ModelNotAvailableError",
    "default_model_path",
    "load_default_or_given",
    "load_model",
]

DEFAULT_MODEL_NAME = "default_model.pt"


class ModelNotAvailableError(RuntimeError):
    """No usable score model: no checkpoint given and none shipped, or a bad checkpoint."""


class LoadedModel(NamedTuple):
    """A score model ready for sampling and what is known about it.

    ``model`` is a score function (``model(batch, sigma)``, Å^-1); ``label`` identifies
    the checkpoint in the results (``model_checkpoint`` column); ``volume_prior`` is the
    checkpoint's per-element volume prior (None if it has none); ``metadata`` is its
    :class:`~chggen_kernels.training.CheckpointMetadata` (trained sigma range in Å, ...).
    """

    model: ScoreModel
    label: str
    volume_prior: VolumePrior | None
    metadata: CheckpointMetadata


def default_model_path() -> Path:
    """Where the shipped model lives (``chggen_kernels/data/default_model.pt``)."""
    return Path(str(importlib.resources.files("chggen_kernels") / "data" / DEFAULT_MODEL_NAME))


def _volume_prior(element_volumes: Any, where: str) -> VolumePrior | None:
    from chggen_kernels.lattice import VolumePrior

    if not element_volumes:
        return None
    try:
        return VolumePrior(element_volumes=dict(element_volumes))
    except (TypeError, ValueError) as exc:
        raise ModelNotAvailableError(f"{where}: invalid volume_prior in the metadata: {exc}"
                                     ) from None


def load_model(checkpoint: str | Path | None, device: str = "cpu") -> LoadedModel:
    """Load ``checkpoint``, else the shipped default model (see the module docstring).

    Raises:
        ModelNotAvailableError: no checkpoint given and none shipped, or the checkpoint is
            missing, corrupt or incompatible (the message names the path).
    """
    from chggen_kernels.training import CheckpointError, load_score_model

    if checkpoint is None or str(checkpoint) == "":
        path = default_model_path()
        if not path.is_file():
            raise ModelNotAvailableError(
                "no score model: chggen does not ship a default model yet "
                f"(expected {path}); train one with the training package and pass it "
                "with --checkpoint PATH (e.g. --checkpoint runs/li_si/best.pt)"
            )
        label_base = f"chggen:{DEFAULT_MODEL_NAME}"
    else:
        path = Path(checkpoint).expanduser()
        label_base = str(path)
        if not path.is_file():
            raise ModelNotAvailableError(f"checkpoint {str(path)!r} does not exist (--checkpoint)")
    try:
        model, metadata = load_score_model(path, device=device)
    except CheckpointError as exc:
        raise ModelNotAvailableError(str(exc)) from None
    label = f"{label_base}@{metadata.data_hash[:12]}" if metadata.data_hash else label_base
    prior = _volume_prior(metadata.volume_prior, f"checkpoint {str(path)!r}")
    return LoadedModel(model=model, label=label, volume_prior=prior, metadata=metadata)


def load_default_or_given(
    checkpoint: str | Path | None, device: str = "cpu"
) -> tuple[ScoreModel, str, VolumePrior | None]:
    """``(score model, checkpoint label, volume prior or None)``; see :func:`load_model`."""
    loaded = load_model(checkpoint, device=device)
    return loaded.model, loaded.label, loaded.volume_prior
