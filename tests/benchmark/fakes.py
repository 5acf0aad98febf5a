"""Test doubles for the benchmark: an instant relaxer and a chain with an analytic score.

``FakeRelaxer`` returns the structure unchanged (or, every ``snap_every``-th call, the
target crystal of that formula: a relaxation that falls into the known structure) with an
energy per atom from ``energy_fn``. ``fake_chain`` is the real
:class:`~campaign.jobs.benchmark.chain.InProcessChain` around the real stage runner, whose
resources are a zero score function, a three-level sampler and the fake relaxer, so the
whole benchmark runs in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from pymatgen.core import Structure

from campaign.jobs.benchmark.chain import InProcessChain
from campaign.stages.runner import RunnerSettings, StageRunner
from chggen_kernels.relax import RelaxResult
from chggen_kernels.sampling import SamplerSettings


def result(structure: Structure, energy: float, initial: float | None = None) -> RelaxResult:
    return RelaxResult(
        status="ok", failure_reason=None, structure_relaxed=structure.copy(),
        energy_initial_per_atom=energy if initial is None else initial,
        energy_relaxed_per_atom=energy, delta_e=0.0, rmsd=0.0, rmsd_method="none", n_steps=1,
        converged=True, max_force_final=0.0, max_atomic_force_final=0.0,
        volume_initial=float(structure.volume), volume_relaxed=float(structure.volume),
        n_atoms=len(structure), t_relax_s=0.0)


class FakeRelaxer:
    """``relax(structure) -> RelaxResult``, no calculator (see the module docstring).

    Default energy (eV/atom): -2.0 for a structure matching its formula's target, else
    -1.0 plus a small position-dependent term. ``fail_formulas`` raise (a broken
    calculator).
    """

    def __init__(self, targets: Mapping[str, Structure] | None = None, snap_every: int = 0,
                 energy_fn: Callable[[Structure], float] | None = None,
                 fail_formulas: tuple[str, ...] = ()) -> None:
        self.targets = dict(targets or {})
        self.snap_every = snap_every
        self.energy_fn = energy_fn or self._energy
        self.fail_formulas = fail_formulas
        self.calls = 0

    def _energy(self, structure: Structure) -> float:
        from chggen_kernels.benchmark import match_structures

        target = self.targets.get(structure.composition.reduced_formula)
        if target is not None and match_structures(structure, target).matched:
            return -2.0
        return -1.0 + 0.01 * float(abs(structure.frac_coords).sum() % 1.0)

    def relax(self, structure: Structure) -> RelaxResult:
        self.calls += 1
        if structure.composition.reduced_formula in self.fail_formulas:
            raise RuntimeError("fake calculator broke")
        target = self.targets.get(structure.composition.reduced_formula)
        if (self.snap_every and target is not None and len(target) == len(structure)
                and self.calls % self.snap_every == 0):
            return result(target, self.energy_fn(target))
        return result(structure, self.energy_fn(structure))


def zero_score(batch, sigma: torch.Tensor) -> torch.Tensor:
    """An analytic score function (Å^-1): zero everywhere."""
    return torch.zeros_like(batch.positions)


FAST_SAMPLER = SamplerSettings.from_preset(
    "reference", n_levels=3, n_corrector_steps=0, resample_passes=1, jump_length=1, sigma_max=1.0,
    sigma_min=0.1)


class FakeStageRunner(StageRunner):
    """The real stage runner with its resources replaced: the zero score, the fast sampler,
    a fake relaxer and no hull (``load`` is the runner's one resource hook)."""

    def __init__(self, relaxer: FakeRelaxer) -> None:
        super().__init__(RunnerSettings(hull="none"))
        self.fake_relaxer = relaxer

    def load(self, *, model: bool = True, relaxer: bool = True) -> None:
        self._model, self.sampler_settings = zero_score, FAST_SAMPLER
        self.model_label = "fake-model"
        self._relaxer, self._hull, self._hull_loaded = self.fake_relaxer, None, True


def fake_chain(relaxer: FakeRelaxer, guest_relaxer: FakeRelaxer | None = None
               ) -> InProcessChain:
    guests = guest_relaxer or relaxer
    return InProcessChain(runner=FakeStageRunner(relaxer), relaxer=relaxer,
                          guest_relaxer=lambda fixed: guests)
