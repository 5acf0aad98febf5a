"""Nothing lost, nothing silent (no Ray): parts verified and quarantined, readers refuse bad
folders, bad input is refused before work, and every error maps to one line and an exit
code. One set of settings and one writer per folder: ``test_integrity_folders``."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from campaign.cli import main, run_command
from campaign.config.model import validate_config
from campaign.distributed.preflight import prepare_folder
from campaign.distributed.workers import runner_settings
from campaign.engine.folder import LOCK_NAME, FolderLockedError, FolderSettingsError
from campaign.engine.store import CANDIDATE_SCHEMA, QUARANTINE_NAME, ResultStore
from campaign.jobs.chain import run_chain
from campaign.jobs.tasks import task_specs, unconditional_tasks
from campaign.stages.runner import RunnerSettings
from chggen_kernels.errors import ChggenError, InputError, RunFailedError, RunInterrupted
from tests.campaign.fake_runner import FakeRunnerFactory

V0 = 20.0  # Å^3/atom


def _config(output: Path, **changes):
    data = {
        "name": "integrity",
        "compositions": {"cells": ["Li3Si", "Li2Si2"]},
        "lattice": {"families": ["cubic"], "ratios": ["random"]},
        "samples_per_task": 2,
        "volume_per_atom": V0,
        "modes": ["unconditional"],
        "output": str(output),
        "resources": {"relax_actors": 1},
    }
    data.update(changes)
    return validate_config(data)


def _finished_folder(config) -> dict[str, list[str]]:
    """Write every unconditional task of ``config`` with the fake runner (no Ray); the
    candidate ids per task."""
    runner = FakeRunnerFactory()(runner_settings(config))
    store = ResultStore(config.output)
    ids = {}
    for task in unconditional_tasks(config):
        specs = task_specs(task, config.seed, V0)
        records = [runner.relax_and_score(c) for c in runner.generate(specs)]
        store.write_task(task.task_id, records)
        ids[task.task_id] = [s.candidate_id for s in specs]
    return ids


def _cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# ---------------------------------------------------------------- verified on resume
def test_resume_quarantines_truncated_text_and_foreign_parts(tmp_path, caplog) -> None:
    config = _config(tmp_path / "out")
    ids = _finished_folder(config)
    store = ResultStore(config.output)
    first, second = sorted(ids)
    stranger = store.part_path("stranger")  # rows of another task in the file
    pq.write_table(pa.Table.from_pylist(store.read_task(first), schema=CANDIDATE_SCHEMA),
                   stranger)
    _cut_in_half(store.part_path(first))
    store.part_path(second).write_text("not parquet\n")
    with caplog.at_level("WARNING", logger="campaign"):
        moved = prepare_folder(store, config)
    assert sorted(name for name, _ in moved) == sorted(
        [f"part-{first}.parquet", f"part-{second}.parquet", "part-stranger.parquet"])
    reasons = dict(moved)
    assert reasons[f"part-{second}.parquet"].startswith("not a readable Parquet file")
    assert reasons["part-stranger.parquet"] == f"holds rows of other tasks ['{first}']"
    assert sum("moved to _quarantine/" in r.getMessage() for r in caplog.records) == 3
    assert len(list((store.directory / QUARANTINE_NAME).iterdir())) == 3
    assert not store.is_done(first) and not store.is_done(second)  # their tasks run again
    assert pd.read_parquet(config.output).empty  # the folder reads in pandas again


def test_part_missing_a_candidate_is_quarantined(tmp_path) -> None:
    config = _config(tmp_path / "out")
    ids = _finished_folder(config)
    store = ResultStore(config.output)
    task = sorted(ids)[0]
    store.write_task(task, store.read_task(task)[:1])  # one of its two candidates lost
    moved = prepare_folder(store, config)
    assert moved == [(f"part-{task}.parquet",
                      "holds 1 of the task's 2 candidates (1 missing, 0 unexpected)")]
    kept = sorted(p.name for p in (Path(config.output) / "_configs").iterdir())
    assert len(kept) == 1 and kept[0].startswith("001-")


def test_parts_of_tasks_no_longer_planned_are_kept(tmp_path) -> None:
    config = _config(tmp_path / "out")
    _finished_folder(config)
    fewer = _config(tmp_path / "out", compositions={"cells": ["Li3Si"]}, samples_per_task=3)
    assert prepare_folder(ResultStore(config.output), fewer) == []  # a campaign may change
    assert len(pd.read_parquet(config.output)) == 4


# ---------------------------------------------------------------- readers refuse
@pytest.mark.parametrize("damage", ["truncated", "text", "foreign", "old_schema"])
@pytest.mark.parametrize("command", ["top", "report", "export"])
def test_readers_refuse_a_bad_folder_with_one_line(tmp_path, capsys, damage, command) -> None:
    config = _config(tmp_path / "out")
    ids = _finished_folder(config)
    folder = Path(config.output)
    part = ResultStore(folder).part_path(sorted(ids)[0])
    bad = {"truncated": part, "text": part, "foreign": folder / "notes.txt",
           "old_schema": folder / "part-old.parquet"}[damage]
    if damage == "truncated":
        _cut_in_half(part)
    elif damage in ("text", "foreign"):
        bad.write_text("hello\n")
    else:
        pq.write_table(pa.table({"candidate_id": ["old-000"], "e_d": [0.1]}), bad)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert main([command, str(folder)]) == (2 if damage == "foreign" else 1)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"chggen {command}: results folder {str(folder)!r}: {bad.name} ")
    expected = {"truncated": "is not a readable Parquet file", "text":
                "is not a readable Parquet file", "foreign": "is not a chggen results file",
                "old_schema": "was written with a different schema"}[damage]
    assert expected in err
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # nothing written


def test_generate_out_refuses_a_corrupt_folder_before_work(tmp_path) -> None:
    folder = tmp_path / "gen"
    folder.mkdir()
    (folder / "part-x.parquet").write_text("garbage")
    runner = FakeRunnerFactory()(RunnerSettings())
    spec = task_specs(next(unconditional_tasks(_config(tmp_path / "o"))), 0, V0)
    with pytest.raises(RunFailedError, match=r"part-x\.parquet is not a readable Parquet"):
        run_chain(runner, spec, out_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["part-x.parquet"]


# ---------------------------------------------------------------- refused before work
@pytest.mark.parametrize(("compositions", "line"), [
    ({"cells": ["Xx2Si"]}, "compositions.cells = ['Xx2Si']: formula 'Xx2Si': 'Xx' is not a "
                           "chemical element"),
    ({"formulas": ["Xx2Si"]}, "compositions.formulas = ['Xx2Si']: formula 'Xx2Si': 'Xx' is "
                              "not a chemical element"),
    ({"lines": [{"end_members": ["Xx2Si", "LiSi"]}]},
     "compositions.lines[0].end_members = ['Xx2Si', 'LiSi']: formula 'Xx2Si': 'Xx' is not a "
     "chemical element"),
    ({"cells": ["Li30Si"]}, "compositions.cells[0] = 'Li30Si': 31 atoms, outside "
                            "atoms_per_cell 1-20"),
    ({"cells": ["Li0Si"]}, "compositions.cells = ['Li0Si']: formula 'Li0Si': atom counts "
                           "must be positive integers, got Li0"),
    ({"formulas": ["Li21Si"]}, "compositions.formulas[0] = 'Li21Si': one formula unit has 22 "
                               "atoms, more than atoms_per_cell.max = 20"),
    ({"lines": [{"end_members": ["Li15Si4", "Li2Si"]}]},
     "compositions.lines[0] = ['Li15Si4', 'Li2Si']: the smallest cell on the line has 22 "
     "atoms, more than atoms_per_cell.max = 20"),
])
def test_campaign_compositions_are_validated_on_load(tmp_path, capsys, compositions, line):
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"name": "x", "compositions": compositions,
                                "output": str(tmp_path / "out")}))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"chggen run: campaign file {str(path)!r}: {line}"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("argv", "line"), [
    (["LiSi", "--lattice-ratio", "1:x"], "--lattice-ratio '1:x': lattice_ratio must look like "
     "'b/a:c/a' with positive numbers, e.g. '1.25:1.5', got '1:x'"),
    (["Li500Si"], "formula 'Li500Si': atoms per cell = 501: more than limits.atoms_per_cell = "
     "200 (a cell is sampled and relaxed whole); raise limits.atoms_per_cell to allow it"),
])
def test_generate_refuses_bad_cells_before_work(tmp_path, capsys, monkeypatch, argv, line):
    import campaign.commands.generate as generate

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(generate, "build_runner_for_args", no_model)
    out = tmp_path / "gen"
    assert main(["generate", *argv, "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"chggen generate: {line}\n"
    assert not out.exists()


def test_hull_source_is_checked_once_before_ray(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("MP_API_KEY", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"name": "x", "compositions": {"cells": ["LiSi"]},
                                "hull": {"source": "mp"}, "output": str(tmp_path / "out")}))
    import campaign.distributed.driver as driver

    monkeypatch.setattr(driver, "init_ray", lambda *a, **k: pytest.fail("Ray started"))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chggen run: hull mp:") and "no Materials Project API key" in err
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- errors and exit codes
class _Args:
    command = "run"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def func(self, _args) -> int:
        raise self.error


@pytest.mark.parametrize(("error", "code", "line"), [
    (InputError("--x = 1: bad"), 2, "chggen run: --x = 1: bad"),
    (RunFailedError("lost"), 1, "chggen run: lost"),
    (RunInterrupted("stopped"), 130, "chggen run: stopped"),
    (KeyboardInterrupt(), 130, "chggen run: interrupted; run the same command again to resume"),
    (OSError(errno.ENOSPC, "No space left on device", "out/part-a.parquet"), 1,
     "chggen run: file system error on 'out/part-a.parquet': No space left on device"),
])
def test_errors_map_to_one_line_and_an_exit_code(capsys, error, code, line) -> None:
    assert run_command(_Args(error)) == code
    captured = capsys.readouterr()
    assert captured.err == line + "\n" and captured.out == ""


def test_project_errors_share_the_base_type() -> None:
    from campaign.config.compositions import CompositionError
    from campaign.config.model import CampaignConfigError
    from campaign.engine.store import ResultsError
    from campaign.stages.resources import HullInputError, ModelNotAvailableError
    from chggen_kernels.settings import SettingsError
    from chggen_kernels.training import CheckpointError

    for kind in (CompositionError, CampaignConfigError, HullInputError,
                 ModelNotAvailableError, SettingsError, CheckpointError, FolderSettingsError):
        assert issubclass(kind, InputError) and kind.exit_code == 2, kind
    for kind in (ResultsError, FolderLockedError):
        assert issubclass(kind, RunFailedError) and kind.exit_code == 1, kind
    assert issubclass(SettingsError, ValueError) and issubclass(ChggenError, Exception)


@pytest.mark.parametrize(("code", "reason"), [(errno.ENOSPC, "No space left on device"),
                                            (errno.EROFS, "Read-only file system")])
def test_disk_full_is_one_line_and_the_folder_resumes(tmp_path, monkeypatch, capsys, code,
                                                      reason) -> None:
    import campaign.engine.store as results

    config = _config(tmp_path / "out")
    runner = FakeRunnerFactory()(runner_settings(config))
    specs = task_specs(next(unconditional_tasks(config)), 0, V0)
    real = results.pq.write_table

    def full(table, where, *args, **kwargs):
        real(table, where, *args, **kwargs)  # half written, then the disk is full
        raise OSError(code, reason, str(where))

    monkeypatch.setattr(results.pq, "write_table", full)

    class Args:
        command = "generate"

        @staticmethod
        def func(_args):
            run_chain(runner, specs, out_dir=config.output)

    assert run_command(Args()) == 1
    err = capsys.readouterr().err
    assert err.startswith("chggen generate: file system error on ") and err.endswith(
        f": {reason}\n") and err.count("\n") == 1
    folder = Path(config.output)
    assert not list(folder.glob(".*tmp")) and not list(folder.glob("part-*"))
    assert not (folder / LOCK_NAME).exists()
    monkeypatch.setattr(results.pq, "write_table", real)
    result = run_chain(runner, specs, out_dir=config.output)  # the same folder, resumed
    assert len(pd.read_parquet(folder)) == len(result.records) == 2



def test_train_and_report_refuse_missing_inputs_before_writing(tmp_path, capsys) -> None:
    out = tmp_path / "train"
    assert main(["train", "--data", str(tmp_path / "none.parquet"), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"chggen train: --data {str(tmp_path / 'none.parquet')!r}"
                                       ": no such file or folder\n")
    assert not out.exists()
    folder = tmp_path / "results"
    folder.mkdir()
    assert main(["report", str(folder), "--hull", str(tmp_path / "none.csv")]) == 2
    assert "--hull" in capsys.readouterr().err and list(folder.iterdir()) == []
