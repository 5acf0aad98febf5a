"""The real stages: ``chggen_kernels.workflow.stages`` plus the loaders actors need.

This is the campaign's default ``stages.module``. It adds to the kernel stage functions
what only an actor knows: the loaded score model (with its device and the volume prior
stored in its checkpoint), CHGNet, the hull and the sampler settings. Loading is shared
with the single-process commands (:mod:`campaign.model_loading`,
:mod:`campaign.single_process`), so both paths record the same checkpoint labels.

* ``load_score_model(checkpoint, device)``: ``checkpoint == ""`` is the shipped model;
  returns a :class:`LoadedModel` and the checkpoint label.
* ``generate``: fills ``volume_per_atom_prior`` (Å^3/atom) of unconditional specs that
  have none from the checkpoint's per-element volume prior (elemental-solid volumes
  when the checkpoint has none), then calls the kernel ``generate`` on the model's device.
* ``make_hull(source, elements)``: ``offline`` | ``mp`` | ``none`` | a CSV/JSON file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from campaign.stage_api import Stages

__all__ = ["LoadedModel", "make_stages", "write_untrained_checkpoint"]


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A score model on its device with the volume prior of its checkpoint."""

    model: Any
    device: str
    volume_prior: Any  # chggen_kernels.lattice.VolumePrior


def load_score_model(checkpoint: str, device: str) -> tuple[LoadedModel, str]:
    from campaign.model_loading import load_model
    from chggen_kernels.lattice import VolumePrior

    loaded = load_model(checkpoint or None, device=device)
    prior = loaded.volume_prior or VolumePrior(element_volumes={})
    return LoadedModel(model=loaded.model, device=device, volume_prior=prior), loaded.label


def generate(
    loaded: LoadedModel,
    specs: Sequence[Any],
    sampler_settings: Any,
    model_checkpoint: str = "",
) -> list[Any]:
    from chggen_kernels.workflow import stages

    filled = [
        dataclasses.replace(
            spec, volume_per_atom_prior=loaded.volume_prior.volume_per_atom(spec.composition)
        )
        if spec.mode == "unconditional" and spec.volume_per_atom_prior is None
        else spec
        for spec in specs
    ]
    return stages.generate(
        loaded.model, filled, sampler_settings, model_checkpoint, device=loaded.device
    )


def make_hull(source: str, elements: Sequence[str]) -> Any:
    from campaign.single_process import make_hull_provider

    return make_hull_provider(source)


def make_relaxer(relax_settings: Mapping[str, Any], n_threads: int) -> Any:
    from campaign.single_process import load_relaxer
    from chggen_kernels.relax import RelaxSettings

    return load_relaxer(RelaxSettings(**{**dict(relax_settings), "n_threads": n_threads}))


def make_sampler_settings(values: Mapping[str, Any]) -> Any:
    from chggen_kernels.sampling import SamplerSettings

    return SamplerSettings.from_dict(dict(values))


def make_stages() -> Stages:
    """The real stages (no options)."""
    from chggen_kernels.workflow import stages

    return Stages(
        generate=generate,
        relax_and_score=stages.relax_and_score,
        inpainting_specs=stages.inpainting_specs,
        load_score_model=load_score_model,
        make_relaxer=make_relaxer,
        make_hull=make_hull,
        make_sampler_settings=make_sampler_settings,
        uses_torch=True,
    )


def write_untrained_checkpoint(
    path: str | Path, volume_prior: Mapping[str, float] | None = None, seed: int = 0
) -> Path:
    """A tiny untrained score model (about 5k parameters) for smoke tests and benchmarks.

    Its samples are noise, but every stage runs on them exactly as on a trained model's.
    ``volume_prior``: per-element volumes, Å^3/atom (default: none, elemental volumes).
    """
    import torch

    from chggen_kernels.model import ScoreModel, cpu_default_config
    from chggen_kernels.training import CheckpointMetadata, save_checkpoint

    torch.manual_seed(seed)
    config = cpu_default_config(n_layers=1, hidden_irreps="8x0e+4x1o")
    model = ScoreModel(config)
    metadata = CheckpointMetadata(
        data_hash="untrained",
        sigma_min=0.01,
        sigma_max=10.0,
        volume_prior=dict(volume_prior) if volume_prior else None,
    )
    return save_checkpoint(path, config.to_dict(), model.state_dict(), metadata)
