"""Structure files read with their problems named: CIF, POSCAR, extxyz, pymatgen JSON.

:func:`read_structures` reads every crystal of a file through
:func:`~chggen_kernels.files.read_text_file` (size and encoding bounded). A parser's
failure is reported with its cause, not only the parser's generic words: for a CIF the
raw blocks are inspected for the usual causes (a coordinate or cell parameter that is not
a finite number, two atoms on one site whose occupancies add up to more than one), e.g.
``structure file 'x.cif': overlapping atoms: sites 0 (Li1) and 2 (Li2) are 0.000 Å apart``.
"""

from __future__ import annotations

import io
import json
import math
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chggen_kernels.files import MAX_STRUCTURE_BYTES, InputFileError, read_text_file
from chggen_kernels.structure_check import DEFAULT_MIN_DISTANCE

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["STRUCTURE_SUFFIXES", "read_structure", "read_structures"]

#: File kinds by name: CIF, POSCAR (VASP), extended XYZ (ASE), pymatgen JSON.
STRUCTURE_SUFFIXES = {".cif": "cif", ".vasp": "poscar", ".poscar": "poscar",
                      ".xyz": "extxyz", ".extxyz": "extxyz", ".json": "json"}
_NUMBER = re.compile(r"^([+-]?[0-9.eE+-]+)(\(\d+\))?$")


def file_kind(path: Path) -> str:
    """``cif``, ``poscar``, ``extxyz`` or ``json`` from the name (POSCAR/CONTCAR files
    have no suffix); ``""`` when the name does not say."""
    kind = STRUCTURE_SUFFIXES.get(path.suffix.lower(), "")
    if not kind and any(key in path.name.upper() for key in ("POSCAR", "CONTCAR")):
        kind = "poscar"
    return kind


def _cif_number(text: str) -> float:
    """A CIF number (``0.25``, ``0.2500(3)``); ``?`` and ``.`` are NaN."""
    match = _NUMBER.match(text.strip())
    if not match:
        return math.nan
    try:
        return float(match.group(1))
    except ValueError:
        return math.nan


_CELL_LINE = re.compile(r"^\s*(_cell_(?:length_[abc]|angle_(?:alpha|beta|gamma)))\s+(\S+)",
                        re.MULTILINE)


def _diagnose_cif_text(text: str) -> str | None:
    """A cell parameter that is not a positive number, read from the text itself (for a
    CIF that pymatgen's CIF reader cannot even split into blocks)."""
    for key, raw in _CELL_LINE.findall(text):
        value = _cif_number(raw)
        if not math.isfinite(value) or value <= 0:
            return f"{key} = {raw!r} is not a positive finite number"
    return None


def _diagnose_cif_block(name: str, block: Any, min_distance: float) -> str | None:
    """The first problem of one raw CIF block that stops pymatgen building it."""
    data = block.data
    cell = {}
    for key in ("_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha",
                "_cell_angle_beta", "_cell_angle_gamma"):
        raw = data.get(key)
        if raw is None:
            return f"block {name!r} has no {key}"
        value = _cif_number(str(raw))
        if not math.isfinite(value) or value <= 0:
            return f"{key} = {str(raw)!r} is not a positive finite number"
        cell[key] = value
    xs = [data.get(f"_atom_site_fract_{axis}") for axis in "xyz"]
    if any(x is None for x in xs):
        return None
    labels = data.get("_atom_site_label") or [str(i) for i in range(len(xs[0]))]
    occupancies = data.get("_atom_site_occupancy") or ["1"] * len(xs[0])
    coords = np.array([[_cif_number(str(v)) for v in column] for column in xs]).T
    for i, row in enumerate(coords):
        if not np.all(np.isfinite(row)):
            return (f"site {i} ({labels[i]}): fractional coordinates "
                    f"{[str(column[i]) for column in xs]} are not all finite numbers")
    from pymatgen.core import Lattice

    lattice = Lattice.from_parameters(*cell.values())
    occ = [_cif_number(str(o)) for o in occupancies]
    for i in range(len(coords)):
        for j in range(i + 1, len(coords)):
            d = float(lattice.get_distance_and_image(coords[i], coords[j])[0])
            if d < min_distance and (occ[i] if math.isfinite(occ[i]) else 1.0) + \
                    (occ[j] if math.isfinite(occ[j]) else 1.0) > 1.0 + 1e-3:
                return (f"overlapping atoms: sites {i} ({labels[i]}) and {j} ({labels[j]}) "
                        f"are {d:.3f} Å apart")
    return None


def _read_cif(text: str, where: str) -> list[Structure]:
    from pymatgen.io.cif import CifFile, CifParser

    problem = _diagnose_cif_text(text)  # pymatgen takes a negative cell length as given
    if problem:
        raise InputFileError(f"{where}: {problem}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structures = CifParser.from_str(text).parse_structures(primitive=False)
        if structures:
            return structures
        detail = "no structure in the file"
    except Exception as exc:  # noqa: BLE001 - any parser failure is explained below
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    try:
        blocks = CifFile.from_str(text).data
    except Exception:  # noqa: BLE001 - not even CIF syntax: pymatgen's words stand
        blocks = {}
    problems = [_diagnose_cif_block(name, block, DEFAULT_MIN_DISTANCE)
                for name, block in blocks.items()]
    problem = next((p for p in problems if p), None)
    if problem:
        raise InputFileError(f"{where}: {problem}")
    raise InputFileError(f"{where}: cannot read a structure from the CIF ({detail})")


def _read_extxyz(text: str, where: str) -> list[Structure]:
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    try:
        frames = read(io.StringIO(text), format="extxyz", index=":")
    except Exception as exc:  # noqa: BLE001
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputFileError(f"{where}: cannot read the extxyz file ({detail})") from None
    out = []
    for k, atoms in enumerate(frames):
        if not all(atoms.pbc):
            raise InputFileError(f"{where}: frame {k} is not periodic in all three "
                                 "directions (pbc must be T T T with a Lattice)")
        matrix = np.asarray(atoms.cell.array, dtype=float)
        if not np.all(np.isfinite(matrix)) or not abs(np.linalg.det(matrix)) > 1e-6:
            raise InputFileError(f"{where}: frame {k}: the lattice is not finite or has no "
                                 f"volume ({matrix.tolist()})")
        try:
            out.append(AseAtomsAdaptor.get_structure(atoms))
        except Exception as exc:  # noqa: BLE001 - an unusable frame is one line
            detail = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise InputFileError(f"{where}: frame {k}: cannot make a structure ({detail})"
                                 ) from None
    return out


def _read_other(text: str, kind: str, where: str) -> list[Structure]:
    from pymatgen.core import Structure

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "json":
                data = json.loads(text)
                items = data if isinstance(data, list) else [data]
                return [Structure.from_dict(item) for item in items]
            return [Structure.from_str(text, fmt="poscar")]
    except Exception as exc:  # noqa: BLE001
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputFileError(f"{where}: cannot read a structure from the {kind} file "
                             f"({detail})") from None


def _cif_listed_positions(text: str) -> int:
    """Distinct (x, y, z) rows of the first ``_atom_site_fract_*`` loop of a CIF."""
    headers: list[str] = []
    positions: set[tuple[str, ...]] = set()
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("_atom_site_") and not positions:
            headers.append(stripped.split()[0])
            continue
        if "_atom_site_fract_x" not in headers:
            headers = [] if stripped.startswith("loop_") else headers
            continue
        if not stripped or stripped.startswith(("loop_", "data_", "_")):
            break
        columns = [headers.index(f"_atom_site_fract_{axis}") for axis in "xyz"]
        values = stripped.split()
        if len(values) == len(headers):
            positions.add(tuple(values[k] for k in columns))
    return len(positions)


def _listed_sites(text: str, kind: str) -> int:
    """A lower bound on the sites of the file's first crystal, read without parsing it: a
    CIF's distinct atom-site positions (symmetry only adds sites), a POSCAR's counts line,
    an extxyz's first line; 0 when the text does not say."""
    if kind == "cif":
        return _cif_listed_positions(text)
    lines = text.splitlines()
    try:
        if kind == "extxyz":
            return int(lines[0].split()[0])
        if kind == "poscar":
            counts = lines[6].split() if not lines[5].split()[0].isdigit() else lines[5].split()
            return sum(int(n) for n in counts)
    except (IndexError, ValueError):
        return 0
    return 0


def read_structures(path: str | Path, *, what: str = "structure file",
                    max_bytes: int = MAX_STRUCTURE_BYTES, where: str | None = None,
                    max_sites: int | None = None, max_sites_reason: str = "the limit"
                    ) -> list[Structure]:
    """Every crystal in ``path`` (CIF blocks, extxyz frames, a JSON list; one for a
    POSCAR), or a one-line :class:`~chggen_kernels.files.InputFileError` naming the file
    and the cause (``where``, default ``<what> '<path>'``, starts it). A file listing more
    than ``max_sites`` atoms is refused before it is parsed (``max_sites_reason`` names the
    limit). The structures are
    not checked further here: :func:`~chggen_kernels.structure_check.check_structure`
    does that."""
    path = Path(path)
    where = where or f"{what} {str(path)!r}"
    try:
        text = read_text_file(path, what=what, max_bytes=max_bytes)
    except InputFileError as exc:
        raise InputFileError(f"{where}: {str(exc).split(': ', 1)[-1]}") from None
    if not text.strip():
        raise InputFileError(f"{where}: the file is empty")
    kind = file_kind(path)
    if not kind:
        kind = "cif" if "_cell_length_a" in text else "poscar"
    listed = _listed_sites(text, kind) if max_sites is not None else 0
    if max_sites is not None and listed > max_sites:
        raise InputFileError(f"{where}: at least {listed:,} atoms, more than "
                             f"{max_sites_reason} = {max_sites:,} (refused before parsing)")
    if kind == "cif":
        structures = _read_cif(text, where)
    elif kind == "extxyz":
        structures = _read_extxyz(text, where)
    else:
        structures = _read_other(text, kind, where)
    if not structures:
        raise InputFileError(f"{where}: no structure in the file")
    return structures


def read_structure(path: str | Path, *, what: str = "structure file",
                   max_bytes: int = MAX_STRUCTURE_BYTES, where: str | None = None,
                   max_sites: int | None = None, max_sites_reason: str = "the limit"
                   ) -> Structure:
    """The first crystal of ``path`` (see :func:`read_structures`)."""
    return read_structures(path, what=what, max_bytes=max_bytes, where=where,
                           max_sites=max_sites, max_sites_reason=max_sites_reason)[0]
