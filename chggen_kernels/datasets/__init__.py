"""Training-set building blocks: candidate sources, the relaxation cache and the selection.

Sources (:class:`SourceStructure` with a deterministic id): AFLOW prototypes (own species
and decorated), pyxtal random crystals, known structures with their cations substituted, the
Materials Project, the user's files. Relaxed
records live in a JSONL cache (:mod:`~chggen_kernels.datasets.relaxed`); the selection
(:mod:`~chggen_kernels.datasets.selection`, :mod:`~chggen_kernels.datasets.build`) keeps
records near their own hull, deduplicates them and writes the reference hull.
"""

from chggen_kernels.datasets.build import (
    Selection,
    build_counts,
    file_sha256,
    interleave,
    reference_records,
    select_training_set,
    training_crystals,
)
from chggen_kernels.datasets.external import (
    MPSourceError,
    mp_structures,
    structure_fingerprint,
    structures_from_files,
    subsystems,
)
from chggen_kernels.datasets.known import (
    KNOWN_FILTERS,
    KnownStructure,
    filter_known,
    read_known_structures,
    split_by_formula,
)
from chggen_kernels.datasets.relaxed import (
    RelaxCache,
    append_record,
    failed_record,
    load_relax_cache,
    relax_record,
    relaxer_label,
    validate_record,
)
from chggen_kernels.datasets.selection import (
    HullPosition,
    ReferenceHull,
    deduplicate,
    energy_above_own_hull,
    reference_hull_from_build,
    system_of,
)
from chggen_kernels.datasets.sources import (
    SourceStructure,
    aflow_prototypes,
    decorated_prototypes,
    parse_chemsys,
    random_symmetric_crystals,
    structure_id,
)
from chggen_kernels.datasets.substitution import substituted_templates
from chggen_kernels.datasets.supercells import doubled_cell

__all__ = [
    "HullPosition",
    "KNOWN_FILTERS",
    "KnownStructure",
    "MPSourceError",
    "ReferenceHull",
    "RelaxCache",
    "Selection",
    "SourceStructure",
    "aflow_prototypes",
    "append_record",
    "build_counts",
    "decorated_prototypes",
    "deduplicate",
    "doubled_cell",
    "energy_above_own_hull",
    "failed_record",
    "file_sha256",
    "filter_known",
    "interleave",
    "load_relax_cache",
    "mp_structures",
    "parse_chemsys",
    "random_symmetric_crystals",
    "read_known_structures",
    "reference_hull_from_build",
    "reference_records",
    "relax_record",
    "relaxer_label",
    "select_training_set",
    "split_by_formula",
    "structure_fingerprint",
    "structure_id",
    "structures_from_files",
    "substituted_templates",
    "subsystems",
    "system_of",
    "training_crystals",
    "validate_record",
]
