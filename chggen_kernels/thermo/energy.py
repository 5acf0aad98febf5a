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
import json
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
    "DecompositionProduct",
    "ThermoInputError",
    "ThermoResult",
    "decomposition_energy",
    "entry_source_id",
    "format_decomposition",
    "format_products",
    "parse_chemsys",
    "products_from_json",
    "products_to_json",
]

#: e_above_hull (eV/atom) at or below which a candidate counts as "on the hull".
ON_HULL_TOLERANCE = 1e-8


class ThermoInputError(InputError):
    """A composition, energy, chemical system or hull given to the thermo stage is unusable."""


@dataclasses.dataclass(frozen=True)
class DecompositionProduct:
    """One hull phase a candidate's E_d refers to.

    Attributes:
        formula: reduced formula of the hull entry, e.g. ``"Li2Si"``.
        source_id: where the entry comes from (``mp-27705``, ``agm002153254``, an own-build
            hash, a user file's ``source_id``); ``""`` when the hull gives none.
        fraction: the share of the candidate's atoms going into this phase.
        energy_per_atom: the hull entry's energy, eV/atom.
        collection: the collection the id belongs to where the hull says
            (``matcalc/mp-binary-pbe-elasticity-2025.1``, ...; ``""`` otherwise).
    """

    formula: str
    source_id: str
    fraction: float
    energy_per_atom: float
    collection: str = ""

    @property
    def term(self) -> str:
        """``"0.75 Li2Si (mp-27705)"`` (``"0.75 Li2Si"`` without an id)."""
        source = f" ({self.source_id})" if self.source_id else ""
        return f"{self.fraction:.4g} {self.formula}{source}"


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
        products: the hull entries behind ``decomposition``, with their source ids and
            energies, largest fraction first.
    """

    formula: str
    energy_per_atom: float
    e_d: float
    e_above_hull: float
    decomposition: Mapping[str, float]
    hull_source: str
    known_compounds: int = 0
    products: tuple[DecompositionProduct, ...] = ()

    @property
    def decomposition_string(self) -> str:
        """Human-readable decomposition, e.g. ``"0.6667 LiSi (mp-795) + 0.3333 Si (Si-22)"``
        (``"0.6667 LiSi + 0.3333 Si"`` when the hull's entries carry no ids)."""
        if self.products:
            return format_products(self.products)
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


def format_products(products: Iterable[DecompositionProduct]) -> str:
    """``"0.75 Li2Si (mp-27705) + 0.25 Si (Si-22)"``, in the order given."""
    return " + ".join(p.term for p in products)


def products_to_json(products: Iterable[DecompositionProduct]) -> str:
    """The ``decomposition_products`` column: a JSON list of objects with ``formula``,
    ``source_id``, ``fraction``, ``energy_per_atom`` (eV/atom) and, where the hull names
    it, ``collection``."""
    return json.dumps([{"formula": p.formula, "source_id": p.source_id,
                        "fraction": round(p.fraction, 6),
                        "energy_per_atom": round(p.energy_per_atom, 6)}
                       | ({"collection": p.collection} if p.collection else {})
                       for p in products])


def products_from_json(text: Any) -> tuple[DecompositionProduct, ...]:
    """The products of a ``decomposition_products`` value; ``()`` for a null, an empty
    or an unreadable one (a row of an older chggen)."""
    if not isinstance(text, str) or not text:
        return ()
    try:
        return tuple(DecompositionProduct(str(d["formula"]), str(d.get("source_id") or ""),
                                          float(d["fraction"]), float(d["energy_per_atom"]),
                                          str(d.get("collection") or ""))
                     for d in json.loads(text))
    except (ValueError, TypeError, KeyError):
        return ()


def entry_source_id(entry: Any) -> str:
    """The source id of a hull entry: its ``data["source_id"]`` (offline hull, hull
    files), ``data["material_id"]`` (Materials Project), else its ``entry_id``; ``""``
    when it has none (a bare ``PDEntry``)."""
    data = getattr(entry, "data", None)
    if isinstance(data, Mapping):
        for key in ("source_id", "material_id"):
            if data.get(key):
                return str(data[key])
    return str(getattr(entry, "entry_id", None) or "")


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


def _collection(entry: Any) -> str:
    data = getattr(entry, "data", None)
    return str(data.get("collection") or "") if isinstance(data, Mapping) else ""


def _products(decomp: Mapping[Any, float] | None) -> tuple[DecompositionProduct, ...]:
    products = [DecompositionProduct(entry.composition.reduced_formula, entry_source_id(entry),
                                     float(amount), float(entry.energy_per_atom),
                                     _collection(entry))
                for entry, amount in (decomp or {}).items() if amount > 1e-10]
    return tuple(sorted(products, key=lambda p: (-p.fraction, p.formula)))


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
        products=_products(decomp_d),
    )
