"""The watchdog that takes a private local Ray down with its driver, however the driver ends.

:func:`campaign.engine.ray_toolkit.init_ray` starts one (:func:`start_reaper`) just before
it starts a private local Ray (never for a Ray it joins): ``python -m
campaign.engine.ray_reaper --driver-pid PID --driver-create-time T``, in its own session
(``start_new_session``: a Ctrl-C sent to the driver's process group does not reach it, nor
does the driver's ``kill -9``), stdin, stdout and stderr on ``/dev/null``; it logs to
``<session dir>/logs/chggen_reaper.log``. It imports psutil and the standard library only
(it starts in a fraction of a second), opens no socket and does nothing but:

* every :data:`POLL_S` seconds, check that the driver lives: the same pid *and* the same
  process creation time (a pid reused by another process is a dead driver), not a zombie;
* while ``ray.init`` runs, record every :data:`POLL_S` seconds the driver's descendants
  created after the reaper, until one names the session directory (Ray names it
  ``session_<date>_<time>_<µs>_<driver pid>``; the GCS and the raylet get it on their
  command line): that is the session, and a driver killed inside ``ray.init`` is covered;
* then, every :data:`REFRESH_S` seconds, record the processes of the session
  (:func:`session_processes`), each by pid and creation time;
* once the driver is gone, SIGTERM every recorded process still alive and every process of
  the session found now, SIGKILL those left after :data:`TERM_GRACE_S` seconds, and exit;
* exit, killing nothing, when every process of the session is gone while the driver lives
  (``ray.shutdown()`` in a driver that goes on, e.g. a test process), or when no session
  appeared within :data:`DISCOVERY_TIMEOUT_S` seconds (``ray.init`` failed early).

Why it is needed (Ray 2.60, Linux): the driver of a local Ray starts the GCS, the raylet,
the log monitor, the autoscaler monitor and the dashboard head tied to its own death
(``PR_SET_PDEATHSIG``), so a ``kill -9`` of the driver takes them down at once, and the
workers follow the raylet within about 2 s. The raylet's dashboard agent and runtime-env
agent see the raylet gone within 0.4 s (``ray/_private/process_watcher.py``), but before
exiting they read the raylet's log and, finding no graceful SIGTERM there, publish
"Raylet is terminated. Termination is unexpected" to the (dead) GCS with a hard-coded
60 s timeout (``ray._private.utils.publish_error_to_driver``); so they linger about 61 s.
No Ray setting shortens that: ``RAY_DASHBOARD_AGENT_CHECK_PARENT_INTERVAL_S`` and
``RAY_enable_pipe_based_agent_to_parent_health_check`` only change how the raylet's death
is noticed, and ``RAY_gcs_rpc_server_reconnect_timeout_s`` does not apply to that call
(measured: still 61 s). This reaper is the guarantee: every process of the run is gone
within about :data:`POLL_S` + :data:`TERM_GRACE_S` seconds of the driver's end.

What "the session's processes" are (:func:`session_processes`), never another Ray's:

* a process whose command line names the session directory (``/tmp/ray/session_<time>_
  <driver pid>``) as a whole path component: gcs_server, raylet, log_monitor, the
  autoscaler monitor, the dashboard head;
* a process titled ``ray::...`` (Ray's agents and workers replace their command line with
  such a title) holding a file open under the session directory (its logs);
* every descendant of those (the raylet's agents and workers, whatever their title).

Once the session is known the driver's other children are left alone (a long-lived driver
such as a test process may have unrelated children, even the driver of another Ray), and
so are the reaper itself and the driver. A child the driver starts during ``ray.init``
would be terminated with Ray's processes if the driver were killed right then.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import psutil

__all__ = ["DISCOVERY_TIMEOUT_S", "POLL_S", "REFRESH_S", "TERM_GRACE_S", "mentions_session",
           "session_dir_in", "session_processes", "start_reaper", "terminate", "watch"]

POLL_S = 0.5  # seconds between two checks that the driver lives
REFRESH_S = 2.0  # seconds between two records of the session's processes
DISCOVERY_TIMEOUT_S = 300.0  # seconds to wait for the driver's Ray session to appear
TERM_GRACE_S = 2.0  # seconds between SIGTERM and SIGKILL
_CREATE_TIME_TOLERANCE_S = 0.01  # psutil creation times of one process agree to this


def _session_pattern(session_dir: str) -> re.Pattern[str]:
    """The session directory as a whole path component: ``.../session_x_12`` must not
    match ``.../session_x_123``."""
    return re.compile(re.escape(session_dir.rstrip("/")) + r"(?![\w.-])")


def mentions_session(text: str, session_dir: str) -> bool:
    """Whether ``text`` names ``session_dir`` (or a path inside it)."""
    return _session_pattern(session_dir).search(text) is not None


def _holds_session_file(process: psutil.Process, pattern: re.Pattern[str]) -> bool:
    try:
        return any(pattern.match(f.path) for f in process.open_files())
    except psutil.Error:
        return False


def session_processes(session_dir: str, exclude: Iterable[int] = ()) -> list[psutil.Process]:
    """The live processes of the Ray session ``session_dir`` (see the module docstring):
    those naming it in their command line, ``ray::`` titled ones holding a file open in it,
    and the descendants of either; never a pid of ``exclude``. Zombies are left out."""
    pattern = _session_pattern(session_dir)
    skip = set(exclude)
    children: dict[int, list[psutil.Process]] = {}
    roots: list[psutil.Process] = []
    titled: list[psutil.Process] = []  # ``ray::`` processes: agents and workers of any Ray
    for process in psutil.process_iter(["ppid", "cmdline", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE or process.pid in skip:
            continue
        children.setdefault(info["ppid"], []).append(process)
        cmdline = info["cmdline"] or []
        if any(pattern.search(part) for part in cmdline):
            roots.append(process)
        elif cmdline and cmdline[0].startswith("ray::"):
            titled.append(process)
    found: dict[int, psutil.Process] = {}
    _add_trees(roots, children, found)
    # open files are read only for those not found yet (orphans, e.g. after the raylet died)
    _add_trees([p for p in titled if p.pid not in found and _holds_session_file(p, pattern)],
               children, found)
    return list(found.values())


def _add_trees(roots: Iterable[psutil.Process], children: dict[int, list[psutil.Process]],
               found: dict[int, psutil.Process]) -> None:
    """Add ``roots`` and their descendants (``children``: by parent pid) to ``found``."""
    stack = list(roots)
    while stack:
        process = stack.pop()
        if process.pid not in found:
            found[process.pid] = process
            stack.extend(children.get(process.pid, ()))


def _alive(process: psutil.Process) -> bool:
    """Running, the same process (psutil compares the creation time), not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def terminate(processes: Sequence[psutil.Process], grace_s: float = TERM_GRACE_S) -> int:
    """SIGTERM ``processes``, SIGKILL those alive ``grace_s`` seconds later; the number
    SIGKILLed. psutil refuses to signal a pid now used by another process."""
    for process in processes:
        try:
            process.terminate()
        except psutil.Error:
            continue
    alive = _wait_gone(processes, grace_s)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            continue
    _wait_gone(alive, grace_s)
    return len(alive)


def _wait_gone(processes: Sequence[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until none of ``processes`` is alive (a zombie counts as gone: an orphan's
    parent may be slow to reap it), at most ``timeout_s`` seconds; those still alive."""
    deadline = time.monotonic() + timeout_s
    alive = [p for p in processes if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _alive(p)]
    return alive


_LOG: list[TextIO] = []  # the session's ``logs/chggen_reaper.log`` once it is known


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} chggen reaper {os.getpid()}: {message}",
          file=_LOG[0] if _LOG else sys.stderr, flush=True)


def _open_log(session_dir: str) -> None:
    """Log to ``<session_dir>/logs/chggen_reaper.log`` from now on (once)."""
    if not _LOG:
        with contextlib.suppress(OSError):
            _LOG.append((Path(session_dir) / "logs" / "chggen_reaper.log").open("a"))


def session_dir_in(cmdline: Sequence[str], driver_pid: int) -> str | None:
    """The session directory of a Ray started by ``driver_pid`` (Ray names it
    ``session_<date>_<time>_<microseconds>_<pid of the driver that started it>``) when
    ``cmdline`` names it, as the GCS's and the raylet's do."""
    pattern = re.compile(rf"/[^\s=]*?/session_\d{{4}}-\d\d-\d\d_\d\d-\d\d-\d\d_\d+_"
                         rf"{driver_pid}(?![\w.-])")
    for part in cmdline:
        if found := pattern.search(part):
            return found.group(0)
    return None


def _new_descendants(driver: psutil.Process, since: float) -> list[psutil.Process]:
    """The driver's descendants created at ``since`` (psutil time) or later."""
    found = []
    try:
        children = driver.children(recursive=True)
    except psutil.Error:
        return found
    for process in children:
        try:
            if process.create_time() >= since:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _find_session_dir(processes: Iterable[psutil.Process], driver_pid: int) -> str | None:
    for process in processes:
        try:
            if found := session_dir_in(process.cmdline(), driver_pid):
                return found
        except psutil.Error:
            continue
    return None


def watch(driver_pid: int, driver_create_time: float, session_dir: str | None = None) -> int:
    """The reaper's loop (see the module docstring); returns the exit status.

    Without ``session_dir`` the driver is about to start its Ray: until a new descendant of
    the driver names the session directory (within :data:`DISCOVERY_TIMEOUT_S` seconds),
    the driver's descendants created after this reaper are its processes.
    """
    try:
        driver = psutil.Process(driver_pid)
        same = abs(driver.create_time() - driver_create_time) < _CREATE_TIME_TOLERANCE_S
        since = psutil.Process().create_time()  # Ray's processes start after the reaper
    except psutil.Error:
        return 0
    exclude = {os.getpid(), driver_pid}
    known: dict[int, psutil.Process] = {}
    started = next_refresh = time.monotonic()
    if session_dir is not None:
        _open_log(session_dir)
    while same and _alive(driver):
        now = time.monotonic()
        if now >= next_refresh:
            known = {pid: p for pid, p in known.items() if _alive(p)}
            if session_dir is None:
                new = [p for p in _new_descendants(driver, since) if p.pid not in exclude]
                known.update({p.pid: p for p in new if p.pid not in known})
                session_dir = _find_session_dir(new, driver_pid)
                if session_dir is not None:  # from now on: the session's processes only
                    _open_log(session_dir)
                    _log(f"watching {session_dir} of driver {driver_pid}")
                    known = {}
                elif now - started > DISCOVERY_TIMEOUT_S:
                    _log(f"no Ray session of driver {driver_pid} in {DISCOVERY_TIMEOUT_S} s")
                    return 0
            if session_dir is not None:
                for process in session_processes(session_dir, exclude):
                    known.setdefault(process.pid, process)  # a live pid is not reused
                if not known:
                    _log(f"every process of {session_dir} is gone, the driver lives: exiting")
                    return 0
            next_refresh = now + (REFRESH_S if session_dir is not None else POLL_S)
        time.sleep(POLL_S)
    targets = {p.pid: p for p in known.values() if _alive(p)}
    session_dir = session_dir or _find_session_dir(targets.values(), driver_pid)
    if session_dir is not None:
        _open_log(session_dir)
        targets.update({p.pid: p for p in session_processes(session_dir, exclude)})
    if targets:
        names = sorted(_name(p) for p in targets.values())
        _log(f"driver {driver_pid} is gone; terminating {len(targets)} processes of "
             f"{session_dir or 'its Ray (session not known yet)'}: {', '.join(names)}")
        killed = terminate(list(targets.values()))
        _log(f"done ({killed} needed SIGKILL)")
    else:
        _log(f"driver {driver_pid} is gone, and so is its Ray: exiting")
    return 0


def _name(process: psutil.Process) -> str:
    try:
        cmdline = process.cmdline()
        return f"{process.pid} {Path(cmdline[0]).name if cmdline else process.name()}".strip()
    except psutil.Error:
        return str(process.pid)


def start_reaper(session_dir: str | None = None,
                 driver_pid: int | None = None) -> subprocess.Popen[bytes]:
    """Start the reaper of the Ray session ``session_dir`` whose driver is ``driver_pid``
    (default: this process), detached from the driver's session and terminal. Without
    ``session_dir``: of the Ray the driver starts next (call this just before
    ``ray.init``)."""
    driver_pid = os.getpid() if driver_pid is None else driver_pid
    create_time = psutil.Process(driver_pid).create_time()
    root = Path(__file__).resolve().parents[2]  # where the ``campaign`` package is
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "campaign.engine.ray_reaper", "--driver-pid",
            str(driver_pid), "--driver-create-time", repr(create_time)]
    if session_dir is not None:
        argv += ["--session-dir", session_dir]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                            env=env, cwd="/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver-pid", type=int, required=True)
    parser.add_argument("--driver-create-time", type=float, required=True,
                        help="the driver's creation time (psutil, seconds since the epoch)")
    parser.add_argument("--session-dir", default=None,
                        help="the Ray session directory (default: found, see watch())")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the driver's end stops it
    return watch(args.driver_pid, args.driver_create_time, args.session_dir)


if __name__ == "__main__":
    sys.exit(main())
