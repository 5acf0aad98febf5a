"""A benchmark folder written before new nullable columns existed resumes: its parts are
migrated in place (the new columns null); another schema is still refused."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from campaign.engine.store import ResultsError, ResultStore
from campaign.jobs.benchmark.store import schema

NEW = schema([("task_id", "str"), ("energy_per_atom", "float"), ("cpu_task_s", "float")],
             "benchmark-test")
OLD = schema([("task_id", "str"), ("energy_per_atom", "float")], "benchmark-test")


def _part(store: ResultStore, task_id: str, table_schema: pa.Schema, rows: list[dict]) -> None:
    path = store.part_path(task_id)
    pq.write_table(pa.Table.from_pylist(rows, schema=table_schema), path)


def test_older_parts_are_migrated_with_nulls_and_keep_their_rows(tmp_path):
    store = ResultStore(tmp_path / "candidates", NEW)
    _part(store, "a.random", OLD, [{"task_id": "a.random", "energy_per_atom": -3.5}])
    with pytest.raises(ResultsError, match="missing columns cpu_task_s"):
        store.check_schema()
    assert [p.name for p in store.migrate_older_parts()] == [store.part_path("a.random").name]
    store.check_schema()  # now the folder's schema
    assert store.read_task("a.random") == [{"task_id": "a.random", "energy_per_atom": -3.5,
                                            "cpu_task_s": None}]
    assert store.migrate_older_parts() == []  # idempotent


def test_a_part_of_another_schema_is_not_migrated(tmp_path):
    other = schema([("task_id", "str"), ("energy_per_atom", "str")], "benchmark-test")
    store = ResultStore(tmp_path / "candidates", NEW)
    _part(store, "a.random", other, [{"task_id": "a.random", "energy_per_atom": "x"}])
    assert store.migrate_older_parts() == []
    with pytest.raises(ResultsError, match="different schema"):
        store.check_schema()
