"""The results folder: one Parquet file per task, one row per candidate (failed ones too).

* One explicit pyarrow schema, derived from the fields and type hints of
  :class:`~chggen_kernels.workflow.records.CandidateRecord` (field names are column
  names; energies in eV/atom, lengths in Å, structures as pymatgen JSON text).
* A task's file is written as ``.part-<task_id>.parquet.<pid>.tmp`` and renamed with
  :func:`os.replace` to ``part-<task_id>.parquet``: readers (which skip names starting
  with ``.`` or ``_``) never see half a file, and a rerun sees a task as done exactly when
  its final file exists.
* ``pandas.read_parquet(folder)`` reads the whole folder as it is; the campaign's
  configuration lies beside the data as ``_campaign.yaml``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from chggen_kernels.errors import RunFailedError
from chggen_kernels.workflow.records import CandidateRecord

__all__ = [
    "CANDIDATE_SCHEMA",
    "ResultStore",
    "ResultsError",
    "candidate_schema",
    "read_results",
]

PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"
CONFIG_NAME = "_campaign.yaml"
_ARROW_TYPES: dict[type, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
}


class ResultsError(RunFailedError, ValueError):
    """A results folder or a row does not match the schema; the message says which."""


def _arrow_field(name: str, hint: Any) -> pa.Field:
    nullable = False
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        nullable = True
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"CandidateRecord.{name}: unsupported type {hint}")
        hint = rest[0]
    if hint not in _ARROW_TYPES:
        raise TypeError(f"CandidateRecord.{name}: no Parquet column type for {hint}")
    return pa.field(name, _ARROW_TYPES[hint], nullable=nullable)


def candidate_schema() -> pa.Schema:
    """The Parquet schema: one column per :class:`CandidateRecord` field, in field order."""
    hints = typing.get_type_hints(CandidateRecord)
    fields = [_arrow_field(f.name, hints[f.name]) for f in dataclasses.fields(CandidateRecord)]
    return pa.schema(fields, metadata={b"chggen.table": b"candidates"})


CANDIDATE_SCHEMA = candidate_schema()


def _as_row(record: CandidateRecord | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(record, CandidateRecord):
        return record.to_dict()
    return dict(record)


class ResultStore:
    """A campaign's results folder (created if missing)."""

    def __init__(self, directory: str | Path, schema: pa.Schema = CANDIDATE_SCHEMA) -> None:
        self.directory = Path(directory).expanduser()
        self.schema = schema
        self.directory.mkdir(parents=True, exist_ok=True)

    def part_path(self, task_id: str) -> Path:
        return self.directory / f"{PART_PREFIX}{task_id}{PART_SUFFIX}"

    def done_task_ids(self) -> set[str]:
        """Ids of tasks whose file is complete (temporary files do not count)."""
        return {
            p.name[len(PART_PREFIX) : -len(PART_SUFFIX)]
            for p in self.directory.glob(f"{PART_PREFIX}*{PART_SUFFIX}")
        }

    def is_done(self, task_id: str) -> bool:
        return self.part_path(task_id).exists()

    def part_files(self) -> list[Path]:
        return sorted(self.directory.glob(f"{PART_PREFIX}*{PART_SUFFIX}"))

    def remove_stale_temporaries(self) -> int:
        """Delete temporary files a killed writer left behind; returns how many."""
        stale = list(self.directory.glob(f".{PART_PREFIX}*{PART_SUFFIX}.*.tmp"))
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def check_schema(self) -> None:
        """Refuse a folder written with a different schema (e.g. another chggen version)."""
        files = self.part_files()
        if not files:
            return
        found = pq.read_schema(files[0])
        if not found.remove_metadata().equals(self.schema.remove_metadata()):
            expected = set(self.schema.names)
            got = set(found.names)
            raise ResultsError(
                f"results folder {str(self.directory)!r}: {files[0].name} has a different "
                f"schema (missing columns {sorted(expected - got)}, extra "
                f"{sorted(got - expected)}, or changed types); write to a new folder"
            )

    def write_task(
        self,
        task_id: str,
        records: Sequence[CandidateRecord | Mapping[str, Any]],
        allow_empty: bool = False,
    ) -> Path:
        """Write one task's rows atomically; rewriting the same task replaces its file.

        ``allow_empty`` writes a file without rows: the task is done and produced nothing
        (e.g. an inpainting host whose framework stayed P1).
        """
        rows = [_as_row(r) for r in records]
        if not rows and not allow_empty:
            raise ResultsError(f"task {task_id}: no rows to write")
        names = set(self.schema.names)
        required = [f.name for f in self.schema if not f.nullable]
        for row in rows:
            label = f"task {task_id}, candidate {row.get('candidate_id')!r}"
            if row.get("task_id") != task_id:
                raise ResultsError(f"{label}: row belongs to task {row.get('task_id')!r}")
            if set(row) != names:
                raise ResultsError(
                    f"{label}: missing columns {sorted(names - set(row))}, "
                    f"unknown columns {sorted(set(row) - names)}"
                )
            empty = [name for name in required if row[name] is None]
            if empty:
                raise ResultsError(f"{label}: columns {empty} must not be null")
        try:
            table = pa.Table.from_pylist(rows, schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
            raise ResultsError(f"task {task_id}: rows do not match the schema ({exc})") from None
        return write_parquet_atomic(table, self.part_path(task_id))

    def read_task(self, task_id: str) -> list[dict[str, Any]]:
        """One task's rows as plain Python values (``None`` for nulls)."""
        return pq.read_table(self.part_path(task_id), schema=self.schema).to_pylist()

    def iter_rows(self, columns: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """All rows, one file at a time (memory bounded by the largest task)."""
        for path in self.part_files():
            yield from pq.read_table(path, columns=columns, schema=self.schema).to_pylist()

    def write_config(self, text: str) -> None:
        path = self.directory / CONFIG_NAME
        temporary = self.directory / f".{CONFIG_NAME}.{os.getpid()}.tmp"
        temporary.write_text(text)
        os.replace(temporary, path)


def read_results(directory: str | Path, columns: Iterable[str] | None = None):
    """The results folder as a pandas DataFrame (empty, with all columns, if no file yet)."""
    store = ResultStore.__new__(ResultStore)
    store.directory = Path(directory).expanduser()
    store.schema = CANDIDATE_SCHEMA
    if not store.directory.is_dir():
        raise ResultsError(f"results folder {str(directory)!r} does not exist")
    cols = list(columns) if columns is not None else None
    files = store.part_files()
    if not files:
        return CANDIDATE_SCHEMA.empty_table().select(cols or CANDIDATE_SCHEMA.names).to_pandas()
    tables = [pq.read_table(p, columns=cols, schema=CANDIDATE_SCHEMA) for p in files]
    return pa.concat_tables(tables).to_pandas()


def write_parquet_atomic(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` through a temporary name and a rename, so that readers
    never see half a file; the temporary (``.<name>.<pid>.tmp``) is removed on failure."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path

