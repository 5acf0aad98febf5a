"""Where the engine's tasks run: in this process, or on a pool of worker processes.

Every executor is built from two callables, ``make_worker()`` (load the model, the
potential, ...: once per worker) and ``run_one(worker, task) -> rows``; for a pool they
must be picklable (module-level functions, ``functools.partial`` of them). A task that
raises comes back as an :class:`~campaign.engine.run.Outcome` with its error line; the
engine decides what happens next.

* :class:`InProcessExecutor`: one task at a time in this process; the worker is built on
  the first task (a finished job loads nothing). ``run_batch(worker, tasks) -> [rows]``
  optionally runs every queued task in one call (the local chain batches the sampler).
* :class:`PoolExecutor`: any pool with ``apply_async`` whose workers were started with
  :func:`init_worker` (``multiprocessing`` with the spawn context, Ray's drop-in
  ``ray.util.multiprocessing.Pool`` for a cluster, a thread pool in tests); at most
  ``in_flight`` tasks submitted at once. :func:`make_pool` builds the first two.
"""

from __future__ import annotations

import queue
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from campaign.engine.run import Outcome

__all__ = ["InProcessExecutor", "PoolExecutor", "init_worker", "make_pool", "run_guarded"]

RunOne = Callable[[Any, Any], list[Any]]
_WORKER: dict[str, Any] = {}


def run_guarded(run_one: RunOne, worker: Any, task: Any) -> Outcome:
    """``run_one(worker, task)`` as an :class:`Outcome` (an exception: its error line)."""
    started = time.perf_counter()
    try:
        rows = run_one(worker, task)
    except Exception as exc:  # noqa: BLE001 - a broken task must not stop the others
        last = traceback.format_exc().strip().splitlines()[-1]
        return Outcome(task, None, f"{type(exc).__name__}: {exc} ({last})"[:500],
                       time.perf_counter() - started)
    return Outcome(task, list(rows), None, time.perf_counter() - started)


class InProcessExecutor:
    """Tasks one after another (or all queued at once with ``run_batch``) in this process."""

    def __init__(self, make_worker: Callable[[], Any], run_one: RunOne, *,
                 run_batch: Callable[[Any, Sequence[Any]], list[list[Any]]] | None = None
                 ) -> None:
        self.make_worker, self.run_one, self.run_batch = make_worker, run_one, run_batch
        self._worker: Any = None
        self._built = False
        self._queue: list[Any] = []

    def worker(self) -> Any:
        """The worker, built on first use."""
        if not self._built:
            self._worker, self._built = self.make_worker(), True
        return self._worker

    def has_room(self) -> bool:
        return self.run_batch is not None or not self._queue

    def submit(self, task: Any) -> None:
        self._queue.append(task)

    def busy(self) -> bool:
        return bool(self._queue)

    def collect(self) -> list[Outcome]:
        tasks, self._queue = self._queue, []
        if self.run_batch is None or len(tasks) < 2:
            return [run_guarded(self.run_one, self.worker(), t) for t in tasks]
        started = time.perf_counter()
        try:
            batches = self.run_batch(self.worker(), tasks)
        except Exception:  # noqa: BLE001 - each task again alone: only the culprit fails
            return [run_guarded(self.run_one, self.worker(), t) for t in tasks]
        seconds = (time.perf_counter() - started) / len(tasks)
        return [Outcome(t, list(rows), None, seconds)
                for t, rows in zip(tasks, batches, strict=True)]

    def close(self) -> None:
        self._queue = []


def init_worker(make_worker: Callable[[], Any], run_one: RunOne) -> None:
    """Pool initializer: build this worker once (a failure is reported per task, so a
    pool never respawns workers that cannot start)."""
    _WORKER.clear()
    _WORKER["run_one"] = run_one
    try:
        _WORKER["worker"] = make_worker()
    except Exception as exc:  # noqa: BLE001 - reported with every task of this worker
        _WORKER["error"] = f"worker start-up: {type(exc).__name__}: {exc}"


def _work(task: Any) -> Outcome:
    if "error" in _WORKER:
        return Outcome(task, None, _WORKER["error"])
    return run_guarded(_WORKER["run_one"], _WORKER["worker"], task)


class PoolExecutor:
    """Tasks on a worker pool (``apply_async``), at most ``in_flight`` at once."""

    def __init__(self, pool: Any, in_flight: int) -> None:
        self.pool, self.in_flight = pool, max(1, in_flight)
        self._done: queue.Queue[Outcome] = queue.Queue()
        self._running = 0

    def has_room(self) -> bool:
        return self._running < self.in_flight

    def submit(self, task: Any) -> None:
        self._running += 1
        self.pool.apply_async(
            _work, (task,), callback=self._done.put,
            error_callback=lambda exc, t=task: self._done.put(
                Outcome(t, None, f"worker lost: {type(exc).__name__}: {exc}"[:500])))

    def busy(self) -> bool:
        return self._running > 0

    def collect(self) -> list[Outcome]:
        out = [self._done.get()]
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                break
        self._running -= len(out)
        return out

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


class _RayPool:
    """Ray's multiprocessing pool; ``join`` also shuts down a Ray that
    :func:`make_pool` started."""

    def __init__(self, pool: Any, own_ray: bool) -> None:
        self.pool, self.own_ray = pool, own_ray

    def apply_async(self, fn: Callable[..., Any], args: tuple[Any, ...], **kwargs: Any) -> Any:
        return self.pool.apply_async(fn, args, **kwargs)

    def close(self) -> None:
        self.pool.close()

    def join(self) -> None:
        import ray

        try:
            self.pool.join()
        finally:
            if self.own_ray:
                ray.shutdown()


def make_pool(workers: int, address: str | None, make_worker: Callable[[], Any],
              run_one: RunOne) -> Any:
    """A process pool of ``workers`` (spawn), or, with ``address``, Ray's pool of
    ``workers`` actors on that cluster (``"auto"``: the one running here; ``"local"``: a
    private Ray on 127.0.0.1 only, :func:`~campaign.engine.ray_toolkit.init_ray`)."""
    args = (make_worker, run_one)
    if address is not None:
        from ray.util.multiprocessing import Pool as RayPool

        from campaign.engine.ray_toolkit import init_ray

        own_ray = init_ray(address, num_cpus=workers if address == "local" else None)
        try:
            return _RayPool(RayPool(processes=workers, initializer=init_worker,
                                    initargs=args), own_ray)
        except BaseException:
            if own_ray:
                import ray

                ray.shutdown()
            raise
    import multiprocessing

    return multiprocessing.get_context("spawn").Pool(workers, initializer=init_worker,
                                                     initargs=args)
