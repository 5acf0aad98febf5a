"""The local runner: the CHGGen chain in this process, for ``chggen generate`` / ``inpaint``.

The same planning (:mod:`chggen_kernels.workflow.planning`) and the same stage runner
(:class:`campaign.stages.runner.StageRunner`) as the Ray campaign, in a plain loop:

1. the unconditional specs of one task (lattices drawn once, at ``V = N * V0``) ->
   :meth:`~campaign.stages.runner.StageRunner.generate` -> ``relax_and_score``;
2. per inpainting mode, the hosts of that task (:func:`~chggen_kernels.workflow.select_hosts`)
   each give one inpainting task (ids and seeds as in a campaign) -> generate -> relax.

Every task's rows are written as one part file of a results folder
(:class:`campaign.engine.store.ResultStore`), so ``chggen top DIR`` and pandas read them like
campaign output; the same composition, seed and settings give the same candidate ids,
lattices and structures as ``chggen run``. Units: Å, Å^3/atom, eV/atom.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from campaign.engine import InProcessExecutor, JobBase, run_job
from campaign.stages.runner import CANDIDATES_PER_RELAX_CALL
from chggen_kernels.workflow import (
    INPAINT_MODES,
    CandidateRecord,
    CandidateSpec,
    candidate_id,
    candidate_seed,
    inpainting_stage_seed,
    inpainting_task_id,
    rank_rows,
    select_hosts,
    short_hash,
    symmetric_specs,
    unconditional_specs,
    unconditional_task_id,
)
from chggen_kernels.workflow.settings import InpaintSettings

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from campaign.stages.runner import Runner
    from chggen_kernels.hosts import HostSpec

__all__ = [
    "ChainJob",
    "ChainResult",
    "ChainTask",
    "SamplingProgress",
    "host_specs",
    "plan_starts",
    "plan_unconditional",
    "rank_table",
    "run_chain",
    "run_specs",
]

Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class ChainResult:
    """Rows of one run: first-stage candidates (``unconditional``: unconditional, symmetric
    or template starts) and inpainted ones, hosts used, files written."""

    unconditional: list[CandidateRecord]
    inpainted: list[CandidateRecord]
    n_hosts: int = 0
    n_symmetric_hosts: int = 0
    files: tuple[Path, ...] = ()

    @property
    def records(self) -> list[CandidateRecord]:
        return self.unconditional + self.inpainted


class SamplingProgress:
    """Sampler progress ``(mode, levels done, total levels)`` as a progress bar of the
    noise levels, one per mode (:func:`campaign.engine.progress.progress_bar`)."""

    def __init__(self, n_candidates: int, enabled: bool = True) -> None:
        self.n, self.enabled = n_candidates, enabled
        self._bars: dict[str, Any] = {}

    def __call__(self, mode: str, done: int, total: int) -> None:
        from campaign.engine.progress import progress_bar

        bar = self._bars.get(mode)
        if bar is None or done == 1 and bar.n:
            if bar is not None:
                bar.close()
            bar = self._bars[mode] = progress_bar(
                total, f"sampling {self.n} {mode}", "levels", enabled=self.enabled)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()


def plan_starts(mode: str, composition: Mapping[str, int], n_samples: int, seed: int,
                volume_per_atom: float, log: Log | None = None, *,
                volume_given: float | None = None) -> list[CandidateSpec]:
    """The specs of one ``symmetric``, ``template`` or ``template-symmetric`` task at
    ``volume_per_atom`` Å^3/atom, named and planned as a campaign's first first-stage task
    of that mode (:func:`campaign.jobs.tasks.first_stage_task_id`, ``volume_given``: the
    V0 the user fixed, ``None``: the prior's); a mode that falls back for this composition
    says so in one line on ``log`` (and in every row)."""
    from campaign.jobs.tasks import Task, first_stage_task_id, load_starts, task_specs

    counts = {el: int(n) for el, n in sorted(composition.items()) if n}
    task_id = first_stage_task_id(mode, counts, "any", None, volume_given, n_samples, 0, seed)
    task = Task(task_id=task_id, mode="unconditional", composition=counts,
                n_samples=n_samples)
    specs = task_specs(task, seed, volume_per_atom, mode, load_starts(mode))
    fallen = [s for s in specs if s.mode != mode]
    if fallen and log:
        reason = fallen[0].symmetric_fallback or fallen[0].start_from
        log(f"--mode {mode}: {len(fallen)}/{len(specs)} candidates fall back to "
            f"{fallen[0].mode}: {reason}")
    return specs


def plan_unconditional(composition: Mapping[str, int], n_samples: int, seed: int,
                       volume_per_atom: float, *, volume_given: float | None = None,
                       lattice_family: str = "any",
                       lattice_ratio: str | None = None) -> list[CandidateSpec]:
    """The specs of one unconditional task, named as a campaign names its first block
    (``volume_given``: the V0 the user fixed, part of the task id; ``None``: the prior's)."""
    counts = {el: int(n) for el, n in sorted(composition.items()) if n}
    task_id = unconditional_task_id(counts, lattice_family, lattice_ratio, volume_given,
                                    n_samples, 0, seed)
    return unconditional_specs(task_id, counts, n_samples, seed, volume_per_atom,
                               lattice_family, lattice_ratio)


def host_specs(host: HostSpec, n_samples: int, seed: int, *, symmetric: bool = False,
               max_combinations: int = InpaintSettings.max_wyckoff_combinations
               ) -> list[CandidateSpec]:
    """Inpainting specs placing ``host.guest_counts`` into ``host.framework`` as given
    (no refinement); ``parent_id`` is ``host:<file name>``. ``symmetric=True``: mode
    ``inpaint-symmetric`` (Wyckoff orbits in the framework's own cell, or a recorded
    fallback to ordinary inpainting)."""
    from chggen_kernels.symmetry import final_symmetry

    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    framework = host.framework
    composition: dict[str, int] = {}
    for site in framework:
        composition[site.specie.symbol] = composition.get(site.specie.symbol, 0) + 1
    for guest, n in host.guest_counts.items():
        composition[guest] = composition.get(guest, 0) + int(n)
    guests = tuple(g for g in host.guest_species if host.guest_counts[g] > 0)
    parts: tuple[Any, ...] = ("inpaint-host", framework.as_dict(), dict(sorted(
        host.guest_counts.items())), n_samples, seed)
    task_id = short_hash(*(parts + (("symmetric", max_combinations),) if symmetric else parts))
    spacegroup = final_symmetry(framework).number
    specs = [CandidateSpec(
        candidate_id=candidate_id(task_id, k), task_id=task_id,
        composition=dict(sorted(composition.items())), mode="inpaint",
        seed=candidate_seed(seed, task_id, k), volume_per_atom_prior=host.volume_per_atom,
        parent_id=f"host:{Path(host.source).name}", guest_species=guests,
        n_guest=host.n_guests, host=framework.as_dict(), spacegroup_framework=spacegroup)
        for k in range(n_samples)]
    if not symmetric:
        return specs
    return symmetric_specs(specs, seed=inpainting_stage_seed(seed, task_id),
                           max_combinations=max_combinations)


def run_specs(runner: Runner, specs: Sequence[CandidateSpec], log: Log | None = None,
              per_call: int = CANDIDATES_PER_RELAX_CALL) -> list[CandidateRecord]:
    """Generate every spec (one batched sampler call per mode) then relax and score them,
    ``per_call`` together (one batched CHGNet forward per step), logging the progress."""
    if not specs:
        return []
    from campaign.engine.progress import progress_bar

    generated = runner.generate(specs, SamplingProgress(len(specs), enabled=log is not None))
    if log:
        n_ok = sum(g.status == "ok" for g in generated)
        log(f"sampled {n_ok}/{len(generated)} {specs[0].mode} candidates; relaxing")
    records: list[CandidateRecord] = []
    bar = progress_bar(len(generated), f"relaxing {specs[0].mode}", "candidates",
                       enabled=log is not None)
    step = max(1, per_call)
    for start in range(0, len(generated), step):
        for record in runner.relax_and_score_many(generated[start:start + step]):
            records.append(record)
            bar.set_postfix(last=f"{record.composition} {record.status}" + (
                f" E_d {record.e_d:+.4f}" if record.e_d is not None else ""))
            bar.update(1)
    bar.close()
    return records


@dataclasses.dataclass(frozen=True)
class ChainTask:
    """One task of the chain: its specs (a first-stage task), or the host row an
    inpainting task of ``mode`` is planned from on the worker (``specs is None``)."""

    task_id: str
    mode: str
    specs: tuple[CandidateSpec, ...] | None = None
    host: Mapping[str, Any] | None = None


class ChainJob(JobBase):
    """The chain as a job of the task engine: the given specs' tasks, then per
    inpainting mode one task per selected host of each first-stage task (ids and seeds
    as in a campaign). Keeps every finished task's rows (written now or resumed)."""

    label = "chain"

    def __init__(self, specs: Sequence[CandidateSpec], inpaint: InpaintSettings | None,
                 inpaint_modes: Sequence[str], seed: int, log: Log | None) -> None:
        by_task: dict[str, list[CandidateSpec]] = {}
        for spec in specs:
            by_task.setdefault(spec.task_id, []).append(spec)
        self._first = [ChainTask(t, group[0].mode, tuple(group)) for t, group in by_task.items()]
        self.inpaint, self.modes = inpaint, tuple(inpaint_modes) if inpaint else ()
        self.seed, self.log = seed, log
        self.rows: dict[str, list[CandidateRecord]] = {}
        self.hosts: dict[str, int] = {}  # per mode: hosts planned
        self.frameworks: dict[str, int] = {}  # per mode: hosts with a symmetric framework

    def tasks(self) -> list[ChainTask]:
        return self._first

    def follow_ups(self, task: ChainTask, rows: list[Any], resumed: bool) -> list[ChainTask]:
        records = [r if isinstance(r, CandidateRecord) else _record(r) for r in rows]
        self.rows[task.task_id] = records
        if task.specs is None or not self.modes:  # an inpainting task has no follow-ups
            return []
        inp = self.inpaint
        assert inp is not None
        hosts = select_hosts([r.to_dict() for r in records],
                             inp.hosts_per_task, inp.host_max_e_d)
        return [ChainTask(inpainting_task_id(mode, host["candidate_id"], inp.guest_species,
                                             inp.samples_per_host, self.seed,
                                             inp.max_wyckoff_combinations), mode, None, host)
                for mode in self.modes for host in hosts]

    def plan(self, runner: Runner, task: ChainTask) -> list[CandidateSpec]:
        """The task's specs; an inpainting task's from its host's refined framework."""
        if task.specs is not None:
            return list(task.specs)
        inp = self.inpaint
        assert inp is not None and task.host is not None
        specs = runner.inpainting_specs(
            task.host, inp.guest_species, inp.samples_per_host, task_id=task.task_id,
            campaign_seed=self.seed, mode=task.mode,
            max_combinations=inp.max_wyckoff_combinations, max_atoms=inp.max_atoms)
        self.hosts[task.mode] = self.hosts.get(task.mode, 0) + 1
        self.frameworks[task.mode] = self.frameworks.get(task.mode, 0) + bool(specs)
        return specs

    def run_batch(self, runner: Runner, tasks: Sequence[ChainTask]
                  ) -> list[list[CandidateRecord]]:
        """Every task's rows, the specs of one mode sampled in one batched call."""
        planned = {t.task_id: self.plan(runner, t) for t in tasks}
        records: dict[str, list[CandidateRecord]] = {t.task_id: [] for t in tasks}
        for mode in dict.fromkeys(t.mode for t in tasks):
            mode_tasks = [t for t in tasks if t.mode == mode]
            specs = [s for t in mode_tasks for s in planned[t.task_id]]
            if self.log and mode_tasks[0].specs is None:
                self.log(f"{mode}: {sum(bool(planned[t.task_id]) for t in mode_tasks)} of "
                         f"{len(mode_tasks)} hosts have a symmetric framework; "
                         f"{len(specs)} candidates")
            for record in run_specs(runner, specs, self.log):
                records[record.task_id].append(record)
        return [records[t.task_id] for t in tasks]

    def run_one(self, runner: Runner, task: ChainTask) -> list[CandidateRecord]:
        return self.run_batch(runner, [task])[0]


def _record(row: Mapping[str, Any]) -> CandidateRecord:
    """A stored row back as its record (columns the record does not know are dropped)."""
    names = CandidateRecord.__dataclass_fields__
    return CandidateRecord(**{k: v for k, v in row.items() if k in names})


class _MemoryStore:
    """The engine's store when nothing is written (``out_dir=None``)."""

    def is_done(self, task_id: str) -> bool:
        return False

    def write_task(self, task_id: str, rows: list[Any], allow_empty: bool = False) -> None:
        return None

    def read_task(self, task_id: str) -> list[Any]:
        return []


def run_chain(runner: Runner, specs: Sequence[CandidateSpec], *,
              inpaint: InpaintSettings | None = None, inpaint_modes: Sequence[str] = (),
              seed: int = 0, out_dir: str | Path | None = None,
              log: Log | None = None, command: str = "chggen generate") -> ChainResult:
    """The whole chain for ``specs`` (unconditional, or inpainting specs of a given host),
    as a job of the task engine (:class:`ChainJob`) in this process.

    With ``inpaint_modes`` the successful unconditional records become hosts (per task,
    ``inpaint.hosts_per_task`` lowest E_d first); each host with a symmetric framework
    yields one inpainting task of ``inpaint.samples_per_host`` candidates per mode. Rows
    are written to ``out_dir`` task by task as soon as a stage ends (``None``: nothing is
    written); a host without a framework leaves an empty part, as in a campaign. Tasks
    whose part exists are not run again (a rerun resumes, reading their rows).

    ``out_dir`` is checked before any work (a foreign entry, an unreadable part or a part
    of another schema: :class:`~campaign.engine.store.ResultsError`), locked against a second
    writer, and bound to the runner's settings fingerprint (:mod:`campaign.engine.folder`).
    """
    job = ChainJob(specs, inpaint, inpaint_modes, seed, log)
    executor = InProcessExecutor(lambda: runner, job.run_one, run_batch=job.run_batch)
    if out_dir is None:
        run_job(job, _MemoryStore(), executor, retries=0)
        return _result(job, ())
    from campaign.engine.folder import check_fingerprint, folder_lock
    from campaign.engine.store import ResultStore
    from campaign.stages.fingerprint import runner_fingerprint

    store = ResultStore(out_dir)
    store.check_folder()
    with folder_lock(store.directory, command=command):
        settings = getattr(runner, "settings", None)
        if settings is not None:
            check_fingerprint(store.directory, runner_fingerprint(settings))
        run_job(job, store, executor, retries=0)
        return _result(job, tuple(store.part_path(t) for t in job.rows))


def _result(job: ChainJob, files: tuple[Path, ...]) -> ChainResult:
    records = [r for rows in job.rows.values() for r in rows]
    return ChainResult(
        [r for r in records if r.mode not in INPAINT_MODES],
        [r for r in records if r.mode in INPAINT_MODES],
        n_hosts=max(job.hosts.values(), default=0),
        n_symmetric_hosts=max(job.frameworks.values(), default=0), files=files)


def rank_table(records: Sequence[CandidateRecord], modes: Sequence[str] | None = None
               ) -> pd.DataFrame:
    """Successful records (of ``modes``) best first (:func:`~chggen_kernels.workflow.rank_key`),
    as the DataFrame ``campaign.commands.top`` prints."""
    import pandas as pd

    rows = rank_rows([r.to_dict() for r in records], modes)
    table = pd.DataFrame(rows, columns=list(CandidateRecord.__dataclass_fields__))
    for column in ("e_d", "e_above_hull", "energy_relaxed_per_atom"):
        table[column] = table[column].astype(float)
    return table.reset_index(drop=True)


def stderr_log(quiet: bool) -> Log | None:
    """Progress lines on stderr (``None`` when quiet)."""
    if quiet:
        return None
    return lambda line: print(line, file=sys.stderr, flush=True)
