"""Potentials for the ``--mlip module:factory`` tests: ASE's EMT (Al, Cu, Ag, Au, Ni, Pd,
Pt, H, C, N, O) and factories that fail the ways a user's can. Named on the command line
as ``tests.mlip_factories:emt`` etc. (the repository root is on ``sys.path`` in tests)."""

from __future__ import annotations

import math

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT


def emt() -> EMT:
    """ASE's effective-medium theory: fast, and defined for the elements above."""
    return EMT()


class NaNAbove(Calculator):
    """EMT, except that cells of more than ``max_atoms`` atoms get NaN energy, forces and
    stress (EMT is not asked for those: any element then)."""

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def __init__(self, max_atoms: int = 4) -> None:
        super().__init__()
        self.max_atoms = max_atoms
        self._emt = EMT()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if len(self.atoms) > self.max_atoms:
            self.results = {"energy": math.nan, "free_energy": math.nan,
                            "forces": np.full((len(self.atoms), 3), math.nan),
                            "stress": np.full(6, math.nan)}
            return
        self._emt.calculate(self.atoms, properties, system_changes)
        self.results = {k: v.copy() if hasattr(v, "copy") else v
                        for k, v in self._emt.results.items()}


def nan_above_4() -> NaNAbove:
    """EMT with NaN energies for cells of more than 4 atoms (the shipped Cu-Au known
    phases have at most 4)."""
    return NaNAbove(4)


def nan_above_2() -> NaNAbove:
    """EMT with NaN energies for cells of more than 2 atoms (Cu3Au and CuAu3 of the shipped
    Cu-Au phases)."""
    return NaNAbove(2)


def nan_always() -> NaNAbove:
    """NaN energies for every cell: every relaxation fails at its first step."""
    return NaNAbove(0)


def broken() -> Calculator:
    raise RuntimeError("no licence for this potential")


def not_a_calculator() -> dict:
    return {"energy": 0.0}


NOT_CALLABLE = 42
