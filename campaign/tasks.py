"""Campaign tasks: deterministic blocks of samples, and the candidate specs inside them.

A task is the unit of resumption: its candidates are written together as one Parquet
file named after the task id, so a rerun skips every task whose file exists.

Ids and seeds are pure functions of the configuration:

* unconditional task id = hash of (mode, cell composition, atoms per cell, lattice
  family, ratio, volume prior, samples per task, seed block, campaign seed);
* inpainting task id = hash of (mode, host candidate id, guest species, samples per
  host, campaign seed), plus the Wyckoff-combination cap for ``inpaint-symmetric``;
* candidate id = ``<task id>-<index>``; candidate seed = hash of (campaign seed, task id,
  index) folded into 31 bits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from campaign.compositions import parse_formula
from campaign.config import INPAINT_MODES, CampaignConfig
from chggen_kernels.workflow.records import CandidateSpec, format_composition

__all__ = [
    "Task",
    "bind_inpainting_specs",
    "candidate_id",
    "candidate_seed",
    "count_unconditional_tasks",
    "draw_lattice",
    "inpainting_stage_seed",
    "inpainting_task",
    "select_hosts",
    "short_hash",
    "unconditional_specs",
    "unconditional_tasks",
]

TASK_ID_LENGTH = 12  # hex digits (48 bits)
SEED_MODULUS = 2**31 - 1


def short_hash(*parts: Any, length: int = TASK_ID_LENGTH) -> str:
    """Stable hex digest of JSON-serialisable parts (independent of Python's hash seed)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def candidate_id(task_id: str, index: int) -> str:
    return f"{task_id}-{index:03d}"


def candidate_seed(campaign_seed: int, task_id: str, index: int) -> int:
    """Seed of one candidate, in ``[0, 2**31 - 1)`` so that every RNG accepts it."""
    digest = hashlib.sha256(f"{campaign_seed}:{task_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % SEED_MODULUS


@dataclasses.dataclass(frozen=True)
class Task:
    """A block of ``n_samples`` candidates of one composition, lattice choice and mode.

    For inpainting tasks ``composition`` is the host candidate's cell composition and
    ``parent_id`` its candidate id.
    """

    task_id: str
    mode: str
    composition: dict[str, int]
    n_samples: int
    lattice_family: str | None = None
    lattice_ratio: str | None = None
    volume_per_atom_prior: float | None = None  # Å^3/atom
    seed_block: int = 0
    parent_id: str | None = None
    guest_species: tuple[str, ...] = ()

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
        n_atoms = sum(composition.values())
        formula = format_composition(composition)
        for family, ratio in pairs:
            for block in range(config.seed_blocks):
                task_id = short_hash(
                    "unconditional", formula, n_atoms, family, ratio, config.volume_per_atom,
                    config.samples_per_task, block, config.seed,
                )  # fmt: skip
                yield Task(
                    task_id=task_id,
                    mode="unconditional",
                    composition=dict(composition),
                    n_samples=config.samples_per_task,
                    lattice_family=family,
                    lattice_ratio=ratio,
                    volume_per_atom_prior=config.volume_per_atom,
                    seed_block=block,
                )


def count_unconditional_tasks(config: CampaignConfig) -> int:
    if "unconditional" not in config.modes:
        return 0
    return len(config.cell_compositions()) * len(config.lattice.combinations()) * (
        config.seed_blocks
    )


def unconditional_specs(task: Task, campaign_seed: int) -> list[CandidateSpec]:
    """The candidate specs of an unconditional task; family ``any`` is drawn per seed."""
    if task.mode != "unconditional":
        raise ValueError(f"task {task.task_id}: expected an unconditional task, got {task.mode!r}")
    specs = []
    for index in range(task.n_samples):
        seed = candidate_seed(campaign_seed, task.task_id, index)
        family, ratio = draw_lattice(task.lattice_family, task.lattice_ratio, task.n_atoms, seed)
        specs.append(
            CandidateSpec(
                candidate_id=candidate_id(task.task_id, index),
                task_id=task.task_id,
                composition=dict(task.composition),
                mode="unconditional",
                seed=seed,
                lattice_family=family,
                lattice_ratio=ratio,
                volume_per_atom_prior=task.volume_per_atom_prior,
            )
        )
    return specs


def draw_lattice(
    family: str | None, ratio: str | None, n_atoms: int, seed: int
) -> tuple[str, str]:
    """Concrete (family, ``"b/a:c/a"``) of one candidate: ``any`` and ``None`` are drawn.

    Uses the lattice stage's own sampler (reference ratio set) seeded by the candidate
    seed, so the results table records the lattice each candidate started from.
    """
    import numpy as np

    from chggen_kernels.lattice import LATTICE_FAMILIES, sample_lattice

    families = LATTICE_FAMILIES if family in (None, "any") else (family,)
    drawn = sample_lattice(n_atoms, 1.0, np.random.default_rng(seed), families=families)
    if ratio is None:
        ratio = f"{drawn.ratios[0]:g}:{drawn.ratios[1]:g}"
    return drawn.family, ratio


def select_hosts(
    records: Iterable[Mapping[str, Any]],
    hosts_per_task: int,
    host_max_e_d: float | None = None,
) -> list[Mapping[str, Any]]:
    """Hosts for inpainting from one unconditional task's records (order-independent).

    Successful unconditional candidates with a decomposition energy (and E_d <=
    ``host_max_e_d`` eV/atom when given), lowest E_d first, ties by candidate id.
    """
    eligible = [
        r
        for r in records
        if r.get("mode") == "unconditional"
        and r.get("status") == "ok"
        and r.get("e_d") is not None
        and (host_max_e_d is None or r["e_d"] <= host_max_e_d)
    ]
    eligible.sort(key=lambda r: (r["e_d"], r["candidate_id"]))
    return eligible[:hosts_per_task]


def inpainting_task(config: CampaignConfig, host: Mapping[str, Any], mode: str = "inpaint"
                    ) -> Task:
    """The inpainting task of ``mode`` (inpaint | inpaint-symmetric) derived from one host
    record (a results row)."""
    if mode not in INPAINT_MODES:
        raise ValueError(f"inpainting mode must be one of {INPAINT_MODES}, got {mode!r}")
    guests = tuple(config.inpaint.guest_species)
    parts: tuple[Any, ...] = (
        mode, host["candidate_id"], guests, config.inpaint.samples_per_host, config.seed
    )
    if mode == "inpaint-symmetric":
        parts += (config.inpaint.max_wyckoff_combinations,)
    task_id = short_hash(*parts)
    composition = parse_formula(host["composition"])
    return Task(
        task_id=task_id,
        mode=mode,
        composition=composition,
        n_samples=config.inpaint.samples_per_host,
        lattice_family=host.get("lattice_family"),
        lattice_ratio=host.get("lattice_ratio"),
        volume_per_atom_prior=host.get("volume_per_atom_prior"),
        parent_id=host["candidate_id"],
        guest_species=guests,
    )


def bind_inpainting_specs(
    task: Task, specs: Sequence[CandidateSpec], campaign_seed: int
) -> list[CandidateSpec]:
    """Give the specs returned by the framework stage this task's ids and seeds."""
    bound = []
    for index, spec in enumerate(specs):
        if spec.mode != task.mode:
            raise ValueError(
                f"task {task.task_id}: inpainting stage returned a {spec.mode!r} spec"
            )
        bound.append(
            dataclasses.replace(
                spec,
                candidate_id=candidate_id(task.task_id, index),
                task_id=task.task_id,
                seed=candidate_seed(campaign_seed, task.task_id, index),
                parent_id=task.parent_id,
            )
        )
    return bound


def inpainting_stage_seed(campaign_seed: int, task: Task) -> int:
    """Seed handed to the framework/inpainting-spec stage for one host."""
    return candidate_seed(campaign_seed, task.task_id, -1)
