"""Wyckoff positions of a framework and orbit constraints for symmetric inpainting.

* :func:`wyckoff_table`: the Wyckoff positions of a framework's space group, exactly in the
  framework's own cell (:mod:`chggen_kernels.wyckoff.tables`).
* :func:`wyckoff_combinations`: choices of positions whose orbit sizes add up to the guest
  counts (:mod:`chggen_kernels.wyckoff.combinations`).
* :class:`OrbitConstraint`: ties guest atoms to orbits inside the sampler (symmetrised
  score, orbits regenerated after every update; :mod:`chggen_kernels.wyckoff.constraint`).
"""

from chggen_kernels.wyckoff.combinations import (
    WyckoffChoice,
    format_choice,
    parse_choice,
    usable_sites,
    wyckoff_combinations,
)
from chggen_kernels.wyckoff.constraint import (
    BoundOrbits,
    CrystalOrbits,
    OrbitConstraint,
    crystal_orbits,
)
from chggen_kernels.wyckoff.tables import WyckoffError, WyckoffSite, WyckoffTable, wyckoff_table

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
]
