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
* Nothing on disk is trusted blindly: readers (:func:`read_results`) refuse a folder
  holding an unreadable part, a part of another schema or a foreign file, with one line
  naming the file; a resuming writer moves a bad part aside to ``_quarantine/``
  (:meth:`ResultStore.quarantine_bad_parts`) so that its task runs again.
"""

from __future__ import annotations

import dataclasses
import os
import time
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from chggen_kernels.errors import InputError, RunFailedError
from chggen_kernels.files import write_atomic
from chggen_kernels.workflow.records import CandidateRecord

__all__ = [
    "CANDIDATE_SCHEMA",
    "ResultStore",
    "ResultsError",
    "candidate_schema",
    "part_problem",
    "read_results",
]

PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"
CONFIG_NAME = "_campaign.yaml"
QUARANTINE_NAME = "_quarantine"
_ARROW_TYPES: dict[type, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
}


class ResultsError(RunFailedError, ValueError):
    """A results folder or a row does not match the schema; the message says which."""


class NotAResultsFolderError(InputError):
    """The folder given is not a chggen results folder (it does not exist, holds a foreign
    file or no candidates): bad input, exit 2, one line."""


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


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


def _names(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def schema_difference(found: pa.Schema, expected: pa.Schema) -> str | None:
    """``None`` when ``found`` is ``expected`` (metadata aside), else what differs."""
    if found.remove_metadata().equals(expected.remove_metadata()):
        return None
    missing = sorted(set(expected.names) - set(found.names))
    extra = sorted(set(found.names) - set(expected.names))
    changed = sorted(f.name for f in expected if f.name in found.names
                     and found.field(f.name).type != f.type)
    parts = [f"missing columns {_names(missing)}" if missing else "",
             f"extra columns {_names(extra)}" if extra else "",
             f"changed column types {_names(changed)}" if changed else ""]
    detail = "; ".join(p for p in parts if p) or "column order differs"
    return f"written with a different schema ({detail}): another chggen version"


def older_schema(found: pa.Schema, expected: pa.Schema = CANDIDATE_SCHEMA) -> bool:
    """True when ``found`` is ``expected`` less some nullable columns, the others of the
    same types: a part written by an older chggen, before those columns existed. Readers
    show the missing columns as null (unknown); a resume still refuses it
    (:meth:`ResultStore.check_schema`)."""
    names = set(found.names)
    missing = set(expected.names) - names
    return (bool(missing) and names <= set(expected.names)
            and all(expected.field(n).nullable for n in missing)
            and all(found.field(n).type == expected.field(n).type for n in names))


def part_problem(path: Path, schema: pa.Schema = CANDIDATE_SCHEMA
                 ) -> tuple[str | None, pa.Table | None]:
    """``(None, table)`` for a readable part of ``schema``, else ``(what is wrong, None)``:
    not a Parquet file (unreadable footer), another schema, or unreadable data pages."""
    try:
        found = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        return f"not a readable Parquet file ({_first_line(exc)})", None
    difference = schema_difference(found, schema)
    if difference:
        return difference, None
    try:
        return None, pq.read_table(path, schema=schema)
    except (pa.ArrowException, OSError) as exc:
        return f"unreadable data ({_first_line(exc)})", None


def _rows_problem(task_id: str, table: pa.Table) -> str | None:
    """Rows of a part that do not belong to its task, or repeated candidate ids."""
    tasks = set(table.column("task_id").to_pylist())
    if tasks - {task_id}:
        return f"holds rows of other tasks {sorted(tasks - {task_id})[:3]}"
    if "candidate_id" not in table.column_names:  # a table of one row per task
        return None
    ids = table.column("candidate_id").to_pylist()
    if len(set(ids)) != len(ids):
        return f"repeats candidate ids ({len(ids) - len(set(ids))} duplicates)"
    return None


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

    def foreign_entries(self) -> list[Path]:
        """Entries that are neither parts nor hidden (``.``) nor private (``_``) names:
        ``pandas.read_parquet(folder)`` would try to read them."""
        return sorted(p for p in self.directory.iterdir()
                      if not p.name.startswith((".", "_"))
                      and not (p.is_file() and p.name.startswith(PART_PREFIX)
                               and p.name.endswith(PART_SUFFIX)))

    def _where(self, path: Path) -> str:
        return f"results folder {str(self.directory)!r}: {path.name}"

    def check_folder(self, older_ok: bool = False) -> None:
        """Refuse (:class:`ResultsError`, one line naming the file) a folder holding a
        foreign entry, an unreadable part or a part of another schema (``older_ok``:
        except a part of an older chggen lacking only newer nullable columns,
        :func:`older_schema`, which readers can show)."""
        foreign = self.foreign_entries()
        if foreign:
            raise NotAResultsFolderError(
                f"{self._where(foreign[0])} is not a chggen results file (a results folder "
                "holds part-*.parquet files and names starting with '_' or '.'); move it away")
        self.check_schema(refuse_unreadable=True, older_ok=older_ok)

    def check_schema(self, refuse_unreadable: bool = False, older_ok: bool = False) -> None:
        """Refuse a folder holding a readable part of another schema (another chggen
        version): resuming into it would mix two schemas. An unreadable part is refused
        too with ``refuse_unreadable``, else left to :meth:`quarantine_bad_parts`."""
        for path in self.part_files():
            try:
                found = pq.read_schema(path)
            except (pa.ArrowException, OSError) as exc:
                if not refuse_unreadable:
                    continue
                raise ResultsError(f"{self._where(path)} is not a readable Parquet file "
                                   f"({_first_line(exc)}); move it away or rerun its "
                                   "campaign to redo it") from None
            difference = schema_difference(found, self.schema)
            if difference and not (older_ok and older_schema(found, self.schema)):
                raise ResultsError(f"{self._where(path)} was {difference}; write to a new "
                                   "folder")

    def migrate_older_parts(self) -> list[Path]:
        """Rewrite, atomically, every part written before some nullable columns existed
        (:func:`older_schema`) with those columns null; returns the parts migrated."""
        migrated = []
        for path in self.part_files():
            try:
                found = pq.read_schema(path)
            except (pa.ArrowException, OSError):
                continue  # left to check_schema / quarantine_bad_parts
            if not older_schema(found, self.schema):
                continue
            table = pq.read_table(path)
            columns = [table.column(f.name) if f.name in found.names
                       else pa.nulls(table.num_rows, f.type) for f in self.schema]
            write_parquet_atomic(pa.Table.from_arrays(columns, schema=self.schema), path)
            migrated.append(path)
        return migrated

    def quarantine_bad_parts(
        self, rows_problem: Callable[[str, list[dict[str, Any]]], str | None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> list[tuple[str, str]]:
        """Move every part that cannot be trusted to ``_quarantine/`` and return
        ``(file name, reason)`` of each: unreadable, another schema, rows of another task,
        repeated candidate ids, or what ``rows_problem(task_id, rows)`` objects to (e.g.
        ids or counts not those of the task). Its task then counts as not done."""
        moved: list[tuple[str, str]] = []
        for path in self.part_files():
            task_id = path.name[len(PART_PREFIX):-len(PART_SUFFIX)]
            problem, table = part_problem(path, self.schema)
            if table is not None:
                problem = _rows_problem(task_id, table)
                if problem is None and rows_problem is not None:
                    problem = rows_problem(task_id, table.to_pylist())
            if problem is None:
                continue
            target = self.quarantine(path)
            moved.append((path.name, problem))
            if warn is not None:
                warn(f"{self._where(path)}: {problem}; moved to {QUARANTINE_NAME}/"
                     f"{target.name}, its task runs again")
        return moved

    def quarantine(self, path: Path) -> Path:
        """Move ``path`` into ``_quarantine/`` under a name that never overwrites."""
        folder = self.directory / QUARANTINE_NAME
        folder.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = folder / f"{path.name}.{stamp}"
        counter = 1
        while target.exists():
            counter += 1
            target = folder / f"{path.name}.{stamp}.{counter}"
        os.replace(path, target)
        return target

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
        write_text_atomic(self.directory / CONFIG_NAME, text)


def read_results(directory: str | Path, columns: Iterable[str] | None = None):
    """The results folder as a pandas DataFrame (empty, with all columns, if no file yet).

    Parts written by an older chggen, before some (nullable) columns existed, are read
    with those columns null (:func:`older_schema`).

    Raises:
        NotAResultsFolderError: the folder does not exist or holds a foreign entry
            (exit 2).
        ResultsError: it holds an unreadable part or a part of another schema (one line
            naming the file).
    """
    store = ResultStore.__new__(ResultStore)
    store.directory = Path(directory).expanduser()
    store.schema = CANDIDATE_SCHEMA
    if not store.directory.is_dir():
        raise NotAResultsFolderError(f"results folder {str(directory)!r} does not exist")
    store.check_folder(older_ok=True)
    cols = list(columns) if columns is not None else None
    files = store.part_files()
    if not files:
        return CANDIDATE_SCHEMA.empty_table().select(cols or CANDIDATE_SCHEMA.names).to_pandas()
    tables = []
    for path in files:
        try:
            tables.append(_read_part(path, cols or CANDIDATE_SCHEMA.names))
        except (pa.ArrowException, OSError) as exc:
            raise ResultsError(f"{store._where(path)} has unreadable data "
                               f"({_first_line(exc)})") from None
    return pa.concat_tables(tables).to_pandas()


def _read_part(path: Path, columns: Sequence[str]) -> pa.Table:
    """``columns`` of one part; those an older part lacks are null."""
    target = pa.schema([CANDIDATE_SCHEMA.field(c) for c in columns],
                       metadata=CANDIDATE_SCHEMA.metadata)
    names = set(pq.read_schema(path).names)
    present = [c for c in columns if c in names]
    if len(present) == len(columns):
        return pq.read_table(path, columns=list(columns),
                             schema=CANDIDATE_SCHEMA).cast(target)
    table = pq.read_table(path, columns=present)
    arrays = [table.column(c) if c in names
              else pa.chunked_array([pa.nulls(table.num_rows, target.field(c).type)])
              for c in columns]
    return pa.Table.from_arrays(arrays, schema=target)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary name (``.<name>.<pid>.tmp``) and a
    rename, the temporary removed on failure."""
    return write_atomic(path, lambda temporary: temporary.write_text(text))


def write_parquet_atomic(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` through a temporary name and a rename, so that readers
    never see half a file; the temporary (``.<name>.<pid>.tmp``) is removed on failure."""
    return write_atomic(path, lambda temporary: pq.write_table(table, temporary))

