"""Training-set building blocks: offline structure sources (prototypes, random crystals)."""

from chggen_kernels.datasets.sources import (
    SourceStructure,
    aflow_prototypes,
    decorated_prototypes,
    parse_chemsys,
    random_symmetric_crystals,
    structure_id,
)

__all__ = [
    "SourceStructure",
    "aflow_prototypes",
    "decorated_prototypes",
    "parse_chemsys",
    "random_symmetric_crystals",
    "structure_id",
]
