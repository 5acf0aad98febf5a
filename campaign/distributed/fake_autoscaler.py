"""The autoscaler configuration of the fake cluster (:mod:`campaign.distributed.fake_cluster`).

The node types of a Ray cluster file scaled down for one machine, the whole configuration
Ray's fake multi-node provider reads, the provider subclass that reports started nodes
``up-to-date``, and the autoscaler's latest report. Why each setting:
``docs/scale-out-autoscaler-findings.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider

__all__ = ["FAKE_HEAD_TYPE", "OBJECT_STORE_BYTES", "StatusFixedProvider", "autoscaler_config",
           "autoscaler_report", "node_types_from_cluster_yaml"]

ROOT = Path(__file__).resolve().parents[2]
FAKE_HEAD_TYPE = "ray.head.default"  # the fake provider's fixed name of the head's type
OBJECT_STORE_BYTES = 100 * 1024 * 1024  # per node: Ray's minimum is 75 MiB
_EMPTY_LISTS = ("cluster_synced_files", "rsync_exclude", "rsync_filter",
                "initialization_commands", "setup_commands", "head_setup_commands",
                "worker_setup_commands", "head_start_ray_commands", "worker_start_ray_commands")


def node_types_from_cluster_yaml(path: str | Path = ROOT / "cluster.yaml", *,
                                 cpus_per_node: float = 1, max_workers: int = 1,
                                 gpu_as: str | None = None,
                                 object_store_bytes: int = OBJECT_STORE_BYTES
                                 ) -> dict[str, dict[str, Any]]:
    """The worker node types of a Ray cluster file, scaled down for one small machine.

    Each type keeps its name and custom resources, each capped at ``cpus_per_node``
    (``relax_node: 32`` becomes 1 with one CPU: one relaxation actor per CPU, as on the
    cloud); CPUs are ``min(CPU, cpus_per_node)``; ``memory`` is dropped (the cloud sizes do
    not fit); a GPU stays a logical GPU, or becomes the custom resource ``gpu_as``. At most
    ``max_workers`` nodes of each type, none kept up (``min_workers: 0``).
    """
    config = yaml.safe_load(Path(path).read_text())
    head = config["head_node_type"]
    types = {}
    for name, spec in config["available_node_types"].items():
        if name == head:
            continue
        resources = dict(spec.get("resources", {}))
        resources.pop("memory", None)
        scaled: dict[str, Any] = {"CPU": min(float(resources.pop("CPU", 0)), cpus_per_node)}
        gpus = resources.pop("GPU", 0)
        if gpus:
            scaled[gpu_as or "GPU"] = min(float(gpus), 1.0)
        scaled.update({k: min(float(v), cpus_per_node) for k, v in resources.items()})
        scaled = {k: int(v) if float(v).is_integer() else v for k, v in scaled.items()}
        scaled["object_store_memory"] = object_store_bytes
        types[name] = {"resources": scaled, "node_config": {}, "min_workers": 0,
                       "max_workers": max_workers}
    return types


def autoscaler_config(worker_types: Mapping[str, Mapping[str, Any]], gcs_address: str, *,
                      idle_timeout_minutes: float = 0.25, head_cpus: float = 0,
                      node_status_fix: bool = False) -> dict[str, Any]:
    """The whole autoscaler configuration of a fake multi-node cluster (what Ray's missing
    ``example.yaml`` plus ``AutoscalingCluster._generate_config`` would give), its nodes
    joining the GCS at ``gcs_address``. Autoscaler v1 reads it as it is (no defaults
    merged). ``node_status_fix``: Ray's provider subclassed by :class:`StatusFixedProvider`
    (provider type ``external``)."""
    types = {name: dict(spec) for name, spec in worker_types.items()}
    types[FAKE_HEAD_TYPE] = {"resources": {"CPU": head_cpus}, "node_config": {},
                             "max_workers": 0}
    config: dict[str, Any] = {
        "cluster_name": "chggen_fake",
        "max_workers": sum(int(t.get("max_workers", 0)) for t in worker_types.values()),
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True,
                     "gcs_address": gcs_address},
        "available_node_types": types,
        "head_node_type": FAKE_HEAD_TYPE,
        "auth": {},
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": idle_timeout_minutes,
        "docker": {},
        "file_mounts": {},
        "file_mounts_sync_continuously": False,
    }
    if node_status_fix:
        config["provider"].update(type="external",
                                  module=f"{__name__}.{StatusFixedProvider.__name__}")
    config.update({key: [] for key in _EMPTY_LISTS})
    return config


class StatusFixedProvider(FakeMultiNodeProvider):  # type: ignore[misc]
    """Ray's fake provider whose worker nodes report the status ``up-to-date``.

    Ray's overwrites its own ``up-to-date`` tag with the launcher's ``uninitialized``
    (``all_tags.update(tags)``) and never updates it, and the autoscaler checks the
    heartbeat of ``up-to-date`` nodes only (``terminate_unhealthy_nodes``): a node whose
    raylet died goes only once "idle" for ``idle_timeout_minutes``. A node is in the
    provider once its raylet has started, so ``up-to-date`` is true.
    """

    def node_tags(self, node_id: str) -> dict[str, str]:
        from ray.autoscaler.tags import STATUS_UP_TO_DATE, TAG_RAY_NODE_STATUS

        return {**super().node_tags(node_id), TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE}


def autoscaler_report() -> dict[str, Any]:
    """The autoscaler's latest report (``active_nodes``, ``pending_nodes``,
    ``node_type_mapping``: node id -> node type, ...), read from the GCS of the cluster
    this process is connected to (``ray.init`` first); ``{}`` before the first."""
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    status = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
    return dict(json.loads(status).get("autoscaler_report") or {}) if status else {}
