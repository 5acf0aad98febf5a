"""Stage 2 of the workflow: relax one generated candidate, find its symmetry, score its E_d.

:func:`relax_and_score` never raises: a failure becomes a ``failed``
:class:`~chggen_kernels.workflow.records.CandidateRecord` keeping what was already known.
:class:`HullProvider` builds and caches the phase diagram of each chemical system once.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pymatgen.core import Structure

from chggen_kernels.symmetry import final_symmetry
from chggen_kernels.thermo import HullSource, decomposition_energy, get_hull
from chggen_kernels.thermo.coverage import known_composition
from chggen_kernels.thermo.energy import products_to_json
from chggen_kernels.workflow.records import (
    CandidateRecord,
    GeneratedCandidate,
    failed_row,
    spec_row,
)

if TYPE_CHECKING:
    from chggen_kernels.thermo.novelty import KnownPhaseLabeller

__all__ = ["HullProvider", "failed_record", "relax_and_score", "relax_and_score_many"]


class HullProvider:
    """Phase diagrams per chemical system from one hull source, built once and cached."""

    def __init__(self, source: HullSource) -> None:
        self.source = source
        self._cache: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return self.source.name

    def phase_diagram(self, chemsys: str) -> Any:
        if chemsys not in self._cache:
            self._cache[chemsys] = get_hull(self.source, chemsys)
        return self._cache[chemsys]


def _structure_text(structure: Structure) -> str:
    """A structure column: pymatgen ``as_dict()`` as JSON text."""
    return json.dumps(structure.as_dict())


def _generated_text(candidate: GeneratedCandidate, generated: Structure | None = None
                    ) -> str | None:
    """The ``structure_generated`` column (``generated``: the candidate's Structure when
    already built). A legacy ``structure`` dict is written as it came."""
    if candidate.crystal is None:
        return None if candidate.structure is None else json.dumps(candidate.structure)
    return _structure_text(generated if generated is not None
                           else candidate.crystal.to_structure())


def _provenance(candidate: GeneratedCandidate, **known: Any) -> dict[str, Any]:
    """The columns the sampling stage determines (model, sampler settings, time, structure);
    a ``structure_generated`` in ``known`` is used as it is."""
    columns = {
        "model_checkpoint": candidate.model_checkpoint,
        "sampler_settings": json.dumps(candidate.sampler_settings, sort_keys=True),
        "t_sample_s": candidate.t_sample_s,
    }
    if "structure_generated" not in known:
        columns["structure_generated"] = _generated_text(candidate)
    return columns | known


def failed_record(candidate: GeneratedCandidate, reason: str, **known: Any) -> CandidateRecord:
    """A ``failed`` row for ``candidate`` keeping whatever was already known."""
    return failed_row(candidate.spec, reason, **_provenance(candidate, **known))


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def relax_and_score(
    candidate: GeneratedCandidate,
    relaxer: Any,
    hull: HullProvider | None,
    *,
    symprec: float = 0.1,
    angle_tolerance: float = 10.0,
    min_distance_after: float = 1.0,
    known_phases: KnownPhaseLabeller | None = None,
) -> CandidateRecord:
    """Relax one generated candidate, find its space group and E_d; never raises.

    ``relaxer`` is a :class:`chggen_kernels.relax.Relaxer` (anything with
    ``relax(structure) -> RelaxResult``). Relaxed structures with two atoms closer than
    ``min_distance_after`` (Å; the reference screening uses 1 Å) are failed rows.
    ``hull=None`` skips the thermodynamics (E_d left empty); ``known_phases`` labels the row
    against the known phases (``novelty``, ``known_phase_id``; ``None``: left empty).
    """
    return relax_and_score_many([candidate], relaxer, hull, symprec=symprec,
                                angle_tolerance=angle_tolerance,
                                min_distance_after=min_distance_after,
                                known_phases=known_phases)[0]


def relax_and_score_many(
    candidates: Sequence[GeneratedCandidate],
    relaxer: Any,
    hull: HullProvider | None,
    *,
    symprec: float = 0.1,
    angle_tolerance: float = 10.0,
    min_distance_after: float = 1.0,
    known_phases: KnownPhaseLabeller | None = None,
) -> list[CandidateRecord]:
    """:func:`relax_and_score` for several candidates, in order, relaxed together.

    The structures go to ``relaxer.relax_many`` in one call (a
    :class:`~chggen_kernels.relax.BatchRelaxer` advances them with one CHGNet forward per
    step) when the relaxer has it, else to ``relaxer.relax`` one by one. If the batched
    call raises, every structure is relaxed alone, so only the culprit fails. With the same
    relaxer every row is what :func:`relax_and_score` gives for its candidate (a
    BatchRelaxer's energies agree with one by one within 1 meV/atom); never raises.
    """
    rules = (symprec, angle_tolerance, min_distance_after)
    records: list[CandidateRecord | None] = [None] * len(candidates)
    todo: list[tuple[int, Structure, int, str | None]] = []
    for index, candidate in enumerate(candidates):
        prepared = _prepare(candidate, symprec, angle_tolerance)
        if isinstance(prepared, CandidateRecord):
            records[index] = prepared
        else:
            todo.append((index, *prepared))
    outcomes = _relax_all(relaxer, [structure for _, structure, _, _ in todo])
    _preload(known_phases, [structure for _, structure, _, _ in todo])
    for (index, _, sg_generated, text), outcome in zip(todo, outcomes, strict=True):
        candidate = candidates[index]
        if isinstance(outcome, Exception):
            records[index] = failed_record(candidate, f"{type(outcome).__name__}: {outcome}",
                                           structure_generated=text)
        else:
            records[index] = _score(candidate, sg_generated, outcome, hull, *rules,
                                    known_phases, structure_generated=text)
    return [r for r in records if r is not None]


def _preload(known: KnownPhaseLabeller | None, structures: Sequence[Structure]) -> None:
    """Read the known phases of a batch's formulas at once (relaxation keeps the
    composition); never raises (a failure leaves each row's label to try alone)."""
    if known is None or not structures:
        return
    # a failure: each row's label tries alone (and is null if it fails too)
    with contextlib.suppress(Exception):
        known.preload({s.composition.reduced_formula for s in structures})


def _prepare(candidate: GeneratedCandidate, symprec: float, angle_tolerance: float
             ) -> tuple[Structure, int, str | None] | CandidateRecord:
    """The generated structure (built here once: the relaxer's input, and the
    ``structure_generated`` column), its space group and that column, or the failed row."""
    if candidate.status != "ok" or not candidate.has_structure:
        return failed_record(candidate, candidate.failure_reason or "sampler: no structure")
    try:
        generated = candidate.generated_structure()
        if generated is None:
            raise ValueError("no generated structure")
        text = _generated_text(candidate, generated)  # before anything can touch it
        return generated, final_symmetry(generated, symprec, angle_tolerance).number, text
    except Exception as exc:  # the contract: never raise, the campaign goes on
        return failed_record(candidate, f"{type(exc).__name__}: {exc}")


def _relax_all(relaxer: Any, structures: list[Structure]) -> list[Any]:
    """One RelaxResult or the exception raised, per structure."""
    if not structures:
        return []
    if len(structures) > 1 and hasattr(relaxer, "relax_many"):
        try:
            results = list(relaxer.relax_many(structures))
            if len(results) == len(structures):
                return results
        except Exception:  # noqa: BLE001 - relax one by one below: only the culprit fails
            pass
    outcomes: list[Any] = []
    for structure in structures:
        try:
            outcomes.append(relaxer.relax(structure))
        except Exception as exc:  # noqa: BLE001 - becomes this candidate's failed row
            outcomes.append(exc)
    return outcomes


def _volume_change(result: Any) -> float | None:
    """relaxed / initial volume - 1 of a relaxation (``None`` when a volume is missing)."""
    before, after = getattr(result, "volume_initial", None), getattr(result, "volume_relaxed",
                                                                    None)
    if before is None or after is None or not before > 0:
        return None
    return _finite(float(after) / float(before) - 1.0)


def _score(candidate: GeneratedCandidate, sg_generated: int, result: Any,
           hull: HullProvider | None, symprec: float, angle_tolerance: float,
           min_distance_after: float, labeller: KnownPhaseLabeller | None = None,
           structure_generated: str | None = None) -> CandidateRecord:
    """The row of one relaxed candidate: screening, symmetry, E_d; never raises."""
    try:
        known: dict[str, Any] = {
            "structure_generated": structure_generated,
            "spacegroup_generated": sg_generated,
            "energy_generated_per_atom": _finite(result.energy_initial_per_atom),
            "t_relax_s": result.t_relax_s,
            "relax_steps": result.n_steps,
        }
        if result.status != "ok" or result.structure_relaxed is None:
            return failed_record(candidate, f"relaxation: {result.failure_reason}", **known)
        relaxed: Structure = result.structure_relaxed
        known |= {
            "energy_relaxed_per_atom": _finite(result.energy_relaxed_per_atom),
            "delta_e_relax": _finite(result.delta_e),
            "rmsd_relax": _finite(result.rmsd),
            "delta_v_relax": _volume_change(result),
            "relax_converged": bool(result.converged),
            "structure_relaxed": _structure_text(relaxed),
        }
        if len(relaxed) > 1:
            dmin = float(np.min(relaxed.distance_matrix + np.eye(len(relaxed)) * 1e9))
            dmin = min(dmin, float(min(relaxed.lattice.abc)))
        else:
            dmin = float(min(relaxed.lattice.abc))
        if dmin < min_distance_after:
            return failed_record(
                candidate,
                f"screening: relaxed structure has atoms {dmin:.3f} Å apart "
                f"(minimum {min_distance_after} Å)",
                **known,
            )
        sym = final_symmetry(relaxed, symprec, angle_tolerance)
        known |= {
            "spacegroup_relaxed": sym.number,
            "spacegroup_symbol_relaxed": sym.symbol,
            "is_symmetric": sym.is_symmetric,
            "cif_relaxed": _cif(relaxed, symprec),
        }
        row = spec_row(candidate.spec, **_provenance(candidate, **known))
        if hull is not None and known["energy_relaxed_per_atom"] is not None:
            try:
                row |= _thermo_columns(relaxed, known["energy_relaxed_per_atom"],
                                       hull.phase_diagram(row["chemsys"]), hull.name)
            except Exception as exc:
                return failed_record(candidate, f"thermodynamics: {exc}", **known)
        row |= _novelty_columns(labeller, relaxed)
        row.update(status="ok", failure_reason=None)
        return CandidateRecord(**row)
    except Exception as exc:  # the contract: never raise, the campaign goes on
        return failed_record(candidate, f"{type(exc).__name__}: {exc}",
                             structure_generated=structure_generated)


def _thermo_columns(relaxed: Structure, energy_per_atom: float, pd: Any, hull_name: str
                    ) -> dict[str, Any]:
    """E_d, E_above_hull and the decomposition (with the hull entries' source ids)."""
    thermo = decomposition_energy(relaxed.composition, energy_per_atom, pd,
                                  hull_source=hull_name)
    return {"e_d": thermo.e_d, "e_above_hull": thermo.e_above_hull,
            "decomposition": thermo.decomposition_string,
            "decomposition_products": products_to_json(thermo.products),
            "hull_source": thermo.hull_source,
            "hull_known_compounds": thermo.known_compounds,
            "hull_known_composition": known_composition(pd, thermo.formula)}


def _novelty_columns(labeller: KnownPhaseLabeller | None, relaxed: Structure
                     ) -> dict[str, Any]:
    """``novelty`` / ``known_phase_id`` of a relaxed structure (null without a labeller
    or when matching fails: a label never fails a row)."""
    if labeller is None:
        return {}
    try:
        label = labeller.label(relaxed)
    except Exception:  # noqa: BLE001 - an unlabelled row, never a failed one
        label = None
    if label is None:
        return {}
    return {"novelty": label.novelty, "known_phase_id": label.known_phase_id}


def _cif(structure: Structure, symprec: float) -> str:
    from pymatgen.io.cif import CifWriter

    try:
        return str(CifWriter(structure, symprec=symprec))
    except Exception:
        return str(CifWriter(structure))
