"""Chaos run of a small real campaign: kill -9 a random actor or the driver, K times.

``chggen run`` runs as a subprocess (the driver, with its private loopback Ray). Every
``--interval`` seconds (jittered by ±30 %) one fault is injected, its kind drawn at random:

* ``sampler``: SIGKILL of a ``SamplerWorker`` actor process (Ray restarts the actor and
  retries its batch);
* ``relax``: SIGKILL of a ``RelaxWorker`` actor process;
* ``driver``: SIGKILL of the ``chggen run`` process; the same command is started again and
  resumes the campaign. Every process of the killed driver's Ray (its descendants and the
  processes of its Ray session, found by session directory with
  ``campaign.engine.ray_reaper.session_processes``, recorded just before the kill) must be
  gone within 10 s (the reaper's guarantee); each one still alive then is counted in
  ``ray_processes_left_after_10s`` and fails the run (it is killed afterwards, by pid).

An actor kind drawn while the (restarted) driver is still loading Ray and the models
waits for its actors to come up, so that driver kills do not crowd out actor kills.

Actor processes are looked up with psutil among the descendants of the current driver only
(their command line names the actor class), never another Ray on the machine. After the
K-th fault the driver runs to the end (restarted if it was the last one killed); then the
folder is read with ``pandas.read_parquet`` and its candidate ids are checked against the
ids the configuration (and the hosts written) must produce: present, duplicated, lost.

The built-in campaign: the shipped score model with a short sampler (20 noise levels, one
corrector step), CHGNet relaxation capped at 40 steps, the offline hull, a few Li-Si cells,
unconditional and inpainting modes; a few minutes on 2 CPU cores. Run::

    nice -n 10 python benchmarks/chaos_campaign.py --kills 6 --interval 10

It writes ``benchmarks/results/chaos_campaign.json`` (``--result``).
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from campaign.engine.ray_reaper import session_dir_in, session_processes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stamp import stamp, stamped  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("sampler", "relax", "driver")
ACTOR_CLASSES = {"sampler": "SamplerWorker", "relax": "RelaxWorker"}
RUN_TIMEOUT_S = 3600.0  # a driver that runs longer than this is a failure
ACTOR_WAIT_S = 180.0  # an actor kind drawn waits this long for its actors (model loading)
RAY_GONE_WITHIN_S = 10.0  # every Ray process of a killed driver must be gone by then

TINY_CAMPAIGN: dict[str, Any] = {
    "name": "chaos",
    "compositions": {"cells": ["Li3Si", "Li2Si", "Li4Si2", "Li5Si2"]},
    "lattice": {"families": ["cubic", "hexagonal", "tetragonal"], "ratios": ["random"]},
    "samples_per_task": 3,
    "modes": ["unconditional", "inpaint"],
    "inpaint": {"guest_species": ["Li"], "samples_per_host": 2, "hosts_per_task": 1},
    "sampler": {"n_levels": 20, "n_corrector_steps": 1},
    "relax": {"fmax": 0.1, "max_steps": 40},
    "hull": {"source": "offline"},
    "model": {"checkpoint": ""},
    "seed": 0,
    "resources": {"sampler_actors": 1, "cpus_per_sampler": 0, "relax_actors": 2,
                  "cpus_per_relax_actor": 1, "atoms_per_batch": 64},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=6, help="faults to inject (K)")
    p.add_argument("--interval", type=float, default=10.0,
                   help="seconds between faults (jittered by ±30%%)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault schedule")
    p.add_argument("--config", default=None,
                   help="campaign YAML (its output is replaced by --out); default: built in")
    p.add_argument("--out", default=None, help="results folder (default: a temporary one)")
    p.add_argument("--result", default=str(ROOT / "benchmarks" / "results" /
                                           "chaos_campaign.json"), help="JSON result file")
    return p.parse_args(argv)


def write_campaign(args: argparse.Namespace, work: Path) -> tuple[Path, dict[str, Any]]:
    """The campaign YAML the drivers run (output: ``--out`` or ``work/results``)."""
    data = (yaml.safe_load(Path(args.config).read_text()) if args.config
            else json.loads(json.dumps(TINY_CAMPAIGN)))
    data["output"] = str(Path(args.out).resolve() if args.out else work / "results")
    path = work / "campaign.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, data


class Chaos:
    """The driver subprocess, its restarts and the faults injected into it."""

    def __init__(self, config_path: Path, log_path: Path, rng: random.Random) -> None:
        self.config_path, self.log_path, self.rng = config_path, log_path, rng
        self.driver: subprocess.Popen[bytes] | None = None
        self.faults: collections.Counter[str] = collections.Counter()
        self.fault_log: list[dict[str, Any]] = []
        self.driver_starts = 0
        self.unexpected_exits: list[int] = []
        self.ray_left: collections.Counter[str] = collections.Counter()
        self.ray_gone_s: list[float] = []  # per driver kill: seconds until its Ray was gone
        self.started = time.monotonic()

    def start_driver(self) -> None:
        with self.log_path.open("ab") as log:
            self.driver = subprocess.Popen(
                [sys.executable, "-m", "campaign.cli", "run", str(self.config_path),
                 "--no-progress"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.driver_starts += 1

    def _tree(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.driver.pid).children(recursive=True)
        except psutil.Error:
            return []

    def actor_pids(self, kind: str) -> list[int]:
        """Pids of the current driver's actor processes of ``kind`` (sampler | relax)."""
        name = f"ray::{ACTOR_CLASSES[kind]}"
        pids = []
        for process in self._tree():
            try:
                if any(part.startswith(name) for part in process.cmdline()):
                    pids.append(process.pid)
            except psutil.Error:
                continue
        return pids

    def session_dir(self) -> str | None:
        """The Ray session directory of the current driver: named in the command lines of
        its GCS and raylet, and ending in the driver's pid (``session_<time>_<pid>``)."""
        for process in self._tree():
            try:
                found = session_dir_in(process.cmdline(), self.driver.pid)
            except psutil.Error:
                continue
            if found:
                return found
        return None

    def ray_processes(self) -> dict[int, tuple[psutil.Process, str]]:
        """The current driver's descendants and its Ray session's processes, by pid, with
        a label (e.g. ``raylet``, ``ray::DashboardAgent``, ``campaign.engine.ray_reaper``)."""
        found = {p.pid: p for p in self._tree()}
        session_dir = self.session_dir()
        if session_dir is not None:
            found.update({p.pid: p for p in session_processes(session_dir,
                                                                exclude={self.driver.pid})})
        return {pid: (p, _label(p)) for pid, p in found.items()}

    def kill_driver(self) -> None:
        """SIGKILL the driver; every process of its Ray must be gone within
        ``RAY_GONE_WITHIN_S`` seconds: those still alive are counted (then killed)."""
        recorded = self.ray_processes()
        self.driver.send_signal(signal.SIGKILL)
        self.driver.wait()
        killed = time.monotonic()
        alive = {pid: pair for pid, pair in recorded.items() if _alive(pair[0])}
        while alive and time.monotonic() - killed < RAY_GONE_WITHIN_S:
            time.sleep(0.1)
            alive = {pid: pair for pid, pair in alive.items() if _alive(pair[0])}
        self.ray_gone_s.append(round(time.monotonic() - killed, 1))
        for process, label in alive.values():  # a failure: counted, then killed
            self.ray_left[label] += 1
            print(f"[chaos] alive {RAY_GONE_WITHIN_S:.0f} s after the driver's kill -9: "
                  f"{process.pid} {label}", flush=True)
            try:
                process.kill()
            except psutil.Error:
                continue
        psutil.wait_procs([process for process, _ in alive.values()], timeout=10)

    def inject(self, wait_s: float = ACTOR_WAIT_S) -> str | None:
        """One fault of a random kind. An actor kind drawn waits until such an actor runs
        (a restarted driver starts its actors after loading Ray and the models), at most
        ``wait_s`` seconds, then falls back to the driver. ``None`` when the campaign
        finished meanwhile."""
        kind = self.rng.choice(KINDS)
        deadline = time.monotonic() + wait_s
        while kind != "driver" and not self.actor_pids(kind):
            if self.driver.poll() is not None:
                return None
            if time.monotonic() > deadline:
                kind = "driver"
                break
            time.sleep(0.5)
        if self.driver.poll() is not None:
            return None
        if kind == "driver":
            self.kill_driver()
            target = self.driver.pid
            self.start_driver()  # resume
        else:
            target = self.rng.choice(self.actor_pids(kind))
            try:
                psutil.Process(target).send_signal(signal.SIGKILL)
            except psutil.Error:
                return None
        self.faults[kind] += 1
        self.fault_log.append({"t_s": round(time.monotonic() - self.started, 1),
                               "kind": kind, "pid": target})
        print(f"[chaos] {self.fault_log[-1]}", flush=True)
        return kind

    def wait_done(self) -> None:
        """Let the driver finish, restarting it after an exit that is not a success."""
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            code = self.driver.wait(timeout=max(1.0, deadline - time.monotonic()))
            if code == 0:
                return
            self.unexpected_exits.append(code)
            if len(self.unexpected_exits) > 3:
                raise RuntimeError(f"the driver keeps failing (exit codes "
                                   f"{self.unexpected_exits}); see {self.log_path}")
            self.start_driver()


def _alive(process: psutil.Process) -> bool:
    """Running, the same process (psutil checks its creation time), not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _label(process: psutil.Process) -> str:
    """``ray::<title>``, the program, or (for Python) the script or module it runs."""
    try:
        cmdline = process.cmdline()
    except psutil.Error:
        return "?"
    if not cmdline:
        return "?"
    if cmdline[0].startswith("ray::"):
        return cmdline[0].split()[0]
    if not Path(cmdline[0]).name.startswith("python"):
        return Path(cmdline[0]).name
    return next((Path(part).name for part in cmdline[1:] if not part.startswith("-")),
                Path(cmdline[0]).name)


def expected_ids(config: Any) -> tuple[set[str], int]:
    """Candidate ids the campaign must hold: every unconditional task's, and every
    inpainting task's of the hosts written (a host whose framework did not refine has an
    empty part and no candidates); also the number of such empty hosts."""
    from campaign.engine.store import ResultStore
    from campaign.jobs.tasks import inpainting_task, unconditional_tasks
    from chggen_kernels.workflow import INPAINT_MODES, candidate_id, select_hosts

    store = ResultStore(config.output)
    expected: set[str] = set()
    empty_hosts = 0
    modes = [m for m in config.modes if m in INPAINT_MODES]
    inp = config.inpaint
    for task in unconditional_tasks(config):
        expected |= {candidate_id(task.task_id, i) for i in range(task.n_samples)}
        if not modes or not store.is_done(task.task_id):
            continue
        for host in select_hosts(store.read_task(task.task_id), inp.hosts_per_task,
                                 inp.host_max_e_d):
            for mode in modes:
                refine = inpainting_task(config, host, mode)
                if store.is_done(refine.task_id) and not store.read_task(refine.task_id):
                    empty_hosts += 1
                    continue
                expected |= {candidate_id(refine.task_id, i) for i in range(refine.n_samples)}
    return expected, empty_hosts


def check_folder(config: Any) -> dict[str, Any]:
    """Read the folder with pandas; expected, present, duplicated, lost, unexpected ids."""
    import pandas as pd

    table = pd.read_parquet(config.output)
    counts = table["candidate_id"].value_counts()
    expected, empty_hosts = expected_ids(config)
    present = set(counts.index)
    failed = table[table["status"] != "ok"]
    return {
        "candidates_expected": len(expected),
        "candidates_present": len(expected & present),
        "candidates_duplicated": int((counts > 1).sum()),
        "candidates_lost": len(expected - present),
        "candidates_unexpected": len(present - expected),
        "rows": len(table),
        "rows_failed": len(failed),
        "failure_reasons": {str(k): int(v) for k, v in
                            failed["failure_reason"].str.slice(0, 60).value_counts().items()},
        "hosts_without_framework": empty_hosts,
        "reads_in_pandas": True,
    }


def run_chaos(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from campaign.config.model import load_config

    config_path, data = write_campaign(args, work)
    config = load_config(config_path)
    rng = random.Random(args.seed)
    chaos = Chaos(config_path, work / "drivers.log", rng)
    started = time.monotonic()
    chaos.start_driver()
    for _ in range(args.kills):
        time.sleep(args.interval * rng.uniform(0.7, 1.3))
        if chaos.inject() is None:
            print("[chaos] the campaign finished before every fault was injected", flush=True)
            break
    chaos.wait_done()
    wall = time.monotonic() - started
    result = check_folder(config)
    result.update({
        "kills_requested": args.kills,
        "faults_injected": dict(sorted(chaos.faults.items())),
        "faults_total": sum(chaos.faults.values()),
        "fault_log": chaos.fault_log,
        "driver_starts": chaos.driver_starts,
        "driver_unexpected_exit_codes": chaos.unexpected_exits,
        "ray_processes_left_after_10s": dict(sorted(chaos.ray_left.items())),
        "ray_gone_after_driver_kill_s": chaos.ray_gone_s,
        "wall_s": round(wall, 1),
        "interval_s": args.interval,
        "seed": args.seed,
        "campaign": {k: data[k] for k in ("compositions", "lattice", "samples_per_task",
                                          "modes", "sampler", "relax", "resources")
                     if k in data},
    })
    result["ok"] = (result["candidates_lost"] == 0 and result["candidates_duplicated"] == 0
                    and result["candidates_unexpected"] == 0
                    and not result["driver_unexpected_exit_codes"]
                    and sum(chaos.ray_left.values()) == 0)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chggen-chaos-") as tmp:
        result = run_chaos(args, Path(tmp))
        if not result["ok"]:
            print((Path(tmp) / "drivers.log").read_text()[-4000:], file=sys.stderr)
    Path(args.result).parent.mkdir(parents=True, exist_ok=True)
    result = stamped(result, stamp(argv, __file__))
    Path(args.result).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "fault_log"}, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
