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
    "ScoreModel",
    "ScoreModelConfig",
    "cpu_default_config",
    "edge_vectors",
    "gpu_preset_config",
    "neighbor_list",
    "parse_guest_spec",
    "read_host",
    "to_structure",
]
