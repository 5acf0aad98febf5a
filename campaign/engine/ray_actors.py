"""The engine's tasks on a pool of Ray actors, each holding one worker built once.

:class:`RayActorExecutor` starts ``workers`` :class:`TaskActor` s (one CPU each unless
told otherwise; Ray's own restart and retry of a lost call first), waits until each has
built its worker, submits every task to the least-loaded actor with at most ``depth``
calls per actor (so memory is bounded by ``workers * depth`` tasks) and collects with
``ray.wait``. A call lost with its actor comes back as an error outcome, for the engine
to retry or record. Ray itself is joined or started on loopback by the caller
(:func:`~campaign.engine.ray_toolkit.init_ray`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from campaign.engine.executors import RunOne, run_guarded
from campaign.engine.run import Outcome, short_reason

__all__ = ["RayActorExecutor", "TaskActor"]

WAIT_TIMEOUT_S = 1.0


class TaskActor:
    """Builds one worker (``make_worker()``, with ``n_threads`` torch/BLAS threads) and
    runs tasks on it."""

    def __init__(self, make_worker: Callable[[], Any], run_one: RunOne,
                 n_threads: int = 1) -> None:
        from campaign.engine.ray_toolkit import set_worker_threads

        set_worker_threads(n_threads)
        self.worker, self.run_one = make_worker(), run_one

    def ready(self) -> dict[str, Any]:
        return {"pid": os.getpid()}

    def run(self, task: Any) -> Outcome:
        return run_guarded(self.run_one, self.worker, task)


class RayActorExecutor:
    """Tasks on ``workers`` Ray actors (module docstring); actors start on first submit."""

    def __init__(self, make_worker: Callable[[], Any], run_one: RunOne, workers: int, *,
                 depth: int = 2, options: Mapping[str, Any] | None = None,
                 name: str = "worker", n_threads: int = 1) -> None:
        self.args = (make_worker, run_one, n_threads)
        self.workers, self.depth, self.name = workers, depth, name
        self.options = {"num_cpus": 1, "max_restarts": 2, "max_task_retries": 1,
                        **dict(options or {})}
        self.pool: Any = None
        self._pending: dict[Any, Any] = {}

    def _start(self) -> None:
        from campaign.engine.ray_toolkit import ActorGroup, ActorPool, start_actors

        group = ActorGroup(TaskActor, self.options, self.args, self.workers, self.name)
        (actors,), _ = start_actors([group])
        self.pool = ActorPool(actors, self.depth)

    def has_room(self) -> bool:
        return self.pool is None or self.pool.has_room()

    def submit(self, task: Any) -> None:
        if self.pool is None:
            self._start()
        self._pending[self.pool.submit("run", task)] = (task, time.perf_counter())

    def busy(self) -> bool:
        return bool(self._pending)

    def collect(self) -> list[Outcome]:
        import ray

        ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=WAIT_TIMEOUT_S)
        out = []
        for ref in ready:
            task, started = self._pending.pop(ref)
            self.pool.done(ref)
            try:
                out.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                out.append(Outcome(task, None, short_reason("worker_error", exc),
                                   time.perf_counter() - started))
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.kill()
        self._pending = {}
