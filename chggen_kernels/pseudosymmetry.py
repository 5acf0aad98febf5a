"""Two-fold pseudo-symmetry of a framework, found and imposed without spglib's search.

At the large tolerances of the framework ladder (1-2 Å) spglib often answers P1 for a
framework that *does* map onto itself within the tolerance under a two-fold operation
(a mirror, a glide, a two-fold rotation or screw axis): at such tolerances its search for
pure translations finds spurious ones, it fails ("ssm_get_exact_positions failed"), and it
retries at a smaller tolerance, down to where no symmetry is left. This module does the
search directly, for order-2 operations other than the inversion (which only gives P-1):

1. the point operations of the lattice at the tolerance (spglib on a one-atom cell);
2. for each, the translations that carry one atom of the least numerous species onto an
   atom of that species; for each (R, t), a one-to-one assignment of every atom to an
   atom of its species (Hungarian algorithm on periodic Cartesian distances), and t
   re-fitted to the assigned partners;
3. the operation whose largest assigned displacement is smallest, if it is within the
   tolerance, is imposed exactly: the metric is averaged with its image, the translation
   made consistent (g^2 a lattice translation) and each atom moved halfway to the image of
   its partner.

The result is a structure with the same atoms (nothing merged, no composition change), each
moved by at most about half the operation's deviation, in which spglib at a small
tolerance finds at least that operation. :func:`impose_twofold` returns ``None`` when no
operation is within the tolerance or when imposing it would push atoms closer than
``min_distance_ratio`` times the framework's shortest interatomic distance.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import spglib
from pymatgen.core import Lattice, Structure
from scipy.optimize import linear_sum_assignment

__all__ = ["TwofoldOperation", "find_twofold", "impose_twofold"]

_IDENTITY = np.eye(3, dtype=int)
#: Times the translation is re-fitted to the assigned partners (mean residual) and the
#: atoms re-assigned: the first guess puts one atom exactly onto another, so every other
#: deviation carries that atom's own displacement.
_TRANSLATION_REFINEMENTS = 2


@dataclasses.dataclass(frozen=True)
class TwofoldOperation:
    """An order-2 operation x -> R x + t (fractional) and the atoms it pairs.

    Attributes:
        rotation: integer 3x3 matrix in the structure's lattice basis (R^2 = I, R != -I).
        translation: fractional translation, made consistent ((I + R) t integer).
        permutation: ``permutation[i]`` is the atom the image of atom ``i`` lands on.
        deviation: largest distance (Å) between an atom's image and its partner before
            the operation was imposed.
    """

    rotation: np.ndarray
    translation: np.ndarray
    permutation: np.ndarray
    deviation: float


def _lattice_rotations(lattice: Lattice, symprec: float, angle_tolerance: float) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sym = spglib.get_symmetry((lattice.matrix, [[0.0, 0.0, 0.0]], [1]), symprec=symprec,
                                  angle_tolerance=angle_tolerance)
    if not sym:
        return []
    return [r for r in sym["rotations"]
            if not np.array_equal(r, _IDENTITY) and not np.array_equal(r, -_IDENTITY)
            and np.array_equal(r @ r, _IDENTITY)]


def _assignment(frac: np.ndarray, groups: list[np.ndarray], matrix: np.ndarray,
                rotation: np.ndarray, translation: np.ndarray) -> tuple[np.ndarray, float]:
    """One-to-one map atom -> partner (per species) and the largest displacement in Å."""
    image = frac @ rotation.T + translation
    perm = np.empty(len(frac), dtype=int)
    worst = 0.0
    for idx in groups:
        diff = image[idx][:, None, :] - frac[idx][None, :, :]
        diff -= np.round(diff)
        dist = np.linalg.norm(diff @ matrix, axis=-1)
        rows, cols = linear_sum_assignment(dist ** 2)
        perm[idx[rows]] = idx[cols]
        worst = max(worst, float(dist[rows, cols].max()))
    return perm, worst


def find_twofold(structure: Structure, symprec: float,
                 angle_tolerance: float) -> TwofoldOperation | None:
    """The order-2 operation (not the inversion) mapping ``structure`` onto itself with
    the smallest largest displacement, if that is at most ``symprec`` Å; else None.

    Args:
        structure: ordered structure (e.g. a framework with its guests removed).
        symprec: largest displacement allowed, Å.
        angle_tolerance: tolerance for the lattice's point operations, degrees.
    """
    frac = np.mod(structure.frac_coords, 1.0)
    matrix = structure.lattice.matrix
    numbers = np.array([site.specie.Z for site in structure])
    groups = [np.flatnonzero(numbers == z) for z in np.unique(numbers)]
    anchor_group = min(groups, key=len)
    anchor = anchor_group[0]
    best: TwofoldOperation | None = None
    for rotation in _lattice_rotations(structure.lattice, symprec, angle_tolerance):
        for target in anchor_group:
            translation = frac[target] - rotation @ frac[anchor]
            perm, worst = _assignment(frac, groups, matrix, rotation, translation)
            for _ in range(_TRANSLATION_REFINEMENTS):  # least-squares translation
                residual = frac[perm] - (frac @ rotation.T + translation)
                translation = translation + (residual - np.round(residual)).mean(axis=0)
                perm, worst = _assignment(frac, groups, matrix, rotation, translation)
            if worst > symprec or (best is not None and worst >= best.deviation):
                continue
            if not np.array_equal(perm[perm], np.arange(len(perm))):
                continue  # the pairing must itself be two-fold
            best = TwofoldOperation(rotation, translation, perm, worst)
    if best is None:
        return None
    return dataclasses.replace(best, translation=_consistent_translation(best))


def _consistent_translation(op: TwofoldOperation) -> np.ndarray:
    """Shift t so that (I + R) t is a lattice vector (then g^2 is a pure translation)."""
    t = op.translation
    residual = (_IDENTITY + op.rotation) @ t
    return t - (residual - np.round(residual)) / 2.0


def _symmetric_lattice(lattice: Lattice, rotation: np.ndarray) -> Lattice:
    """Lattice whose metric is the average of the metric and its image under R."""
    metric = lattice.matrix @ lattice.matrix.T
    metric = 0.5 * (metric + rotation.T @ metric @ rotation)
    a, b, c = np.sqrt(np.diag(metric))
    alpha = np.degrees(np.arccos(metric[1, 2] / (b * c)))
    beta = np.degrees(np.arccos(metric[0, 2] / (a * c)))
    gamma = np.degrees(np.arccos(metric[0, 1] / (a * b)))
    return Lattice.from_parameters(a, b, c, alpha, beta, gamma)


def impose_twofold(structure: Structure, symprec: float, angle_tolerance: float,
                   min_distance_ratio: float = 0.7) -> tuple[Structure, TwofoldOperation] | None:
    """``structure`` made exactly invariant under its best two-fold operation.

    Args:
        structure: ordered structure.
        symprec: largest displacement the operation may need, Å.
        angle_tolerance: lattice tolerance, degrees.
        min_distance_ratio: reject the result when its shortest interatomic distance is
            below this fraction of the input's.

    Returns:
        (symmetrised structure, the operation), or None when no two-fold operation is
        within ``symprec`` or imposing it would push atoms together.
    """
    op = find_twofold(structure, symprec, angle_tolerance)
    if op is None:
        return None
    frac = np.mod(structure.frac_coords, 1.0)
    rotation, translation, perm = op.rotation, op.translation, op.permutation
    new = frac.copy()
    for i, j in enumerate(perm):
        if j < i:
            continue
        image = rotation @ frac[i] + translation
        shift = np.round(image - frac[j])  # lattice vector: g(x_i) = x_j + shift (approx.)
        # x_i' is the midpoint of x_i and g^-1(x_j + shift); then x_j' = g(x_i') - shift
        back = rotation @ (frac[j] + shift - translation)  # R^-1 = R
        new[i] = 0.5 * (frac[i] + back)
        if j != i:
            new[j] = rotation @ new[i] + translation - shift
    lattice = _symmetric_lattice(structure.lattice, rotation)
    result = Structure(lattice, structure.species, np.mod(new, 1.0))
    if len(structure) > 1:
        before = _min_distance(structure)
        if _min_distance(result) < min_distance_ratio * before:
            return None
    return result, op


def _min_distance(structure: Structure) -> float:
    dist = structure.distance_matrix
    return float(dist[~np.eye(len(structure), dtype=bool)].min())
