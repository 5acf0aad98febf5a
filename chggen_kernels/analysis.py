"""Structure analysis of generated crystals: partial RDFs, coordination numbers, duplicates.

Pure functions on pymatgen ``Structure`` objects, used by the campaign's reports and the
locality-bias analysis (paper Fig. 2), and useful on their own:

* :func:`pair_distance_histogram` and :func:`partial_rdf`: radial distribution functions
  per species pair, every periodic image within ``r_max`` included (the project's
  neighbour list), distances in Å;
* :func:`coordination_numbers` and :func:`coordination_distribution`: coordination
  numbers per site from pymatgen's CrystalNN (or a minimum-distance rule), computed once
  per symmetry orbit;
* :func:`duplicate_groups`: StructureMatcher grouping of equivalent crystals.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = [
    "CN_METHODS",
    "CoordinationStats",
    "MatchSettings",
    "PartialRDF",
    "RDFSettings",
    "coordination_distribution",
    "coordination_numbers",
    "duplicate_groups",
    "pair_distance_histogram",
    "partial_rdf",
    "species_pair",
]

Pair = tuple[str, str]
CNMethod = Literal["crystalnn", "min_dist"]
CN_METHODS: tuple[str, ...] = ("crystalnn", "min_dist")


def species_pair(a: str, b: str) -> Pair:
    """The pair key used everywhere: element symbols in alphabetical order."""
    return (a, b) if a <= b else (b, a)


def _symbols(structure: Structure) -> list[str]:
    """Element symbol of every site (oxidation states dropped); ordered sites only."""
    if not structure.is_ordered:
        raise ValueError(
            f"structure {structure.composition.formula!r} has partially occupied sites; "
            "the analysis needs an ordered cell"
        )
    return [site.specie.symbol for site in structure]


# ------------------------------------------------------------------------- RDF
@dataclasses.dataclass(frozen=True)
class RDFSettings:
    """Histogram of pair distances: ``r_max`` and ``bin_width`` in Å."""

    r_max: float = 6.0
    bin_width: float = 0.05

    def __post_init__(self) -> None:
        if not (math.isfinite(self.r_max) and self.r_max > 0):
            raise ValueError(f"RDFSettings.r_max must be a positive length in Å, got {self.r_max}")
        if not (math.isfinite(self.bin_width) and 0 < self.bin_width < self.r_max):
            raise ValueError(
                f"RDFSettings.bin_width must lie in (0, r_max={self.r_max}) Å, "
                f"got {self.bin_width}"
            )

    @property
    def edges(self) -> np.ndarray:
        """Bin edges in Å, from 0 to ``r_max`` (the last bin may be narrower)."""
        n = math.ceil(self.r_max / self.bin_width - 1e-9)
        return np.minimum(np.arange(n + 1) * self.bin_width, self.r_max)


@dataclasses.dataclass(frozen=True)
class PartialRDF:
    """Partial radial distribution functions g_ab(r), averaged over structures.

    ``g[(a, b)]`` is the mean of the per-structure g_ab over the ``n_structures[(a, b)]``
    structures that contain both species; it tends to 1 for uncorrelated positions.
    ``r`` holds the bin centres and ``edges`` the bin edges (Å).
    """

    r: np.ndarray
    edges: np.ndarray
    g: dict[Pair, np.ndarray]
    n_structures: dict[Pair, int]

    @property
    def pairs(self) -> list[Pair]:
        return sorted(self.g)


def pair_distance_histogram(
    structure: Structure, settings: RDFSettings = RDFSettings()
) -> dict[Pair, np.ndarray]:
    """Directed pair counts per distance bin: ``counts[(a, b)][k]`` is the number of
    (centre of species a, neighbour of species b) pairs, periodic images included, whose
    distance lies in bin ``k`` of ``settings.edges`` (Å). For ``a != b`` only the
    ``a -> b`` direction is counted (the key is the sorted pair); for ``a == b`` both
    directions are, so a bcc cell with 2 atoms has 16 Li-Li pairs in the first shell.
    """
    import torch

    from chggen_kernels.crystal import CrystalBatch
    from chggen_kernels.neighbors import edge_vectors, neighbor_list

    symbols = _symbols(structure)
    edges = settings.edges
    batch = CrystalBatch.from_structures([structure])
    nl = neighbor_list(batch, cutoff=settings.r_max)
    dist = torch.linalg.norm(edge_vectors(batch, nl), dim=1).numpy()
    centre, neighbour = (x.numpy() for x in nl.edge_index)
    species = sorted(set(symbols))
    code = {el: k for k, el in enumerate(species)}
    codes = np.array([code[el] for el in symbols])
    counts: dict[Pair, np.ndarray] = {}
    for ia, a in enumerate(species):
        for b in species[ia:]:
            keep = (codes[centre] == code[a]) & (codes[neighbour] == code[b])
            counts[(a, b)] = np.histogram(dist[keep], bins=edges)[0].astype(np.int64)
    return counts


def _structure_rdf(structure: Structure, settings: RDFSettings) -> dict[Pair, np.ndarray]:
    edges = settings.edges
    shell = 4.0 / 3.0 * math.pi * (edges[1:] ** 3 - edges[:-1] ** 3)  # Å^3
    n_of = Counter(_symbols(structure))
    volume = float(structure.volume)
    return {
        (a, b): volume * counts / (n_of[a] * n_of[b] * shell)
        for (a, b), counts in pair_distance_histogram(structure, settings).items()
    }


def partial_rdf(
    structures: Sequence[Structure], settings: RDFSettings = RDFSettings()
) -> PartialRDF:
    """g_ab(r) = V h_ab(r) / (N_a N_b 4/3 pi (r_{k+1}^3 - r_k^3)) per structure, averaged.

    ``h_ab`` is :func:`pair_distance_histogram`; V the cell volume (Å^3). Structures
    without both species of a pair do not enter that pair's mean.
    """
    edges = settings.edges
    sums: dict[Pair, np.ndarray] = {}
    counts: Counter[Pair] = Counter()
    for structure in structures:
        for pair, g in _structure_rdf(structure, settings).items():
            sums[pair] = sums.get(pair, 0.0) + g
            counts[pair] += 1
    return PartialRDF(
        r=0.5 * (edges[1:] + edges[:-1]),
        edges=edges,
        g={pair: sums[pair] / counts[pair] for pair in sorted(sums)},
        n_structures=dict(sorted(counts.items())),
    )


# ------------------------------------------------------------------------- coordination
def _neighbour_finder(method: str):
    from pymatgen.analysis.local_env import CrystalNN, MinimumDistanceNN

    if method == "crystalnn":
        return CrystalNN()
    if method == "min_dist":
        return MinimumDistanceNN(tol=0.1, cutoff=6.0)
    raise ValueError(f"coordination method must be one of {CN_METHODS}, got {method!r}")


def _site_orbits(structure: Structure, use_symmetry: bool) -> list[list[int]]:
    """Groups of symmetry-equivalent site indices (one group per site if not wanted)."""
    if use_symmetry and len(structure) > 1:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        try:
            sym = SpacegroupAnalyzer(structure, symprec=0.01).get_symmetrized_structure()
            return [list(group) for group in sym.equivalent_indices]
        except Exception:  # spglib gives up on some distorted cells: fall back to all sites
            pass
    return [[i] for i in range(len(structure))]


def coordination_numbers(
    structure: Structure, method: CNMethod = "crystalnn", use_symmetry: bool = True
) -> list[tuple[str, int]]:
    """(element symbol, coordination number) of every site, in site order.

    ``method``: ``"crystalnn"`` (pymatgen CrystalNN, the default) or ``"min_dist"``
    (neighbours within 10% of the shortest distance from the site). With
    ``use_symmetry`` the number is computed once per symmetry orbit (spglib, 0.01 Å).
    """
    finder = _neighbour_finder(method)
    symbols = _symbols(structure)
    out: list[tuple[str, int] | None] = [None] * len(structure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for orbit in _site_orbits(structure, use_symmetry):
            cn = int(round(finder.get_cn(structure, orbit[0])))
            for i in orbit:
                out[i] = (symbols[i], cn)
    return [x for x in out if x is not None]


@dataclasses.dataclass(frozen=True)
class CoordinationStats:
    """Coordination numbers of many structures: ``counts[element][cn]`` = number of sites.

    ``n_structures`` were analysed, ``n_failed`` raised in the neighbour finder and are
    left out (their error messages in ``failures``, at most 10).
    """

    counts: dict[str, dict[int, int]]
    n_structures: int
    n_failed: int = 0
    failures: tuple[str, ...] = ()

    def fractions(self, element: str) -> dict[int, float]:
        """Fraction of ``element`` sites with each coordination number (sums to 1)."""
        c = self.counts.get(element, {})
        total = sum(c.values())
        return {cn: n / total for cn, n in sorted(c.items())} if total else {}

    def mean(self, element: str) -> float:
        """Mean coordination number of ``element`` (NaN without sites)."""
        c = self.counts.get(element, {})
        total = sum(c.values())
        return sum(cn * n for cn, n in c.items()) / total if total else float("nan")


def coordination_distribution(
    structures: Sequence[Structure],
    method: CNMethod = "crystalnn",
    use_symmetry: bool = True,
    elements: Sequence[str] | None = None,
) -> CoordinationStats:
    """Count coordination numbers per element over ``structures`` (``elements``: only
    these; default all). Structures on which the neighbour finder fails are counted in
    ``n_failed`` instead of stopping the analysis."""
    _neighbour_finder(method)  # validate the method before the loop
    keep = set(elements) if elements is not None else None
    counts: dict[str, Counter[int]] = {}
    failures: list[str] = []
    for k, structure in enumerate(structures):
        try:
            sites = coordination_numbers(structure, method, use_symmetry)
        except Exception as exc:  # pymatgen raises many kinds on pathological cells
            failures.append(f"structure {k} ({structure.composition.reduced_formula}): "
                            f"{type(exc).__name__}: {exc}")
            continue
        for element, cn in sites:
            if keep is None or element in keep:
                counts.setdefault(element, Counter())[cn] += 1
    return CoordinationStats(
        counts={el: dict(sorted(c.items())) for el, c in sorted(counts.items())},
        n_structures=len(structures),
        n_failed=len(failures),
        failures=tuple(failures[:10]),
    )


# ------------------------------------------------------------------------- duplicates
@dataclasses.dataclass(frozen=True)
class MatchSettings:
    """pymatgen ``StructureMatcher`` tolerances: ``ltol`` (fractional length), ``stol``
    (site tolerance, in units of (V/N)^(1/3)), ``angle_tol`` (degrees). ``scale`` compares
    shapes regardless of volume; ``primitive_cell`` reduces both cells first, so
    supercells of the same crystal match."""

    ltol: float = 0.2
    stol: float = 0.3
    angle_tol: float = 5.0
    primitive_cell: bool = True
    scale: bool = True

    def __post_init__(self) -> None:
        for name in ("ltol", "stol", "angle_tol"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"MatchSettings.{name} must be positive, got {value}")

    def matcher(self):
        from pymatgen.analysis.structure_matcher import StructureMatcher

        return StructureMatcher(
            ltol=self.ltol, stol=self.stol, angle_tol=self.angle_tol,
            primitive_cell=self.primitive_cell, scale=self.scale,
        )


def duplicate_groups(
    structures: Sequence[Structure],
    settings: MatchSettings = MatchSettings(),
    max_groups: int | None = None,
) -> list[int]:
    """Label every structure with the index of its group's representative.

    Structures are visited in the given order (sort them best first): each one joins the
    first earlier representative of the same reduced formula that StructureMatcher finds
    equivalent, or becomes a representative itself (label = its own index). With
    ``max_groups``, once that many groups exist, a structure matching none of them gets
    the label -1 (not compared further), which bounds the cost to ``len * max_groups``
    matches.
    """
    if max_groups is not None and max_groups < 1:
        raise ValueError(f"max_groups must be >= 1 or None, got {max_groups}")
    matcher = settings.matcher()
    representatives: dict[str, list[int]] = {}
    labels: list[int] = []
    n_groups = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, structure in enumerate(structures):
            key = structure.composition.reduced_formula
            found = next(
                (r for r in representatives.get(key, []) if matcher.fit(structures[r], structure)),
                None,
            )
            if found is not None:
                labels.append(found)
            elif max_groups is not None and n_groups >= max_groups:
                labels.append(-1)
            else:
                representatives.setdefault(key, []).append(i)
                labels.append(i)
                n_groups += 1
    return labels
