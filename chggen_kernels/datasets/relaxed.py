"""The relaxation cache: one JSON record per line, resumable by ``structure_id``.

Record fields (the format of ``/work/data_build/relaxed.jsonl`` and of ``chggen data build``):

===============  ===========================================================
structure_id     the candidate's id (:class:`SourceStructure`)
source           prototypes | random | mp | files
prototype        AFLOW label, ``sg<N>``, mp id or file name (may be null)
formula          cell formula of the candidate, e.g. ``"Li3 Si3"``
status           ``"ok"`` or ``"failed"``
energy_per_atom  CHGNet energy of the relaxed structure, eV/atom (ok only)
n_steps          optimiser steps
converged        max force below fmax (optional; older records lack it)
structure        pymatgen ``Structure.as_dict()`` of the relaxed structure (ok only)
volume_per_atom  Å^3/atom of the relaxed structure (ok only)
relaxer          how it was relaxed (optional free text)
failure_reason   ``"<code>: <detail>"`` (failed only)
t_s              wall time of the relaxation, s
===============  ===========================================================

Appends are single ``write`` calls on an ``O_APPEND`` descriptor, so a record is never
split, even with another process appending to the same file; a torn last line (a killed
writer) is skipped on reading and counted. When an id appears more than once an ``ok``
record wins over a ``failed`` one, else the first one read wins.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from chggen_kernels.datasets.sources import SourceStructure

__all__ = [
    "RelaxCache",
    "append_record",
    "failed_record",
    "load_relax_cache",
    "relax_record",
    "relaxer_label",
    "validate_record",
]


def relaxer_label(fmax: float, max_steps: int, optimizer: str = "FIRE",
                  cell_filter: str = "FrechetCellFilter") -> str:
    """The ``relaxer`` field, e.g.
    ``chggen Relaxer FIRE+FrechetCellFilter fmax=0.1 max_steps=300``."""
    return f"chggen Relaxer {optimizer}+{cell_filter} fmax={fmax:g} max_steps={max_steps}"


def _base(candidate: SourceStructure) -> dict[str, Any]:
    return {"structure_id": candidate.structure_id, "source": candidate.source,
            "prototype": candidate.prototype,
            "formula": candidate.structure.composition.formula}


def failed_record(candidate: SourceStructure, reason: str, t_s: float = 0.0) -> dict[str, Any]:
    """A failed record for ``candidate`` with ``failure_reason`` ``reason``."""
    return {**_base(candidate), "status": "failed", "failure_reason": str(reason)[:500],
            "t_s": float(t_s)}


def relax_record(candidate: SourceStructure, relaxer: Any, label: str | None = None
                 ) -> dict[str, Any]:
    """Relax one candidate with ``relaxer.relax(structure) -> RelaxResult``; never raises.

    An exception inside the relaxer becomes a failed record (``calculator_error: ...``).
    """
    t0 = time.perf_counter()
    try:
        result = relaxer.relax(candidate.structure)
        if result.status != "ok":
            return failed_record(candidate, result.failure_reason or "unknown",
                                 time.perf_counter() - t0)
        s = result.structure_relaxed
        energy = float(result.energy_relaxed_per_atom)
        if not math.isfinite(energy):
            return failed_record(candidate, f"non_finite: energy per atom is {energy}",
                                 time.perf_counter() - t0)
        record = {**_base(candidate), "status": "ok", "energy_per_atom": energy,
                  "n_steps": int(result.n_steps), "converged": bool(result.converged),
                  "structure": s.as_dict(), "volume_per_atom": float(s.volume / len(s))}
    except Exception as exc:  # noqa: BLE001 - one candidate's failure is a record
        message = " ".join(str(exc).split())[:300]
        return failed_record(candidate, f"calculator_error: {type(exc).__name__}: {message}",
                             time.perf_counter() - t0)
    if label is not None:
        record["relaxer"] = label
    record["t_s"] = time.perf_counter() - t0
    return record


def validate_record(record: Any) -> str | None:
    """Why ``record`` is unusable (a message), or ``None`` if it is a valid record."""
    if not isinstance(record, Mapping):
        return f"expected a JSON object, got {type(record).__name__}"
    sid = record.get("structure_id")
    if not isinstance(sid, str) or not sid:
        return f"structure_id {sid!r} is not a non-empty string"
    status = record.get("status")
    if status not in ("ok", "failed"):
        return f"record {sid}: status {status!r} is not 'ok' or 'failed'"
    if status == "failed":
        return None
    energy = record.get("energy_per_atom")
    if isinstance(energy, bool) or not isinstance(energy, int | float) or not math.isfinite(energy):
        return f"record {sid}: energy_per_atom {energy!r} is not a finite number"
    if not isinstance(record.get("structure"), Mapping):
        return f"record {sid}: an ok record needs a structure"
    if not isinstance(record.get("formula"), str):
        return f"record {sid}: formula {record.get('formula')!r} is not a string"
    return None


@dataclasses.dataclass
class RelaxCache:
    """Records read from a cache file.

    ``records`` holds the full records of the ids asked for (all ids without a filter);
    ``ids`` every id with a valid record (for resuming); ``bad_lines`` the reasons of
    skipped lines, as ``"line <n>: <reason>"``.
    """

    path: Path
    records: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    ids: set[str] = dataclasses.field(default_factory=set)
    n_lines: int = 0
    bad_lines: list[str] = dataclasses.field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        """Keep ``record`` unless an ok record of its id is already held."""
        sid = record["structure_id"]
        held = self.records.get(sid)
        if held is None or (held.get("status") != "ok" and record.get("status") == "ok"):
            self.records[sid] = record
        self.ids.add(sid)


def load_relax_cache(path: str | os.PathLike[str],
                     keep_ids: Collection[str] | None = None) -> RelaxCache:
    """Read a cache file (missing file: empty cache); full records only for ``keep_ids``."""
    cache = RelaxCache(path=Path(path))
    if not cache.path.exists():
        return cache
    keep = None if keep_ids is None else set(keep_ids)
    with cache.path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            cache.n_lines += 1
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                cache.bad_lines.append(f"line {number}: not valid JSON ({type(exc).__name__})")
                continue
            reason = validate_record(record)
            if reason is not None:
                cache.bad_lines.append(f"line {number}: {reason}")
                continue
            if keep is None or record["structure_id"] in keep:
                cache.add(record)
            else:
                cache.ids.add(record["structure_id"])
    return cache


def append_record(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one record as a JSON line in a single ``write`` (creates the file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(record, allow_nan=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            with path.open("rb") as fh:  # a torn last line must not swallow this record
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
