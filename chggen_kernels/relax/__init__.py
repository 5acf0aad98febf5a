"""Relaxation stage: CHGNet + ASE FIRE/FrechetCellFilter, robust to bad structures.

See docs/relaxation.md for the definitions (energies, convergence, RMSD, failure codes).
"""

from chggen_kernels.relax.batched import (
    BatchRelaxer,
    batch_relaxer_like,
    make_relaxer,
    uses_batched_relaxation,
)
from chggen_kernels.relax.relaxer import Relaxer
from chggen_kernels.relax.rmsd import fractional_displacement_rmsd, relaxation_rmsd
from chggen_kernels.relax.screening import (
    check_isolated_atoms,
    check_min_distance,
    check_valid_structure,
)
from chggen_kernels.relax.settings import FAILURE_CODES, RMSD_METHODS, RelaxResult, RelaxSettings

__all__ = [
    "FAILURE_CODES",
    "RMSD_METHODS",
    "BatchRelaxer",
    "batch_relaxer_like",
    "RelaxResult",
    "RelaxSettings",
    "Relaxer",
    "check_isolated_atoms",
    "check_min_distance",
    "check_valid_structure",
    "fractional_displacement_rmsd",
    "make_relaxer",
    "relaxation_rmsd",
    "uses_batched_relaxation",
]
