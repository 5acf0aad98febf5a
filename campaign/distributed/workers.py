"""Ray actors of the campaign: thin remote wrappers around one stage runner each.

A :class:`SamplerWorker` builds its runner with the score model (GPU when asked), a
:class:`RelaxWorker` its runner with CHGNet and the hull; both load once, in
``__init__``, through the factory the driver was given (:func:`campaign.stages.runner.build_runner`
unless a test injects another). The never-raise guard is the runner's; an actor that
crashes is restarted (``max_restarts``) and its calls retried (``max_task_retries``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from campaign.config.model import CampaignConfig
from campaign.engine.ray_toolkit import ActorGroup, set_worker_threads
from campaign.stages.runner import RunnerFactory, RunnerSettings
from chggen_kernels.errors import RunFailedError
from chggen_kernels.relax.settings import RelaxSettings
from chggen_kernels.workflow.records import CandidateRecord, CandidateSpec, GeneratedCandidate

__all__ = [
    "ActorPlan",
    "CampaignResourceError",
    "RelaxWorker",
    "SamplerWorker",
    "plan_actors",
    "actor_groups",
    "auto_in_flight",
    "runner_settings",
]

SAMPLER_QUEUE_DEPTH = 2  # batches submitted per sampler actor (one running, one waiting)
RELAX_QUEUE_DEPTH = 2  # calls submitted per relaxation actor


def auto_in_flight(config: CampaignConfig) -> int:
    """Candidates the driver lets in flight when ``max_candidates_in_flight`` is not set:
    enough to keep every actor's queue full (sampler batches of the smallest cell, relaxation
    calls), at least 16 and at most 4,096."""
    res = config.resources
    smallest = min(sum(c.values()) for c in config.cell_compositions())
    per_batch = max(1, res.atoms_per_batch // max(1, smallest))
    return max(16, min(4096, SAMPLER_QUEUE_DEPTH * res.sampler_actors * per_batch
                       + 2 * RELAX_QUEUE_DEPTH * res.relax_actors
                       * res.candidates_per_relax_call))  # fmt: skip


class CampaignResourceError(RunFailedError):
    """The cluster cannot host the requested actors; the message names the setting."""


def _device(use_gpu: bool) -> str:
    if not use_gpu:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def runner_settings(config: CampaignConfig, n_threads: int | None = RelaxSettings.n_threads,
                    device: str = "cpu") -> RunnerSettings:
    """The runner settings of a campaign (relaxation threads from its resources)."""
    relax = dataclasses.replace(config.relax, n_threads=n_threads)
    return RunnerSettings(checkpoint=config.model.checkpoint, sampler=dict(config.sampler),
                          relax=relax, hull=config.hull.source, device=device)


def _node_id() -> str:
    """The Ray node this actor runs on (the driver tracks node losses with it)."""
    import ray

    return ray.get_runtime_context().get_node_id()


class SamplerWorker:
    """Holds one runner with the score model loaded; batches of specs -> candidates."""

    def __init__(self, factory: RunnerFactory, settings: RunnerSettings, n_threads: int,
                 use_gpu: bool) -> None:
        set_worker_threads(n_threads)
        settings = dataclasses.replace(settings, device=_device(use_gpu))
        self.runner = factory(settings)
        self.runner.load(model=True, relaxer=False)
        self.device = settings.device

    def ready(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "node": _node_id(), "device": self.device,
                "checkpoint": self.runner.model_label}

    def generate(self, specs: Sequence[CandidateSpec]) -> Any:
        """One candidate per spec (failures included), one Ray return value per spec."""
        out = self.runner.generate(specs)
        return out[0] if len(out) == 1 else tuple(out)


class RelaxWorker:
    """Holds one runner with CHGNet and the hull loaded; relaxes, scores, refines."""

    def __init__(self, factory: RunnerFactory, settings: RunnerSettings, n_threads: int
                 ) -> None:
        set_worker_threads(n_threads)
        self.n_threads = n_threads
        self.runner = factory(settings)
        self.runner.load(model=False, relaxer=True)

    def ready(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "node": _node_id(), "threads": self.n_threads}

    def relax(self, candidate: GeneratedCandidate) -> CandidateRecord:
        return self.runner.relax_and_score(candidate)

    def relax_many(self, *candidates: GeneratedCandidate) -> Any:
        """The rows of ``candidates`` relaxed together, one Ray return value each."""
        out = self.runner.relax_and_score_many(candidates)
        return out[0] if len(out) == 1 else tuple(out)

    def inpainting_specs(self, host: Mapping[str, Any], guest_species: Sequence[str],
                         n_samples: int, task_id: str, campaign_seed: int, mode: str,
                         max_combinations: int, max_atoms: int | None
                         ) -> list[CandidateSpec]:
        return self.runner.inpainting_specs(
            host, guest_species, n_samples, task_id=task_id, campaign_seed=campaign_seed,
            mode=mode, max_combinations=max_combinations, max_atoms=max_atoms)


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
            "samplers run on CPU")
        use_gpu = False
    if res.wait_for_resources:
        return ActorPlan(use_gpu=use_gpu, warnings=tuple(warnings))
    cpus = cluster.get("CPU", 0)
    wanted = res.sampler_actors * res.cpus_per_sampler + res.relax_actors * res.cpus_per_relax_actor
    if wanted > cpus + 1e-9:
        raise CampaignResourceError(
            f"resources: the actors need {wanted:g} CPUs (sampler_actors x cpus_per_sampler + "
            f"relax_actors x cpus_per_relax_actor) but the cluster has {cpus:g}; lower "
            "resources.relax_actors or set resources.wait_for_resources on an autoscaling cluster")
    for field, wanted_resources in (("sampler_resources", res.sampler_resources),
                                    ("relax_resources", res.relax_resources)):
        for name, amount in wanted_resources.items():
            if cluster.get(name, 0) < amount:
                raise CampaignResourceError(
                    f"resources.{field}: {name} = {amount:g} but the cluster offers "
                    f"{cluster.get(name, 0):g}")
    if use_gpu and cluster.get("GPU", 0) < res.gpus_per_sampler:
        raise CampaignResourceError(
            f"resources.gpus_per_sampler = {res.gpus_per_sampler:g} but the cluster has "
            f"{cluster.get('GPU', 0):g} GPUs")
    return ActorPlan(use_gpu=use_gpu, warnings=tuple(warnings))


def _threads_for(cpus: float) -> int:
    return max(1, int(round(cpus)))


def _fault_options(config: CampaignConfig) -> dict[str, Any]:
    return {"max_restarts": config.resources.max_restarts,
            "max_task_retries": config.resources.max_task_retries}


def actor_groups(config: CampaignConfig, plan: ActorPlan, factory: RunnerFactory
                 ) -> tuple[ActorGroup, ActorGroup]:
    """The sampler and relaxation actor groups of a campaign."""
    res = config.resources
    sampler_threads = _threads_for(res.cpus_per_sampler)
    relax_threads = _threads_for(res.cpus_per_relax_actor)
    samplers = ActorGroup(
        SamplerWorker,
        {"num_cpus": res.cpus_per_sampler,
         "num_gpus": res.gpus_per_sampler if plan.use_gpu else 0,
         "resources": dict(res.sampler_resources), **_fault_options(config)},
        (factory, runner_settings(config), sampler_threads, plan.use_gpu),
        res.sampler_actors, "sampler actor")
    relaxers = ActorGroup(
        RelaxWorker,
        {"num_cpus": res.cpus_per_relax_actor, "resources": dict(res.relax_resources),
         **_fault_options(config)},
        (factory, runner_settings(config, relax_threads), relax_threads),
        res.relax_actors, "relaxation actor")
    return samplers, relaxers
