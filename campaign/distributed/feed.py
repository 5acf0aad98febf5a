"""Where the campaign driver's work comes from, and the specs of each task.

Hosts first: those of unconditional tasks written in this run, then those of unconditional
tasks written by an earlier run whose inpainting is not on disk yet; then the unconditional
tasks not on disk yet. A task whose file exists is skipped (counted in the summary), so
running the same configuration again resumes an interrupted campaign.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

from campaign.config import CampaignConfig
from campaign.distributed.summary import CampaignSummary
from campaign.results import ResultStore
from campaign.tasks import (
    Task,
    count_unconditional_tasks,
    inpainting_task,
    load_starts,
    task_specs,
    unconditional_tasks,
)
from chggen_kernels.workflow import INPAINT_MODES, select_hosts
from chggen_kernels.workflow.records import CandidateRecord, CandidateSpec

__all__ = ["TaskFeed"]

Host = tuple[dict[str, Any], Task]  # a host row and the inpainting task it starts


class TaskFeed:
    """The tasks of one campaign, in the order the driver admits them (module docstring)."""

    def __init__(self, config: CampaignConfig, store: ResultStore,
                 summary: CampaignSummary) -> None:
        self.config = config
        self.store = store
        self.summary = summary
        self.inpaint_modes = [m for m in config.modes if m in INPAINT_MODES]
        self.inpaint = bool(self.inpaint_modes)
        self._hosts: collections.deque[Host] = collections.deque()
        self._unconditional: Iterator[Task] = iter(())
        self._resume: Iterator[Host] = iter(())
        self._volume_prior: Any = None
        self._loaded_starts: Any = None

    def open(self) -> int:
        """Count the planned unconditional tasks into the summary and start the feed; the
        unconditional tasks not on disk yet."""
        self.summary.tasks_planned = count_unconditional_tasks(self.config)
        remaining = sum(1 for _ in self._new_unconditional())
        self.summary.tasks_skipped = 0
        self._unconditional = self._new_unconditional()
        self._resume = self._resumed_hosts()
        return remaining

    def next_host(self) -> Host | None:
        """The next host whose framework is to be refined, if any."""
        return self._hosts.popleft() if self._hosts else next(self._resume, None)

    def next_task(self) -> Task | None:
        """The next unconditional task not on disk, if any."""
        return next(self._unconditional, None)

    def task_written(self, task: Task, records: list[CandidateRecord]) -> None:
        """A task is on disk: the hosts of an unconditional one join the feed."""
        if self.inpaint and task.mode == "unconditional":
            self._hosts.extend(self.hosts_of([r.to_dict() for r in records]))

    def specs(self, task: Task) -> list[CandidateSpec]:
        """The candidate specs of an unconditional task."""
        return task_specs(task, self.config.seed, self.volume_per_atom(task.composition),
                          self.config.generation, self.starts())

    def hosts_of(self, rows: list[dict[str, Any]]) -> Iterator[Host]:
        """The selected hosts among ``rows``, one per inpainting mode whose task is not
        on disk."""
        inp = self.config.inpaint
        for host in select_hosts(rows, inp.hosts_per_task, inp.host_max_e_d):
            for mode in self.inpaint_modes:
                task = inpainting_task(self.config, host, mode)
                if self.store.is_done(task.task_id):
                    self.summary.tasks_skipped += 1
                else:
                    yield dict(host), task

    def starts(self) -> Any:
        """(Wyckoff prior, template library), loaded on the first symmetric/template task."""
        if self.config.generation == "unconditional":
            return None
        if self._loaded_starts is None:
            self._loaded_starts = load_starts(self.config.generation)
        return self._loaded_starts

    def volume_per_atom(self, composition: dict[str, int]) -> float:
        """V0 (Å^3/atom) of a composition: the configured one, else the checkpoint's prior."""
        if self.config.volume_per_atom is not None:
            return float(self.config.volume_per_atom)
        if self._volume_prior is None:
            from campaign.resources import checkpoint_volume_prior

            self._volume_prior = checkpoint_volume_prior(self.config.model.checkpoint)
        return self._volume_prior.volume_per_atom(dict(composition))

    def _new_unconditional(self) -> Iterator[Task]:
        for task in unconditional_tasks(self.config):
            if self.store.is_done(task.task_id):
                self.summary.tasks_skipped += 1
                continue
            yield task

    def _resumed_hosts(self) -> Iterator[Host]:
        """Hosts of unconditional tasks finished earlier whose inpainting is not done."""
        if not self.inpaint:
            return
        for task in unconditional_tasks(self.config):
            if self.store.is_done(task.task_id):
                yield from self.hosts_of(self.store.read_task(task.task_id))
