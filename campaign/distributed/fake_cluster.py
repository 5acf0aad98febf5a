"""An autoscaling Ray cluster on this machine, on loopback only, for tests and benchmarks.

:class:`FakeAutoscalingCluster` runs Ray's fake multi-node autoscaler (provider
``fake_multinode``, ``ray/autoscaler/_private/fake_multi_node/node_provider.py``: a "launched"
worker node is one more raylet on this machine) from ``ray start --head --block``, without
``ray.cluster_utils.AutoscalingCluster``, which reads a file the Ray 2.60 wheel lacks
(``fake_multi_node/example.yaml``) and runs ``ray stop --force`` (every Ray of the machine).
It ends its own processes only (:meth:`~FakeAutoscalingCluster.shutdown`); a reaper
(:mod:`campaign.engine.ray_reaper`) and ``PR_SET_PDEATHSIG`` end them if the process that
started the cluster dies first.

Every process binds or connects to 127.0.0.1 only: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
with ``--node-ip-address=127.0.0.1`` (inherited by the autoscaler monitor, whose
``get_node_ip_address()`` then gives the worker nodes 127.0.0.1 too), the provider's
``gcs_address`` (else ``<machine address>:6379``), free ports for the GCS, the Ray client
server and the autoscaler and dashboard metrics servers, no dashboard web UI, usage stats
off, a private ``--temp-dir`` and a token of its own (:meth:`FakeAutoscalingCluster.driver_env`).
The node types are ``cluster.yaml``'s, scaled down (:func:`node_types_from_cluster_yaml`);
the autoscaler's configuration: :mod:`campaign.distributed.fake_autoscaler` (its names are
importable from here too).
Why each setting, and what was measured: ``docs/scale-out-autoscaler-findings.md``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil

from campaign.distributed.fake_autoscaler import (
    FAKE_HEAD_TYPE,
    OBJECT_STORE_BYTES,
    StatusFixedProvider,
    autoscaler_config,
    autoscaler_report,
    node_types_from_cluster_yaml,
)
from campaign.engine.ray_reaper import session_processes, start_reaper, terminate

__all__ = ["FAKE_HEAD_TYPE", "FakeAutoscalingCluster", "StatusFixedProvider", "autoscaler_config",
           "autoscaler_report", "free_port", "is_loopback", "node_types_from_cluster_yaml"]

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})")
_QUEUE = re.compile(r"StandardAutoscaler: Queue (\d+) new nodes for launch")
_LAUNCH = re.compile(r"Launching (\d+) nodes, type ([\w.-]+)\.")
_TERMINATE = re.compile(r"Terminating the node with id (\w+) and ip \S+ \((.*)\)")
_REMOVED = re.compile(r"Removing (\d+) nodes of type ([\w.-]+) \((.*)\)\.")
_AUTH_MODE, _AUTH_TOKEN = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"


def _die_with_parent() -> None:
    """In the child, before ``exec``: SIGKILL it when its parent dies (Linux)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, or IPv4-mapped loopback (``::ffff:127.0.0.1``, how Ray's gRPC
    servers bound to 127.0.0.1 show up)."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class FakeAutoscalingCluster:
    """A head (no work) whose autoscaler starts worker nodes on this machine, on demand.

    ``start()`` returns the head's ``127.0.0.1:<port>``; ``shutdown()`` ends every process
    of the cluster (head and worker nodes, found by their session directory) and removes
    the private temporary directory. Also a context manager.
    """

    def __init__(self, worker_types: Mapping[str, Mapping[str, Any]] | None = None, *,
                 idle_timeout_minutes: float = 0.25, update_interval_s: float = 1.0,
                 heartbeat_timeout_s: int = 10, node_status_fix: bool = False,
                 temp_root: str | None = None, extra_env: Mapping[str, str] | None = None
                 ) -> None:
        self.worker_types = dict(worker_types or node_types_from_cluster_yaml())
        self.idle_timeout_minutes = idle_timeout_minutes
        self.update_interval_s = update_interval_s
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.node_status_fix = node_status_fix
        self.extra_env = dict(extra_env or {})
        # short: Ray's socket paths (<temp>/session_.../sockets/...) must fit 107 bytes
        self.temp_dir = tempfile.mkdtemp(prefix="chgfc_", dir=temp_root or "/tmp")
        self.port = 0
        self.address = ""
        self.session_dir = ""
        self.config_path = os.path.join(self.temp_dir, "autoscaler.yaml")
        self.token = secrets.token_hex(32)  # this cluster's own: see :meth:`driver_env`
        self._reaper: subprocess.Popen[bytes] | None = None
        self._head: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """The environment of ``ray start`` (inherited by the monitor and the nodes it
        starts)."""
        env = dict(os.environ)
        env.pop("RAY_ADDRESS", None)
        env.update({
            "RAY_FAKE_CLUSTER": "1",  # FakeMultiNodeProvider refuses to start without it
            "AUTOSCALER_UPDATE_INTERVAL_S": f"{self.update_interval_s:g}",
            # a node whose raylet is gone is terminated (and replaced) after this
            "AUTOSCALER_HEARTBEAT_TIMEOUT_S": str(self.heartbeat_timeout_s),
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # 127.0.0.1 stays 127.0.0.1
            "RAY_USAGE_STATS_ENABLED": "0",
            _AUTH_MODE: "token", _AUTH_TOKEN: self.token,
            # fixed ports by default (44217, 44227), on 127.0.0.1: another Ray may hold them
            "AUTOSCALER_METRIC_PORT": str(free_port()), "DASHBOARD_METRIC_PORT": str(free_port()),
            # the autoscaler imports StatusFixedProvider from campaign.distributed
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
        })
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        """The ``ray start --head`` command line."""
        ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
        return [ray_cli, "start", "--head", f"--node-ip-address={LOOPBACK}",
                f"--port={self.port}", f"--ray-client-server-port={free_port()}",
                f"--autoscaling-config={self.config_path}", f"--temp-dir={self.temp_dir}",
                "--num-cpus=0", f"--object-store-memory={OBJECT_STORE_BYTES}",
                "--include-dashboard=false", "--dashboard-agent-listen-port=0",
                "--disable-usage-stats", "--block"]

    @contextlib.contextmanager
    def driver_env(self) -> Iterator[None]:
        """What a driver joining this cluster (``ray.init(address=self.address)``, e.g.
        :func:`campaign.distributed.driver.run_campaign` with ``address``) needs meanwhile:
        Ray's single-node mode (:func:`~campaign.engine.ray_toolkit.loopback_only`, else
        the driver swaps 127.0.0.1 for the machine's address) and this cluster's token
        (``ray start`` turns token authentication on; a driver given an explicit address
        does not, ``ray/_private/worker.py``, ``init``). Both are put back afterwards."""
        from ray._raylet import AuthenticationTokenLoader, Config

        from campaign.engine.ray_toolkit import loopback_only

        saved = {k: os.environ.get(k) for k in (_AUTH_MODE, _AUTH_TOKEN)}
        os.environ.update({_AUTH_MODE: "token", _AUTH_TOKEN: self.token})
        Config.initialize("")  # Ray caches the mode and the token
        AuthenticationTokenLoader.instance().reset_cache()
        try:
            with loopback_only():
                yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            Config.initialize("")
            AuthenticationTokenLoader.instance().reset_cache()

    def start(self, timeout_s: float = 90.0) -> str:
        """Start the head (with its autoscaler); the GCS address ``127.0.0.1:<port>``.

        ``ray start --head --block`` stays this process's child: Ray ties the head's
        processes to it (``PR_SET_PDEATHSIG``), and it is tied to this process, so the head
        goes when this process does; the worker nodes (children of the autoscaler monitor,
        not tied to it) are ended by a reaper watching this process."""
        self.port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        config = autoscaler_config(self.worker_types, self.address,
                                   idle_timeout_minutes=self.idle_timeout_minutes,
                                   node_status_fix=self.node_status_fix)
        Path(self.config_path).write_text(json.dumps(config, indent=1))
        log = Path(self.temp_dir) / "ray_start.log"
        with log.open("wb") as out:
            self._head = subprocess.Popen(
                self.command(), env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=self.temp_dir, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout_s
        while b"Ray runtime started" not in log.read_bytes():
            if self._head.poll() is not None or time.monotonic() > deadline:
                self.session_dir = self._find_session_dir()
                self.shutdown(keep_temp=True)
                raise RuntimeError(f"ray start --head failed: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        self.session_dir = self._find_session_dir()
        self._reaper = start_reaper(self.session_dir)
        return self.address

    def _find_session_dir(self) -> str:
        latest = Path(self.temp_dir) / "session_latest"
        with contextlib.suppress(OSError):
            return str(latest.resolve(strict=True))
        sessions = sorted(Path(self.temp_dir).glob("session_2*"))
        return str(sessions[-1]) if sessions else ""

    def processes(self) -> list[psutil.Process]:
        """The live processes of the cluster: ``ray start`` and its children (the head's
        processes, the Ray client server among them), and every process of the session
        (the worker nodes)."""
        if not self.session_dir:
            return []
        exclude = {os.getpid()} | ({self._reaper.pid} if self._reaper else set())
        found = {p.pid: p for p in session_processes(self.session_dir, exclude)}
        if self._head is not None and self._head.poll() is None:
            with contextlib.suppress(psutil.Error):
                head = psutil.Process(self._head.pid)
                found.update({p.pid: p for p in [head, *head.children(recursive=True)]})
        return list(found.values())

    def worker_node_processes(self) -> list[psutil.Process]:
        """The processes of the worker nodes the autoscaler started and has not terminated
        (the fake provider starts them as children of the autoscaler monitor)."""
        monitors = [p for p in self.processes() if "autoscaler/_private/monitor.py" in
                    " ".join(_cmdline(p))]
        found: dict[int, psutil.Process] = {}
        for monitor in monitors:
            with contextlib.suppress(psutil.Error):
                found.update({p.pid: p for p in monitor.children(recursive=True)})
        return list(found.values())

    def autoscaler_log(self) -> str:
        """The autoscaler monitor's log so far."""
        path = Path(self.session_dir or self.temp_dir) / "logs" / "monitor.log"
        with contextlib.suppress(OSError):
            return path.read_text(errors="replace")
        return ""

    def autoscaler_events(self) -> list[dict[str, Any]]:
        """What the autoscaler did, from its log, as ``{"t": epoch seconds, "event", ...}``:
        ``queue`` (it decided to launch ``count`` nodes), ``launch`` (``node_type``: logged
        once the fake provider has started the node's raylet, ``node_launcher.py``),
        ``terminate`` (``node_id``, ``reason``: ``idle``, ``lost contact with raylet``)
        and ``removed`` (``node_type``, ``reason``)."""
        events: list[dict[str, Any]] = []
        for line in self.autoscaler_log().splitlines():
            stamp = _LOG_TIME.match(line)
            if not stamp:
                continue
            t = time.mktime(time.strptime(stamp[1], "%Y-%m-%d %H:%M:%S")) + int(stamp[2]) / 1e3
            if found := _QUEUE.search(line):
                events.append({"t": t, "event": "queue", "count": int(found[1])})
            elif found := _LAUNCH.search(line):
                events.append({"t": t, "event": "launch", "node_type": found[2],
                               "count": int(found[1])})
            elif found := _TERMINATE.search(line):
                events.append({"t": t, "event": "terminate", "node_id": found[1],
                               "reason": found[2]})
            elif found := _REMOVED.search(line):
                events.append({"t": t, "event": "removed", "node_type": found[2],
                               "count": int(found[1]), "reason": found[3]})
        return events

    def sockets(self) -> list[dict[str, Any]]:
        """Every TCP/UDP socket of the cluster's processes: pid, process, kind, status,
        local and remote address."""
        found = []
        for process in self.processes():
            try:
                name = " ".join(process.cmdline())[:80] or process.name()
                connections = process.net_connections(kind="inet")
            except psutil.Error:  # ended meanwhile
                continue
            for conn in connections:
                found.append({
                    "pid": process.pid, "process": name,
                    "kind": "udp" if conn.type == socket.SOCK_DGRAM else "tcp",
                    "status": conn.status, "local": f"{conn.laddr.ip}:{conn.laddr.port}",
                    "remote": f"{conn.raddr.ip}:{conn.raddr.port}" if conn.raddr else "",
                    "loopback": is_loopback(conn.laddr.ip) and (
                        not conn.raddr or is_loopback(conn.raddr.ip))})
        return found

    def off_loopback_sockets(self) -> list[dict[str, Any]]:
        """The sockets of :meth:`sockets` bound to, or connected to, an address other than
        loopback (empty: the cluster is on 127.0.0.1 only)."""
        return [s for s in self.sockets() if not s["loopback"]]

    def shutdown(self, keep_temp: bool = False) -> int:
        """End every process of the cluster (SIGTERM, SIGKILL 2 s later); how many. The
        temporary directory goes too unless ``keep_temp``."""
        processes = self.processes()
        ended = len(processes)
        if processes:
            terminate(processes)
        for _ in range(3):  # a node the monitor was starting meanwhile
            left = self.processes()
            if not left:
                break
            ended += len(left)
            terminate(left)
        if self._head is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._head.wait(timeout=10)
        if self._reaper is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._reaper.wait(timeout=10)
            if self._reaper.poll() is None:
                self._reaper.kill()
                self._reaper.wait()
        if not keep_temp:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        return ended

    def __enter__(self) -> FakeAutoscalingCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

