"""Thermodynamics: decomposition energy and energy above hull against a chosen hull.

Hull sources: :class:`OfflineHullSource` (default; CHGNet energies of the known phases
shipped in ``chggen_kernels/data/hull_known_phases.json``), :class:`FileHullSource` (a
user's CSV/JSON), :class:`MPHullSource` (Materials Project GGA/GGA+U, cached on disk) and
:class:`PotentialHullSource` (the offline hull's known phases relaxed with another
potential than CHGNet, cached on disk).
All energies are eV/atom and go onto the diagram without further corrections.

Typical use::

    source = OfflineHullSource()
    pd = get_hull(source, "Li-Si")
    result = decomposition_energy("Li5Si2", -3.1, pd, hull_source=source.name)
"""

from chggen_kernels.lazy import lazy_exports

# public name -> defining module, imported on first access (chggen_kernels.lazy)
_EXPORTS: dict[str, str] = {
    "DecompositionProduct": "chggen_kernels.thermo.energy",
    "ThermoInputError": "chggen_kernels.thermo.energy",
    "ThermoResult": "chggen_kernels.thermo.energy",
    "decomposition_energy": "chggen_kernels.thermo.energy",
    "format_decomposition": "chggen_kernels.thermo.energy",
    "parse_chemsys": "chggen_kernels.thermo.energy",
    "KnownPhaseLabeller": "chggen_kernels.thermo.novelty",
    "describe_novelty": "chggen_kernels.thermo.novelty",
    "read_entries": "chggen_kernels.thermo.entries_io",
    "write_reference_file": "chggen_kernels.thermo.entries_io",
    "PotentialHullSource": "chggen_kernels.thermo.potential_hull",
    "DEFAULT_HULL_SOURCE": "chggen_kernels.thermo.sources",
    "HULL_SOURCE_NAMES": "chggen_kernels.thermo.sources",
    "FileHullSource": "chggen_kernels.thermo.sources",
    "HullSource": "chggen_kernels.thermo.sources",
    "HullSourceError": "chggen_kernels.thermo.sources",
    "MissingReferenceError": "chggen_kernels.thermo.sources",
    "MPHullSource": "chggen_kernels.thermo.sources",
    "OfflineHullSource": "chggen_kernels.thermo.sources",
    "build_hull_data_path": "chggen_kernels.thermo.sources",
    "check_hull_source": "chggen_kernels.thermo.sources",
    "get_hull": "chggen_kernels.thermo.sources",
    "hull_source_file": "chggen_kernels.thermo.sources",
    "hull_source_from_name": "chggen_kernels.thermo.sources",
    "known_phases_data_path": "chggen_kernels.thermo.sources",
    "reference_data_path": "chggen_kernels.thermo.sources",
}

__all__ = [
    "DEFAULT_HULL_SOURCE",
    "DecompositionProduct",
    "KnownPhaseLabeller",
    "describe_novelty",
    "HULL_SOURCE_NAMES",
    "FileHullSource",
    "HullSource",
    "HullSourceError",
    "MPHullSource",
    "MissingReferenceError",
    "OfflineHullSource",
    "PotentialHullSource",
    "ThermoInputError",
    "ThermoResult",
    "decomposition_energy",
    "format_decomposition",
    "get_hull",
    "parse_chemsys",
    "read_entries",
    "build_hull_data_path",
    "check_hull_source",
    "hull_source_file",
    "hull_source_from_name",
    "known_phases_data_path",
    "reference_data_path",
    "write_reference_file",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
