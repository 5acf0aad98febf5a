"""What a hull holds for a chemical system or composition: the gaps that make E_d misleading.

E_d is measured against the phases the hull source holds. When the source has no compound
of a candidate's full chemical system (no ternary Mg-Si-O phase for Mg2SiO4), E_d is a
formation energy against the lower-order phases only and is easily negative; when it has
no entry of the candidate's composition, a negative E_d says nothing about the known
polymorphs. :func:`hull_coverage` lists such gaps (a pure function of the entries)::

    source = OfflineHullSource()
    report = hull_coverage(source.entries(["Mg", "Si", "O"]), "Mg2SiO4", hull_name=source.name)
    report.messages
    # ['offline hull: no known ternary Mg-Si-O phase; E_d of Mg2SiO4 is measured against
    #   binaries only', 'offline hull: no known compound of composition Mg2SiO4']

Gap kinds: ``missing_reference`` (an element without an elemental entry: no E_d at all),
``no_system_phase`` (no compound of the full chemical system), ``no_subsystem_phase`` (a
proper sub-system of two or more elements without a compound) and ``no_composition`` (no
entry of the candidate's reduced formula: a column-level fact, ``hull_known_composition``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CoverageGap", "HullCoverage", "hull_coverage", "hull_label", "known_composition",
           "parse_target"]

_ARITY = {1: "unary", 2: "binary", 3: "ternary", 4: "quaternary", 5: "quinary"}


def _arity(n: int) -> str:
    return _ARITY.get(n, f"{n}-element")


def _plural(n: int) -> str:
    return {2: "binaries", 3: "ternaries", 4: "quaternaries", 5: "quinaries"}.get(
        n, f"{n}-element phases")


def hull_label(hull_name: str) -> str:
    """``"offline:chggen-..."`` -> ``"offline hull"``, ``"mp"`` -> ``"mp hull"``."""
    return f"{hull_name.split(':', 1)[0] or 'the'} hull"


@dataclasses.dataclass(frozen=True)
class CoverageGap:
    """One thing the hull lacks.

    Attributes:
        kind: ``missing_reference``, ``no_system_phase``, ``no_subsystem_phase`` or
            ``no_composition``.
        system: the chemical system concerned, e.g. ``"Mg-Si-O"`` (the elements of a
            ``missing_reference`` gap; the formula of a ``no_composition`` gap).
        message: one line, e.g. ``"offline hull: no known ternary Mg-Si-O phase; ..."``.
    """

    kind: str
    system: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class HullCoverage:
    """The gaps of one hull for one target (a chemical system or a composition)."""

    hull: str
    target: str
    chemsys: str
    gaps: tuple[CoverageGap, ...]
    #: the hull holds an entry of the target's reduced formula (None: the target is a
    #: chemical system, not a composition)
    known_composition: bool | None = None

    @property
    def messages(self) -> list[str]:
        return [g.message for g in self.gaps]

    def to_dict(self) -> dict[str, Any]:
        return {"hull": self.hull, "target": self.target, "chemsys": self.chemsys,
                "known_composition": self.known_composition,
                "gaps": [g.to_dict() for g in self.gaps]}


def _entries_of(hull: Any) -> list[Any]:
    """Entries of a PhaseDiagram (``all_entries``) or an iterable of entries."""
    entries = getattr(hull, "all_entries", None)
    return list(entries if entries is not None else hull)


def _symbols(entry: Any) -> frozenset[str]:
    return frozenset(el.symbol for el in entry.composition.elements)


def known_composition(hull: Any, composition: Any) -> bool:
    """True when ``hull`` (entries or a PhaseDiagram) holds an entry of the reduced formula
    of ``composition`` (a formula, a mapping or a pymatgen Composition)."""
    from pymatgen.core import Composition

    formula = Composition(composition).reduced_formula
    return any(e.composition.reduced_formula == formula for e in _entries_of(hull))


def parse_target(target: str | Iterable[str] | Mapping[str, float] | Any
            ) -> tuple[tuple[str, ...], str | None, str]:
    """(elements in display order, reduced formula or None, target label)."""
    from pymatgen.core import Composition

    from chggen_kernels.thermo.energy import _as_composition, parse_chemsys

    if isinstance(target, str) and "-" in target:
        elements = parse_chemsys(target)
        return elements, None, "-".join(elements)
    if isinstance(target, str | Mapping | Composition):
        comp = _as_composition(target)
        elements = tuple(dict.fromkeys(el.symbol for el in comp.elements))
        return elements, comp.reduced_formula, comp.reduced_formula
    elements = parse_chemsys(list(target))
    return elements, None, "-".join(elements)


def hull_coverage(hull: Any, target: str | Iterable[str] | Mapping[str, float] | Any, *,
                  hull_name: str = "hull") -> HullCoverage:
    """The gaps of ``hull`` (pymatgen entries or a PhaseDiagram) for ``target``.

    ``target`` is a chemical system (``"Mg-Si-O"``, a list of elements) or a composition
    (``"Mg2SiO4"``, a mapping, a Composition; its elements keep the formula's order in the
    messages). ``hull_name`` (the source's name, e.g. ``offline:...``) labels the messages.
    Entries with elements outside the target are ignored. Pure: no I/O.
    """
    elements, formula, label = parse_target(target)
    mine = frozenset(elements)
    entries = [e for e in _entries_of(hull) if _symbols(e) <= mine]
    systems = {_symbols(e) for e in entries if len(e.composition.elements) > 1}
    have = {e.composition.elements[0].symbol for e in entries if e.composition.is_element}
    where = hull_label(hull_name)
    chemsys = "-".join(elements)
    gaps: list[CoverageGap] = []
    missing = [el for el in elements if el not in have]
    if missing:
        gaps.append(CoverageGap("missing_reference", "-".join(missing),
                                f"{where}: no elemental reference for {', '.join(missing)}; "
                                f"no E_d in {chemsys}"))
    n = len(elements)
    if n > 1 and mine not in systems:
        below = max((len(s) for s in systems), default=1)
        against = "the elements only" if below == 1 else f"{_plural(below)} only"
        of = f"E_d of {formula}" if formula else f"E_d in {chemsys}"
        gaps.append(CoverageGap("no_system_phase", chemsys,
                                f"{where}: no known {_arity(n)} {chemsys} phase; {of} is "
                                f"measured against {against}"))
    for size in range(n - 1, 1, -1):
        for sub in itertools.combinations(elements, size):
            if frozenset(sub) not in systems:
                name = "-".join(sub)
                gaps.append(CoverageGap("no_subsystem_phase", name,
                                        f"{where}: no known {_arity(size)} {name} phase "
                                        f"(a sub-system of {chemsys})"))
    known = None
    if formula is not None:
        known = any(e.composition.reduced_formula == formula for e in entries)
        if not known and n > 1:
            gaps.append(CoverageGap("no_composition", formula,
                                    f"{where}: no known compound of composition {formula}"))
    return HullCoverage(hull=hull_name, target=label, chemsys=chemsys, gaps=tuple(gaps),
                        known_composition=known)
