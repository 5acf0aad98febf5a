"""Relaxing training-set candidates, as a job of the task engine (:mod:`campaign.engine`).

One task per block of candidates (its id: a hash of their structure ids), written as one
part of the cache (:class:`campaign.jobs.data.cache.RelaxStore`); the worker is a relaxer built once
from a factory: a picklable callable taking a ``RelaxSettings`` and returning an object
with ``relax(structure) -> RelaxResult``. The default (:func:`chgnet_relaxer`) is the
CHGNet :class:`~chggen_kernels.relax.Relaxer`; tests inject their own. Every finished
block is written to the cache at once and its records go to ``on_record``, so an
interrupt loses at most the blocks running.

``workers == 1`` runs in this process; more run on the engine's Ray actors
(:class:`~campaign.engine.RayActorExecutor`: one CPU each, at most :data:`QUEUE_DEPTH`
calls per actor, so memory stays bounded by ``workers * QUEUE_DEPTH`` blocks). Without
an address (or ``RAY_ADDRESS``) a private local Ray on loopback with ``workers`` CPUs is
started and shut down afterwards (:func:`campaign.engine.ray_toolkit.init_ray`). A call
lost with its actor (after Ray's retry) becomes a failed record (``worker_error: ...``).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from campaign.engine import InProcessExecutor, JobBase, RayActorExecutor, run_job
from chggen_kernels.datasets import SourceStructure, failed_record, relax_record
from chggen_kernels.relax import RelaxSettings

__all__ = [
    "Progress",
    "RelaxBlock",
    "RelaxerFactory",
    "blocks",
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


@dataclasses.dataclass(frozen=True)
class RelaxBlock:
    """A task: up to :data:`campaign.jobs.data.cache.BLOCK` candidates, relaxed together into
    one part of the cache."""

    task_id: str
    candidates: tuple[SourceStructure, ...]


def blocks(candidates: Sequence[SourceStructure], size: int) -> list[RelaxBlock]:
    """``candidates`` in order, ``size`` per block (ids: their structure ids)."""
    from campaign.jobs.data.cache import block_id

    out = []
    for start in range(0, len(candidates), size):
        chunk = tuple(candidates[start:start + size])
        out.append(RelaxBlock(block_id([c.structure_id for c in chunk]), chunk))
    return out


class _RelaxJob(JobBase):
    """Blocks of candidates; a block whose worker was lost gets failed records."""

    label = "data build: relaxing"

    def __init__(self, tasks: Sequence[RelaxBlock]) -> None:
        self._tasks = list(tasks)

    def tasks(self) -> list[RelaxBlock]:
        return self._tasks

    def failed_rows(self, task: RelaxBlock, error: str) -> list[dict[str, Any]]:
        reason = error if error.startswith("worker_error") else f"relaxation: {error}"
        return [failed_record(c, reason) for c in task.candidates]


def build_relaxer(factory: RelaxerFactory, settings: Mapping[str, Any]) -> Any:
    """A worker of this job: ``factory`` called with ``RelaxSettings(**settings)``."""
    return factory(RelaxSettings(**dict(settings)))


def relax_one(relaxer: Any, block: RelaxBlock, *, label: str) -> list[dict[str, Any]]:
    """The task of this job: the cache records of a block (failures included)."""
    return [relax_record(c, relaxer, label) for c in block.candidates]


def relax_candidates(
    candidates: Sequence[SourceStructure],
    *,
    workers: int,
    factory: RelaxerFactory,
    settings: RelaxSettings,
    label: str,
    store: Any,
    on_record: RecordSink,
    address: str | None = None,
    block: int | None = None,
) -> None:
    """Relax ``candidates`` in this process (``workers == 1``) or on ``workers`` Ray
    actors, ``block`` per task (default :data:`campaign.jobs.data.cache.BLOCK`); every
    finished block is written to ``store`` (:class:`campaign.jobs.data.cache.RelaxStore`) and
    its records go to ``on_record`` (module docstring)."""
    from campaign.jobs.data.cache import BLOCK

    job = _RelaxJob(blocks(candidates, block or BLOCK))
    make_worker = functools.partial(build_relaxer, factory, settings.to_dict())
    run_one = functools.partial(relax_one, label=label)

    def written(task: RelaxBlock, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            on_record(row)

    if workers == 1:
        run_job(job, store, InProcessExecutor(make_worker, run_one), on_written=written)
        return
    import ray

    from campaign.engine.ray_toolkit import init_ray

    own_ray = init_ray(address, num_cpus=workers)
    try:
        executor = RayActorExecutor(make_worker, run_one, workers, depth=QUEUE_DEPTH,
                                    name="relaxation actor")
        run_job(job, store, executor, on_written=written)
    finally:
        if own_ray:
            ray.shutdown()
