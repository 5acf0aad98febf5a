"""chggen_kernels: the pure computation of CHGGen (no Ray, no global state).

Crystal batches and neighbour lists, the equivariant score model, noise schedules and
samplers, training, lattice search, relaxation, symmetry and thermodynamics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chggen_kernels.lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> defining module. Imported on first access, so that ``import
# chggen_kernels`` (and every submodule import) does not pull in pymatgen, scipy, CHGNet
# or e3nn before they are needed.
_EXPORTS: dict[str, str] = {
    "CrystalBatch": "chggen_kernels.crystal",
    "CrystalInputError": "chggen_kernels.crystal",
    "to_structure": "chggen_kernels.crystal",
    "HostError": "chggen_kernels.hosts",
    "HostSpec": "chggen_kernels.hosts",
    "parse_guest_spec": "chggen_kernels.hosts",
    "read_host": "chggen_kernels.hosts",
    "ScoreModel": "chggen_kernels.model",
    "ScoreModelConfig": "chggen_kernels.model",
    "cpu_default_config": "chggen_kernels.model",
    "gpu_preset_config": "chggen_kernels.model",
    "NeighborList": "chggen_kernels.neighbors",
    "edge_vectors": "chggen_kernels.neighbors",
    "neighbor_list": "chggen_kernels.neighbors",
    "Relaxer": "chggen_kernels.relax",
    "RelaxResult": "chggen_kernels.relax",
    "RelaxSettings": "chggen_kernels.relax",
    "SampleResult": "chggen_kernels.sampling",
    "SamplerSettings": "chggen_kernels.sampling",
    "geometric_sigmas": "chggen_kernels.sampling",
    "periodic_gaussian_mixture_score": "chggen_kernels.sampling",
    "sample": "chggen_kernels.sampling",
    "VerletNeighbors": "chggen_kernels.verlet",
    "VerletScore": "chggen_kernels.verlet",
}

__all__ = [
    "CrystalBatch",
    "CrystalInputError",
    "HostError",
    "HostSpec",
    "NeighborList",
    "RelaxResult",
    "RelaxSettings",
    "Relaxer",
    "SampleResult",
    "SamplerSettings",
    "ScoreModel",
    "ScoreModelConfig",
    "VerletNeighbors",
    "VerletScore",
    "cpu_default_config",
    "edge_vectors",
    "geometric_sigmas",
    "gpu_preset_config",
    "neighbor_list",
    "parse_guest_spec",
    "periodic_gaussian_mixture_score",
    "read_host",
    "sample",
    "to_structure",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


if TYPE_CHECKING:
    from chggen_kernels.crystal import CrystalBatch, CrystalInputError, to_structure
    from chggen_kernels.hosts import HostError, HostSpec, parse_guest_spec, read_host
    from chggen_kernels.model import (
        ScoreModel,
        ScoreModelConfig,
        cpu_default_config,
        gpu_preset_config,
    )
    from chggen_kernels.neighbors import NeighborList, edge_vectors, neighbor_list
    from chggen_kernels.relax import Relaxer, RelaxResult, RelaxSettings
    from chggen_kernels.sampling import (
        SampleResult,
        SamplerSettings,
        geometric_sigmas,
        periodic_gaussian_mixture_score,
        sample,
    )
    from chggen_kernels.verlet import VerletNeighbors, VerletScore
