"""A campaign's plan in numbers, and what it will cost, known before any work starts.

:class:`PlanCounts` is computed from the configuration without expanding its tasks
(:meth:`campaign.config.model.CampaignConfig.plan_counts`); ``chggen check`` and ``--dry-run``
print it with the resources asked for and a cost estimate from measured per-candidate
costs (:func:`estimate_cost`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campaign.config.model import CampaignConfig

__all__ = ["CostEstimate", "PlanCounts", "describe_campaign", "estimate_cost", "score_evaluations"]


@dataclasses.dataclass(frozen=True)
class PlanCounts:
    """A campaign's plan in numbers: cells x lattice choices x seed blocks unconditional
    tasks of ``samples_per_task`` each; at most ``hosts`` inpainting hosts (a host is used
    only when its framework refines) of ``samples_per_host`` per inpainting mode."""

    cells: int
    lattice_choices: int
    seed_blocks: int
    unconditional_tasks: int
    unconditional_candidates: int
    hosts: int
    inpainting_candidates: int
    generation: str = "unconditional"  # how the first-stage candidates start

    @property
    def candidates(self) -> int:
        """Planned candidates, inpainted ones counted at their most."""
        return self.unconditional_candidates + self.inpainting_candidates

    def line(self) -> str:
        """One line for the user, e.g. ``plan: 8 cells x 1 lattice choice x 1 seed block =
        8 tasks; 16 unconditional + at most 8 inpainted = at most 24 candidates``
        (``16 first-stage (template) + ...`` when the first stage starts otherwise)."""
        first = "unconditional" if self.generation == "unconditional" else \
            f"first-stage ({self.generation})"
        return (f"plan: {self.cells:,} cells x {self.lattice_choices:,} lattice choices x "
                f"{self.seed_blocks:,} seed blocks = {self.unconditional_tasks:,} tasks; "
                f"{self.unconditional_candidates:,} {first} + at most "
                f"{self.inpainting_candidates:,} inpainted (from at most {self.hosts:,} hosts) "
                f"= at most {self.candidates:,} candidates")


# ------------------------------------------------------------------ cost estimate
#: Measured costs the estimate is built from (2-core CPU machine, shipped model):
#: score-model forward throughput, atom-steps per CPU-second (benchmarks/results/
#: sampler.json, batches of 64 crystals of 20 atoms, one thread) ...
ATOM_STEPS_PER_CPU_S = 416.0
#: ... CHGNet relaxation (FIRE + cell filter, fmax 0.1, batched), CPU-seconds per atom
#: (benchmarks/results/batched_relax.json: 2.4 CPU-s per structure of 8.9 atoms) ...
RELAX_CPU_S_PER_ATOM = 0.27
#: ... and what starting one worker costs (model, CHGNet, Ray), CPU-seconds.
WORKER_START_CPU_S = 15.0


def score_evaluations(sampler: dict, *, inpainting: bool, generation: str = "unconditional"
                      ) -> int:
    """Score evaluations of one sample under the resolved ``sampler`` settings (a
    :class:`~chggen_kernels.sampling.SamplerSettings` as a dict): predictor levels below
    the start plus corrector steps at the levels at or below ``corrector_sigma_max``,
    times the RePaint passes when inpainting. Levels are geometric in sigma. A first-stage
    sample of a template ``generation`` starts at ``TEMPLATE_SIGMA`` (Å), the others at
    the top of the schedule."""
    n_levels = int(sampler["n_levels"])
    n_corr = int(sampler["n_corrector_steps"])
    if inpainting:
        n_levels = int(sampler.get("inpaint_n_levels") or n_levels)
        n_corr = sampler.get("inpaint_n_corrector_steps")
        n_corr = int(sampler["n_corrector_steps"] if n_corr is None else n_corr)
    lo, hi = float(sampler["sigma_min"]), float(sampler["sigma_max"])

    def share_below(sigma: float | None) -> float:
        if sigma is None or sigma >= hi:
            return 1.0
        return max(0.0, math.log(sigma / lo) / math.log(hi / lo))

    if inpainting:
        start = share_below(sampler.get("start_sigma"))
    elif generation.startswith("template"):
        from chggen_kernels.templates import TEMPLATE_SIGMA

        start = share_below(TEMPLATE_SIGMA)
    else:
        start = 1.0
    levels = max(1, round(n_levels * start))
    corrected = round(n_levels * min(start, share_below(sampler.get("corrector_sigma_max"))))
    passes = int(sampler["resample_passes"]) if inpainting else 1
    return (levels + corrected * n_corr) * passes


@dataclasses.dataclass(frozen=True)
class CostEstimate:
    """CPU-seconds a plan will take, from the measured per-atom costs above (an estimate:
    relaxation steps vary by structure, and a loaded machine is slower)."""

    sampling_cpu_s: float
    relaxation_cpu_s: float
    startup_cpu_s: float
    cpus: float

    @property
    def total_cpu_s(self) -> float:
        return self.sampling_cpu_s + self.relaxation_cpu_s + self.startup_cpu_s

    def line(self) -> str:
        wall = self.total_cpu_s / max(self.cpus, 1.0)
        return (f"estimated cost: {self.total_cpu_s:,.0f} CPU-s (sampling "
                f"{self.sampling_cpu_s:,.0f}, relaxation {self.relaxation_cpu_s:,.0f}, "
                f"start-up {self.startup_cpu_s:,.0f}), about {_duration(wall)} on "
                f"{self.cpus:g} CPUs (estimate from measured per-atom costs; "
                "docs/reliability.md)")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_cost(*, unconditional_atoms: float, inpainting_atoms: float, sampler: dict,
                  workers: int, cpus: float, generation: str = "unconditional"
                  ) -> CostEstimate:
    """The cost of sampling and relaxing ``unconditional_atoms`` (first stage, started as
    ``generation``) and ``inpainting_atoms`` (sums of atoms per cell over the planned
    candidates) with ``sampler`` settings, on ``workers`` actors sharing ``cpus`` CPUs."""
    first = score_evaluations(sampler, inpainting=False, generation=generation)
    sampling = (unconditional_atoms * first
                + inpainting_atoms * score_evaluations(sampler, inpainting=True)) \
        / ATOM_STEPS_PER_CPU_S
    relax = (unconditional_atoms + inpainting_atoms) * RELAX_CPU_S_PER_ATOM
    return CostEstimate(sampling_cpu_s=sampling, relaxation_cpu_s=relax,
                        startup_cpu_s=workers * WORKER_START_CPU_S, cpus=cpus)


def describe_campaign(config: CampaignConfig) -> list[str]:
    """What ``chggen check`` / ``--dry-run`` print of a validated campaign: the plan, the
    actors and the resources they ask for, the sampler, the cost estimate."""
    from campaign.stages.resources import resolve_sampler_settings

    plan = config.plan_counts()
    res = config.resources
    sampler = dataclasses.asdict(resolve_sampler_settings(dict(config.sampler), None))
    cells = config.cell_compositions()
    per_cell = plan.lattice_choices * plan.seed_blocks * config.samples_per_task \
        if plan.unconditional_tasks else 0
    atoms = sum(sum(c.values()) for c in cells) * per_cell
    inpainted_share = plan.inpainting_candidates / max(plan.unconditional_candidates, 1)
    cpus = res.sampler_actors * res.cpus_per_sampler + res.relax_actors * \
        res.cpus_per_relax_actor
    first_stage = "" if config.generation == "unconditional" else \
        f" (first stage started as {config.generation})"
    cost = estimate_cost(unconditional_atoms=atoms, inpainting_atoms=atoms * inpainted_share,
                         sampler=sampler, workers=res.sampler_actors + res.relax_actors,
                         cpus=max(cpus, 1.0), generation=config.generation)

    def asked(cpu: float, gpu: float, custom: dict[str, float]) -> str:
        parts = [f"{cpu:g} CPU", f"{gpu:g} GPU", *(f"{v:g} {k}" for k, v in custom.items())]
        return ", ".join(parts)

    return [
        f"campaign {config.name!r}: modes {', '.join(config.modes)}"
        f"{first_stage}; output {config.output}",
        plan.line(),
        f"cells: {len(cells):,}, {min(sum(c.values()) for c in cells)}-"
        f"{max(sum(c.values()) for c in cells)} atoms",
        f"actors: {res.sampler_actors} sampler(s) asking "
        f"{asked(res.cpus_per_sampler, res.gpus_per_sampler, res.sampler_resources)} each; "
        f"{res.relax_actors} relaxation actor(s) asking "
        f"{asked(res.cpus_per_relax_actor, 0.0, res.relax_resources)} each",
        f"sampler: preset {sampler['preset']}, "
        f"{score_evaluations(sampler, inpainting=False, generation=config.generation)} "
        f"score evaluations per {config.generation} sample, "
        f"{score_evaluations(sampler, inpainting=True)} per inpainted one",
        f"hull: {config.hull.source}; relaxation: potential {config.relax.mlip}, fmax "
        f"{config.relax.fmax:g} eV/Å, at most {config.relax.max_steps} steps",
        cost.line(),
    ]
