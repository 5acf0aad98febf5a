"""Scale-out recipes: the SLURM batch script run by bash against stub ``scontrol``/``srun``/
``ray``/``chggen`` (the commands it issues for a given node list), the retrying
``ray job submit`` wrapper against a stub ``ray``, the KubeRay manifest against
``cluster.yaml``, and one Ray version everywhere. Nothing here opens a socket."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from campaign.config.model import load_config
from campaign.config.recipes import RAY_REQUIREMENT, RAY_VERSION, render_slurm
from campaign.distributed.cluster_fit import actor_requests, load_node_types, shortfall

ROOT = Path(__file__).resolve().parents[2]
SBATCH = ROOT / "examples" / "slurm" / "chggen_ray.sbatch"
SLURM_CONFIG = "examples/slurm/li_si_10k.yaml"
RETRY = ROOT / "examples" / "submit_with_retry.sh"
KUBERAY = ROOT / "examples" / "kubernetes" / "raycluster.yaml"

# One stub for every command: records its name and arguments (one JSON line, one write),
# then answers as the real command would where the scripts read the answer.
FAKE = r'''
import json, os, sys
name, args = os.environ.get("FAKE_NAME") or os.path.basename(sys.argv[0]), sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([name, *args]) + "\n")
state = os.environ.get("FAKE_STATE", "")
if name == "scontrol" and args[:2] == ["show", "hostnames"]:
    print("\n".join(args[2].split(",")))
elif name == "srun" and args[-2:] == ["hostname", "--ip-address"]:
    print("127.0.0.1 ::1")
elif name == "chggen":
    sys.exit(int(os.environ.get("FAKE_CHGGEN_RC", "0")))
elif name == "ray" and args[:1] == ["--version"]:
    print("ray, version " + os.environ.get("FAKE_RAY_VERSION", ""))
elif name == "ray" and args[:2] == ["job", "submit"]:
    outcomes = open(os.environ["FAKE_SCENARIO"]).read().split()
    done = len(os.listdir(state))
    outcome = outcomes[min(done, len(outcomes) - 1)]
    job = args[args.index("--submission-id") + 1]
    open(os.path.join(state, job), "w").write(outcome)
    sys.exit(0 if outcome in ("ok", "stopped") else 1)
elif name == "ray" and args[:2] in (["job", "status"], ["job", "logs"]):
    path = os.path.join(state, args[-1])
    outcome = open(path).read()
    if args[1] == "logs":
        open(path, "w").write("ok")  # the followed job finishes
        sys.exit(0)
    if outcome == "down":
        print("ConnectionError: failed to connect to the job API")
        sys.exit(1)
    print({"ok": f"Job '{args[-1]}' succeeded",
           "stopped": f"Job '{args[-1]}' was stopped",
           "lost": f"Status for job '{args[-1]}': RUNNING",
           "fail": f"Job '{args[-1]}' failed\nStatus message: Job entrypoint command failed "
                   "with exit code 1, last available logs: ...",
           "bad": f"Job '{args[-1]}' failed\nStatus message: Job entrypoint command failed "
                  "with exit code 2, last available logs: ..."}[outcome])
'''


@pytest.fixture
def stubs(tmp_path: Path) -> dict[str, str]:
    """A bin folder of stubs first on PATH; the environment to run a script with."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("scontrol", "ray", "chggen"):
        stub = bin_dir / name
        stub.write_text(f"#!{sys.executable}\n{FAKE}")
        stub.chmod(0o755)
    # srun: the script starts the Ray nodes as background steps and SIGTERMs them when it
    # ends (as SLURM would); the stub ignores SIGTERM (set before Python starts) so that a
    # slow start on a loaded machine still records its call
    (tmp_path / "srun.py").write_text(FAKE)
    srun = bin_dir / "srun"
    srun.write_text(f"#!/bin/bash\ntrap '' TERM\nFAKE_NAME=srun exec {sys.executable} "
                    f"{tmp_path / 'srun.py'} \"$@\"\n")
    srun.chmod(0o755)
    (tmp_path / "state").mkdir()
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_LOG": str(tmp_path / "calls.jsonl"), "FAKE_STATE": str(tmp_path / "state"),
            "FAKE_RAY_VERSION": RAY_VERSION}


def _calls(env: dict[str, str]) -> list[list[str]]:
    path = Path(env["FAKE_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _run_slurm(env: dict[str, str], gpu: list[str], cpu: list[str], **extra: str
               ) -> subprocess.CompletedProcess:
    env = {**env, "SLURM_JOB_NODELIST_HET_GROUP_0": ",".join(gpu),
           "SLURM_JOB_NODELIST_HET_GROUP_1": ",".join(cpu), "SLURM_JOB_ID": "4242",
           "SLURM_RESTART_COUNT": "0", "CHGGEN_HEAD_WAIT_S": "30", **extra}
    return subprocess.run(["bash", str(SBATCH), SLURM_CONFIG], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _settled_calls(env: dict[str, str], n_ray_starts: int, timeout_s: float = 30.0
                   ) -> list[list[str]]:
    """The recorded calls once ``n_ray_starts`` Ray starts are in: the script starts them
    in the background (``srun ... &``) and does not wait for them, so on a loaded machine a
    stub may write its line after the script has ended."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        calls = _calls(env)
        starts = [c for c in calls if c[0] == "srun" and "start" in c]
        if len(starts) >= n_ray_starts or time.monotonic() > deadline:
            return calls
        time.sleep(0.1)


def _ray_starts(calls: list[list[str]]) -> dict[str, list[str]]:
    """Node -> the srun arguments that started Ray there (each node once)."""
    starts: dict[str, list[str]] = {}
    for call in calls:
        if call[0] == "srun" and "start" in call and call[call.index("start") - 1] == "ray":
            node = call[call.index("-w") + 1]
            assert node not in starts, f"Ray started twice on {node}"
            starts[node] = call
    return starts


def _offer(call: list[str]) -> dict[str, float]:
    """What a ``ray start`` gives its node: CPUs, GPUs, custom resources."""
    flags = dict(a[2:].split("=", 1) for a in call if a.startswith("--") and "=" in a)
    offer = {"CPU": float(flags["num-cpus"]), "GPU": float(flags.get("num-gpus", 0))}
    return {**offer, **json.loads(flags["resources"])}


def test_committed_sbatch_is_the_rendered_recipe() -> None:
    assert SBATCH.read_text() == render_slurm()
    assert os.access(SBATCH, os.X_OK) and os.access(RETRY, os.X_OK)
    other = render_slurm("my.yaml", gpu_nodes=16, cpu_nodes=8, gpus_per_node=2,
                         relax_node_cpus=64)
    for line in ("#SBATCH --nodes=16", "#SBATCH --nodes=8", "#SBATCH --gres=gpu:2",
                 "#SBATCH --cpus-per-task=64", "#SBATCH --requeue", 'config="${1:-my.yaml}"',
                 "gpus_per_node=2", "relax_node_cpus=64", f"ray_version={RAY_VERSION}"):
        assert line in other.splitlines()
    with pytest.raises(ValueError, match="at least one GPU node"):
        render_slurm(gpu_nodes=0)


def test_sbatch_starts_head_workers_and_the_driver(stubs: dict[str, str]) -> None:
    gpu, cpu = ["gpu01", "gpu02", "gpu03", "gpu04"], ["cpu01", "cpu02"]
    done = _run_slurm(stubs, gpu, cpu)
    assert done.returncode == 0, done.stderr
    calls = _settled_calls(stubs, n_ray_starts=len(gpu + cpu))
    assert ["scontrol", "show", "hostnames", "gpu01,gpu02,gpu03,gpu04"] in calls
    assert ["scontrol", "show", "hostnames", "cpu01,cpu02"] in calls
    # the head's address comes from the first node, its first address
    assert ["srun", "--het-group=0", "--nodes=1", "--ntasks=1", "-w", "gpu01", "hostname",
            "--ip-address"] in calls
    starts = _ray_starts(calls)
    assert sorted(starts) == sorted(gpu + cpu)
    sampler = ["--num-cpus=8", "--num-gpus=1", '--resources={"sampler_node": 1}', "--block"]
    assert starts["gpu01"] == ["srun", "--het-group=0", "--nodes=1", "--ntasks=1", "-w", "gpu01",
                               "ray", "start", "--head", "--node-ip-address=127.0.0.1",
                               "--port=6379", *sampler]
    for node in gpu[1:]:
        assert starts[node] == ["srun", "--het-group=0", "--nodes=1", "--ntasks=1", "-w", node,
                                "ray", "start", "--address=127.0.0.1:6379", *sampler]
    for node in cpu:
        assert starts[node] == ["srun", "--het-group=1", "--nodes=1", "--ntasks=1", "-w", node,
                                "ray", "start", "--address=127.0.0.1:6379", "--num-cpus=32",
                                '--resources={"relax_node": 32}', "--block"]
    assert ["ray", "status", "--address", "127.0.0.1:6379"] in calls  # waited for the head
    assert [c for c in calls if c[0] == "chggen"] == [
        ["chggen", "run", SLURM_CONFIG, "--address", "127.0.0.1:6379"]]
    assert not [c for c in calls if c[:2] == ["scontrol", "requeue"]]
    # the campaign's actors fit these nodes, and fill them: one sampler per GPU node, one
    # relaxation actor per core of the CPU nodes (what render_slurm's defaults hold)
    offers = {node: _offer(call) for node, call in starts.items()}
    resources = load_config(ROOT / SLURM_CONFIG).resources
    for group in actor_requests(resources):
        assert any(shortfall(group.request, o) is None for o in offers.values()), group
    assert resources.sampler_actors == sum(o.get("sampler_node", 0) for o in offers.values())
    assert resources.relax_actors == sum(o.get("relax_node", 0) for o in offers.values())


@pytest.mark.parametrize(("rc", "restarts", "requeued"),
                         [(1, "0", True), (143, "2", True), (1, "3", False), (2, "0", False)])
def test_failed_driver_requeues_the_job(stubs: dict[str, str], rc: int, restarts: str,
                                        requeued: bool) -> None:
    done = _run_slurm(stubs, ["gpu01"], ["cpu01"], FAKE_CHGGEN_RC=str(rc),
                      SLURM_RESTART_COUNT=restarts)
    assert done.returncode == rc
    calls = _calls(stubs)
    assert (["scontrol", "requeue", "4242"] in calls) is requeued
    if requeued:
        assert calls.index(["scontrol", "requeue", "4242"]) > next(
            i for i, c in enumerate(calls) if c[0] == "chggen")
        assert "resumes the results folder" in done.stderr


@pytest.mark.parametrize(("extra", "message"), [
    ({"FAKE_RAY_VERSION": "2.40.0"}, f"Ray 2.40.0 on PATH, {RAY_VERSION} expected"),
    ({"SLURM_JOB_NODELIST_HET_GROUP_1": ""}, "not a heterogeneous job"),
])
def test_sbatch_refuses_before_starting_ray(stubs: dict[str, str], extra: dict[str, str],
                                            message: str) -> None:
    done = _run_slurm(stubs, ["gpu01"], ["cpu01"], **extra)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.splitlines()) == 1
    assert not [c for c in _calls(stubs) if c[0] in ("srun", "chggen")]


@pytest.mark.parametrize(("outcomes", "attempts", "rc", "submits"), [
    ("fail down ok", 5, 0, 3),   # driver died, then the job API was down, then it finished
    ("bad", 5, 2, 1),            # exit code 2: bad input is not resubmitted
    ("fail", 2, 1, 2),           # attempts used up
    ("lost ok", 5, 0, 1),        # the client lost a running job: follow it, no resubmit
    ("stopped", 5, 1, 1),        # `ray job stop`: not resubmitted
])
def test_submit_with_retry(stubs: dict[str, str], tmp_path: Path, outcomes: str, attempts: int,
                           rc: int, submits: int) -> None:
    (tmp_path / "scenario").write_text(outcomes)
    env = {**stubs, "FAKE_SCENARIO": str(tmp_path / "scenario"), "CHGGEN_RETRY_DELAY_S": "0",
           "CHGGEN_SUBMIT_ATTEMPTS": str(attempts), "CHGGEN_SUBMISSION_PREFIX": "li-si",
           "RAY_DASHBOARD": "http://127.0.0.1:8265"}
    done = subprocess.run(["bash", str(RETRY), "examples/li_si_cluster.yaml", "--out",
                           "/results/li_si"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == rc, done.stderr
    calls = [c for c in _calls(stubs) if c[:3] == ["ray", "job", "submit"]]
    assert len(calls) == submits
    for n, call in enumerate(calls, 1):
        assert call[call.index("--submission-id") + 1] == f"li-si-{n}"
        assert call[call.index("--address") + 1] == "http://127.0.0.1:8265"
        assert call[call.index("--") + 1:] == ["chggen", "run", "examples/li_si_cluster.yaml",
                                               "--out", "/results/li_si", "--address", "auto"]
    followed = [c for c in _calls(stubs) if c[:3] == ["ray", "job", "logs"]]
    assert len(followed) == outcomes.startswith("lost")


def test_kuberay_manifest_matches_cluster_yaml() -> None:
    manifest = yaml.safe_load(KUBERAY.read_text())
    cluster = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    spec = manifest["spec"]
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayCluster"
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] == 60 * cluster["idle_timeout_minutes"]
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # the head runs no work
    workers = {g["groupName"].replace("-", "_"): g for g in spec["workerGroupSpecs"]}
    types = cluster["available_node_types"]
    assert set(workers) == set(types) - {cluster["head_node_type"]}
    offered = load_node_types(KUBERAY)
    for name, group in workers.items():
        assert group["minReplicas"] == types[name]["min_workers"]
        assert group["maxReplicas"] == types[name]["max_workers"]
        assert offered[group["groupName"]] == types[name]["resources"]  # CPU, GPU, memory, custom
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits.get("nvidia.com/gpu", 0) == types[name]["resources"].get("GPU", 0)
        assert float(limits["cpu"]) == types[name]["resources"]["CPU"]
    assert offered["head"]["CPU"] == types[cluster["head_node_type"]]["resources"]["CPU"] == 0


def test_one_ray_version_everywhere() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["optional-dependencies"]["campaign"] == [RAY_REQUIREMENT]
    cluster = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    commands = cluster["setup_commands"] + cluster["head_setup_commands"] + \
        cluster["worker_setup_commands"]
    ray_pins = [w for c in commands for w in shlex.split(c) if w.startswith("ray[")]
    assert ray_pins == [RAY_REQUIREMENT]
    manifest = yaml.safe_load(KUBERAY.read_text())
    assert manifest["spec"]["rayVersion"] == RAY_VERSION
    groups = [manifest["spec"]["headGroupSpec"], *manifest["spec"]["workerGroupSpecs"]]
    images = [c["image"] for g in groups for c in g["template"]["spec"]["containers"]]
    assert images and all(image.endswith(f"-ray{RAY_VERSION}") for image in images)
    dockerfile = (ROOT / "examples" / "kubernetes" / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{RAY_VERSION}-" in dockerfile
    assert f"ray_version={RAY_VERSION}" in SBATCH.read_text().splitlines()
    assert metadata.version("ray") == RAY_VERSION  # the Ray installed here


def test_the_slurm_example_is_the_10000_candidate_scan() -> None:
    """examples/slurm/li_si_10k.yaml and `chggen scan Li-Si --budget 10000` plan the same
    tasks (ids, samples, first-stage mode) under the same settings fingerprint, so either
    resumes the other's folder (docs/scale-out.md)."""
    import argparse

    from campaign.commands.scan import config_from_args, register
    from campaign.config.model import load_config
    from campaign.distributed.workers import runner_settings
    from campaign.jobs.tasks import unconditional_tasks
    from campaign.stages.fingerprint import runner_fingerprint

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    scan = config_from_args(parser.parse_args(["scan", "Li-Si", "--budget", "10000"]))
    slurm = load_config(ROOT / SLURM_CONFIG)
    assert slurm.generation == scan.generation == "template-symmetric"
    assert [t.task_id for t in unconditional_tasks(slurm)] == \
        [t.task_id for t in unconditional_tasks(scan)]
    assert slurm.inpaint.samples_per_host == scan.inpaint.samples_per_host
    assert runner_fingerprint(runner_settings(slurm)) == runner_fingerprint(runner_settings(scan))
