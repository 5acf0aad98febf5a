"""The offline hull for a potential other than CHGNet: the known phases relaxed with it.

Energies of two potentials never go onto one diagram. The shipped offline hull holds CHGNet
energies, so a run that relaxes with another potential (``--mlip``) gets E_d against a hull
built with that potential: :class:`PotentialHullSource` relaxes the shipped structures of
the offline hull's known phases (:mod:`chggen_kernels.thermo.known_structures`, one per
composition, the source's own DFT cell) with the potential, on demand, and caches the
energies on disk per potential and chemical system. The phases are those of the CHGNet
hull; the hull differs from it only where

* a relaxation fails (the phase is left out; the cache file lists it with its reason),
* the CHGNet hull holds an entry without a shipped structure (the ``own_build`` entries of
  ``reference_hull_build.json``, at compositions where no known phase exists),

and :meth:`PotentialHullSource.prepare` says how many phases differ.

Every known phase is relaxed (FIRE + FrechetCellFilter, ``fmax`` :data:`HULL_FMAX` eV/Å,
at most :data:`HULL_MAX_STEPS` steps, as the shipped CHGNet hull's relaxed entries), where
the CHGNet hull took single points of the DFT structures for most compositions: the hull
of another potential is its own minimum near each known structure.

Cache: ``<user cache>/hulls/<potential>-<key>/<chemsys>.json`` (:func:`chggen_kernels.files
.user_cache_dir`: ``$CHGGEN_CACHE``, else ``$XDG_CACHE_HOME/chggen``, else
``~/.cache/chggen``), one file per chemical system holding the phases of exactly those
elements, written atomically; the key hashes the potential's name, version and weights
SHA-256, the known-phase structures and the relaxation settings, so another potential or
another version never reads it. A system is relaxed once; the hull of ``Li-Si`` reads the
files of ``Li``, ``Si`` and ``Li-Si``. Energies in eV/atom.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import itertools
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chggen_kernels.thermo.energy import parse_chemsys

if TYPE_CHECKING:  # pragma: no cover
    from chggen_kernels.relax.potentials import Potential
    from chggen_kernels.relax.settings import RelaxSettings

__all__ = ["CACHE_FORMAT", "HULL_FMAX", "HULL_MAX_STEPS", "HullBuild", "PotentialHullSource",
           "hull_relax_settings"]

#: Convergence threshold of the known-phase relaxations, eV/Å (the shipped CHGNet hull's).
HULL_FMAX = 0.05
#: Most optimiser steps of a known-phase relaxation (the shipped CHGNet hull's).
HULL_MAX_STEPS = 1000
CACHE_FORMAT = "chggen-potential-hull"
_ELEMENT = re.compile(r"[A-Z][a-z]?")
Log = Callable[[str], None]


def hull_relax_settings(mlip: str, device: str = "cpu") -> RelaxSettings:
    """How the known phases are relaxed for the hull of ``mlip`` (on ``device``)."""
    from chggen_kernels.relax.settings import RelaxSettings

    return RelaxSettings(fmax=HULL_FMAX, max_steps=HULL_MAX_STEPS, mlip=mlip, device=device)


def _elements(formula: str) -> frozenset[str]:
    return frozenset(_ELEMENT.findall(formula))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclasses.dataclass
class HullBuild:
    """What :meth:`PotentialHullSource.prepare` found for one chemical system.

    Attributes:
        chemsys: e.g. ``"Li-Si"``.
        phases: entries of the hull (known phases relaxed with the potential).
        relaxed_now: phases relaxed by this call (the rest came from the cache).
        failed: ``(formula, source_id, reason)`` of the phases whose relaxation failed.
        without_structure: formulas of the CHGNet hull without a shipped structure.
        seconds: wall time of the relaxations of this call, s.
    """

    chemsys: str
    phases: int = 0
    relaxed_now: int = 0
    failed: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    without_structure: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def differ(self) -> int:
        """Phases of the CHGNet hull missing from this one."""
        return len(self.failed) + len(self.without_structure)

    def line(self, hull_name: str) -> str:
        """One line for stderr: where the hull came from and how many phases differ."""
        done = (f"{self.relaxed_now} known phases relaxed in {self.seconds:.0f} s"
                if self.relaxed_now else "read from the cache")
        head = f"{hull_name}: {self.chemsys}: {self.phases} phases ({done})"
        if not self.differ:
            return f"{head}; the same phases as the CHGNet hull"
        parts = []
        if self.failed:
            shown = ", ".join(f"{f} ({sid})" for f, sid, _ in self.failed[:5])
            parts.append(f"{len(self.failed)} whose relaxation failed: {shown}"
                         + (" ..." if len(self.failed) > 5 else ""))
        if self.without_structure:
            shown = ", ".join(self.without_structure[:5])
            parts.append(f"{len(self.without_structure)} without a shipped structure "
                         f"(own-build entries): {shown}"
                         + (" ..." if len(self.without_structure) > 5 else ""))
        return (f"{head}; {self.differ} of the CHGNet hull's {self.phases + self.differ} "
                f"phases differ: {'; '.join(parts)}")


class _KnownIndex:
    """Formulas of the known-phase structures and of the CHGNet hull, by element set."""

    def __init__(self, structures_path: Path | None) -> None:
        from chggen_kernels.thermo.known_structures import KNOWN_PHASE_STRUCTURES
        from chggen_kernels.thermo.sources import build_hull_data_path, known_phases_data_path

        self.structures_path = Path(structures_path or KNOWN_PHASE_STRUCTURES)
        with gzip.open(self.structures_path, "rt", encoding="utf-8") as handle:
            rows = json.load(handle).get("rows", [])
        self.structures: dict[frozenset[str], list[str]] = {}
        for row in rows:
            self.structures.setdefault(_elements(str(row[2])), []).append(str(row[2]))
        self.chgnet: dict[frozenset[str], list[str]] = {}
        labels = []
        for path in (known_phases_data_path(), build_hull_data_path()):
            data = json.loads(path.read_text())
            labels.append(str(data.get("label", path.name)))
            for entry in data.get("entries", []):
                self.chgnet.setdefault(_elements(str(entry["formula"])), []).append(
                    str(entry["formula"]))
        self.label = labels[0]
        self.digest = hashlib.sha256(self.structures_path.read_bytes()).hexdigest()

    def systems(self, elements: Sequence[str]) -> list[frozenset[str]]:
        """The element sets inside ``elements`` holding a known phase or a CHGNet entry."""
        out = []
        for k in range(1, len(elements) + 1):
            for combo in itertools.combinations(sorted(elements), k):
                key = frozenset(combo)
                if key in self.structures or key in self.chgnet:
                    out.append(key)
        return out


class PotentialHullSource:
    """Hull entries of the known phases relaxed with ``potential`` (module docstring).

    Args:
        potential: the resolved potential (:func:`~chggen_kernels.relax.potentials
            .resolve_potential`).
        relaxer_factory: ``() -> relaxer`` with ``relax(structure) -> RelaxResult``, called
            the first time a system must be relaxed (default: a
            :class:`~chggen_kernels.relax.Relaxer` with :func:`hull_relax_settings`).
        device: torch device of the default relaxer.
        cache_dir: the cache folder of all potentials (default ``<user cache>/hulls``).
        log: progress lines (default stderr; ``None``: silent).
        structures_path: the known-phase structures (default: the shipped file).
    """

    def __init__(self, potential: Potential, relaxer_factory: Callable[[], Any] | None = None,
                 *, device: str = "cpu", cache_dir: str | Path | None = None,
                 log: Log | None = _stderr, structures_path: str | Path | None = None) -> None:
        self.potential = potential
        self.device = device
        self._relaxer_factory = relaxer_factory
        self._relaxer: Any = None
        self.log = log
        self._index = _KnownIndex(Path(structures_path) if structures_path else None)
        if cache_dir is None:
            from chggen_kernels.files import user_cache_dir

            cache_dir = user_cache_dir() / "hulls"
        settings = hull_relax_settings(potential.name).to_dict()
        for name in ("device", "n_threads", "blas_threads", "mlip"):
            settings.pop(name, None)
        self.key = {"format": CACHE_FORMAT, "version": 1, "potential": potential.record(),
                    "known_phases": {"label": self._index.label,
                                     "sha256": self._index.digest},
                    "relax": settings}
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()
        self.cache_dir = Path(cache_dir).expanduser() / f"{potential.slug}-{digest[:16]}"
        self._systems: dict[frozenset[str], dict[str, Any]] = {}

    @property
    def label(self) -> str:
        """How progress lines name this hull: ``"sevennet hull"``."""
        return f"{self.potential.name} hull"

    @property
    def name(self) -> str:
        """``offline-<potential>:<known-phases label>``, e.g.
        ``offline-sevennet:chggen-known-phases-v1``."""
        return f"offline-{self.potential.slug}:{self._index.label}"

    def __repr__(self) -> str:
        return f"PotentialHullSource({self.potential.name!r}, cache_dir={str(self.cache_dir)!r})"

    def cache_path(self, elements: Iterable[str]) -> Path:
        """The cache file of the phases of exactly ``elements``."""
        return self.cache_dir / f"{'-'.join(sorted(elements))}.json"

    # ------------------------------------------------------------------ public
    def entries(self, elements: Sequence[str]) -> list[Any]:
        """The entries whose elements lie inside ``elements`` (systems not yet cached are
        relaxed first)."""
        from chggen_kernels.thermo.entries_io import entries_from_records

        elements = parse_chemsys(elements)
        records = []
        for system in self._index.systems(elements):
            records += self._system(system, None)["entries"]
        return entries_from_records(records, self.name)

    def prepare(self, chemsys: str | Sequence[str]) -> HullBuild:
        """Relax (or read from the cache) every known phase of ``chemsys`` and its
        sub-systems; returns what was found (:meth:`HullBuild.line` says it in one line)."""
        elements = parse_chemsys(chemsys)
        build = HullBuild("-".join(elements))
        for system in self._index.systems(elements):
            data = self._system(system, build)
            build.phases += len(data["entries"])
            build.failed += [(f["formula"], f["source_id"], f["reason"])
                             for f in data["failed"]]
            build.without_structure += data["without_structure"]
        return build

    # ------------------------------------------------------------------ internals
    def _system(self, system: frozenset[str], build: HullBuild | None) -> dict[str, Any]:
        if system in self._systems:
            return self._systems[system]
        data = self._read(system)
        if data is None:
            data = self._relax_system(system, build)
        self._systems[system] = data
        return data

    def _read(self, system: frozenset[str]) -> dict[str, Any] | None:
        path = self.cache_path(system)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            if data.get("key") != self.key or not isinstance(data.get("entries"), list):
                raise ValueError("written for other settings")
            return data
        except (OSError, ValueError, AttributeError) as exc:
            if self.log:
                self.log(f"{self.label}: cache file {path} unusable ({exc}); relaxing again")
            return None

    def _relaxer_now(self) -> Any:
        if self._relaxer is None:
            if self._relaxer_factory is not None:
                self._relaxer = self._relaxer_factory()
            else:
                from chggen_kernels.relax import Relaxer

                self._relaxer = Relaxer(hull_relax_settings(self.potential.name, self.device))
        return self._relaxer

    def _relax_system(self, system: frozenset[str], build: HullBuild | None) -> dict[str, Any]:
        from chggen_kernels.files import write_atomic
        from chggen_kernels.thermo.known_structures import read_known_phase_structures

        chemsys = "-".join(sorted(system))
        formulas = self._index.structures.get(system, [])
        phases = read_known_phase_structures(self._index.structures_path, formulas=formulas) \
            if formulas else []
        have = {p.formula for p in phases}
        without = sorted(f for f in self._index.chgnet.get(system, []) if f not in have)
        entries, failed = [], []
        relaxer = self._relaxer_now() if phases else None
        if phases and self.log:
            atoms = sum(len(p.structure) for p in phases)
            self.log(f"{self.label}: relaxing the {len(phases)} known phase"
                     f"{'s' if len(phases) != 1 else ''} of {chemsys} ({atoms} atoms) with "
                     f"{self.potential.label()}; cached in {self.cache_dir}")
        t0 = time.perf_counter()
        for k, phase in enumerate(phases, 1):
            t_phase = time.perf_counter()
            result = relaxer.relax(phase.structure)  # type: ignore[union-attr]
            if result.ok and result.energy_relaxed_per_atom is not None:
                energy = float(result.energy_relaxed_per_atom)
                entries.append({
                    "formula": phase.formula, "energy_per_atom": round(energy, 6),
                    "kind": "relaxed", "source_id": phase.source_id,
                    "collection": phase.collection,
                    "source": f"{self.potential.name} relaxation of {phase.source_id} "
                              f"({phase.collection})",
                    "steps": result.n_steps, "converged": result.converged})
                outcome = f"{energy:.4f} eV/atom, {result.n_steps} steps"
            else:
                reason = str(result.failure_reason)
                failed.append({"formula": phase.formula, "source_id": phase.source_id,
                               "reason": reason})
                outcome = f"failed: {reason[:120]}"
            if self.log:
                self.log(f"{self.label}: {chemsys} {k}/{len(phases)} {phase.formula} "
                         f"({phase.source_id}, {len(phase.structure)} atoms): {outcome}, "
                         f"{time.perf_counter() - t_phase:.1f} s")
        data = {"key": self.key, "chemsys": chemsys, "entries": entries, "failed": failed,
                "without_structure": without,
                "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if build is not None:
            build.relaxed_now += len(phases)
            build.seconds += time.perf_counter() - t0
        path = self.cache_path(system)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=1) + "\n"
        write_atomic(path, lambda tmp: tmp.write_text(text))
        return data

