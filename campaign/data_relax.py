"""Relaxing training-set candidates: in this process (one worker) or on Ray relax actors.

The relaxer comes from a factory: a picklable callable taking a ``RelaxSettings`` and
returning an object with ``relax(structure) -> RelaxResult``. The default
(:func:`chgnet_relaxer`) is the CHGNet :class:`~chggen_kernels.relax.Relaxer`; tests inject
their own. Every finished record goes to ``on_record`` at once (the driver appends it to
the cache), so an interrupt loses at most the relaxations running.

With Ray (the toolkit the campaign uses too, :mod:`campaign.distributed.toolkit`), each
actor takes one CPU, loads its relaxer once and holds at most :data:`QUEUE_DEPTH` calls; the
driver submits to the least loaded actor and collects with ``ray.wait``, so memory stays
bounded by ``workers * QUEUE_DEPTH`` candidates. Without an address (or ``RAY_ADDRESS``) a
private local Ray on loopback with ``workers`` CPUs is started and shut down afterwards.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from campaign.distributed.toolkit import (
    ActorGroup,
    ActorPool,
    init_ray,
    set_worker_threads,
    start_actors,
)
from campaign.runner import short_reason
from chggen_kernels.datasets import SourceStructure, failed_record, relax_record
from chggen_kernels.relax import RelaxSettings

__all__ = [
    "DataRelaxWorker",
    "Progress",
    "RelaxerFactory",
    "chgnet_relaxer",
    "relax_in_process",
    "relax_with_ray",
]

QUEUE_DEPTH = 2  # calls held per actor: one running, one waiting
WAIT_TIMEOUT_S = 1.0
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


def relax_in_process(
    candidates: Iterable[SourceStructure],
    *,
    factory: Callable[[RelaxSettings], Any],
    settings: RelaxSettings,
    label: str,
    on_record: RecordSink,
) -> None:
    """Relax candidates one after another in this process."""
    relaxer = factory(settings)
    for candidate in candidates:
        on_record(relax_record(candidate, relaxer, label))


class DataRelaxWorker:
    """Holds one relaxer (built once) and turns candidates into cache records."""

    def __init__(self, factory: RelaxerFactory, settings: Mapping[str, Any], label: str,
                 n_threads: int = 1) -> None:
        set_worker_threads(n_threads)
        self.label = label
        self.relaxer = factory(RelaxSettings(**dict(settings)))

    def ready(self) -> dict[str, Any]:
        return {"pid": os.getpid()}

    def relax(self, candidate: SourceStructure) -> dict[str, Any]:
        return relax_record(candidate, self.relaxer, self.label)


def relax_with_ray(
    candidates: Iterable[SourceStructure],
    *,
    workers: int,
    factory: RelaxerFactory,
    settings: RelaxSettings,
    label: str,
    on_record: RecordSink,
    address: str | None = None,
) -> None:
    """Relax candidates on ``workers`` Ray actors (one CPU each), results as they arrive.

    A call lost with its actor (after Ray's retry) becomes a failed record
    (``worker_error: ...``); an actor that cannot start is a ``RuntimeError``.
    """
    import ray

    own_ray = init_ray(address, num_cpus=workers)
    pool = ActorPool([], QUEUE_DEPTH)
    try:
        group = ActorGroup(DataRelaxWorker, {"num_cpus": 1, "max_restarts": 2,
                                             "max_task_retries": 1},
                           (factory, settings.to_dict(), label, 1), workers, "relaxation actor")
        (actors,), _ = start_actors([group])
        pool = ActorPool(actors, QUEUE_DEPTH)
        pending: dict[Any, SourceStructure] = {}
        queue = iter(candidates)
        candidate = next(queue, None)
        while True:
            while candidate is not None and pool.has_room():
                pending[pool.submit("relax", candidate)] = candidate
                candidate = next(queue, None)
            if not pending:
                return
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_TIMEOUT_S)
            for ref in ready:
                done = pending.pop(ref)
                pool.done(ref)
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    record = failed_record(done, short_reason("worker_error", exc))
                on_record(record)
    finally:
        pool.kill()
        if own_ray:
            ray.shutdown()
