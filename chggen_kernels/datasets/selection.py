"""Selecting the training set from relaxed records, and the reference hull they define.

Records are the dicts of :mod:`chggen_kernels.datasets.relaxed` (``status``, ``formula``,
``energy_per_atom`` in eV/atom, ``structure`` as a pymatgen dict, ...).

* :func:`energy_above_own_hull`: each ok record's energy above the convex hull built from
  the ok records themselves (pymatgen ``PhaseDiagram`` of its own chemical system with
  every record whose elements lie inside it). A record whose chemical system lacks a
  relaxed elemental entry for some element gets ``e_above_hull = None`` and the missing
  elements named; the caller decides whether to keep it.
* :func:`deduplicate`: StructureMatcher groups (same reduced formula first), the lowest
  energy of each group kept.
* :func:`reference_hull_from_build`: the lowest-energy record per composition, elemental
  ground states included, in the ``chggen-reference-hull`` format that
  ``OfflineHullSource`` / ``FileHullSource`` read.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Element, Structure
from pymatgen.entries.computed_entries import ComputedEntry

from chggen_kernels.analysis import MatchSettings, duplicate_groups
from chggen_kernels.datasets.sources import parse_chemsys

__all__ = [
    "HullPosition",
    "ReferenceHull",
    "deduplicate",
    "elements_of",
    "energy_above_own_hull",
    "reference_hull_from_build",
    "system_of",
]

Record = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class HullPosition:
    """Energy above the set's own hull (eV/atom), or ``None`` with the missing elements."""

    e_above_hull: float | None
    missing_elements: tuple[str, ...] = ()


def elements_of(record: Record) -> frozenset[str]:
    """Element symbols of a record's ``formula``."""
    return frozenset(el.symbol for el in Composition(record["formula"]).elements)


def system_of(elements: Iterable[str], systems: Sequence[str]) -> str:
    """The first of ``systems`` (e.g. ``["Li-Si", "Li-P-S"]``) holding every element,
    else ``"other"``."""
    wanted = set(elements)
    for system in systems:
        if wanted <= set(parse_chemsys(system)):
            return "-".join(parse_chemsys(system))
    return "other"


def _ok(records: Iterable[Record]) -> list[Record]:
    return [r for r in records if r.get("status") == "ok"]


def energy_above_own_hull(records: Iterable[Record]) -> dict[str, HullPosition]:
    """``structure_id -> HullPosition`` for every ok record (see module docstring).

    One phase diagram per distinct chemical system among the records; energies are used
    as they are (CHGNet, eV/atom).
    """
    ok = _ok(records)
    entries: list[tuple[frozenset[str], ComputedEntry, str]] = []
    for r in ok:
        comp = Composition(r["formula"])
        entry = ComputedEntry(comp, float(r["energy_per_atom"]) * comp.num_atoms,
                              entry_id=r["structure_id"])
        entries.append((frozenset(el.symbol for el in comp.elements), entry, r["structure_id"]))
    have_elemental = {next(iter(els)) for els, _, _ in entries if len(els) == 1}
    by_system: dict[frozenset[str], list[int]] = defaultdict(list)
    for i, (els, _, _) in enumerate(entries):
        by_system[els].append(i)
    out: dict[str, HullPosition] = {}
    for system, members in by_system.items():
        missing = tuple(sorted(system - have_elemental))
        if missing:
            for i in members:
                out[entries[i][2]] = HullPosition(None, missing)
            continue
        pool = [entry for els, entry, _ in entries if els <= system]
        diagram = PhaseDiagram(pool, elements=[Element(el) for el in sorted(system)])
        for i in members:
            _, e_hull = diagram.get_decomp_and_e_above_hull(entries[i][1], allow_negative=True)
            out[entries[i][2]] = HullPosition(max(0.0, float(e_hull)))
    return out


def deduplicate(
    records: Iterable[Record],
    settings: MatchSettings | None = None,
) -> dict[str, list[str]]:
    """Group equivalent ok records; ``representative id -> ids of its group``.

    Records are compared within the same reduced formula with pymatgen's StructureMatcher
    (``settings``, default :class:`MatchSettings`: primitive cells, volume scaled, so a
    supercell or a slightly perturbed copy matches). The representative is the lowest
    energy of its group (ties: the smaller id); it is listed first.
    """
    ok = sorted(_ok(records), key=lambda r: (float(r["energy_per_atom"]), r["structure_id"]))
    structures = [Structure.from_dict(r["structure"]) for r in ok]
    labels = duplicate_groups(structures, settings or MatchSettings())
    groups: dict[str, list[str]] = {}
    for r, label in zip(ok, labels, strict=True):
        groups.setdefault(ok[label]["structure_id"], []).append(r["structure_id"])
    return groups


@dataclasses.dataclass(frozen=True)
class ReferenceHull:
    """Entries written by :func:`reference_hull_from_build` and the elements left without
    an elemental reference, per chemical system (``{"Li-P-S": ["P"]}``)."""

    entries: tuple[dict[str, Any], ...]
    missing_elements: dict[str, list[str]]


def reference_hull_from_build(
    records: Iterable[Record],
    *,
    chemsys: Sequence[str] | None = None,
    hull: Mapping[str, HullPosition] | None = None,
    structure_max_e_above_hull: float = 0.1,
    path: str | Path | None = None,
    label: str = "chggen-data-build",
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ReferenceHull:
    """The lowest-energy ok record of every composition, as reference-hull entries.

    Args:
        records: relaxed records.
        chemsys: keep only compositions inside one of these systems (``None``: all).
        hull: :func:`energy_above_own_hull` of the same records (computed if ``None``);
            each entry gets its ``e_above_hull`` (eV/atom) and, when at most
            ``structure_max_e_above_hull``, its relaxed structure.
        path: when given, the file is written there (``write_reference_file``, atomic).
        label: the source's label (``OfflineHullSource(path).name == "offline:<label>"``).
    """
    from chggen_kernels.thermo.entries_io import write_reference_file

    ok = _ok(records)
    systems = [frozenset(parse_chemsys(s)) for s in (chemsys or ())]
    if hull is None:
        hull = energy_above_own_hull(ok)
    best: dict[str, Record] = {}
    for r in sorted(ok, key=lambda r: (float(r["energy_per_atom"]), r["structure_id"])):
        els = elements_of(r)
        if systems and not any(els <= s for s in systems):
            continue
        best.setdefault(Composition(r["formula"]).reduced_formula, r)
    entries = []
    for formula, r in sorted(best.items(), key=lambda kv: (len(Composition(kv[0])), kv[0])):
        position = hull.get(r["structure_id"])
        e_hull = None if position is None else position.e_above_hull
        what = " ".join(str(x) for x in (r.get("source"), r.get("prototype")) if x)
        entry: dict[str, Any] = {
            "formula": formula,
            "energy_per_atom": round(float(r["energy_per_atom"]), 6),
            "source": f"chggen data build: {what} ({r['structure_id']})"
                      + (f", {r['relaxer']}" if r.get("relaxer") else ""),
            "structure_id": r["structure_id"],
            "e_above_hull": None if e_hull is None else round(e_hull, 6),
            "volume_per_atom": r.get("volume_per_atom"),
            "n_steps": r.get("n_steps"),
        }
        if e_hull is not None and e_hull <= structure_max_e_above_hull and r.get("structure"):
            entry["structure"] = r["structure"]
        entries.append(entry)
    elemental = {f for f in best if Composition(f).is_element}
    missing = {}
    for system in (chemsys or ()):
        absent = [el for el in parse_chemsys(system)
                  if Composition(el).reduced_formula not in elemental]
        if absent:
            missing["-".join(parse_chemsys(system))] = absent
    if path is not None:
        text = description or (
            "Lowest-energy CHGNet-relaxed entry per composition of a `chggen data build` "
            "(elemental ground states included). Energies in eV/atom on the CHGNet "
            "(MaterialsProject2020-compatible) scale, no corrections."
        )
        meta = {"label": label, **dict(metadata or {}),
                "missing_elements": missing}
        write_reference_file(path, entries, text, metadata=meta)
    return ReferenceHull(entries=tuple(entries), missing_elements=missing)

