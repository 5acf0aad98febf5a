"""chggen_kernels: the pure computation of CHGGen (no Ray, no global state).

Crystal batches and neighbour lists, the equivariant score model, noise schedules and
samplers, training, lattice search, relaxation, symmetry and thermodynamics.
"""

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

__version__ = "0.1.0"

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
