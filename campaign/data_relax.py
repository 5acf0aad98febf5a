"""Relaxing training-set candidates, as a job of the task engine (:mod:`campaign.engine`).

One task per candidate (its id: the structure id); the worker is a relaxer built once
from a factory: a picklable callable taking a ``RelaxSettings`` and returning an object
with ``relax(structure) -> RelaxResult``. The default (:func:`chgnet_relaxer`) is the
CHGNet :class:`~chggen_kernels.relax.Relaxer`; tests inject their own. Every finished
record goes to ``on_record`` at once (the driver appends it to the cache), so an
interrupt loses at most the relaxations running.

``workers == 1`` runs in this process; more run on the engine's Ray actors
(:class:`~campaign.engine.RayActorExecutor`: one CPU each, at most :data:`QUEUE_DEPTH`
calls per actor, so memory stays bounded by ``workers * QUEUE_DEPTH`` candidates). Without
an address (or ``RAY_ADDRESS``) a private local Ray on loopback with ``workers`` CPUs is
started and shut down afterwards (:func:`campaign.distributed.toolkit.init_ray`). A call
lost with its actor (after Ray's retry) becomes a failed record (``worker_error: ...``).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from campaign.engine import InProcessExecutor, JobBase, RayActorExecutor, run_job
from chggen_kernels.datasets import SourceStructure, failed_record, relax_record
from chggen_kernels.relax import RelaxSettings

__all__ = [
    "Progress",
    "RelaxerFactory",
    "build_relaxer",
    "chgnet_relaxer",
    "relax_candidates",
    "relax_one",
]

QUEUE_DEPTH = 2  # calls held per actor: one running, one waiting
RecordSink = Callable[[dict[str, Any]], None]


RelaxerFactory = Callable[[RelaxSettings], Any]


def chgnet_relaxer(settings: RelaxSettings) -> Any:
    """The CHGNet relaxer (pretrained CHGNet, loaded once)."""
    from chggen_kernels.relax import Relaxer

    return Relaxer(settings)


class Progress:
    """Counts of the relaxations of this run, printed every ``interval_s`` seconds."""

    def __init__(self, total: int, stream: TextIO | None = None, interval_s: float = 30.0
                 ) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.ok = self.failed = 0
        self.started = self._last = time.monotonic()

    @property
    def done(self) -> int:
        return self.ok + self.failed

    def add(self, record: Mapping[str, Any]) -> None:
        if record.get("status") == "ok":
            self.ok += 1
        else:
            self.failed += 1
        now = time.monotonic()
        if now - self._last >= self.interval_s or self.done == self.total:
            self._last = now
            self.print()

    def print(self) -> None:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        print(f"data build: relaxed {self.done}/{self.total} (ok {self.ok}, failed "
              f"{self.failed}) in {elapsed:.0f} s, {rate * 60:.1f}/min, ETA {eta / 60:.0f} min",
              file=self.stream, flush=True)


class _RelaxJob(JobBase):
    """One task per candidate; a candidate whose worker was lost gets a failed record."""

    label = "data build: relaxing"

    def __init__(self, candidates: Iterable[SourceStructure]) -> None:
        self._candidates = candidates

    def tasks(self) -> Iterable[SourceStructure]:
        return self._candidates

    def task_id(self, task: SourceStructure) -> str:
        return task.structure_id

    def failed_rows(self, task: SourceStructure, error: str) -> list[dict[str, Any]]:
        reason = error if error.startswith("worker_error") else f"relaxation: {error}"
        return [failed_record(task, reason)]


class _RecordSink:
    """The engine's store for this job: records go to ``on_record`` (the cache); what is
    cached was left out of the candidates already."""

    def __init__(self, on_record: RecordSink) -> None:
        self.on_record = on_record

    def is_done(self, task_id: str) -> bool:
        return False

    def write_task(self, task_id: str, rows: list[Any], allow_empty: bool = False) -> None:
        for row in rows:
            self.on_record(row)

    def read_task(self, task_id: str) -> list[Any]:
        return []


def build_relaxer(factory: RelaxerFactory, settings: Mapping[str, Any]) -> Any:
    """A worker of this job: ``factory`` called with ``RelaxSettings(**settings)``."""
    return factory(RelaxSettings(**dict(settings)))


def relax_one(relaxer: Any, candidate: SourceStructure, *, label: str
               ) -> list[dict[str, Any]]:
    """The task of this job: the cache record of one candidate (failures included)."""
    return [relax_record(candidate, relaxer, label)]


def relax_candidates(
    candidates: Iterable[SourceStructure],
    *,
    workers: int,
    factory: RelaxerFactory,
    settings: RelaxSettings,
    label: str,
    on_record: RecordSink,
    address: str | None = None,
) -> None:
    """Relax ``candidates`` in this process (``workers == 1``) or on ``workers`` Ray
    actors, every record to ``on_record`` as it arrives (module docstring)."""
    make_worker = functools.partial(build_relaxer, factory, settings.to_dict())
    run_one = functools.partial(relax_one, label=label)
    if workers == 1:
        run_job(_RelaxJob(candidates), _RecordSink(on_record),
                InProcessExecutor(make_worker, run_one))
        return
    import ray

    from campaign.distributed.toolkit import init_ray

    own_ray = init_ray(address, num_cpus=workers)
    try:
        executor = RayActorExecutor(make_worker, run_one, workers, depth=QUEUE_DEPTH,
                                    name="relaxation actor")
        run_job(_RelaxJob(candidates), _RecordSink(on_record), executor)
    finally:
        if own_ray:
            ray.shutdown()
