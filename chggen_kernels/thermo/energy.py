"""Decomposition energy and energy above the hull of one candidate against a phase diagram.

Definitions (all in eV/atom):

* ``e_above_hull`` = E(candidate) - E_hull(composition), with the hull built from every
  entry of the diagram (including phases of the candidate's own composition). Negative
  when the candidate lies below the current hull.
* ``e_d`` (decomposition energy, Bartel et al., npj Comput. Mater. 6, 97 (2020)):
  for a candidate above the hull, ``e_d = e_above_hull`` (it decomposes into the hull
  phases, which include a known polymorph of the same composition); for a candidate on
  or below the hull, ``e_d`` is the phase-separation energy, the energy relative to the
  hull built from all *other* compositions (pymatgen
  ``PhaseDiagram.get_decomp_and_phase_separation_energy``; negative = the candidate would
  be a new stable phase).

Why not call pymatgen's phase-separation energy directly for every candidate: for a new
entry whose composition matches a stable phase of the diagram, pymatgen always excludes
that phase, so a polymorph lying *above* the known phase would get a negative value.
Here such a polymorph gets its (positive) distance to the known phase, as in Bartel's
definition. Energies go onto the diagram as given: CHGNet energies are already
MaterialsProject2020-compatible and must not be corrected again.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from chggen_kernels.chemsys import ChemicalSystemError
from chggen_kernels.chemsys import parse_chemsys as _parse_chemsys
from chggen_kernels.errors import InputError

if TYPE_CHECKING:
    from pymatgen.analysis.phase_diagram import PhaseDiagram
    from pymatgen.core import Composition

__all__ = [
    "ThermoInputError",
    "ThermoResult",
    "decomposition_energy",
    "format_decomposition",
    "parse_chemsys",
]

#: e_above_hull (eV/atom) at or below which a candidate counts as "on the hull".
ON_HULL_TOLERANCE = 1e-8


class ThermoInputError(InputError):
    """A composition, energy, chemical system or hull given to the thermo stage is unusable."""


@dataclasses.dataclass(frozen=True)
class ThermoResult:
    """Stability of one candidate.

    Attributes:
        formula: reduced formula of the candidate.
        energy_per_atom: the candidate's energy, eV/atom.
        e_d: decomposition energy, eV/atom (see module docstring).
        e_above_hull: energy above the full hull, eV/atom (negative below it).
        decomposition: reduced formula -> fraction of the candidate's atoms, for the
            phases ``e_d`` refers to.
        hull_source: where the hull came from (e.g. ``"offline:chggen-chgnet"``).
        known_compounds: compounds (phases of two or more elements) of the diagram inside
            the candidate's chemical system; 0 means no compound of that system is known,
            so ``e_d`` is a formation energy against the elements.
    """

    formula: str
    energy_per_atom: float
    e_d: float
    e_above_hull: float
    decomposition: Mapping[str, float]
    hull_source: str
    known_compounds: int = 0

    @property
    def decomposition_string(self) -> str:
        """Human-readable decomposition, e.g. ``"0.6667 LiSi + 0.3333 Si"``."""
        return format_decomposition(self.decomposition)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (adds ``decomposition_string``)."""
        data = dataclasses.asdict(self)
        data["decomposition"] = dict(self.decomposition)
        data["decomposition_string"] = self.decomposition_string
        return data


def format_decomposition(decomposition: Mapping[str, float]) -> str:
    """``{"LiSi": 2/3, "Si": 1/3}`` -> ``"0.6667 LiSi + 0.3333 Si"`` (largest first)."""
    items = sorted(decomposition.items(), key=lambda kv: (-kv[1], kv[0]))
    return " + ".join(f"{amount:.4g} {formula}" for formula, amount in items)


def parse_chemsys(chemsys: str | Iterable[str]) -> tuple[str, ...]:
    """``"Si-Li"`` or ``["Si", "Li"]`` -> ``("Li", "Si")`` (sorted, unique, validated).

    :func:`chggen_kernels.chemsys.parse_chemsys` with repeated elements merged; its
    errors are raised as :class:`ThermoInputError` with the same message.
    """
    try:
        return _parse_chemsys(chemsys, repeated="merge")
    except ChemicalSystemError as err:
        raise ThermoInputError(str(err)) from None


def _as_composition(composition: Composition | str | Mapping[str, float]) -> Composition:
    from pymatgen.core import Composition, Element

    try:
        comp = Composition(composition)
    except Exception as exc:  # pymatgen raises several types for a bad formula
        raise ThermoInputError(f"invalid composition {composition!r}: {exc}") from exc
    dummies = [el.symbol for el in comp.elements if not isinstance(el, Element)]
    if dummies:
        raise ThermoInputError(f"invalid composition {composition!r}: {dummies} are not elements")
    if comp.num_atoms <= 0:
        raise ThermoInputError(f"composition {composition!r} has no atoms")
    if any(amount < 0 for amount in comp.values()):
        raise ThermoInputError(f"composition {composition!r} has negative amounts")
    return comp


def _decomposition_dict(decomp: Mapping[Any, float] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for entry, amount in (decomp or {}).items():
        key = entry.composition.reduced_formula
        out[key] = out.get(key, 0.0) + float(amount)
    return out


def decomposition_energy(
    composition: Composition | str | Mapping[str, float],
    energy_per_atom: float,
    phase_diagram: PhaseDiagram,
    *,
    hull_source: str = "unspecified",
) -> ThermoResult:
    """E_d and energy above hull (eV/atom) of a candidate against ``phase_diagram``.

    Args:
        composition: the candidate's composition (any multiple; only ratios matter).
        energy_per_atom: its energy in eV/atom, on the same scale as the diagram.
        phase_diagram: pymatgen phase diagram covering the candidate's elements.
        hull_source: label recorded in the result.

    Raises:
        ThermoInputError: bad composition or energy, or elements outside the diagram.
    """
    comp = _as_composition(composition)
    if not isinstance(energy_per_atom, int | float) or not math.isfinite(energy_per_atom):
        raise ThermoInputError(
            f"energy_per_atom of {comp.reduced_formula} must be a finite number in eV/atom, "
            f"got {energy_per_atom!r}"
        )
    diagram_elements = {el.symbol for el in phase_diagram.elements}
    outside = sorted({el.symbol for el in comp.elements} - diagram_elements)
    if outside:
        raise ThermoInputError(
            f"{comp.reduced_formula} contains {', '.join(outside)}, outside the phase "
            f"diagram's chemical system {'-'.join(sorted(diagram_elements))}"
        )
    from pymatgen.analysis.phase_diagram import PDEntry

    entry = PDEntry(comp, float(energy_per_atom) * comp.num_atoms, name="candidate")
    decomp, e_hull = phase_diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
    if e_hull > ON_HULL_TOLERANCE:
        e_d, decomp_d = e_hull, decomp
    else:
        decomp_d, e_d = phase_diagram.get_decomp_and_phase_separation_energy(entry)
        if e_d is None:  # pymatgen gives (None, None) when it cannot decide
            raise ThermoInputError(
                f"pymatgen could not compute the phase-separation energy of "
                f"{comp.reduced_formula}"
            )
    mine = {el.symbol for el in comp.elements}
    compounds = {e.composition.reduced_formula for e in phase_diagram.all_entries
                 if len(e.composition.elements) > 1
                 and {el.symbol for el in e.composition.elements} <= mine}
    return ThermoResult(
        known_compounds=len(compounds),
        formula=comp.reduced_formula,
        energy_per_atom=float(energy_per_atom),
        e_d=float(e_d),
        e_above_hull=float(e_hull),
        decomposition=_decomposition_dict(decomp_d),
        hull_source=hull_source,
    )
