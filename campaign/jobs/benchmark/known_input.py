"""The KNOWN argument of ``chggen benchmark``: known crystals and which of them to run.

Accepted: a Parquet file in the training format (``structure`` + ``structure_id``, e.g.
the held-out ``test.parquet`` of ``chggen data build --sources known``), a known-structures
file (Parquet or JSON with ``structure`` and provenance columns, read by
:func:`chggen_kernels.datasets.read_known_structures`, which gives the same ids), a folder
of CIF/POSCAR files or an extxyz file (:func:`chggen_kernels.training.load_training_data`).
Unusable crystals are skipped and counted.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from pymatgen.core import Structure

from chggen_kernels.errors import InputError

__all__ = ["BenchmarkInputError", "Compound", "read_known", "select_compounds"]


class BenchmarkInputError(InputError):
    """Bad input for ``chggen benchmark`` (exit code 2); the message names the field."""


@dataclasses.dataclass(frozen=True)
class Compound:
    """One known crystal as the benchmark sees it (``compound_id`` is file-name safe)."""

    compound_id: str
    structure: Structure
    source_id: str = ""

    @property
    def formula(self) -> str:
        return self.structure.composition.reduced_formula

    @property
    def n_atoms(self) -> int:
        return len(self.structure)

    @property
    def elements(self) -> tuple[str, ...]:
        return tuple(sorted(el.symbol for el in self.structure.composition.elements))


def _safe(identifier: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", identifier).strip("._") or "crystal"


def _unique(items: list[tuple[str, Structure, str]]) -> list[Compound]:
    seen: dict[str, int] = {}
    out = []
    for sid, structure, source_id in items:
        cid = _safe(sid)
        seen[cid] = seen.get(cid, 0) + 1
        if seen[cid] > 1:
            cid = f"{cid}-{seen[cid]}"
        out.append(Compound(cid, structure, source_id))
    return out


#: ``KNOWN`` that names the shipped sets (unless a file of that name exists).
DEFAULT_KNOWN = "default"


def shipped_sets_path() -> Path:
    """The structures of the shipped benchmark sets, in the package (gzip JSON with
    provenance; ``benchmarks/ship_benchmark_sets.py`` writes it, NOTICE.md beside it)."""
    import importlib.resources

    return Path(str(importlib.resources.files("chggen_kernels") / "data" /
                    "benchmark_sets.json.gz"))


def read_known(path: str | Path, skipped: list[str] | None = None) -> list[Compound]:
    """Every usable crystal of ``path`` in file order (see the module docstring).

    Raises:
        BenchmarkInputError: the path is missing, unreadable or holds no usable crystal.
    """
    from chggen_kernels.datasets import read_known_structures
    from chggen_kernels.training import TrainingDataError, load_training_data

    if str(path) == DEFAULT_KNOWN and not Path(path).exists():
        path = shipped_sets_path()
    path = Path(path).expanduser()
    if not path.exists():
        raise BenchmarkInputError(f"KNOWN {str(path)!r} does not exist")
    known_format = path.suffix.lower() == ".json" or path.name.endswith(".json.gz")
    if path.is_file() and path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise BenchmarkInputError(f"KNOWN {str(path)!r} cannot be read as Parquet "
                                      f"({type(exc).__name__}: {exc})") from None
        known_format = "structure_id" not in names
    try:
        if known_format:
            bad: list[str] = []
            rows = read_known_structures(path, bad)
            items = [(r.structure_id, r.structure, r.source_id) for r in rows]
            reasons = bad
        else:
            data = load_training_data(path, on_invalid="skip")
            items = [(c.structure_id, c.structure, str(c.provenance.get("source_id", "")))
                     for c in data.crystals]
            reasons = [s.reason for s in data.skipped]
    except (ValueError, TrainingDataError) as exc:
        raise BenchmarkInputError(f"KNOWN {str(path)!r}: {exc}") from None
    if skipped is not None:
        skipped.extend(reasons)
    ordered = [(sid, s, src) for sid, s, src in items if s.is_ordered and len(s)]
    if not ordered:
        raise BenchmarkInputError(f"KNOWN {str(path)!r} holds no usable ordered crystal")
    return _unique(ordered)


def select_compounds(
    compounds: Sequence[Compound],
    set_name: str,
    default_ids: Sequence[str],
    *,
    max_atoms: int,
    limit: int | None,
    require: str | None = None,
    min_atoms: int = 1,
    atoms_of: Callable[[Compound], int] | None = None,
) -> list[Compound]:
    """The compounds to run: ``set_name`` ``"default"`` or ``"extended"`` (``default_ids``,
    the ids of that shipped set, in that order) or ``"all"``, at most ``max_atoms`` atoms,
    holding ``require`` (the guest) with at least one other element, cells searched of at
    least ``min_atoms`` atoms (``atoms_of``: their size), the first ``limit``."""
    if set_name not in ("default", "extended", "all"):
        raise BenchmarkInputError(f"--set must be 'default', 'extended' or 'all', got "
                                  f"{set_name!r}")
    if max_atoms < 1:
        raise BenchmarkInputError(f"--max-atoms must be >= 1, got {max_atoms}")
    if limit is not None and limit < 1:
        raise BenchmarkInputError(f"--limit must be >= 1, got {limit}")
    chosen = list(compounds)
    if set_name != "all":
        by_id = {c.compound_id: c for c in compounds}
        chosen = [by_id[i] for i in default_ids if i in by_id]
        if not chosen:
            raise BenchmarkInputError(
                f"KNOWN holds none of the {len(default_ids)} crystals of the {set_name} set "
                "(chosen from the held-out test split of the known-structures build); pass "
                "--set all to benchmark every crystal of KNOWN")
    chosen = [c for c in chosen if c.n_atoms <= max_atoms]
    if min_atoms > 1:  # the cell searched (atoms_of; default the cell as given)
        size = atoms_of or (lambda c: c.n_atoms)
        chosen = [c for c in chosen if size(c) >= min_atoms]
    if require is not None:
        chosen = [c for c in chosen if require in c.elements and len(c.elements) > 1]
    if not chosen:
        what = f" containing {require} and another element" if require else ""
        span = f"{min_atoms}-{max_atoms}" if min_atoms > 1 else f"at most {max_atoms}"
        raise BenchmarkInputError(f"no crystal of KNOWN{what} with {span} atoms "
                                  f"in --set {set_name}")
    return chosen[:limit] if limit is not None else chosen
