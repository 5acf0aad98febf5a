"""``chggen benchmark --address``: the tasks run on Ray's pool of actors (each with its own
chain) and give exactly the rows of the in-process run."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pandas as pd
import pytest

from campaign.commands import benchmark as command
from campaign.engine.ray_toolkit import init_ray
from campaign.jobs.benchmark.driver import execute
from tests.benchmark.fakes import FakeRelaxer, fake_chain
from tests.benchmark.test_benchmark_cli import TARGETS, csp_args, known  # noqa: F401

ray = pytest.importorskip("ray")


def test_address_local_runs_on_a_private_ray_and_shuts_it_down(
        known: str, tmp_path: Path) -> None:  # noqa: F811
    assert not ray.is_initialized()  # (runs before the module's Ray fixture)
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules["tests.benchmark.fakes"])
    spec = command.spec_from_args(csp_args(known, tmp_path / "local", "--workers", "2",
                                           "--address", "local", "--limit", "1",
                                           "--methods", "random"))
    relaxer = FakeRelaxer(TARGETS)
    _, report = execute(spec, make_chain=functools.partial(fake_chain, relaxer))
    assert (report.ran, report.failed, relaxer.calls) == (2, [], 0)
    assert not ray.is_initialized()  # the Ray it started is gone


@pytest.fixture(scope="module")
def ray_address():
    init_ray("local", num_cpus=2)  # a private Ray on 127.0.0.1, as `--address local` starts
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules["tests.benchmark.fakes"])
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _rows(out: Path) -> pd.DataFrame:
    rows = pd.read_parquet(out / "candidates.parquet")
    keep = [c for c in rows.columns if not c.startswith(("t_", "cpu_"))]  # timings differ
    return rows[keep].sort_values(["task_id", "budget_index"]).reset_index(drop=True)


def test_ray_pool_runs_every_task_with_the_in_process_results(
        known: str, tmp_path: Path, ray_address: str) -> None:  # noqa: F811
    here = command.spec_from_args(csp_args(known, tmp_path / "here"))
    execute(here, make_chain=functools.partial(fake_chain, FakeRelaxer(TARGETS)))
    on_ray = command.spec_from_args(csp_args(known, tmp_path / "ray", "--workers", "2",
                                             "--address", ray_address))
    relaxer = FakeRelaxer(TARGETS)
    make_chain = functools.partial(fake_chain, relaxer)
    _, report = execute(on_ray, make_chain=make_chain)
    assert report.ran == 2 * 5 and not report.failed  # 2 compounds x (4 methods + reference)
    assert relaxer.calls == 0  # every relaxation ran in a pool actor, on its own copy
    assert ray.is_initialized()  # a joined Ray is left running
    pd.testing.assert_frame_equal(_rows(tmp_path / "ray"), _rows(tmp_path / "here"))
    # resumable there too: nothing left to run
    _, again = execute(on_ray, make_chain=make_chain)
    assert (again.ran, again.skipped) == (0, 10)
