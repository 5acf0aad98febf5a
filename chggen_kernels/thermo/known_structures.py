"""The structures of the offline hull's known phases, shipped with the package.

``chggen_kernels/data/known_phase_structures.json.gz`` holds one structure for every entry
of the offline hull (``hull_known_phases.json``: the lowest-CHGNet-energy known phase of
each composition), each with its source collection and source id, so that

* hulls for another potential can be built offline (relax these, not DFT energies),
* candidates can be labelled "matches known phase X (id)",
* template starts (``--mode template``) find known structures of a stoichiometry type,

without the known-structures file. The structures are the source's own (DFT-relaxed)
cells, not CHGNet-relaxed ones. Licences and attributions: ``chggen_kernels/data/NOTICE.md``.

The file is compact JSON: lattice rows in Å (4 decimals), fractional coordinates
(5 decimals), element symbols; ``write_known_phase_structures`` and
``read_known_phase_structures`` are its only writer and reader.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure

__all__ = ["KNOWN_PHASE_STRUCTURES", "KnownPhase", "KnownPhaseError",
           "read_known_phase_structures", "write_known_phase_structures"]

#: The shipped file.
KNOWN_PHASE_STRUCTURES = Path(__file__).resolve().parents[1] / "data" / \
    "known_phase_structures.json.gz"
_FORMAT = "chggen-known-phase-structures"


class KnownPhaseError(ValueError):
    """The known-phase structures file is missing or not in the expected format."""


@dataclasses.dataclass(frozen=True)
class KnownPhase:
    """One known phase: its structure (source cell, Å) and where it comes from."""

    source_id: str
    collection: str
    origin: str
    licence: str
    structure: Structure

    @property
    def formula(self) -> str:
        """Reduced formula, e.g. ``"Li2Si"``."""
        return self.structure.composition.reduced_formula


def write_known_phase_structures(path: str | os.PathLike[str],
                                 phases: Iterable[KnownPhase], description: str) -> int:
    """Write ``phases`` compactly (gzip JSON) to ``path``; returns the number written."""
    sources: dict[str, dict[str, str]] = {}
    rows = []
    for phase in phases:
        src = sources.setdefault(phase.collection, {"origin": phase.origin,
                                                    "licence": phase.licence})
        if (src["origin"], src["licence"]) != (phase.origin, phase.licence):
            raise KnownPhaseError(f"collection {phase.collection!r}: two origins or licences")
        s = phase.structure
        rows.append([phase.collection, phase.source_id, phase.formula,
                     [round(float(x), 4) for x in s.lattice.matrix.ravel()],
                     [site.specie.symbol for site in s],
                     [round(float(x), 5) for x in np.mod(s.frac_coords, 1.0).ravel()]])
    data = {"format": _FORMAT, "version": 1, "description": description,
            "sources": sources, "rows": rows}
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(data, handle, separators=(",", ":"))
    return len(rows)


def read_known_phase_structures(path: str | os.PathLike[str] | None = None,
                                formulas: Sequence[str] | None = None) -> list[KnownPhase]:
    """The known phases in ``path`` (default: the shipped file), in file order.

    ``formulas``: keep only these reduced formulas (faster than building every structure).

    Raises:
        KnownPhaseError: a missing file or another format.
    """
    path = Path(path) if path is not None else KNOWN_PHASE_STRUCTURES
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise KnownPhaseError(f"known-phase structures {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise KnownPhaseError(f"known-phase structures {path}: not a {_FORMAT} file")
    wanted = None if formulas is None else set(formulas)
    sources = data["sources"]
    out = []
    for collection, source_id, formula, lattice, species, coords in data["rows"]:
        if wanted is not None and formula not in wanted:
            continue
        frac = np.asarray(coords, dtype=float).reshape(-1, 3)
        structure = Structure(Lattice(np.asarray(lattice, dtype=float).reshape(3, 3)),
                              species, frac)
        src = sources[collection]
        out.append(KnownPhase(str(source_id), collection, src["origin"], src["licence"],
                              structure))
    return out
