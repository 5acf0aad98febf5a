"""Ray actors of the campaign: samplers (score model, GPU when asked) and relaxers (CHGNet).

The worker classes are plain Python (testable without Ray); :func:`start_samplers` and
:func:`start_relaxers` wrap them with ``ray.remote`` and the configuration's resources.
Both load their models once, in ``__init__``; an actor that crashes is restarted
(``max_restarts``) and the calls it was running are retried (``max_task_retries``).
Exceptions inside a stage never escape a worker method: they become failed candidates.
"""

from __future__ import annotations

import dataclasses
import os
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from campaign.config import CampaignConfig
from campaign.stage_api import Stages, failed_record, load_stages, settings_json
from chggen_kernels.workflow.records import CandidateRecord, CandidateSpec, GeneratedCandidate

__all__ = [
    "ActorPlan",
    "CampaignResourceError",
    "RelaxWorker",
    "SamplerWorker",
    "plan_actors",
    "start_relaxers",
    "start_samplers",
]


class CampaignResourceError(RuntimeError):
    """The cluster cannot host the requested actors; the message names the setting."""


def short_reason(stage: str, exc: BaseException) -> str:
    """``"<stage>: <ExceptionType>: <first line>"``, at most 500 characters."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = f"{stage}: {type(exc).__name__}: {lines[-1].strip() if lines else ''}"
    return text[:500]


def _set_threads(n_threads: int, uses_torch: bool) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(n_threads)
    if uses_torch:
        import torch

        torch.set_num_threads(n_threads)


def _device(use_gpu: bool) -> str:
    if not use_gpu:
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def _threads_for(cpus: float) -> int:
    return max(1, int(round(cpus)))


class SamplerWorker:
    """Holds the score model once and turns batches of specs into generated candidates."""

    def __init__(
        self,
        stages_module: str,
        stages_options: Mapping[str, Any],
        checkpoint: str,
        sampler_settings: Mapping[str, Any],
        n_threads: int,
        use_gpu: bool,
    ) -> None:
        self.stages: Stages = load_stages(stages_module, stages_options)
        _set_threads(n_threads, self.stages.uses_torch)
        self.device = _device(use_gpu)
        self.settings = self.stages.make_sampler_settings(dict(sampler_settings))
        self.score_fn, self.checkpoint = self.stages.load_score_model(checkpoint, self.device)

    def ready(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "device": self.device, "checkpoint": self.checkpoint}

    def _failed(self, spec: CandidateSpec, reason: str) -> GeneratedCandidate:
        settings = self.settings.to_dict() if hasattr(self.settings, "to_dict") else {}
        return GeneratedCandidate(
            spec=spec,
            status="failed",
            structure=None,
            failure_reason=reason,
            t_sample_s=0.0,
            sampler_settings=dict(settings) if isinstance(settings, Mapping) else {},
            model_checkpoint=self.checkpoint,
        )

    def generate_list(self, specs: Sequence[CandidateSpec]) -> list[GeneratedCandidate]:
        """One candidate per spec, in spec order (failures included, never raises)."""
        try:
            out = list(self.stages.generate(self.score_fn, specs, self.settings, self.checkpoint))
        except Exception as exc:
            traceback.print_exc()
            return [self._failed(spec, short_reason("sampling", exc)) for spec in specs]
        got = [getattr(c, "spec", None) for c in out]
        if [getattr(s, "candidate_id", None) for s in got] != [s.candidate_id for s in specs]:
            reason = f"sampling: stage returned {len(out)} candidates for {len(specs)} specs"
            return [self._failed(spec, reason) for spec in specs]
        return out

    def generate(self, specs: Sequence[CandidateSpec]) -> Any:
        """As :meth:`generate_list`, one Ray return value per spec (``num_returns``)."""
        out = self.generate_list(specs)
        return out[0] if len(out) == 1 else tuple(out)


class RelaxWorker:
    """Holds CHGNet and the hull once; relaxes, scores and refines frameworks."""

    def __init__(
        self,
        stages_module: str,
        stages_options: Mapping[str, Any],
        relax_settings: Mapping[str, Any],
        n_threads: int,
        hull_source: str,
        elements: Sequence[str],
    ) -> None:
        self.stages: Stages = load_stages(stages_module, stages_options)
        _set_threads(n_threads, self.stages.uses_torch)
        self.n_threads = n_threads
        self.relaxer = self.stages.make_relaxer(dict(relax_settings), n_threads)
        self.hull = self.stages.make_hull(hull_source, list(elements))

    def ready(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "threads": self.n_threads}

    def relax(self, candidate: GeneratedCandidate) -> CandidateRecord:
        """The results row of one candidate (failed rows included, never raises)."""
        spec = candidate.spec
        try:
            record = self.stages.relax_and_score(candidate, self.relaxer, self.hull)
        except Exception as exc:
            traceback.print_exc()
            record = None
            reason = short_reason("relaxation", exc)
        else:
            reason = f"relaxation: stage returned {type(record).__name__}"
            if isinstance(record, CandidateRecord) and record.candidate_id == spec.candidate_id:
                return record
        return failed_record(
            spec,
            reason,
            model_checkpoint=candidate.model_checkpoint,
            sampler_settings=settings_json(candidate.sampler_settings),
            t_sample_s=candidate.t_sample_s,
        )

    def inpainting_specs(
        self, host: Mapping[str, Any], guest_species: Sequence[str], n_samples: int, seed: int,
        mode: str = "inpaint", max_combinations: int = 64,
    ) -> list[CandidateSpec]:
        """Framework refinement of a host row; ``[]`` if it fails or stays P1.

        ``mode="inpaint-symmetric"``: the stage's specs get Wyckoff positions (or a recorded
        fallback) from :func:`chggen_kernels.workflow.symmetric.symmetric_specs`.
        """
        names = {f.name for f in dataclasses.fields(CandidateRecord)}
        record = CandidateRecord(**{k: v for k, v in host.items() if k in names})
        specs = list(self.stages.inpainting_specs(record, list(guest_species), n_samples, seed))
        if mode == "inpaint-symmetric" and specs:
            from chggen_kernels.workflow.symmetric import symmetric_specs

            specs = symmetric_specs(specs, seed=seed, max_combinations=max_combinations)
        return specs


@dataclasses.dataclass(frozen=True)
class ActorPlan:
    """How the actors will be placed: GPU use after fallback, and warnings to log."""

    use_gpu: bool
    warnings: tuple[str, ...] = ()


def plan_actors(config: CampaignConfig, cluster: Mapping[str, float]) -> ActorPlan:
    """Check the requested actors against the cluster's total resources.

    Without ``resources.wait_for_resources``: samplers asking for GPUs fall back to CPU
    when the cluster has none, and requests no node can ever satisfy are errors.
    """
    res = config.resources
    warnings: list[str] = []
    use_gpu = res.gpus_per_sampler > 0
    if use_gpu and cluster.get("GPU", 0) <= 0 and not res.wait_for_resources:
        warnings.append(
            f"resources.gpus_per_sampler = {res.gpus_per_sampler:g} but the cluster has no GPU: "
            "samplers run on CPU"
        )
        use_gpu = False
    if res.wait_for_resources:
        return ActorPlan(use_gpu=use_gpu, warnings=tuple(warnings))
    cpus = cluster.get("CPU", 0)
    wanted = res.sampler_actors * res.cpus_per_sampler + res.relax_actors * res.cpus_per_relax_actor
    if wanted > cpus + 1e-9:
        raise CampaignResourceError(
            f"resources: the actors need {wanted:g} CPUs (sampler_actors x cpus_per_sampler + "
            f"relax_actors x cpus_per_relax_actor) but the cluster has {cpus:g}; lower "
            "resources.relax_actors or set resources.wait_for_resources on an autoscaling cluster"
        )
    for field, wanted_resources in (
        ("sampler_resources", res.sampler_resources),
        ("relax_resources", res.relax_resources),
    ):
        for name, amount in wanted_resources.items():
            if cluster.get(name, 0) < amount:
                raise CampaignResourceError(
                    f"resources.{field}: {name} = {amount:g} but the cluster offers "
                    f"{cluster.get(name, 0):g}"
                )
    if use_gpu and cluster.get("GPU", 0) < res.gpus_per_sampler:
        raise CampaignResourceError(
            f"resources.gpus_per_sampler = {res.gpus_per_sampler:g} but the cluster has "
            f"{cluster.get('GPU', 0):g} GPUs"
        )
    return ActorPlan(use_gpu=use_gpu, warnings=tuple(warnings))


def _fault_options(config: CampaignConfig) -> dict[str, Any]:
    return {
        "max_restarts": config.resources.max_restarts,
        "max_task_retries": config.resources.max_task_retries,
    }


def start_samplers(config: CampaignConfig, plan: ActorPlan) -> list[Any]:
    import ray

    res = config.resources
    actor_class = ray.remote(SamplerWorker)
    options = {
        "num_cpus": res.cpus_per_sampler,
        "num_gpus": res.gpus_per_sampler if plan.use_gpu else 0,
        "resources": dict(res.sampler_resources),
        **_fault_options(config),
    }
    return [
        actor_class.options(**options).remote(
            config.stages.module,
            dict(config.stages.options),
            config.model.checkpoint,
            dict(config.sampler),
            _threads_for(res.cpus_per_sampler),
            plan.use_gpu,
        )
        for _ in range(res.sampler_actors)
    ]


def start_relaxers(config: CampaignConfig) -> list[Any]:
    import ray

    res = config.resources
    actor_class = ray.remote(RelaxWorker)
    options = {
        "num_cpus": res.cpus_per_relax_actor,
        "resources": dict(res.relax_resources),
        **_fault_options(config),
    }
    return [
        actor_class.options(**options).remote(
            config.stages.module,
            dict(config.stages.options),
            dict(config.relax),
            _threads_for(res.cpus_per_relax_actor),
            config.hull.source,
            config.elements,
        )
        for _ in range(res.relax_actors)
    ]
