"""A learned prior over (space group, Wyckoff positions) and lattice shapes.

Known crystals are grouped by *stoichiometry type*: the anonymous formula of the cell's
counts and the number of atoms in the primitive cell (``"AB2|6"``: six atoms, twice as
many of one element as of the other). Species are anonymised in a fixed order, fewest
atoms first and, among equal counts, lowest Pauling electronegativity first, so ``A`` of
``"AB"`` is the cation-like element. For each type the prior holds how often each
(space group, Wyckoff labels per anonymous species) assignment occurs; for each crystal
family it holds lattice shapes (``b/a``, ``c/a`` and the angles of spglib's conventional
cell) seen in the data.

Drawing (:meth:`WyckoffPrior.draw`) is additive smoothing towards the uniform prior of
random search: with probability ``n / (n + smoothing)`` (``n`` known crystals of the type)
an assignment is drawn in proportion to its count, otherwise ``None`` is returned and the
caller draws a space group uniformly among those pyxtal can fill (the AIRSS baseline).
Types never seen always fall back to the uniform prior.

Wyckoff labels are ITA labels with the multiplicity of the conventional cell (``"4a"``);
the structures these assignments describe are built by
:func:`chggen_kernels.wyckoff.crystals.symmetric_crystal`.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import math
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Element, Structure

__all__ = ["DEFAULT_SMOOTHING", "WYCKOFF_PRIOR", "Assignment", "WyckoffPrior",
           "anonymous_species", "crystal_family", "learn_wyckoff_prior", "read_assignment",
           "stoichiometry_type"]

#: The shipped prior (learned from the training split of the shipped model).
WYCKOFF_PRIOR = Path(__file__).resolve().parents[1] / "data" / "wyckoff_prior.json.gz"
#: Pseudo-count of the uniform prior: a type seen n times uses the data with n/(n+2).
DEFAULT_SMOOTHING = 2.0
#: spglib tolerance used to read assignments off known crystals, Å.
PRIOR_SYMPREC = 0.1
_FORMAT = "chggen-wyckoff-prior"
_MAX_SHAPES = 400  # lattice shapes kept per crystal family
_FAMILIES = ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"),
             (194, "hexagonal"), (230, "cubic"))


def crystal_family(spacegroup: int) -> str:
    """Crystal family of a space group (trigonal groups: ``"hexagonal"``, the lattice
    pyxtal builds them in)."""
    if not 1 <= spacegroup <= 230:
        raise ValueError(f"space group must be 1..230, got {spacegroup}")
    return next(family for last, family in _FAMILIES if spacegroup <= last)


def _electronegativity(symbol: str) -> float:
    with warnings.catch_warnings():  # pymatgen warns for the noble gases
        warnings.simplefilter("ignore")
        x = Element(symbol).X
    return 99.0 if math.isnan(x) else float(x)


def anonymous_species(counts: Mapping[str, int]) -> list[str]:
    """The elements of ``counts`` in anonymous order (A, B, C, ...): fewest atoms first,
    then lowest electronegativity, then symbol."""
    present = [el for el, n in counts.items() if n > 0]
    return sorted(present, key=lambda el: (counts[el], _electronegativity(el), el))


def stoichiometry_type(counts: Mapping[str, int]) -> str:
    """``"AB2|6"``: anonymous reduced formula and atoms of the cell ``counts`` describes
    (give primitive-cell counts)."""
    order = anonymous_species(counts)
    values = [int(counts[el]) for el in order]
    g = math.gcd(*values)
    formula = "".join(chr(65 + i) + (str(v // g) if v // g > 1 else "")
                      for i, v in enumerate(values))
    return f"{formula}|{sum(values)}"


@dataclasses.dataclass(frozen=True)
class Assignment:
    """A space group and the Wyckoff labels of each species (conventional-cell ITA labels)."""

    spacegroup: int
    sites: dict[str, tuple[str, ...]]  # element -> labels, e.g. {"Li": ("4e",), "Si": ("2a",)}
    source: str  # "learned (n of N known AB2|6 crystals)" or what chose it

    @property
    def wyckoff_letters(self) -> str:
        """``"Li:4e;Si:2a"`` (the results column format)."""
        return ";".join(f"{el}:{','.join(labels)}" for el, labels in sorted(self.sites.items()))


@functools.lru_cache(maxsize=256)
def _multiplicities(spacegroup: int) -> dict[str, int]:
    from pyxtal.symmetry import Group

    return {str(wp.letter): int(wp.multiplicity) for wp in Group(spacegroup).Wyckoff_positions}


def read_assignment(structure: Structure, symprec: float = PRIOR_SYMPREC
                    ) -> tuple[int, dict[str, tuple[str, ...]], tuple[float, ...]] | None:
    """(space group, labels per element, conventional lattice shape) of a crystal at
    ``symprec`` Å; None when spglib finds no symmetry."""
    import spglib

    cell = (structure.lattice.matrix, structure.frac_coords, list(structure.atomic_numbers))
    try:
        data = spglib.get_symmetry_dataset(cell, symprec=symprec)
    except Exception:  # noqa: BLE001 - spglib raises on failure in newer versions
        return None
    if data is None:
        return None
    sg = int(data.number)
    mult = _multiplicities(sg)
    sites: dict[str, list[str]] = {}
    for atom in sorted(set(int(i) for i in data.equivalent_atoms)):
        letter = str(data.wyckoffs[atom])
        if letter not in mult:
            return None
        sites.setdefault(structure[atom].specie.symbol, []).append(f"{mult[letter]}{letter}")
    a, b, c, alpha, beta, gamma = _parameters(np.asarray(data.std_lattice, dtype=float))
    shape = (round(b / a, 3), round(c / a, 3), round(alpha, 2), round(beta, 2), round(gamma, 2))
    return sg, {el: tuple(sorted(v)) for el, v in sites.items()}, shape


def _parameters(lattice: np.ndarray) -> tuple[float, ...]:
    lengths = np.linalg.norm(lattice, axis=1)
    angle = [float(np.degrees(np.arccos(np.clip(
        lattice[j] @ lattice[k] / (lengths[j] * lengths[k]), -1, 1))))
        for j, k in ((1, 2), (0, 2), (0, 1))]
    return (*(float(x) for x in lengths), *angle)


@dataclasses.dataclass(frozen=True)
class WyckoffPrior:
    """Assignment counts per stoichiometry type and lattice shapes per crystal family.

    ``assignments[type]`` is a list of ``(spacegroup, labels per anonymous species, count)``;
    ``shapes[family]`` a list of ``(b/a, c/a, alpha, beta, gamma)`` (degrees).
    """

    assignments: dict[str, list[tuple[int, tuple[tuple[str, ...], ...], int]]]
    shapes: dict[str, list[tuple[float, ...]]]
    description: str = ""
    smoothing: float = DEFAULT_SMOOTHING

    def known(self, counts: Mapping[str, int]) -> int:
        """Known crystals of the stoichiometry type of ``counts`` (primitive cell)."""
        return sum(n for _, _, n in self.assignments.get(stoichiometry_type(counts), []))

    def draw(self, counts: Mapping[str, int], rng: np.random.Generator) -> Assignment | None:
        """An assignment for the primitive-cell composition ``counts``, or ``None`` (draw
        from the uniform prior instead) with probability ``smoothing / (n + smoothing)``."""
        kind = stoichiometry_type(counts)
        entries = self.assignments.get(kind, [])
        n = sum(c for _, _, c in entries)
        if n == 0 or rng.random() >= n / (n + self.smoothing):
            return None
        weights = np.array([c for _, _, c in entries], dtype=float)
        sg, labels, count = entries[int(rng.choice(len(entries), p=weights / weights.sum()))]
        order = anonymous_species(counts)
        return Assignment(sg, dict(zip(order, labels, strict=True)),
                          f"learned ({count} of {n} known {kind} crystals)")

    def shape(self, family: str, rng: np.random.Generator) -> tuple[float, ...] | None:
        """A lattice shape ``(b/a, c/a, alpha, beta, gamma)`` seen in ``family``, or None."""
        shapes = self.shapes.get(family, [])
        return tuple(shapes[int(rng.integers(len(shapes)))]) if shapes else None

    def save(self, path: str | os.PathLike[str]) -> None:
        data = {"format": _FORMAT, "version": 1, "description": self.description,
                "smoothing": self.smoothing,
                "assignments": {k: [[sg, [list(x) for x in labels], n]
                                    for sg, labels, n in v]
                                for k, v in sorted(self.assignments.items())},
                "shapes": self.shapes}
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> WyckoffPrior:
        """The prior in ``path`` (default: the shipped one). Raises ValueError."""
        path = Path(path) if path is not None else WYCKOFF_PRIOR
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ValueError(f"Wyckoff prior {path}: {exc}") from exc
        if data.get("format") != _FORMAT:
            raise ValueError(f"Wyckoff prior {path}: not a {_FORMAT} file")
        assignments = {k: [(int(sg), tuple(tuple(x) for x in labels), int(n))
                           for sg, labels, n in v] for k, v in data["assignments"].items()}
        shapes = {k: [tuple(float(x) for x in s) for s in v] for k, v in data["shapes"].items()}
        return cls(assignments, shapes, str(data.get("description", "")),
                   float(data.get("smoothing", DEFAULT_SMOOTHING)))


def _holds(spacegroup: int, sites: Mapping[str, tuple[str, ...]],
           counts: Mapping[str, int]) -> bool:
    """Whether the labels ``sites`` place exactly ``counts`` atoms in a primitive cell."""
    from chggen_kernels.wyckoff.crystals import centring_multiplicity

    m = centring_multiplicity(spacegroup)
    return all(sum(int(label[:-1]) for label in sites.get(el, ())) == n * m
               for el, n in counts.items())


def learn_wyckoff_prior(structures: Iterable[Structure], *, seed: int = 0,
                        smoothing: float = DEFAULT_SMOOTHING,
                        description: str = "") -> WyckoffPrior:
    """Count the assignments of ``structures`` (read at ``PRIOR_SYMPREC``) per
    stoichiometry type of their primitive cells, and keep lattice shapes per family."""
    counts: dict[str, Counter] = {}
    shapes: dict[str, list[tuple[float, ...]]] = {}
    for structure in structures:
        primitive = structure.get_primitive_structure()
        found = read_assignment(primitive)
        if found is None:
            continue
        sg, sites, shape = found
        cell = {el.symbol: int(n) for el, n in primitive.composition.items()}
        if not _holds(sg, sites, cell):
            continue  # spglib's cell at PRIOR_SYMPREC is smaller than pymatgen's primitive
        labels = tuple(sites[el] for el in anonymous_species(cell))
        counts.setdefault(stoichiometry_type(cell), Counter())[(sg, labels)] += 1
        shapes.setdefault(crystal_family(sg), []).append(shape)
    rng = np.random.default_rng(seed)
    kept = {f: [v[i] for i in sorted(rng.choice(len(v), size=min(len(v), _MAX_SHAPES),
                                                replace=False))]
            for f, v in shapes.items()}
    assignments = {k: [(sg, labels, n) for (sg, labels), n in sorted(
        c.items(), key=lambda kv: (-kv[1], kv[0]))] for k, c in counts.items()}
    return WyckoffPrior(assignments, kept, description, smoothing)
