"""What both Ray drivers (the campaign and ``chggen data build``'s relaxation) share.

* :func:`init_ray`: join ``address`` (or ``RAY_ADDRESS``), else start a private local Ray
  whose every process listens on 127.0.0.1 only (:func:`loopback_only`), never someone
  else's cluster, and that goes with this process (:mod:`campaign.engine.ray_reaper`);
* :func:`check_ray_address`: a cluster address that cannot be reached (nothing listens, no
  answer, a name that does not resolve, no Ray for ``"auto"``) is one line, exit 2,
  before ``ray.init`` would retry it for minutes;
* :func:`set_worker_threads`: torch and BLAS threads inside an actor;
* :func:`start_actors`: create actors and wait until each has loaded its models, naming
  the one that fails;
* :class:`ActorPool`: submit to the least-loaded actor with a bounded queue per actor
  and collect with ``ray.wait``; a call lost with its actor comes back as the exception,
  for the driver to turn into a failed row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from chggen_kernels.errors import InputError

__all__ = ["ActorGroup", "ActorPool", "LOOPBACK", "RayAddressError", "check_ray_address",
           "init_ray", "loopback_only", "set_worker_threads", "start_actors"]

logger = logging.getLogger("campaign")
LOOPBACK = "127.0.0.1"
_SINGLE_NODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_REAPERS: list[Any] = []  # the reapers this process started (subprocess.Popen)
#: Seconds a TCP connection to a cluster's head may take before the address is refused.
CONNECT_TIMEOUT_S = 3.0


class RayAddressError(InputError):
    """The Ray cluster to join cannot be reached: one line naming the address and why."""


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``host:port``, ``[v6]:port`` or ``ray://host:port``; ``None``
    for another scheme (left to Ray)."""
    if "://" in address:
        scheme, _, address = address.partition("://")
        if scheme != "ray":
            return None
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayAddressError(f"Ray address {address!r}: expected host:port (e.g. "
                              "10.0.0.1:6379), 'auto' or 'local'")
    return host, int(port)


def _unreachable_reason(host: str, port: int, timeout: float) -> str | None:
    """Why a TCP connection to ``host:port`` fails within ``timeout`` s (``None``: it
    connects)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"name {host!r} does not resolve"
    except ConnectionRefusedError:
        return f"connection refused (nothing listens on port {port})"
    except TimeoutError:  # socket.timeout
        return f"timed out after {timeout:g} s (no answer: a firewall, or a node that is down)"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def check_ray_address(address: str | None, *, source: str = "address",
                      timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse a Ray cluster address that cannot be reached, before ``ray.init`` tries it.

    ``None`` and ``"local"`` (a private Ray is started) pass. ``host:port`` (or
    ``ray://host:port``) must accept a TCP connection within ``timeout`` s. ``"auto"`` is
    resolved as Ray resolves it (``RAY_ADDRESS``, the latest ``ray start`` of this machine,
    a running GCS): none found, or one that does not answer, is refused too. Raises
    :class:`RayAddressError` (exit 2) naming the address, where it came from (``source``)
    and the reason: ``connection refused``, ``timed out``, ``name ... does not resolve``.
    """
    if address is None or address == "local":
        return
    notes = [] if source == "address" else [f"from {source}"]
    label = f"Ray address {address!r}" + (f" ({notes[0]})" if notes else "")
    resolved = address
    if address == "auto":
        resolved = _resolve_auto(label)
        if resolved is None:
            return
        notes.append(f"found {resolved}")
        label = f"Ray address {address!r} ({', '.join(notes)})"
    parts = _host_port(resolved)
    if parts is None:
        return
    reason = _unreachable_reason(*parts, timeout)
    if reason is not None:
        hint = ("" if "://" in resolved
                else f"start it with 'ray start --head --port={parts[1]}' or ")
        raise RayAddressError(f"{label}: cannot reach the Ray head: {reason}; {hint}give the "
                              "head's host:port")


def _resolve_auto(label: str) -> str | None:
    """The ``host:port`` Ray would join for ``"auto"``; ``None`` when Ray's lookup is not
    available (left to ``ray.init``)."""
    try:  # Ray's own lookup, without its swap of 127.0.0.1 for the machine's address
        from ray._private.services import get_ray_address_from_environment
    except ImportError:
        return None
    try:
        return get_ray_address_from_environment("auto", None)
    except ConnectionError:
        raise RayAddressError(f"{label}: no running Ray found on this machine; start one "
                              "with 'ray start --head' or give the head's host:port") from None


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Ray's single-node mode for the ``ray.init`` called meanwhile.

    On Linux ``ray.init`` swaps a loopback node address (``_node_ip_address``, or the host
    of ``address``) for the machine's own, and every Ray server binds its node address (or
    all interfaces when that is not loopback). With ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
    (Ray's switch between single- and multi-node mode) 127.0.0.1 stays 127.0.0.1, so the
    GCS, raylet, object manager, workers, agents, autoscaler monitor and dashboard process
    all bind 127.0.0.1, and a driver joining such a Ray (``address="127.0.0.1:<port>"``)
    reaches it there. Ray reads the variable once, on import, so the constant it sets is
    changed too; both are put back afterwards (a later join of a real cluster is as before).
    """
    from ray._private import ray_constants

    saved_env, saved = os.environ.get(_SINGLE_NODE_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_SINGLE_NODE_ENV] = "0"  # inherited by the processes Ray spawns
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved
        if saved_env is None:
            os.environ.pop(_SINGLE_NODE_ENV, None)
        else:
            os.environ[_SINGLE_NODE_ENV] = saved_env


@contextlib.contextmanager
def python_signal_handlers() -> Iterator[None]:
    """Keep this process's Python SIGTERM handler across ``ray.init``: Ray's core worker
    installs a C-level failure handler for SIGTERM that dumps about 20 stack lines and
    exits 1 without unwinding (no lock released, no one-line message); the Python handler
    of ``chggen`` (``campaign.cli``) turns SIGTERM into a clean exit (143)."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if previous is not None:  # None: not the main thread, or a handler set from C
            signal.signal(signal.SIGTERM, previous)


def init_ray(address: str | None, *, num_cpus: int | None = None,
             log_to_driver: bool = False, **kwargs: Any) -> bool:
    """Connect to Ray unless already connected; ``True`` when this call started it.

    ``address`` (or ``RAY_ADDRESS``, which ``ray job submit`` sets): the cluster to join,
    ``"auto"`` for the one running on this machine; its settings are left alone. Without
    either a private local Ray is started with ``num_cpus`` CPUs, every process of it
    listening on 127.0.0.1 only (:func:`loopback_only`), without the dashboard web UI, and
    watched by a reaper (:mod:`campaign.engine.ray_reaper`) that terminates its processes
    once this process is gone, however it ended (``kill -9`` included). An address that
    cannot be reached is refused first (:func:`check_ray_address`, :class:`RayAddressError`).
    """
    import ray

    if ray.is_initialized():
        return False
    source = "address" if address else "RAY_ADDRESS"
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address != "local":
        check_ray_address(address, source=source)  # one line instead of minutes of retries
        try:
            with python_signal_handlers():
                ray.init(address=address, include_dashboard=False,
                         log_to_driver=log_to_driver, **kwargs)
        except ConnectionError as exc:
            raise RayAddressError(f"Ray address {address!r}: cannot join the cluster: "
                                  f"{_error_text(exc)}") from None
        return True
    if num_cpus is not None:
        kwargs.setdefault("num_cpus", num_cpus)
    kwargs.setdefault("_node_ip_address", LOOPBACK)
    _start_reaper()  # before ray.init: a driver killed inside it is covered too
    with loopback_only(), python_signal_handlers():
        ray.init(address="local", include_dashboard=False, log_to_driver=log_to_driver,
                 **kwargs)
    node_ip = ray.util.get_node_ip_address()
    if node_ip != LOOPBACK:
        logger.warning("the local Ray's node address is %s, not %s: its servers may listen "
                       "beyond this machine", node_ip, LOOPBACK)
    return True


def _start_reaper() -> None:
    """Start the reaper of the private Ray this process starts next (a warning if not)."""
    from campaign.engine.ray_reaper import start_reaper

    try:
        _REAPERS[:] = [r for r in _REAPERS if r.poll() is None]  # collect ended ones
        _REAPERS.append(start_reaper())
    except OSError as exc:
        logger.warning("no reaper for the local Ray (%s): its agents may outlive a killed "
                       "driver by about a minute", exc)


def set_worker_threads(n_threads: int, torch_too: bool = True) -> None:
    """OpenMP/MKL/OpenBLAS and (``torch_too``) torch intra-op threads of this process."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(n_threads)
    if torch_too:
        import torch

        torch.set_num_threads(n_threads)


def _error_text(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1].strip() if lines else ''}"[:500]


@dataclasses.dataclass(frozen=True)
class ActorGroup:
    """``count`` actors of one class: ``ray.remote(actor_class).options(**options)
    .remote(*args)``, named ``"<name> <i>"`` in messages."""

    actor_class: Any
    options: dict[str, Any]
    args: tuple[Any, ...]
    count: int
    name: str


def start_actors(groups: Sequence[ActorGroup],
                 error: Callable[[str], BaseException] = RuntimeError,
                 ) -> tuple[list[list[Any]], float]:
    """Create every group's actors at once and wait until each has loaded its models (its
    ``ready()`` returned); returns the actors per group and the seconds waited. An actor
    that cannot start kills them all and raises ``error("<name> <i> failed to start: ...")``.
    """
    import ray

    made = [[ray.remote(g.actor_class).options(**g.options).remote(*g.args)
             for _ in range(g.count)] for g in groups]
    pending = {a.ready.remote(): f"{g.name} {i}"
               for g, actors in zip(groups, made, strict=True) for i, a in enumerate(actors)}
    started = time.monotonic()
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=30.0)
        for ref in ready:
            label = pending.pop(ref)
            try:
                logger.info("%s ready: %s", label, ray.get(ref))
            except ray.exceptions.RayError as exc:
                for actor in (a for actors in made for a in actors):
                    ray.kill(actor)
                raise error(f"{label} failed to start: {_error_text(exc)}") from None
        if pending:
            logger.warning("waiting %.0f s for %d actors to get resources: %s",
                           time.monotonic() - started, len(pending), ", ".join(pending.values()))
    return made, time.monotonic() - started


class ActorPool:
    """Least-loaded submission to a fixed set of actors, at most ``depth`` calls each.

    ``submit(method, *args, weight=1)`` returns the ref (or ``None`` when every actor is
    full); ``done(ref)`` frees its slot; ``pending`` are the refs still running.
    """

    def __init__(self, actors: Sequence[Any], depth: int = 2) -> None:
        self.actors = list(actors)
        self.depth = depth
        self.load = [0] * len(self.actors)
        self._owner: dict[Any, int] = {}

    def has_room(self) -> bool:
        return bool(self.actors) and min(self.load) < self.depth

    def submit(self, method: str, *args: Any, **options: Any) -> Any:
        """Call ``actor.<method>.remote(*args)`` on the least-loaded actor (``options`` go
        to ``.options()``); ``None`` if all are full."""
        if not self.has_room():
            return None
        index = min(range(len(self.actors)), key=self.load.__getitem__)
        call = getattr(self.actors[index], method)
        ref = (call.options(**options) if options else call).remote(*args)
        refs = list(ref) if isinstance(ref, (list, tuple)) else [ref]
        self._owner[refs[0]] = index
        self.load[index] += 1
        return ref

    def done(self, ref: Any) -> None:
        """Free the slot of the call whose (first) ref is ``ref``."""
        index = self._owner.pop(ref, None)
        if index is not None:
            self.load[index] -= 1

    def kill(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors, self.load, self._owner = [], [], {}
