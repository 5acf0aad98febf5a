"""The campaign as a job of the task engine: its tasks, their specs and follow-ups.

First the unconditional tasks of the configuration, in a deterministic order; every
finished one (written now, or by an earlier run) gives, per inpainting mode, one task per
selected host whose part is not on disk yet. The engine
(:func:`campaign.engine.run_job`) skips the tasks whose part exists and puts the
follow-ups first, so running the same configuration again resumes an interrupted
campaign: hosts of resumed tasks, then the unconditional tasks not on disk yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from campaign.config.model import CampaignConfig
from campaign.engine import JobBase, Outcome
from campaign.jobs.tasks import (
    Task,
    inpainting_task,
    load_starts,
    task_specs,
    unconditional_tasks,
)
from chggen_kernels.workflow import INPAINT_MODES, select_hosts
from chggen_kernels.workflow.records import CandidateRecord, CandidateSpec

__all__ = ["CampaignJob"]


class CampaignJob(JobBase):
    """The tasks of one campaign (module docstring)."""

    def __init__(self, config: CampaignConfig) -> None:
        self.config = config
        self.label = config.name
        self.inpaint_modes = [m for m in config.modes if m in INPAINT_MODES]
        self._volume_prior: Any = None
        self._loaded_starts: Any = None

    def tasks(self) -> Iterator[Task]:
        return unconditional_tasks(self.config)

    def follow_ups(self, task: Task, rows: list[Any], resumed: bool) -> list[Task]:
        """The inpainting tasks of a finished unconditional task's selected hosts."""
        if not self.inpaint_modes or task.mode != "unconditional":
            return []
        return list(self.hosts_of([r.to_dict() if isinstance(r, CandidateRecord) else r
                                   for r in rows]))

    def hosts_of(self, rows: list[dict[str, Any]]) -> Iterator[Task]:
        """One inpainting task per selected host among ``rows`` and inpainting mode."""
        inp = self.config.inpaint
        for host in select_hosts(rows, inp.hosts_per_task, inp.host_max_e_d):
            for mode in self.inpaint_modes:
                yield inpainting_task(self.config, host, mode)

    def describe(self, outcome: Outcome) -> str:
        rows = outcome.rows or []
        ok = sum(getattr(r, "status", None) == "ok" for r in rows)
        return f"{outcome.task.task_id} {ok}/{len(rows)} ok"

    def specs(self, task: Task) -> list[CandidateSpec]:
        """The candidate specs of an unconditional task."""
        return task_specs(task, self.config.seed, self.volume_per_atom(task.composition),
                          self.config.generation, self.starts())

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
            from campaign.stages.resources import checkpoint_volume_prior

            self._volume_prior = checkpoint_volume_prior(self.config.model.checkpoint)
        return self._volume_prior.volume_per_atom(dict(composition))
