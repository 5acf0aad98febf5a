"""Resumable benchmark folders: one Parquet part per task, a manifest of the settings.

Layout of ``OUT``:

* ``_fingerprint.json``: the kind (``csp`` / ``hosts``) and every setting that changes the
  candidates (k or samples, seed, sampler, relaxation, checkpoint, cell), checked like a
  campaign folder's (:func:`campaign.engine.folder.check_fingerprint`): a rerun with other
  settings is refused naming every differing field; methods and compounds may be added
  (they are new tasks). Folders written before keep these settings in ``_benchmark.json``,
  which a rerun checks and migrates in place.
* ``reference/part-<compound>.reference.parquet``: the CHGNet relaxation of the known
  crystal; ``candidates/part-<compound>.<method>.parquet``: that method's candidates.
  Parts are written to a temporary name and renamed (:class:`campaign.engine.store.ResultStore`),
  so a part exists exactly when its task finished; a rerun skips finished parts.
* ``candidates.parquet``, ``summary.json``, ``summary.md`` and a figure, rewritten at the
  end of every run from the parts of the compounds and methods asked for.
* ``_lock``: a campaign folder's writer lock (:func:`campaign.engine.folder.folder_lock`), held
  by :func:`campaign.jobs.benchmark.driver.execute` around this store for the whole run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from campaign.engine.store import ResultStore, write_text_atomic
from campaign.jobs.benchmark.known_input import BenchmarkInputError, Compound

__all__ = ["REFERENCE_SCHEMA", "BenchmarkStore", "Task", "schema", "write_table"]

MANIFEST = "_benchmark.json"
_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def schema(columns: Sequence[tuple[str, str]], table: str) -> pa.Schema:
    """Arrow schema from ``(name, type)`` pairs; ``task_id`` is the only non-null column."""
    return pa.schema([pa.field(n, _TYPES[t], nullable=n != "task_id") for n, t in columns],
                     metadata={b"chggen.table": table.encode()})


REFERENCE_SCHEMA = schema([
    ("task_id", "str"), ("compound_id", "str"), ("formula", "str"), ("n_atoms", "int"),
    ("source_id", "str"), ("status", "str"), ("failure_reason", "str"),
    ("energy_per_atom", "float"), ("energy_initial_per_atom", "float"),
    ("relax_steps", "int"), ("relaxed_matches_known", "bool"), ("rms_relaxed_vs_known", "float"),
    ("t_relax_s", "float"),
], "benchmark-reference")


@dataclasses.dataclass(frozen=True)
class Task:
    """One unit of work: the reference relaxation of a compound, or one method on it."""

    compound: Compound
    method: str  # "reference" or a method name

    @property
    def task_id(self) -> str:
        return f"{self.compound.compound_id}.{self.method}"


def _warn(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def write_table(path: Path, rows: Sequence[Mapping[str, Any]], table_schema: pa.Schema) -> Path:
    """Write ``rows`` as one Parquet file atomically (temporary name, then rename)."""
    from campaign.engine.store import write_parquet_atomic

    table = pa.Table.from_pylist([dict(r) for r in rows], schema=table_schema)
    return write_parquet_atomic(table, path)


class BenchmarkStore:
    """The folder of one benchmark kind with its candidate schema."""

    def __init__(self, out: str | Path, kind: str, settings: Mapping[str, Any],
                 candidate_schema: pa.Schema) -> None:
        self.out = Path(out).expanduser()
        self.kind = kind
        self.out.mkdir(parents=True, exist_ok=True)
        self._check_manifest(dict(settings))
        self.candidates = ResultStore(self.out / "candidates", candidate_schema)
        self.reference = ResultStore(self.out / "reference", REFERENCE_SCHEMA)
        self.quarantined: list[tuple[str, str]] = []
        for store in (self.candidates, self.reference):
            store.migrate_older_parts()  # columns added since: null (a benchmark folder resumes)
            store.remove_stale_temporaries()
            # what cannot be trusted (unreadable, another schema, rows of another task) is
            # moved to _quarantine/ and its task runs again, as in a campaign folder
            self.quarantined += store.quarantine_bad_parts(warn=_warn)

    def _check_manifest(self, settings: dict[str, Any]) -> None:
        """Bind the folder to these settings with the campaign folders' fingerprint
        (:func:`campaign.engine.folder.check_fingerprint`); a folder written before, with its
        settings in ``_benchmark.json``, is checked against those and migrated in place."""
        from campaign.engine.folder import FINGERPRINT_NAME, Fingerprint, check_fingerprint

        fingerprint = Fingerprint({"kind": self.kind, **settings})
        advice = "rerun with the folder's settings to resume, or pick another --out"
        older = self.out / MANIFEST
        if older.is_file() and not (self.out / FINGERPRINT_NAME).is_file():
            try:
                found = json.loads(older.read_text())
            except json.JSONDecodeError as exc:
                raise BenchmarkInputError(f"--out {str(self.out)!r}: {MANIFEST} is not valid "
                                          f"JSON ({exc}); use another --out") from None
            write_text_atomic(self.out / FINGERPRINT_NAME, json.dumps(
                {"digest": Fingerprint(found).digest, "values": found}, indent=1,
                sort_keys=True, default=str))
            older.unlink()
        check_fingerprint(self.out, fingerprint, advice=advice)

    def _store(self, task: Task | str) -> ResultStore:
        task_id = task if isinstance(task, str) else task.task_id
        return self.reference if task_id.endswith(".reference") else self.candidates

    @staticmethod
    def _id(task: Task | str) -> str:
        return task if isinstance(task, str) else task.task_id

    def is_done(self, task: Task | str) -> bool:
        return self._store(task).is_done(self._id(task))

    def write_task(self, task_id: str, rows: Sequence[Mapping[str, Any]],
                   allow_empty: bool = True) -> Path:
        """Write one task's rows (the engine's store interface, :mod:`campaign.engine`)."""
        return self._store(task_id).write_task(task_id, list(rows), allow_empty=True)

    def read_task(self, task_id: str) -> list[dict[str, Any]]:
        return self._store(task_id).read_task(task_id)

    def rows(self, task: Task | str) -> list[dict[str, Any]]:
        """The task's rows (``[]`` if its part does not exist yet)."""
        return self.read_task(self._id(task)) if self.is_done(task) else []


def collect_scores(store: BenchmarkStore, compounds: Sequence[Compound], methods: Sequence[str],
                   energy_tol: float, score: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """Scores per (compound, method) with a finished part, and every candidate row.

    ``score(rows, reference_energy, compound_id=, method=, energy_tol=)`` is the kernel's
    scoring function of the benchmark (``score_csp_compound`` or ``score_host``); the
    reference energy (eV/atom) is the compound's ``reference`` part, when finished.
    """
    scores, rows = [], []
    for compound in compounds:
        reference = store.rows(Task(compound, "reference"))
        energy = reference[0]["energy_per_atom"] if reference else None
        for method in methods:
            task = Task(compound, method)
            if not store.is_done(task):
                continue
            part = store.rows(task)
            rows += part
            scores.append(score(part, energy, compound_id=compound.compound_id, method=method,
                                energy_tol=energy_tol))
    return scores, rows

