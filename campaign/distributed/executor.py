"""The campaign's tasks on Ray: sampler actors -> relaxation actors, as an engine executor.

Data flow for one candidate::

    task (planning: ids, seeds, lattice)     --> CandidateSpec
    spec --(batched with other tasks' specs)--> SamplerWorker.generate  -> ObjectRef
    ObjectRef (never fetched by the driver)  --> RelaxWorker.relax_many  -> CandidateRecord
    all records of a task                    --> one Outcome for the engine (one part)
    an inpainting task (its host row)        --> RelaxWorker.inpainting_specs -> its specs

Both actor kinds wrap one :class:`~campaign.stages.runner.StageRunner` built by ``runner_factory``
(the real one unless a test injects a fake). The engine (:func:`campaign.engine.run_job`)
decides what runs, in which order, and writes; this executor has room while fewer than
``limit`` candidates are between submission and their task's outcome, so the driver's
memory does not grow with the campaign. It never blocks on ``ray.get`` while submitting:
it waits with ``ray.wait`` and fetches only finished records.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any

from campaign.config.model import CampaignConfig
from campaign.distributed.nodes import NodeWatch
from campaign.distributed.summary import CampaignError, CampaignSummary, _ActiveTask
from campaign.distributed.workers import (
    RELAX_QUEUE_DEPTH,
    SAMPLER_QUEUE_DEPTH,
    actor_groups,
    plan_actors,
)
from campaign.engine import Outcome
from campaign.engine.ray_toolkit import start_actors
from campaign.jobs.tasks import Task
from campaign.stages.runner import RunnerFactory, failed_row, short_reason
from chggen_kernels.workflow.records import CandidateRecord, CandidateSpec

__all__ = ["MAX_CONSECUTIVE_WORKER_ERRORS", "RayCampaignExecutor"]

logger = logging.getLogger("campaign")

WAIT_TIMEOUT_S = 1.0  # progress refresh while waiting
MAX_CONSECUTIVE_WORKER_ERRORS = 25


class RayCampaignExecutor:
    """Runs campaign tasks on sampler and relaxation actors (module docstring).

    ``plan(task)`` gives a first-stage task's specs (in the driver: ids, seeds and
    lattices are cheap); an inpainting task (``task.host`` set) is planned on a
    relaxation actor (the framework's refinement).
    """

    def __init__(self, config: CampaignConfig, plan: Callable[[Task], list[CandidateSpec]],
                 summary: CampaignSummary, limit: int, runner_factory: RunnerFactory) -> None:
        self.config, self.plan, self.summary = config, plan, summary
        self.limit, self.runner_factory = limit, runner_factory
        self._tasks: dict[str, _ActiveTask] = {}
        self._queues: dict[str, collections.deque[CandidateSpec]] = {
            "inpaint": collections.deque(),
            "inpaint-symmetric": collections.deque(),
            "unconditional": collections.deque(),
        }
        self._in_flight = 0
        self._gen_pending: dict[Any, tuple[CandidateSpec, int, int]] = {}
        self._batch_left: dict[int, int] = {}
        self._generated: collections.deque[tuple[Any, CandidateSpec]] = collections.deque()
        # ref -> (spec, actor, call, generated ref, candidates in the call)
        self._relax_pending: dict[Any, tuple[CandidateSpec, int, int, Any, int]] = {}
        self._relax_alone: collections.deque[tuple[Any, CandidateSpec]] = collections.deque()
        self._relax_call_left: dict[int, int] = {}
        self._next_relax_call = 0
        self._refine_pending: dict[Any, tuple[Task, int]] = {}
        self._next_batch = 0
        self._worker_errors = 0
        self._done: list[Outcome] = []
        self.samplers: list[Any] = []
        self.relaxers: list[Any] = []
        self.nodes: NodeWatch | None = None  # node events, once the actors run

    # ------------------------------------------------------------------ engine interface
    def has_room(self) -> bool:
        return self._in_flight < self.limit

    def submit(self, task: Task) -> None:
        self._ensure_actors()
        if task.host is not None:
            self._submit_refine(task)
        else:
            self._start_task(task, self.plan(task))

    def busy(self) -> bool:
        return bool(self._tasks or self._refine_pending or self._done)

    def collect(self) -> list[Outcome]:
        import ray

        self._submit_sampling()
        self._submit_relaxation()
        refs = [*self._gen_pending, *self._relax_pending, *self._refine_pending]
        if not refs and not self._done:
            raise CampaignError("internal error: work left but nothing running")
        if refs:
            ready, _ = ray.wait(refs, num_returns=1, timeout=WAIT_TIMEOUT_S, fetch_local=False)
            if ready:
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
            for ref in ready:
                if ref in self._gen_pending:
                    self._on_generated(ref)
                elif ref in self._relax_pending:
                    self._on_relaxed(ref)
                else:
                    self._on_refined(ref)
        if self.nodes is not None:
            self.nodes.tick(self._tasks_on)
        done, self._done = self._done, []
        return done

    def state(self) -> dict[str, int]:
        """Where the candidates are (the progress bar's postfix)."""
        return {"sampling": len(self._gen_pending),
                "relaxing": len(self._relax_pending) + len(self._generated)
                + len(self._relax_alone)}

    def close(self) -> None:
        import ray

        for actor in self.samplers + self.relaxers:
            ray.kill(actor)
        self.samplers, self.relaxers = [], []
        if self.nodes is not None:
            self.summary.nodes = self.nodes.report()

    # ------------------------------------------------------------------ admission
    def _start_task(self, task: Task, specs: list[CandidateSpec]) -> None:
        self._tasks[task.task_id] = _ActiveTask(task=task, expected=len(specs))
        self._queues[task.mode].extend(specs)
        self._in_flight += len(specs)
        self.summary.peak_in_flight = max(self.summary.peak_in_flight, self._in_flight)

    def _least_loaded_relaxer(self) -> int:
        return min(range(len(self.relaxers)), key=lambda i: self._relax_load[i])

    def _submit_refine(self, task: Task) -> None:
        index = self._least_loaded_relaxer()
        inp = self.config.inpaint
        ref = self.relaxers[index].inpainting_specs.remote(
            dict(task.host or {}), list(inp.guest_species), task.n_samples, task.task_id,
            self.config.seed, task.mode, inp.max_wyckoff_combinations, inp.max_atoms)
        self._refine_pending[ref] = (task, index)
        self._relax_load[index] += 1
        self._in_flight += task.n_samples
        self.summary.peak_in_flight = max(self.summary.peak_in_flight, self._in_flight)

    # ------------------------------------------------------------------ submission
    def _take_batch(self) -> list[CandidateSpec]:
        """Specs of one mode up to ``atoms_per_batch`` atoms.

        The first batches ramp up (as many specs as relaxation actors, then doubling) so
        that relaxation starts after a short first sampling call, not after a full batch.
        """
        queue = (self._queues["inpaint"] or self._queues["inpaint-symmetric"]
                 or self._queues["unconditional"])
        batch: list[CandidateSpec] = []
        atoms = 0
        budget = self.config.resources.atoms_per_batch
        max_specs = len(self.relaxers) * 2 ** min(self._next_batch, 20)
        while queue and len(batch) < max_specs and (
            not batch or atoms + queue[0].n_atoms <= budget
        ):
            spec = queue.popleft()
            batch.append(spec)
            atoms += spec.n_atoms
        return batch

    def _submit_sampling(self) -> None:
        for index, sampler in enumerate(self.samplers):
            while self._sampler_load[index] < SAMPLER_QUEUE_DEPTH:
                batch = self._take_batch()
                if not batch:
                    return
                refs = sampler.generate.options(num_returns=len(batch)).remote(batch)
                refs = [refs] if len(batch) == 1 else list(refs)
                self._next_batch += 1
                self._batch_left[self._next_batch] = len(batch)
                for spec, ref in zip(batch, refs, strict=True):
                    self._gen_pending[ref] = (spec, index, self._next_batch)
                self._sampler_load[index] += 1

    def _submit_relaxation(self) -> None:
        """Generated candidates to the least-loaded relaxation actors, up to
        ``resources.candidates_per_relax_call`` per call and spread over the actors; a
        candidate whose shared call failed goes alone (``_relax_alone``)."""
        per_call = self.config.resources.candidates_per_relax_call
        while self._relax_alone or self._generated:
            index = self._least_loaded_relaxer()
            if self._relax_load[index] >= RELAX_QUEUE_DEPTH:
                return
            if self._relax_alone:
                batch = [self._relax_alone.popleft()]
            else:
                n = max(1, min(per_call, len(self._generated),
                               -(-len(self._generated) // len(self.relaxers))))
                batch = [self._generated.popleft() for _ in range(n)]
            # The sampler's outputs go to the relaxation actor as references: the driver
            # never fetches the generated structures.
            n = len(batch)
            refs = self.relaxers[index].relax_many.options(num_returns=n).remote(
                *[ref for ref, _ in batch])
            refs = [refs] if n == 1 else list(refs)
            self._next_relax_call += 1
            self._relax_call_left[self._next_relax_call] = n
            for (generated, spec), ref in zip(batch, refs, strict=True):
                self._relax_pending[ref] = (spec, index, self._next_relax_call, generated, n)
            self._relax_load[index] += 1

    # ------------------------------------------------------------------ results
    def _on_generated(self, ref: Any) -> None:
        spec, index, batch = self._gen_pending.pop(ref)
        self._batch_left[batch] -= 1
        if self._batch_left[batch] == 0:
            del self._batch_left[batch]
            self._sampler_load[index] -= 1
        self._generated.append((ref, spec))

    def _on_relaxed(self, ref: Any) -> None:
        import ray

        from campaign.stages.resources import potential_columns

        spec, index, call, generated, shared = self._relax_pending.pop(ref)
        self._relax_call_left[call] -= 1
        if self._relax_call_left[call] == 0:
            del self._relax_call_left[call]
            self._relax_load[index] -= 1
        try:
            record = ray.get(ref)
            self._worker_errors = 0
        except ray.exceptions.RayError as exc:
            if shared > 1:  # the call of several failed: each goes again alone, so that
                self._relax_alone.append((generated, spec))  # only the culprit fails
                return
            self._worker_errors += 1
            if self._worker_errors >= MAX_CONSECUTIVE_WORKER_ERRORS:
                raise CampaignError(
                    f"{self._worker_errors} candidates in a row lost their worker; last: "
                    f"{short_reason('worker', exc)}"
                ) from exc
            logger.warning("candidate %s: %s", spec.candidate_id, short_reason("worker", exc))
            record = failed_row(spec, short_reason("worker", exc),
                                **potential_columns(self.config.relax))
        self._add_record(record)

    def _on_refined(self, ref: Any) -> None:
        import ray

        task, index = self._refine_pending.pop(ref)
        self._relax_load[index] -= 1
        self._in_flight -= task.n_samples
        self.summary.hosts_refined += 1
        try:
            specs = ray.get(ref)
        except ray.exceptions.RayError as exc:
            logger.warning("host %s: %s", task.parent_id, short_reason("framework", exc))
            specs = []
        if not specs:  # an empty part: done, so a rerun does not refine this host again
            self.summary.hosts_without_framework += 1
            self._done.append(Outcome(task, []))
            return
        self._start_task(task, specs)

    def _add_record(self, record: CandidateRecord) -> None:
        active = self._tasks[record.task_id]
        active.records.append(record)
        if len(active.records) < active.expected:
            return
        del self._tasks[active.task.task_id]
        self._in_flight -= active.expected
        self._done.append(Outcome(active.task, active.records))

    # ------------------------------------------------------------------ actors
    def _ensure_actors(self) -> None:
        """Start the actors when the first work appears (a finished campaign starts none)."""
        if self.samplers:
            return
        import ray

        plan = plan_actors(self.config, ray.cluster_resources())
        for text in plan.warnings:
            logger.warning(text)
        groups = actor_groups(self.config, plan, self.runner_factory)
        self.nodes = NodeWatch()  # before the actors: nodes an autoscaler adds are events
        (self.samplers, self.relaxers), self.summary.actor_start_s = start_actors(
            groups, CampaignError)
        self._sampler_load = [0] * len(self.samplers)
        self._relax_load = [0] * len(self.relaxers)
        self.nodes.locate({**{f"sampler {i}": a for i, a in enumerate(self.samplers)},
                           **{f"relax {i}": a for i, a in enumerate(self.relaxers)}})

    def _tasks_on(self, label: str) -> list[str]:
        """Task ids with a call in flight on the actor ``label`` (``relax 0``, ...)."""
        kind, index = label.split()
        if kind == "sampler":
            return [spec.task_id for spec, i, _ in self._gen_pending.values() if i == int(index)]
        return [spec.task_id for spec, i, *_ in self._relax_pending.values() if i == int(index)
                ] + [task.task_id for task, i in self._refine_pending.values() if i == int(index)]
