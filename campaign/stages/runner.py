"""The stage runner: the CHGGen stages bound to their resources, for every command.

One :class:`StageRunner` holds the score model (with the sampler settings resolved against
its checkpoint: trained sigma range in Å, volume prior in Å^3/atom), CHGNet, the hull and
the model label, and runs the three stages on them:

* :meth:`StageRunner.generate`: specs -> generated candidates (one batched sampler call
  per mode);
* :meth:`StageRunner.relax_and_score`: one candidate -> its results row;
  :meth:`StageRunner.relax_and_score_many`: several, relaxed together (one batched CHGNet
  forward per optimiser step);
* :meth:`StageRunner.inpainting_specs`: one host row -> the specs of its inpainting task.

None of them raises: a failure becomes a failed candidate, a failed row or no specs (the
guard is written here once). The local runner (:mod:`campaign.jobs.chain`) and the Ray actors
(:mod:`campaign.distributed.workers`) both call a runner; :func:`build_runner` is the one
factory, and tests inject their own (``runner_factory=``) instead.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from campaign.engine.run import short_reason
from chggen_kernels.relax import RelaxSettings
from chggen_kernels.thermo.sources import DEFAULT_HULL_SOURCE
from chggen_kernels.workflow import (
    CandidateRecord,
    CandidateSpec,
    GeneratedCandidate,
    failed_row,
)

__all__ = [
    "CANDIDATES_PER_RELAX_CALL",
    "Runner",
    "RunnerFactory",
    "RunnerSettings",
    "StageRunner",
    "build_runner",
    "failed_row",
    "short_reason",
]

Progress = Callable[[str, int, int], None]  # (mode, noise levels done, total)

#: Candidates relaxed together by one :meth:`StageRunner.relax_and_score_many` call of the
#: local chain and (``resources.candidates_per_relax_call``) of a relaxation actor.
CANDIDATES_PER_RELAX_CALL = 4


@dataclasses.dataclass(frozen=True)
class RunnerSettings:
    """What a runner is bound to.

    Attributes:
        checkpoint: score-model checkpoint (``""``: the model shipped with chggen).
        sampler: sampler fields given explicitly (the rest: the checkpoint's sigma range
            and the :class:`~chggen_kernels.sampling.SamplerSettings` defaults).
        relax: relaxation settings (the potential: ``relax.mlip``, CHGNet by default).
        hull: ``offline`` | ``mp`` | ``none`` | a CSV/JSON file of reference energies.
        device: torch device of the score model (CHGNet: ``relax.device``).
    """

    checkpoint: str = ""
    sampler: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    relax: RelaxSettings = dataclasses.field(default_factory=RelaxSettings)
    hull: str = DEFAULT_HULL_SOURCE
    device: str = "cpu"


class Runner(Protocol):
    """What the local runner and the actors need of a runner (fakes implement it too)."""

    model_label: str

    def load(self, *, model: bool = True, relaxer: bool = True) -> None: ...

    def generate(self, specs: Sequence[CandidateSpec], progress: Progress | None = None
                 ) -> list[GeneratedCandidate]: ...

    def relax_and_score(self, candidate: GeneratedCandidate) -> CandidateRecord: ...

    def relax_and_score_many(self, candidates: Sequence[GeneratedCandidate]
                             ) -> list[CandidateRecord]: ...

    def inpainting_specs(self, host: Mapping[str, Any], guest_species: Sequence[str],
                         n_samples: int, *, task_id: str, campaign_seed: int, mode: str,
                         max_combinations: int, max_atoms: int | None
                         ) -> list[CandidateSpec]: ...


RunnerFactory = Callable[[RunnerSettings], Runner]


def _failed_candidate(spec: CandidateSpec, reason: str, settings: Mapping[str, Any],
                      label: str) -> GeneratedCandidate:
    return GeneratedCandidate(spec=spec, status="failed", structure=None, failure_reason=reason,
                              t_sample_s=0.0, sampler_settings=dict(settings),
                              model_checkpoint=label)


class StageRunner:
    """The stages bound to one model, sampler settings, relaxer and hull (module docstring).

    Resources load on first use, or all at once with :meth:`load` (actors load theirs
    in ``__init__``, so a bad checkpoint fails the actor's start, not a candidate).
    """

    def __init__(self, settings: RunnerSettings, relaxer: Any = None) -> None:
        """``relaxer``: an object with ``relax(structure) -> RelaxResult`` to use instead of
        CHGNet with ``settings.relax`` (e.g. a constrained relaxer of a benchmark)."""
        self.settings = settings
        self._model: Any = None
        self._relaxer: Any = relaxer
        self._batch_relaxer: Any = None
        self._hull: Any = None
        self._hull_loaded = False
        self._known_phases: Any = None  # read per formula on first use, kept
        self.model_label = ""
        self.sampler_settings: Any = None
        self.volume_prior: Any = None

    # ------------------------------------------------------------------ resources
    def load(self, *, model: bool = True, relaxer: bool = True) -> None:
        """Load the score model (and resolve the sampler settings) and/or CHGNet + hull."""
        from campaign.stages.resources import (
            load_model,
            load_relaxer,
            make_hull_provider,
            resolve_sampler_settings,
        )

        if model and self._model is None:
            loaded = load_model(self.settings.checkpoint, device=self.settings.device)
            self.sampler_settings = resolve_sampler_settings(self.settings.sampler,
                                                             loaded.metadata)
            self._model, self.model_label = loaded.model, loaded.label
            self.volume_prior = loaded.volume_prior
        if relaxer and self._relaxer is None:
            self._relaxer = load_relaxer(self.settings.relax)
        if relaxer and not self._hull_loaded:
            self._hull = make_hull_provider(self.settings.hull, relax=self.settings.relax)
            self._hull_loaded = True
        if relaxer and self._known_phases is None:
            from chggen_kernels.thermo.novelty import KnownPhaseLabeller

            self._known_phases = KnownPhaseLabeller()

    # ------------------------------------------------------------------ stages
    def generate(self, specs: Sequence[CandidateSpec], progress: Progress | None = None
                 ) -> list[GeneratedCandidate]:
        """One candidate per spec, in spec order (failures included, never raises)."""
        from chggen_kernels.workflow import generate

        specs = list(specs)
        try:
            self.load(model=True, relaxer=False)
            out = generate(self._model, specs, self.sampler_settings, self.model_label,
                           device=self.settings.device, progress=progress)
        except Exception as exc:  # noqa: BLE001 - the guard: a failed batch, never a crash
            traceback.print_exc()
            settings = self.sampler_settings.to_dict() if self.sampler_settings else {}
            return [_failed_candidate(s, short_reason("sampling", exc), settings,
                                      self.model_label) for s in specs]
        return out

    def relax_and_score(self, candidate: GeneratedCandidate) -> CandidateRecord:
        """The results row of one candidate (failed rows included, never raises)."""
        return self.relax_and_score_many([candidate])[0]

    def relax_and_score_many(self, candidates: Sequence[GeneratedCandidate]
                             ) -> list[CandidateRecord]:
        """The rows of several candidates, in order (failed rows included, never raises).

        Two or more go through one :class:`~chggen_kernels.relax.BatchRelaxer` call (the
        same CHGNet, settings and failure rules as one by one; final energies within
        1 meV/atom) when the relaxer is a CHGNet ``Relaxer``; any other relaxer is used
        through its ``relax_many`` (or ``relax``). A batch that raises is relaxed one by one
        inside :func:`~chggen_kernels.workflow.relax_and_score_many`, so only the culprit
        fails; what fails here (loading CHGNet or the hull) fails every candidate.
        """
        from chggen_kernels.workflow import failed_record, relax_and_score_many

        candidates = list(candidates)
        try:
            self.load(model=False, relaxer=True)
            records = relax_and_score_many(candidates, self._relaxer_for(len(candidates)),
                                           self._hull, known_phases=self._known_phases)
            if [getattr(r, "candidate_id", None) for r in records] == \
                    [c.spec.candidate_id for c in candidates]:
                return self._with_potential(records)
            reason = f"relaxation: stage returned {type(records).__name__} of wrong rows"
        except Exception as exc:  # noqa: BLE001 - the guard: failed rows, never a crash
            traceback.print_exc()
            reason = short_reason("relaxation", exc)
        return self._with_potential([failed_record(c, reason) for c in candidates])

    def _with_potential(self, records: list[CandidateRecord]) -> list[CandidateRecord]:
        """``records`` with the potential's columns (``mlip``, ``mlip_version``,
        ``mlip_weights_sha256``) set; left null when the potential cannot be resolved."""
        from campaign.stages.resources import potential_columns

        try:
            columns = potential_columns(self.settings.relax)
        except Exception:  # noqa: BLE001 - the rows stand without them
            return records
        for record in records:
            for name, value in columns.items():
                setattr(record, name, value)
        return records

    def _relaxer_for(self, n_candidates: int) -> Any:
        """The relaxer of ``n_candidates``: a BatchRelaxer sharing the CHGNet relaxer's
        model and settings for two or more, else the relaxer itself."""
        if n_candidates < 2:
            return self._relaxer
        if self._batch_relaxer is None:
            from chggen_kernels.relax import batch_relaxer_like

            self._batch_relaxer = batch_relaxer_like(self._relaxer) or self._relaxer
        return self._batch_relaxer

    def inpainting_specs(self, host: Mapping[str, Any], guest_species: Sequence[str],
                         n_samples: int, *, task_id: str, campaign_seed: int, mode: str,
                         max_combinations: int, max_atoms: int | None
                         ) -> list[CandidateSpec]:
        """The specs of one host's inpainting task (``[]``: no symmetric framework, or the
        refinement failed; never raises). ``host`` is the host's row as it is (the stage
        reads the columns it needs; no record is rebuilt from it)."""
        from chggen_kernels.workflow import inpainting_specs

        try:
            return inpainting_specs(host, list(guest_species), n_samples, task_id=task_id,
                                    campaign_seed=campaign_seed, mode=mode,
                                    max_combinations=max_combinations, max_atoms=max_atoms)
        except Exception:  # noqa: BLE001 - a host that cannot be refined yields no specs
            traceback.print_exc()
            return []


def build_runner(settings: RunnerSettings) -> StageRunner:
    """The real runner (CHGNet, the score model of ``settings.checkpoint``)."""
    return StageRunner(settings)
