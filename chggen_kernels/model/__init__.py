"""Equivariant score network of chggen (NequIP-style, e3nn).

``ScoreModel(config)(batch, sigma)`` is a score function: (n_atoms, 3) in Å^-1.
"""

from chggen_kernels.model.config import ScoreModelConfig, cpu_default_config, gpu_preset_config
from chggen_kernels.model.convolution import InteractionBlock
from chggen_kernels.model.embedding import NoiseLevelEmbedding, SpeciesEmbedding
from chggen_kernels.model.linear import EquivariantLinear
from chggen_kernels.model.network import ScoreModel, count_parameters
from chggen_kernels.model.radial import BesselBasis, PolynomialEnvelope, RadialEmbedding
from chggen_kernels.model.tensor_product import UVUConvolution

__all__ = [
    "BesselBasis",
    "EquivariantLinear",
    "InteractionBlock",
    "NoiseLevelEmbedding",
    "PolynomialEnvelope",
    "RadialEmbedding",
    "ScoreModel",
    "ScoreModelConfig",
    "SpeciesEmbedding",
    "UVUConvolution",
    "count_parameters",
    "cpu_default_config",
    "gpu_preset_config",
]
