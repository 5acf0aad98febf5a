"""The hostile-input probes of issue 33, run against the real ``chggen`` command line.

Each probe runs ``chggen`` as a subprocess and measures its exit code, its stderr lines,
its wall time and its peak resident memory (``os.wait4``); a refusal passes when it is
exit 2 with exactly one stderr line, in under 2 s, below 1.5 GB. The driver probes run a
tiny real campaign (the shipped model, 2 noise levels, 5 CHGNet steps, the offline hull):
SIGTERM and ``kill -9`` of the driver (no Ray process of the run alive 10 s later, the
lock released), a disk full from the start (a 64 kB tmpfs, root only: the message names
the path, no empty lock is left) and a new seed on an existing folder (said in one line).

    python benchmarks/probe_inputs.py [--quick] [--json benchmarks/results/probe_inputs.json]

``--quick`` leaves out the driver probes (about 2 minutes on 2 cores). Prints the table
that docs/reliability.md shows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import yaml
from pymatgen.core import Lattice, Structure

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from chaos_campaign import _alive  # noqa: E402
from stamp import stamp  # noqa: E402

from campaign.engine.ray_reaper import session_dir_in, session_processes  # noqa: E402

CHGGEN = [sys.executable, "-m", "campaign.cli"]
MAX_WALL_S, MAX_RSS_MB = 2.0, 1500.0


def billion_laughs() -> str:
    lines, previous = ["a: &a [x, x, x, x, x, x, x, x, x]"], "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join([*lines, f"name: *{previous}"]) + "\n"


def run(argv: list[str], timeout: float = 120.0, **popen: Any) -> dict[str, Any]:
    """Run ``chggen argv``: exit code, stderr lines, wall s, peak RSS MB (os.wait4)."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen([*CHGGEN, *argv], stdout=subprocess.DEVNULL, stderr=err,
                                   cwd=ROOT, **popen)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
            time.sleep(0.02)
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return {"rc": process.returncode, "stderr": lines, "wall_s": round(time.monotonic() -
            started, 2), "rss_mb": round(usage.ru_maxrss / 1024, 1)}


def refusal(result: dict[str, Any], contains: str) -> bool:
    return (result["rc"] == 2 and len(result["stderr"]) == 1 and contains in
            result["stderr"][0] and result["wall_s"] < MAX_WALL_S and
            result["rss_mb"] < MAX_RSS_MB)


def tiny_campaign(out: Path, seed: int = 0) -> dict[str, Any]:
    return {"name": "probe", "compositions": {"cells": ["Li2Si", "Li3Si"]},
            "samples_per_task": 2, "seed_blocks": 30, "modes": ["unconditional"],
            "sampler": {"n_levels": 2, "n_corrector_steps": 0},
            "relax": {"fmax": 0.5, "max_steps": 5}, "hull": {"source": "offline"},
            "output": str(out), "seed": seed,
            "resources": {"sampler_actors": 1, "cpus_per_sampler": 0, "relax_actors": 1,
                          "cpus_per_relax_actor": 1}}


def _session(driver: psutil.Process) -> str | None:
    for process in driver.children(recursive=True):
        try:
            found = session_dir_in(process.cmdline(), driver.pid)
        except psutil.Error:
            continue
        if found:
            return found
    return None


def driver_signal(work: Path, sig: int) -> dict[str, Any]:
    """Start a tiny campaign, wait for its Ray, send ``sig`` to the driver; then count the
    run's Ray processes alive 10 s later and whether the lock is gone."""
    out = work / f"out-{sig}"
    config = work / f"c-{sig}.yaml"
    config.write_text(yaml.safe_dump(tiny_campaign(out)))
    process = subprocess.Popen([*CHGGEN, "run", str(config), "--no-progress"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    driver, session, deadline = psutil.Process(process.pid), None, time.monotonic() + 180
    while session is None and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        session = _session(driver)
    time.sleep(8.0)  # actors loading their models
    recorded = {p.pid: p for p in driver.children(recursive=True)}
    if session:
        recorded |= {p.pid: p for p in session_processes(session, exclude={process.pid})}
    process.send_signal(sig)
    stderr = process.communicate(timeout=120)[1].decode(errors="replace").strip()
    time.sleep(10.0)
    alive = [p for p in recorded.values() if _alive(p)]
    for p in alive:
        p.kill()
    return {"rc": process.returncode, "stderr": stderr.splitlines()[-3:],
            "ray_processes_recorded": len(recorded), "alive_after_10s": len(alive),
            "lock_left": (out / "_lock").exists(), "session_found": bool(session)}


def disk_full(work: Path) -> dict[str, Any]:
    mount = work / "full"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                      capture_output=True).returncode:
        return {"skipped": "cannot mount a tmpfs (needs root)"}
    try:
        with open(mount / "filler", "wb") as handle, contextlib.suppress(OSError):
            handle.write(b"\0" * 70_000)
        config = work / "full.yaml"
        config.write_text(yaml.safe_dump(tiny_campaign(mount / "out")))
        result = run(["run", str(config), "--no-progress"], timeout=300)
        result["empty_lock_left"] = (mount / "out" / "_lock").exists()
        return result
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def seed_change(work: Path) -> dict[str, Any]:
    out = work / "seeded"
    out.mkdir()
    (out / "_campaign.yaml").write_text(yaml.safe_dump(tiny_campaign(out, seed=0)))
    campaign = tiny_campaign(out, seed=1) | {"seed_blocks": 1}
    config = work / "seed1.yaml"
    config.write_text(yaml.safe_dump(campaign))
    return run(["run", str(config), "--no-progress"], timeout=600)


def probes(work: Path, quick: bool) -> list[tuple[str, str, Callable[[], dict], Callable]]:
    base = yaml.safe_load((ROOT / "examples" / "li_si.yaml").read_text())
    (work / "bomb.yaml").write_text(billion_laughs())
    (work / "binary.yaml").write_bytes(bytes(range(256)) * 40)
    for key in ("samples_per_task", "seed_blocks"):
        (work / f"{key}.yaml").write_text(yaml.safe_dump(base | {key: 1_000_000_000}))
    og = work / "og"
    og.mkdir()
    Structure(Lattice.cubic(5.0), ["Og"], [[0, 0, 0]]).to(filename=str(og / "og.cif"))
    big = work / "big.cif"
    (Structure(Lattice.cubic(4.0), ["Si"], [[0, 0, 0]]) * (18, 17, 17)).to(filename=str(big))
    cif = (ROOT / "tests" / "kernels" / "test_structure_check.py").read_text()
    head = cif.split('CIF_HEAD = """', 1)[1].split('"""', 1)[0].format(a=4.0)
    (work / "nan.cif").write_text(head + "Li1 Li nan 0 0 1\nSi1 Si 0.5 0.5 0.5 1\n")
    (work / "two.cif").write_text(head + "Si1 Si 0 0 0 1\nSi2 Si 0 0 0 1\n")
    rows = [
        ("YAML billion laughs (9 levels x 9)", "run bomb.yaml",
         lambda: run(["run", str(work / "bomb.yaml")]), lambda r: refusal(r, "expands to")),
        ("samples_per_task: 1000000000", "run",
         lambda: run(["run", str(work / "samples_per_task.yaml")]),
         lambda r: refusal(r, "limits.samples_per_task")),
        ("seed_blocks: 1000000000", "run",
         lambda: run(["run", str(work / "seed_blocks.yaml")]),
         lambda r: refusal(r, "limits.seed_blocks")),
        ("scan --budget 1000000000 --print-config", "scan",
         lambda: run(["scan", "Li-Si", "--budget", "1000000000", "--print-config"]),
         lambda r: refusal(r, "limits.candidates")),
        ("binary file as the config", "run",
         lambda: run(["run", str(work / "binary.yaml")]),
         lambda r: refusal(r, "not a UTF-8 text file")),
        ("Og crystal in a CSP benchmark", "benchmark csp --set all",
         lambda: run(["benchmark", "csp", str(og), "--set", "all", "--out",
                      str(work / "b")]), lambda r: refusal(r, "element Og (Z = 118)")),
        ("Og host, --guest Li:4 --hull none", "inpaint",
         lambda: run(["inpaint", str(og / "og.cif"), "--guest", "Li:4", "--hull", "none"]),
         lambda r: refusal(r, "element Og (Z = 118)")),
        ("5,202-atom host", "inpaint",
         lambda: run(["inpaint", str(big), "--guest", "Li:4"]),
         lambda r: refusal(r, "limits.atoms_per_cell")),
        ("CIF with a NaN coordinate", "inpaint",
         lambda: run(["inpaint", str(work / "nan.cif"), "--guest", "Li:1"]),
         lambda r: refusal(r, "are not all finite numbers")),
        ("CIF with two atoms on one site", "inpaint",
         lambda: run(["inpaint", str(work / "two.cif"), "--guest", "Li:1"]),
         lambda r: refusal(r, "overlapping atoms: sites 0 (Si1) and 1 (Si2)")),
        ("--help of every command", "run --help",
         lambda: run(["run", "--help"]), lambda r: r["rc"] == 0 and r["wall_s"] < 1.0),
    ]
    if not quick:
        rows += [
            ("disk full from the start", "run (64 kB tmpfs)", lambda: disk_full(work),
             lambda r: r.get("skipped") is not None or (
                 r["rc"] == 1 and "file system error on '" in r["stderr"][-1]
                 and not r["empty_lock_left"])),
            ("SIGTERM of a running campaign", "run", lambda: driver_signal(
                work, signal.SIGTERM), lambda r: r["rc"] in (130, 143) and r["session_found"]
             and r["alive_after_10s"] == 0 and not r["lock_left"]),
            ("kill -9 of the driver", "run", lambda: driver_signal(work, signal.SIGKILL),
             lambda r: r["session_found"] and r["alive_after_10s"] == 0),
            ("new seed on an existing folder", "run", lambda: seed_change(work),
             lambda r: r["rc"] == 0 and sum("seed 1 differs from the seed 0" in line
                                            for line in r["stderr"]) == 1),
        ]
    return rows


def _said(result: dict[str, Any]) -> str:
    """The table's last column: the telling stderr line, or the driver probe's counts."""
    if "alive_after_10s" in result:
        return (f"{result['ray_processes_recorded']} Ray processes of the run, "
                f"{result['alive_after_10s']} alive 10 s later; lock "
                f"{'left' if result['lock_left'] else 'released'}; "
                f"{(result['stderr'] or [''])[-1]}")
    lines = result.get("stderr") or []
    telling = [line for line in lines if "seed" in line or line.startswith("chggen")]
    if telling:
        return telling[-1]
    return lines[-1] if lines else json.dumps({k: v for k, v in result.items()})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="leave out the driver probes")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="chggen-probes-"))
    table, records = ["| probe | command | result | exit | wall s | peak RSS MB | what it "
                      "printed |", "|---|---|---|---|---|---|---|"], []
    try:
        for name, command, probe, check in probes(work, args.quick):
            result = probe()
            ok = bool(check(result))
            records.append({"probe": name, "command": command, "pass": ok, **result})
            said = _said(result)
            table.append(f"| {name} | `chggen {command}` | {'PASS' if ok else 'FAIL'} | "
                         f"{result.get('rc', '')} | {result.get('wall_s', '')} | "
                         f"{result.get('rss_mb', '')} | {said[:160].replace('|', '/')} |")
            print(table[-1], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(table))
    if args.json:
        Path(args.json).write_text(json.dumps({"stamp": stamp(argv, __file__), "probes": records,
                                               "table": table}, indent=1) + "\n")
    return 0 if all(r["pass"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
