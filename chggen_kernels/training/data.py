"""Training crystals: loading, validation and the dataset fingerprint.

Three sources are accepted (see :func:`load_training_data`):

* a Parquet table with one crystal per row (column ``structure`` holds pymatgen JSON;
  see :mod:`chggen_kernels.training.parquet` for the schema and the writer);
* a folder of CIF / POSCAR files (searched recursively);
* an extended-XYZ file with one periodic frame per crystal.

Every crystal is validated (:func:`validate_crystal`): empty structures, partial
occupancies, unknown elements, non-finite coordinates or lattices, zero or negative cell
volume and atoms closer than ``min_distance`` (Å; default
:data:`~chggen_kernels.structure_check.DEFAULT_MIN_DISTANCE`) are errors naming the
crystal and the problem. ``on_invalid="raise"`` stops at the first one; ``"skip"`` drops it and
records the reason in :attr:`TrainingData.skipped`, so nothing is dropped silently.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from chggen_kernels.structure_check import DEFAULT_MIN_DISTANCE, MAX_ATOMIC_NUMBER
from chggen_kernels.training.crystals import (
    SkippedCrystal,
    TrainingCrystal,
    TrainingData,
    TrainingDataError,
    _label,
    dataset_hash,
)

__all__ = [
    "MIN_INTERATOMIC_DISTANCE",
    "SkippedCrystal",
    "TrainingCrystal",
    "TrainingData",
    "TrainingDataError",
    "dataset_hash",
    "load_training_data",
    "validate_crystal",
]

MIN_INTERATOMIC_DISTANCE = DEFAULT_MIN_DISTANCE  # Å (structure_check's)
STRUCTURE_FILE_SUFFIXES = (".cif", ".vasp", ".poscar")
STRUCTURE_FILE_PREFIXES = ("POSCAR", "CONTCAR")
OnInvalid = Literal["raise", "skip"]


def validate_crystal(
    crystal: TrainingCrystal, min_distance: float = MIN_INTERATOMIC_DISTANCE
) -> None:
    """Raise :class:`TrainingDataError` naming the crystal if it cannot be trained on.

    The structure check of every entry point
    (:func:`~chggen_kernels.structure_check.check_structure`: at least one atom, finite
    lattice and coordinates, a volume, chemical elements the score model embeds, Z in
    1..118, no two atoms, periodic images included, closer than ``min_distance`` Å),
    plus what training needs beyond it: ordered sites and a right-handed lattice.
    """
    from chggen_kernels.structure_check import (
        ElementSupport,
        StructureCheckError,
        check_structure,
    )

    s, label = crystal.structure, crystal.label
    if len(s) and not s.is_ordered:
        raise TrainingDataError(f"{label}: has partially occupied sites (needs an ordered cell)")
    try:
        check_structure(s, where=label, max_atoms=max(len(s), 1),
                        supports=(ElementSupport("the score model", MAX_ATOMIC_NUMBER),),
                        min_distance=min_distance)
    except StructureCheckError as exc:
        raise TrainingDataError(str(exc)) from None
    volume = float(np.linalg.det(np.asarray(s.lattice.matrix, dtype=float)))
    if not volume > 0:
        raise TrainingDataError(
            f"{label}: cell volume is {volume:.4g} Å^3; it must be positive "
            "(three right-handed lattice vectors)"
        )


# ---------------------------------------------------------------------------- loading
def load_training_data(
    path: str | Path,
    on_invalid: OnInvalid = "raise",
    min_distance: float = MIN_INTERATOMIC_DISTANCE,
) -> TrainingData:
    """Read and validate a training set.

    ``path`` is a ``.parquet`` file (or a folder of them), a folder of CIF/POSCAR files or
    an ``.extxyz``/``.xyz`` file. ``on_invalid="raise"`` raises the first crystal's
    :class:`TrainingDataError`; ``"skip"`` keeps going and lists the skipped crystals.
    An empty source, or one where every crystal was skipped, is always an error.
    """
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    path = Path(path)
    if not path.exists():
        raise TrainingDataError(f"training data {str(path)!r} does not exist")
    kept: list[TrainingCrystal] = []
    skipped: list[SkippedCrystal] = []
    for structure_id, row, item in _read_source(path):
        try:
            if isinstance(item, Exception):
                raise TrainingDataError(f"{_label(structure_id, row)}: {item}") from item
            validate_crystal(item, min_distance=min_distance)
        except TrainingDataError as err:
            if on_invalid == "raise":
                raise
            skipped.append(SkippedCrystal(structure_id=structure_id, row=row, reason=str(err)))
            continue
        kept.append(item)
    if not kept:
        detail = f"; all {len(skipped)} were invalid, first: {skipped[0].reason}" if skipped else ""
        raise TrainingDataError(f"training data {str(path)!r} contains no usable crystals{detail}")
    return TrainingData(crystals=tuple(kept), skipped=tuple(skipped), path=str(path))


_Item = tuple[str, int | None, "TrainingCrystal | Exception"]


def _read_source(path: Path) -> Iterator[_Item]:
    from chggen_kernels.training.parquet import read_training_parquet

    if path.is_dir():
        parquet = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))
        if parquet:
            for p in parquet:
                yield from read_training_parquet(p)
            return
        yield from _read_structure_folder(path)
        return
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from read_training_parquet(path)
    elif suffix in (".extxyz", ".xyz"):
        yield from _read_extxyz(path)
    elif suffix in STRUCTURE_FILE_SUFFIXES or path.name.startswith(STRUCTURE_FILE_PREFIXES):
        yield from _read_structure_files([path], path.parent)
    else:
        raise TrainingDataError(
            f"training data {str(path)!r}: unknown format (expected a .parquet file, an "
            ".extxyz file or a folder of CIF/POSCAR files)"
        )


def _is_structure_file(p: Path) -> bool:
    return p.is_file() and (
        p.suffix.lower() in STRUCTURE_FILE_SUFFIXES or p.name.startswith(STRUCTURE_FILE_PREFIXES)
    )


def _read_structure_folder(folder: Path) -> Iterator[_Item]:
    files = sorted(p for p in folder.rglob("*") if _is_structure_file(p))
    return _read_structure_files(files, folder)


def _read_structure_files(files: Sequence[Path], root: Path) -> Iterator[_Item]:
    from pymatgen.core import Structure

    for row, f in enumerate(files):
        structure_id = f.relative_to(root).as_posix()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = Structure.from_file(f)
        except Exception as err:  # pymatgen raises many types for unreadable files
            yield structure_id, row, _parse_error(f"cannot read {f.name}", err)
            continue
        yield structure_id, row, TrainingCrystal(
            structure_id=structure_id, structure=s, source=str(f), row=row
        )


def _split_xyz_frames(text: str, path: Path) -> list[str]:
    lines = text.splitlines()
    frames, pos = [], 0
    while pos < len(lines):
        if not lines[pos].strip():
            pos += 1
            continue
        try:
            n = int(lines[pos].split()[0])
        except ValueError:
            raise TrainingDataError(
                f"extxyz file {str(path)!r}: line {pos + 1} should hold an atom count, "
                f"got {lines[pos][:40]!r}"
            ) from None
        frames.append("\n".join(lines[pos : pos + n + 2]) + "\n")
        pos += n + 2
    return frames


def _read_extxyz(path: Path) -> Iterator[_Item]:
    from ase.io import read as ase_read
    from pymatgen.io.ase import AseAtomsAdaptor

    for row, frame in enumerate(_split_xyz_frames(path.read_text(), path)):
        structure_id = f"{path.name}:{row}"
        try:
            atoms = ase_read(io.StringIO(frame), format="extxyz")
        except Exception as err:  # ase raises many types for malformed frames
            yield structure_id, row, _parse_error("cannot parse the extxyz frame", err)
            continue
        structure_id = str(atoms.info.get("structure_id", structure_id))
        if not all(atoms.pbc):
            yield structure_id, row, TrainingDataError(
                f"is not periodic in all three directions (pbc={atoms.pbc.tolist()})"
            )
            continue
        energy = _frame_energy_per_atom(atoms)
        yield structure_id, row, TrainingCrystal(
            structure_id=structure_id,
            structure=AseAtomsAdaptor.get_structure(atoms),
            source=str(path),
            energy_per_atom=energy,
            row=row,
        )


def _frame_energy_per_atom(atoms: Any) -> float | None:
    if "energy_per_atom" in atoms.info:
        return float(atoms.info["energy_per_atom"])
    energy = atoms.info.get("energy")
    if energy is None and atoms.calc is not None:
        energy = atoms.calc.results.get("energy")
    return None if energy is None else float(energy) / len(atoms)


def _parse_error(what: str, err: BaseException) -> TrainingDataError:
    return TrainingDataError(f"{what}: {type(err).__name__}: {err}")


# ---------------------------------------------------------------------------- summaries
