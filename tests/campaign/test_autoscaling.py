"""Autoscaling on one machine: a campaign against a head that runs no work makes Ray's
autoscaler start a sampler node and a relaxation node (the node types of cluster.yaml,
scaled down), every process on 127.0.0.1 only.

The cluster is :class:`campaign.distributed.fake_cluster.FakeAutoscalingCluster` (Ray's fake
multi-node provider, started without ``ray stop``, ended by its own processes only); the
stage runner is the fake one (tests/campaign/fake_runner.py) wrapped to log where each
actor loaded (tests/campaign/placed_runner.py). Two actors: one sampler, one relaxer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")  # fake_cluster subclasses Ray's fake node provider

from campaign.config.model import validate_config  # noqa: E402
from campaign.distributed.driver import run_campaign  # noqa: E402
from campaign.distributed.fake_cluster import (  # noqa: E402
    FAKE_HEAD_TYPE,
    FakeAutoscalingCluster,
    StatusFixedProvider,
    autoscaler_config,
    autoscaler_report,
    node_types_from_cluster_yaml,
)
from campaign.jobs.tasks import task_specs, unconditional_tasks  # noqa: E402
from tests.campaign.fake_runner import FakeRunnerFactory  # noqa: E402
from tests.campaign.placed_runner import (  # noqa: E402
    PlacedRunnerFactory,
    read_events,
    register_by_value,
)
from tests.campaign.sockets import off_loopback_sockets  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
V0 = 20.0  # Å^3/atom


def test_node_types_come_from_cluster_yaml_scaled_down() -> None:
    types = node_types_from_cluster_yaml(ROOT / "cluster.yaml", cpus_per_node=1, max_workers=1)
    mib = 100 * 1024 * 1024
    assert types == {
        "gpu_sampler": {"resources": {"CPU": 1, "GPU": 1, "sampler_node": 1,
                                      "object_store_memory": mib},
                        "node_config": {}, "min_workers": 0, "max_workers": 1},
        "cpu_relax": {"resources": {"CPU": 1, "relax_node": 1, "object_store_memory": mib},
                      "node_config": {}, "min_workers": 0, "max_workers": 1},
    }
    custom = node_types_from_cluster_yaml(ROOT / "cluster.yaml", gpu_as="fake_gpu")
    assert custom["gpu_sampler"]["resources"]["fake_gpu"] == 1
    assert "GPU" not in custom["gpu_sampler"]["resources"]


@pytest.mark.parametrize("status_fix", [False, True])
def test_autoscaler_config_passes_rays_schema(status_fix: bool) -> None:
    from ray.autoscaler._private.providers import _get_node_provider_cls
    from ray.autoscaler._private.util import validate_config as ray_validate

    config = autoscaler_config(node_types_from_cluster_yaml(), "127.0.0.1:6380",
                               node_status_fix=status_fix)
    ray_validate(config)
    assert config["head_node_type"] == FAKE_HEAD_TYPE
    assert config["available_node_types"][FAKE_HEAD_TYPE]["resources"] == {"CPU": 0}
    assert config["provider"]["gcs_address"] == "127.0.0.1:6380"
    provider = _get_node_provider_cls(config["provider"])
    assert (provider is StatusFixedProvider) == status_fix


def test_status_fixed_provider_reports_started_nodes_up_to_date(monkeypatch) -> None:
    from ray.autoscaler.tags import STATUS_UP_TO_DATE, TAG_RAY_NODE_STATUS

    monkeypatch.setenv("RAY_FAKE_CLUSTER", "1")
    provider = StatusFixedProvider({"gcs_address": "127.0.0.1:6380"}, "test")
    provider._nodes["w1"] = {"tags": {TAG_RAY_NODE_STATUS: "uninitialized"}}  # as Ray's
    assert provider.node_tags("w1")[TAG_RAY_NODE_STATUS] == STATUS_UP_TO_DATE
    assert provider._nodes["w1"]["tags"][TAG_RAY_NODE_STATUS] == "uninitialized"


def test_head_command_stays_on_loopback_and_never_stops_other_rays() -> None:
    cluster = FakeAutoscalingCluster()
    try:
        command, env = cluster.command(), cluster.env()
    finally:
        cluster.shutdown()
    assert command[1:3] == ["start", "--head"] and "stop" not in command
    assert "--node-ip-address=127.0.0.1" in command and "--include-dashboard=false" in command
    assert any(c.startswith("--temp-dir=/tmp/chgfc_") for c in command)
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0" and env["RAY_FAKE_CLUSTER"] == "1"
    assert env["RAY_USAGE_STATS_ENABLED"] == "0" and env["RAY_AUTH_MODE"] == "token"
    assert "RAY_ADDRESS" not in env


@pytest.fixture
def cluster() -> Iterator[FakeAutoscalingCluster]:
    types = node_types_from_cluster_yaml(ROOT / "cluster.yaml", cpus_per_node=1, max_workers=1)
    cluster = FakeAutoscalingCluster(types, idle_timeout_minutes=0.5)
    cluster.start()
    yield cluster
    cluster.shutdown()
    assert not cluster.processes()  # nothing of the cluster is left


def _config(output: Path):
    return validate_config({
        "name": "autoscale",
        "compositions": {"cells": ["Li3Si", "Li4Si2"]},
        "lattice": {"families": ["cubic", "hexagonal"]},
        "samples_per_task": 3,
        "volume_per_atom": V0,
        "output": str(output),
        "resources": {  # as examples/li_si_cluster.yaml asks, one actor of each kind
            "sampler_actors": 1, "gpus_per_sampler": 1, "cpus_per_sampler": 1,
            "sampler_resources": {"sampler_node": 1},
            "relax_actors": 1, "cpus_per_relax_actor": 1, "relax_resources": {"relax_node": 1},
            "wait_for_resources": True,
        },
    })


class _SocketWatch:
    """Samples the sockets of the cluster and of this process every ``interval_s``."""

    def __init__(self, cluster: FakeAutoscalingCluster, interval_s: float = 1.0) -> None:
        self.cluster, self.interval_s = cluster, interval_s
        self.bad: set[str] = set()
        self.samples = 0
        self.max_raylets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        found = self.cluster.off_loopback_sockets()
        self.bad.update(f"{s['pid']} {s['process']}: {s['local']} -> {s['remote']}"
                        for s in found)
        self.bad.update(off_loopback_sockets(self.cluster.session_dir))  # and the driver
        raylets = [p for p in self.cluster.processes() if "raylet/raylet" in _cmdline(p)]
        self.max_raylets = max(self.max_raylets, len(raylets))
        self.samples += 1

    def __enter__(self) -> _SocketWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cmdline(process) -> str:
    try:
        return " ".join(process.cmdline())
    except Exception:  # ended meanwhile
        return ""


def test_campaign_scales_a_head_only_cluster_up(cluster, tmp_path: Path) -> None:
    started = time.monotonic()
    register_by_value()
    config = _config(tmp_path / "out")
    log = str(tmp_path / "placement.jsonl")
    with cluster.driver_env():
        ray.init(address=cluster.address, log_to_driver=False)
        before = [n for n in ray.nodes() if n["Alive"]]
        ray.shutdown()
        assert len(before) == 1 and before[0]["Resources"].get("CPU", 0) == 0  # the head
        with _SocketWatch(cluster) as watch:
            summary = run_campaign(config, address=cluster.address, progress=False,
                                   runner_factory=PlacedRunnerFactory(
                                       FakeRunnerFactory(relax_seconds=0.2), log))
            watch.sample()
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            nodes = ray.nodes()
            types = autoscaler_report().get("node_type_mapping") or {}
        finally:
            ray.shutdown()

    # the campaign: every candidate exactly once
    expected = {s.candidate_id for task in unconditional_tasks(config)
                for s in task_specs(task, config.seed, V0)}
    table = pd.read_parquet(config.output)
    assert len(expected) == 12 == summary.candidates_written
    assert table["candidate_id"].is_unique and set(table["candidate_id"]) == expected
    assert (table["status"] == "ok").all()

    # the autoscaler launched one node of each worker type, on demand
    launched = sorted(e["node_type"] for e in cluster.autoscaler_events()
                      if e["event"] == "launch")
    assert launched == ["cpu_relax", "gpu_sampler"], cluster.autoscaler_log()[-3000:]
    by_id = {n["NodeID"]: n for n in nodes}
    assert len(by_id) == 3 and watch.max_raylets == 3
    loads = {e["kind"]: e["node"] for e in read_events(log) if e["event"] == "load"}
    sampler, relaxer = by_id[loads["sampler"]], by_id[loads["relax"]]
    assert sampler["Resources"]["sampler_node"] == 1 and sampler["Resources"]["GPU"] == 1
    assert relaxer["Resources"]["relax_node"] == 1 and "GPU" not in relaxer["Resources"]
    head = next(i for i in by_id if i not in (loads["sampler"], loads["relax"]))
    if types:  # the autoscaler's own node list (its latest report)
        assert types.get(head) == FAKE_HEAD_TYPE
        assert types.get(loads["sampler"], "gpu_sampler") == "gpu_sampler"
        assert types.get(loads["relax"], "cpu_relax") == "cpu_relax"
    # the run's summary in the folder: the nodes the autoscaler added, where the actors ran
    (kept,) = (Path(config.output) / "_runs").glob("*.json")
    run_nodes = json.loads(kept.read_text())["nodes"]
    ups = [e for e in run_nodes["node_events"] if e["event"] == "node up"]
    assert sorted(k for e in ups for k in e["resources"] if k.endswith("_node")) == [
        "relax_node", "sampler_node"]
    assert set(run_nodes["actor_nodes"]) == {"sampler 0", "relax 0"}
    assert run_nodes["actor_nodes"]["sampler 0"] == loads["sampler"][:12]
    assert run_nodes["tasks_retried_after_node_loss"] == {}
    generated = {i for e in read_events(log) if e["event"] == "generate" for i in e["ids"]}
    assert generated == expected and {e["node"] for e in read_events(log)
                                      if e["event"] == "generate"} == {loads["sampler"]}

    # every process of the cluster (and the driver) on loopback only, all along
    assert {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
    assert watch.samples >= 2 and not watch.bad, sorted(watch.bad)
    assert time.monotonic() - started < 90
