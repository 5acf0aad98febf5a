"""One check of a structure before any work: the same rules at every entry point.

:func:`check_structure` refuses, in one line naming the structure (``where``) and the
site, a crystal with no sites, more atoms than the sampler and relaxation take
(``max_atoms``), a lattice that is not finite or has no volume, coordinates that are not
finite, species that are not chemical elements or that a model or potential does not
support (:class:`ElementSupport`), and two atoms (any periodic image) closer than
``min_distance`` Å. Partly occupied sites are allowed (hosts may have them); each of their
species is checked.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from chggen_kernels.errors import InputError

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "CHGNET_SUPPORT",
    "DEFAULT_MIN_DISTANCE",
    "MAX_ATOMIC_NUMBER",
    "MAX_CELLS_AWAY",
    "MAX_VOLUME_PER_ATOM",
    "ElementSupport",
    "StructureCheckError",
    "check_structure",
]

#: Atoms closer than this (Å, any periodic image) are "on one site". The shortest bond
#: of an ordered crystal is H-H at 0.74 Å.
DEFAULT_MIN_DISTANCE = 0.5
#: The heaviest element (Og); the score model embeds Z 1..118.
MAX_ATOMIC_NUMBER = 118
#: Largest volume per atom of a crystal, Å^3/atom (the loosest solids are near 100; a
#: molecule in a 20 Å vacuum box has a few hundred).
MAX_VOLUME_PER_ATOM = 10_000.0
#: Largest fractional coordinate, in cells (a position far outside its cell is a broken
#: file, and it makes neighbour searches walk that many images).
MAX_CELLS_AWAY = 1_000


class StructureCheckError(InputError):
    """A structure cannot be used; the message names it, the site and the value."""


@dataclasses.dataclass(frozen=True)
class ElementSupport:
    """The elements a model or potential knows: atomic numbers 1..``max_atomic_number``
    (and, when given, only those in ``elements``). ``name`` appears in messages, e.g.
    ``"the potential chgnet"``."""

    name: str
    max_atomic_number: int = MAX_ATOMIC_NUMBER
    elements: frozenset[str] | None = None

    def problem(self, symbol: str, z: int) -> str | None:
        """Why ``symbol`` (atomic number ``z``) is not supported, or ``None``."""
        if z > self.max_atomic_number:
            return (f"element {symbol} (Z = {z}) is not supported by {self.name} "
                    f"(elements Z 1-{self.max_atomic_number})")
        if self.elements is not None and symbol not in self.elements:
            return (f"element {symbol} is not supported by {self.name} "
                    f"({len(self.elements)} elements)")
        return None


#: CHGNet's atom embedding covers Z 1-94 (H to Pu).
CHGNET_SUPPORT = ElementSupport(name="the potential chgnet", max_atomic_number=94)


def _site_name(structure: Structure, index: int) -> str:
    site = structure[index]
    label = getattr(site, "label", None)
    species = site.species_string
    return f"site {index} ({label})" if label and label != species else \
        f"site {index} ({species})"


def _check_numbers(structure: Structure, where: str) -> None:
    matrix = np.asarray(structure.lattice.matrix, dtype=float)
    if not np.all(np.isfinite(matrix)):
        raise StructureCheckError(f"{where}: the lattice is not finite ({matrix.tolist()})")
    volume = float(abs(np.linalg.det(matrix)))
    if not volume > 1e-6:
        raise StructureCheckError(f"{where}: the lattice has no volume ({volume:.3g} Å^3)")
    per_atom = volume / len(structure)
    if per_atom > MAX_VOLUME_PER_ATOM:
        raise StructureCheckError(f"{where}: {per_atom:.3g} Å^3 per atom, more than "
                                  f"{MAX_VOLUME_PER_ATOM:,} Å^3/atom (isolated atoms, not a "
                                  "crystal)")
    coords = np.asarray(structure.frac_coords, dtype=float)
    bad = np.flatnonzero(~np.all(np.isfinite(coords), axis=1))
    if len(bad):
        i = int(bad[0])
        raise StructureCheckError(f"{where}: {_site_name(structure, i)} has coordinates that "
                                  f"are not finite ({coords[i].tolist()})")
    far = np.flatnonzero(np.any(np.abs(coords) > MAX_CELLS_AWAY, axis=1))
    if len(far):
        i = int(far[0])
        raise StructureCheckError(f"{where}: {_site_name(structure, i)} lies more than "
                                  f"{MAX_CELLS_AWAY:,} cells away (fractional coordinates "
                                  f"{coords[i].tolist()})")


def _check_species(structure: Structure, where: str,
                   supports: Sequence[ElementSupport]) -> None:
    from pymatgen.core import Element

    seen: set[str] = set()
    for index, site in enumerate(structure):
        for specie in site.species:
            element = getattr(specie, "element", specie)
            if not isinstance(element, Element):
                raise StructureCheckError(f"{where}: {_site_name(structure, index)}: "
                                          f"{str(specie)!r} is not a chemical element")
            symbol = element.symbol
            if symbol in seen:
                continue
            seen.add(symbol)
            for support in supports:
                problem = support.problem(symbol, int(element.Z))
                if problem:
                    raise StructureCheckError(f"{where}: {problem}")


def _check_distances(structure: Structure, where: str, min_distance: float) -> None:
    from pymatgen.core import Structure

    wrapped = Structure(structure.lattice, [site.species for site in structure],
                        np.mod(structure.frac_coords, 1.0))
    centers, neighbors, _, distances = wrapped.get_neighbor_list(min_distance)
    if len(distances) == 0:
        return
    k = int(np.argmin(distances))
    i, j = sorted((int(centers[k]), int(neighbors[k])))
    d = float(distances[k])
    if i == j:
        problem = f"{_site_name(structure, i)} is {d:.3f} Å from its own periodic image"
    else:
        problem = (f"sites {i} ({structure[i].species_string}) and {j} "
                   f"({structure[j].species_string}) are {d:.3f} Å apart")
    raise StructureCheckError(f"{where}: overlapping atoms: {problem}, below "
                              f"{min_distance:g} Å")


def check_structure(structure: Structure, *, where: str, max_atoms: int,
                    supports: Sequence[ElementSupport] = (CHGNET_SUPPORT,),
                    min_distance: float = DEFAULT_MIN_DISTANCE,
                    max_atoms_reason: str = "limits.atoms_per_cell") -> None:
    """Refuse ``structure`` (:class:`StructureCheckError`, one line starting with
    ``where``) unless it has 1..``max_atoms`` sites, a finite lattice with volume, finite
    coordinates, only supported chemical elements and no two atoms closer than
    ``min_distance`` Å (0: distances not checked). ``max_atoms_reason`` names where the
    atom limit comes from."""
    n = len(structure)
    if n == 0:
        raise StructureCheckError(f"{where}: the structure has no sites")
    if n > max_atoms:
        raise StructureCheckError(f"{where}: {n:,} atoms, more than {max_atoms_reason} = "
                                  f"{max_atoms:,} (a cell is sampled and relaxed whole)")
    _check_numbers(structure, where)
    _check_species(structure, where, supports)
    if not (math.isfinite(min_distance) and min_distance >= 0):
        raise ValueError(f"min_distance must be a number of Å >= 0, got {min_distance!r}")
    if min_distance > 0:
        _check_distances(structure, where, min_distance)
