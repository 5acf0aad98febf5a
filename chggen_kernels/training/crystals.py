"""The records of a training set: one crystal, one skipped crystal, a loaded set.

Kept apart from the readers (:mod:`~chggen_kernels.training.data`,
:mod:`~chggen_kernels.training.parquet`) so that each reader imports these and neither
imports the other's module at load time.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from chggen_kernels.errors import CrystalInputError

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = [
    "SkippedCrystal",
    "TrainingCrystal",
    "TrainingData",
    "TrainingDataError",
    "dataset_hash",
]


class TrainingDataError(CrystalInputError):
    """A training set or one of its crystals is unusable; the message names which and why."""


@dataclasses.dataclass(frozen=True)
class TrainingCrystal:
    """One training crystal with its provenance.

    ``row`` is the position in the source (Parquet row, file number in sorted order or
    extxyz frame), ``source`` where it came from (a database name or a file path);
    ``energy_per_atom`` in eV/atom when known; ``provenance`` free string fields.
    """

    structure_id: str
    structure: Structure
    source: str = ""
    energy_per_atom: float | None = None
    provenance: Mapping[str, str] = dataclasses.field(default_factory=dict)
    row: int | None = None

    @property
    def label(self) -> str:
        """How messages name the crystal, e.g. ``crystal 'mp-123' (row 4)``."""
        return _label(self.structure_id, self.row)


@dataclasses.dataclass(frozen=True)
class SkippedCrystal:
    """A crystal left out in ``on_invalid="skip"`` mode, with the full error message."""

    structure_id: str
    row: int | None
    reason: str


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """Validated crystals of one source plus the ones skipped (with reasons)."""

    crystals: tuple[TrainingCrystal, ...]
    skipped: tuple[SkippedCrystal, ...]
    path: str

    @property
    def n_read(self) -> int:
        return len(self.crystals) + len(self.skipped)

    def structures(self) -> list[Structure]:
        return [c.structure for c in self.crystals]

    @functools.cached_property
    def hash(self) -> str:
        """:func:`dataset_hash` of the kept crystals (computed once)."""
        return dataset_hash(self.crystals)


def _label(structure_id: str, row: int | None) -> str:
    return f"crystal {structure_id!r}" + ("" if row is None else f" (row {row})")


# ---------------------------------------------------------------------------- validation


def dataset_hash(crystals: Sequence[TrainingCrystal]) -> str:
    """SHA-256 fingerprint of the crystals in order: ids, species, lattices and positions
    (rounded to 1e-6 Å) -- stored in checkpoints to tie a model to its data."""
    h = hashlib.sha256()
    for c in crystals:
        s = c.structure
        h.update(c.structure_id.encode())
        h.update(np.asarray(s.atomic_numbers, dtype=np.int64).tobytes())
        h.update(np.round(np.asarray(s.lattice.matrix, float), 6).tobytes())
        h.update(np.round(np.asarray(s.cart_coords, float), 6).tobytes())
    return h.hexdigest()

