"""Is a candidate a known phase? Labels against the shipped known-phase structures.

Each successful candidate gets one of three labels (the ``novelty`` column):

* ``known-phase``: its relaxed structure matches the shipped known phase of its
  composition (``known_phase_id`` names it, e.g. ``mp-27705``);
* ``known-composition``: a known phase of its composition ships, but the candidate is
  another structure;
* ``new-composition``: no known phase of its composition ships.

The known phases are those of :mod:`chggen_kernels.thermo.known_structures`: one structure
per composition of the offline hull (the lowest-CHGNet-energy known phase, the source's
DFT-relaxed cell), 6,920 compositions. Other known polymorphs of a composition are not
shipped, so ``known-composition`` means "not the hull's phase of this composition".
Matching is pymatgen's ``StructureMatcher`` at the benchmark's tolerances
(:data:`~chggen_kernels.benchmark.matching.BENCHMARK_MATCH`: ltol 0.3, stol 0.5,
angle_tol 10 degrees, primitive cells, volumes scaled), so a CHGNet-relaxed copy of a
DFT cell still matches.

:class:`KnownPhaseLabeller` reads the phases of the formulas it is asked about once and
keeps them (one instance per runner or process: pass it in, it is not global).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from chggen_kernels.analysis import MatchSettings

__all__ = ["KNOWN_COMPOSITION", "KNOWN_PHASE", "NEW_COMPOSITION", "NOVELTY_LABELS",
           "KnownPhaseLabeller", "NoveltyLabel", "describe_novelty"]

KNOWN_PHASE = "known-phase"
KNOWN_COMPOSITION = "known-composition"
NEW_COMPOSITION = "new-composition"
#: The values of the ``novelty`` column (null: not labelled, e.g. a failed row).
NOVELTY_LABELS = (KNOWN_PHASE, KNOWN_COMPOSITION, NEW_COMPOSITION)


@dataclasses.dataclass(frozen=True)
class NoveltyLabel:
    """The label of one candidate; ``known_phase_id`` only for ``known-phase``."""

    novelty: str
    formula: str
    known_phase_id: str | None = None

    @property
    def text(self) -> str:
        """``"known phase Li2Si (mp-27705)"``, ``"known composition, new structure"`` or
        ``"new composition"``."""
        return describe_novelty(self.novelty, self.known_phase_id, self.formula)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value == ""


def describe_novelty(novelty: Any, known_phase_id: Any = None, formula: Any = None) -> str:
    """The words for a row's ``novelty`` / ``known_phase_id`` / ``formula`` (``"unknown"``
    for a null label: a failed row, or a row of a chggen before the column existed)."""
    if _missing(novelty):
        return "unknown"
    if novelty == KNOWN_PHASE:
        name = "" if _missing(formula) else f" {formula}"
        source = "" if _missing(known_phase_id) else f" ({known_phase_id})"
        return f"known phase{name}{source}"
    if novelty == KNOWN_COMPOSITION:
        return "known composition, new structure"
    if novelty == NEW_COMPOSITION:
        return "new composition"
    return str(novelty)


class KnownPhaseLabeller:
    """Labels relaxed structures against the known phases of their composition.

    Args:
        path: the known-phase structures file (default: the shipped one).
        settings: StructureMatcher tolerances (default: the benchmark's).
        read: ``(path, formulas) -> [KnownPhase]``; default
            :func:`~chggen_kernels.thermo.known_structures.read_known_phase_structures`.

    The file is read once per batch of formulas not seen before (:meth:`preload`), and a
    formula's phases and matchers are kept for every later candidate.
    """

    def __init__(self, path: Any = None, settings: MatchSettings | None = None,
                 read: Callable[..., Sequence[Any]] | None = None) -> None:
        from chggen_kernels.benchmark.matching import BENCHMARK_MATCH

        if read is None:
            from chggen_kernels.thermo.known_structures import read_known_phase_structures

            read = read_known_phase_structures
        self.path = path
        self.settings = settings or BENCHMARK_MATCH
        self._read = read
        self._known: dict[str, list[tuple[str, Any]]] = {}  # formula -> [(id, matcher)]

    def preload(self, formulas: Iterable[str]) -> None:
        """Read the known phases of the reduced ``formulas`` not read yet (one file read)."""
        from chggen_kernels.benchmark.matching import KnownMatcher

        missing = sorted({f for f in formulas if f and f not in self._known})
        if not missing:
            return
        found: dict[str, list[tuple[str, Any]]] = {f: [] for f in missing}
        for phase in self._read(self.path, formulas=missing):
            if phase.formula in found:
                found[phase.formula].append(
                    (phase.source_id, KnownMatcher(phase.structure, self.settings, strict=None)))
        self._known.update(found)

    def label(self, structure: Structure) -> NoveltyLabel | None:
        """The label of ``structure``; ``None`` when matching could not run (pymatgen
        raised on a degenerate cell)."""
        formula = structure.composition.reduced_formula
        self.preload([formula])
        known = self._known[formula]
        if not known:
            return NoveltyLabel(NEW_COMPOSITION, formula)
        for source_id, matcher in known:
            result = matcher.match(structure)
            if result.error is not None:
                return None
            if result.matched:
                return NoveltyLabel(KNOWN_PHASE, formula, source_id)
        return NoveltyLabel(KNOWN_COMPOSITION, formula)
