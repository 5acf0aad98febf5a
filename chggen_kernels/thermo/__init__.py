"""Thermodynamics: decomposition energy and energy above hull against a chosen hull.

Hull sources: :class:`OfflineHullSource` (default; CHGNet energies of the known phases
shipped in ``chggen_kernels/data/hull_known_phases.json``), :class:`FileHullSource` (a
user's CSV/JSON) and :class:`MPHullSource` (Materials Project GGA/GGA+U, cached on disk).
All energies are eV/atom and go onto the diagram without further corrections.

Typical use::

    source = OfflineHullSource()
    pd = get_hull(source, "Li-Si")
    result = decomposition_energy("Li5Si2", -3.1, pd, hull_source=source.name)
"""

from chggen_kernels.thermo.energy import (
    ThermoInputError,
    ThermoResult,
    decomposition_energy,
    format_decomposition,
    parse_chemsys,
)
from chggen_kernels.thermo.entries_io import read_entries, write_reference_file
from chggen_kernels.thermo.sources import (
    DEFAULT_HULL_SOURCE,
    HULL_SOURCE_NAMES,
    FileHullSource,
    HullSource,
    HullSourceError,
    MissingReferenceError,
    MPHullSource,
    OfflineHullSource,
    build_hull_data_path,
    check_hull_source,
    get_hull,
    hull_source_from_name,
    known_phases_data_path,
    reference_data_path,
)

__all__ = [
    "DEFAULT_HULL_SOURCE",
    "HULL_SOURCE_NAMES",
    "FileHullSource",
    "HullSource",
    "HullSourceError",
    "MPHullSource",
    "MissingReferenceError",
    "OfflineHullSource",
    "ThermoInputError",
    "ThermoResult",
    "decomposition_energy",
    "format_decomposition",
    "get_hull",
    "parse_chemsys",
    "read_entries",
    "build_hull_data_path",
    "check_hull_source",
    "hull_source_from_name",
    "known_phases_data_path",
    "reference_data_path",
    "write_reference_file",
]
