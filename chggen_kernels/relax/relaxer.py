"""CHGNet relaxation of one structure at a time, robust to bad input.

:class:`Relaxer` loads CHGNet once and drives ASE's optimiser (FIRE by default) on a
cell filter (FrechetCellFilter) step by step, so that every step can be checked for
non-finite energies/forces/stress, absurd energies and exploding or collapsing cells,
and aborted early. :meth:`Relaxer.relax` never raises for a bad structure or a
calculator failure: it returns a failed :class:`RelaxResult` with the reason.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from pymatgen.core import Structure

from chggen_kernels.relax.blas import limit_blas_threads
from chggen_kernels.relax.gradients import first_order_gradients
from chggen_kernels.relax.rmsd import relaxation_rmsd
from chggen_kernels.relax.screening import (
    check_isolated_atoms,
    check_min_distance,
    check_valid_structure,
    volume_ratio_failure,
)
from chggen_kernels.relax.settings import DEFAULT_MLIP, RelaxResult, RelaxSettings

if TYPE_CHECKING:  # pragma: no cover
    from ase import Atoms
    from ase.calculators.calculator import BaseCalculator

__all__ = ["Relaxer"]


@contextlib.contextmanager
def _quiet():
    """Silence CHGNet's prints and torch/ASE warnings inside a relaxation."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _torch_threads(n_threads: int | None):
    """``torch.set_num_threads(n_threads)`` for the block, restored afterwards."""
    if n_threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def chgnet_calculator(device: str, model: Any = None) -> BaseCalculator:
    """A ``CHGNetCalculator`` around ``model`` (``None``: the pretrained CHGNet loaded on
    ``device``), ignoring isolated atoms (the relaxers screen them themselves)."""
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    with _quiet():
        if model is None:
            model = CHGNet.load(verbose=False, use_device=device)
        if not isinstance(model, CHGNet):
            raise TypeError(
                f"Relaxer model must be a CHGNet, an ASE calculator or None, got "
                f"{type(model).__name__}"
            )
        # Isolated atoms are screened by the Relaxer itself; no CHGNet warning per step.
        return CHGNetCalculator(model=model, use_device=device, on_isolated_atoms="ignore")


def _build_calculator(settings: RelaxSettings, model: Any) -> BaseCalculator:
    from ase.calculators.calculator import BaseCalculator

    if isinstance(model, BaseCalculator):
        return model
    if model is None and settings.mlip != DEFAULT_MLIP:
        from chggen_kernels.relax.potentials import resolve_potential

        return resolve_potential(settings.mlip).calculator(settings.device)
    return chgnet_calculator(settings.device, model)


def failed_result(reason: str, state: dict[str, Any], t0: float) -> RelaxResult:
    """A failed :class:`RelaxResult`; ``state`` holds what is known (``e0`` eV/atom, ``v0``
    Å^3, ``n_atoms``, ``n_steps``), ``t0`` the start (``time.perf_counter()``, s)."""
    return RelaxResult(
        status="failed",
        failure_reason=reason,
        structure_relaxed=None,
        energy_initial_per_atom=state.get("e0"),
        energy_relaxed_per_atom=None,
        delta_e=None,
        rmsd=None,
        rmsd_method="none",
        n_steps=int(state.get("n_steps", 0)),
        converged=False,
        max_force_final=None,
        max_atomic_force_final=None,
        volume_initial=state.get("v0"),
        volume_relaxed=None,
        n_atoms=int(state.get("n_atoms", 0)),
        t_relax_s=time.perf_counter() - t0,
    )


def _is_plain(structure: Structure) -> bool:
    """Whether ``structure`` already is what :func:`prepare_structure` would copy it into:
    a mutable Structure of plain elements (occupancy 1), without site or structure
    properties or attached calculator, so the calculator sees the same Atoms."""
    from pymatgen.core import Element

    return (type(structure) is Structure and not structure.properties
            and getattr(structure, "calc", None) is None
            and all(type(site.specie) is Element and site.species.num_atoms == 1
                    and not site.properties for site in structure))


def prepare_structure(
    structure: Structure | Atoms, settings: RelaxSettings, state: dict[str, Any]
) -> tuple[Structure | None, str | None]:
    """Input checks and screens before relaxing: ``(plain-element structure, None)`` or
    ``(None, failure reason)``. Sets ``state['n_atoms']`` and ``state['v0']`` (Å^3)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    if not isinstance(structure, Structure):
        structure = AseAtomsAdaptor.get_structure(structure)
    state["n_atoms"] = len(structure)
    reason = check_valid_structure(structure)
    if reason is not None:
        return None, reason
    # Plain elements (drop oxidation states and site properties) for the calculator; a
    # structure that already is plain (a generated crystal) is used as it is.
    generated = structure if _is_plain(structure) else Structure(
        structure.lattice, [site.specie.symbol for site in structure], structure.frac_coords
    )
    state["v0"] = float(generated.volume)
    reason = check_min_distance(generated, settings.min_distance)
    reason = reason or check_isolated_atoms(generated, settings.isolated_distance)
    if reason is not None:
        return None, reason
    return generated, None


def make_optimizer(atoms: Atoms, settings: RelaxSettings) -> tuple[Any, Any]:
    """``(optimizable, optimizer)``: the settings' cell filter around ``atoms`` (or the
    atoms themselves without ``relax_cell``) and the ASE optimiser on it, no log file."""
    optimizable: Any = atoms
    if settings.relax_cell:
        from ase import filters

        optimizable = getattr(filters, settings.cell_filter)(atoms)
    from ase import optimize

    return optimizable, getattr(optimize, settings.optimizer)(optimizable, logfile=None)


def step_failure(
    settings: RelaxSettings, atoms: Atoms, optimizable: Any, energy: float, v0: float, step: int
) -> str | None:
    """Checks after every optimiser step (energy eV/atom, forces, stress, volume vs ``v0``
    Å^3); ``None`` when the step is sane, else the failure reason."""
    if not math.isfinite(energy):
        return f"non_finite: energy per atom is {energy} at step {step}"
    # The calculator's cached results; the filter's own forces derive from these.
    forces = np.asarray(atoms.get_forces(), dtype=float)
    if not np.isfinite(forces).all():
        return f"non_finite: forces contain NaN/inf at step {step}"
    if optimizable is not atoms and not np.isfinite(atoms.get_stress()).all():
        return f"non_finite: stress contains NaN/inf at step {step}"
    if abs(energy) > settings.max_abs_energy_per_atom:
        return (
            f"energy_out_of_range: |energy| {abs(energy):.4g} eV/atom exceeds "
            f"max_abs_energy_per_atom {settings.max_abs_energy_per_atom:g} at step {step}"
        )
    reason = volume_ratio_failure(float(atoms.get_volume()), v0, settings.max_volume_ratio)
    return None if reason is None else f"{reason} at step {step}"


def finish_relaxation(
    settings: RelaxSettings,
    generated: Structure,
    atoms: Atoms,
    optimizable: Any,
    n_steps: int,
    state: dict[str, Any],
    t0: float,
) -> RelaxResult:
    """The result once the optimiser stopped (converged or at ``max_steps``) with sane steps:
    final screen, RMSD and the record. ``state['e_final']`` is the last energy (eV/atom)."""
    with _quiet():
        forces_opt = np.asarray(optimizable.get_forces(), dtype=float)
        forces_atoms = np.asarray(atoms.get_forces(), dtype=float)
    e_final = state["e_final"]
    max_force = float(np.linalg.norm(forces_opt, axis=1).max())
    max_atomic_force = float(np.linalg.norm(forces_atoms, axis=1).max())

    relaxed = Structure(
        atoms.cell.array, generated.species, atoms.get_scaled_positions(wrap=True)
    )
    reason = check_min_distance(relaxed, settings.min_distance, when="after relaxation")
    if reason is not None:
        return failed_result(reason, state, t0)
    rmsd, rmsd_method = relaxation_rmsd(
        generated,
        relaxed,
        ltol=settings.rmsd_ltol,
        stol=settings.rmsd_stol,
        angle_tol=settings.rmsd_angle_tol,
    )
    e0 = state["e0"]
    return RelaxResult(
        status="ok",
        failure_reason=None,
        structure_relaxed=relaxed,
        energy_initial_per_atom=e0,
        energy_relaxed_per_atom=e_final,
        delta_e=e0 - e_final,
        rmsd=rmsd,
        rmsd_method=rmsd_method,
        n_steps=int(n_steps),
        converged=max_force < settings.fmax,
        max_force_final=max_force,
        max_atomic_force_final=max_atomic_force,
        volume_initial=float(generated.volume),
        volume_relaxed=float(relaxed.volume),
        n_atoms=len(generated),
        t_relax_s=time.perf_counter() - t0,
    )


class Relaxer:
    """Relax structures with CHGNet (or any potential, any ASE calculator) under
    :class:`RelaxSettings`.

    Parameters
    ----------
    settings
        Relaxation settings; ``None`` means ``RelaxSettings()`` (the reference defaults).
    model
        ``None``: the calculator of ``settings.mlip`` (the pretrained CHGNet shipped with
        the chgnet wheel by default, about 4 s; another potential through
        :func:`~chggen_kernels.relax.potentials.resolve_potential`); a ``CHGNet``
        instance is wrapped in a ``CHGNetCalculator``; any ASE calculator is used as given
        (tests inject fake calculators this way; the campaign shares one per process).

    ``settings.n_threads`` (torch) and ``settings.blas_threads`` (OpenBLAS) are applied
    for the duration of each :meth:`relax` call and restored afterwards, so a Relaxer
    leaves the process's thread settings as it found them. On a shared CPU use one torch
    thread per process: we measured a 2-atom FIRE relaxation at 1.6 s with one thread and
    14-27 s with two on an oversubscribed 2-core machine.
    """

    def __init__(self, settings: RelaxSettings | None = None, model: Any = None) -> None:
        self.settings = RelaxSettings() if settings is None else settings
        if not isinstance(self.settings, RelaxSettings):
            raise TypeError(
                f"Relaxer settings must be a RelaxSettings, got {type(self.settings).__name__}"
            )
        self.calculator = _build_calculator(self.settings, model)
        from chgnet.model.dynamics import CHGNetCalculator

        # CHGNet's forces and stress without its second-order graph (gradients.py)
        self._chgnet = isinstance(self.calculator, CHGNetCalculator)

    # ------------------------------------------------------------------ public API
    def relax_many(self, structures: Iterable[Structure | Atoms]) -> list[RelaxResult]:
        """Relax each structure in turn (one process; parallelism is the campaign's job)."""
        return [self.relax(s) for s in structures]

    def relax(self, structure: Structure | Atoms) -> RelaxResult:
        """Relax one structure; never raises for bad input or calculator failures."""
        t0 = time.perf_counter()
        state: dict[str, Any] = {"n_atoms": 0, "n_steps": 0}
        try:
            with limit_blas_threads(self.settings.blas_threads), _torch_threads(
                self.settings.n_threads
            ), first_order_gradients() if self._chgnet else contextlib.nullcontext():
                return self._relax(structure, state, t0)
        except Exception as exc:  # noqa: BLE001 - the contract is: no exception escapes
            message = " ".join(str(exc).split())[:300]
            return failed_result(f"calculator_error: {type(exc).__name__}: {message}", state, t0)

    # ------------------------------------------------------------------ internals
    def _relax(self, structure: Structure | Atoms, state: dict[str, Any], t0: float) -> RelaxResult:
        settings = self.settings
        generated, reason = prepare_structure(structure, settings, state)
        if generated is None:
            return failed_result(str(reason), state, t0)
        from pymatgen.io.ase import AseAtomsAdaptor

        n, v0 = len(generated), state["v0"]
        atoms = AseAtomsAdaptor.get_atoms(generated)
        atoms.calc = self.calculator
        optimizable, optimizer = make_optimizer(atoms, settings)
        with _quiet():
            for _converged in optimizer.irun(fmax=settings.fmax, steps=settings.max_steps):
                state["n_steps"] = optimizer.nsteps
                energy = float(atoms.get_potential_energy()) / n
                if "e0" not in state and math.isfinite(energy):
                    state["e0"] = energy
                reason = step_failure(settings, atoms, optimizable, energy, v0, optimizer.nsteps)
                if reason is not None:
                    return failed_result(reason, state, t0)
        state["e_final"] = energy
        return finish_relaxation(
            settings, generated, atoms, optimizable, optimizer.nsteps, state, t0
        )
