"""The stage functions the campaign distributes, as one injectable :class:`Stages` object.

By default they come from ``chggen_kernels.workflow.stages``; tests and dry runs name
another module (``campaign.fake_stages``) in the configuration's ``stages`` section.
A stages module either defines ``make_stages(**options) -> Stages`` or the functions
themselves (then ``options`` must be empty):

* ``generate(score_fn, specs, sampler_settings, model_checkpoint="") -> list[GeneratedCandidate]``
* ``relax_and_score(candidate, relaxer, hull) -> CandidateRecord`` (never raises)
* ``inpainting_specs(record, guest_species, n_samples, seed) -> list[CandidateSpec]``
* ``load_score_model(checkpoint, device) -> (score_fn, checkpoint_name)``
  (``checkpoint == ""``: the shipped model)
* ``make_relaxer(relax_settings: dict, n_threads: int) -> relaxer``
  (default: ``Relaxer(RelaxSettings(**relax_settings, n_threads=n_threads))``)
* ``make_hull(source, elements) -> PhaseDiagramProvider`` (``source``: offline | mp | path)
* ``make_sampler_settings(values: dict) -> SamplerSettings``
  (default: ``SamplerSettings.from_dict``)

Every function runs inside an actor process; the driver never imports the module.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chggen_kernels.workflow.records import CandidateRecord, CandidateSpec, format_composition

__all__ = ["Stages", "StagesError", "failed_record", "load_stages", "utc_now"]


class StagesError(RuntimeError):
    """A stages module cannot be used; the message names the module and what is missing."""


@dataclasses.dataclass(frozen=True)
class Stages:
    """The workflow stage functions (see module docstring for the signatures)."""

    generate: Callable[..., Any]
    relax_and_score: Callable[..., Any]
    inpainting_specs: Callable[..., Any]
    load_score_model: Callable[[str, str], tuple[Any, str]]
    make_relaxer: Callable[[Mapping[str, Any], int], Any]
    make_hull: Callable[[str, Sequence[str]], Any]
    make_sampler_settings: Callable[[Mapping[str, Any]], Any]
    uses_torch: bool = True  # actors then set torch's thread count


def _default_make_relaxer(relax_settings: Mapping[str, Any], n_threads: int) -> Any:
    from chggen_kernels.relax import Relaxer, RelaxSettings

    return Relaxer(RelaxSettings(**{**dict(relax_settings), "n_threads": n_threads}))


def _default_make_sampler_settings(values: Mapping[str, Any]) -> Any:
    from chggen_kernels.sampling import SamplerSettings

    return SamplerSettings.from_dict(dict(values))


_REQUIRED = ("generate", "relax_and_score", "inpainting_specs", "load_score_model", "make_hull")
_DEFAULTS: dict[str, Callable[..., Any]] = {
    "make_relaxer": _default_make_relaxer,
    "make_sampler_settings": _default_make_sampler_settings,
}


def load_stages(module: str, options: Mapping[str, Any] | None = None) -> Stages:
    """Import a stages module and build its :class:`Stages`."""
    options = dict(options or {})
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise StagesError(f"stages module {module!r} cannot be imported ({exc})") from exc
    factory = getattr(mod, "make_stages", None)
    if factory is not None:
        stages = factory(**options)
        if not isinstance(stages, Stages):
            raise StagesError(f"stages module {module!r}: make_stages() returned {stages!r}")
        return stages
    if options:
        raise StagesError(
            f"stages module {module!r} has no make_stages(), so stages.options must be empty, "
            f"got {options}"
        )
    missing = [name for name in _REQUIRED if not callable(getattr(mod, name, None))]
    if missing:
        raise StagesError(f"stages module {module!r} lacks {', '.join(missing)}")
    functions = {name: getattr(mod, name) for name in _REQUIRED}
    for name, default in _DEFAULTS.items():
        functions[name] = getattr(mod, name, default)
    return Stages(**functions)


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def failed_record(spec: CandidateSpec, reason: str, **known: Any) -> CandidateRecord:
    """A ``status='failed'`` results row for a candidate that never got a real record.

    ``known`` fills further columns (e.g. ``model_checkpoint``); everything else that
    the spec does not determine is null.
    """
    from pymatgen.core import Composition

    composition = Composition(spec.composition)
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(CandidateRecord)}
    values.update(
        candidate_id=spec.candidate_id,
        task_id=spec.task_id,
        formula=composition.reduced_formula,
        composition=format_composition(spec.composition),
        chemsys=composition.chemical_system,
        n_atoms=spec.n_atoms,
        mode=spec.mode,
        parent_id=spec.parent_id,
        guest_species=",".join(spec.guest_species) or None,
        n_guest=spec.n_guest,
        lattice_family=spec.lattice_family,
        lattice_ratio=spec.lattice_ratio,
        volume_per_atom_prior=spec.volume_per_atom_prior,
        seed=spec.seed,
        status="failed",
        failure_reason=reason,
        spacegroup_framework=spec.spacegroup_framework,
        wyckoff_letters=spec.wyckoff_letters,
        symmetric_fallback=spec.symmetric_fallback,
        created_at=utc_now(),
    )
    unknown = set(known) - set(values)
    if unknown:
        raise ValueError(f"failed_record: unknown columns {sorted(unknown)}")
    values.update(known)
    return CandidateRecord(**values)


def settings_json(settings: Any) -> str:
    """JSON text of a settings object (``to_dict()``, a dataclass or a mapping)."""
    if hasattr(settings, "to_dict"):
        settings = settings.to_dict()
    elif dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        settings = dataclasses.asdict(settings)
    return json.dumps(settings, sort_keys=True, default=str)
