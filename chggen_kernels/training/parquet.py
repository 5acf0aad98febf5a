"""The training-set Parquet table: one crystal per row.

Fixed columns (:data:`TRAINING_COLUMNS`):

=================  =========  ===============================================
column             type       meaning
=================  =========  ===============================================
structure          string     pymatgen ``Structure.as_dict()`` as JSON
structure_id       string     unique id, e.g. ``mp-149``
formula            string     reduced formula, e.g. ``Li5Si2``
chemsys            string     elements joined by ``-`` in alphabetical order
n_atoms            int32      sites in the cell
source             string     database or file the crystal came from
energy_per_atom    float64    eV/atom, nullable
=================  =========  ===============================================

Any further columns are free provenance (nullable strings), e.g. ``e_above_hull``,
``database_version``. Files are written to a temporary name and renamed, so readers never
see a half-written table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from chggen_kernels.training.crystals import TrainingCrystal, TrainingDataError

__all__ = ["TRAINING_COLUMNS", "read_training_parquet", "training_schema", "write_training_parquet"]

TRAINING_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("structure", pa.string(), nullable=False),
    pa.field("structure_id", pa.string(), nullable=False),
    pa.field("formula", pa.string(), nullable=False),
    pa.field("chemsys", pa.string(), nullable=False),
    pa.field("n_atoms", pa.int32(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("energy_per_atom", pa.float64(), nullable=True),
)
_FIXED_NAMES = tuple(f.name for f in TRAINING_COLUMNS)


def training_schema(provenance_columns: Sequence[str] = ()) -> pa.Schema:
    """The explicit schema: fixed columns then nullable string provenance columns."""
    clash = sorted(set(provenance_columns) & set(_FIXED_NAMES))
    if clash:
        raise ValueError(f"provenance columns {clash} clash with fixed training columns")
    extra = [pa.field(name, pa.string(), nullable=True) for name in provenance_columns]
    return pa.schema([*TRAINING_COLUMNS, *extra])


def write_training_parquet(path: str | Path, crystals: Sequence[TrainingCrystal]) -> Path:
    """Write ``crystals`` as a training table (atomic rename); returns the path.

    Provenance keys become columns (sorted); a crystal lacking a key gets null there.
    """
    if not crystals:
        raise TrainingDataError("refusing to write an empty training table")
    path = Path(path)
    keys = sorted({k for c in crystals for k in c.provenance})
    schema = training_schema(keys)
    columns: dict[str, list] = {name: [] for name in schema.names}
    for c in crystals:
        comp = c.structure.composition
        columns["structure"].append(json.dumps(c.structure.as_dict()))
        columns["structure_id"].append(c.structure_id)
        columns["formula"].append(comp.reduced_formula)
        columns["chemsys"].append("-".join(sorted(el.symbol for el in comp.elements)))
        columns["n_atoms"].append(len(c.structure))
        columns["source"].append(c.source)
        columns["energy_per_atom"].append(c.energy_per_atom)
        for k in keys:
            value = c.provenance.get(k)
            columns[k].append(None if value is None else str(value))
    table = pa.table(columns, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def read_training_parquet(
    path: Path,
) -> Iterator[tuple[str, int | None, TrainingCrystal | Exception]]:
    """Yield ``(structure_id, row, crystal or parse error)`` per row of one table.

    A missing ``structure`` column or an unreadable file raises :class:`TrainingDataError`
    at once; a bad row yields its error so the caller can raise or skip it.
    """
    from pymatgen.core import Structure

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for unreadable files
        raise TrainingDataError(
            f"training table {str(path)!r} cannot be read: {type(err).__name__}: {err}"
        ) from None
    if "structure" not in table.column_names:
        raise TrainingDataError(
            f"training table {str(path)!r} has no 'structure' column "
            f"(columns: {table.column_names})"
        )
    if table.num_rows == 0:
        return
    data = table.to_pydict()
    provenance_names = [n for n in table.column_names if n not in _FIXED_NAMES]
    for row in range(table.num_rows):
        structure_id = _cell(data, "structure_id", row) or f"{path.stem}:{row}"
        text = data["structure"][row]
        try:
            if text is None:
                raise ValueError("the structure cell is empty")
            structure = Structure.from_dict(json.loads(text))
        except Exception as err:  # json / pymatgen raise many types for bad input
            yield structure_id, row, TrainingDataError(
                f"cannot parse the structure JSON: {type(err).__name__}: {err}"
            )
            continue
        energy = data["energy_per_atom"][row] if "energy_per_atom" in data else None
        provenance = {n: str(data[n][row]) for n in provenance_names if data[n][row] is not None}
        yield structure_id, row, TrainingCrystal(
            structure_id=structure_id,
            structure=structure,
            source=_cell(data, "source", row) or str(path),
            energy_per_atom=None if energy is None else float(energy),
            provenance=provenance,
            row=row,
        )


def _cell(data: dict[str, list], column: str, row: int) -> str | None:
    if column not in data or data[column][row] is None:
        return None
    return str(data[column][row])
