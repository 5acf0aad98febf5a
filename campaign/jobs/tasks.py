"""Campaign tasks: the configuration's blocks of samples, named by the planning rules.

A task is the unit of resumption: its candidates are written together as one Parquet
file named after the task id, so a rerun skips every task whose file exists. Ids, seeds
and lattices come from :mod:`chggen_kernels.workflow.planning` (the rules ``chggen
generate`` follows too):

* unconditional task id: (cell composition, lattice family, ratio, the configured volume
  per atom, samples per task, seed block, campaign seed);
* inpainting task id: (mode, host candidate id, guest species, samples per host, campaign
  seed; plus the Wyckoff-combination cap for ``inpaint-symmetric``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from campaign.config.compositions import parse_formula
from campaign.config.model import CampaignConfig
from chggen_kernels.workflow import (
    INPAINT_MODES,
    CandidateSpec,
    candidate_id,
    format_composition,
    inpainting_task_id,
    unconditional_specs,
    unconditional_task_id,
)

__all__ = [
    "Task",
    "count_unconditional_tasks",
    "first_stage_task_id",
    "inpainting_task",
    "part_rows_checker",
    "task_specs",
    "unconditional_tasks",
]


@dataclasses.dataclass(frozen=True)
class Task:
    """A block of ``n_samples`` candidates of one composition, lattice choice and mode.

    For inpainting tasks ``composition`` is the host candidate's cell composition,
    ``parent_id`` its candidate id and ``host`` its row (what the framework is refined
    from). ``start_rank``: the template rank a template-mode task starts from (the tasks
    of one composition, over lattice choices and seed blocks, go on down the ranking
    instead of repeating its top).
    """

    task_id: str
    mode: str
    composition: dict[str, int]
    n_samples: int
    lattice_family: str | None = None
    lattice_ratio: str | None = None
    seed_block: int = 0
    start_rank: int = 0
    parent_id: str | None = None
    host: dict[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def n_atoms(self) -> int:
        return int(sum(self.composition.values()))

    @property
    def formula(self) -> str:
        return format_composition(self.composition)


def unconditional_tasks(config: CampaignConfig) -> Iterator[Task]:
    """Every unconditional task of the campaign, lazily, in a deterministic order."""
    if "unconditional" not in config.modes:
        return
    pairs = config.lattice.combinations()
    for composition in config.cell_compositions():
        for index, (family, ratio) in enumerate(pairs):
            for block in range(config.seed_blocks):
                rank = (index * config.seed_blocks + block) * config.samples_per_task
                yield Task(
                    task_id=first_stage_task_id(
                        config.generation, composition, family, ratio,
                        config.volume_per_atom, config.samples_per_task, block, config.seed,
                        start_rank=rank),
                    mode="unconditional", composition=dict(composition),
                    n_samples=config.samples_per_task, lattice_family=family,
                    lattice_ratio=ratio, seed_block=block, start_rank=rank)


def count_unconditional_tasks(config: CampaignConfig) -> int:
    if "unconditional" not in config.modes:
        return 0
    return len(config.cell_compositions()) * len(config.lattice.combinations()) * (
        config.seed_blocks)


def first_stage_task_id(generation: str, composition: Mapping[str, int], family: str,
                        ratio: str | None, volume_given: float | None, n_samples: int,
                        block: int, seed: int, *, start_rank: int = 0) -> str:
    """Task id of a first-stage task (``chggen generate`` names its one task the same way,
    block 0 with the default lattice): the unconditional one as before, another generation
    mode's its own, so a folder never mixes them under one id. ``volume_given``: the V0
    (Å^3/atom) the user fixed, ``None`` for the prior's. A template task's first rank is
    part of its id (from rank 1 on), so a part on disk always holds the ranks its id says,
    whatever the lattice choices and seed blocks around it."""
    task_id = unconditional_task_id(composition, family, ratio, volume_given, n_samples,
                                    block, seed)
    if generation == "unconditional":
        return task_id
    from chggen_kernels.workflow.planning import short_hash

    if generation.startswith("template") and start_rank:
        return short_hash(generation, task_id, start_rank)
    return short_hash(generation, task_id)


def task_specs(task: Task, campaign_seed: int, volume_per_atom: float,
               generation: str = "unconditional", starts: Any = None) -> list[CandidateSpec]:
    """The candidate specs of a first-stage task at ``volume_per_atom`` (Å^3/atom: the
    configured one, else the checkpoint's prior for the composition): random Bravais
    lattices (``generation`` "unconditional"), or ``symmetric`` / ``template`` starts;
    ``starts`` is ``(WyckoffPrior, TemplateLibrary)``, loaded once by the caller."""
    if task.mode != "unconditional":
        raise ValueError(f"task {task.task_id}: expected an unconditional task, got {task.mode!r}")
    if generation != "unconditional" and starts is None:
        starts = load_starts(generation)
    if generation == "symmetric":
        from chggen_kernels.workflow.starts import symmetric_start_specs

        return symmetric_start_specs(task.task_id, task.composition, task.n_samples,
                                     campaign_seed, volume_per_atom, starts[0])
    if generation in ("template", "template-symmetric"):
        from chggen_kernels.workflow.starts import template_start_specs

        return template_start_specs(task.task_id, task.composition, task.n_samples,
                                    campaign_seed, volume_per_atom, starts[1], starts[0],
                                    first_rank=task.start_rank,
                                    symmetric=generation == "template-symmetric")
    return unconditional_specs(task.task_id, task.composition, task.n_samples, campaign_seed,
                               volume_per_atom, task.lattice_family, task.lattice_ratio)


def load_starts(generation: str = "template") -> tuple[Any, Any]:
    """The shipped Wyckoff prior and, for the template modes, the template library of the
    known phases (``None`` for ``symmetric``, which needs no templates)."""
    from chggen_kernels.wyckoff.prior import WyckoffPrior

    if not generation.startswith("template"):
        return WyckoffPrior.load(), None
    from chggen_kernels.templates import TemplateLibrary
    from chggen_kernels.thermo.known_structures import read_known_phase_structures

    return WyckoffPrior.load(), TemplateLibrary(read_known_phase_structures())


def inpainting_task(config: CampaignConfig, host: Mapping[str, Any], mode: str = "inpaint"
                    ) -> Task:
    """The inpainting task of ``mode`` (inpaint | inpaint-symmetric) of one host row."""
    if mode not in INPAINT_MODES:
        raise ValueError(f"inpainting mode must be one of {INPAINT_MODES}, got {mode!r}")
    inp = config.inpaint
    task_id = inpainting_task_id(mode, host["candidate_id"], inp.guest_species,
                                 inp.samples_per_host, config.seed, inp.max_wyckoff_combinations)
    return Task(task_id=task_id, mode=mode, composition=parse_formula(host["composition"]),
                n_samples=inp.samples_per_host, lattice_family=host.get("lattice_family"),
                lattice_ratio=host.get("lattice_ratio"), parent_id=host["candidate_id"],
                host=dict(host))


def part_rows_checker(config: CampaignConfig) -> Callable[[str, list[dict[str, Any]]], str | None]:
    """What a resumed campaign demands of the rows of a task's part (``None``: fine):

    * an unconditional task of the campaign: exactly its ``samples_per_task`` candidate
      ids (``<task_id>-000`` ...);
    * any other part (an inpainting task, which may be empty when its host did not
      refine, or a task an earlier configuration of the folder planned): ids of its own
      task only (``<task_id>-NNN``).
    """
    unconditional = {task.task_id: task.n_samples for task in unconditional_tasks(config)}

    def problem(task_id: str, rows: list[dict[str, Any]]) -> str | None:
        ids = {row["candidate_id"] for row in rows}
        if task_id in unconditional:
            expected = {candidate_id(task_id, k) for k in range(unconditional[task_id])}
            if ids != expected:
                return (f"holds {len(ids)} of the task's {len(expected)} candidates "
                        f"({len(expected - ids)} missing, {len(ids - expected)} unexpected)")
            return None
        foreign = sorted(i for i in ids if not _is_candidate_of(i, task_id))
        if foreign:
            return f"holds candidate ids of no task of its name ({foreign[0]!r})"
        return None

    return problem


def _is_candidate_of(candidate: str, task_id: str) -> bool:
    prefix = f"{task_id}-"
    return candidate.startswith(prefix) and candidate[len(prefix):].isdigit()
