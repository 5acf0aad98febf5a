"""The task engine: skipping what the store holds, bounded submission, retries, failed
rows, follow-ups (also of resumed tasks), batching in process and on a pool; and the
local chain as a job of it (a rerun into the same folder runs nothing, a lost part runs
alone)."""

from __future__ import annotations

import dataclasses
import threading
from multiprocessing.pool import ThreadPool
from pathlib import Path
from typing import Any

import pytest

from campaign.engine import (
    InProcessExecutor,
    JobBase,
    PoolExecutor,
    init_worker,
    run_job,
)
from campaign.jobs.chain import run_chain
from campaign.jobs.tasks import Task, task_specs
from campaign.stages.runner import RunnerSettings
from chggen_kernels.workflow.settings import InpaintSettings
from tests.campaign.fake_runner import FakeRunnerFactory


@dataclasses.dataclass(frozen=True)
class Item:
    task_id: str
    value: int


class MemoryStore:
    def __init__(self, done: dict[str, list[Any]] | None = None) -> None:
        self.parts = dict(done or {})
        self.writes: list[str] = []

    def is_done(self, task_id: str) -> bool:
        return task_id in self.parts

    def write_task(self, task_id: str, rows: list[Any], allow_empty: bool = False) -> None:
        self.parts[task_id] = list(rows)
        self.writes.append(task_id)

    def read_task(self, task_id: str) -> list[Any]:
        return self.parts[task_id]


class Squares(JobBase):
    """Tasks 0..n-1; an even task's row is followed by the task ``<id>.half``."""

    label = "squares"

    def __init__(self, n: int, failed_as_rows: bool = False) -> None:
        self.n, self.failed_as_rows = n, failed_as_rows
        self.seen: list[tuple[str, bool]] = []

    def tasks(self) -> list[Item]:
        return [Item(f"t{i}", i) for i in range(self.n)]

    def follow_ups(self, task: Item, rows: list[Any], resumed: bool) -> list[Item]:
        self.seen.append((task.task_id, resumed))
        if task.task_id.endswith(".half") or task.value % 2:
            return []
        return [Item(f"{task.task_id}.half", task.value // 2)]

    def failed_rows(self, task: Item, error: str) -> list[Any] | None:
        return [{"task": task.task_id, "status": "failed", "why": error}] \
            if self.failed_as_rows else None


def square(worker: dict[str, Any], task: Item) -> list[dict[str, Any]]:
    worker["calls"].append(task.task_id)
    if task.value in worker["raise_on"]:
        worker["raise_on"].discard(task.value)  # fails once
        raise RuntimeError(f"boom {task.value}")
    return [{"task": task.task_id, "status": "ok", "value": task.value ** 2}]


def _worker(raise_on: set[int] | None = None) -> dict[str, Any]:
    return {"calls": [], "raise_on": set(raise_on or ())}


def test_everything_runs_once_and_follow_ups_are_written() -> None:
    worker = _worker()
    store = MemoryStore()
    report = run_job(Squares(4), store, InProcessExecutor(lambda: worker, square))
    assert sorted(store.parts) == ["t0", "t0.half", "t1", "t2", "t2.half", "t3"]
    assert store.parts["t2.half"][0]["value"] == 1 and report.ran == 6
    assert sorted(worker["calls"]) == sorted(store.parts)  # each task exactly once


def test_a_rerun_skips_done_tasks_and_plans_follow_ups_of_resumed_ones() -> None:
    store = MemoryStore({"t0": [{"value": 0}], "t1": [{"value": 1}]})
    worker = _worker()
    job = Squares(3)
    report = run_job(job, store, InProcessExecutor(lambda: worker, square))
    assert report.skipped == 2 and sorted(worker["calls"]) == ["t0.half", "t2", "t2.half"]
    assert ("t0", True) in job.seen and ("t2", False) in job.seen
    assert worker["calls"][0] == "t0.half"  # a resumed task's follow-up goes first


def test_nothing_to_do_builds_no_worker() -> None:
    def unbuildable() -> Any:
        raise AssertionError("the worker must not be built")

    store = MemoryStore({"t0": [], "t0.half": []})
    # the task and its follow-up are both resumed
    assert run_job(Squares(1), store, InProcessExecutor(unbuildable, square)).skipped == 2


def test_a_failing_task_is_retried_then_left_without_a_part() -> None:
    worker = _worker(raise_on={1})
    store = MemoryStore()
    report = run_job(Squares(2), store, InProcessExecutor(lambda: worker, square), retries=1)
    assert report.retried == 1 and not report.failed and "t1" in store.parts
    worker = _worker(raise_on={1})
    store = MemoryStore()
    report = run_job(Squares(2), store, InProcessExecutor(lambda: worker, square))
    assert "t1" not in store.parts and len(report.failed) == 1
    assert report.failed[0].startswith("t1: RuntimeError: boom 1")


def test_failed_rows_of_the_job_are_written() -> None:
    store = MemoryStore()
    run_job(Squares(2, failed_as_rows=True), store,
            InProcessExecutor(lambda: _worker(raise_on={1}), square))
    (row,) = store.parts["t1"]
    assert row["status"] == "failed" and row["why"].startswith("RuntimeError: boom 1")


def test_a_batch_that_raises_runs_each_task_alone() -> None:
    worker = _worker(raise_on={2})

    def batch(w: dict[str, Any], tasks: list[Item]) -> list[list[Any]]:
        return [square(w, t) for t in tasks]

    store = MemoryStore()
    report = run_job(Squares(3), store, InProcessExecutor(lambda: worker, square,
                                                          run_batch=batch), retries=0)
    assert sorted(store.parts) == ["t0", "t0.half", "t1", "t2", "t2.half"]
    assert report.failed == []


def test_a_pool_holds_at_most_its_in_flight_tasks() -> None:
    running, peak, lock = [0], [0], threading.Lock()
    gate = threading.Event()

    def slow(worker: Any, task: Item) -> list[Any]:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(0.05)
        with lock:
            running[0] -= 1
        return [{"value": task.value}]

    pool = ThreadPool(4, initializer=init_worker, initargs=(lambda: None, slow))
    store = MemoryStore()
    report = run_job(Squares(10), store, PoolExecutor(pool, in_flight=3))
    assert len(store.parts) == 15 and report.ran == 15 and 1 <= peak[0] <= 3


# ------------------------------------------------------------------ the local chain
class Counting:
    """A runner that counts the candidates it samples."""

    def __init__(self, runner: Any) -> None:
        self.runner, self.sampled = runner, []
        self.settings = runner.settings

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)

    def generate(self, specs: Any, progress: Any = None) -> Any:
        self.sampled += [s.candidate_id for s in specs]
        return self.runner.generate(specs, progress)


def _chain(out: Path) -> tuple[Counting, Any]:
    runner = Counting(FakeRunnerFactory()(RunnerSettings()))
    task = Task(task_id="a1b2c3d4e5f60718", mode="unconditional",
                composition={"Li": 3, "Si": 1}, n_samples=6)
    specs = task_specs(task, 0, 20.0)
    inpaint = InpaintSettings(guest_species=("Li",), samples_per_host=2, hosts_per_task=3)
    result = run_chain(runner, specs, inpaint=inpaint, inpaint_modes=("inpaint",), seed=0,
                       out_dir=out)
    return runner, result


@pytest.mark.parametrize("lose", [False, True])
def test_the_local_chain_resumes_like_a_campaign(tmp_path: Path, lose: bool) -> None:
    first, result = _chain(tmp_path / "out")
    inpainted = sorted(r.candidate_id for r in result.inpainted)
    assert len(first.sampled) == 6 + len(inpainted) and len(result.unconditional) == 6
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert len(parts) == 1 + 3  # the first-stage task and one task per host (maybe empty)
    lost = None
    if lose:
        lost = next(p for p in parts if p.stat().st_size and p.name != parts[0].name
                    and "a1b2c3d4e5f60718" not in p.name)
        lost.unlink()
    again, resumed = _chain(tmp_path / "out")
    assert sorted(r.candidate_id for r in resumed.inpainted) == inpainted
    assert sorted(r.candidate_id for r in resumed.unconditional) == sorted(
        r.candidate_id for r in result.unconditional)
    if lost is None:
        assert again.sampled == []
    else:
        task_id = lost.name[len("part-"):-len(".parquet")]
        assert again.sampled and {c.rsplit("-", 1)[0] for c in again.sampled} == {task_id}
