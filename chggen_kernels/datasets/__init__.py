"""Training-set building blocks: candidate sources, the relaxation cache and the selection.

Sources (:class:`SourceStructure` with a deterministic id): AFLOW prototypes (own species
and decorated), pyxtal random crystals, known structures with their cations substituted, the
Materials Project, the user's files. Relaxed
records live in a JSONL cache (:mod:`~chggen_kernels.datasets.relaxed`); the selection
(:mod:`~chggen_kernels.datasets.selection`, :mod:`~chggen_kernels.datasets.build`) keeps
records near their own hull, deduplicates them and writes the reference hull.
"""

from chggen_kernels.lazy import lazy_exports

# public name -> defining module, imported on first access (chggen_kernels.lazy)
_EXPORTS: dict[str, str] = {
    "Selection": "chggen_kernels.datasets.build",
    "build_counts": "chggen_kernels.datasets.build",
    "file_sha256": "chggen_kernels.datasets.build",
    "interleave": "chggen_kernels.datasets.build",
    "reference_records": "chggen_kernels.datasets.build",
    "select_training_set": "chggen_kernels.datasets.build",
    "training_crystals": "chggen_kernels.datasets.build",
    "MPSourceError": "chggen_kernels.datasets.external",
    "mp_structures": "chggen_kernels.datasets.external",
    "structure_fingerprint": "chggen_kernels.datasets.external",
    "structures_from_files": "chggen_kernels.datasets.external",
    "subsystems": "chggen_kernels.datasets.external",
    "KNOWN_FILTERS": "chggen_kernels.datasets.known",
    "DEFAULT_MAX_ATOMS": "chggen_kernels.datasets.sources",
    "KnownStructure": "chggen_kernels.datasets.known",
    "filter_known": "chggen_kernels.datasets.known",
    "read_known_structures": "chggen_kernels.datasets.known",
    "split_by_formula": "chggen_kernels.datasets.known",
    "RelaxCache": "chggen_kernels.datasets.relaxed",
    "append_record": "chggen_kernels.datasets.relaxed",
    "failed_record": "chggen_kernels.datasets.relaxed",
    "load_relax_cache": "chggen_kernels.datasets.relaxed",
    "relax_record": "chggen_kernels.datasets.relaxed",
    "relaxer_label": "chggen_kernels.datasets.relaxed",
    "validate_record": "chggen_kernels.datasets.relaxed",
    "HullPosition": "chggen_kernels.datasets.selection",
    "ReferenceHull": "chggen_kernels.datasets.selection",
    "deduplicate": "chggen_kernels.datasets.selection",
    "energy_above_own_hull": "chggen_kernels.datasets.selection",
    "reference_hull_from_build": "chggen_kernels.datasets.selection",
    "system_of": "chggen_kernels.datasets.selection",
    "SourceStructure": "chggen_kernels.datasets.sources",
    "aflow_prototypes": "chggen_kernels.datasets.sources",
    "decorated_prototypes": "chggen_kernels.datasets.sources",
    "parse_chemsys": "chggen_kernels.datasets.sources",
    "random_symmetric_crystals": "chggen_kernels.datasets.sources",
    "structure_id": "chggen_kernels.datasets.sources",
    "substituted_templates": "chggen_kernels.datasets.substitution",
    "doubled_cell": "chggen_kernels.datasets.supercells",
}

__all__ = [
    "DEFAULT_MAX_ATOMS",
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

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
