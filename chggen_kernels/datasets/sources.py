"""Offline sources of candidate training structures (before CHGNet relaxation).

* :func:`aflow_prototypes`: the AFLOW prototype structures that ship with pymatgen,
  with their own species (real compounds at their real volumes).
* :func:`decorated_prototypes`: the same prototypes decorated into a chemical system:
  every injective assignment of the system's elements to the prototype's species
  groups, the cell scaled isotropically to the volume prior's V0 for the new formula.
* :func:`random_symmetric_crystals`: pyxtal random crystals in space groups 2-230
  (an AIRSS-style search), volume set by pyxtal from its own atomic volumes.

Every source yields :class:`SourceStructure` records with a deterministic id and
provenance, so a build that is interrupted can resume by id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Iterator, Sequence

import numpy as np
from pymatgen.core import Composition, Element, Structure

from chggen_kernels.chemsys import parse_chemsys
from chggen_kernels.lattice import VolumePrior

__all__ = [
    "DEFAULT_MAX_ATOMS",
    "SourceStructure",
    "aflow_prototypes",
    "decorated_prototypes",
    "parse_chemsys",
    "random_symmetric_crystals",
    "structure_id",
]


#: Most sites per cell of a candidate or known crystal (MP-20 uses 20): the training sets
#: (``chggen data build --max-atoms``) and the benchmark sets (``chggen benchmark
#: --max-atoms``) are built of cells up to this size.
DEFAULT_MAX_ATOMS = 20


@dataclasses.dataclass(frozen=True)
class SourceStructure:
    """A candidate structure with provenance (``source``: prototypes | random | mp | files)."""

    structure_id: str
    structure: Structure
    source: str
    prototype: str | None = None  # AFLOW label, space group or mp id


def structure_id(*parts: object) -> str:
    """Deterministic short id (16 hex digits) from the parts that define a structure."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def _library() -> list[tuple[str, Structure]]:
    from pymatgen.analysis.prototypes import AFLOW_PROTOTYPE_LIBRARY

    out = []
    for entry in AFLOW_PROTOTYPE_LIBRARY:
        label = entry["tags"].get("aflow", "unknown")
        out.append((label, entry["snl"].structure))
    return out


def aflow_prototypes(max_atoms: int = DEFAULT_MAX_ATOMS) -> Iterator[SourceStructure]:
    """The shipped AFLOW prototypes with their own species, at most ``max_atoms`` sites."""
    for label, s in _library():
        if len(s) > max_atoms or not s.is_ordered:
            continue
        yield SourceStructure(structure_id("aflow", label, s.composition.formula), s.copy(),
                              "prototypes", label)


def decorated_prototypes(
    chemsys: str | Sequence[str],
    volume_prior: VolumePrior,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    include_subsystems: bool = True,
) -> Iterator[SourceStructure]:
    """Prototypes decorated with the elements of ``chemsys`` (and of its subsystems).

    A prototype with k species groups (ordered by first appearance) gets every injective
    assignment of k elements of the system; the cell is scaled isotropically so its volume
    per atom equals ``volume_prior.volume_per_atom`` of the new composition (Å^3/atom).
    """
    elements = parse_chemsys(chemsys)
    for label, s in _library():
        if len(s) > max_atoms or not s.is_ordered:
            continue
        groups = list(dict.fromkeys(site.specie for site in s))
        k = len(groups)
        if k > len(elements) or (not include_subsystems and k != len(elements)):
            continue
        for assignment in itertools.permutations(elements, k):
            mapping = {g: Element(el) for g, el in zip(groups, assignment, strict=True)}
            new = s.copy()
            new.replace_species(mapping)
            v0 = volume_prior.volume_per_atom(new.composition)
            new.scale_lattice(v0 * len(new))
            yield SourceStructure(
                structure_id("decorated", label, s.composition.formula, *assignment),
                new, "prototypes", label,
            )


def random_symmetric_crystals(
    chemsys: str | Sequence[str],
    n_structures: int,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    seed: int = 0,
    max_tries: int = 20,
) -> Iterator[SourceStructure]:
    """Random symmetric crystals from pyxtal (space groups 2-230), AIRSS-style.

    For each structure a composition (counts of each element, total <= ``max_atoms``) and a
    space group are drawn; pyxtal refuses counts its Wyckoff positions cannot realise, so
    each structure gets up to ``max_tries`` draws. Deterministic for a given seed.
    """
    from pyxtal import pyxtal

    elements = parse_chemsys(chemsys)
    rng = np.random.default_rng(seed)
    made = 0
    attempt = 0
    while made < n_structures and attempt < n_structures * max_tries:
        attempt += 1
        n_el = int(rng.integers(1, len(elements) + 1))
        chosen = sorted(rng.choice(elements, size=n_el, replace=False).tolist())
        counts = rng.integers(1, max(2, max_atoms // n_el) + 1, size=n_el).tolist()
        if sum(counts) > max_atoms:
            continue
        sg = int(rng.integers(2, 231))
        crystal = pyxtal()
        try:
            crystal.from_random(3, sg, chosen, counts, random_state=int(rng.integers(2**31)))
            s = crystal.to_pymatgen()
        except Exception:  # pyxtal refuses incompatible Wyckoff combinations
            continue
        if len(s) > max_atoms or len(s) == 0:
            continue
        formula = Composition(dict(zip(chosen, counts, strict=True))).formula
        yield SourceStructure(structure_id("random", seed, made, sg, formula), s, "random",
                              f"sg{sg}")
        made += 1
