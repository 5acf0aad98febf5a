"""Relaxation stage: CHGNet (or another potential) + ASE FIRE/FrechetCellFilter, robust to
bad structures.

See docs/relaxation.md for the definitions (energies, convergence, RMSD, failure codes).
"""

from chggen_kernels.lazy import lazy_exports

# public name -> defining module, imported on first access (chggen_kernels.lazy)
_EXPORTS: dict[str, str] = {
    "BatchRelaxer": "chggen_kernels.relax.batched",
    "batch_relaxer_like": "chggen_kernels.relax.batched",
    "make_relaxer": "chggen_kernels.relax.batched",
    "uses_batched_relaxation": "chggen_kernels.relax.batched",
    "Relaxer": "chggen_kernels.relax.relaxer",
    "Potential": "chggen_kernels.relax.potentials",
    "PotentialError": "chggen_kernels.relax.potentials",
    "resolve_potential": "chggen_kernels.relax.potentials",
    "DEFAULT_MLIP": "chggen_kernels.relax.settings",
    "fractional_displacement_rmsd": "chggen_kernels.relax.rmsd",
    "relaxation_rmsd": "chggen_kernels.relax.rmsd",
    "check_isolated_atoms": "chggen_kernels.relax.screening",
    "check_min_distance": "chggen_kernels.relax.screening",
    "check_valid_structure": "chggen_kernels.relax.screening",
    "FAILURE_CODES": "chggen_kernels.relax.settings",
    "RMSD_METHODS": "chggen_kernels.relax.settings",
    "RelaxResult": "chggen_kernels.relax.settings",
    "RelaxSettings": "chggen_kernels.relax.settings",
}

__all__ = [
    "DEFAULT_MLIP",
    "FAILURE_CODES",
    "RMSD_METHODS",
    "BatchRelaxer",
    "Potential",
    "PotentialError",
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
    "resolve_potential",
    "uses_batched_relaxation",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
