"""The pure parts of a training-set build: candidate order, selection, counts.

:func:`interleave` orders candidates smallest cells first with the pools (chemical
systems) interleaved, so a build cut short by a limit or an interrupt is still balanced.
:func:`select_training_set` applies the hull filter and deduplication to the relaxed
records of the candidates; :func:`build_counts` tallies what happened per chemical system
and source for the manifest; :func:`training_crystals` turns kept records into rows of
the training Parquet table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from chggen_kernels.analysis import MatchSettings
from chggen_kernels.datasets.selection import (
    HullPosition,
    deduplicate,
    elements_of,
    energy_above_own_hull,
    system_of,
)
from chggen_kernels.datasets.sources import SourceStructure

__all__ = [
    "COUNT_KEYS",
    "Selection",
    "build_counts",
    "file_sha256",
    "interleave",
    "reference_records",
    "select_training_set",
    "training_crystals",
]

COUNT_KEYS = ("candidates", "relaxed_ok", "failed", "pending", "no_hull_reference",
              "kept_hull", "kept_dedup")


def interleave(pools: Sequence[Iterable[SourceStructure]]) -> list[SourceStructure]:
    """Each pool sorted by (sites, id), then round-robin over the pools; a repeated id
    keeps its first place."""
    ordered = [sorted(pool, key=lambda c: (len(c.structure), c.structure_id)) for pool in pools]
    seen: set[str] = set()
    out = []
    for group in itertools.zip_longest(*ordered):
        for c in group:
            if c is not None and c.structure_id not in seen:
                seen.add(c.structure_id)
                out.append(c)
    return out


@dataclasses.dataclass(frozen=True)
class Selection:
    """What the selection kept: ``hull`` per ok record, ids within the threshold
    (``kept_hull``; records without a hull reference included when asked), and the
    deduplicated ``groups`` (representative id -> member ids, representative first)."""

    hull: dict[str, HullPosition]
    kept_hull: frozenset[str]
    groups: dict[str, list[str]]

    @property
    def kept(self) -> list[str]:
        return list(self.groups)


def select_training_set(
    records: Iterable[Mapping[str, Any]],
    *,
    e_above_hull_max: float = 0.1,
    keep_unreferenced: bool = True,
    match_settings: MatchSettings | None = None,
    extra_hull_records: Iterable[Mapping[str, Any]] = (),
) -> Selection:
    """Hull filter (at most ``e_above_hull_max`` eV/atom above the records' own hull), then
    StructureMatcher deduplication keeping the lowest energy.

    ``keep_unreferenced``: keep records whose chemical system has no relaxed elemental
    entry (their energy above hull is unknown), e.g. AFLOW prototypes with their own
    species, which are known compounds. ``extra_hull_records`` (e.g. :func:`reference_records`
    of the shipped reference hull) join the hull but are never selected themselves.
    """
    if not e_above_hull_max >= 0:
        raise ValueError(f"e_above_hull_max must be >= 0 eV/atom, got {e_above_hull_max!r}")
    ok = [r for r in records if r.get("status") == "ok"]
    hull = energy_above_own_hull([*ok, *extra_hull_records])
    kept = set()
    for r in ok:
        e = hull[r["structure_id"]].e_above_hull
        if (e is None and keep_unreferenced) or (e is not None and e <= e_above_hull_max):
            kept.add(r["structure_id"])
    groups = deduplicate([r for r in ok if r["structure_id"] in kept], match_settings)
    return Selection(hull=hull, kept_hull=frozenset(kept), groups=groups)


def build_counts(
    candidates: Sequence[SourceStructure],
    records: Mapping[str, Mapping[str, Any]],
    selection: Selection,
    systems: Sequence[str],
) -> dict[str, Any]:
    """Counts per chemical system (first of ``systems`` holding the candidate's elements,
    else ``"other"``) and source, plus totals, failure codes and relaxers."""
    table: dict[str, dict[str, Counter]] = {}
    total: Counter = Counter()
    failures: Counter = Counter()
    relaxers: Counter = Counter()
    kept = set(selection.groups)
    for c in candidates:
        system = system_of((el.symbol for el in c.structure.composition.elements), systems)
        row = table.setdefault(system, {}).setdefault(c.source, Counter())
        keys = ["candidates"]
        r = records.get(c.structure_id)
        if r is None:
            keys.append("pending")
        elif r.get("status") != "ok":
            keys.append("failed")
            failures[str(r.get("failure_reason") or "unknown").split(":", 1)[0]] += 1
        else:
            keys.append("relaxed_ok")
            relaxers[str(r.get("relaxer") or "unrecorded")] += 1
            if selection.hull[c.structure_id].e_above_hull is None:
                keys.append("no_hull_reference")
            if c.structure_id in selection.kept_hull:
                keys.append("kept_hull")
            if c.structure_id in kept:
                keys.append("kept_dedup")
        for key in keys:
            row[key] += 1
            total[key] += 1
    return {
        "total": {k: total[k] for k in COUNT_KEYS},
        "by_system": {system: {source: {k: counts[k] for k in COUNT_KEYS}
                               for source, counts in sorted(by_source.items())}
                      for system, by_source in sorted(table.items())},
        "failure_codes": dict(failures.most_common()),
        "relaxers": dict(relaxers.most_common()),
    }


def training_crystals(
    records: Mapping[str, Mapping[str, Any]],
    selection: Selection,
    systems: Sequence[str],
) -> list:
    """``TrainingCrystal`` rows of the kept records, ordered by (system, formula, energy).

    Provenance columns: prototype, system, e_above_hull (own hull, eV/atom; empty when
    unknown), n_steps, converged, relaxer, cell_formula, n_duplicates (other members of
    its StructureMatcher group).
    """
    from chggen_kernels.training.data import TrainingCrystal

    rows = []
    for rep, members in selection.groups.items():
        r = records[rep]
        structure = Structure.from_dict(r["structure"])
        e_hull = selection.hull[rep].e_above_hull
        provenance = {
            "prototype": r.get("prototype"),
            "system": system_of(elements_of(r), systems),
            "e_above_hull": None if e_hull is None else f"{e_hull:.6f}",
            "n_steps": r.get("n_steps"),
            "converged": r.get("converged"),
            "relaxer": r.get("relaxer"),
            "cell_formula": r.get("formula"),
            "n_duplicates": len(members) - 1,
        }
        rows.append(TrainingCrystal(
            structure_id=rep, structure=structure, source=str(r.get("source") or "unknown"),
            energy_per_atom=float(r["energy_per_atom"]),
            provenance={k: str(v) for k, v in provenance.items() if v is not None},
        ))
    rows.sort(key=lambda c: (c.provenance["system"], c.structure.composition.reduced_formula,
                             c.energy_per_atom, c.structure_id))
    return rows


def reference_records(path: str | Path) -> list[dict[str, Any]]:
    """Entries of a hull file (reference JSON, monty JSON or CSV; ``read_entries``) as ok
    records with ``source = "reference"`` and ids ``ref-<name>-<index>``, for
    ``extra_hull_records`` and :func:`reference_hull_from_build`."""
    from chggen_kernels.thermo import read_entries

    path = Path(path)
    out = []
    for i, entry in enumerate(read_entries(path)):
        data = getattr(entry, "data", None) or {}
        structure = data.get("structure")
        out.append({
            "structure_id": f"ref-{path.stem}-{i}", "source": "reference",
            "prototype": str(data.get("source") or path.name),
            "formula": entry.composition.formula, "status": "ok",
            "energy_per_atom": float(entry.energy_per_atom),
            "structure": structure.as_dict() if isinstance(structure, Structure) else structure,
        })
    return out


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
