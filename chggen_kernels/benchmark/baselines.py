"""Baselines at equal cost: AIRSS-style random search, random and Voronoi guest sites.

* :func:`random_search_structures`: random symmetric crystals of a fixed cell composition
  (pyxtal, a space group drawn uniformly from those whose Wyckoff positions can hold the
  composition), rescaled to ``n_atoms * volume_per_atom`` Å^3 (the same volume prior as
  chggen's lattices) and reduced to the requested atom count; AIRSS's rejection of close
  contacts is ``min_distance`` (Å).
* :func:`random_guest_structures`: guests at uniform random positions of the host cell,
  each at least ``min_distance`` Å from every atom already there (periodic images too).
* :func:`voronoi_sites` / :func:`voronoi_guest_structures`: the Voronoi vertices of the
  framework (scipy's Qhull on the framework and its periodic images, the tessellation
  pymatgen's ``VoronoiNN`` builds), merged within ``merge_tol`` Å, as candidate guest
  sites. The installed pymatgen ships no interstitial generator
  (``pymatgen.analysis.defects`` moved to the separate pymatgen-analysis-defects package,
  and ``pymatgen.io.zeopp`` needs the zeo++ binary), so these are the classic Voronoi
  interstitial sites computed directly.

Everything is deterministic in ``seed``. A structure that cannot be built comes back as
``(None, reason)`` so the caller records a failed row.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping

import numpy as np
from pymatgen.core import Structure

from chggen_kernels.wyckoff.crystals import (
    centring_multiplicity,
    compatible_space_groups,
    min_interatomic_distance,
    random_symmetric_crystal,
)
from chggen_kernels.wyckoff.prior import WyckoffPrior

#: AIRSS close-contact rejection of :func:`random_search_structures`, Å
#: (``chggen benchmark csp --min-distance``).
RANDOM_SEARCH_MIN_DISTANCE = 1.0
#: Closest contact of a random or Voronoi guest, Å (:func:`random_guest_structures`,
#: :func:`voronoi_guest_structures`; ``chggen benchmark hosts --min-distance``).
GUEST_MIN_DISTANCE = 1.5

__all__ = [
    "GUEST_MIN_DISTANCE",
    "RANDOM_SEARCH_MIN_DISTANCE",
    "BaselineStructure",
    "centring_multiplicity",
    "compatible_space_groups",
    "min_interatomic_distance",
    "random_guest_structures",
    "random_search_structures",
    "voronoi_guest_structures",
    "voronoi_sites",
]

@dataclasses.dataclass(frozen=True)
class BaselineStructure:
    """One baseline candidate: the structure (None if it could not be built) and why."""

    structure: Structure | None
    label: str  # e.g. "sg166" or "voronoi"
    failure_reason: str | None = None
    spacegroup: int | None = None  # random search: the space group drawn
    wyckoff_letters: str | None = None  # random search: "Li:4e;Si:2a" (ITA labels)


def random_search_structures(
    composition: Mapping[str, int],
    n: int,
    volume_per_atom: float,
    seed: int,
    *,
    min_distance: float = RANDOM_SEARCH_MIN_DISTANCE,
    max_tries: int = 50,
    prior: WyckoffPrior | None = None,
) -> list[BaselineStructure]:
    """``n`` AIRSS-style random crystals of the cell ``composition`` (atoms per cell).

    Each candidate draws a compatible space group uniformly (``prior`` None; with a
    learned :class:`~chggen_kernels.wyckoff.prior.WyckoffPrior`: a space group and Wyckoff
    positions from it) and a pyxtal crystal in it, rescaled to
    ``sum(composition) * volume_per_atom`` Å^3; draws that pyxtal refuses, that reduce to
    another atom count, or that have atoms closer than ``min_distance`` Å after rescaling
    are drawn again, up to ``max_tries`` times (then a failed entry). Labels: ``"sg166"``;
    the space group and Wyckoff letters drawn are kept beside.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not volume_per_atom > 0:
        raise ValueError(f"volume_per_atom must be > 0 Å^3/atom, got {volume_per_atom!r}")
    rng = np.random.default_rng([int(seed), 1729])
    out = []
    for _ in range(n):
        drawn = random_symmetric_crystal(composition, volume_per_atom, rng, prior,
                                         min_distance=min_distance, max_tries=max_tries)
        if drawn.structure is None:
            out.append(BaselineStructure(
                None, "random-search", f"random search: no crystal with atoms >= "
                f"{min_distance} Å apart in {max_tries} draws"))
        else:
            out.append(BaselineStructure(drawn.structure, f"sg{drawn.spacegroup}",
                                         spacegroup=drawn.spacegroup,
                                         wyckoff_letters=drawn.wyckoff_letters))
    return out


def _periodic_clearance(lattice: np.ndarray, frac_existing: np.ndarray,
                        frac_new: np.ndarray) -> np.ndarray:
    """Smallest periodic distance (Å) from each row of ``frac_new`` to ``frac_existing``."""
    if len(frac_existing) == 0:
        return np.full(len(frac_new), np.inf)
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float)
    diff = frac_new[:, None, :] - frac_existing[None, :, :]
    diff -= np.round(diff)
    cart = (diff[:, :, None, :] + shifts[None, None, :, :]) @ lattice
    return np.linalg.norm(cart, axis=-1).min(axis=(1, 2))


def _guest_list(guest_counts: Mapping[str, int]) -> list[str]:
    guests = [g for g, c in sorted(guest_counts.items()) for _ in range(int(c))]
    if not guests:
        raise ValueError(f"guest_counts needs at least one guest, got {dict(guest_counts)}")
    return guests


def _with_guests(framework: Structure, guests: list[str], frac: np.ndarray) -> Structure:
    species = [s.specie.symbol for s in framework] + guests
    coords = np.concatenate([framework.frac_coords, frac]) if len(framework) else frac
    return Structure(framework.lattice, species, coords)


def random_guest_structures(
    framework: Structure,
    guest_counts: Mapping[str, int],
    n: int,
    seed: int,
    *,
    min_distance: float = GUEST_MIN_DISTANCE,
    max_tries: int = 2000,
) -> list[BaselineStructure]:
    """``n`` structures: ``framework`` (first, unchanged) plus guests at random positions.

    Guests are inserted one by one at uniform random fractional positions at least
    ``min_distance`` Å from every atom already placed; a guest that finds no such place
    in ``max_tries`` draws makes the candidate a failed entry.
    """
    guests = _guest_list(guest_counts)
    lattice = np.asarray(framework.lattice.matrix, dtype=float)
    rng = np.random.default_rng([int(seed), 4242])
    out = []
    for _ in range(n):
        placed = np.asarray(framework.frac_coords, dtype=float).reshape(-1, 3)
        reason = None
        for g_index in range(len(guests)):
            trial = rng.uniform(size=(max_tries, 3))
            ok = np.flatnonzero(_periodic_clearance(lattice, placed, trial) >= min_distance)
            if not len(ok):
                reason = (f"random guests: no position {min_distance} Å from every atom for "
                          f"guest {g_index + 1} of {len(guests)} in {max_tries} draws")
                break
            placed = np.concatenate([placed, trial[ok[:1]]])
        if reason:
            out.append(BaselineStructure(None, "random", reason))
            continue
        out.append(BaselineStructure(
            _with_guests(framework, guests, placed[len(framework):]), "random"))
    return out


def voronoi_sites(framework: Structure, min_distance: float = 1.0,
                  merge_tol: float = 0.5) -> list[tuple[np.ndarray, float]]:
    """Voronoi vertices of ``framework`` as ``(fractional position, clearance Å)`` pairs.

    The framework and its 26 neighbouring images are tessellated; vertices inside the home
    cell at least ``min_distance`` Å from every framework atom are kept, vertices closer
    than ``merge_tol`` Å (periodically) merged, and the list sorted by clearance, the
    largest (the most open void) first.
    """
    from scipy.spatial import Voronoi

    if len(framework) == 0:
        raise ValueError("voronoi_sites: the framework has no atoms")
    lattice = np.asarray(framework.lattice.matrix, dtype=float)
    frac = np.asarray(framework.frac_coords, dtype=float) % 1.0
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float)
    images = (frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    cart = images @ lattice
    # a tiny deterministic jitter keeps Qhull away from degenerate (co-spherical) input
    jitter = np.random.default_rng(0).normal(scale=1e-6, size=cart.shape)
    vertices = Voronoi(cart + jitter).vertices
    vfrac = vertices @ np.linalg.inv(lattice)
    inside = np.all((vfrac >= -1e-6) & (vfrac < 1 - 1e-6), axis=1)
    vfrac = vfrac[inside] % 1.0
    vfrac[vfrac > 1 - 1e-6] = 0.0  # -1e-8 wraps to 0.99999999: call it 0
    clearance = _periodic_clearance(lattice, frac, vfrac)
    keep = clearance >= min_distance
    vfrac, clearance = vfrac[keep], clearance[keep]
    order = np.argsort(-clearance, kind="stable")
    sites: list[tuple[np.ndarray, float]] = []
    for i in order:
        taken = np.array([s for s, _ in sites]).reshape(-1, 3)
        if _periodic_clearance(lattice, taken, vfrac[i:i + 1])[0] >= merge_tol:
            sites.append((vfrac[i], float(clearance[i])))
    return sites


def voronoi_guest_structures(
    framework: Structure,
    guest_counts: Mapping[str, int],
    n: int,
    seed: int,
    *,
    min_distance: float = GUEST_MIN_DISTANCE,
    merge_tol: float = 0.5,
) -> list[BaselineStructure]:
    """``n`` structures with the guests on Voronoi sites of ``framework``.

    Sample 0 fills the most open sites first; later samples visit the sites in a random
    order (``seed``). A site is taken when it lies ``min_distance`` Å from the framework
    and from the guests already placed; too few such sites make a failed entry.
    """
    guests = _guest_list(guest_counts)
    lattice = np.asarray(framework.lattice.matrix, dtype=float)
    sites = voronoi_sites(framework, min_distance=min_distance, merge_tol=merge_tol)
    rng = np.random.default_rng([int(seed), 9001])
    out = []
    for k in range(n):
        order = np.arange(len(sites)) if k == 0 else rng.permutation(len(sites))
        chosen: list[np.ndarray] = []
        for i in order:
            taken = np.array(chosen).reshape(-1, 3)
            if _periodic_clearance(lattice, taken, sites[i][0][None, :])[0] >= min_distance:
                chosen.append(sites[i][0])
            if len(chosen) == len(guests):
                break
        if len(chosen) < len(guests):
            out.append(BaselineStructure(
                None, "voronoi", f"voronoi: {len(chosen)} of {len(guests)} guest sites "
                f"{min_distance} Å apart among {len(sites)} Voronoi sites"))
            continue
        out.append(BaselineStructure(_with_guests(framework, guests, np.array(chosen)),
                                     "voronoi"))
    return out
