"""The task engine: one loop for every long job (campaigns, benchmarks, data builds).

A *job* is a list of tasks with deterministic ids (:class:`Job`); the engine

1. skips every task its store already holds (a rerun resumes), offering the rows of a
   skipped task to :meth:`Job.follow_ups` (an inpainting task of a host finished earlier);
2. submits the others to an *executor* while it has room (bounded in-flight work: the
   executor decides its capacity; in process that is one task at a time);
3. hands each finished task's rows to the store as it arrives (one atomic part per task),
   then asks the job for the task's follow-ups and queues them;
4. retries a task whose execution raised (``retries`` times), then records it as failed:
   :meth:`Job.failed_rows` may turn it into rows (a ``failed`` row per candidate), else it
   stays without a part and the next run tries again;
5. reports progress on one bar and returns a :class:`RunReport`.

Executors (:mod:`campaign.engine.executors`: in this process, a process or Ray pool;
:mod:`campaign.engine.ray_actors`: a pool of Ray actors) only compute: what is done, what
is written and what comes next is decided here, once, for every job.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

__all__ = ["Executor", "Job", "JobBase", "Outcome", "RunReport", "Store", "run_job",
           "short_reason"]

Log = Callable[[str], None]
Rows = list[Any]


def short_reason(stage: str, exc: BaseException) -> str:
    """``"<stage>: <ExceptionType>: <last line>"``, at most 500 characters."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{stage}: {type(exc).__name__}: {lines[-1].strip() if lines else ''}"[:500]


@dataclasses.dataclass
class Outcome:
    """What an executor returns for one task: its rows, or the error line, and the
    seconds it took (wall time on the worker)."""

    task: Any
    rows: Rows | None
    error: str | None = None
    seconds: float = 0.0


@dataclasses.dataclass
class RunReport:
    """Tasks skipped (already in the store), run, retried, and failed with their errors."""

    skipped: int = 0
    ran: int = 0
    retried: int = 0
    failed: list[str] = dataclasses.field(default_factory=list)
    wall_s: float = 0.0


class Store(Protocol):
    """Where finished tasks' rows go (:class:`campaign.engine.store.ResultStore` and the
    benchmark and data-build stores built on it)."""

    def is_done(self, task_id: str) -> bool: ...

    def write_task(self, task_id: str, rows: list[Any], allow_empty: bool = False) -> Any: ...

    def read_task(self, task_id: str) -> list[Any]: ...


class Executor(Protocol):
    """Runs tasks somewhere; the engine asks it for room, submits, and collects."""

    def has_room(self) -> bool: ...

    def submit(self, task: Any) -> None: ...

    def busy(self) -> bool: ...

    def collect(self) -> list[Outcome]: ...

    def close(self) -> None: ...


class Job(Protocol):
    """What differs between long jobs: the tasks, their ids, what follows a finished task,
    and how a task that failed for good is recorded."""

    label: str

    def tasks(self) -> Iterable[Any]: ...

    def task_id(self, task: Any) -> str: ...

    def follow_ups(self, task: Any, rows: Rows, resumed: bool) -> Iterable[Any]: ...

    def failed_rows(self, task: Any, error: str) -> Rows | None: ...

    def describe(self, outcome: Outcome) -> str: ...


class JobBase:
    """Defaults of the optional parts of :class:`Job`: no follow-ups, a failed task left
    without a part, the task id as its description."""

    label = "job"

    def task_id(self, task: Any) -> str:
        return str(task.task_id)

    def follow_ups(self, task: Any, rows: Rows, resumed: bool) -> Iterable[Any]:
        return ()

    def failed_rows(self, task: Any, error: str) -> Rows | None:
        return None

    def describe(self, outcome: Outcome) -> str:
        return f"{self.task_id(outcome.task)} {outcome.seconds:.0f} s"


def run_job(job: Job, store: Store, executor: Executor, *, retries: int = 0,
            log: Log | None = None, progress: bool | None = None,
            on_written: Callable[[Any, Rows], None] | None = None,
            report: RunReport | None = None) -> RunReport:
    """Run the unfinished tasks of ``job`` on ``executor`` into ``store`` (module docstring).

    ``log``: where lines go (``None``: quiet); ``progress``: show the bar (default: when
    there is a ``log``). ``on_written(task, rows)``: called after each part is written.
    ``report``: filled in place as the run goes (also when it is interrupted). Closes the
    executor when done (also on an interrupt). The executor's ``state()``, when it has
    one, joins the bar's postfix.
    """
    from campaign.engine.progress import progress_bar

    started = time.perf_counter()
    report = report if report is not None else RunReport()
    pending: collections.deque[Any] = collections.deque()
    follow: list[Any] = []
    for task in job.tasks():
        if store.is_done(job.task_id(task)):
            report.skipped += 1
            follow += _follow_ups_of_done(job, store, task, report)
        else:
            pending.append(task)
    if log and report.skipped:
        log(f"{report.skipped} of {report.skipped + len(pending) + len(follow)} tasks "
            "already done (skipped)")
    pending.extendleft(reversed(follow))
    state = getattr(executor, "state", dict)
    bar = progress_bar(len(pending), job.label, "tasks",
                       enabled=log is not None if progress is None else progress)
    attempts: collections.Counter[str] = collections.Counter()
    try:
        while pending or executor.busy():
            while pending and executor.has_room():
                executor.submit(pending.popleft())
            for outcome in executor.collect():
                task_id = job.task_id(outcome.task)
                if outcome.error is not None:
                    attempts[task_id] += 1
                    if attempts[task_id] <= retries:
                        report.retried += 1
                        pending.appendleft(outcome.task)
                        continue
                    report.failed.append(f"{task_id}: {outcome.error}")
                    bar.write(f"{task_id}: FAILED {outcome.error}")
                    outcome.rows = job.failed_rows(outcome.task, outcome.error)
                    if outcome.rows is None:
                        bar.update(1)
                        continue
                new = _finish(job, store, outcome, on_written)
                report.ran += outcome.error is None
                bar.total += len(new)
                pending.extendleft(reversed(new))  # hosts before new first-stage tasks
                bar.update(1)
                bar.set_postfix(last=job.describe(outcome), failed=len(report.failed),
                                **state())
    finally:
        bar.close()
        executor.close()
        report.wall_s = time.perf_counter() - started
    return report


def _finish(job: Job, store: Store, outcome: Outcome,
            on_written: Callable[[Any, Rows], None] | None) -> list[Any]:
    """Write a finished task's rows; its follow-ups not in the store yet."""
    rows = list(outcome.rows or [])  # no rows is a result too: the task is done
    store.write_task(job.task_id(outcome.task), rows, allow_empty=True)
    if on_written is not None:
        on_written(outcome.task, rows)
    new = []
    for task in job.follow_ups(outcome.task, rows, False):
        if not store.is_done(job.task_id(task)):
            new.append(task)
    return new


def _follow_ups_of_done(job: Job, store: Store, task: Any, report: RunReport) -> list[Any]:
    """The follow-ups of a task finished by an earlier run that are not in the store yet;
    those that are count as resumed too, and so on (rows are read only when the job has
    follow-ups at all)."""
    if type(job).follow_ups is JobBase.follow_ups:
        return []
    todo: list[Any] = []
    for follow_up in job.follow_ups(task, store.read_task(job.task_id(task)), True):
        if store.is_done(job.task_id(follow_up)):
            report.skipped += 1
            todo += _follow_ups_of_done(job, store, follow_up, report)
        else:
            todo.append(follow_up)
    return todo
