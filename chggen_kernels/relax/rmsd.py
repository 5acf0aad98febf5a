"""RMSD between a generated structure and its relaxed counterpart (Å).

Primary definition (the CHGGen paper's): pymatgen ``StructureMatcher`` with
``primitive_cell=False, scale=True, attempt_supercell=False``; ``get_rms_dist`` returns
the RMS displacement normalised by ``(V/N)^(1/3)``, where V is the volume both
structures are scaled to (``scale=True`` rescales both to the geometric mean
``sqrt(V_generated * V_relaxed)``). We multiply back by ``(sqrt(V_gen V_rel) / N)^(1/3)``.
pymatgen computes the distances in the parameter-average of the two scaled lattices; its
volume differs from the geometric mean by a fraction of a percent for lattices within
``ltol``, i.e. the Å value is exact to that order. A purely isotropic volume change gives
RMSD 0 by construction.

Fallback when the matcher finds no match (lattices or sites differ beyond the
tolerances): the relaxation keeps atom identity, so the displacement of every atom is
known. Fractional displacements ``f_rel - f_gen`` are wrapped to the minimum image
(``[-0.5, 0.5)``), their mean (a rigid translation) is removed, and they are converted to
Cartesian with the *relaxed* lattice. This also ignores isotropic and shape changes of
the cell (fractional coordinates do not change with them), like the primary definition.
"""

from __future__ import annotations

import math

import numpy as np
from pymatgen.core import Structure
from pymatgen.core.structure_matcher import StructureMatcher

__all__ = ["fractional_displacement_rmsd", "relaxation_rmsd"]


def fractional_displacement_rmsd(generated: Structure, relaxed: Structure) -> float:
    """RMS minimum-image displacement in Å (translation removed, relaxed lattice).

    Site ``i`` of ``relaxed`` must be the relaxed image of site ``i`` of ``generated``.
    """
    if len(generated) != len(relaxed):
        raise ValueError(
            f"fractional_displacement_rmsd needs equal site counts, got {len(generated)} "
            f"and {len(relaxed)}"
        )
    d = relaxed.frac_coords - generated.frac_coords
    d -= np.round(d)
    d -= d.mean(axis=0)
    cart = d @ relaxed.lattice.matrix
    return float(np.sqrt((cart * cart).sum(axis=1).mean()))


def relaxation_rmsd(
    generated: Structure,
    relaxed: Structure,
    *,
    ltol: float = 0.3,
    stol: float = 0.5,
    angle_tol: float = 10.0,
) -> tuple[float, str]:
    """``(rmsd Å, method)``: the StructureMatcher RMSD, else the fractional fallback.

    ``method`` is ``'structure_matcher'``, ``'fractional_displacement'`` or ``'none'``
    (then ``rmsd`` is NaN: the site lists do not correspond).
    """
    matcher = StructureMatcher(
        ltol=ltol,
        stol=stol,
        angle_tol=angle_tol,
        primitive_cell=False,
        scale=True,
        attempt_supercell=False,
    )
    try:
        match = matcher.get_rms_dist(generated, relaxed)
    except Exception:  # noqa: BLE001 - matcher failures fall back to the definition below
        match = None
    if match is not None:
        n = len(generated)
        mean_volume = math.sqrt(generated.volume * relaxed.volume)
        return float(match[0]) * (mean_volume / n) ** (1.0 / 3.0), "structure_matcher"
    same_sites = len(generated) == len(relaxed) and [s.species for s in generated] == [
        s.species for s in relaxed
    ]
    if not same_sites:
        return math.nan, "none"
    return fractional_displacement_rmsd(generated, relaxed), "fractional_displacement"
