"""Does every actor group of a campaign fit a node type of a cluster file?

``chggen check CONFIG --cluster FILE`` and ``chggen run CONFIG --cluster FILE`` read the
node types a cluster offers and refuse (one line, exit 2, before any work) a campaign
whose sampler or relaxation actors ask for more than any single node type has: such
actors would wait forever on an autoscaling cluster (``wait_for_resources``) or fail
only once Ray has started.

What each actor group asks for is what :func:`campaign.distributed.workers.actor_groups`
passes to Ray:

* sampler actors: ``resources.cpus_per_sampler`` CPUs, ``resources.gpus_per_sampler``
  GPUs and ``resources.sampler_resources``;
* relaxation actors (they also refine the hosts' frameworks):
  ``resources.cpus_per_relax_actor`` CPUs and ``resources.relax_resources``.

Two kinds of cluster file are read (with :func:`campaign.inputs.text.load_yaml_file`):

* a Ray autoscaler configuration (``cluster.yaml``): ``available_node_types[*].resources``;
* a KubeRay ``RayCluster`` manifest (``examples/kubernetes/raycluster.yaml``): the head
  group and each worker group, from ``rayStartParams`` (``num-cpus``, ``num-gpus``,
  ``memory``, ``resources``) or, where those are absent, the container's limits (as Ray
  on Kubernetes does).

Imports: the standard library and the bounded YAML reader only (no Ray, no pydantic).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chggen_kernels.errors import InputError

__all__ = [
    "ActorRequest",
    "ClusterFitError",
    "actor_requests",
    "check_cluster_fit",
    "load_node_types",
    "node_types",
    "shortfall",
]

_QUANTITY = re.compile(r"^([0-9.]+(?:e[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {"": 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2.0**10,
           "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


class ClusterFitError(InputError):
    """An actor group fits no node type of the cluster file, or the file names none."""


@dataclasses.dataclass(frozen=True)
class ActorRequest:
    """One actor group: its name in messages, how many actors, what each asks for (only
    positive amounts: an actor asking 0 GPU fits a node without GPUs)."""

    group: str
    count: int
    request: dict[str, float]

    def text(self) -> str:
        """``{CPU: 1, GPU: 1, sampler_node: 1}``: CPU and GPU first, then the custom ones."""
        return "{" + ", ".join(f"{k}: {v:g}" for k, v in self.request.items()) + "}"


def _ordered(request: Mapping[str, float]) -> dict[str, float]:
    keys = [k for k in ("CPU", "GPU") if k in request]
    keys += sorted(k for k in request if k not in ("CPU", "GPU"))
    return {k: float(request[k]) for k in keys if float(request[k]) > 0}


def actor_requests(resources: Any) -> list[ActorRequest]:
    """The sampler and relaxation actor groups of a campaign's ``resources`` (a
    :class:`campaign.config.model.ResourcesConfig`), as Ray is asked for them."""
    sampler = {"CPU": resources.cpus_per_sampler, "GPU": resources.gpus_per_sampler,
               **resources.sampler_resources}
    relax = {"CPU": resources.cpus_per_relax_actor, **resources.relax_resources}
    return [ActorRequest("sampler actors", resources.sampler_actors, _ordered(sampler)),
            ActorRequest("relaxation actors", resources.relax_actors, _ordered(relax))]


def _number(value: Any, where: str) -> float:
    """A resource amount: a number, or a Kubernetes quantity (``"500m"``, ``"24Gi"``)."""
    if isinstance(value, bool):
        raise ClusterFitError(f"{where} = {value!r}: not a number")
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIX:
        raise ClusterFitError(f"{where} = {value!r}: not a number")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def _autoscaler_types(document: Mapping[str, Any], source: str) -> dict[str, dict[str, float]]:
    types = document["available_node_types"]
    if not isinstance(types, Mapping) or not types:
        raise ClusterFitError(f"{source}: available_node_types must map node type names to "
                              "their settings")
    out: dict[str, dict[str, float]] = {}
    for name, settings in types.items():
        resources = settings.get("resources", {}) if isinstance(settings, Mapping) else None
        if not isinstance(resources, Mapping):
            raise ClusterFitError(f"{source}: available_node_types.{name}.resources must be a "
                                  "mapping of resource names to amounts")
        out[str(name)] = {str(k): _number(v, f"{source}: available_node_types.{name}."
                                             f"resources.{k}") for k, v in resources.items()}
    return out


def _custom_resources(text: Any, where: str) -> dict[str, float]:
    """``rayStartParams.resources``: JSON, often quoted once more for the shell
    (``'"{\\"sampler_node\\": 1}"'``)."""
    value: Any = str(text).strip()
    try:
        while isinstance(value, str):
            value = json.loads(value)
    except json.JSONDecodeError:
        raise ClusterFitError(f"{where} = {text!r}: not a JSON mapping") from None
    if not isinstance(value, Mapping):
        raise ClusterFitError(f"{where} = {text!r}: not a JSON mapping")
    return {str(k): _number(v, f"{where}.{k}") for k, v in value.items()}


def _group_resources(group: Mapping[str, Any], where: str) -> dict[str, float]:
    """What one KubeRay group's Ray node offers: ``rayStartParams`` first, else the limits
    of its first container (the Ray container)."""
    params = group.get("rayStartParams") or {}
    containers = (((group.get("template") or {}).get("spec") or {}).get("containers") or [{}])
    limits = ((containers[0] or {}).get("resources") or {}).get("limits") or {}
    offer: dict[str, float] = {}
    for key, param, limit in (("CPU", "num-cpus", "cpu"), ("GPU", "num-gpus", "nvidia.com/gpu"),
                              ("memory", "memory", "memory")):
        if param in params:
            offer[key] = _number(params[param], f"{where}.rayStartParams.{param}")
        elif limit in limits:
            offer[key] = _number(limits[limit], f"{where}.template.spec.containers[0]."
                                                f"resources.limits.{limit}")
    if "resources" in params:
        offer.update(_custom_resources(params["resources"], f"{where}.rayStartParams.resources"))
    return offer


def _kuberay_types(document: Mapping[str, Any], source: str) -> dict[str, dict[str, float]]:
    spec = document.get("spec") or {}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("headGroupSpec"), Mapping):
        raise ClusterFitError(f"{source}: a RayCluster needs spec.headGroupSpec")
    out = {"head": _group_resources(spec["headGroupSpec"], "spec.headGroupSpec")}
    for i, group in enumerate(spec.get("workerGroupSpecs") or []):
        if not isinstance(group, Mapping) or not group.get("groupName"):
            raise ClusterFitError(f"{source}: spec.workerGroupSpecs[{i}] needs a groupName")
        out[str(group["groupName"])] = _group_resources(group, f"spec.workerGroupSpecs[{i}]")
    return out


def node_types(document: Any, source: str) -> dict[str, dict[str, float]]:
    """Node type name -> the resources one node of it offers, from a parsed cluster file
    (Ray autoscaler configuration or KubeRay ``RayCluster``). ``source`` starts every
    error message."""
    if isinstance(document, Mapping) and "available_node_types" in document:
        return _autoscaler_types(document, source)
    if isinstance(document, Mapping) and document.get("kind") == "RayCluster":
        return _kuberay_types(document, source)
    raise ClusterFitError(f"{source}: neither a Ray autoscaler configuration "
                          "(available_node_types) nor a KubeRay RayCluster manifest")


def load_node_types(path: str | Path) -> dict[str, dict[str, float]]:
    """:func:`node_types` of the cluster file at ``path``, read with bounds."""
    from campaign.inputs.text import load_yaml_file

    document = load_yaml_file(path, what="cluster file")
    return node_types(document, f"cluster file {str(path)!r}")


def shortfall(request: Mapping[str, float], offer: Mapping[str, float]) -> str | None:
    """Why one node of ``offer`` cannot host an actor asking ``request`` (``None``: it can),
    e.g. ``lacks GPU, sampler_node`` or ``has CPU 8 of 16``."""
    lacks = [k for k, v in request.items() if v > 0 and offer.get(k, 0) <= 0]
    short = [f"{k} {offer[k]:g} of {v:g}" for k, v in request.items()
             if v > 0 and 0 < offer.get(k, 0) < v]
    parts = ([f"lacks {_and(lacks)}"] if lacks else []) + ([f"has {_and(short)}"] if short else [])
    return ", ".join(parts) if parts else None


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def check_cluster_fit(resources: Any, path: str | Path) -> list[str]:
    """Refuse (:class:`ClusterFitError`, exit 2) a campaign whose sampler or relaxation
    actors fit no node type of the cluster file at ``path``; otherwise one line per group
    naming the node types that fit. ``resources``: the campaign's ``resources`` block."""
    types = load_node_types(path)
    name = str(path)
    lines, errors = [], []
    for group in actor_requests(resources):
        why = {t: shortfall(group.request, offer) for t, offer in types.items()}
        fits = [t for t, reason in why.items() if reason is None]
        if fits:
            lines.append(f"cluster {name!r}: {group.group} ({group.text()} each) fit "
                         f"{', '.join(fits)}")
        else:
            errors.append(f"{group.group} ask {group.text()}: no node type of {name!r} offers "
                          "them (" + "; ".join(f"{t} {r}" for t, r in why.items()) + ")")
    if errors:
        raise ClusterFitError("resources: " + "; ".join(errors))
    return lines
