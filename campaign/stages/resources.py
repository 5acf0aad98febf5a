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
* :func:`load_relaxer`: the run's potential (CHGNet by default, ``RelaxSettings.mlip``)
  loaded once per process (:func:`load_calculator` for the others);
* :func:`make_hull_provider`: ``offline`` | ``mp`` | a CSV/JSON file | ``none``, checked
  before any work when a chemical system is given; ``offline`` with another potential is
  the shipped known phases relaxed with it (cached on disk).
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Mapping, Sequence
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
    "check_potential",
    "load_calculator",
    "load_relaxer",
    "potential_columns",
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


def _checkpoint_path(checkpoint: str | Path | None,
                     where: str = "--checkpoint") -> tuple[Path, str]:
    """The one resolution of a checkpoint: ``None`` (the one sentinel; ``""`` is read the
    same) is the shipped model; either file must exist. ``where`` names the option or
    field the path came from in the message."""
    if checkpoint is None or str(checkpoint) == "":
        path = default_model_path()
        if not path.is_file():
            raise ModelNotAvailableError(
                "no score model: this installation ships no default model (expected "
                f"{path}); pass one with --checkpoint PATH (e.g. --checkpoint runs/li_si/best.pt)")
        return path, f"chggen:{DEFAULT_MODEL_NAME}"
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise ModelNotAvailableError(f"checkpoint {str(path)!r} does not exist ({where})")
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
    from campaign.engine.folder import file_sha256
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


def checkpoint_file(checkpoint: str | Path | None, where: str = "--checkpoint") -> Path:
    """The file of ``checkpoint`` (``None`` or ``""``: the shipped model); refuses a
    missing one (:class:`ModelNotAvailableError`, naming it and ``where`` it was given)."""
    return _checkpoint_path(checkpoint, where)[0]


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
    :data:`~chggen_kernels.sampling.DEFAULT_PRESET`, the field defaults) over the field
    defaults, then the checkpoint's trained sigma range (Å), then the fields given
    explicitly (campaign ``sampler:`` section or command-line options; ``None``: not
    given). The preset name is recorded; a partial start not given is kept inside the
    sigma range (:meth:`~chggen_kernels.sampling.SamplerSettings.from_dict`)."""
    from chggen_kernels.sampling import DEFAULT_PRESET, SamplerSettings

    values: dict[str, Any] = {"preset": DEFAULT_PRESET}
    if metadata is not None:
        values |= {"sigma_min": float(metadata.sigma_min),
                   "sigma_max": float(metadata.sigma_max)}
    values |= {k: v for k, v in explicit.items() if v is not None}
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


@functools.lru_cache(maxsize=4)
def load_calculator(mlip: str, device: str = "cpu") -> Any:
    """The ASE calculator of the potential ``mlip`` on ``device``, made once per process
    (the factory is called here the first time).

    Raises:
        PotentialError: an unknown or unimportable potential, a factory that raises or
            returns no calculator (one line, exit 2).
    """
    from chggen_kernels.relax.potentials import resolve_potential

    return resolve_potential(mlip).calculator(device)


def load_relaxer(settings: RelaxSettings) -> Relaxer:
    """A :class:`~chggen_kernels.relax.Relaxer` of ``settings.mlip``; the potential (CHGNet
    by default) is loaded once per process and shared by every relaxer on its device."""
    from chggen_kernels.relax import DEFAULT_MLIP, Relaxer

    if settings.mlip == DEFAULT_MLIP:
        return Relaxer(settings, model=_chgnet(settings.device))
    return Relaxer(settings, model=load_calculator(settings.mlip, settings.device))


def check_potential(settings: RelaxSettings) -> Any:
    """The resolved potential of ``settings.mlip``, its calculator made at once unless it
    is CHGNet (loaded when the first candidate relaxes), so that a bad potential is
    refused before any candidate: an unknown name or a module that cannot be imported, a
    factory that raises or returns no calculator (:class:`~chggen_kernels.relax.potentials
    .PotentialError`, one line, exit 2)."""
    from chggen_kernels.relax import DEFAULT_MLIP
    from chggen_kernels.relax.potentials import resolve_potential

    potential = resolve_potential(settings.mlip)
    if settings.mlip != DEFAULT_MLIP:
        load_calculator(settings.mlip, settings.device)
    return potential


def potential_columns(settings: RelaxSettings) -> dict[str, str]:
    """The ``mlip``, ``mlip_version`` and ``mlip_weights_sha256`` columns of the rows a
    relaxation with ``settings`` makes."""
    from chggen_kernels.relax.potentials import resolve_potential

    return resolve_potential(settings.mlip).columns()


def _potential_hull(mlip: str, device: str, progress: bool) -> Any:
    """The hull source of ``mlip``, one per process and cache folder (``$CHGGEN_CACHE``
    read now)."""
    from chggen_kernels.files import user_cache_dir

    return _potential_hull_in(mlip, device, progress, str(user_cache_dir() / "hulls"))


@functools.lru_cache(maxsize=4)
def _potential_hull_in(mlip: str, device: str, progress: bool, cache_dir: str) -> Any:
    from chggen_kernels.relax.potentials import resolve_potential
    from chggen_kernels.thermo.potential_hull import PotentialHullSource, hull_relax_settings

    return PotentialHullSource(
        resolve_potential(mlip), lambda: load_relaxer(hull_relax_settings(mlip, device)),
        device=device, cache_dir=cache_dir, log=_stderr if progress else None)


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def make_hull_provider(source: str, chemsys: str | Sequence[str] | None = None,
                       relax: RelaxSettings | None = None, progress: bool = True
                       ) -> HullProvider | None:
    """``offline`` (shipped references), ``mp``, a CSV/JSON file, or ``none`` (no E_d).

    ``relax``: the settings of the run's relaxations. With another potential than CHGNet
    (``relax.mlip``), ``offline`` is the shipped known phases relaxed with that potential
    (:class:`~chggen_kernels.thermo.potential_hull.PotentialHullSource`, cached on disk;
    energies of two potentials never share a diagram); ``mp`` and a file are used as given.

    With ``chemsys`` (e.g. ``"Li-Si"``, or several) each phase diagram is built at once, so
    a source that lacks an element or cannot be reached fails here, before any sampling;
    a potential's hull is relaxed here (progress on stderr unless ``progress`` is false),
    and one line says where it came from, or warns how many phases differ from the CHGNet
    hull's.
    """
    from chggen_kernels.relax import DEFAULT_MLIP
    from chggen_kernels.relax.potentials import PotentialError
    from chggen_kernels.thermo import ThermoInputError, hull_source_from_name
    from chggen_kernels.workflow import HullProvider

    try:
        hull_source = hull_source_from_name(source)
    except ThermoInputError as exc:
        raise HullInputError(str(exc)) from None
    if hull_source is None:
        return None
    if source == "offline" and relax is not None and relax.mlip != DEFAULT_MLIP:
        hull_source = _potential_hull(relax.mlip, relax.device, progress)
    provider = HullProvider(hull_source)
    systems = [chemsys] if isinstance(chemsys, str) else list(chemsys or [])
    for system in systems:
        try:
            if hasattr(hull_source, "prepare"):
                build = hull_source.prepare(system)
                if build.differ:
                    _stderr(f"chggen: warning: {build.line(hull_source.label)}")
                elif progress:
                    _stderr(build.line(hull_source.label))
            provider.phase_diagram(system)
        except PotentialError:
            raise
        except Exception as exc:
            raise HullInputError(f"hull {provider.name} cannot score {system}: {exc} "
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
