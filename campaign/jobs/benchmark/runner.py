"""The benchmark as a job of the task engine (:mod:`campaign.engine`).

A benchmark task is the reference relaxation of one compound or one method on it
(:class:`~campaign.jobs.benchmark.store.Task`); ``run_one(chain, task) -> rows`` runs it on a
worker's :class:`~campaign.jobs.benchmark.chain.BenchmarkChain`. :func:`run_tasks` hands the
tasks to :func:`campaign.engine.run_job`: finished parts are skipped, the others run in
this process or on a pool (``pool``: anything with ``apply_async`` whose workers were
started with :func:`init_worker`, e.g. :func:`make_pool`), every task's rows are written
as they arrive, and a task that raises is logged and left without a part (a rerun retries
it) while the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from campaign.engine import (
    InProcessExecutor,
    JobBase,
    Outcome,
    PoolExecutor,
    RunReport,
    init_worker,
    make_pool,
    run_job,
)
from campaign.jobs.benchmark.store import BenchmarkStore, Task

__all__ = ["BenchmarkJob", "RunReport", "init_worker", "make_pool", "run_tasks"]

Log = Callable[[str], None]
#: Tasks submitted per pool worker at once: one running, one waiting.
TASKS_PER_WORKER = 2


class BenchmarkJob(JobBase):
    """The tasks of one benchmark run, in the order given (compound by compound)."""

    def __init__(self, tasks: Sequence[Task], kind: str) -> None:
        self._tasks, self.label = list(tasks), f"benchmark {kind}"

    def tasks(self) -> list[Task]:
        return self._tasks

    def describe(self, outcome: Outcome) -> str:
        rows = outcome.rows or []
        ok = sum(r.get("status") == "ok" for r in rows)
        return f"{outcome.task.task_id} {ok}/{len(rows)} ok {outcome.seconds:.0f} s"


def run_tasks(
    tasks: Sequence[Task],
    run_one: Callable[[Any, Task], list[dict[str, Any]]],
    make_chain: Callable[[], Any],
    store: BenchmarkStore,
    *,
    pool: Any = None,
    workers: int = 1,
    log: Log | None = None,
) -> RunReport:
    """Run the unfinished ``tasks`` (module docstring); the chain is built only when
    something is left to run. ``workers``: the pool's size (bounds the tasks in flight)."""
    executor = (InProcessExecutor(make_chain, run_one) if pool is None
                else PoolExecutor(pool, TASKS_PER_WORKER * max(1, workers)))
    return run_job(BenchmarkJob(tasks, store.kind), store, executor, log=log)
