"""Supercell copies of training crystals: the same crystal as a larger periodic cell.

A small set of crystals of one chemistry (e.g. the substituted thiophosphates, mostly 8-12
sites) teaches the score model those local environments only in small cells, while the
workflow samples cells of 18-24 sites as well. Doubling a crystal along its shortest
lattice vector keeps every environment and gives the model the same chemistry at twice
the number of atoms, with independent noise on each copy during training.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Structure

__all__ = ["doubled_cell"]


def doubled_cell(structure: Structure, max_atoms: int) -> Structure | None:
    """``structure`` doubled along its shortest lattice vector (Å), or ``None`` when the
    doubled cell would have more than ``max_atoms`` sites."""
    if max_atoms < 1:
        raise ValueError(f"max_atoms must be >= 1, got {max_atoms!r}")
    if 2 * len(structure) > max_atoms:
        return None
    scaling = [1, 1, 1]
    scaling[int(np.argmin(structure.lattice.abc))] = 2
    doubled = structure.copy()
    doubled.make_supercell(scaling)
    return doubled
