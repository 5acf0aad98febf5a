"""Symmetry: framework refinement by a tolerance ladder, and final space groups.

CHGGen turns a relaxed (usually P1) unconditional structure into a symmetric host: all
sites of the guest species are removed and spglib is asked for the framework's space group
with increasing tolerances (the *ladder*, symprec in Å and angle tolerance in degrees),
stopping at the first rung whose space group is not trivial (P1 or P-1). The framework is
then standardised (symmetrised positions, conventional or primitive cell) at that rung, and
the guests are inpainted back into it.

Beyond the reference:

- a rung whose standardised cell changes the framework's composition (spglib merging
  atoms at a large tolerance) is rejected and the ladder goes on;
- when spglib answers P1 / P-1 (or fails) at every rung, the ladder is climbed again and
  the framework searched directly for a two-fold operation within each rung's tolerance
  (:mod:`chggen_kernels.pseudosymmetry`: at 1-2 Å spglib's own search degrades to
  smaller tolerances and misses operations that are there); the first one found is
  imposed (every atom kept, each moved by at most about half the operation's deviation)
  and spglib classifies and standardises the result.
  ``refine_framework(..., twofold_search=False)`` is the reference ladder alone.

Guest species that are not in the structure: allowed as long as at least one of the
named guest species is present (so a chemical system's guest list can be reused across
compositions); if none is present a :class:`SymmetryInputError` is raised, because that
almost always means the wrong guest was named.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import spglib
from pymatgen.core import Element, Structure

from chggen_kernels.errors import InputError
from chggen_kernels.pseudosymmetry import impose_twofold

__all__ = [
    "DEFAULT_LADDER",
    "TRIVIAL_SPACEGROUPS",
    "FrameworkRefinement",
    "SymmetryInfo",
    "SymmetryInputError",
    "SymmetryTolerance",
    "final_symmetry",
    "refine_framework",
]

#: Space groups that count as "no symmetry found": P1 (1) and P-1 (2).
TRIVIAL_SPACEGROUPS: frozenset[int] = frozenset({1, 2})


class SymmetryInputError(InputError):
    """A structure or setting given to the symmetry stage is unusable (message says why)."""


@dataclasses.dataclass(frozen=True)
class SymmetryTolerance:
    """One rung of the ladder: spglib ``symprec`` (Å) and ``angle_tolerance`` (degrees)."""

    symprec: float
    angle_tolerance: float

    def __post_init__(self) -> None:
        if not self.symprec > 0:
            raise SymmetryInputError(f"symprec must be > 0 Å, got {self.symprec!r}")
        if not self.angle_tolerance > 0:
            raise SymmetryInputError(
                f"angle_tolerance must be > 0 degrees, got {self.angle_tolerance!r}"
            )


#: Tolerance at which a structure made exactly symmetric is classified (Å, degrees).
EXACT_TOLERANCE = SymmetryTolerance(1e-3, 1.0)

#: The reference ladder: symprec 0.1 ... 2.0 Å with angle tolerances 10 ... 30 degrees.
DEFAULT_LADDER: tuple[SymmetryTolerance, ...] = tuple(
    SymmetryTolerance(p, a)
    for p, a in zip((0.1, 0.2, 0.5, 0.8, 1.0, 1.5, 2.0), (10, 15, 15, 15, 20, 30, 30),
                    strict=True)
)


@dataclasses.dataclass(frozen=True)
class SymmetryInfo:
    """Space group of a structure; ``note`` explains a fallback to P1 when spglib failed."""

    number: int
    symbol: str
    symprec: float
    angle_tolerance: float
    note: str | None = None

    @property
    def is_symmetric(self) -> bool:
        """True for space groups above P1 and P-1 (number > 2)."""
        return self.number not in TRIVIAL_SPACEGROUPS


@dataclasses.dataclass(frozen=True)
class FrameworkRefinement:
    """Result of :func:`refine_framework`.

    Attributes:
        structure: the standardised framework (guests removed) at the successful rung; when
            ``success`` is False, the unrefined framework.
        spacegroup_number, spacegroup_symbol: space group found at the rung used (for a
            failure: at the last rung tried, 1 / "P1" if spglib never answered).
        symprec: symprec of that rung in Å; angle_tolerance: its angle tolerance in degrees.
        rung: index of that rung in the ladder.
        n_guest_removed: number of guest sites removed from the input structure.
        n_framework_atoms: framework atoms in the input structure (before refinement).
        multiplicity: atoms in the refined framework / ``n_framework_atoms``; multiply the
            guest count by it to keep the composition (1.0 on failure).
        success: True when a non-trivial space group was found.
        notes: why rungs were rejected (spglib failure, composition change).
        method: ``"spglib"`` (spglib found the space group at the rung) or ``"twofold"``
            (a two-fold operation found by :func:`~chggen_kernels.pseudosymmetry.impose_twofold`
            was imposed first); ``"none"`` on failure.
    """

    structure: Structure
    spacegroup_number: int
    spacegroup_symbol: str
    symprec: float
    angle_tolerance: float
    rung: int
    n_guest_removed: int
    n_framework_atoms: int
    multiplicity: float
    success: bool
    notes: tuple[str, ...] = ()
    method: str = "spglib"

    @property
    def n_guest_scaled(self) -> float:
        """Guest count that keeps the original composition in the refined cell."""
        return self.n_guest_removed * self.multiplicity


def _spglib_cell(structure: Structure) -> tuple[np.ndarray, np.ndarray, list[int]]:
    numbers = [site.specie.Z for site in structure]
    return structure.lattice.matrix, structure.frac_coords, numbers


def _dataset(structure: Structure, tol: SymmetryTolerance):
    """spglib dataset or None (spglib signals failure by None or, newer, by raising)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return spglib.get_symmetry_dataset(
                _spglib_cell(structure), symprec=tol.symprec, angle_tolerance=tol.angle_tolerance
            )
        except Exception:  # noqa: BLE001 - any spglib error means "no answer"
            return None


def _standardise(structure: Structure, tol: SymmetryTolerance, primitive: bool) -> Structure | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cell = spglib.standardize_cell(
                _spglib_cell(structure), to_primitive=primitive, no_idealize=False,
                symprec=tol.symprec, angle_tolerance=tol.angle_tolerance,
            )
        except Exception:  # noqa: BLE001
            return None
    if cell is None:
        return None
    lattice, frac, numbers = cell
    return Structure(lattice, [Element.from_Z(int(z)) for z in numbers], np.mod(frac, 1.0))


def _check_structure(structure: Structure, what: str) -> None:
    if not isinstance(structure, Structure):
        raise SymmetryInputError(f"{what} must be a pymatgen Structure, got {type(structure)}")
    if not structure.is_ordered:
        raise SymmetryInputError(f"{what} {structure.formula} is disordered (partial occupancy)")


def final_symmetry(structure: Structure, symprec: float = 0.1,
                   angle_tolerance: float = 10.0) -> SymmetryInfo:
    """Space group of a (relaxed) structure at a small tolerance (Å, degrees).

    Never raises for a spglib failure or an unusable structure: the answer is then P1 with
    a ``note`` saying why.
    """
    try:
        tol = SymmetryTolerance(symprec, angle_tolerance)
        _check_structure(structure, "structure")
        if len(structure) == 0:
            raise SymmetryInputError("structure has no atoms")
    except SymmetryInputError as exc:
        return SymmetryInfo(1, "P1", symprec, angle_tolerance, note=str(exc))
    data = _dataset(structure, tol)
    if data is None:
        return SymmetryInfo(1, "P1", symprec, angle_tolerance,
                            note=f"spglib found no symmetry dataset for {structure.formula}")
    return SymmetryInfo(int(data.number), str(data.international), symprec, angle_tolerance)


def _guest_symbols(guest_species: str | Sequence[str]) -> tuple[str, ...]:
    guests = (guest_species,) if isinstance(guest_species, str) else tuple(guest_species)
    if not guests:
        raise SymmetryInputError("guest_species must name at least one element")
    for g in guests:
        if not isinstance(g, str) or not Element.is_valid_symbol(g):
            raise SymmetryInputError(f"guest species {g!r} is not an element symbol")
    return guests


def _twofold_dataset(framework: Structure, tol: SymmetryTolerance, trivial: frozenset[int]):
    """(symmetrised framework, its dataset, tolerance used) after imposing a two-fold
    operation found within ``tol``; None when there is none or spglib sees only ``trivial``.

    The imposed framework is classified and standardised at :data:`EXACT_TOLERANCE`, not
    at the rung's: at 1-2 Å spglib would idealise it further (atoms moved up to the
    tolerance again), and the hosts refined that way relax much further once inpainted.
    """
    imposed = impose_twofold(framework, tol.symprec, tol.angle_tolerance)
    if imposed is None:
        return None
    data = _dataset(imposed[0], EXACT_TOLERANCE)
    if data is None or int(data.number) in trivial:
        return None
    return imposed[0], data, EXACT_TOLERANCE


def _checked_standard_cell(framework: Structure, source: Structure, data,
                           used: SymmetryTolerance, rung: int, cell: str,
                           notes: list[str]) -> Structure | None:
    """Standard cell of ``source`` at ``used``, or None (with a note) when spglib fails or
    the cell changes the framework's composition."""
    refined = _standardise(source, used, primitive=cell == "primitive")
    if refined is None:
        notes.append(f"rung {rung} (symprec {used.symprec} Å): standardisation failed")
        return None
    if refined.composition.reduced_composition != framework.composition.reduced_composition:
        notes.append(
            f"rung {rung} (symprec {used.symprec} Å): {data.international} cell "
            f"{refined.composition.formula} changes the framework composition"
        )
        return None
    return refined


def refine_framework(
    structure: Structure,
    guest_species: str | Sequence[str],
    ladder: Sequence[SymmetryTolerance] = DEFAULT_LADDER,
    cell: Literal["conventional", "primitive"] = "conventional",
    trivial_spacegroups: frozenset[int] = TRIVIAL_SPACEGROUPS,
    twofold_search: bool = True,
) -> FrameworkRefinement:
    """Remove the guests and climb the tolerance ladder until the framework is symmetric.

    Args:
        structure: ordered crystal containing the guests (e.g. a relaxed Li-Si structure).
        guest_species: element symbol(s) whose sites are all removed (e.g. ``"Li"``).
        ladder: tolerances tried in order (symprec Å, angle tolerance degrees).
        cell: standardise to the ``"conventional"`` or ``"primitive"`` cell.
        trivial_spacegroups: space group numbers that do not stop the ladder.
        twofold_search: when spglib finds only trivial groups at every rung, climb the
            ladder again searching for a two-fold operation within each rung's tolerance
            and impose the first found (module notes); False: the reference ladder only.

    Returns:
        :class:`FrameworkRefinement`; ``success=False`` (and the unrefined framework) when
        no rung gives a non-trivial space group whose standard cell keeps the framework
        composition; its space group is then the last trivial one a rung found (P1 when
        none did), never that of a rejected rung.

    Raises:
        SymmetryInputError: empty ladder, unknown cell, a guest that is not an element, no
            guest species present, or nothing left after removing the guests.
    """
    framework, guest_idx = _framework(structure, guest_species, ladder, cell)
    notes: list[str] = []
    trivial = (1, "P1")  # what a failed refinement reports: the last trivial group seen
    passes = ("spglib", "twofold") if twofold_search else ("spglib",)
    for method in passes:
        for rung, tol in enumerate(ladder):
            if method == "spglib":
                data = _dataset(framework, tol)
                if data is None:
                    notes.append(f"rung {rung} (symprec {tol.symprec} Å): spglib failed")
                    continue
                if int(data.number) in trivial_spacegroups:
                    trivial = (int(data.number), str(data.international))
                    continue
                source, used = framework, tol
            else:
                found = _twofold_dataset(framework, tol, trivial_spacegroups)
                if found is None:
                    continue
                source, data, used = found
            refined = _checked_standard_cell(framework, source, data, used, rung, cell, notes)
            if refined is None:
                continue
            return FrameworkRefinement(
                structure=refined, spacegroup_number=int(data.number),
                spacegroup_symbol=str(data.international), symprec=tol.symprec,
                angle_tolerance=tol.angle_tolerance, rung=rung,
                n_guest_removed=len(guest_idx), n_framework_atoms=len(framework),
                multiplicity=len(refined) / len(framework), success=True, notes=tuple(notes),
                method=method,
            )
    trivial_number, trivial_symbol = trivial
    last = ladder[-1]
    return FrameworkRefinement(
        structure=framework, spacegroup_number=trivial_number, spacegroup_symbol=trivial_symbol,
        symprec=last.symprec, angle_tolerance=last.angle_tolerance, rung=len(ladder) - 1,
        n_guest_removed=len(guest_idx), n_framework_atoms=len(framework), multiplicity=1.0,
        success=False, notes=tuple(notes), method="none",
    )


def _framework(structure: Structure, guest_species: str | Sequence[str],
               ladder: Sequence[SymmetryTolerance], cell: str) -> tuple[Structure, list[int]]:
    """Check the inputs of :func:`refine_framework`; the framework and the guests' indices."""
    if cell not in ("conventional", "primitive"):
        raise SymmetryInputError(f"cell must be 'conventional' or 'primitive', got {cell!r}")
    if len(ladder) == 0:
        raise SymmetryInputError("ladder must contain at least one SymmetryTolerance")
    _check_structure(structure, "structure")
    guests = _guest_symbols(guest_species)
    present = {site.specie.symbol for site in structure}
    if not present.intersection(guests):
        raise SymmetryInputError(
            f"none of the guest species {list(guests)} is present in {structure.formula} "
            f"(species: {', '.join(sorted(present))})"
        )
    guest_idx = [i for i, site in enumerate(structure) if site.specie.symbol in guests]
    framework = structure.copy()
    framework.remove_sites(guest_idx)
    if len(framework) == 0:
        raise SymmetryInputError(
            f"nothing is left of {structure.formula} after removing the guests {list(guests)}"
        )
    return framework, guest_idx
