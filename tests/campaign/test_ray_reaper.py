"""The reaper of a private local Ray (``campaign.engine.ray_reaper``).

* :func:`test_killed_driver_leaves_no_ray_process`: a real driver process starts a private
  Ray through ``init_ray`` (as ``chggen run`` does), is SIGKILLed once its Ray runs, or
  inside ``ray.init`` once the agents run, and every process of its Ray session (by session
  directory, and the driver's descendants) must be gone within 10 s; without the reaper
  the dashboard and runtime-env agents live about 61 s more.
* :func:`test_session_processes_selects_only_that_session` and the others: the selection
  by session directory, on stand-in processes and command lines (no Ray).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from campaign.engine.ray_reaper import mentions_session, session_dir_in, session_processes

ROOT = Path(__file__).resolve().parents[2]
GONE_WITHIN_S = 10.0  # the guarantee: no Ray process of a run alive 10 s after its driver

DRIVER = """
import sys, time
import ray
from campaign.engine.ray_toolkit import init_ray
init_ray(None, num_cpus=1)
print(ray._private.worker._global_node.get_session_dir_path(), flush=True)
time.sleep(300)
"""


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _label(process: psutil.Process, chars: int = 60) -> str:
    try:
        return " ".join(process.cmdline())[:chars] or process.name()
    except psutil.Error:
        return str(process.pid)


def _readline(stream: object, timeout_s: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    if not selector.select(timeout_s):
        raise TimeoutError(f"no line from the driver in {timeout_s} s")
    return stream.readline().strip()  # type: ignore[attr-defined]


def _kill_all(processes: list[psutil.Process]) -> None:
    for process in processes:
        if _alive(process):
            try:
                process.kill()
            except psutil.Error:
                continue


def _record(driver_pid: int, session_dir: str | None,
            recorded: dict[int, psutil.Process]) -> None:
    """Add the driver's descendants and the session's processes to ``recorded``."""
    with contextlib.suppress(psutil.Error):
        for process in psutil.Process(driver_pid).children(recursive=True):
            recorded.setdefault(process.pid, process)
    if session_dir is not None:
        for process in session_processes(session_dir, exclude={driver_pid, os.getpid()}):
            recorded.setdefault(process.pid, process)


@pytest.mark.parametrize("moment", ["after_ray_init", "inside_ray_init"])
def test_killed_driver_leaves_no_ray_process(moment: str) -> None:
    """``after_ray_init``: once every kind of Ray process runs; ``inside_ray_init``: as soon
    as the raylet and the agents run, before ``ray.init`` returned."""
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    recorded: dict[int, psutil.Process] = {}
    try:
        if moment == "after_ray_init":
            session_dir: str | None = _readline(driver.stdout, timeout_s=120.0)
            wanted = {"gcs_server", "raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent",
                      "campaign.engine.ray_reaper"}
        else:
            session_dir = None
            wanted = {"raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent",
                      "campaign.engine.ray_reaper"}
        deadline = time.monotonic() + 120.0
        while True:  # the agents may start after ray.init returns on a loaded machine
            _record(driver.pid, session_dir, recorded)
            labels = " ".join(_label(p, 10**4) for p in recorded.values() if _alive(p))
            missing = {w for w in wanted if w not in labels}
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.5 if moment == "after_ray_init" else 0.02)
        assert not missing, f"not started: {missing}; seen: {labels[:2000]}"
        session_dir = session_dir or next(
            found for p in recorded.values() if (found := _session_dir(p, driver.pid)))
        inside = moment == "inside_ray_init" and not _has_line(driver)  # init not returned

        driver.send_signal(signal.SIGKILL)
        driver.wait()
        killed = time.monotonic()
        _record(driver.pid, session_dir, recorded)  # any process started meanwhile
        alive = [p for p in recorded.values() if _alive(p)]
        while alive and time.monotonic() - killed < GONE_WITHIN_S:
            time.sleep(0.1)
            alive = [p for p in alive if _alive(p)]
        took = time.monotonic() - killed
        print(f"{moment}: {len(recorded)} processes of the run gone {took:.1f} s after kill -9")
        assert not alive, (f"alive {GONE_WITHIN_S} s after the driver's kill -9: "
                           f"{[_label(p) for p in alive]}")
        log = Path(session_dir, "logs", "chggen_reaper.log").read_text()
        assert f"watching {session_dir} of driver {driver.pid}" in log, log
        if moment == "inside_ray_init" and not inside:
            pytest.skip("ray.init had returned before the kill (a fast machine)")
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        _kill_all(list(recorded.values()))


def _session_dir(process: psutil.Process, driver_pid: int) -> str | None:
    try:
        return session_dir_in(process.cmdline(), driver_pid)
    except psutil.Error:
        return None


def _has_line(driver: subprocess.Popen[str]) -> bool:
    """Whether the driver printed its session directory (``ray.init`` returned)."""
    selector = selectors.DefaultSelector()
    selector.register(driver.stdout, selectors.EVENT_READ)
    return bool(selector.select(0))


def _holds_a_file(pid: int, folder: Path) -> bool:
    try:
        return any(f.path.startswith(str(folder)) for f in psutil.Process(pid).open_files())
    except psutil.Error:
        return False


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start stand-in processes; each is killed (with its children) afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for popen in started:
        try:
            tree = [psutil.Process(popen.pid), *psutil.Process(popen.pid).children(True)]
        except psutil.Error:
            tree = []
        _kill_all(tree)
        popen.wait()


def test_session_processes_selects_only_that_session(
        tmp_path: Path, spawn: list[subprocess.Popen[bytes]]) -> None:
    session = tmp_path / "session_2026-01-01_00-00-00_000000_123"
    other = tmp_path / "session_2026-01-01_00-00-00_000000_1234"  # its name extends ours
    for folder in (session, other):
        (folder / "logs").mkdir(parents=True)
    sleep = "import sys, time; time.sleep(60)"
    parent = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
              "'import time; time.sleep(60)']); time.sleep(60)")
    hold = "import os, time; f = open(os.environ['HOLD'], 'w'); time.sleep(60)"

    def start(*args: str, title: str | None = None, hold_file: Path | None = None) -> int:
        """A process ``title -c ...`` holding ``hold_file`` open (not in its command line)."""
        env = dict(os.environ, HOLD=str(hold_file or tmp_path / "elsewhere.log"))
        argv = [title or sys.executable, *args]
        spawn.append(subprocess.Popen(argv, executable=sys.executable, env=env))
        return spawn[-1].pid

    raylet = start("-c", parent, f"--log-dir={session}/logs")  # names it, has a child
    agent = start("-c", hold, title="ray::FakeAgent", hold_file=session / "logs" / "a.log")
    neighbour = start("-c", sleep, f"--log-dir={other}/logs")
    neighbour_agent = start("-c", hold, title="ray::FakeAgent",
                            hold_file=other / "logs" / "a.log")
    plain = start("-c", hold, hold_file=session / "logs" / "b.log")  # not ray::, not named
    far_agent = start("-c", hold, title="ray::FakeAgent")  # holds a file elsewhere
    unrelated = start("-c", sleep)

    holders = (agent, neighbour_agent, plain, far_agent)
    deadline = time.monotonic() + 20.0
    while True:  # until the child is started and every file is open
        child = [c.pid for c in psutil.Process(raylet).children()]
        ready = bool(child) and all(_holds_a_file(pid, tmp_path) for pid in holders)
        if ready or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert ready, "the stand-in processes did not start in 20 s"
    chosen = {p.pid for p in session_processes(str(session))}
    assert {raylet, agent, child[0]} <= chosen
    assert not chosen & {neighbour, neighbour_agent, plain, far_agent, unrelated, os.getpid()}
    assert raylet not in {p.pid for p in session_processes(str(session), exclude={raylet})}
    assert {p.pid for p in session_processes(str(other))} >= {neighbour, neighbour_agent}


def test_mentions_session_as_a_whole_path_component() -> None:
    session = "/tmp/ray/session_2026-01-01_00-00-00_000000_123"
    assert mentions_session(f"--log_dir={session}/logs", session)
    assert mentions_session(f"--session-dir={session}", session)
    assert mentions_session(f"--session-dir={session}/", session + "/")
    assert not mentions_session(f"--session-dir={session}4", session)
    assert not mentions_session(f"{session}_9/logs", session)
    assert not mentions_session(f"{session}.old", session)


def test_session_dir_in_names_only_the_drivers_session() -> None:
    session = "/tmp/ray/session_2026-01-01_00-00-00_000000_123"
    raylet = ["/x/raylet", f"--raylet_socket_name={session}/sockets/raylet", "--port=0"]
    assert session_dir_in(raylet, 123) == session
    assert session_dir_in(["/x/gcs_server", f"--log_dir={session}/logs"], 123) == session
    assert session_dir_in(raylet, 12) is None  # another driver's (its pid is a prefix)
    assert session_dir_in(raylet, 1234) is None
    assert session_dir_in(["python", "-c", "pass"], 123) is None
