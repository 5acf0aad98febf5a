"""The offline hull from known phases: what to compute, and the entries that result.

Two kinds of CHGNet energy enter (eV/atom, the MaterialsProject2020-compatible scale of
CHGNet, no corrections):

* ``relaxed``: CHGNet relaxation (FIRE + FrechetCellFilter) of the known structure. Every
  structure of the target systems (and their subsystems) is relaxed, and so are the
  ``relax_per_element`` lowest elemental polymorphs of every element (lowest by
  single-point energy).
* ``single_point``: CHGNet energy of the known (DFT-relaxed) structure as given, for every
  other compound. A single point is an upper bound of the CHGNet minimum near that
  structure, so a compound measured this way lies a little too high on the hull
  (typically a few meV/atom for DFT minima).

:func:`hull_entries` keeps the lowest energy per reduced composition (both kinds are upper
bounds of the CHGNet minimum of that composition, so the lower one is the better bound) and
returns records of composition, energy, kind and source id only: no structure is shipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chggen_kernels.chemsys import parse_chemsys

__all__ = ["elements_to_relax", "hull_entries", "in_target_systems", "own_build_gaps"]


def in_target_systems(elements: Iterable[str], systems: Sequence[str]) -> bool:
    """True when the elements lie inside one of ``systems`` (``"Li-Si"``, ...)."""
    mine = set(elements)
    return any(mine <= set(parse_chemsys(s)) for s in systems)


def elements_to_relax(
    single_points: Mapping[str, Mapping[str, Any]],
    formulas: Mapping[str, str],
    relax_per_element: int = 2,
) -> list[str]:
    """Ids of the ``relax_per_element`` lowest elemental structures of every element.

    ``single_points`` maps id -> record with ``energy_per_atom`` (eV/atom) and
    ``status``; ``formulas`` maps id -> reduced formula (elements are one-symbol formulas).
    """
    from pymatgen.core import Composition

    by_element: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for sid, record in single_points.items():
        formula = formulas.get(sid, "")
        if record.get("status") != "ok" or not formula:
            continue
        composition = Composition(formula)
        if not composition.is_element:  # "O2", "N2", "Li": elements; "LiSi" is not
            continue
        by_element[composition.elements[0].symbol].append((float(record["energy_per_atom"]),
                                                           sid))
    out = []
    for element in sorted(by_element):
        out += [sid for _, sid in sorted(by_element[element])[:relax_per_element]]
    return out


def hull_entries(
    relaxed: Iterable[Mapping[str, Any]],
    single_points: Iterable[Mapping[str, Any]],
    provenance: Mapping[str, Mapping[str, str]],
) -> list[dict[str, Any]]:
    """The lowest energy per reduced composition, as reference-hull records.

    ``relaxed`` and ``single_points`` are records with ``structure_id``, ``status``,
    ``formula`` (any cell formula) and ``energy_per_atom`` (eV/atom); ``provenance`` maps
    id -> ``source`` / ``source_id``. Each composition takes its lowest energy of either
    kind (ties: relaxed). Each record holds
    ``formula`` (reduced), ``energy_per_atom``, ``kind`` (relaxed | single_point),
    ``source_id``, ``collection`` and ``source`` (a one-line description).
    """
    from pymatgen.core import Composition

    best: dict[str, dict[str, Any]] = {}
    rank = {"relaxed": 0, "single_point": 1}
    for kind, records in (("relaxed", relaxed), ("single_point", single_points)):
        for r in records:
            if r.get("status") != "ok":
                continue
            formula = Composition(r["formula"]).reduced_formula
            energy = float(r["energy_per_atom"])
            held = best.get(formula)
            key = (round(energy, 6), rank[kind])
            if held is not None and (held["energy_per_atom"], rank[held["kind"]]) <= key:
                continue
            prov = provenance.get(r["structure_id"], {})
            best[formula] = {
                "formula": formula, "energy_per_atom": round(energy, 6), "kind": kind,
                "source_id": prov.get("source_id", ""),
                "collection": prov.get("source", ""),
                "source": f"CHGNet {kind.replace('_', '-')} of {prov.get('source_id', '?')} "
                          f"({prov.get('source', '?')})",
            }
    return [best[f] for f in sorted(best)]


def own_build_gaps(known: Iterable[Mapping[str, Any]], build: Iterable[Mapping[str, Any]]
                   ) -> list[dict[str, Any]]:
    """Entries of our own training-set build at compositions no known phase covers,
    marked ``kind = "own_build"`` (lowest per composition; no structure kept)."""
    from pymatgen.core import Composition

    covered = {Composition(e["formula"]).reduced_formula for e in known}
    best: dict[str, dict[str, Any]] = {}
    for e in build:
        formula = Composition(e["formula"]).reduced_formula
        if formula in covered:
            continue
        energy = float(e["energy_per_atom"])
        if formula not in best or energy < best[formula]["energy_per_atom"]:
            best[formula] = {"formula": formula, "energy_per_atom": round(energy, 6),
                             "kind": "own_build", "source_id": str(e.get("structure_id", "")),
                             "source": "chggen data build (no known phase at this "
                                       f"composition): {e.get('source', '')}"[:300]}
    return [best[f] for f in sorted(best)]
