"""A fake relaxer for tests of ``chggen data build`` (instant, deterministic, no CHGNet).

Energy per atom (eV/atom) = composition-weighted elemental energy
- 0.3 * (1 - sum_i x_i^2) (mixing favoured) + a polymorph term in [0, 0.3) drawn from the
structure's fingerprint. The structure comes back unchanged. One structure in
``FAIL_EVERY`` (by fingerprint) fails with a ``calculator_error``.
"""

from __future__ import annotations

from typing import Any

from pymatgen.core import Structure

from chggen_kernels.datasets import structure_fingerprint
from chggen_kernels.relax import RelaxResult, RelaxSettings

__all__ = ["ELEMENT_ENERGY", "FAIL_EVERY", "FakeRelaxer", "fake_energy", "fake_relaxer"]

ELEMENT_ENERGY = {"Li": -1.9, "Si": -5.3, "Zn": -1.3, "P": -5.4, "S": -4.1}  # eV/atom
FAIL_EVERY = 7


def fake_energy(structure: Structure) -> float:
    """The fake energy per atom of ``structure`` (eV/atom), see the module docstring."""
    comp = structure.composition.fractional_composition
    fractions = {el.symbol: float(x) for el, x in comp.items()}
    base = sum(x * ELEMENT_ENERGY.get(el, -3.0) for el, x in fractions.items())
    mixing = 1.0 - sum(x * x for x in fractions.values())
    polymorph = int(structure_fingerprint(structure), 16) % 1000 / 1000 * 0.3
    return base - 0.3 * mixing + polymorph


def fails(structure: Structure) -> bool:
    """Whether the fake relaxer fails on ``structure``."""
    return int(structure_fingerprint(structure), 16) % FAIL_EVERY == 0


class FakeRelaxer:
    """``relax(structure) -> RelaxResult`` without any calculator."""

    def __init__(self, settings: RelaxSettings | None = None) -> None:
        self.settings = settings or RelaxSettings()
        self.calls = 0

    def relax(self, structure: Any) -> RelaxResult:
        self.calls += 1
        n = len(structure)
        if fails(structure):
            return RelaxResult(
                status="failed", failure_reason="calculator_error: fake failure",
                structure_relaxed=None, energy_initial_per_atom=None,
                energy_relaxed_per_atom=None, delta_e=None, rmsd=None, rmsd_method="none",
                n_steps=0, converged=False, max_force_final=None, max_atomic_force_final=None,
                volume_initial=float(structure.volume), volume_relaxed=None, n_atoms=n,
                t_relax_s=0.0,
            )
        energy = fake_energy(structure)
        return RelaxResult(
            status="ok", failure_reason=None, structure_relaxed=structure.copy(),
            energy_initial_per_atom=energy, energy_relaxed_per_atom=energy, delta_e=0.0,
            rmsd=0.0, rmsd_method="none", n_steps=1, converged=True, max_force_final=0.0,
            max_atomic_force_final=0.0, volume_initial=float(structure.volume),
            volume_relaxed=float(structure.volume), n_atoms=n, t_relax_s=0.0,
        )


def fake_relaxer(settings: RelaxSettings) -> FakeRelaxer:
    """Relaxer factory for ``run_build(..., relaxer_factory=fake_relaxer)``."""
    return FakeRelaxer(settings)
