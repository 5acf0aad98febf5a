"""Run benchmark tasks in this process or on a pool of workers, writing each part at once.

``run_tasks`` skips the tasks whose part exists, runs the others with ``run_one(chain,
task)`` and writes every finished task's rows in the driver process as it arrives. A task
that raises is logged and left without a part (a rerun retries it); the others go on.

Workers: ``pool`` is anything with ``imap_unordered(fn, items)`` whose workers were started
with :func:`init_worker` (``multiprocessing.Pool`` with the spawn context, Ray's drop-in
``ray.util.multiprocessing.Pool`` for a cluster, or a thread pool): each worker builds its
own chain once (model and CHGNet loaded per worker), so ``make_chain`` and ``run_one`` must
be picklable (module-level functions, ``functools.partial`` of them).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from campaign.benchmark.store import BenchmarkStore, Task

__all__ = ["RunReport", "init_worker", "make_pool", "run_tasks"]

Log = Callable[[str], None]
_WORKER: dict[str, Any] = {}


@dataclasses.dataclass
class RunReport:
    """Tasks skipped (already done), run, and failed with their error lines."""

    skipped: int = 0
    ran: int = 0
    failed: list[str] = dataclasses.field(default_factory=list)
    wall_s: float = 0.0


def _call(run_one: Callable[[Any, Task], list[dict[str, Any]]], chain: Any, task: Task
          ) -> tuple[Task, list[dict[str, Any]] | None, str | None, float]:
    t0 = time.perf_counter()
    try:
        rows = run_one(chain, task)
    except Exception as exc:  # a broken task must not stop the others
        last = traceback.format_exc().strip().splitlines()[-1]
        return task, None, f"{task.task_id}: {type(exc).__name__}: {exc} ({last})", \
            time.perf_counter() - t0
    return task, rows, None, time.perf_counter() - t0


def init_worker(make_chain: Callable[[], Any], run_one: Callable[..., Any]) -> None:
    """Pool initializer: build this worker's chain once (a failure is reported per task,
    so a pool never respawns workers that cannot start)."""
    _WORKER.clear()
    _WORKER["run_one"] = run_one
    try:
        _WORKER["chain"] = make_chain()
    except Exception as exc:
        _WORKER["error"] = f"worker start-up: {type(exc).__name__}: {exc}"


def _work(task: Task) -> tuple[Task, list[dict[str, Any]] | None, str | None, float]:
    if "error" in _WORKER:
        return task, None, f"{task.task_id}: {_WORKER['error']}", 0.0
    return _call(_WORKER["run_one"], _WORKER["chain"], task)


class _RayPool:
    """Ray's multiprocessing pool on the Ray this process joined; ``join`` also shuts
    down a Ray that :func:`make_pool` started."""

    def __init__(self, pool: Any, own_ray: bool) -> None:
        self.pool, self.own_ray = pool, own_ray

    def imap_unordered(self, fn: Callable[..., Any], items: Sequence[Any]) -> Any:
        return self.pool.imap_unordered(fn, items)

    def close(self) -> None:
        self.pool.close()

    def join(self) -> None:
        import ray

        try:
            self.pool.join()
        finally:
            if self.own_ray:
                ray.shutdown()


def make_pool(workers: int, address: str | None, make_chain: Callable[[], Any],
              run_one: Callable[..., Any]) -> Any:
    """A process pool of ``workers`` (spawn), or, with ``address``, Ray's pool of
    ``workers`` actors on that cluster (``"auto"``: the one running here; ``"local"``: a
    private Ray on 127.0.0.1 only, :func:`~campaign.distributed.toolkit.init_ray`)."""
    args = (make_chain, run_one)
    if address is not None:
        from ray.util.multiprocessing import Pool as RayPool

        from campaign.distributed.toolkit import init_ray

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


def run_tasks(
    tasks: Sequence[Task],
    run_one: Callable[[Any, Task], list[dict[str, Any]]],
    make_chain: Callable[[], Any],
    store: BenchmarkStore,
    *,
    pool: Any = None,
    log: Log | None = None,
) -> RunReport:
    """Run the unfinished ``tasks`` (see the module docstring); the chain is built only
    when something is left to run."""
    t0 = time.perf_counter()
    report = RunReport()
    pending = []
    for task in tasks:
        if store.is_done(task):
            report.skipped += 1
        else:
            pending.append(task)
    if log and report.skipped:
        log(f"{report.skipped} of {len(tasks)} tasks already done (skipped)")
    if not pending:
        return report
    if pool is None:
        chain = make_chain()
        results: Any = (_call(run_one, chain, t) for t in pending)
    else:
        results = pool.imap_unordered(_work, pending)
    from campaign.progress import progress_bar

    bar = progress_bar(len(pending), f"benchmark {store.kind}", "tasks", enabled=log is not None)
    for task, rows, error, seconds in results:
        bar.update(1)
        if error is not None:
            report.failed.append(error)
            bar.write(f"{task.task_id}: FAILED {error}")
            continue
        store.write(task, rows or [])
        report.ran += 1
        ok = sum(r.get("status") == "ok" for r in rows or [])
        bar.set_postfix(last=f"{task.task_id} {ok}/{len(rows or [])} ok {seconds:.0f} s",
                        failed=len(report.failed))
    bar.close()
    report.wall_s = time.perf_counter() - t0
    return report
