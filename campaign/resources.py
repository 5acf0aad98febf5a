"""What the stages run with: the score model, its sampler settings, CHGNet and the hull.

Every command and every Ray actor obtains its resources here, so they are loaded and
resolved the same way everywhere:

* :func:`load_model`: the checkpoint the user named, else the model shipped with chggen
  (``chggen_kernels/data/default_model.pt``), with its label for the results
  (``model_checkpoint`` column), volume prior (Å^3/atom per element) and metadata;
* :func:`checkpoint_volume_prior`: the volume prior alone (the campaign driver plans
  lattices with it without loading the network);
* :func:`resolve_sampler_settings`: the sampler preset (``--sampler``, default
  ``DEFAULT_PRESET``), then the checkpoint's trained sigma range (Å), then what the user
  gave explicitly;
* :func:`load_relaxer`: CHGNet loaded once per process;
* :func:`make_hull_provider`: ``offline`` | ``mp`` | a CSV/JSON file | ``none``, checked
  before any work when a chemical system is given.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from chggen_kernels.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from chggen_kernels.lattice import VolumePrior
    from chggen_kernels.model import ScoreModel
    from chggen_kernels.relax import Relaxer, RelaxSettings
    from chggen_kernels.sampling import SamplerSettings
    from chggen_kernels.training import CheckpointMetadata
    from chggen_kernels.workflow import HullProvider

__all__ = [
    "DEFAULT_MODEL_NAME",
    "HullInputError",
    "LoadedModel",
    "ModelNotAvailableError",
    "checkpoint_volume_prior",
    "default_model_path",
    "load_model",
    "load_relaxer",
    "hull_coverage_of",
    "make_hull_provider",
    "resolve_sampler_settings",
    "resolve_volume_per_atom",
]

DEFAULT_MODEL_NAME = "default_model.pt"


class ModelNotAvailableError(InputError, RuntimeError):
    """No usable score model: no checkpoint given and none shipped, or a bad checkpoint."""


class HullInputError(InputError):
    """A hull source is unusable, or cannot score the requested chemical system: bad
    input, refused before any work (exit 2). Not the kernel's
    :class:`chggen_kernels.thermo.HullSourceError`, a source that fails while running."""


class LoadedModel(NamedTuple):
    """A score model ready for sampling and what is known about it.

    ``model`` is a score function (``model(batch, sigma)``, Å^-1); ``label`` identifies
    the checkpoint in the results (path, training-data hash and the sha256 of the weights
    file: ``chggen:default_model.pt@d4492dd8a908, weights sha256 65e6cd519d6e``);
    ``volume_prior`` is the checkpoint's per-element volume prior (None if it has none);
    ``metadata`` its :class:`~chggen_kernels.training.CheckpointMetadata` (trained sigma
    range in Å, ...).
    """

    model: ScoreModel
    label: str
    volume_prior: VolumePrior | None
    metadata: CheckpointMetadata


def default_model_path() -> Path:
    """Where the shipped model lives (``chggen_kernels/data/default_model.pt``)."""
    return Path(str(importlib.resources.files("chggen_kernels") / "data" / DEFAULT_MODEL_NAME))


def _checkpoint_path(checkpoint: str | Path | None) -> tuple[Path, str]:
    if checkpoint is None or str(checkpoint) == "":
        path = default_model_path()
        if not path.is_file():
            raise ModelNotAvailableError(
                "no score model: this installation ships no default model (expected "
                f"{path}); pass one with --checkpoint PATH (e.g. --checkpoint runs/li_si/best.pt)")
        return path, f"chggen:{DEFAULT_MODEL_NAME}"
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise ModelNotAvailableError(f"checkpoint {str(path)!r} does not exist (--checkpoint)")
    return path, str(path)


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
    """Load ``checkpoint`` (``None`` or ``""``: the shipped default model).

    Raises:
        ModelNotAvailableError: no checkpoint given and none shipped, or the checkpoint is
            missing, corrupt or incompatible (the message names the path).
    """
    from campaign.folder import file_sha256
    from chggen_kernels.training import CheckpointError, load_score_model

    path, label_base = _checkpoint_path(checkpoint)
    try:
        model, metadata = load_score_model(path, device=device)
    except CheckpointError as exc:
        raise ModelNotAvailableError(str(exc)) from None
    label = f"{label_base}@{metadata.data_hash[:12]}" if metadata.data_hash else label_base
    label += f", weights sha256 {file_sha256(path)[:12]}"  # same data, other weights
    prior = _volume_prior(metadata.volume_prior, f"checkpoint {str(path)!r}")
    return LoadedModel(model=model, label=label, volume_prior=prior, metadata=metadata)


def checkpoint_file(checkpoint: str | Path | None) -> Path:
    """The file of ``checkpoint`` (``None`` or ``""``: the shipped model); refuses a
    missing one (:class:`ModelNotAvailableError`, naming it)."""
    return _checkpoint_path(checkpoint)[0]


def checkpoint_metadata_of(checkpoint: str | Path | None) -> CheckpointMetadata:
    """The metadata of ``checkpoint`` (reads no weights into a model)."""
    from chggen_kernels.training import CheckpointError
    from chggen_kernels.training.checkpoint import checkpoint_metadata, read_checkpoint

    path = checkpoint_file(checkpoint)
    try:
        return checkpoint_metadata(read_checkpoint(path), path)
    except CheckpointError as exc:
        raise ModelNotAvailableError(str(exc)) from None


def checkpoint_volume_prior(checkpoint: str | Path | None) -> VolumePrior:
    """The checkpoint's volume prior (Å^3/atom), or the elemental-solid volumes of pymatgen
    when it has none; reads only the metadata."""
    from chggen_kernels.lattice import VolumePrior

    metadata = checkpoint_metadata_of(checkpoint)
    prior = _volume_prior(metadata.volume_prior, f"checkpoint {str(checkpoint_file(checkpoint))!r}")
    return prior if prior is not None else VolumePrior(element_volumes={})


def resolve_sampler_settings(explicit: Mapping[str, Any],
                             metadata: CheckpointMetadata | None) -> SamplerSettings:
    """Sampler settings: the preset named by ``explicit["preset"]`` (none given:
    :data:`~chggen_kernels.sampling.DEFAULT_PRESET`) over the field defaults, then the
    checkpoint's trained sigma range (Å), then the fields given explicitly (campaign
    ``sampler:`` section or command-line options). The preset name is recorded."""
    from chggen_kernels.sampling import DEFAULT_PRESET, SAMPLER_PRESETS, SamplerSettings

    values: dict[str, Any] = {"preset": DEFAULT_PRESET}
    if metadata is not None:
        values |= {"sigma_min": float(metadata.sigma_min),
                   "sigma_max": float(metadata.sigma_max)}
    values |= {k: v for k, v in explicit.items() if v is not None}
    preset_start = SAMPLER_PRESETS.get(values["preset"], {}).get("start_sigma")
    if preset_start is not None and "start_sigma" not in values:
        # a preset's partial start inside the checkpoint's trained range (Å)
        low = values.get("sigma_min", SamplerSettings.sigma_min)
        high = values.get("sigma_max", SamplerSettings.sigma_max)
        values["start_sigma"] = min(max(preset_start, low), high)
    return SamplerSettings.from_dict(values)


def resolve_volume_per_atom(composition: Mapping[str, int], given: float | None,
                            prior: VolumePrior | None) -> tuple[float, str]:
    """V0 in Å^3/atom and where it came from: ``given``, else the checkpoint's prior, else
    the elemental-solid volumes of pymatgen."""
    from chggen_kernels.lattice import VolumePrior

    if given is not None:
        if not given > 0:
            raise ValueError(f"volume_per_atom must be > 0 Å^3/atom, got {given!r}")
        return float(given), "given"
    if prior is not None:
        return prior.volume_per_atom(dict(composition)), "checkpoint volume prior"
    return VolumePrior(element_volumes={}).volume_per_atom(dict(composition)), \
        "elemental volumes (pymatgen)"


@functools.lru_cache(maxsize=2)
def _chgnet(device: str) -> Any:
    import contextlib
    import io
    import warnings

    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CHGNet.load(verbose=False, use_device=device)


def load_relaxer(settings: RelaxSettings) -> Relaxer:
    """A :class:`~chggen_kernels.relax.Relaxer`; CHGNet is loaded once per process."""
    from chggen_kernels.relax import Relaxer

    return Relaxer(settings, model=_chgnet(settings.device))


def make_hull_provider(source: str, chemsys: str | None = None) -> HullProvider | None:
    """``offline`` (shipped references), ``mp``, a CSV/JSON file, or ``none`` (no E_d).

    With ``chemsys`` (e.g. ``"Li-Si"``) the phase diagram is built at once, so a source that
    lacks an element or cannot be reached fails here, before any sampling.
    """
    from chggen_kernels.thermo import ThermoInputError, hull_source_from_name
    from chggen_kernels.workflow import HullProvider

    try:
        hull_source = hull_source_from_name(source)
    except ThermoInputError as exc:
        raise HullInputError(str(exc)) from None
    if hull_source is None:
        return None
    provider = HullProvider(hull_source)
    if chemsys is not None:
        try:
            provider.phase_diagram(chemsys)
        except Exception as exc:
            raise HullInputError(f"hull {provider.name} cannot score {chemsys}: {exc} "
                                  "(or pass --hull none to skip E_d)") from None
    return provider


def hull_coverage_of(provider: HullProvider, target: Any) -> Any:
    """The gaps of ``provider``'s hull for ``target`` (a chemical system such as
    ``"Mg-Si-O"`` or a composition such as ``"Mg2SiO4"`` or ``{"Mg": 2, "Si": 1, "O": 4}``):
    a :class:`chggen_kernels.thermo.coverage.HullCoverage` whose ``messages`` are the lines
    to warn with before ranking (e.g. ``offline hull: no known ternary Mg-Si-O phase; E_d
    of Mg2SiO4 is measured against binaries only``)."""
    from chggen_kernels.thermo.coverage import hull_coverage, parse_target

    elements = parse_target(target)[0]
    return hull_coverage(provider.source.entries(list(elements)), target,
                         hull_name=provider.name)
