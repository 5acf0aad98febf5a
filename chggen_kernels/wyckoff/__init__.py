"""Wyckoff positions of a framework and orbit constraints for symmetric inpainting.

* :func:`wyckoff_table`: the Wyckoff positions of a framework's space group, exactly in the
  framework's own cell (:mod:`chggen_kernels.wyckoff.tables`).
* :func:`wyckoff_combinations`: choices of positions whose orbit sizes add up to the guest
  counts (:mod:`chggen_kernels.wyckoff.combinations`).
* :class:`OrbitConstraint`: ties guest atoms to orbits inside the sampler (symmetrised
  score, orbits regenerated after every update; :mod:`chggen_kernels.wyckoff.constraint`).
"""

from chggen_kernels.lazy import lazy_exports

# public name -> defining module, imported on first access (chggen_kernels.lazy)
_EXPORTS: dict[str, str] = {
    "WyckoffChoice": "chggen_kernels.wyckoff.combinations",
    "format_choice": "chggen_kernels.wyckoff.combinations",
    "parse_choice": "chggen_kernels.wyckoff.combinations",
    "usable_sites": "chggen_kernels.wyckoff.combinations",
    "wyckoff_combinations": "chggen_kernels.wyckoff.combinations",
    "BoundOrbits": "chggen_kernels.wyckoff.constraint",
    "CrystalOrbits": "chggen_kernels.wyckoff.constraint",
    "OrbitConstraint": "chggen_kernels.wyckoff.constraint",
    "crystal_orbits": "chggen_kernels.wyckoff.constraint",
    "WyckoffError": "chggen_kernels.wyckoff.tables",
    "WyckoffSite": "chggen_kernels.wyckoff.tables",
    "WyckoffTable": "chggen_kernels.wyckoff.tables",
    "wyckoff_table": "chggen_kernels.wyckoff.tables",
    "wyckoff_table_of_cell": "chggen_kernels.wyckoff.tables",
}

__all__ = [
    "BoundOrbits",
    "CrystalOrbits",
    "OrbitConstraint",
    "WyckoffChoice",
    "WyckoffError",
    "WyckoffSite",
    "WyckoffTable",
    "crystal_orbits",
    "format_choice",
    "parse_choice",
    "usable_sites",
    "wyckoff_combinations",
    "wyckoff_table",
    "wyckoff_table_of_cell",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
