"""Settings and result records of the CHGNet relaxation stage.

Units: lengths Å, energies eV/atom, forces eV/Å, volumes Å^3, times s.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import TYPE_CHECKING, Any, Literal

from chggen_kernels.structure_check import DEFAULT_MIN_DISTANCE

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = ["DEFAULT_MLIP", "FAILURE_CODES", "RMSD_METHODS", "RelaxResult", "RelaxSettings"]

#: The potential every command relaxes with unless told otherwise (``--mlip``, ``mlip:``,
#: ``mlip=``); the names chggen knows: :mod:`chggen_kernels.relax.potentials`.
DEFAULT_MLIP = "chgnet"

OPTIMIZER_NAMES = ("FIRE", "BFGS", "LBFGS", "BFGSLineSearch", "LBFGSLineSearch", "MDMin")
CELL_FILTER_NAMES = ("FrechetCellFilter", "ExpCellFilter", "UnitCellFilter")

#: Machine-readable prefixes of :attr:`RelaxResult.failure_reason` ("<code>: <detail>").
FAILURE_CODES = (
    "invalid_structure",  # empty, disordered, non-finite or zero-volume input
    "min_distance",  # two atoms closer than RelaxSettings.min_distance (before or after)
    "isolated_atom",  # an atom without any neighbour within isolated_distance
    "non_finite",  # NaN/inf energy, forces or stress from the calculator
    "energy_out_of_range",  # |E| per atom above max_abs_energy_per_atom
    "volume_change",  # the cell exploded or collapsed beyond max_volume_ratio
    "calculator_error",  # an exception inside CHGNet / ASE
)

#: How :attr:`RelaxResult.rmsd` was obtained (see docs/relaxation.md).
RMSD_METHODS = ("structure_matcher", "fractional_displacement", "none")


def _finite_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"RelaxSettings.{name} must be a finite number > 0, got {value!r}")


@dataclasses.dataclass(frozen=True)
class RelaxSettings:
    """How to relax one structure (CHGNet by default; defaults follow the CHGGen reference).

    Attributes
    ----------
    mlip
        Machine-learned potential to relax with: chgnet, sevennet, an entry point of
        group chggen.mlips, or module:factory (a callable returning an ASE calculator);
        see ``chggen_kernels.relax.potentials`` and docs/potentials.md.
    fmax
        Convergence threshold in eV/Å on the largest row of the optimiser's force array
        (atomic forces and, with a cell filter, the filter's scaled virial rows).
    max_steps
        Maximum number of optimiser steps.
    optimizer
        ASE optimiser name, one of ``OPTIMIZER_NAMES`` (FIRE in the reference).
    relax_cell
        Relax the cell as well as the positions (through ``cell_filter``).
    cell_filter
        ASE cell filter name, one of ``CELL_FILTER_NAMES``; ignored if not ``relax_cell``.
    min_distance
        Structures with two atoms closer than this (Å, any periodic image) are rejected
        before relaxing, and relaxed structures that collapse below it are failed.
    isolated_distance
        An atom with no neighbour closer than this (Å) is isolated and the structure is
        rejected. Default 6 Å = CHGNet's atom-graph cutoff: beyond it CHGNet sees no bond.
    max_volume_ratio
        The cell exploded or collapsed if final/initial volume leaves
        ``[1 / max_volume_ratio, max_volume_ratio]``; checked at every step.
    max_abs_energy_per_atom
        Energies with ``|E| / N`` above this (eV/atom) are treated as garbage.
    n_threads
        torch intra-op threads while relaxing (``torch.set_num_threads``, restored
        afterwards); ``None`` leaves torch's setting alone. Default 1: on CPU, small cells
        gain nothing from more threads and lose badly when cores are shared.
    blas_threads
        OpenBLAS threads while relaxing (restored afterwards); ``None`` leaves them.
        Default 1: the cell filter's 3x3 linear algebra only gets slower with more
        (see ``chggen_kernels.relax.blas``).
    device
        Torch device for the potential: ``'cpu'``, ``'cuda'``, ``'cuda:<i>'`` or ``'mps'``.
    rmsd_ltol, rmsd_stol, rmsd_angle_tol
        pymatgen ``StructureMatcher`` tolerances (fractional length, site tolerance in
        units of (V/N)^(1/3), degrees) for the generated-vs-relaxed RMSD.
    """

    fmax: float = 0.1
    max_steps: int = 500
    optimizer: str = "FIRE"
    relax_cell: bool = True
    cell_filter: str = "FrechetCellFilter"
    min_distance: float = DEFAULT_MIN_DISTANCE
    isolated_distance: float = 6.0
    max_volume_ratio: float = 5.0
    max_abs_energy_per_atom: float = 100.0
    n_threads: int | None = 1
    blas_threads: int | None = 1
    device: str = "cpu"
    rmsd_ltol: float = 0.3
    rmsd_stol: float = 0.5
    rmsd_angle_tol: float = 10.0
    mlip: str = DEFAULT_MLIP

    def __post_init__(self) -> None:
        if not isinstance(self.mlip, str) or not self.mlip.strip() or \
                self.mlip != self.mlip.strip():
            raise ValueError("RelaxSettings.mlip must be a potential name (chgnet, sevennet, "
                             f"an entry point name or module:factory), got {self.mlip!r}")
        for name in (
            "fmax",
            "min_distance",
            "isolated_distance",
            "max_abs_energy_per_atom",
            "rmsd_ltol",
            "rmsd_stol",
            "rmsd_angle_tol",
        ):
            _finite_positive(name, getattr(self, name))
        _finite_positive("max_volume_ratio", self.max_volume_ratio)
        if self.max_volume_ratio <= 1:
            raise ValueError(
                f"RelaxSettings.max_volume_ratio must be > 1, got {self.max_volume_ratio!r}"
            )
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or (
            self.max_steps < 1
        ):
            raise ValueError(f"RelaxSettings.max_steps must be an int >= 1, got {self.max_steps!r}")
        if self.optimizer not in OPTIMIZER_NAMES:
            raise ValueError(
                f"RelaxSettings.optimizer must be one of {OPTIMIZER_NAMES}, got {self.optimizer!r}"
            )
        if not isinstance(self.relax_cell, bool):
            raise ValueError(f"RelaxSettings.relax_cell must be a bool, got {self.relax_cell!r}")
        if self.cell_filter not in CELL_FILTER_NAMES:
            raise ValueError(
                f"RelaxSettings.cell_filter must be one of {CELL_FILTER_NAMES}, "
                f"got {self.cell_filter!r}"
            )
        for name in ("n_threads", "blas_threads"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(
                    f"RelaxSettings.{name} must be None or an int >= 1, got {value!r}"
                )
        device = self.device
        valid_device = isinstance(device, str) and (
            device in ("cpu", "cuda", "mps")
            or (device.startswith("cuda:") and device[5:].isdigit())
        )
        if not valid_device:
            raise ValueError(
                "RelaxSettings.device must be 'cpu', 'cuda', 'cuda:<index>' or 'mps', "
                f"got {device!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-friendly) of the settings, e.g. for provenance columns."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RelaxResult:
    """Outcome of relaxing one structure.

    Attributes
    ----------
    status
        ``'ok'`` if the relaxation ran to convergence or to ``max_steps`` without a
        pathology; ``'failed'`` otherwise (then ``failure_reason`` says why).
        A non-converged but sane relaxation is ``'ok'`` with ``converged=False``.
    failure_reason
        ``"<code>: <detail>"`` with ``<code>`` one of :data:`FAILURE_CODES`; ``None`` if ok.
    structure_relaxed
        Final structure (positions wrapped into the cell); ``None`` if failed.
    energy_initial_per_atom, energy_relaxed_per_atom
        CHGNet energies in eV/atom of the input and final structure. CHGNet is trained
        on MP2020-corrected energies, so these go onto an MP GGA/GGA+U hull as they are.
    delta_e
        ``energy_initial_per_atom - energy_relaxed_per_atom`` in eV/atom: positive when
        relaxation lowered the energy.
    rmsd, rmsd_method
        Displacement between input and relaxed structure in Å, and how it was obtained
        (one of :data:`RMSD_METHODS`; ``'none'`` with ``rmsd = nan``).
    n_steps
        Optimiser steps taken (0 if the input was already converged).
    converged
        ``max_force_final < fmax`` (the ASE criterion), whatever the step count.
    max_force_final
        Largest row norm of the optimiser's force array at the end, eV/Å: the atomic
        forces plus, with a cell filter, the filter's stress rows (virial / N). This is
        the quantity compared with ``fmax``.
    max_atomic_force_final
        Largest atomic force alone at the end, eV/Å.
    volume_initial, volume_relaxed
        Cell volumes in Å^3.
    t_relax_s
        Wall time of :meth:`Relaxer.relax` for this structure, screening and RMSD
        included, in s.
    """

    status: Literal["ok", "failed"]
    failure_reason: str | None
    structure_relaxed: Structure | None
    energy_initial_per_atom: float | None
    energy_relaxed_per_atom: float | None
    delta_e: float | None
    rmsd: float | None
    rmsd_method: str
    n_steps: int
    converged: bool
    max_force_final: float | None
    max_atomic_force_final: float | None
    volume_initial: float | None
    volume_relaxed: float | None
    n_atoms: int
    t_relax_s: float

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failure_code(self) -> str | None:
        """The machine-readable part of ``failure_reason`` (one of FAILURE_CODES)."""
        if self.failure_reason is None:
            return None
        return self.failure_reason.split(":", 1)[0]

    def to_row(self, include_structure: bool = True) -> dict[str, Any]:
        """Flat dict whose keys are ``CandidateRecord`` column names where they overlap.

        ``energy_generated_per_atom`` = :attr:`energy_initial_per_atom`,
        ``delta_e_relax`` = :attr:`delta_e`, ``rmsd_relax`` = :attr:`rmsd`,
        ``relax_steps`` = :attr:`n_steps`, ``relax_converged`` = :attr:`converged`;
        ``structure_relaxed`` is pymatgen Structure JSON text (or ``None``).
        """
        row: dict[str, Any] = {
            "status": self.status,
            "failure_reason": self.failure_reason,
            "energy_generated_per_atom": self.energy_initial_per_atom,
            "energy_relaxed_per_atom": self.energy_relaxed_per_atom,
            "delta_e_relax": self.delta_e,
            "rmsd_relax": None if self.rmsd is None or math.isnan(self.rmsd) else self.rmsd,
            "rmsd_method": self.rmsd_method,
            "relax_steps": self.n_steps,
            "relax_converged": self.converged,
            "max_force_final": self.max_force_final,
            "max_atomic_force_final": self.max_atomic_force_final,
            "volume_initial": self.volume_initial,
            "volume_relaxed": self.volume_relaxed,
            "t_relax_s": self.t_relax_s,
        }
        if include_structure:
            s = self.structure_relaxed
            row["structure_relaxed"] = None if s is None else json.dumps(s.as_dict())
        return row
