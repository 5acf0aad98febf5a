"""The Ray pipeline with a fake runner: exactly-once results under failures, kills,
interrupts; a local Ray on loopback only.

One local Ray (2 CPUs) serves the whole module. The fake runner (tests/campaign/fake_runner.py,
injected through ``runner_factory``) draws E_d and space groups from the candidate seed, so
the expected set of candidates, inpainting hosts included, follows from the configuration
and the written host rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from campaign.config.model import dump_config, validate_config
from campaign.distributed.driver import run_campaign
from campaign.distributed.workers import CampaignResourceError, plan_actors
from campaign.engine.ray_toolkit import init_ray
from campaign.engine.store import ResultStore
from campaign.jobs.tasks import inpainting_task, task_specs, unconditional_tasks
from chggen_kernels.workflow import select_hosts
from tests.campaign.fake_runner import FakeRunnerFactory, register_by_value
from tests.campaign.sockets import off_loopback_sockets, ray_processes

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]
V0 = 20.0  # Å^3/atom, the configured volume per atom (no checkpoint needed)


@pytest.fixture(scope="module")
def ray_session():
    init_ray("local", num_cpus=2)  # chggen run's private Ray, even if another runs here
    register_by_value()
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _run(config, progress: bool = False, **fake_options):
    return run_campaign(config, progress=progress,
                        runner_factory=FakeRunnerFactory(**fake_options))


def _config(output: Path):
    return validate_config(
        {
            "name": "test",
            "compositions": {"cells": ["Li3Si", "Li4Si2", "Li5Si2"]},
            "lattice": {"families": ["cubic", "hexagonal"], "ratios": ["random"]},
            "samples_per_task": 3,
            "volume_per_atom": V0,
            "modes": ["unconditional", "inpaint"],
            "inpaint": {"guest_species": ["Li"], "samples_per_host": 2, "hosts_per_task": 1},
            "output": str(output),
            "resources": {
                "relax_actors": 2,
                "gpus_per_sampler": 1,  # no GPU here: must fall back to CPU
                "atoms_per_batch": 20,
                "max_candidates_in_flight": 6,
            },
        }
    )


def _unconditional_ids(config) -> list[str]:
    return [
        spec.candidate_id
        for task in unconditional_tasks(config)
        for spec in task_specs(task, config.seed, V0)
    ]


def _expected_ids(config) -> set[str]:
    """Unconditional candidates plus the inpainting tasks their best hosts must yield."""
    store = ResultStore(config.output)
    expected = set(_unconditional_ids(config))
    for task in unconditional_tasks(config):
        for host in select_hosts(store.read_task(task.task_id), 1):
            inpaint = inpainting_task(config, host)
            assert store.is_done(inpaint.task_id)  # an empty file if the framework is P1
            if host["spacegroup_relaxed"] > 2:  # fake frameworks of P1/P-1 hosts stay P1
                expected |= {f"{inpaint.task_id}-{i:03d}" for i in range(2)}
    return expected


def _check_exactly_once(config) -> pd.DataFrame:
    table = pd.read_parquet(config.output)
    assert table["candidate_id"].is_unique
    assert set(table["candidate_id"]) == _expected_ids(config)
    assert (table["mode"] == "inpaint").any()
    return table


def test_full_run_failed_rows_and_idempotent_rerun(ray_session, tmp_path: Path) -> None:
    config = _config(tmp_path / "out")
    ids = _unconditional_ids(config)
    calls_log = tmp_path / "relax_calls.txt"
    summary = _run(config, fail_ids=[ids[0]], generate_fail_ids=[ids[4]],
                   relax_calls_log=str(calls_log), relax_raise_ids=[ids[2]])
    table = _check_exactly_once(config).set_index("candidate_id")
    # relaxation calls carry several candidates (at most candidates_per_relax_call = 4);
    # the call holding ids[2] raised, so its candidates went again one per call and only
    # ids[2] failed
    calls = [line.split() for line in calls_log.read_text().splitlines()]
    assert max(map(len, calls)) > 1 and max(map(len, calls)) <= 4
    assert {i for call in calls for i in call} == set(table.index)
    for shared in (call for call in calls if ids[2] in call and len(call) > 1):
        assert all([i] in calls for i in shared)  # (a call of one raises at once)
    assert table.loc[ids[2], "failure_reason"].startswith("worker: ")
    assert "fake: relaxation call raised" in table.loc[ids[2], "failure_reason"]
    assert table.loc[ids[0], "status"] == "failed"
    assert table.loc[ids[0], "failure_reason"] == "fake: relaxation failed"
    assert table.loc[ids[4], "failure_reason"] == "fake: sampling failed"
    assert (table.drop(index=[ids[0], ids[2], ids[4]])["status"] == "ok").all()
    # GPU fallback (the row of a lost relaxation call carries no sampling provenance)
    assert table.drop(index=[ids[2]])["model_checkpoint"].str.endswith("/cpu").all()
    inpainted = table[table["mode"] == "inpaint"]
    assert inpainted["parent_id"].isin(table.index).all()
    assert summary.candidates_written == len(table) and summary.candidates_failed == 3
    # bounded driver: admission stops at the limit (plus at most one task's candidates)
    assert summary.peak_in_flight <= 6 + 3 - 1
    # the same command again finds everything done and touches nothing
    files = {p: p.stat().st_mtime_ns for p in Path(config.output).glob("part-*.parquet")}
    started = time.monotonic()
    again = _run(config)
    assert again.tasks_written == 0 and again.tasks_skipped == len(files)
    assert again.hosts_refined == 0  # no actor was needed
    assert time.monotonic() - started < 10
    assert {p: p.stat().st_mtime_ns for p in files} == files


def test_symmetric_mode_next_to_inpaint(ray_session, tmp_path: Path) -> None:
    base = yaml.safe_load(dump_config(_config(tmp_path / "out")))
    base["modes"] = ["unconditional", "inpaint", "inpaint-symmetric"]
    base["compositions"] = {"cells": ["Li3Si"]}  # a one-Si framework: Pm-3m in a cubic cell
    base["lattice"] = {"families": ["cubic"], "ratios": ["random"]}
    base["samples_per_task"] = 2
    config = validate_config(base)
    _run(config)
    table = pd.read_parquet(config.output)
    assert table["candidate_id"].is_unique
    plain = table[table["mode"] == "inpaint"]
    symmetric = table[table["mode"] == "inpaint-symmetric"]
    assert len(plain) == len(symmetric) > 0  # one task per host and mode
    assert set(plain["parent_id"]) == set(symmetric["parent_id"])
    # each symmetric candidate has Wyckoff letters or the reason it fell back, never both
    letters, fallback = symmetric["wyckoff_letters"], symmetric["symmetric_fallback"]
    assert (letters.isna() != fallback.isna()).all() and letters.notna().any()
    assert plain["wyckoff_letters"].isna().all() and plain["symmetric_fallback"].isna().all()


def test_killed_relaxation_worker_loses_nothing(ray_session, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    ids = _unconditional_ids(_config(tmp_path / "out"))
    victims = [ids[9]]
    config = _config(tmp_path / "out")
    _run(config, crash_once_ids=victims, marker_dir=str(markers), relax_seconds=0.05)
    # the victim's first attempt SIGKILLed its relaxation worker process
    assert sorted(p.name for p in markers.iterdir()) == sorted(f"crashed-{v}" for v in victims)
    table = _check_exactly_once(config).set_index("candidate_id")
    assert (table.loc[victims, "status"] == "ok").all()  # retried on the restarted actor
    killed_pid = int((markers / f"crashed-{victims[0]}").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(killed_pid, 0)  # that worker process is really gone


def test_killed_sampler_actor_mid_batch_loses_nothing(ray_session, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    config = _config(tmp_path / "out")
    ids = _unconditional_ids(config)
    victims = [ids[1], ids[8]]  # the second of the first batch, one of a later batch
    _run(config, sampler_crash_once_ids=victims, marker_dir=str(markers), sample_seconds=0.05)
    # each victim's first attempt SIGKILLed its sampler actor's process mid-batch
    assert sorted(p.name for p in markers.iterdir()) == sorted(
        f"sampler-crashed-{v}" for v in victims)
    for victim in victims:
        with pytest.raises(ProcessLookupError):
            os.kill(int((markers / f"sampler-crashed-{victim}").read_text()), 0)
    again = _run(config)  # the rerun finds every task done
    assert again.tasks_written == 0
    table = _check_exactly_once(config).set_index("candidate_id")
    assert (table["status"] == "ok").all()  # the batch was drawn again on the restarted actor


def test_local_ray_listens_on_loopback_only(ray_session, tmp_path: Path) -> None:
    """While a campaign runs, no socket of the driver, GCS, raylet, agents, monitor,
    dashboard process or actors is bound to (or talks to) an address off loopback."""
    config = _config(tmp_path / "out")
    done: dict[str, object] = {}
    campaign = threading.Thread(
        target=lambda: done.update(summary=_run(config, relax_seconds=0.05)), daemon=True)
    campaign.start()
    bad: set[str] = set()
    actors: set[str] = set()
    while campaign.is_alive():
        for process in ray_processes().values():
            try:
                actors |= {w for w in ("SamplerWorker", "RelaxWorker")
                           if w in " ".join(process.cmdline())}
            except Exception:  # ended meanwhile
                continue
        bad |= set(off_loopback_sockets())
        time.sleep(0.2)
    campaign.join()
    assert "summary" in done and actors == {"SamplerWorker", "RelaxWorker"}
    assert not bad, "\n".join(sorted(bad))
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")


def test_interrupted_driver_resumes_without_duplicates(ray_session, tmp_path: Path) -> None:
    config = _config(tmp_path / "out")
    path = tmp_path / "campaign.yaml"
    path.write_text(dump_config(config))
    driver = subprocess.Popen(
        [sys.executable, "-m", "tests.campaign.fake_driver", str(path), ray_session, "0.4"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out = Path(config.output)
    deadline = time.monotonic() + 300  # a loaded 2-core machine: actor start-up is slow
    while len(list(out.glob("part-*.parquet"))) < 2:
        assert driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "the driver wrote nothing in time"
        time.sleep(0.1)
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 130, stderr
    assert "run the same command again to resume" in stderr
    first = {p: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert 2 <= len(first) < 6  # interrupted mid-run
    summary = _run(config, relax_seconds=0.4)
    assert summary.tasks_skipped >= len(first)
    _check_exactly_once(config)
    assert {p: p.stat().st_mtime_ns for p in first} == first  # nothing rewritten


def test_actor_plan_fallback_and_infeasible_requests(tmp_path: Path) -> None:
    base = yaml.safe_load(dump_config(_config(tmp_path)))
    plan = plan_actors(validate_config(base), {"CPU": 2.0})
    assert not plan.use_gpu and "samplers run on CPU" in plan.warnings[0]
    waiting = validate_config({**base, "resources": {"gpus_per_sampler": 1,
                                                     "wait_for_resources": True}})  # fmt: skip
    assert plan_actors(waiting, {"CPU": 2.0}).use_gpu
    assert plan_actors(validate_config(base), {"CPU": 2.0, "GPU": 1.0}).use_gpu
    too_many = validate_config({**base, "resources": {"relax_actors": 3}})
    with pytest.raises(CampaignResourceError, match=r"the actors need 3 CPUs .* cluster has 2"):
        plan_actors(too_many, {"CPU": 2.0})
    custom = validate_config({**base, "resources": {"sampler_resources": {"accel": 1}}})
    with pytest.raises(CampaignResourceError, match=r"sampler_resources: accel = 1 but the"):
        plan_actors(custom, {"CPU": 2.0})


def test_actor_that_cannot_start_stops_before_any_row(ray_session, tmp_path: Path) -> None:
    from campaign.distributed.driver import CampaignError
    from campaign.stages.resources import ModelNotAvailableError

    data = yaml.safe_load(dump_config(_config(tmp_path / "out")))
    data["resources"]["relax_actors"] = 1
    data["volume_per_atom"] = V0
    with pytest.raises(CampaignError, match=r"sampler actor 0 failed to start: .*no memory"):
        _run(validate_config(data), load_error="no memory left on the device")
    assert not list((tmp_path / "out").glob("part-*"))
    data["model"] = {"checkpoint": str(tmp_path / "missing.pt")}  # refused before Ray
    with pytest.raises(ModelNotAvailableError, match=r"missing\.pt' does not exist"):
        run_campaign(validate_config(data), progress=False)


def test_a_campaign_file_cannot_choose_the_stage_code(tmp_path: Path) -> None:
    from campaign.config.model import CampaignConfigError

    data = yaml.safe_load(dump_config(_config(tmp_path / "out")))
    data["stages"] = {"module": "tests.campaign.fake_runner"}
    with pytest.raises(CampaignConfigError, match=r"stages = .*: unknown field"):
        validate_config(data)


@pytest.fixture(autouse=True)
def _no_leftover_actors(request):
    yield
    if "ray_session" in request.fixturenames and ray.is_initialized():
        deadline = time.monotonic() + 30  # every campaign actor gave its CPU back
        while ray.available_resources().get("CPU", 0) < 2:
            assert time.monotonic() < deadline, "campaign actors outlived their campaign"
            time.sleep(0.2)


def test_chggen_run_and_generate_make_the_same_candidates(ray_session, tmp_path: Path) -> None:
    """The real runner on Ray (``chggen run``'s path) against ``chggen generate`` with a
    user checkpoint trained on a non-default sigma range: same ids, lattices, structures."""
    import json

    import torch

    from campaign.cli import main
    from campaign.engine.store import read_results
    from tests.campaign.test_runner import SIGMA, write_user_checkpoint

    checkpoint = write_user_checkpoint(tmp_path / "user.pt")
    config = validate_config({
        "compositions": {"cells": ["Li3Si"]}, "samples_per_task": 2, "seed": 7,
        "sampler": {"n_levels": 4, "n_corrector_steps": 1}, "relax": {"max_steps": 3},
        "model": {"checkpoint": checkpoint}, "hull": {"source": "none"},
        "output": str(tmp_path / "run"),
        "resources": {"relax_actors": 1, "cpus_per_relax_actor": 1}})
    run_campaign(config, progress=False)
    threads = torch.get_num_threads()
    try:
        main(["generate", "Li3Si", "--n-samples", "2", "--seed", "7", "--n-levels", "4",
              "--n-corrector", "1", "--max-steps", "3", "--threads", "1", "--hull", "none",
              "--checkpoint", checkpoint, "--out", str(tmp_path / "gen"), "--quiet"])
    finally:
        torch.set_num_threads(threads)
    ray_rows = read_results(config.output).set_index("candidate_id").sort_index()
    local = read_results(tmp_path / "gen").set_index("candidate_id").sort_index()
    assert list(ray_rows.index) == list(local.index) and len(local) == 2
    columns = ["task_id", "seed", "lattice_family", "lattice_ratio", "volume_per_atom_prior",
               "structure_generated", "status", "sampler_settings", "model_checkpoint"]
    pd.testing.assert_frame_equal(ray_rows[columns], local[columns])
    settings = json.loads(local["sampler_settings"].iloc[0])
    assert (settings["sigma_min"], settings["sigma_max"]) == SIGMA
