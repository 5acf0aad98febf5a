"""A campaign resumed on Ray after a part was damaged: the part is quarantined, its task
runs again, and the folder reads in pandas with every candidate exactly once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from campaign.engine.store import QUARANTINE_NAME, ResultStore
from tests.campaign.test_pipeline import _check_exactly_once, _config, _run, ray_session

pytest.importorskip("ray")
__all__ = ["ray_session"]  # the fixture, shared with test_pipeline


def test_truncated_part_is_quarantined_and_its_task_runs_again(ray_session, tmp_path: Path
                                                               ) -> None:
    config = _config(tmp_path / "out")
    _run(config)
    before = _check_exactly_once(config)
    store = ResultStore(config.output)
    parts = store.part_files()
    cut, text = parts[0], parts[1]
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    text.write_text("this is not a parquet file\n")
    summary = _run(config)
    assert summary.parts_quarantined == 2 and summary.tasks_written >= 2
    assert sorted(p.name.split(".parquet")[0] for p in
                  (Path(config.output) / QUARANTINE_NAME).iterdir()) == sorted(
        [cut.stem, text.stem])
    after = _check_exactly_once(config)  # pandas reads it; every id exactly once
    assert len(after) == len(before)
    assert pd.read_parquet(config.output)["candidate_id"].is_unique


def test_disk_full_stops_the_campaign_with_one_error_and_it_resumes(
        ray_session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import campaign.engine.store as results
    from campaign.engine.folder import LOCK_NAME

    config = _config(tmp_path / "out")
    real = results.pq.write_table
    written: list[str] = []

    def fill_up(table, where, *args, **kwargs):
        if len(written) >= 2:  # two parts fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(where))
        written.append(str(where))
        real(table, where, *args, **kwargs)

    monkeypatch.setattr(results.pq, "write_table", fill_up)
    with pytest.raises(OSError, match="No space left on device"):
        _run(config)
    folder = Path(config.output)
    assert len(list(folder.glob("part-*.parquet"))) == 2
    assert not list(folder.glob(".*.tmp")) and not (folder / LOCK_NAME).exists()
    monkeypatch.setattr(results.pq, "write_table", real)
    summary = _run(config)  # room again: the same campaign resumes
    assert summary.tasks_skipped >= 2 and summary.parts_quarantined == 0
    _check_exactly_once(config)
