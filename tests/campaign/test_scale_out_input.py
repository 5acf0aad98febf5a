"""Bad scale-out input is one line, exit 2, before any work: actors that fit no node type of
a cluster file (``--cluster``), and a Ray address that cannot be reached (``--address``;
only 127.0.0.1 is ever dialled here)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from campaign.cli import main
from campaign.distributed.cluster_fit import ClusterFitError, node_types
from campaign.engine import ray_toolkit as toolkit
from campaign.engine.ray_toolkit import RayAddressError, check_ray_address

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = str(ROOT / "cluster.yaml")
KUBERAY = str(ROOT / "examples" / "kubernetes" / "raycluster.yaml")


def _campaign(tmp_path: Path, **resources: object) -> str:
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({"compositions": {"cells": ["Li3Si"]},
                                    "output": str(tmp_path / "out"), "resources": resources}))
    return str(path)


def _unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize("cluster", [CLUSTER, KUBERAY])
def test_cluster_campaign_fits_both_cluster_files(cluster: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ROOT / "examples" / "li_si_cluster.yaml"), "--cluster",
                 cluster]) == 0
    out = capsys.readouterr().out
    group = "gpu_sampler" if cluster == CLUSTER else "gpu-sampler"
    assert f"sampler actors ({{CPU: 1, GPU: 1, sampler_node: 1}} each) fit {group}" in out
    assert "relaxation actors ({CPU: 1, relax_node: 1} each) fit cpu" in out


def test_actors_that_fit_no_node_type_are_one_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = _campaign(tmp_path, gpus_per_sampler=2, cpus_per_sampler=1,
                       sampler_resources={"sampler_node": 1}, relax_resources={"relax_node": 1})
    assert main(["check", config, "--cluster", CLUSTER]) == 2
    assert _one_line(capsys) == (
        f"chggen check: resources: sampler actors ask {{CPU: 1, GPU: 2, sampler_node: 1}}: no "
        f"node type of {CLUSTER!r} offers them (head lacks CPU, GPU and sampler_node; "
        "gpu_sampler has GPU 1 of 2; cpu_relax lacks GPU and sampler_node)")
    config = _campaign(tmp_path, cpus_per_relax_actor=40, relax_resources={"relax_node": 64})
    assert main(["run", config, "--cluster", CLUSTER]) == 2
    assert _one_line(capsys) == (
        f"chggen run: resources: relaxation actors ask {{CPU: 40, relax_node: 64}}: no node "
        f"type of {CLUSTER!r} offers them (head lacks CPU and relax_node; gpu_sampler lacks "
        "relax_node, has CPU 8 of 40; cpu_relax has CPU 32 of 40 and relax_node 32 of 64)")
    assert not (tmp_path / "out").exists()  # refused before any work


def test_a_file_that_is_no_cluster_is_one_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = _campaign(tmp_path)
    assert main(["check", config, "--cluster", config]) == 2
    assert "neither a Ray autoscaler configuration" in _one_line(capsys)
    broken = tmp_path / "broken.yaml"
    broken.write_text("available_node_types: {cpu: {resources: {CPU: many}}}\n")
    assert main(["run", config, "--cluster", str(broken)]) == 2
    assert "available_node_types.cpu.resources.CPU = 'many': not a number" in _one_line(capsys)
    assert main(["check", config, "--cluster", str(tmp_path / "missing.yaml")]) == 2
    assert "cluster file" in _one_line(capsys)


def test_kuberay_groups_fall_back_to_container_limits() -> None:
    group = {"groupName": "cpu", "rayStartParams": {"resources": '{"relax_node": 4}'},
             "template": {"spec": {"containers": [{"resources": {"limits": {
                 "cpu": "4000m", "memory": "8Gi", "nvidia.com/gpu": 1}}}]}}}
    types = node_types({"kind": "RayCluster", "spec": {"headGroupSpec": {"rayStartParams": {
        "num-cpus": "0"}}, "workerGroupSpecs": [group]}}, "test")
    assert types == {"head": {"CPU": 0.0}, "cpu": {"CPU": 4.0, "GPU": 1.0,
                                                   "memory": 8 * 2.0**30, "relax_node": 4.0}}
    with pytest.raises(ClusterFitError, match="not a JSON mapping"):
        node_types({"kind": "RayCluster", "spec": {"headGroupSpec": {"rayStartParams": {
            "resources": "{relax_node: 4"}}}}, "test")


@pytest.fixture
def no_ray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.mark.usefixtures("no_ray_address")
def test_unreachable_address_is_one_line_before_work(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    port = _unused_port()
    config = _campaign(tmp_path)
    assert main(["run", config, "--address", f"127.0.0.1:{port}"]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"chggen run: Ray address '127.0.0.1:{port}': cannot reach the Ray "
                           f"head: connection refused (nothing listens on port {port})")
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")  # as `ray job submit` sets it
    assert main(["run", config]) == 2
    assert f"Ray address '127.0.0.1:{port}' (from RAY_ADDRESS): cannot reach" in \
        _one_line(capsys)
    assert main(["run", config, "--address", "no-port-here"]) == 2
    assert "expected host:port" in _one_line(capsys)


@pytest.mark.usefixtures("no_ray_address")
def test_auto_without_a_running_ray_is_one_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from ray._private import services

    # what Ray finds on this machine: no GCS process, no `ray start` address file
    monkeypatch.setattr(services, "find_gcs_addresses", frozenset)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    config = _campaign(tmp_path)
    assert main(["run", config, "--address", "auto"]) == 2
    assert _one_line(capsys) == ("chggen run: Ray address 'auto': no running Ray found on this "
                                 "machine; start one with 'ray start --head' or give the "
                                 "head's host:port")
    port = _unused_port()  # the address file of a `ray start` whose head is gone
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: f"127.0.0.1:{port}")
    assert main(["run", config, "--address", "auto"]) == 2
    assert (f"Ray address 'auto' (found 127.0.0.1:{port}): cannot reach the Ray head: "
            "connection refused") in _one_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("error", "reason"), [
    (TimeoutError("timed out"), "timed out after 3 s"),
    (socket.gaierror(-2, "Name or service not known"), "name 'head.invalid' does not resolve"),
])
def test_timeouts_and_unknown_names_are_named(monkeypatch: pytest.MonkeyPatch,
                                              error: OSError, reason: str) -> None:
    def refuse(address: tuple[str, int], timeout: float) -> None:
        raise error  # no packet leaves this machine

    monkeypatch.setattr(toolkit.socket, "create_connection", refuse)
    with pytest.raises(RayAddressError, match=reason) as caught:
        check_ray_address("head.invalid:6379")
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


def test_init_ray_refuses_before_ray_init(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray is already connected in this process")
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("ray.init was called"))
    with pytest.raises(RayAddressError, match="connection refused"):
        toolkit.init_ray(f"127.0.0.1:{_unused_port()}")
    check_ray_address("local")  # a private Ray: nothing to check
    check_ray_address(None)
