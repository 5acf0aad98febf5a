"""Scale-out: cluster.yaml passes Ray's own validator; a two-node cluster (on loopback only)
places samplers."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from campaign.config.model import load_config, validate_config
from campaign.distributed.driver import run_campaign
from campaign.engine.ray_toolkit import loopback_only
from tests.campaign.fake_runner import FakeRunnerFactory, register_by_value
from tests.campaign.sockets import off_loopback_sockets

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]


def _cluster_yaml() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def _validate(config: dict) -> dict:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))  # offline: every resource is explicit
    validate_config(prepared)
    return prepared


def test_cluster_yaml_validates_offline() -> None:
    config = _cluster_yaml()
    prepared = _validate(config)
    types = config["available_node_types"]
    assert config["provider"]["type"] == "aws"
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}  # the head runs no work
    assert all("CPU" in t["resources"] for t in types.values())  # explicit resources
    gpu_types = [n for n, t in types.items() if t["resources"].get("GPU", 0) >= 1]
    cpu_types = [
        n for n, t in types.items()
        if n != config["head_node_type"] and not t["resources"].get("GPU")
    ]  # fmt: skip
    assert len(gpu_types) == 1 and len(cpu_types) == 1
    assert config["idle_timeout_minutes"] > 0
    assert any("pip install -e" in c for c in prepared["worker_setup_commands"])
    # the cloud campaign's actors ask for exactly what these worker types offer
    campaign = load_config(ROOT / "examples" / "li_si_cluster.yaml").resources
    assert set(campaign.sampler_resources) <= set(types[gpu_types[0]]["resources"])
    assert set(campaign.relax_resources) <= set(types[cpu_types[0]]["resources"])
    assert campaign.gpus_per_sampler == types[gpu_types[0]]["resources"]["GPU"]


def test_validator_rejects_a_broken_cluster_yaml() -> None:
    broken = _cluster_yaml()
    broken["available_node_types"]["gpu_sampler"]["resources"] = "one GPU"
    with pytest.raises(Exception, match="is not of type 'object'"):
        _validate(broken)
    broken = _cluster_yaml()
    broken["head_node_type"] = "nope"
    with pytest.raises(ValueError, match="`head_node_type` must be one of"):
        _validate(broken)


@pytest.fixture(scope="module")
def two_nodes():
    from ray.cluster_utils import Cluster

    loopback = {"node_ip_address": "127.0.0.1"}  # both nodes' servers on loopback only
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "include_dashboard": False, **loopback},
    )
    cluster.add_node(num_cpus=1, resources={"accel": 1}, **loopback)  # the "GPU" node
    with loopback_only():  # else Ray swaps 127.0.0.1 for this machine's address
        ray.init(address=cluster.address, log_to_driver=False)
    register_by_value()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_samplers_run_on_the_node_with_the_custom_resource(two_nodes, tmp_path: Path) -> None:
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2
    accel_node = next(n["NodeID"] for n in nodes if n["Resources"].get("accel"))
    config = validate_config(
        {
            "compositions": {"cells": ["Li3Si", "Li4Si2"]},
            "lattice": {"families": ["cubic", "hexagonal"]},
            "samples_per_task": 3,
            "volume_per_atom": 20.0,
            "output": str(tmp_path / "out"),
            "resources": {
                "sampler_actors": 1,
                "sampler_resources": {"accel": 1},
                "relax_actors": 2,
            },
        }
    )
    summary = run_campaign(config, progress=False, runner_factory=FakeRunnerFactory())
    table = pd.read_parquet(config.output)
    assert len(table) == 2 * 2 * 3 == summary.candidates_written
    assert table["candidate_id"].is_unique and (table["status"] == "ok").all()
    # the fake runner records where its model was loaded: the sampler sat on the "GPU" node
    assert table["model_checkpoint"].str.contains(f"@{accel_node[:12]}/").all()
    assert {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
    assert not off_loopback_sockets(two_nodes.head_node.get_session_dir_path())
