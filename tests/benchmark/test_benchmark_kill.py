"""A benchmark folder is a campaign folder for its writers: one writer at a time (the
second refused in one line naming the holder), and a run killed with SIGKILL resumes:
the parts written before the kill are kept, every task is done exactly once, a stale
temporary file and the dead run's lock are cleaned up.

The runs are subprocesses of the real CLI (``run_command`` of ``campaign.cli``) with the
fake chain of :mod:`tests.benchmark.fakes`, so no model or CHGNet is loaded; the first run
hangs in its relaxer once its first candidate part exists, which is when it is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from campaign.cli import build_parser, run_command
from chggen_kernels.testing import diamond, rock_salt
from chggen_kernels.training import TrainingCrystal
from chggen_kernels.training.parquet import write_training_parquet

ROOT = Path(__file__).resolve().parents[2]
K, METHODS = 2, ("random", "unconditional")

_RUN = """
import os, sys, time
from pathlib import Path
from campaign.cli import build_parser, run_command
from chggen_kernels.testing import diamond, rock_salt
from tests.benchmark.fakes import FakeRelaxer, fake_chain

HANG = os.environ.get("HANG_AFTER_FIRST_PART")
TARGETS = {"NaCl": rock_salt(primitive=True), "Si": diamond().get_primitive_structure()}


class Relaxer(FakeRelaxer):
    def relax(self, structure):
        if HANG and any(Path(HANG).glob("part-*")):
            print("hanging", flush=True)
            time.sleep(300)
        return super().relax(structure)


args = build_parser().parse_args(sys.argv[1:])
sys.exit(run_command(args, make_chain=lambda: fake_chain(Relaxer(TARGETS, snap_every=3))))
"""


def _argv(known: Path, out: Path) -> list[str]:
    return ["benchmark", "csp", str(known), "--set", "all", "--k", str(K), "--methods",
            *METHODS, "--out", str(out), "--quiet"]


def _parts(out: Path) -> dict[str, tuple[bytes, int]]:
    return {f"{p.parent.name}/{p.name}": (p.read_bytes(), p.stat().st_mtime_ns)
            for sub in ("reference", "candidates") for p in (out / sub).glob("part-*")}


@pytest.fixture
def known(tmp_path: Path) -> Path:
    path = tmp_path / "known.parquet"
    write_training_parquet(path, [
        TrainingCrystal("nacl-rs", rock_salt(), "test", provenance={"source_id": "rs"}),
        TrainingCrystal("si-dia", diamond(), "test", provenance={"source_id": "dia"}),
    ])
    return path


@pytest.mark.parametrize(("error", "code"), [(KeyboardInterrupt(), 130),
                                             (OSError(28, "No space left on device"), 1)])
def test_the_lock_is_held_for_the_run_and_released_on_failure(
        known: Path, tmp_path: Path, error: BaseException, code: int) -> None:
    out, held = tmp_path / "out", []

    def make_chain() -> None:
        held.append(json.loads((out / "_lock").read_text()))
        raise error

    args = build_parser().parse_args(_argv(known, out))
    assert run_command(args, make_chain=make_chain) == code
    assert [(h["pid"], h["command"]) for h in held] == [(os.getpid(), "chggen benchmark csp")]
    assert not (out / "_lock").exists()


@pytest.mark.slow
def test_benchmark_refuses_a_second_writer_and_resumes_after_kill_9(
        known: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = [sys.executable, "-c", _RUN, *_argv(known, out)]
    env = {**os.environ, "HANG_AFTER_FIRST_PART": str(out / "candidates")}
    first = subprocess.Popen(run, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        assert first.stdout.readline().strip() == "hanging"  # its first part is written
        kept = _parts(out)
        second = subprocess.run([sys.executable, "-m", "campaign.cli", *_argv(known, out)],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1, second.stderr
        assert second.stderr.strip().splitlines() == [
            f"chggen benchmark csp: results folder {str(out)!r} is being written by chggen "
            f"benchmark csp (host {os.uname().nodename!r}, pid {first.pid}); wait for it to "
            "finish"]
        assert _parts(out) == kept  # the refused writer touched nothing
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    assert sorted(kept) == ["candidates/part-nacl-rs.random.parquet",
                            "reference/part-nacl-rs.reference.parquet"]
    assert json.loads((out / "_lock").read_text())["pid"] == first.pid  # left by the kill
    stale = out / "candidates" / f".part-nacl-rs.unconditional.parquet.{first.pid}.tmp"
    stale.write_bytes(b"PAR1 cut short by SIGKILL")  # what a kill during a write leaves

    started = time.monotonic()
    again = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=120)
    resumed_s = time.monotonic() - started
    assert again.returncode == 0, again.stderr
    assert again.stderr.strip().splitlines() == [
        f"results folder {str(out)!r}: taking over the stale lock of pid {first.pid} (no "
        "longer runs)"]
    parts = _parts(out)
    assert {name: parts[name] for name in kept} == kept  # kept, not redone
    assert len(parts) == 2 * (1 + len(METHODS))
    assert not stale.exists() and not (out / "_lock").exists()
    rows = pd.read_parquet(out / "candidates.parquet")
    assert len(rows) == 2 * len(METHODS) * K  # compounds x methods x k
    assert rows.candidate_id.is_unique
    assert sorted(rows.groupby("task_id").size().items()) == [
        (f"{c}.{m}", K) for c in ("nacl-rs", "si-dia") for m in sorted(METHODS)]
    run_info = json.loads((out / "summary.json").read_text())["run"]
    assert (run_info["tasks_resumed"], run_info["tasks_run"]) == (2, 4), run_info
    assert resumed_s < 60
