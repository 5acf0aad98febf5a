"""Known crystal structures from a file with provenance: reading, filters, splits.

A *known-structures file* is a Parquet table (or a JSON list of objects) with one crystal
per row: a ``structure`` column holding pymatgen ``Structure.as_dict()`` (JSON text or an
object) and free provenance columns, of which ``source`` (the collection the row came
from), ``source_id`` (its id there, e.g. ``mp-149``), ``origin`` and ``licence`` are kept.
Public originals: the Materials Project, Alexandria, JARVIS-DFT, the AFLOW prototype
library (see ``docs/training_data.md``).

* :func:`read_known_structures`: rows -> :class:`KnownStructure` (unreadable rows counted).
* :func:`filter_known`: elements, atoms per cell, minimum interatomic distance, and
  duplicates by StructureMatcher within a formula; what each filter dropped, per source.
* :func:`split_by_formula`: train / validation / test with every polymorph of a formula on
  one side, a deterministic function of the formula and the seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from chggen_kernels.datasets.sources import DEFAULT_MAX_ATOMS, SourceStructure, structure_id
from chggen_kernels.structure_check import DEFAULT_MIN_DISTANCE

__all__ = [
    "DEFAULT_TEST_FRACTION",
    "DEFAULT_VAL_FRACTION",
    "KNOWN_FILTERS",
    "KnownStructure",
    "filter_known",
    "read_known_structures",
    "split_by_formula",
]

PROVENANCE = ("source", "source_id", "origin", "licence")
KNOWN_FILTERS = ("unreadable", "unusable", "disordered", "elements", "max_atoms",
                 "min_distance", "duplicate")
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class KnownStructure:
    """One known crystal with its provenance.

    ``structure_id`` is deterministic: a hash of the collection, its id and the structure
    (:func:`~chggen_kernels.datasets.external.structure_fingerprint`), so the same row
    read again gets the same id and an edited structure a new one.
    """

    structure_id: str
    structure: Structure
    source: str
    source_id: str
    origin: str = ""
    licence: str = ""

    @property
    def formula(self) -> str:
        """Reduced formula, e.g. ``Li7Si2``."""
        return self.structure.composition.reduced_formula

    def as_source_structure(self) -> SourceStructure:
        """The same crystal as a build candidate (source ``known``, prototype = source id)."""
        return SourceStructure(self.structure_id, self.structure, "known",
                               f"{self.source}:{self.source_id}")

    def provenance(self) -> dict[str, str]:
        """Provenance columns of the training table."""
        return {"source_id": self.source_id, "origin": self.origin, "licence": self.licence,
                "collection": self.source}


def _rows(path: Path) -> list[Mapping[str, Any]]:
    if not path.is_file():
        raise ValueError(f"known-structures file {str(path)!r} does not exist")
    if path.suffix.lower() == ".json" or path.name.lower().endswith(".json.gz"):
        try:
            if path.name.lower().endswith(".gz"):
                import gzip

                with gzip.open(path, "rt", encoding="utf-8") as handle:
                    data = json.load(handle)
            else:
                data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"known-structures file {path.name}: not valid JSON ({exc})") \
                from None
        if isinstance(data, Mapping) and "structures" in data:
            data = data["structures"]
        if not isinstance(data, list):
            raise ValueError(f"known-structures file {path.name}: expected a list of objects")
        return data
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for unreadable files
        raise ValueError(f"known-structures file {str(path)!r} cannot be read as Parquet "
                         f"({type(exc).__name__}: {exc})") from None
    if "structure" not in table.column_names:
        raise ValueError(f"known-structures file {path.name}: no 'structure' column "
                         f"(columns: {table.column_names})")
    return table.to_pylist()


def read_known_structures(
    path: str | os.PathLike[str],
    unreadable: list[str] | None = None,
) -> list[KnownStructure]:
    """Every readable row of a known-structures file, in file order.

    Rows whose structure cannot be parsed are left out; ``"<source>:<row>: <reason>"`` is
    appended to ``unreadable`` for each when given.

    Raises:
        ValueError: the file is missing, unreadable or has no ``structure`` column.
    """
    path = Path(path)
    from chggen_kernels.datasets.external import structure_fingerprint

    out = []
    for i, row in enumerate(_rows(path)):
        source = str(row.get("source") or path.stem) if isinstance(row, Mapping) else path.stem
        try:
            raw = row["structure"]
            structure = Structure.from_dict(json.loads(raw) if isinstance(raw, str) else raw)
        except Exception as exc:  # json / pymatgen raise many types for bad rows
            if unreadable is not None:
                unreadable.append(f"{source}:{i}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        source_id = str(row.get("source_id") or f"row{i}")
        sid = structure_id("known", source, source_id, structure_fingerprint(structure))
        out.append(KnownStructure(sid, structure, source, source_id,
                                  str(row.get("origin") or ""), str(row.get("licence") or "")))
    return out


def _min_distance_ok(structure: Structure, min_distance: float) -> bool:
    if len(structure) == 1:
        a, b, c = structure.lattice.abc
        return min(a, b, c) >= min_distance
    return bool(structure.distance_matrix[~_eye(len(structure))].min() >= min_distance) and \
        min(structure.lattice.abc) >= min_distance


def _eye(n: int) -> Any:
    import numpy as np

    return np.eye(n, dtype=bool)


def _usable(structure: Any) -> bool:
    """The structure check of every entry point (finite lattice and coordinates, a
    volume, chemical elements CHGNet supports), atom count and distances left to the
    filters that count them."""
    from chggen_kernels.structure_check import StructureCheckError, check_structure

    try:
        check_structure(structure, where="", max_atoms=max(len(structure), 1),
                        min_distance=0.0)
    except StructureCheckError:
        return False
    return True


def filter_known(
    rows: Iterable[KnownStructure],
    *,
    elements: Sequence[str] | None = None,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    min_distance: float = DEFAULT_MIN_DISTANCE,
    deduplicate: bool = True,
) -> tuple[list[KnownStructure], dict[str, dict[str, int]]]:
    """Apply the filters in order; return the kept rows and ``counts[source][filter]``.

    Args:
        rows: known structures (file order is kept among the survivors).
        elements: allowed elements (``None``: all); a crystal with any other is dropped.
        max_atoms: most sites per cell (MP-20 uses 20).
        min_distance: Å; a crystal with two atoms (or an atom and its own image) closer
            than this is dropped.
        (first) a crystal that fails the structure check of every entry point
            (:func:`~chggen_kernels.structure_check.check_structure`: non-finite numbers,
            no volume, elements CHGNet does not support) is counted ``unusable``.
        deduplicate: drop all but the first of structures that pymatgen's StructureMatcher
            (primitive cells, volume scaled, ltol 0.2, stol 0.3, 5 degrees) finds equal
            within one reduced formula.

    ``counts[source]`` holds ``read``, one count per filter of :data:`KNOWN_FILTERS` that
    dropped anything (``unreadable`` is counted by the reader) and ``kept``.
    """
    from chggen_kernels.analysis import MatchSettings, duplicate_groups

    if not isinstance(max_atoms, int) or isinstance(max_atoms, bool) or max_atoms < 1:
        raise ValueError(f"max_atoms must be an int >= 1, got {max_atoms!r}")
    if not (min_distance >= 0):
        raise ValueError(f"min_distance must be >= 0 Å, got {min_distance!r}")
    allowed = None if elements is None else set(elements)
    counts: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for row in rows:
        c = counts[row.source]
        c["read"] += 1
        s = row.structure
        if not _usable(s):
            c["unusable"] += 1
        elif not s.is_ordered:
            c["disordered"] += 1
        elif allowed is not None and not {el.symbol for el in s.composition.elements} <= allowed:
            c["elements"] += 1
        elif len(s) > max_atoms:
            c["max_atoms"] += 1
        elif min_distance > 0 and not _min_distance_ok(s, min_distance):
            c["min_distance"] += 1
        else:
            survivors.append(row)
    kept = survivors
    if deduplicate and survivors:
        labels = duplicate_groups([r.structure for r in survivors], MatchSettings())
        kept = []
        for i, (row, label) in enumerate(zip(survivors, labels, strict=True)):
            if label == i:
                kept.append(row)
            else:
                counts[row.source]["duplicate"] += 1
    for row in kept:
        counts[row.source]["kept"] += 1
    return kept, {source: dict(c) for source, c in sorted(counts.items())}


def _formula_rank(formula: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}|{formula}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


#: Shares of the reduced formulas in the validation and test splits
#: (:func:`split_by_formula`, ``chggen data build --val-fraction / --test-fraction``).
DEFAULT_VAL_FRACTION = 0.05
DEFAULT_TEST_FRACTION = 0.05


def split_by_formula(
    formulas: Iterable[str],
    *,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = 0,
    test_formulas: Iterable[str] = (),
) -> dict[str, str]:
    """Assign every reduced formula to ``train``, ``val`` or ``test``.

    Each formula gets a uniform number in [0, 1) from a hash of ``seed`` and the formula:
    below ``test_fraction`` it is test, below ``test_fraction + val_fraction`` validation,
    else train. The assignment of one formula never depends on which other formulas are
    present, so adding crystals to the file does not move existing formulas between
    splits. ``test_formulas`` are held out in the test split whatever their number.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not (0 <= value < 1):
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got "
                         f"{val_fraction + test_fraction:g}")
    from pymatgen.core import Composition

    forced = {Composition(f).reduced_formula for f in test_formulas}
    out = {}
    for formula in formulas:
        u = _formula_rank(formula, seed)
        if formula in forced or u < test_fraction:
            out[formula] = "test"
        elif u < test_fraction + val_fraction:
            out[formula] = "val"
        else:
            out[formula] = "train"
    return out
