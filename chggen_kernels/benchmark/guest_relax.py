"""Guests-only relaxation (XtalPaint's first stage): host atoms and cell held fixed.

:class:`chggen_kernels.relax.Relaxer` has no constraint option, so the constraint lives in
the calculator: :class:`FixedAtomsCalculator` wraps any ASE calculator (CHGNet's) and
reports zero force on the fixed atoms, which FIRE then never moves (its velocities start
at zero and follow the forces). With ``relax_cell=False`` the cell stays as given, so the
Relaxer's screening, step checks and failure reasons apply unchanged. The energy is the
wrapped calculator's (eV); forces in eV/Å.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from chggen_kernels.relax import Relaxer, RelaxSettings

__all__ = ["FixedAtomsCalculator", "guests_only_relaxer"]


class FixedAtomsCalculator(Calculator):
    """ASE calculator: ``inner``'s energy, its forces with the ``fixed`` rows set to zero.

    ``fixed`` are atom indices (in the order of the atoms handed to the calculator).
    No stress is offered: use it with a fixed cell only.
    """

    implemented_properties = ("energy", "free_energy", "forces")

    def __init__(self, inner: Any, fixed: Sequence[int]) -> None:
        super().__init__()
        self.inner = inner
        self.fixed = np.asarray(sorted({int(i) for i in fixed}), dtype=int)
        if len(self.fixed) and self.fixed[0] < 0:
            raise ValueError(f"FixedAtomsCalculator: negative atom index {int(self.fixed[0])}")

    def calculate(self, atoms: Any = None, properties: Any = ("energy",),
                  system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        if len(self.fixed) and self.fixed[-1] >= len(self.atoms):
            raise ValueError(f"FixedAtomsCalculator: atom index {int(self.fixed[-1])} out of "
                             f"range for {len(self.atoms)} atoms")
        copy = self.atoms.copy()
        copy.calc = self.inner
        energy = float(copy.get_potential_energy())
        forces = np.array(copy.get_forces(), dtype=float)
        forces[self.fixed] = 0.0
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


def guests_only_relaxer(calculator: Any, settings: RelaxSettings,
                        fixed: Sequence[int]) -> Relaxer:
    """A :class:`Relaxer` moving only the atoms not in ``fixed``, cell fixed.

    ``calculator`` is an ASE calculator (``Relaxer.calculator`` of a CHGNet relaxer);
    ``settings`` are copied with ``relax_cell=False``.
    """
    fixed_settings = dataclasses.replace(settings, relax_cell=False)
    return Relaxer(fixed_settings, model=FixedAtomsCalculator(calculator, fixed))
