"""Candidate structures from outside the package: the Materials Project and the user's files.

* :func:`mp_structures`: Materials Project structures of a chemical system and of all its
  subsystems, with MP energy above hull at most ``e_above_hull_max`` (eV/atom) and at most
  ``max_atoms`` sites, through ``mp_api`` (the client is injectable; tests use a fake).
  The filters are sent with the query and checked again on every returned document.
* :func:`structures_from_files`: a folder of CIF/POSCAR/.vasp files, one such file, or an
  extended-XYZ file. Ids come from the file name (and frame) plus a hash of the structure,
  so renaming or editing a file makes a new candidate and nothing else does.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure

from chggen_kernels.datasets.sources import (
    DEFAULT_MAX_ATOMS,
    SourceStructure,
    parse_chemsys,
    structure_id,
)
from chggen_kernels.errors import RunFailedError

__all__ = [
    "MP_FIELDS",
    "MPSourceError",
    "mp_structures",
    "structure_fingerprint",
    "structures_from_files",
    "subsystems",
]

MP_FIELDS = ("material_id", "structure", "energy_above_hull", "nsites", "formula_pretty")


class MPSourceError(RunFailedError):
    """The Materials Project source cannot deliver (no API key, no mp-api, failed query)."""


def subsystems(chemsys: str | Sequence[str]) -> list[str]:
    """Every non-empty subsystem of ``chemsys``: 'Li-Si' -> ['Li', 'Si', 'Li-Si']."""
    elements = parse_chemsys(chemsys)
    return ["-".join(c) for k in range(1, len(elements) + 1)
            for c in itertools.combinations(elements, k)]


def structure_fingerprint(structure: Structure) -> str:
    """16 hex digits of SHA-256 over species, lattice (Å) and wrapped fractional coordinates,
    rounded to 1e-5 (so a re-read of the same file gives the same hash)."""
    h = hashlib.sha256()
    h.update(" ".join(site.species_string for site in structure).encode())
    h.update(np.round(np.asarray(structure.lattice.matrix, float), 5).tobytes())
    frac = np.round(np.mod(np.asarray(structure.frac_coords, float), 1.0), 5) % 1.0
    h.update(frac.tobytes())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------ Materials Project
def _default_client() -> Any:
    key = os.environ.get("MP_API_KEY")
    if not key:
        raise MPSourceError(
            "the 'mp' source needs a Materials Project API key: set the MP_API_KEY "
            "environment variable (or pass client=...)"
        )
    try:
        from mp_api.client import MPRester
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MPSourceError("the 'mp' source needs mp-api (pip install 'chggen[mp]')") from exc
    return MPRester(key)


def _field(doc: Any, name: str) -> Any:
    if isinstance(doc, Mapping):
        return doc.get(name)
    return getattr(doc, name, None)


def _search(client: Any, chemsys: list[str], max_atoms: int, e_max: float) -> list[Any]:
    search = client.materials.summary.search
    kwargs: dict[str, Any] = {
        "chemsys": chemsys,
        "energy_above_hull": (0.0, e_max),
        "num_sites": (1, max_atoms),
        "deprecated": False,
        "fields": list(MP_FIELDS),
    }
    try:
        if "include_gnome" in inspect.signature(search).parameters:
            kwargs["include_gnome"] = False  # Materials Project's own calculations only
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        pass
    return list(search(**kwargs))


def mp_structures(
    chemsys: str | Sequence[str],
    client: Any = None,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    e_above_hull_max: float = 0.1,
) -> list[SourceStructure]:
    """Materials Project structures of ``chemsys`` and its subsystems, sorted by material id.

    Args:
        chemsys: e.g. ``"Li-Si"``; the elements and every binary etc. inside are queried.
        client: an object with ``materials.summary.search(**criteria)`` returning documents
            (objects or dicts with ``material_id``, ``structure``, ``energy_above_hull``);
            ``None`` builds ``mp_api.client.MPRester`` from ``MP_API_KEY``.
        max_atoms: most sites per cell.
        e_above_hull_max: most MP energy above hull, eV/atom.

    Raises:
        ValueError: a bad ``max_atoms`` / ``e_above_hull_max`` (named) or chemical system.
        MPSourceError: no key, no mp-api, or the query failed (the key is never shown).
    """
    if isinstance(max_atoms, bool) or not isinstance(max_atoms, int) or max_atoms < 1:
        raise ValueError(f"max_atoms must be an int >= 1, got {max_atoms!r}")
    if isinstance(e_above_hull_max, bool) or not isinstance(e_above_hull_max, int | float) or not (
        math.isfinite(e_above_hull_max) and e_above_hull_max >= 0
    ):
        raise ValueError(f"e_above_hull_max must be a finite number >= 0 eV/atom, "
                         f"got {e_above_hull_max!r}")
    elements = set(parse_chemsys(chemsys))
    systems = subsystems(chemsys)
    owned = client is None
    if owned:
        client = _default_client()
    try:
        if owned and hasattr(client, "__enter__"):
            with client as rester:
                docs = _search(rester, systems, max_atoms, e_above_hull_max)
        else:
            docs = _search(client, systems, max_atoms, e_above_hull_max)
    except MPSourceError:
        raise
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        key = os.environ.get("MP_API_KEY")
        if key:
            message = message.replace(key, "***")
        raise MPSourceError(f"Materials Project query for {'-'.join(sorted(elements))} "
                            f"failed ({message[:300]})") from None
    out: dict[str, SourceStructure] = {}
    for doc in docs:
        mid = _field(doc, "material_id")
        e_hull = _field(doc, "energy_above_hull")
        structure = _field(doc, "structure")
        if mid is None or e_hull is None or structure is None:
            continue
        if isinstance(structure, Mapping):
            structure = Structure.from_dict(structure)
        if not (float(e_hull) <= e_above_hull_max) or len(structure) > max_atoms:
            continue
        if not structure.is_ordered or not (
            {el.symbol for el in structure.composition.elements} <= elements
        ):
            continue
        mid = str(mid)
        out[mid] = SourceStructure(structure_id("mp", mid), structure.copy(), "mp", mid)
    return [out[k] for k in sorted(out)]


# ------------------------------------------------------------------ files
def structures_from_files(
    path: str | os.PathLike[str],
    skipped: list[str] | None = None,
) -> list[SourceStructure]:
    """Structures of a CIF/POSCAR folder (recursive), one structure file, or an extxyz file.

    ``prototype`` is the file's path relative to the folder (``name.extxyz:frame`` for
    extxyz frames); the id hashes that name with :func:`structure_fingerprint`. Unreadable
    or invalid crystals (overlapping atoms, partial occupancy, ...) are left out and their
    reasons appended to ``skipped`` when given.

    Raises:
        TrainingDataError: the path does not exist or holds no usable crystal.
    """
    from chggen_kernels.training.data import load_training_data

    data = load_training_data(Path(path), on_invalid="skip")
    if skipped is not None:
        skipped.extend(s.reason for s in data.skipped)
    out = []
    for crystal in data.crystals:
        name = crystal.structure_id
        s = crystal.structure.copy()
        s.remove_oxidation_states()
        out.append(SourceStructure(structure_id("files", name, structure_fingerprint(s)), s,
                                   "files", name))
    return out
