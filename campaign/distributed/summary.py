"""What one run of the campaign driver did (:class:`CampaignSummary`), its error type,
and the driver's record of a task still in flight."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from campaign.jobs.tasks import Task
from chggen_kernels.errors import RunFailedError
from chggen_kernels.workflow.records import INPAINT_MODES, CandidateRecord

__all__ = ["CampaignError", "CampaignSummary"]


class CampaignError(RunFailedError):
    """The campaign cannot go on (actors cannot start, workers keep dying)."""


@dataclasses.dataclass
class CampaignSummary:
    """What one run of the driver did."""

    output: str
    tasks_planned: int = 0  # unconditional tasks of the configuration
    tasks_skipped: int = 0  # found complete on disk (resume)
    tasks_written: int = 0
    candidates_written: int = 0
    candidates_failed: int = 0
    hosts_refined: int = 0
    hosts_without_framework: int = 0
    peak_in_flight: int = 0  # most candidates held between admission and disk
    actor_start_s: float = 0.0  # waiting for the actors to load their models
    elapsed_s: float = 0.0
    interrupted: bool = False
    parts_quarantined: int = 0  # untrustworthy parts moved aside on resume (tasks redone)
    # first-stage candidates that did not start as configured (generation symmetric or
    # template): how many, and the first reason seen
    start_fallbacks: dict[str, int] = dataclasses.field(default_factory=dict)  # per reason
    # node events, actor placement and tasks retried after a node loss (NodeWatch.report)
    nodes: dict[str, Any] = dataclasses.field(default_factory=dict)

    def keep(self, folder: str | Path) -> Path:
        """Write this summary into the results folder as ``_runs/<UTC time>-<pid>.json``
        (every run of the driver keeps its own)."""
        from campaign.engine.store import write_text_atomic

        runs = Path(folder) / "_runs"
        runs.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = runs / f"{stamp}-{os.getpid()}.json"
        return write_text_atomic(path, json.dumps(dataclasses.asdict(self), indent=1) + "\n")

    def count_start_fallbacks(self, generation: str, rows: list[Any]) -> None:
        """Count the rows of a first-stage task that did not start as ``generation``, or
        were sampled without its orbits (the reason is in each row: ``symmetric_fallback``
        or ``start_from``)."""
        if generation == "unconditional":
            return
        for row in rows:
            mode = getattr(row, "mode", None)
            unconstrained = getattr(row, "symmetric_fallback", None)
            if mode is None or mode in INPAINT_MODES or (mode == generation
                                                         and not unconstrained):
                continue
            reason = (unconstrained or getattr(row, "start_from", None)
                      or f"started as {mode}").split(";")[0]
            self.start_fallbacks[reason] = self.start_fallbacks.get(reason, 0) + 1

    def line(self) -> str:
        state = "interrupted" if self.interrupted else "finished"
        quarantined = (f", {self.parts_quarantined} bad parts moved to _quarantine"
                       if self.parts_quarantined else "")
        no_framework = (f", {self.hosts_without_framework} of {self.hosts_refined} hosts "
                        "without a framework to inpaint" if self.hosts_without_framework
                        else "")
        events = self.nodes.get("node_events") or []
        retried = self.nodes.get("tasks_retried_after_node_loss") or {}
        nodes = (f", {len(events)} node events, {len(retried)} tasks retried after a node "
                 "loss" if events else "")
        fell_back = ""
        if self.start_fallbacks:
            reason, n = max(self.start_fallbacks.items(), key=lambda kv: (kv[1], kv[0]))
            others = sum(self.start_fallbacks.values()) - n
            fell_back = (f", {n + others} first-stage candidates fell back ({n}: {reason}"
                         f"{f'; {others} other' if others else ''})")
        return (
            f"campaign {state} in {self.elapsed_s:.1f} s: {self.tasks_written} tasks written "
            f"({self.tasks_skipped} already done{quarantined}), {self.candidates_written} "
            f"candidates, {self.candidates_failed} failed{no_framework}{fell_back}{nodes} "
            f"(actors ready after "
            f"{self.actor_start_s:.1f} s); results in {self.output}"
        )


@dataclasses.dataclass
class _ActiveTask:
    task: Task
    expected: int
    records: list[CandidateRecord] = dataclasses.field(default_factory=list)
