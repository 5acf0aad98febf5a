"""Cheap geometric screens run before (and after) a relaxation.

Each check returns ``None`` when the structure passes, or a failure reason
``"<code>: <detail>"`` (codes from :data:`~chggen_kernels.relax.settings.FAILURE_CODES`).
All distances include every periodic image (pymatgen ``get_neighbor_list``), so an atom
too close to its own image in a tiny cell is caught too.
"""

from __future__ import annotations

import math

import numpy as np
from pymatgen.core import Element, Structure

__all__ = ["check_isolated_atoms", "check_min_distance", "check_valid_structure"]


def check_valid_structure(structure: Structure) -> str | None:
    """Empty, disordered, non-element, non-finite or degenerate (volume <= 1e-6 Å^3) fail."""
    if len(structure) == 0:
        return "invalid_structure: the structure has no sites"
    if not structure.is_ordered:
        return "invalid_structure: the structure is disordered (partial occupancies)"
    for i, site in enumerate(structure):
        if not Element.is_valid_symbol(getattr(site.specie, "symbol", "")):
            return f"invalid_structure: site {i} holds {site.specie}, not a chemical element"
    matrix = structure.lattice.matrix
    if not np.isfinite(matrix).all():
        return "invalid_structure: the lattice has non-finite entries"
    if not np.isfinite(structure.frac_coords).all():
        return "invalid_structure: some coordinates are non-finite"
    volume = float(abs(np.linalg.det(matrix)))
    if not volume > 1e-6:
        return f"invalid_structure: cell volume {volume:.3g} Å^3 is not positive"
    return None


def min_pair(structure: Structure, cutoff: float) -> tuple[int, int, float] | None:
    """Closest pair ``(i, j, distance Å)`` with distance < ``cutoff``, any image; else None."""
    centers, neighbors, _, distances = structure.get_neighbor_list(cutoff)
    if len(distances) == 0:
        return None
    k = int(np.argmin(distances))
    i, j = sorted((int(centers[k]), int(neighbors[k])))
    return i, j, float(distances[k])


def check_min_distance(structure: Structure, min_distance: float, when: str = "") -> str | None:
    """Fail if two atoms (or an atom and its own image) are closer than ``min_distance`` Å."""
    pair = min_pair(structure, min_distance)
    if pair is None:
        return None
    i, j, d = pair
    si, sj = structure[i].specie, structure[j].specie
    what = (
        f"site {i} ({si}) is {d:.3f} Å from its own periodic image"
        if i == j
        else f"sites {i} ({si}) and {j} ({sj}) are {d:.3f} Å apart"
    )
    suffix = f" {when}" if when else ""
    return f"min_distance: {what}, below min_distance {min_distance:g} Å{suffix}"


def check_isolated_atoms(structure: Structure, isolated_distance: float) -> str | None:
    """Fail if some atom has no neighbour (any image) closer than ``isolated_distance`` Å."""
    centers, _, _, _ = structure.get_neighbor_list(isolated_distance)
    has_neighbor = np.zeros(len(structure), dtype=bool)
    has_neighbor[np.asarray(centers, dtype=int)] = True
    isolated = np.flatnonzero(~has_neighbor)
    if isolated.size == 0:
        return None
    listed = ", ".join(f"{int(i)} ({structure[int(i)].specie})" for i in isolated[:5])
    more = "" if isolated.size <= 5 else f" and {isolated.size - 5} more"
    return (
        f"isolated_atom: site(s) {listed}{more} have no neighbour within "
        f"isolated_distance {isolated_distance:g} Å"
    )


def volume_ratio_failure(volume: float, volume_initial: float, max_ratio: float) -> str | None:
    """Fail if ``volume / volume_initial`` left ``[1/max_ratio, max_ratio]``."""
    ratio = volume / volume_initial
    if math.isfinite(ratio) and 1.0 / max_ratio <= ratio <= max_ratio:
        return None
    kind = "exploded" if ratio > 1 else "collapsed"
    return (
        f"volume_change: the cell {kind}: volume {volume_initial:.3f} -> {volume:.3f} Å^3 "
        f"(ratio {ratio:.3g}, allowed [{1 / max_ratio:.3g}, {max_ratio:.3g}])"
    )
