"""Equivariant score network of chggen (NequIP-style, e3nn).

``ScoreModel(config)(batch, sigma)`` is a score function: (n_atoms, 3) in Å^-1.
"""

from chggen_kernels.lazy import lazy_exports

# public name -> defining module, imported on first access (chggen_kernels.lazy)
_EXPORTS: dict[str, str] = {
    "ScoreModelConfig": "chggen_kernels.model.config",
    "cpu_default_config": "chggen_kernels.model.config",
    "gpu_preset_config": "chggen_kernels.model.config",
    "InteractionBlock": "chggen_kernels.model.convolution",
    "NoiseLevelEmbedding": "chggen_kernels.model.embedding",
    "SpeciesEmbedding": "chggen_kernels.model.embedding",
    "EquivariantLinear": "chggen_kernels.model.linear",
    "ScoreModel": "chggen_kernels.model.network",
    "count_parameters": "chggen_kernels.model.network",
    "BesselBasis": "chggen_kernels.model.radial",
    "PolynomialEnvelope": "chggen_kernels.model.radial",
    "RadialEmbedding": "chggen_kernels.model.radial",
    "UVUConvolution": "chggen_kernels.model.tensor_product",
}

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

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
