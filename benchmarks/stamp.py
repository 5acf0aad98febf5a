"""The stamp every JSON in ``benchmarks/results/`` carries: which code, which command, which
machine, when, and under what load.

In a benchmark script (``benchmarks/`` is on ``sys.path`` when a script runs from there)::

    from stamp import stamp
    result = {"stamp": stamp(argv), ...}   # argv: what main() was given (None: sys.argv)

For a result that a command writes elsewhere and that is copied here (``chggen benchmark``'s
``summary.json``), on the machine that ran it, right after the run::

    python benchmarks/stamp.py add benchmarks/results/benchmark_csp_default.json \\
        --command "chggen benchmark csp /work/known_build/test.parquet --k 20 ..."

The stamp (``"stamp"``, the first key of the result):

* ``commit``: ``git rev-parse HEAD`` of this checkout; ``dirty``: whether tracked files
  differed from it (``git status --porcelain --untracked-files=no``);
* ``command``: the command line, as run (``python benchmarks/<script> <arguments>``);
* ``machine``: ``cpus`` (``os.cpu_count()``), ``cpus_available`` (the affinity mask),
  ``gpu`` (the CUDA device's name, None without one), ``platform``, ``python``;
* ``date``: UTC, ISO 8601; ``load_average``: ``os.getloadavg()`` (1, 5, 15 min) when the
  stamp is taken (at the end of the run: the 5- and 15-minute figures cover most runs);
  ``nice``: the process's niceness.

A result that was written before stamps existed carries one recovered from git history,
marked ``"recovered_from_git": true``, with ``sources`` saying where each field comes from
(fields that cannot be recovered are null, never guessed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("commit", "dirty", "command", "machine", "date", "load_average")
MACHINE_REQUIRED = ("cpus", "gpu")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def gpu_name() -> str | None:
    """The first CUDA device's name: from torch when the script imported it, else from
    ``nvidia-smi``; None on a machine without one."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return str(torch.cuda.get_device_name(0))
        except Exception:  # a broken CUDA set-up counts as no GPU here
            pass
        return None
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return names[0] if done.returncode == 0 and names else None


def _command(argv: Sequence[str] | None, script: str | None) -> str:
    words = list(sys.argv) if argv is None else [script or sys.argv[0], *argv]
    first = Path(words[0]) if words else Path("?")
    if first.suffix == ".py":
        try:
            words[0] = str(first.resolve().relative_to(ROOT))
        except ValueError:
            words[0] = str(first)
        words.insert(0, "python")
    return shlex.join(words)


def stamp(argv: Sequence[str] | None = None, script: str | None = None,
          command: str | None = None) -> dict[str, Any]:
    """The stamp of a result written now. ``argv``: the arguments ``main`` was given (None:
    the process's own ``sys.argv``); ``script``: the script's path when ``argv`` is given
    and ``sys.argv[0]`` is not it; ``command``: the whole command line, when it is not this
    process's (``stamp.py add``)."""
    head = (_git("rev-parse", "HEAD") or "").strip() or None
    status = _git("status", "--porcelain", "--untracked-files=no")
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "commit": head,
        "dirty": None if status is None else bool(status.strip()),
        "command": command if command is not None else _command(argv, script),
        "machine": {"cpus": os.cpu_count(),
                    "cpus_available": len(affinity) if affinity is not None else None,
                    "gpu": gpu_name(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "nice": os.nice(0) if hasattr(os, "nice") else None,
    }


def stamped(result: dict[str, Any], stamp_: dict[str, Any]) -> dict[str, Any]:
    """``result`` with ``stamp_`` as its first key (an older stamp replaced)."""
    return {"stamp": stamp_, **{k: v for k, v in result.items() if k != "stamp"}}


def problems(data: Any) -> list[str]:
    """What is missing from the stamp of one result (empty: complete)."""
    if not isinstance(data, dict) or not isinstance(data.get("stamp"), dict):
        return ["no 'stamp'"]
    s = data["stamp"]
    found = [f"no '{k}'" for k in REQUIRED if k not in s]
    for key in ("commit", "command", "date"):
        if key in s and not (isinstance(s[key], str) and s[key]):
            found.append(f"'{key}' is empty")
    machine = s.get("machine")
    if not isinstance(machine, dict):
        found.append("'machine' is not an object")
    else:
        found += [f"no 'machine.{k}'" for k in MACHINE_REQUIRED if k not in machine]
        unknown_ok = bool(s.get("recovered_from_git")) and machine.get("cpus") is None
        if not (isinstance(machine.get("cpus"), int) or unknown_ok):
            found.append("'machine.cpus' is not a number")
    if not s.get("recovered_from_git"):  # a live stamp knows all of it
        if not isinstance(s.get("dirty"), bool):
            found.append("'dirty' is not true/false")
        if not (isinstance(s.get("load_average"), list) and len(s["load_average"]) == 3):
            found.append("'load_average' is not the three load averages")
    elif not isinstance(s.get("sources"), dict):
        found.append("a recovered stamp without 'sources'")
    return found


def _add(path: Path, command: str, indent: int) -> None:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: not a JSON object")
    path.write_text(json.dumps(stamped(data, stamp(command=command)), indent=indent) + "\n")
    print(f"stamped {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    add = sub.add_parser("add", help="stamp a result that a command wrote (run right after it)")
    add.add_argument("json", type=Path, nargs="+")
    add.add_argument("--command", required=True, help="the command line that wrote it")
    add.add_argument("--indent", type=int, default=1)
    sub.add_parser("check", help="list the results in benchmarks/results/ without a full stamp")
    args = p.parse_args(argv)
    if args.what == "add":
        for path in args.json:
            _add(path, args.command, args.indent)
        return 0
    bad = 0
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        try:
            found = problems(json.loads(path.read_text()))
        except ValueError as exc:
            found = [f"not JSON: {exc}"]
        if found:
            bad += 1
            print(f"{path.name}: {'; '.join(found)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
