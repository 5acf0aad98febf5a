"""One folder, one set of settings, one writer (no Ray): a run with other settings is
refused naming what differs (``--new-folder`` picks a folder of its own), every
configuration is kept, a second writer is refused at once and a stale lock is taken over
with a warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaign.commands.run import output_for_settings
from campaign.distributed.driver import run_campaign
from campaign.distributed.workers import runner_settings
from campaign.engine.folder import (
    LOCK_NAME,
    FolderLockedError,
    FolderSettingsError,
    check_fingerprint,
    folder_lock,
    keep_config,
)
from campaign.stages.fingerprint import runner_fingerprint
from campaign.stages.runner import RunnerSettings
from tests.campaign.fake_runner import FakeRunnerFactory
from tests.campaign.test_integrity import _config

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- one set of settings
def test_other_settings_are_refused_naming_what_differs(tmp_path) -> None:
    config = _config(tmp_path / "out")
    check_fingerprint(config.output, runner_fingerprint(runner_settings(config)))
    changed = _config(tmp_path / "out", sampler={"n_levels": 50},
                      relax={"fmax": 0.05}, hull={"source": "none"})
    with pytest.raises(FolderSettingsError) as caught:
        run_campaign(changed, runner_factory=FakeRunnerFactory())  # refused before Ray
    message = str(caught.value)
    assert "sampler.n_levels: folder 60, now 50" in message
    assert "relax.fmax: folder 0.1, now 0.05" in message
    assert "hull: folder 'offline', now 'none'" in message
    assert "sampler.n_corrector_steps" not in message  # only what differs
    threads = _config(tmp_path / "out", relax={"blas_threads": 2})
    check_fingerprint(threads.output, runner_fingerprint(runner_settings(threads)))  # same
    assert not (Path(config.output) / LOCK_NAME).exists()  # released
    # the same settings pass; --new-folder picks a folder of its own, stable per settings
    check_fingerprint(config.output, runner_fingerprint(runner_settings(config)))
    moved = output_for_settings(changed, new_folder=True)
    assert moved.output == output_for_settings(changed, new_folder=True).output
    assert Path(moved.output).name.startswith("out-") and moved.output != config.output
    assert output_for_settings(config, new_folder=True).output == config.output


def test_every_configuration_is_kept(tmp_path) -> None:
    first = keep_config(tmp_path, "a: 1\n")
    second = keep_config(tmp_path, "a: 2\n")
    assert (first.name[:4], second.name[:4]) == ("001-", "002-")
    assert first.read_text() == "a: 1\n" and second.read_text() == "a: 2\n"


# ---------------------------------------------------------------- one writer
_HOLD = """
import sys, time
from campaign.engine.folder import folder_lock
with folder_lock(sys.argv[1], command="holder"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_at_once(tmp_path) -> None:
    config = _config(tmp_path / "out")
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text(json.dumps(config.model_dump(mode="json")))
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, config.output], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "campaign.cli", "run", str(yaml_path)],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert time.monotonic() - started < 60
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 1, second.stderr
    assert second.stderr.strip().splitlines() == [
        f"chggen run: results folder {config.output!r} is being written by holder (host "
        f"{os.uname().nodename!r}, pid {holder.pid}); wait for it to finish"]
    assert not list(Path(config.output).glob("part-*"))
    warnings: list[str] = []  # the killed holder's lock file is left; its flock is gone
    with folder_lock(config.output, warn=warnings.append):
        pass
    assert warnings == [f"results folder {config.output!r}: taking over the stale lock of "
                        f"pid {holder.pid} (no longer runs)"]


def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"host": os.uname().nodename, "pid": gone.pid, "started": 1.0, "command": "old"}))
    warnings: list[str] = []
    with folder_lock(tmp_path, warn=warnings.append) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert warnings == [f"results folder {str(tmp_path)!r}: taking over the stale lock of "
                        f"pid {gone.pid} (no longer runs)"]
    assert not path.exists()
    (tmp_path / LOCK_NAME).write_text(json.dumps(
        {"host": "elsewhere", "pid": 1, "started": 1.0, "command": "chggen run (x)"}))
    refused = pytest.raises(FolderLockedError, match="host 'elsewhere', pid 1\\); if that")
    with refused, folder_lock(tmp_path):
        pass


def test_generate_new_folder_moves_other_settings_aside(tmp_path) -> None:
    import argparse

    from campaign.commands.generate import output_folder

    folder = str(tmp_path / "gen")
    check_fingerprint(folder, runner_fingerprint(RunnerSettings()))
    other = FakeRunnerFactory()(RunnerSettings(sampler={"n_levels": 30}))
    same = FakeRunnerFactory()(RunnerSettings())
    assert output_folder(argparse.Namespace(new_folder=False), other, folder) == folder
    assert output_folder(argparse.Namespace(new_folder=True), same, folder) == folder
    moved = output_folder(argparse.Namespace(new_folder=True), other, folder)
    assert moved.startswith(folder + "-") and len(moved) == len(folder) + 9
