"""The background threads of benchmarks/bench_autoscaling.py: :class:`Watcher` (node up and
down times from ``ray.nodes()``, sockets off loopback) and :class:`Killer` (SIGKILLs the
sampler node's raylet, then the relaxation node's). Imported by that script once it has put
the repository root on ``sys.path``; ``bench_autoscaling`` re-exports both."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

from campaign.distributed.fake_cluster import FakeAutoscalingCluster
from tests.campaign.sockets import off_loopback_sockets


class _Background:
    """``start()`` runs ``_run`` in a daemon thread until ``stop()``."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


class Watcher(_Background):
    """Polls ``ray.nodes()`` (node up/down) and samples sockets, in a thread."""

    def __init__(self, cluster: FakeAutoscalingCluster) -> None:
        super().__init__()
        self.cluster = cluster
        self.nodes: dict[str, dict[str, Any]] = {}
        self.off_loopback: set[str] = set()
        self.socket_samples = 0

    def _run(self) -> None:
        last_sockets = 0.0
        while not self._stop.is_set():
            self.poll_nodes()
            if time.time() - last_sockets >= 1.0:
                self.sample_sockets()
                last_sockets = time.time()
            self._stop.wait(0.25)

    def poll_nodes(self) -> None:
        import ray

        now = time.time()
        for node in ray.nodes():
            entry = self.nodes.setdefault(node["NodeID"], {
                "node_id": node["NodeID"], "resources": node["Resources"], "up": None,
                "down": None, "death": ""})
            if node["Alive"] and entry["up"] is None:
                entry["up"] = now
            if not node["Alive"] and entry["down"] is None:
                entry["down"] = now
                entry["death"] = node.get("DeathReasonMessage", "")

    def sample_sockets(self) -> None:
        self.off_loopback.update(f"{s['pid']} {s['process']}: {s['local']} -> {s['remote']}"
                                 for s in self.cluster.off_loopback_sockets())
        self.off_loopback.update(off_loopback_sockets(self.cluster.session_dir))
        self.socket_samples += 1

    def alive_workers(self) -> list[dict[str, Any]]:
        return [n for n in self.nodes.values()
                if n["down"] is None and n["resources"].get("CPU", 0) > 0]


class Killer(_Background):
    """SIGKILLs the sampler node's raylet, then (once a new sampler node produced) the
    relaxation node's, in a thread, from the runner's call log."""

    def __init__(self, cluster: FakeAutoscalingCluster, log: str, total: int,
                 kill_at: float, mode: str) -> None:
        super().__init__()
        self.cluster, self.log, self.total, self.kill_at = cluster, log, total, kill_at
        self.mode = mode
        self.kills: list[dict[str, Any]] = []

    def _run(self) -> None:
        from tests.campaign.placed_runner import read_events

        plan = [("sampler", self.kill_at), ("relax", None)]
        while plan and not self._stop.wait(0.2):
            events = read_events(self.log)
            relaxed = sum(len(e["ids"]) for e in events if e["event"] == "relax")
            loads = [e for e in events if e["event"] == "load"]
            kind, at = plan[0]
            if kind == "sampler" and relaxed < at * self.total:
                continue
            if kind == "relax":  # after the replacement sampler has produced
                killed = {k["node_id"] for k in self.kills}
                if not any(e["event"] == "generate" and e["node"] not in killed
                           and self.kills and e["t0"] > self.kills[0]["t"] for e in events):
                    continue
            node = next((e["node"] for e in reversed(loads) if e["kind"] == kind), None)
            if node and self._kill_raylet(node, kind, relaxed):
                plan.pop(0)

    def _kill_raylet(self, node_id: str, kind: str, relaxed: int) -> bool:
        for process in self.cluster.processes():
            try:
                cmdline = process.cmdline()
            except Exception:
                continue
            if cmdline and cmdline[0].endswith("raylet/raylet") and \
                    f"--node_id={node_id}" in cmdline:
                tree = process.children(recursive=True) if self.mode == "node" else []
                for target in [process, *tree]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(target.pid, signal.SIGKILL)
                self.kills.append({"kind": kind, "node_id": node_id, "raylet_pid": process.pid,
                                   "also_killed": len(tree), "t": time.time(),
                                   "relaxed_before": relaxed})
                return True
        return False
