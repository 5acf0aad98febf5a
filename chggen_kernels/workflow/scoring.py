"""Stage 2 of the workflow: relax one generated candidate, find its symmetry, score its E_d.

:func:`relax_and_score` never raises: a failure becomes a ``failed``
:class:`~chggen_kernels.workflow.records.CandidateRecord` keeping what was already known.
:class:`HullProvider` builds and caches the phase diagram of each chemical system once.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from pymatgen.core import Structure

from chggen_kernels.symmetry import final_symmetry
from chggen_kernels.thermo import HullSource, decomposition_energy, get_hull
from chggen_kernels.workflow.records import (
    CandidateRecord,
    GeneratedCandidate,
    failed_row,
    spec_row,
)

__all__ = ["HullProvider", "failed_record", "relax_and_score"]


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


def _provenance(candidate: GeneratedCandidate) -> dict[str, Any]:
    """The columns the sampling stage determines (model, sampler settings, time, structure)."""
    return {
        "model_checkpoint": candidate.model_checkpoint,
        "sampler_settings": json.dumps(candidate.sampler_settings, sort_keys=True),
        "t_sample_s": candidate.t_sample_s,
        "structure_generated": (json.dumps(candidate.structure)
                                if candidate.structure is not None else None),
    }


def failed_record(candidate: GeneratedCandidate, reason: str, **known: Any) -> CandidateRecord:
    """A ``failed`` row for ``candidate`` keeping whatever was already known."""
    return failed_row(candidate.spec, reason, **(_provenance(candidate) | known))


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
) -> CandidateRecord:
    """Relax one generated candidate, find its space group and E_d; never raises.

    ``relaxer`` is a :class:`chggen_kernels.relax.Relaxer` (anything with
    ``relax(structure) -> RelaxResult``). Relaxed structures with two atoms closer than
    ``min_distance_after`` (Å; the reference screening uses 1 Å) are failed rows.
    ``hull=None`` skips the thermodynamics (E_d left empty).
    """
    if candidate.status != "ok" or candidate.structure is None:
        return failed_record(candidate, candidate.failure_reason or "sampler: no structure")
    try:
        generated = Structure.from_dict(candidate.structure)
        sg_generated = final_symmetry(generated, symprec, angle_tolerance).number
        result = relaxer.relax(generated)
        known: dict[str, Any] = {
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
            "relax_converged": bool(result.converged),
            "structure_relaxed": json.dumps(relaxed.as_dict()),
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
        row = spec_row(candidate.spec, **(_provenance(candidate) | known))
        if hull is not None and known["energy_relaxed_per_atom"] is not None:
            try:
                pd = hull.phase_diagram(row["chemsys"])
                thermo = decomposition_energy(relaxed.composition, known["energy_relaxed_per_atom"],
                                              pd, hull_source=hull.name)
                row |= {"e_d": thermo.e_d, "e_above_hull": thermo.e_above_hull,
                        "decomposition": thermo.decomposition_string,
                        "hull_source": thermo.hull_source,
                        "hull_known_compounds": thermo.known_compounds}
            except Exception as exc:
                return failed_record(candidate, f"thermodynamics: {exc}", **known)
        row.update(status="ok", failure_reason=None)
        return CandidateRecord(**row)
    except Exception as exc:  # the contract: never raise, the campaign goes on
        return failed_record(candidate, f"{type(exc).__name__}: {exc}")


def _cif(structure: Structure, symprec: float) -> str:
    from pymatgen.io.cif import CifWriter

    try:
        return str(CifWriter(structure, symprec=symprec))
    except Exception:
        return str(CifWriter(structure))
