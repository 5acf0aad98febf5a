"""Reading and writing hull entries: the reference-file format, CSV and monty JSON.

Reference format (``chggen_kernels/data/reference_hull.json`` and user files)::

    {"format": "chggen-reference-hull", "version": 1, "description": "...",
     "entries": [{"formula": "Li", "energy_per_atom": -1.9096,            # eV/atom
                  "source": "chggen CHGNet 0.3.0 relax, bcc",
                  "source_id": "mp-135",                                  # optional
                  "structure": {...pymatgen Structure.as_dict()...}},      # optional
                 ...]}

A bare JSON list of such records is accepted too, and so is a monty-serialised list of
pymatgen ``ComputedEntry`` / ``ComputedStructureEntry`` / ``PDEntry`` objects. CSV files need
the columns ``formula`` and ``energy_per_atom`` (eV/atom); optional ``source`` and
``source_id`` columns are kept. A record's ``source_id`` (e.g. ``mp-27705``; the offline
hull's entries all have one) becomes the entry's ``entry_id`` and ``data["source_id"]`` (else
its ``source`` text is the ``entry_id``), so decomposition products name it
(:func:`chggen_kernels.thermo.energy.entry_source_id`). Entries are returned as
``ComputedEntry`` objects with the total energy ``energy_per_atom * n_atoms`` in eV and no
further corrections.
"""

from __future__ import annotations

import csv
import json
import math
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from monty.json import MontyDecoder, MontyEncoder
from pymatgen.core import Composition, Element, Structure
from pymatgen.entries.computed_entries import ComputedEntry

from chggen_kernels.thermo.energy import ThermoInputError

__all__ = [
    "REFERENCE_FORMAT",
    "entries_from_records",
    "read_entries",
    "write_json_atomic",
    "write_reference_file",
]

REFERENCE_FORMAT = "chggen-reference-hull"


def _record_entry(record: Mapping[str, Any], where: str) -> ComputedEntry:
    if not isinstance(record, Mapping):
        raise ThermoInputError(f"{where}: expected an object with formula and energy_per_atom")
    missing = [k for k in ("formula", "energy_per_atom") if k not in record]
    if missing:
        raise ThermoInputError(f"{where}: missing field(s) {', '.join(missing)}")
    formula = record["formula"]
    try:
        comp = Composition(str(formula))
    except Exception as exc:  # pymatgen raises several types
        raise ThermoInputError(f"{where}: formula {formula!r} is not a valid formula") from exc
    if not all(isinstance(el, Element) for el in comp.elements):
        raise ThermoInputError(f"{where}: formula {formula!r} is not a valid formula")
    if comp.num_atoms <= 0:
        raise ThermoInputError(f"{where}: formula {formula!r} has no atoms")
    raw = record["energy_per_atom"]
    try:
        e_pa = float(raw)
    except (TypeError, ValueError):
        raise ThermoInputError(f"{where}: energy_per_atom {raw!r} is not a number") from None
    if not math.isfinite(e_pa):
        raise ThermoInputError(f"{where}: energy_per_atom {raw!r} is not finite")
    source = str(record.get("source", "") or "")
    source_id = str(record.get("source_id", "") or "")
    data: dict[str, Any] = {"source": source}
    if source_id:
        data["source_id"] = source_id
    # where the id comes from; our own build's entries (kind own_build) have none
    collection = record.get("collection") or (
        "own_build" if record.get("kind") == "own_build" else "")
    if collection:
        data["collection"] = str(collection)
    if record.get("structure") is not None:
        data["structure"] = record["structure"]
    return ComputedEntry(comp, e_pa * comp.num_atoms, entry_id=source_id or source or None,
                         data=data)


def entries_from_records(records: Iterable[Mapping[str, Any]], label: str) -> list[ComputedEntry]:
    """Reference records -> entries; ``label`` names the file in error messages."""
    return [_record_entry(r, f"{label} entry {i}") for i, r in enumerate(records)]


def _read_csv(path: Path) -> list[ComputedEntry]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in ("formula", "energy_per_atom") if c not in columns]
        if missing:
            raise ThermoInputError(
                f"{path.name}: missing column(s) {', '.join(missing)} "
                f"(found: {', '.join(columns) or 'none'})"
            )
        entries = []
        for row in reader:
            clean = {(k or "").strip(): (v.strip() if isinstance(v, str) else v)
                     for k, v in row.items()}
            entries.append(_record_entry(clean, f"{path.name} line {reader.line_num}"))
    return entries


def _read_json(path: Path) -> list[ComputedEntry]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ThermoInputError(f"{path.name}: not valid JSON ({exc})") from exc
    if isinstance(data, Mapping) and "entries" in data:
        data = data["entries"]
    if not isinstance(data, list):
        raise ThermoInputError(
            f"{path.name}: expected a list of entries or an object with an 'entries' list"
        )
    entries = []
    for i, item in enumerate(data):
        where = f"{path.name} entry {i}"
        if isinstance(item, Mapping) and "@class" in item:
            try:
                obj = MontyDecoder().process_decoded(item)
            except Exception as exc:
                raise ThermoInputError(f"{where}: cannot decode {item.get('@class')}: {exc}") \
                    from exc
            if not hasattr(obj, "energy_per_atom") or not hasattr(obj, "composition"):
                raise ThermoInputError(f"{where}: {type(obj).__name__} is not an entry")
            entries.append(obj)
        else:
            entries.append(_record_entry(item, where))
    return entries


def read_entries(path: str | os.PathLike[str]) -> list[ComputedEntry]:
    """Entries from a ``.csv`` or ``.json`` file (see module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ThermoInputError(f"hull entry file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".json":
        return _read_json(path)
    raise ThermoInputError(f"hull entry file {path.name}: use a .csv or .json file, got {suffix!r}")


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as JSON (monty encoder) to a temporary file, then rename it.

    The temporary name starts with ``.`` and is unique per process and call; file
    permissions follow the umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        with tmp.open("x") as fh:
            json.dump(data, fh, cls=MontyEncoder, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:  # name the file the user asked for (a full disk, a read-only folder)
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_reference_file(
    path: str | os.PathLike[str],
    records: Sequence[Mapping[str, Any]],
    description: str,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write records (formula, energy_per_atom, source, optional structure) atomically.

    Records are validated first; a ``Structure`` under ``structure`` is stored as its dict.
    """
    clean = []
    for record in records:
        item = dict(record)
        if isinstance(item.get("structure"), Structure):
            item["structure"] = item["structure"].as_dict()
        clean.append(item)
    entries_from_records(clean, Path(path).name)  # validation
    write_json_atomic(path, {"format": REFERENCE_FORMAT, "version": 1,
                             "description": description, **dict(metadata or {}),
                             "entries": clean})
