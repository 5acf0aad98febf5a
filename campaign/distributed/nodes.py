"""What the driver sees of the cluster's nodes: nodes joining and leaving, where each actor
runs, and which tasks were in flight on a node that was lost (Ray retries their calls on
the restarted actors: ``resources.max_restarts`` / ``max_task_retries``).

:class:`NodeWatch` polls the GCS's node table (``ray.nodes()``, one small RPC) at most
every :data:`POLL_S` seconds from the driver's loop; the events and the retried tasks go
into the run's summary, which the driver keeps in the results folder
(``_runs/<UTC time>-<pid>.json``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["POLL_S", "NodeWatch"]

POLL_S = 2.0  # seconds between two looks at the node table
logger = logging.getLogger("campaign")


def _alive_nodes() -> dict[str, dict[str, Any]]:
    import ray

    return {n["NodeID"]: n for n in ray.nodes() if n.get("Alive")}


def _custom(resources: Mapping[str, float]) -> dict[str, float]:
    """The resources worth naming: CPU, GPU and custom ones (not memory or node:... keys)."""
    return {k: v for k, v in resources.items()
            if k in ("CPU", "GPU") or not (k.startswith("node:") or "memory" in k)}


class NodeWatch:
    """Node events and actor placement of one driver run.

    ``nodes`` (default ``ray.nodes``' alive nodes) and ``clock`` are injectable for tests.
    """

    def __init__(self, nodes: Callable[[], dict[str, dict[str, Any]]] = _alive_nodes,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._nodes, self._clock = nodes, clock
        self._started = clock()
        self._last_poll = -float("inf")
        self._alive = nodes()
        self.events: list[dict[str, Any]] = []
        self.actor_node: dict[str, str] = {}  # actor label -> node id
        self.retried_tasks: dict[str, str] = {}  # task id -> node id lost under it
        self._actors: dict[str, Any] = {}
        self._asking: dict[Any, str] = {}  # ready() refs -> actor label

    def place(self, placement: Mapping[str, str]) -> None:
        """Record on which node each actor (by label, e.g. ``relax 0``) runs now."""
        self.actor_node.update(placement)

    def locate(self, actors: Mapping[str, Any]) -> None:
        """Ask each actor (label -> handle with ``ready()`` returning ``{"node": id}``)
        where it runs; the answers are read by :meth:`tick` once they come."""
        self._actors = dict(actors)
        self._asking = {actor.ready.remote(): label for label, actor in self._actors.items()}

    def tick(self, in_flight: Callable[[str], Iterable[str]]) -> None:
        """From the driver's loop: read the placement answers that came, look at the node
        table (:meth:`poll`), log each event in one line, and after a node loss ask the
        (restarted) actors where they run now."""
        import ray

        if self._asking:
            ready, _ = ray.wait(list(self._asking), num_returns=len(self._asking), timeout=0)
            for ref in ready:
                label = self._asking.pop(ref)
                with contextlib.suppress(ray.exceptions.RayError):
                    self.place({label: ray.get(ref)["node"]})
        for event in self.poll(in_flight):
            retried = (f"; {len(event['tasks_in_flight'])} tasks in flight there are retried"
                       if event["event"] == "node down" else "")
            logger.warning("%s: node %s (%s)%s", event["event"], event["node_id"],
                           event["address"], retried)
            if event["event"] == "node down":
                self.locate(self._actors)

    def poll(self, in_flight: Callable[[str], Iterable[str]], force: bool = False
             ) -> list[dict[str, Any]]:
        """Compare the node table with the last one (at most every :data:`POLL_S` s unless
        ``force``); returns the new events. For a node that is gone, the tasks
        ``in_flight(actor label)`` names for each actor that ran there are recorded as
        retried (Ray reruns their calls on the restarted actor)."""
        now = self._clock()
        if not force and now - self._last_poll < POLL_S:
            return []
        self._last_poll = now
        alive = self._nodes()
        new: list[dict[str, Any]] = []
        for node_id in alive.keys() - self._alive.keys():
            new.append(self._event("node up", node_id, alive[node_id], now))
        for node_id in self._alive.keys() - alive.keys():
            event = self._event("node down", node_id, self._alive[node_id], now)
            lost = sorted(label for label, node in self.actor_node.items() if node == node_id)
            event["actors"] = lost
            tasks = sorted({t for label in lost for t in in_flight(label)})
            event["tasks_in_flight"] = tasks
            for task in tasks:
                self.retried_tasks.setdefault(task, node_id)
            new.append(event)
        self._alive = alive
        self.events.extend(new)
        return new

    def _event(self, kind: str, node_id: str, node: Mapping[str, Any], now: float
               ) -> dict[str, Any]:
        return {"t_s": round(now - self._started, 1), "event": kind, "node_id": node_id[:12],
                "address": node.get("NodeManagerAddress"),
                "resources": _custom(node.get("Resources", {}))}

    def report(self) -> dict[str, Any]:
        """The summary's part: node events, actor placement, tasks retried after a loss."""
        return {"node_events": list(self.events),
                "actor_nodes": {k: v[:12] for k, v in sorted(self.actor_node.items())},
                "tasks_retried_after_node_loss": dict(sorted(self.retried_tasks.items()))}
