"""Relaxing training-set candidates: in this process (one worker) or on Ray relax actors.

The relaxer comes from a factory named ``"module:function"``; the function takes a
``RelaxSettings`` and returns an object with ``relax(structure) -> RelaxResult``. The default
(:func:`chgnet_relaxer`) is the CHGNet :class:`~chggen_kernels.relax.Relaxer`; tests name
``campaign.data_fake:fake_relaxer``. Every finished record goes to ``on_record`` at once (the
driver appends it to the cache), so an interrupt loses at most the relaxations running.

With Ray, each actor takes one CPU, loads its relaxer once and holds at most
:data:`QUEUE_DEPTH` calls; the driver submits to the least loaded actor and collects with
``ray.wait``, so memory stays bounded by ``workers * QUEUE_DEPTH`` candidates. Without an
address (or ``RAY_ADDRESS``) a private local Ray on loopback with ``workers`` CPUs is
started and shut down afterwards, as ``chggen run`` does.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from campaign.actors import short_reason
from chggen_kernels.datasets import SourceStructure, failed_record, relax_record
from chggen_kernels.relax import RelaxSettings

__all__ = [
    "DEFAULT_RELAXER",
    "DataRelaxWorker",
    "Progress",
    "chgnet_relaxer",
    "load_factory",
    "relax_in_process",
    "relax_with_ray",
]

DEFAULT_RELAXER = "campaign.data_relax:chgnet_relaxer"
QUEUE_DEPTH = 2  # calls held per actor: one running, one waiting
WAIT_TIMEOUT_S = 1.0
RecordSink = Callable[[dict[str, Any]], None]


def chgnet_relaxer(settings: RelaxSettings) -> Any:
    """The CHGNet relaxer (pretrained CHGNet, loaded once)."""
    from chggen_kernels.relax import Relaxer

    return Relaxer(settings)


def load_factory(path: str) -> Callable[[RelaxSettings], Any]:
    """``"module:function"`` -> the function; errors name the value."""
    module_name, _, attr = str(path).partition(":")
    if not module_name or not attr:
        raise ValueError(f"relaxer {path!r} must look like 'module:function'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"relaxer {path!r} cannot be imported ({exc})") from None
    if not callable(factory):
        raise ValueError(f"relaxer {path!r} is not callable")
    return factory


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


def _set_threads(n_threads: int) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(n_threads)
    try:
        import torch

        torch.set_num_threads(n_threads)
    except ImportError:  # pragma: no cover
        pass


class DataRelaxWorker:
    """Holds one relaxer (built once) and turns candidates into cache records."""

    def __init__(self, factory_path: str, settings: Mapping[str, Any], label: str,
                 n_threads: int = 1) -> None:
        _set_threads(n_threads)
        self.label = label
        self.relaxer = load_factory(factory_path)(RelaxSettings(**dict(settings)))

    def ready(self) -> dict[str, Any]:
        return {"pid": os.getpid()}

    def relax(self, candidate: SourceStructure) -> dict[str, Any]:
        return relax_record(candidate, self.relaxer, self.label)


def _init_ray(address: str | None, workers: int) -> bool:
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs: dict[str, Any] = {}
    if address == "local":  # private, loopback only, one CPU per worker
        kwargs = {"num_cpus": workers, "_node_ip_address": "127.0.0.1"}
    ray.init(address=address, include_dashboard=False, log_to_driver=False, **kwargs)
    return True


def relax_with_ray(
    candidates: Iterable[SourceStructure],
    *,
    workers: int,
    factory_path: str,
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

    own_ray = _init_ray(address, workers)
    actors: list[Any] = []
    try:
        actor_class = ray.remote(DataRelaxWorker)
        actors = [actor_class.options(num_cpus=1, max_restarts=2, max_task_retries=1).remote(
            factory_path, settings.to_dict(), label, 1) for _ in range(workers)]
        for i, actor in enumerate(actors):
            try:
                ray.get(actor.ready.remote())
            except ray.exceptions.RayError as exc:
                raise RuntimeError(f"relaxation actor {i} failed to start: "
                                   f"{short_reason('error', exc)}") from None
        load = [0] * len(actors)
        pending: dict[Any, tuple[SourceStructure, int]] = {}
        queue = iter(candidates)
        exhausted = False
        while True:
            while not exhausted:
                index = min(range(len(actors)), key=load.__getitem__)
                if load[index] >= QUEUE_DEPTH:
                    break
                candidate = next(queue, None)
                if candidate is None:
                    exhausted = True
                    break
                pending[actors[index].relax.remote(candidate)] = (candidate, index)
                load[index] += 1
            if not pending:
                return
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_TIMEOUT_S)
            for ref in ready:
                candidate, index = pending.pop(ref)
                load[index] -= 1
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    record = failed_record(candidate, short_reason("worker_error", exc))
                on_record(record)
    finally:
        for actor in actors:
            ray.kill(actor)
        if own_ray:
            ray.shutdown()
