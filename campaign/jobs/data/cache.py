"""The relaxation cache of ``chggen data build``: a results folder like a campaign's.

``DIR/relaxed/`` holds one Parquet part per task of relaxations (a block of candidates,
:data:`BLOCK`), written atomically by :class:`campaign.engine.store.ResultStore`; one row per
candidate with the record fields of :mod:`chggen_kernels.datasets.relaxed` (the relaxed
structure as pymatgen JSON text, unknown fields of imported records in ``extra`` as JSON
text). On opening, temporaries of a killed writer are removed and every part that
cannot be trusted (unreadable, another schema, rows of another task, invalid records) is
moved to ``_quarantine/``: its candidates are relaxed again. Records are found by
structure id across all parts, so a build with more or other candidates reuses them.

Older builds kept the cache as ``relaxed.jsonl`` (one JSON record per line); such a file
is imported in place (its valid records become one part, the file moves to
``_imported/``), and ``--read-cache`` reads either kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from campaign.engine.store import ResultStore
from chggen_kernels.datasets import RelaxCache, load_relax_cache, validate_record
from chggen_kernels.workflow.planning import short_hash

__all__ = ["BLOCK", "RELAX_SCHEMA", "RelaxStore", "read_any_cache"]

#: Candidates per task: an interrupt loses at most the blocks running.
BLOCK = 8
IMPORTED_NAME = "_imported"
_COLUMNS = [
    ("task_id", pa.string(), False), ("structure_id", pa.string(), False),
    ("source", pa.string(), True), ("prototype", pa.string(), True),
    ("formula", pa.string(), True), ("status", pa.string(), False),
    ("energy_per_atom", pa.float64(), True), ("n_steps", pa.int64(), True),
    ("converged", pa.bool_(), True), ("structure", pa.string(), True),
    ("volume_per_atom", pa.float64(), True), ("relaxer", pa.string(), True),
    ("failure_reason", pa.string(), True), ("t_s", pa.float64(), True),
    ("extra", pa.string(), True),
]
RELAX_SCHEMA = pa.schema([pa.field(n, t, nullable=null) for n, t, null in _COLUMNS],
                         metadata={b"chggen.table": b"data-build-relaxations"})
_FIELDS = [n for n, _, _ in _COLUMNS if n not in ("task_id", "extra")]


def block_id(structure_ids: Sequence[str]) -> str:
    """The task id of a block of candidates (their ids, in order)."""
    return "relax-" + short_hash(*structure_ids)


def to_row(task_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A cache record as a row of :data:`RELAX_SCHEMA`."""
    row = {name: record.get(name) for name in _FIELDS}
    if row["structure"] is not None:
        row["structure"] = json.dumps(row["structure"])
    extra = {k: v for k, v in record.items() if k not in _FIELDS}
    row["extra"] = json.dumps(extra, default=str) if extra else None
    row["task_id"] = task_id
    return row


def to_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row back as the cache record it was made from (nulls left out)."""
    record = {k: v for k, v in row.items() if k in _FIELDS and v is not None}
    if "structure" in record:
        record["structure"] = json.loads(record["structure"])
    if row.get("extra"):
        record.update(json.loads(row["extra"]))
    return record


def _rows_problem(task_id: str, rows: list[dict[str, Any]]) -> str | None:
    ids = [r["structure_id"] for r in rows]
    if len(set(ids)) != len(ids):
        return "repeats structure ids"
    for row in rows:
        reason = validate_record(to_record(row))
        if reason is not None:
            return reason
    return None


class RelaxStore:
    """The cache folder (module docstring); the engine's store for the relaxation job."""

    def __init__(self, directory: str | Path) -> None:
        self.parts = ResultStore(directory, RELAX_SCHEMA)
        self.directory = self.parts.directory

    def open(self, warn: Callable[[str], None] | None = None,
             keep_ids: Iterable[str] | None = None, older: Path | None = None
             ) -> RelaxCache:
        """Check the folder (temporaries removed, untrusted parts quarantined, the JSONL
        cache ``older`` of an older build imported) and read its records (full records
        only for ``keep_ids``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.parts.remove_stale_temporaries()
        self.parts.quarantine_bad_parts(rows_problem=_rows_problem, warn=warn)
        if older is not None and older.is_file():
            self.import_jsonl(older, warn)
        return self.read(keep_ids)

    def import_jsonl(self, path: Path, warn: Callable[[str], None] | None = None) -> int:
        """Import the valid records of an older JSONL cache as one part, then move the
        file to ``_imported/`` (a rerun does not import it twice)."""
        cache = load_relax_cache(path)
        records = list(cache.records.values())
        if records:
            task_id = "imported-" + short_hash(str(path.resolve()), len(records))
            self.parts.write_task(task_id, [to_row(task_id, r) for r in records])
        target = self.directory / IMPORTED_NAME
        target.mkdir(exist_ok=True)
        path.replace(target / path.name)
        if warn is not None:
            warn(f"data build: imported {len(records)} records of the older cache "
                 f"{str(path)!r} ({len(cache.bad_lines)} bad lines skipped); the file is "
                 f"now in {str(target)!r}")
        return len(records)

    def read(self, keep_ids: Iterable[str] | None = None) -> RelaxCache:
        """Every record of the folder (an ``ok`` record of an id wins over a failed one)."""
        cache = RelaxCache(path=self.directory)
        keep = None if keep_ids is None else set(keep_ids)
        for row in self.parts.iter_rows():
            cache.n_lines += 1
            if keep is None or row["structure_id"] in keep:
                cache.add(to_record(row))
            else:
                cache.ids.add(row["structure_id"])
        return cache

    def write_records(self, task_id: str, records: Sequence[Mapping[str, Any]]) -> Path:
        return self.parts.write_task(task_id, [to_row(task_id, r) for r in records],
                                     allow_empty=True)

    # the engine's store interface (rows are cache records)
    def is_done(self, task_id: str) -> bool:
        return self.parts.is_done(task_id)

    def write_task(self, task_id: str, rows: list[Any], allow_empty: bool = False) -> Path:
        return self.write_records(task_id, rows)

    def read_task(self, task_id: str) -> list[dict[str, Any]]:
        return [to_record(r) for r in self.parts.read_task(task_id)]


def read_any_cache(path: str | Path, keep_ids: Iterable[str] | None = None) -> RelaxCache:
    """The records of another build's cache: its folder or build folder (read only:
    nothing is quarantined or imported there) or an older JSONL file."""
    path = Path(path)
    if path.is_dir() and (path / "relaxed").is_dir():  # a build folder
        path = path / "relaxed"
    if path.is_dir():
        return RelaxStore(path).read(keep_ids)
    return load_relax_cache(path, keep_ids=None if keep_ids is None else set(keep_ids))
